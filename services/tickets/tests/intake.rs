//! Storing new tickets in groups against a real database: a group is written whole or not at
//! all, and one ticket the database refuses fails alone, the others of its group are stored.

mod support;

use uuid::Uuid;

use sysops_tickets::intake::{Intake, Stored};
use sysops_tickets::store::{Created, Store};

use support::{created, App};

/// PostgreSQL refuses the NUL character in text, whatever the column.
fn refused(mut created: Created) -> Created {
    created.ticket.description = "paper jam \u{0} on every page".into();
    created
}

async fn count(app: &App, sql: &str, ids: &[Uuid]) -> i64 {
    sqlx::query_scalar(sql)
        .bind(ids)
        .fetch_one(&app.env.pool("tickets").await)
        .await
        .expect("a count")
}

async fn stored(app: &App, ids: &[Uuid]) -> (i64, i64, i64) {
    (
        count(app, "SELECT count(*) FROM tickets WHERE id = ANY($1)", ids).await,
        count(
            app,
            "SELECT count(*) FROM ticket_events WHERE ticket_id = ANY($1) AND event_type = 'ticket.created'",
            ids,
        )
        .await,
        count(
            app,
            "SELECT count(*) FROM outbox WHERE (envelope->>'ticket_id')::uuid = ANY($1)",
            ids,
        )
        .await,
    )
}

#[tokio::test]
async fn a_group_is_stored_whole_or_not_at_all() {
    let app = App::spawn().await;
    let store = Store::new(app.env.pool("tickets").await);
    let group: Vec<Created> = (0..5).map(|i| created(&format!("Printer {i}"))).collect();
    let ids: Vec<Uuid> = group.iter().map(|c| c.ticket.id).collect();
    store.insert(&group).await.expect("the group is stored");
    assert_eq!(stored(&app, &ids).await, (5, 5, 5));

    let mut bad: Vec<Created> = (0..5).map(|i| created(&format!("Laptop {i}"))).collect();
    bad[3] = refused(bad[3].clone());
    let bad_ids: Vec<Uuid> = bad.iter().map(|c| c.ticket.id).collect();
    assert!(store.insert(&bad).await.is_err());
    assert_eq!(stored(&app, &bad_ids).await, (0, 0, 0));
    app.stop().await;
}

// The test runtime has one thread: every submission below is handed over before a writer
// runs, so the first writer takes them as one group.
#[tokio::test]
async fn a_ticket_the_database_refuses_fails_alone_and_its_group_is_stored() {
    let app = App::spawn().await;
    let intake = Intake::start(Store::new(app.env.pool("tickets").await));
    let mut created: Vec<Created> = (0..40).map(|i| created(&format!("VPN {i}"))).collect();
    created[17] = refused(created[17].clone());
    let ids: Vec<Uuid> = created.iter().map(|c| c.ticket.id).collect();

    let results = futures::future::join_all(created.into_iter().map(|c| intake.store(c))).await;

    for (i, result) in results.iter().enumerate() {
        match (i, result) {
            (17, Err(e)) => {
                let code = e.as_database_error().and_then(|d| d.code());
                assert_eq!(code.as_deref(), Some("22021"), "{e}");
            }
            (17, Ok(_)) => panic!("the ticket with a NUL character was stored"),
            (_, Err(e)) => panic!("ticket {i} failed: {e}"),
            (_, Ok(stored)) => assert_eq!(*stored, Stored::New),
        }
    }
    assert_eq!(stored(&app, &ids).await, (39, 39, 39));
    assert_eq!(stored(&app, &ids[17..18]).await, (0, 0, 0));
    app.stop().await;
}

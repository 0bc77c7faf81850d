//! Routing's combined statements on a real database: an assignment writes its route, its
//! decision record and its event only when the expert has room, and closing an assignment can
//! store the route in the same statement.

use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use sysops_contract::{Envelope, EventType};
use sysops_routing::store::assignments;
use sysops_routing::store::routes::{self, Route};
use sysops_testkit::TestEnv;

async fn expert(pool: &PgPool, capacity: i32) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO experts (id, name, availability, capacity) VALUES ($1, 'expert', 'available', $2)",
    )
    .bind(id)
    .bind(capacity)
    .execute(pool)
    .await
    .expect("expert");
    id
}

async fn count(pool: &PgPool, sql: &str, ticket: Uuid) -> i64 {
    sqlx::query_scalar(sql)
        .bind(ticket)
        .fetch_one(pool)
        .await
        .expect("count")
}

/// What an assignment of `ticket` left behind: open assignments, decision records, events in
/// the outbox, and the route's status.
async fn written(pool: &PgPool, ticket: Uuid) -> (i64, i64, i64, String) {
    (
        count(
            pool,
            "SELECT count(*) FROM assignments WHERE ticket_id = $1 AND status = 'assigned'",
            ticket,
        )
        .await,
        count(
            pool,
            "SELECT count(*) FROM decisions WHERE ticket_id = $1",
            ticket,
        )
        .await,
        count(
            pool,
            "SELECT count(*) FROM outbox WHERE envelope->>'ticket_id' = $1::text",
            ticket,
        )
        .await,
        sqlx::query_scalar("SELECT status FROM routes WHERE ticket_id = $1")
            .bind(ticket)
            .fetch_one(pool)
            .await
            .expect("route"),
    )
}

async fn queued_route(pool: &PgPool, pool_name: &str) -> Route {
    let ticket = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO routes (ticket_id, category, pool, status, created_at, queued_at) \
         VALUES ($1, $2, $2, 'queued', now(), now())",
    )
    .bind(ticket)
    .bind(pool_name)
    .execute(pool)
    .await
    .expect("route");
    let mut tx = pool.begin().await.expect("tx");
    let route = routes::lock(&mut tx, ticket)
        .await
        .expect("lock")
        .expect("route");
    tx.commit().await.expect("commit");
    route
}

/// Tries to give the queued `route` to `expert`, in a transaction of its own.
async fn assign(pool: &PgPool, route: &Route, expert: Uuid) -> bool {
    let mut event = Envelope::new(
        EventType::TicketAssigned,
        Some(route.ticket_id),
        json!({ "expert_id": expert }),
    );
    event.ticket_id = Some(route.ticket_id);
    let mut tx = pool.begin().await.expect("tx");
    let taken = routes::assign_decided(
        &mut tx,
        &assigned(route),
        expert,
        None,
        &event,
        json!({ "expert_id": expert }),
    )
    .await
    .expect("statement");
    tx.commit().await.expect("commit");
    taken
}

fn assigned(route: &Route) -> Route {
    Route {
        status: "assigned".into(),
        attempts: route.attempts + 1,
        queued_at: None,
        ..route.clone()
    }
}

#[tokio::test]
async fn an_assignment_writes_its_route_record_and_event_only_when_the_expert_has_room() {
    let env = TestEnv::new().await;
    let pool = env
        .migrated_pool(sysops_routing::SCHEMA, sysops_routing::migrator())
        .await;
    let full = expert(&pool, 0).await;
    let free = expert(&pool, 1).await;
    let route = queued_route(&pool, "hardware").await;
    let taken = assign(&pool, &route, full).await;
    assert!(!taken, "an expert without room took the ticket");
    assert_eq!(
        written(&pool, route.ticket_id).await,
        (0, 0, 0, "queued".to_owned()),
        "a refused assignment wrote something"
    );

    let taken = assign(&pool, &route, free).await;
    assert!(taken, "an expert with room did not take the ticket");
    assert_eq!(
        written(&pool, route.ticket_id).await,
        (1, 1, 1, "assigned".to_owned())
    );
    let load: i32 = sqlx::query_scalar("SELECT load FROM experts WHERE id = $1")
        .bind(free)
        .fetch_one(&pool)
        .await
        .expect("load");
    assert_eq!(load, 1);

    // Closing it with the route: the unit goes back and the route is stored, together, and
    // the statement names the expert's pools that have a backlog.
    sqlx::query(
        "INSERT INTO expert_skills (expert_id, pool, proficiency) \
         VALUES ($1, 'hardware', 0.5), ($1, 'network', 0.5), ($1, 'storage', 0.5)",
    )
    .bind(free)
    .execute(&pool)
    .await
    .expect("skills");
    queued_route(&pool, "network").await;
    queued_route(&pool, "email").await;
    let open_id: i64 = sqlx::query_scalar("SELECT id FROM assignments WHERE ticket_id = $1")
        .bind(route.ticket_id)
        .fetch_one(&pool)
        .await
        .expect("assignment");
    let done = Route {
        status: "done".into(),
        ..assigned(&route)
    };
    let mut tx = pool.begin().await.expect("tx");
    let closed = assignments::close(&mut tx, open_id, "done", Some(&done))
        .await
        .expect("close");
    tx.commit().await.expect("commit");
    assert_eq!(
        closed,
        assignments::Closed {
            released: true,
            backlogged: vec!["network".to_owned()],
        }
    );
    let (status, resolved): (String, bool) =
        sqlx::query_as("SELECT status, resolved_at IS NOT NULL FROM routes WHERE ticket_id = $1")
            .bind(route.ticket_id)
            .fetch_one(&pool)
            .await
            .expect("route");
    assert_eq!((status.as_str(), resolved), ("done", true));
    let (load, outcome): (i32, String) = sqlx::query_as(
        "SELECT e.load, a.status FROM experts e JOIN assignments a ON a.expert_id = e.id WHERE a.id = $1",
    )
    .bind(open_id)
    .fetch_one(&pool)
    .await
    .expect("expert");
    assert_eq!((load, outcome.as_str()), (0, "done"));

    pool.close().await;
    env.cleanup().await;
}

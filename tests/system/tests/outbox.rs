//! The outbox relay publishes an event as soon as the transaction that wrote it commits, woken
//! by that commit rather than by its poll; the inbox keeps handled ids for a week.

use std::time::Duration;

use futures::StreamExt;
use serde_json::json;
use sqlx::migrate::Migrator;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sysops_contract::{Envelope, EventType};
use sysops_platform::inbox::{self, Seen};
use sysops_platform::outbox::Outbox;
use sysops_testkit::TestEnv;

#[tokio::test]
async fn a_commit_wakes_the_relay_long_before_its_poll() {
    let env = TestEnv::new().await;
    let bus = env.bus();
    let pool = env.migrated_pool("relay_test", Migrator::DEFAULT).await;
    let mut published = Box::pin(
        bus.tap(&[EventType::TicketQueued.routing_key()])
            .await
            .expect("a tap on the test's exchange"),
    );

    let outbox = Outbox::default();
    let shutdown = CancellationToken::new();
    // An hour between polls: only the commit's wake-up can get the event out during the test.
    let relay = tokio::spawn(outbox.clone().run_relay(
        pool.clone(),
        bus.clone(),
        Duration::from_secs(3600),
        shutdown.clone(),
    ));

    for _ in 0..3 {
        let ticket = Uuid::now_v7();
        let event = Envelope::new(
            EventType::TicketQueued,
            Some(ticket),
            json!({ "category": "printer", "pool": "printers" }),
        )
        .to_raw()
        .expect("an envelope");
        let mut tx = pool.begin().await.expect("a transaction");
        outbox.enqueue(&mut tx, &event).await.expect("enqueued");
        outbox.commit(tx).await.expect("committed");

        let seen = tokio::time::timeout(Duration::from_secs(30), published.next())
            .await
            .expect("published while the poll is still an hour away")
            .expect("the tap is open");
        assert_eq!(seen.id, event.id);
        assert_eq!(seen.ticket_id, Some(ticket));
    }

    shutdown.cancel();
    relay.await.expect("the relay stops");
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn the_inbox_forgets_ids_handled_more_than_a_week_ago() {
    let env = TestEnv::new().await;
    let pool = env.migrated_pool("inbox_test", Migrator::DEFAULT).await;
    let (old, recent) = (Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO inbox (event_id, handled_at) \
         VALUES ($1, now() - interval '8 days'), ($2, now() - interval '6 days')",
    )
    .bind(old)
    .bind(recent)
    .execute(&pool)
    .await
    .expect("ids recorded");

    assert_eq!(inbox::prune(&pool).await.expect("pruned"), 1);

    let mut tx = pool.begin().await.expect("a transaction");
    let recent_again = inbox::record(&mut tx, recent).await.expect("recorded");
    let old_again = inbox::record(&mut tx, old).await.expect("recorded");
    assert_eq!(recent_again, Seen::Again, "kept");
    assert_eq!(old_again, Seen::First, "forgotten");
    tx.rollback().await.expect("rolled back");
    pool.close().await;
    env.cleanup().await;
}

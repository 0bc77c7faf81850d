//! The statements on a batch of tickets, against a table that grew since the connection first
//! ran them: each batch is found through the primary key, as the table is now.

mod support;

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use sysops_tickets::store::{Created, Store};

use support::{created, App};

/// Sequential scans of the tickets table this backend has counted and not yet reported (they
/// are reported between transactions, never during one).
async fn scans_of_tickets(tx: &mut Transaction<'_, Postgres>) -> i64 {
    sqlx::query_scalar(
        "SELECT seq_scan FROM pg_stat_xact_user_tables \
         WHERE schemaname = 'tickets' AND relname = 'tickets'",
    )
    .fetch_one(&mut **tx)
    .await
    .expect("the table's statistics")
}

/// Locks a batch and writes it back, as the pipeline does; the sequential scans of the table
/// that took.
async fn lock_and_write(store: &Store, ids: &[Uuid]) -> i64 {
    let mut tx = store.begin().await.expect("a transaction");
    let before = scans_of_tickets(&mut tx).await;
    let tickets = store
        .lock_all(&mut tx, ids)
        .await
        .expect("the batch locked");
    store
        .update_all(&mut tx, tickets.values())
        .await
        .expect("the batch written");
    let scans = scans_of_tickets(&mut tx).await - before;
    tx.commit().await.expect("committed");
    scans
}

// A new installation: the pipeline's first batches run while the table is empty, and
// PostgreSQL would keep a plan made then for a statement prepared on the connection.
#[tokio::test]
async fn a_batch_is_found_by_its_keys_in_a_table_that_has_grown() {
    let app = App::spawn().await;
    // One connection, which would keep the plans between batches.
    let store = Store::new(app.env.pool_of("tickets", 1).await);
    let absent: Vec<Uuid> = (0..10).map(|_| Uuid::now_v7()).collect();
    for _ in 0..10 {
        lock_and_write(&store, &absent).await;
    }

    let mut ids = Vec::new();
    for group in 0..10 {
        let tickets: Vec<Created> = (0..500)
            .map(|i| created(&format!("Printer {group}-{i}")))
            .collect();
        ids.extend(tickets.iter().map(|c| c.ticket.id));
        store
            .insert(&tickets)
            .await
            .expect("the tickets are stored");
    }

    let batch: Vec<Uuid> = ids.iter().step_by(500).copied().collect();
    assert_eq!(batch.len(), 10);
    assert_eq!(
        lock_and_write(&store, &batch).await,
        0,
        "the batch of 10 was looked for by scanning all 5,000 tickets"
    );
    app.stop().await;
}

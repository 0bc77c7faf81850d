//! The transactional outbox: an event is written in the same transaction as the state change
//! it announces, and a relay publishes unpublished rows with confirms, then marks them sent.
//! A transaction that wrote events commits through [`Outbox::commit`], which wakes the relay of
//! its own process; the relay also polls slowly, for rows whose writer stopped before its relay
//! published them. Several replicas may relay at once (`FOR UPDATE SKIP LOCKED`).
//!
//! The wake-up is in process, not PostgreSQL's `NOTIFY`: a transaction that notifies holds a
//! database-wide lock from the start of its commit to its end, so every writer's commit, WAL
//! flush included, waited for the others' (seen as 80 ms stalls of every routing handler under
//! load).
//!
//! [`crate::db::connect_and_migrate`] creates the table in the schema of each service.

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgPool, Postgres, Transaction};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sysops_bus::Bus;
use sysops_contract::RawEnvelope;

use crate::inbox;

/// Rows published per round trip.
const BATCH: i64 = 256;
/// Published rows are kept this long for inspection, then deleted.
const RETENTION: &str = "1 day";
/// How often the relay deletes old rows of the outbox and the inbox.
const CLEANUP_EVERY: Duration = Duration::from_secs(600);

/// Writes events into the outbox (the table in the schema of the pool's connections). Clones
/// share the relay's wake-up.
#[derive(Debug, Clone, Default)]
pub struct Outbox {
    /// Wakes the relay of this process after a commit that wrote events.
    wake: Arc<Notify>,
}

impl Outbox {
    /// Commits `tx` and, once committed, wakes the relay so its events go out now.
    pub async fn commit(&self, tx: Transaction<'_, Postgres>) -> Result<(), sqlx::Error> {
        tx.commit().await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Wakes the relay after a statement that wrote events outside an explicit transaction
    /// (committed once it returned).
    pub fn written(&self) {
        self.wake.notify_one();
    }

    /// Adds an event to the outbox inside `tx`; published once `tx` commits (commit it with
    /// [`Outbox::commit`], or the event waits for the relay's next poll). Adding the same event
    /// id twice is a no-op.
    pub async fn enqueue(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: &RawEnvelope,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(&insert_statement(1, 2, None))
            .bind(event.id)
            .bind(envelope_json(event)?)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Events not yet confirmed by the broker.
    pub async fn backlog(&self, pool: &PgPool) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(pool)
            .await
    }

    /// Publishes outbox rows until `shutdown` is cancelled.
    pub async fn run_relay(
        self,
        pool: PgPool,
        bus: Arc<Bus>,
        poll: Duration,
        shutdown: CancellationToken,
    ) {
        let mut failures = 0u32;
        let mut last_cleanup = tokio::time::Instant::now();
        while !shutdown.is_cancelled() {
            match self.drain(&pool, &bus).await {
                Ok(published) => {
                    failures = 0;
                    metrics::gauge!("outbox_backlog").set(0.0);
                    if published > 0 {
                        tracing::debug!(published, "outbox relayed");
                    }
                }
                Err(e) => {
                    failures += 1;
                    if let Ok(backlog) = self.backlog(&pool).await {
                        metrics::gauge!("outbox_backlog").set(backlog as f64);
                    }
                    tracing::warn!(error = %e, failures, "outbox relay failed; will retry");
                    let backoff = Duration::from_millis(100 * 2u64.pow(failures.min(5)));
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => continue,
                    }
                }
            }
            if last_cleanup.elapsed() > CLEANUP_EVERY {
                last_cleanup = tokio::time::Instant::now();
                prune(&pool).await;
            }
            // Sleep until a commit wakes the relay or the poll interval passes. A commit during
            // the drain left a permit, so its events are not missed.
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(poll) => {}
                _ = self.wake.notified() => {}
            }
        }
        tracing::info!("outbox relay stopped");
    }

    /// Publishes every unpublished row; returns how many. A batch shorter than [`BATCH`] ends
    /// the drain without another look: rows committed after its read woke the relay again (a
    /// permit of `wake`), and rows of other processes are theirs to relay, or the next poll's.
    async fn drain(&self, pool: &PgPool, bus: &Bus) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let mut tx = pool.begin().await?;
            let rows: Vec<(i64, sqlx::types::Json<RawEnvelope>)> = sqlx::query_as(
                "SELECT seq, envelope FROM outbox WHERE published_at IS NULL \
                 ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
            )
            .bind(BATCH)
            .fetch_all(&mut *tx)
            .await?;
            if rows.is_empty() {
                return Ok(total);
            }
            let seqs: Vec<i64> = rows.iter().map(|(seq, _)| *seq).collect();
            let events: Vec<RawEnvelope> = rows.into_iter().map(|(_, e)| e.0).collect();
            bus.publish_all(&events).await?;
            sqlx::query("UPDATE outbox SET published_at = now() WHERE seq = ANY($1)")
                .bind(&seqs)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            total += seqs.len();
            metrics::counter!("outbox_published_total").increment(seqs.len() as u64);
            if (seqs.len() as i64) < BATCH {
                return Ok(total);
            }
        }
    }
}

/// The statement that adds an event to the outbox, its id and envelope ([`envelope_json`]) being
/// parameters `$id` and `$envelope`: for a caller that writes the row in the same statement as
/// other effects (as a `WITH` clause). With a `source` (a CTE of at most one row) the event is
/// added only when that has a row. Adding the same event id twice is a no-op.
pub fn insert_statement(id: u8, envelope: u8, source: Option<&str>) -> String {
    insert_rows(&match source {
        None => format!("VALUES (${id}, ${envelope})"),
        Some(source) => format!("SELECT ${id}, ${envelope} FROM {source}"),
    })
}

/// The statement that adds the events `rows` yields (a `VALUES` list or a query of two
/// columns: event id and envelope) to the outbox; event ids already there are skipped.
pub fn insert_rows(rows: &str) -> String {
    format!("INSERT INTO outbox (event_id, envelope) {rows} ON CONFLICT (event_id) DO NOTHING")
}

/// The envelope as the outbox stores it.
pub fn envelope_json(event: &RawEnvelope) -> Result<serde_json::Value, sqlx::Error> {
    serde_json::to_value(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))
}

/// Whether a row with this event id was already written to the outbox.
pub async fn contains(pool: &PgPool, event_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox WHERE event_id = $1)")
        .bind(event_id)
        .fetch_one(pool)
        .await
}

/// Deletes published outbox rows older than [`RETENTION`] and inbox rows older than
/// [`inbox::RETENTION`]. The relay runs in every process that keeps an inbox, so it does both.
async fn prune(pool: &PgPool) {
    let outbox = format!("DELETE FROM outbox WHERE published_at < now() - interval '{RETENTION}'");
    match sqlx::query(&outbox).execute(pool).await {
        Ok(done) => tracing::debug!(deleted = done.rows_affected(), "outbox pruned"),
        Err(e) => tracing::warn!(error = %e, "outbox cleanup failed"),
    }
    match inbox::prune(pool).await {
        Ok(deleted) => tracing::debug!(deleted, "inbox pruned"),
        Err(e) => tracing::warn!(error = %e, "inbox cleanup failed"),
    }
}

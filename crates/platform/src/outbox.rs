//! The transactional outbox: an event is written in the same transaction as the state change
//! it announces, and a relay publishes unpublished rows with confirms, then marks them sent.
//! The relay wakes on `NOTIFY` and also polls slowly as a safety net, so a missed notification
//! delays an event by at most one poll interval. Several replicas may relay at once
//! (`FOR UPDATE SKIP LOCKED`).
//!
//! [`crate::db::connect_and_migrate`] creates the table in the schema of each service.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use sqlx::{PgPool, Postgres, Transaction};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sysops_bus::Bus;
use sysops_contract::RawEnvelope;

/// Rows published per round trip.
const BATCH: i64 = 256;
/// Published rows are kept this long for inspection, then deleted.
const RETENTION: &str = "1 day";

/// Writes events into the outbox of one schema.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// `NOTIFY` channel the relay listens on, named after the schema.
    channel: String,
}

impl Outbox {
    pub fn new(schema: &str) -> Self {
        Outbox {
            channel: format!("{schema}_outbox"),
        }
    }

    /// Adds an event to the outbox inside `tx`; published once `tx` commits. Adding the same
    /// event id twice is a no-op.
    pub async fn enqueue(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: &RawEnvelope,
    ) -> Result<(), sqlx::Error> {
        let envelope = serde_json::to_value(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
        sqlx::query("INSERT INTO outbox (event_id, envelope) VALUES ($1, $2) ON CONFLICT (event_id) DO NOTHING")
            .bind(event.id)
            .bind(envelope)
            .execute(&mut **tx)
            .await?;
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(&self.channel)
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
        let mut listener = None;
        let mut failures = 0u32;
        let mut last_cleanup = tokio::time::Instant::now();
        while !shutdown.is_cancelled() {
            if listener.is_none() {
                listener = self.listen(&pool).await;
            }
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
            if last_cleanup.elapsed() > Duration::from_secs(600) {
                last_cleanup = tokio::time::Instant::now();
                let q = format!(
                    "DELETE FROM outbox WHERE published_at < now() - interval '{RETENTION}'"
                );
                if let Err(e) = sqlx::query(&q).execute(&pool).await {
                    tracing::warn!(error = %e, "outbox cleanup failed");
                }
            }
            // Sleep until notified or the poll interval passes.
            let woke = async {
                match listener.as_mut() {
                    Some(l) => l.recv().await.map(|_| ()),
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(poll) => {}
                r = woke => if let Err(e) = r {
                    tracing::warn!(error = %e, "outbox listener lost; polling until it is back");
                    listener = None;
                }
            }
        }
        tracing::info!("outbox relay stopped");
    }

    async fn listen(&self, pool: &PgPool) -> Option<PgListener> {
        let mut listener = match PgListener::connect_with(pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for outbox notifications; polling");
                return None;
            }
        };
        match listener.listen(&self.channel).await {
            Ok(()) => Some(listener),
            Err(e) => {
                tracing::warn!(error = %e, "cannot LISTEN for outbox notifications; polling");
                None
            }
        }
    }

    /// Publishes every unpublished row; returns how many.
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
        }
    }
}

/// Whether a row with this event id was already written to the outbox.
pub async fn contains(pool: &PgPool, event_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM outbox WHERE event_id = $1)")
        .bind(event_id)
        .fetch_one(pool)
        .await
}

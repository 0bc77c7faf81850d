//! The start and the end every backend service shares: connect to PostgreSQL and the broker,
//! and, at shutdown, let background work finish before closing both.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::migrate::Migrator;
use sqlx::PgPool;
use tokio_util::task::TaskTracker;

use sysops_bus::Bus;

use crate::CommonConfig;

/// Prepares the service's schema (migrations included) and its bus. The broker may be down at
/// start: the bus reconnects on first use, so the service starts either way.
pub async fn connect(
    common: &CommonConfig,
    service: &str,
    schema: &'static str,
    migrator: Migrator,
) -> anyhow::Result<(PgPool, Arc<Bus>)> {
    let pool = common
        .db
        .connect(schema, migrator)
        .await
        .context("preparing the database")?;
    let bus = Bus::new(common.bus(service));
    if let Err(e) = bus.connect().await {
        tracing::warn!(error = %e, "broker unreachable at start; will keep trying");
    }
    Ok((pool, bus))
}

/// After the HTTP server stopped: waits up to `grace` for the tracked background work
/// (consumers finishing their messages, the outbox relay), then closes the broker connection
/// (unacknowledged messages return to their queues) and the pool.
pub async fn drain(
    tracker: &TaskTracker,
    grace: Duration,
    bus: &Bus,
    pool: &PgPool,
    service: &str,
) {
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!(
            "background work did not finish in time; the broker will redeliver what was in flight"
        );
    }
    bus.close().await;
    pool.close().await;
    tracing::info!("{service} stopped");
}

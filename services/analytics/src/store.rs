//! The event store: every event once, by id.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use sysops_bus::{HandleError, Incoming};
use sysops_platform::db::is_transient;

/// One stored event.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StoredEvent {
    #[serde(rename = "id")]
    pub event_id: Uuid,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: i32,
    pub ticket_id: Option<Uuid>,
    pub causation_id: Option<Uuid>,
    pub occurred_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub data: serde_json::Value,
}

/// Stores a delivered event; a redelivery is a no-op.
#[tracing::instrument(skip_all, fields(event_id = %incoming.envelope.id))]
pub async fn ingest(pool: &PgPool, incoming: Incoming) -> Result<(), HandleError> {
    let e = incoming.envelope;
    let inserted = sqlx::query(
        "INSERT INTO events (event_id, event_type, version, ticket_id, causation_id, occurred_at, data) \
         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(e.id)
    .bind(e.event_type.routing_key())
    .bind(i32::from(e.version))
    .bind(e.ticket_id)
    .bind(e.causation_id)
    .bind(e.occurred_at)
    .bind(&e.data)
    .execute(pool)
    .await
    .map_err(|err| if is_transient(&err) { HandleError::transient(err) } else { HandleError::permanent(err) })?
    .rows_affected();
    metrics::counter!("analytics_events_total", "type" => e.event_type.routing_key(), "duplicate" => (inserted == 0).to_string()).increment(1);
    Ok(())
}

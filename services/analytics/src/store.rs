//! The event store: every event once, by id, and every dead letter once; the model is fed
//! from it, at start (a rebuild) and as events are stored.

use std::time::Instant;

use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use sysops_bus::{DeadLetter, HandleError, Incoming};
use sysops_contract::{EventType, RawEnvelope};
use sysops_platform::db::handle_error;

use crate::frames::Live;
use crate::model::{DeadLetterRow, Event, Model};

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

/// Stores delivered events in one statement and teaches the model those that are new; a
/// redelivered event changes nothing.
#[tracing::instrument(skip_all, fields(events = batch.len()))]
pub async fn ingest(pool: &PgPool, live: &Live, batch: Vec<Incoming>) -> Result<(), HandleError> {
    let mut ids = Vec::with_capacity(batch.len());
    let mut types = Vec::with_capacity(batch.len());
    let mut versions = Vec::with_capacity(batch.len());
    let mut tickets = Vec::with_capacity(batch.len());
    let mut causes = Vec::with_capacity(batch.len());
    let mut times = Vec::with_capacity(batch.len());
    let mut data = Vec::with_capacity(batch.len());
    for Incoming { envelope: e, .. } in &batch {
        ids.push(e.id);
        types.push(e.event_type.routing_key());
        versions.push(i32::from(e.version));
        tickets.push(e.ticket_id);
        causes.push(e.causation_id);
        times.push(e.occurred_at);
        data.push(&e.data);
    }
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO events (event_id, event_type, version, ticket_id, causation_id, occurred_at, data) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::int[], $4::uuid[], $5::uuid[], $6::timestamptz[], $7::jsonb[]) \
         ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
    )
    .bind(&ids)
    .bind(&types)
    .bind(&versions)
    .bind(&tickets)
    .bind(&causes)
    .bind(&times)
    .bind(&data)
    .fetch_all(pool)
    .await
    .map_err(handle_error)?;

    let new: std::collections::HashSet<Uuid> = inserted.into_iter().collect();
    let mut model = live
        .model
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut seen = std::collections::HashSet::new();
    for Incoming { envelope: e, .. } in &batch {
        // The same event twice in one batch is inserted once and applied once.
        let fresh = new.contains(&e.id) && seen.insert(e.id);
        metrics::counter!("analytics_events_total", "type" => e.event_type.routing_key(), "duplicate" => (!fresh).to_string())
            .increment(1);
        if fresh {
            model.apply(&Event {
                event_type: e.event_type,
                ticket_id: e.ticket_id,
                occurred_ms: e.occurred_at.timestamp_millis(),
                data: &e.data,
            });
        }
    }
    Ok(())
}

/// Namespace of dead-letter ids: the same message dead-lettered from the same queue is kept
/// once.
const DEAD_LETTER_NAMESPACE: Uuid = Uuid::from_u128(0x8f3d_2b61_4a7e_4c09_b5d2_6e1f_0a9c_3d47);

/// Longest message body kept with a dead letter.
const MAX_BODY: usize = 8 * 1024;

/// Records dead letters from the tap; `queue_prefix` is stripped from queue names.
pub async fn record_dead_letters(
    pool: &PgPool,
    live: &Live,
    queue_prefix: &str,
    batch: Vec<DeadLetter>,
) -> Result<(), HandleError> {
    let now = Utc::now();
    let mut rows = Vec::with_capacity(batch.len());
    for d in &batch {
        let mut name = d.queue.as_bytes().to_vec();
        name.push(0);
        name.extend_from_slice(&d.body);
        let envelope = serde_json::from_slice::<RawEnvelope>(&d.body).ok();
        let mut body = String::from_utf8_lossy(&d.body).replace('\0', "\u{fffd}");
        if body.len() > MAX_BODY {
            let cut = (0..=MAX_BODY)
                .rev()
                .find(|&i| body.is_char_boundary(i))
                .unwrap_or(0);
            body.truncate(cut);
        }
        rows.push((
            DeadLetterRow {
                id: Uuid::new_v5(&DEAD_LETTER_NAMESPACE, &name),
                queue: d
                    .queue
                    .strip_prefix(queue_prefix)
                    .unwrap_or(&d.queue)
                    .to_owned(),
                reason: d.reason.clone(),
                event_type: envelope
                    .as_ref()
                    .map(|e| e.event_type.routing_key().to_owned()),
                ticket_id: envelope.as_ref().and_then(|e| e.ticket_id),
                at_ms: now.timestamp_millis(),
            },
            body,
        ));
    }
    let inserted: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO dead_letters (id, queue, reason, event_type, ticket_id, body, dead_lettered_at) \
         SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[], $6::text[], $7::timestamptz[]) \
         ON CONFLICT (id) DO NOTHING RETURNING id",
    )
    .bind(rows.iter().map(|(r, _)| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|(r, _)| r.queue.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(r, _)| r.reason.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(r, _)| r.event_type.clone()).collect::<Vec<_>>())
    .bind(rows.iter().map(|(r, _)| r.ticket_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|(_, b)| b.clone()).collect::<Vec<_>>())
    .bind(vec![now; rows.len()])
    .fetch_all(pool)
    .await
    .map_err(handle_error)?;
    let mut model = live
        .model
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    for (row, _) in rows {
        if inserted.contains(&row.id) {
            metrics::counter!("analytics_dead_letters_total", "queue" => row.queue.clone())
                .increment(1);
            model.add_dead_letter(row);
        }
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct StoredDeadLetter {
    id: Uuid,
    queue: String,
    reason: Option<String>,
    event_type: Option<String>,
    ticket_id: Option<Uuid>,
    dead_lettered_at: DateTime<Utc>,
}

/// What a rebuild read.
#[derive(Debug, Clone, Copy)]
pub struct Rebuilt {
    pub events: u64,
    pub dead_letters: u64,
    pub seconds: f64,
}

/// Rebuilds `model` from everything stored. Routing's decision records, the biggest part of
/// the store and not needed for the figures, are left in the database.
pub async fn load(pool: &PgPool, model: &mut Model) -> Result<Rebuilt, sqlx::Error> {
    let started = Instant::now();
    let mut events = 0;
    let mut unknown = 0;
    {
        let mut rows = sqlx::query_as::<_, (String, Option<Uuid>, DateTime<Utc>, serde_json::Value)>(
            "SELECT event_type, ticket_id, occurred_at, data - 'decision' - 'candidates' FROM events",
        )
        .fetch(pool);
        while let Some((event_type, ticket_id, occurred_at, data)) = rows.try_next().await? {
            let Ok(event_type) = event_type.parse::<EventType>() else {
                unknown += 1;
                continue;
            };
            model.apply(&Event {
                event_type,
                ticket_id,
                occurred_ms: occurred_at.timestamp_millis(),
                data: &data,
            });
            events += 1;
        }
    }
    if unknown > 0 {
        tracing::warn!(
            unknown,
            "stored events of types this version does not know were skipped"
        );
    }
    let dead: Vec<StoredDeadLetter> = sqlx::query_as(
        "SELECT id, queue, reason, event_type, ticket_id, dead_lettered_at FROM dead_letters ORDER BY dead_lettered_at",
    )
    .fetch_all(pool)
    .await?;
    let dead_letters = dead.len() as u64;
    for d in dead {
        model.add_dead_letter(DeadLetterRow {
            id: d.id,
            queue: d.queue,
            reason: d.reason,
            event_type: d.event_type,
            ticket_id: d.ticket_id,
            at_ms: d.dead_lettered_at.timestamp_millis(),
        });
    }
    Ok(Rebuilt {
        events,
        dead_letters,
        seconds: started.elapsed().as_secs_f64(),
    })
}

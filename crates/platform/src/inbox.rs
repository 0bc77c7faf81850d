//! The inbox: a consumer records the id of each event it handles in the same transaction as
//! the effects, so a redelivered event is recognised and changes nothing.

use std::collections::HashSet;

use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// How long a handled event's id is kept. A copy of an event comes back soon after the first:
/// the broker redelivers what a consumer took but had not acknowledged when its channel
/// closed, and an outbox relay publishes a row again only if it stopped between publishing the
/// row and recording that, until it or another replica runs again. A week covers a publisher
/// stopped for days at that point.
pub const RETENTION: &str = "7 days";

/// Whether an event is seen for the first time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    First,
    Again,
}

/// Records `event_id` as handled inside `tx`. On [`Seen::Again`] the caller skips its effects.
pub async fn record(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Uuid,
) -> Result<Seen, sqlx::Error> {
    let inserted = sqlx::query("INSERT INTO inbox (event_id) VALUES ($1) ON CONFLICT DO NOTHING")
        .bind(event_id)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(if inserted == 1 {
        Seen::First
    } else {
        Seen::Again
    })
}

/// Records the ids of a batch's events as handled inside `tx`, in one statement, and returns
/// the events seen for the first time, in the batch's order: the caller applies only theirs.
/// An event that comes twice in the batch is returned once.
pub async fn first_seen<T: Copy>(
    tx: &mut Transaction<'_, Postgres>,
    events: Vec<T>,
    id_of: impl Fn(T) -> Uuid,
) -> Result<Vec<T>, sqlx::Error> {
    let ids: Vec<Uuid> = events.iter().map(|e| id_of(*e)).collect();
    let fresh: HashSet<Uuid> = sqlx::query_scalar(
        "INSERT INTO inbox (event_id) SELECT * FROM unnest($1::uuid[]) \
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(&ids)
    .fetch_all(&mut **tx)
    .await?
    .into_iter()
    .collect();
    let mut seen = HashSet::new();
    Ok(events
        .into_iter()
        .zip(ids)
        .filter(|(_, id)| fresh.contains(id) && seen.insert(*id))
        .map(|(e, _)| e)
        .collect())
}

/// Deletes the ids recorded more than [`RETENTION`] ago; how many were deleted.
pub async fn prune(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let statement = format!("DELETE FROM inbox WHERE handled_at < now() - interval '{RETENTION}'");
    Ok(sqlx::query(&statement).execute(pool).await?.rows_affected())
}

//! The inbox: a consumer records the id of each event it handles in the same transaction as
//! the effects, so a redelivered event is recognised and changes nothing.

use std::collections::HashSet;

use sqlx::{Postgres, Transaction};
use uuid::Uuid;

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

/// Records every id of `event_ids` as handled inside `tx`, in one statement, and returns those
/// seen for the first time: the caller applies only their effects. An id given twice counts
/// once.
pub async fn record_all(
    tx: &mut Transaction<'_, Postgres>,
    event_ids: &[Uuid],
) -> Result<HashSet<Uuid>, sqlx::Error> {
    let fresh: Vec<Uuid> = sqlx::query_scalar(
        "INSERT INTO inbox (event_id) SELECT * FROM unnest($1::uuid[]) \
         ON CONFLICT DO NOTHING RETURNING event_id",
    )
    .bind(event_ids)
    .fetch_all(&mut **tx)
    .await?;
    Ok(fresh.into_iter().collect())
}

//! The inbox: a consumer records the id of each event it handles in the same transaction as
//! the effects, so a redelivered event is recognised and changes nothing.

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

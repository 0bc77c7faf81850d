//! People's corrections (`ticket.recategorized`) as training examples: each ticket keeps only its
//! latest one, since a category that was corrected again was wrong too.

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

use crate::local::EXAMPLES_CHANNEL;

/// A person's correction of one ticket's category.
#[derive(Debug, Clone)]
pub struct Correction<'a> {
    pub event_id: Uuid,
    pub ticket_id: Option<Uuid>,
    pub text: &'a str,
    pub label: &'a str,
    pub at: DateTime<Utc>,
}

/// What storing a correction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored; earlier corrections of the ticket are gone. Replicas are told to retrain.
    Learned,
    /// The event was stored before (a redelivery), or a later correction of the ticket is.
    Nothing,
}

/// Stores `c` in one transaction with the removal of the ticket's earlier corrections and the
/// notice to retrain.
pub async fn store(pool: &PgPool, c: &Correction<'_>) -> Result<Stored, sqlx::Error> {
    let mut tx = pool.begin().await?;
    if let Some(ticket) = c.ticket_id {
        // Corrections of one ticket handled at once by two replicas take turns.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
            .bind(ticket)
            .execute(&mut *tx)
            .await?;
        let later: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM examples WHERE source = 'correction' \
             AND ticket_id = $1 AND corrected_at > $2)",
        )
        .bind(ticket)
        .bind(c.at)
        .fetch_one(&mut *tx)
        .await?;
        if later {
            return Ok(Stored::Nothing);
        }
    }
    let inserted = sqlx::query(
        "INSERT INTO examples (source, text, label, event_id, ticket_id, corrected_at) \
         VALUES ('correction', $1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
    )
    .bind(c.text)
    .bind(c.label)
    .bind(c.event_id)
    .bind(c.ticket_id)
    .bind(c.at)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        return Ok(Stored::Nothing);
    }
    if let Some(ticket) = c.ticket_id {
        sqlx::query(
            "DELETE FROM examples WHERE source = 'correction' AND ticket_id = $1 \
             AND event_id <> $2",
        )
        .bind(ticket)
        .bind(c.event_id)
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(EXAMPLES_CHANNEL)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Stored::Learned)
}

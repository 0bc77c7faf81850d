//! `assignments`: each time a ticket was given to an expert.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

/// An assignment that is still open (`assigned` or `accepted`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenAssignment {
    pub id: i64,
    pub expert_id: Uuid,
    pub pool: String,
    pub attempt: i32,
    pub status: String,
    pub accept_due_at: Option<DateTime<Utc>>,
}

/// The ticket's open assignment, if any.
pub async fn open_for(
    tx: &mut Transaction<'_, Postgres>,
    ticket_id: Uuid,
) -> Result<Option<OpenAssignment>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, expert_id, pool, attempt, status, accept_due_at FROM assignments \
         WHERE ticket_id = $1 AND status IN ('assigned', 'accepted')",
    )
    .bind(ticket_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Opens an assignment. The partial unique index refuses a second open one for the ticket.
#[allow(clippy::too_many_arguments)]
pub async fn open(
    tx: &mut Transaction<'_, Postgres>,
    ticket_id: Uuid,
    expert_id: Uuid,
    pool: &str,
    attempt: i32,
    status: &str,
    accept_due_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO assignments (ticket_id, expert_id, pool, attempt, status, accept_due_at, accepted_at) \
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5 = 'accepted' THEN now() END)",
    )
    .bind(ticket_id)
    .bind(expert_id)
    .bind(pool)
    .bind(attempt)
    .bind(status)
    .bind(accept_due_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Marks an open assignment accepted.
pub async fn accept(tx: &mut Transaction<'_, Postgres>, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE assignments SET status = 'accepted', accepted_at = now() WHERE id = $1")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Closes an open assignment with its outcome (`rejected`, `done`, `taken_back`, `moved`).
pub async fn close(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    outcome: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE assignments SET status = $2, ended_at = now() WHERE id = $1")
        .bind(id)
        .bind(outcome)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Tickets whose assignment was not accepted in time.
pub async fn overdue(pool: &sqlx::PgPool, limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT ticket_id FROM assignments WHERE status = 'assigned' AND accept_due_at < now() \
         ORDER BY accept_due_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

//! `assignments`: each time a ticket was given to an expert.
//!
//! `assigned_at` and `ended_at` are the statement's clock, not the transaction's start: a
//! transaction that waited for the ticket's lock opens its assignment after the one it waited
//! for was closed, and the times say so (an audit of overlapping assignments can trust them).

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use sysops_contract::TicketUnassigned;

use super::routes::{self, Route};

/// An assignment that is still open (`assigned` or `accepted`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OpenAssignment {
    pub id: i64,
    pub ticket_id: Uuid,
    pub expert_id: Uuid,
    pub pool: String,
    pub attempt: i32,
    pub status: String,
    pub accept_due_at: Option<DateTime<Utc>>,
    /// Every pool the assignment's expert serves, sorted: where its unit of capacity can go
    /// when the assignment ends.
    pub expert_pools: Vec<String>,
}

impl OpenAssignment {
    /// The `ticket.unassigned` that announces this assignment taken back, `by` whom and why.
    pub fn taken_back(&self, reason: String, by: String) -> TicketUnassigned {
        TicketUnassigned {
            expert_id: self.expert_id,
            reason,
            by,
            attempt: u32::try_from(self.attempt).ok(),
        }
    }
}

const OPEN: &str = "SELECT a.id, a.ticket_id, a.expert_id, a.pool, a.attempt, a.status, a.accept_due_at, \
     ARRAY(SELECT s.pool FROM expert_skills s WHERE s.expert_id = a.expert_id ORDER BY s.pool) AS expert_pools \
     FROM assignments a WHERE a.status IN ('assigned', 'accepted')";

/// The ticket's open assignment, if any.
pub async fn open_for(
    tx: &mut Transaction<'_, Postgres>,
    ticket_id: Uuid,
) -> Result<Option<OpenAssignment>, sqlx::Error> {
    sqlx::query_as(&format!("{OPEN} AND a.ticket_id = $1"))
        .bind(ticket_id)
        .fetch_optional(&mut **tx)
        .await
}

/// The open assignments of the tickets `ticket_ids`.
pub async fn open_for_all(
    tx: &mut Transaction<'_, Postgres>,
    ticket_ids: &[Uuid],
) -> Result<Vec<OpenAssignment>, sqlx::Error> {
    sqlx::query_as(&format!("{OPEN} AND a.ticket_id = ANY($1)"))
        .bind(ticket_ids)
        .fetch_all(&mut **tx)
        .await
}

/// The CTEs `slot` and `opened` of a statement that takes a unit of the expert's capacity, if
/// the expert is available and below capacity, and opens the ticket's assignment with it; the
/// numbers name the parameters (ticket, expert, pool, attempt, accept clock). `opened` has a
/// row when it did. The expert's row stays locked until commit, so two transactions never take
/// the same last unit.
pub(crate) fn open_if_room_ctes(ticket: u8, expert: u8, pool: u8, attempt: u8, due: u8) -> String {
    format!(
        "slot AS (UPDATE experts SET load = load + 1, last_assigned_at = now() \
         WHERE id = ${expert} AND availability = 'available' AND load < capacity RETURNING id), \
         opened AS (INSERT INTO assignments (ticket_id, expert_id, pool, attempt, status, accept_due_at, assigned_at) \
         SELECT ${ticket}, id, ${pool}, ${attempt}, 'assigned', ${due}, clock_timestamp() FROM slot RETURNING id)"
    )
}

/// Takes a unit of the expert's capacity, if the expert is available and below capacity, and
/// opens the assignment with it (its accept clock running out at `accept_due_at`; none for a
/// manager's reassignment), in one statement. Returns whether it did.
pub async fn open_if_room(
    tx: &mut Transaction<'_, Postgres>,
    ticket_id: Uuid,
    expert_id: Uuid,
    pool: &str,
    attempt: i32,
    accept_due_at: Option<DateTime<Utc>>,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "WITH {} SELECT count(*) FROM opened",
        open_if_room_ctes(1, 2, 3, 4, 5)
    );
    let opened: i64 = sqlx::query_scalar(&sql)
        .bind(ticket_id)
        .bind(expert_id)
        .bind(pool)
        .bind(attempt)
        .bind(accept_due_at)
        .fetch_one(&mut **tx)
        .await?;
    Ok(opened == 1)
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
        "INSERT INTO assignments (ticket_id, expert_id, pool, attempt, status, accept_due_at, accepted_at, assigned_at) \
         VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $5 = 'accepted' THEN now() END, clock_timestamp())",
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

/// What closing an assignment did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    /// Whether the expert got a unit of capacity back.
    pub released: bool,
    /// The expert's pools whose backlog has tickets, sorted, as the closing transaction sees
    /// them: with those pools locked, nobody else can queue a ticket in them before it ends.
    pub backlogged: Vec<String>,
}

/// Closes an open assignment with its outcome (`rejected`, `done`, `taken_back`, `moved`) and
/// gives its unit of capacity back to the expert, storing the ticket's route too when given
/// one, in one statement that also says which of the expert's pools have a backlog.
pub async fn close(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    outcome: &str,
    route: Option<&Route>,
) -> Result<Closed, sqlx::Error> {
    let close = |id: u8, outcome: u8| {
        format!(
            "closed AS (UPDATE assignments SET status = ${outcome}, ended_at = clock_timestamp() WHERE id = ${id} \
             RETURNING expert_id), \
             released AS (UPDATE experts SET load = load - 1 WHERE id IN (SELECT expert_id FROM closed) AND load > 0 \
             RETURNING id) \
             SELECT EXISTS (SELECT 1 FROM released) AS released, \
             ARRAY(SELECT s.pool FROM expert_skills s JOIN closed c ON c.expert_id = s.expert_id \
                   WHERE EXISTS (SELECT 1 FROM routes r WHERE r.status = 'queued' AND r.pool = s.pool) \
                   ORDER BY s.pool) AS backlogged"
        )
    };
    let sql = match route {
        None => format!("WITH {}", close(1, 2)),
        Some(_) => format!(
            "WITH saved AS ({}), {}",
            routes::UPDATE_ROUTE,
            close(12, 13)
        ),
    };
    let mut query = sqlx::query(&sql);
    if let Some(r) = route {
        query = routes::bind_route(query, r);
    }
    let row = query.bind(id).bind(outcome).fetch_one(&mut **tx).await?;
    Ok(Closed {
        released: row.try_get("released")?,
        backlogged: row.try_get("backlogged")?,
    })
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

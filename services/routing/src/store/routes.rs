//! `routes`: what routing knows of each ticket, and the pool backlogs.

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use sysops_contract::{Priority, RawEnvelope};
use sysops_platform::outbox;

use super::assignments;

/// A ticket as routing tracks it. Statuses: `new`, `review` (waits for a person's category),
/// `queued` (in the pool backlog), `assigned`, `accepted`, `escalated` (rejected too often;
/// a manager decides), `done`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Route {
    pub ticket_id: Uuid,
    pub priority: String,
    pub region: Option<String>,
    pub category: Option<String>,
    pub pool: Option<String>,
    pub status: String,
    pub excluded: Vec<Uuid>,
    pub rejections: i32,
    pub attempts: i32,
    pub created_at: Option<DateTime<Utc>>,
    pub queued_at: Option<DateTime<Utc>>,
}

impl Route {
    pub fn priority(&self) -> Priority {
        self.priority.parse().unwrap_or_default()
    }
}

const COLUMNS: &str = "ticket_id, priority, region, category, pool, status, excluded, rejections, attempts, created_at, queued_at";

/// Locks the ticket's route, creating it (status `new`) when routing has not seen the ticket.
pub async fn lock_or_create(
    tx: &mut Transaction<'_, Postgres>,
    ticket_id: Uuid,
) -> Result<Route, sqlx::Error> {
    // Most events are about a ticket routing already knows: one statement for those.
    if let Some(route) = lock(tx, ticket_id).await? {
        return Ok(route);
    }
    sqlx::query("INSERT INTO routes (ticket_id, status) VALUES ($1, 'new') ON CONFLICT DO NOTHING")
        .bind(ticket_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM routes WHERE ticket_id = $1 FOR UPDATE"
    ))
    .bind(ticket_id)
    .fetch_one(&mut **tx)
    .await
}

/// Creates the routes of `create` that do not exist (status `new`), then locks and returns
/// the routes of `lock` that exist, in ticket order, for the rest of `tx`.
pub async fn create_and_lock(
    tx: &mut Transaction<'_, Postgres>,
    create: &[Uuid],
    lock: &[Uuid],
) -> Result<Vec<Route>, sqlx::Error> {
    let sorted = |ids: &[Uuid]| {
        let mut ids = ids.to_vec();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    // Rows are inserted, and so locked, in the array's (sorted) order.
    sqlx::query(
        "INSERT INTO routes (ticket_id, status) SELECT t, 'new' FROM unnest($1::uuid[]) AS t \
         ON CONFLICT DO NOTHING",
    )
    .bind(sorted(create))
    .execute(&mut **tx)
    .await?;
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM routes WHERE ticket_id = ANY($1) ORDER BY ticket_id FOR UPDATE"
    ))
    .bind(sorted(lock))
    // Planned for these ids and the table's size now: a plan prepared while the table was
    // small scans all of it for every batch until autovacuum analyzes the table.
    .persistent(false)
    .fetch_all(&mut **tx)
    .await
}

/// Locks the ticket's route if it exists and no one else holds it.
pub async fn try_lock(
    tx: &mut Transaction<'_, Postgres>,
    ticket_id: Uuid,
) -> Result<Option<Route>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM routes WHERE ticket_id = $1 FOR UPDATE SKIP LOCKED"
    ))
    .bind(ticket_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Locks the ticket's route if it exists.
pub async fn lock(
    tx: &mut Transaction<'_, Postgres>,
    ticket_id: Uuid,
) -> Result<Option<Route>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM routes WHERE ticket_id = $1 FOR UPDATE"
    ))
    .bind(ticket_id)
    .fetch_optional(&mut **tx)
    .await
}

/// The next backlog tickets of a pool in assignment order (priority, then age in the
/// backlog), skipping those other transactions hold and those in `skip`.
pub async fn lock_backlog(
    tx: &mut Transaction<'_, Postgres>,
    pool: &str,
    skip: &[Uuid],
    limit: i64,
) -> Result<Vec<Route>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM routes WHERE status = 'queued' AND pool = $1 AND NOT (ticket_id = ANY($2)) \
         ORDER BY priority_rank DESC, queued_at, ticket_id LIMIT $3 FOR UPDATE SKIP LOCKED"
    ))
    .bind(pool)
    .bind(skip)
    .bind(limit)
    .fetch_all(&mut **tx)
    .await
}

/// The update of a route's mutable fields ($1 ticket, $2 to $11 the fields).
pub(crate) const UPDATE_ROUTE: &str = "UPDATE routes SET priority = $2, region = $3, category = $4, pool = $5, status = $6, excluded = $7, \
     rejections = $8, attempts = $9, created_at = $10, queued_at = $11, updated_at = now(), \
     first_assigned_at = CASE WHEN $6 = 'assigned' THEN COALESCE(first_assigned_at, now()) ELSE first_assigned_at END, \
     resolved_at = CASE WHEN $6 = 'done' THEN COALESCE(resolved_at, now()) ELSE resolved_at END \
     WHERE ticket_id = $1";

pub(crate) fn bind_route<'q>(
    q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    r: &'q Route,
) -> sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments> {
    q.bind(r.ticket_id)
        .bind(&r.priority)
        .bind(&r.region)
        .bind(&r.category)
        .bind(&r.pool)
        .bind(&r.status)
        .bind(&r.excluded)
        .bind(r.rejections)
        .bind(r.attempts)
        .bind(r.created_at)
        .bind(r.queued_at)
}

/// Stores the route's mutable fields.
pub async fn save(tx: &mut Transaction<'_, Postgres>, r: &Route) -> Result<(), sqlx::Error> {
    bind_route(sqlx::query(UPDATE_ROUTE), r)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The CTEs `announced` and `decided`: the event ($12 id, $13 envelope) into the outbox and the
/// record of the decision about route $1 (kind $14, detail $15) into `decisions`; with a
/// `source` (a CTE of at most one row), only when that has a row.
fn decided_ctes(source: Option<&str>) -> String {
    let values = "$12, $1, $14, $4, $5, $15";
    let rows = match source {
        None => format!("VALUES ({values})"),
        Some(source) => format!("SELECT {values} FROM {source}"),
    };
    format!(
        "announced AS ({}), \
         decided AS (INSERT INTO decisions (event_id, ticket_id, kind, category, pool, detail) \
         {rows} ON CONFLICT (event_id) DO NOTHING)",
        outbox::insert_statement(12, 13, source)
    )
}

/// Binds the route ($1 to $11) and what [`decided_ctes`] writes ($12 to $15).
fn bind_decided<'q>(
    q: sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>,
    r: &'q Route,
    event: &RawEnvelope,
    kind: &'q str,
    detail: serde_json::Value,
) -> Result<sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>, sqlx::Error> {
    Ok(bind_route(q, r)
        .bind(event.id)
        .bind(outbox::envelope_json(event)?)
        .bind(kind)
        .bind(detail))
}

/// Stores the route, the record of the decision just made about it (`kind`, `detail`) and the
/// event announcing it, into the outbox, in one statement: this runs while pool locks are held,
/// where every round trip to the database lengthens the wait of the transactions queued behind
/// them.
pub async fn save_decided(
    tx: &mut Transaction<'_, Postgres>,
    r: &Route,
    event: &RawEnvelope,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    let sql = format!("WITH {} {UPDATE_ROUTE}", decided_ctes(None));
    bind_decided(sqlx::query(&sql), r, event, kind, detail)?
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Gives the ticket to the expert if the expert has room (see
/// [`assignments::open_if_room_ctes`]) and, only then, stores the route (as `r`, assigned), the
/// record of the decision (`detail`) and the event announcing it, in one statement. Returns
/// whether the expert took it; if not, nothing was written.
pub async fn assign_decided(
    tx: &mut Transaction<'_, Postgres>,
    r: &Route,
    expert_id: Uuid,
    accept_due_at: Option<DateTime<Utc>>,
    event: &RawEnvelope,
    detail: serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let sql = format!(
        "WITH {}, {} {UPDATE_ROUTE} AND EXISTS (SELECT 1 FROM opened)",
        assignments::open_if_room_ctes(1, 16, 5, 9, 17),
        decided_ctes(Some("opened")),
    );
    let saved = bind_decided(sqlx::query(&sql), r, event, "assigned", detail)?
        .bind(expert_id)
        .bind(accept_due_at)
        .execute(&mut **tx)
        .await?
        .rows_affected();
    Ok(saved == 1)
}

/// Records a decision about a ticket: the record behind `/api/routing/history`.
pub async fn record_decision(
    tx: &mut Transaction<'_, Postgres>,
    event_id: Uuid,
    r: &Route,
    kind: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO decisions (event_id, ticket_id, kind, category, pool, detail) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(r.ticket_id)
    .bind(kind)
    .bind(&r.category)
    .bind(&r.pool)
    .bind(detail)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

//! Data access for tickets and their events. Every state change writes its event to the
//! ticket's history and to the outbox in the same transaction.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use sysops_contract::{RawEnvelope, TicketStatus};
use sysops_platform::outbox::{self, Outbox};

use crate::domain::access::Parties;

mod created;
pub use created::{Created, Idempotency};

/// A ticket as stored and as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Ticket {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    pub customer: String,
    /// The customer account that submitted it; none when staff entered it for someone.
    pub customer_id: Option<Uuid>,
    pub region: Option<String>,
    #[schema(value_type = sysops_contract::Channel)]
    pub channel: String,
    #[schema(value_type = sysops_contract::Priority)]
    pub priority: String,
    #[schema(value_type = sysops_contract::TicketStatus)]
    pub status: String,
    /// The category, once the categorizer or a person decided it.
    pub category: Option<String>,
    /// How sure the categorizer was, 0 to 1 (1 for a person's choice).
    pub confidence: Option<f32>,
    /// Who decided the category: `llm`, `embedding`, `keyword` or `human`.
    pub method: Option<String>,
    /// Waits for a person to pick the category or the expert.
    pub needs_review: bool,
    /// The skill pool the category belongs to.
    pub pool: Option<String>,
    /// The expert the ticket is assigned to.
    pub assignee: Option<Uuid>,
    pub assignee_name: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub categorized_at: Option<DateTime<Utc>>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// The `attempt` of the latest `ticket.assigned` or `ticket.unassigned` the pipeline
    /// applied; routing numbers a ticket's assignments in order, so an older event arriving
    /// later is history only. Bookkeeping, not shown.
    #[serde(skip)]
    pub assignment_attempt: Option<i32>,
}

impl Ticket {
    /// Who owns the ticket and who works it, for access checks.
    pub fn parties(&self) -> Parties {
        Parties {
            customer_id: self.customer_id,
            assignee: self.assignee,
        }
    }

    /// The stored status; rows are only ever written from `TicketStatus` values.
    pub fn status(&self) -> TicketStatus {
        self.status
            .parse()
            .expect("the status column holds only TicketStatus names")
    }
}

/// One entry of a ticket's history: an event, as published.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct HistoryEntry {
    #[serde(rename = "id")]
    pub event_id: Uuid,
    /// The event type, such as `ticket.created` or `ticket.assigned`.
    #[serde(rename = "type")]
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    /// The event that caused this one, when another event did.
    pub causation_id: Option<Uuid>,
    /// The event's payload, as its type defines it.
    pub data: serde_json::Value,
}

/// Filters and paging of the ticket list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<TicketStatus>,
    pub category: Option<String>,
    pub pool: Option<String>,
    pub assignee: Option<Uuid>,
    pub customer: Option<String>,
    pub customer_id: Option<Uuid>,
    pub limit: i64,
    pub offset: i64,
}

/// The tickets table, its history and the outbox.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
    outbox: Outbox,
}

impl Store {
    pub fn new(pool: PgPool) -> Self {
        Store {
            pool,
            outbox: Outbox::default(),
        }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub async fn begin(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }

    pub async fn get(&self, id: Uuid) -> Result<Option<Ticket>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM tickets WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Locks the ticket's row for the rest of `tx`.
    pub async fn get_for_update(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        id: Uuid,
    ) -> Result<Option<Ticket>, sqlx::Error> {
        sqlx::query_as("SELECT * FROM tickets WHERE id = $1 FOR UPDATE")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await
    }

    /// Locks the rows of the tickets `ids` (in id order, so that two lockers never wait on each
    /// other) for the rest of `tx` and returns those that exist.
    pub async fn lock_all(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        ids: &[Uuid],
    ) -> Result<HashMap<Uuid, Ticket>, sqlx::Error> {
        let tickets: Vec<Ticket> =
            sqlx::query_as("SELECT * FROM tickets WHERE id = ANY($1) ORDER BY id FOR UPDATE")
                .bind(ids)
                // Planned for these ids and the table as it is now; see `UPDATE_TICKETS`.
                .persistent(false)
                .fetch_all(&mut **tx)
                .await?;
        Ok(tickets.into_iter().map(|t| (t.id, t)).collect())
    }

    /// Writes back every mutable field of each ticket of `tickets`, in one statement.
    pub async fn update_all<'t>(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        tickets: impl IntoIterator<Item = &'t Ticket>,
    ) -> Result<(), sqlx::Error> {
        let mut c = TicketColumns::default();
        for t in tickets {
            c.push(t);
        }
        c.bind(sqlx::query(UPDATE_TICKETS).persistent(false))
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    /// Writes the changed ticket, its event to the history and to the outbox (one statement),
    /// and commits: the change and its announcement are one transaction.
    pub async fn commit_change(
        &self,
        mut tx: Transaction<'_, Postgres>,
        ticket: &Ticket,
        event: &RawEnvelope,
    ) -> Result<(), sqlx::Error> {
        let mut c = TicketColumns::default();
        c.push(ticket);
        let sql = format!("{}{UPDATE_TICKETS}", announcing(UPDATE_TICKETS_PARAMS + 1));
        bind_event(c.bind(sqlx::query(&sql)), event)?
            .execute(&mut *tx)
            .await?;
        self.outbox.commit(tx).await
    }

    /// Makes a lifecycle move decided on `before`: if the ticket's status and assignee are
    /// still `before`'s, writes what a move changes (status, assignee, resolution time) from
    /// `after`, with the event to the history and the outbox, in one statement committed on
    /// its own. Returns the ticket as written, or `None` when its status or assignee changed
    /// since `before` was read (the caller decides again on the ticket as it is now). Nothing
    /// is locked while the caller decides, and a move that is not allowed locks nothing.
    pub async fn apply_move(
        &self,
        before: &Ticket,
        after: &Ticket,
        event: &RawEnvelope,
    ) -> Result<Option<Ticket>, sqlx::Error> {
        let sql = format!(
            "WITH moved AS (UPDATE tickets SET status = $2, assignee = $3, assignee_name = $4, \
             resolved_at = $5, updated_at = now() \
             WHERE id = $1 AND status = $6 AND assignee IS NOT DISTINCT FROM $7 RETURNING *), \
             {} SELECT * FROM moved",
            announcing_ctes(8, Some("moved"))
        );
        let query = sqlx::query(&sql)
            .bind(after.id)
            .bind(&after.status)
            .bind(after.assignee)
            .bind(&after.assignee_name)
            .bind(after.resolved_at)
            .bind(&before.status)
            .bind(before.assignee);
        let row = bind_event(query, event)?.fetch_optional(&self.pool).await?;
        if row.is_some() {
            // One statement outside a transaction: committed once it returned.
            self.outbox.written();
        }
        row.map(|r| Ticket::from_row(&r)).transpose()
    }

    /// Adds events to their tickets' histories in one statement, in the order given; events
    /// already there are ignored.
    pub async fn record_events<'e>(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        events: impl IntoIterator<Item = &'e RawEnvelope>,
    ) -> Result<(), sqlx::Error> {
        let (mut ids, mut tickets, mut types, mut times, mut causes, mut data) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for e in events {
            ids.push(e.id);
            tickets.push(e.ticket_id);
            types.push(e.event_type.routing_key());
            times.push(e.occurred_at);
            causes.push(e.causation_id);
            data.push(&e.data);
        }
        sqlx::query(&record_rows(
            "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::uuid[], $6::jsonb[])",
        ))
        .bind(ids)
        .bind(tickets)
        .bind(types)
        .bind(times)
        .bind(causes)
        .bind(data)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    pub async fn history(&self, id: Uuid) -> Result<Vec<HistoryEntry>, sqlx::Error> {
        sqlx::query_as(
            "SELECT event_id, event_type, occurred_at, causation_id, data FROM ticket_events \
             WHERE ticket_id = $1 ORDER BY occurred_at, seq",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
    }

    /// A page of tickets, newest first, and the number matching the filters.
    pub async fn list(&self, q: &ListQuery) -> Result<(Vec<Ticket>, i64), sqlx::Error> {
        let mut select = QueryBuilder::new("SELECT * FROM tickets");
        push_filters(&mut select, q);
        select
            .push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(q.limit)
            .push(" OFFSET ")
            .push_bind(q.offset);
        let items = select.build_query_as().fetch_all(&self.pool).await?;

        let mut count = QueryBuilder::new("SELECT count(*) FROM tickets");
        push_filters(&mut count, q);
        let total: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
        Ok((items, total))
    }
}

fn push_filters<'a>(b: &mut QueryBuilder<'a, Postgres>, q: &'a ListQuery) {
    let mut sep = " WHERE ";
    let mut push = |b: &mut QueryBuilder<'a, Postgres>, clause: &str| {
        b.push(sep).push(clause);
        sep = " AND ";
    };
    if let Some(s) = q.status {
        push(b, "status = ");
        b.push_bind(s.as_str());
    }
    if let Some(c) = &q.category {
        push(b, "category = ");
        b.push_bind(c);
    }
    if let Some(p) = &q.pool {
        push(b, "pool = ");
        b.push_bind(p);
    }
    if let Some(a) = q.assignee {
        push(b, "assignee = ");
        b.push_bind(a);
    }
    if let Some(c) = &q.customer {
        push(b, "customer = ");
        b.push_bind(c);
    }
    if let Some(c) = q.customer_id {
        push(b, "customer_id = ");
        b.push_bind(c);
    }
}

type Query<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Parameters of [`UPDATE_TICKETS`], bound by [`TicketColumns::bind`]; a statement that adds
/// clauses binds theirs after these.
const UPDATE_TICKETS_PARAMS: u8 = 13;

/// Writes back the mutable fields of the tickets bound by [`TicketColumns::bind`] ($1 to $13).
///
/// Statements on a batch of tickets run unprepared (`persistent(false)`), so PostgreSQL plans
/// each for its batch and the table's size at that moment. A prepared statement keeps the
/// generic plan made at its first executions; on a table that was small then (a new
/// installation, the first minute of a burst) that plan scans the whole table on every batch
/// (a hash join, or a filter over all rows), until autovacuum next analyzes it: work that grows
/// with the table, on the path of every ticket.
const UPDATE_TICKETS: &str = "UPDATE tickets AS t SET status = u.status, category = u.category, \
     confidence = u.confidence, method = u.method, needs_review = u.needs_review, \
     pool = u.pool, assignee = u.assignee, assignee_name = u.assignee_name, \
     updated_at = now(), categorized_at = u.categorized_at, assigned_at = u.assigned_at, \
     resolved_at = u.resolved_at, assignment_attempt = u.assignment_attempt \
     FROM unnest($1::uuid[], $2::text[], $3::text[], $4::real[], $5::text[], $6::bool[], \
                 $7::text[], $8::uuid[], $9::text[], $10::timestamptz[], \
                 $11::timestamptz[], $12::timestamptz[], $13::int[]) \
       AS u(id, status, category, confidence, method, needs_review, pool, assignee, \
            assignee_name, categorized_at, assigned_at, resolved_at, assignment_attempt) \
     WHERE t.id = u.id";

/// `WITH` clauses that add an event to the outbox and to its ticket's history, for a statement
/// that also makes the change the event announces; the event is bound by [`bind_event`] from
/// parameter `$first` on.
fn announcing(first: u8) -> String {
    format!("WITH {} ", announcing_ctes(first, None))
}

/// The clauses of [`announcing`], without `WITH`; with a `source` (a CTE of at most one row)
/// the event is added only when it has a row.
fn announcing_ctes(first: u8, source: Option<&str>) -> String {
    let [id, envelope, ticket, kind, at, cause, data] = std::array::from_fn(|i| first + i as u8);
    let values = format!("${id}, ${ticket}, ${kind}, ${at}, ${cause}, ${data}");
    let outbox = outbox::insert_statement(id, envelope, source);
    let rows = match source {
        None => format!("VALUES ({values})"),
        Some(source) => format!("SELECT {values} FROM {source}"),
    };
    format!(
        "announced AS ({outbox}), recorded AS ({})",
        record_rows(&rows)
    )
}

/// The statement that adds the events `rows` yields (event id, ticket id, type, time,
/// causation, data) to their tickets' histories; events already there are skipped.
fn record_rows(rows: &str) -> String {
    format!(
        "INSERT INTO ticket_events (event_id, ticket_id, event_type, occurred_at, causation_id, data) \
         {rows} ON CONFLICT (event_id) DO NOTHING"
    )
}

/// Binds the parameters of [`announcing`].
fn bind_event<'q>(query: Query<'q>, event: &'q RawEnvelope) -> Result<Query<'q>, sqlx::Error> {
    Ok(query
        .bind(event.id)
        .bind(outbox::envelope_json(event)?)
        .bind(event.ticket_id)
        .bind(event.event_type.routing_key())
        .bind(event.occurred_at)
        .bind(event.causation_id)
        .bind(&event.data))
}

/// The mutable fields of many tickets, column by column, for one `UPDATE ... FROM unnest(...)`.
#[derive(Default)]
struct TicketColumns {
    id: Vec<Uuid>,
    status: Vec<String>,
    category: Vec<Option<String>>,
    confidence: Vec<Option<f32>>,
    method: Vec<Option<String>>,
    needs_review: Vec<bool>,
    pool: Vec<Option<String>>,
    assignee: Vec<Option<Uuid>>,
    assignee_name: Vec<Option<String>>,
    categorized_at: Vec<Option<DateTime<Utc>>>,
    assigned_at: Vec<Option<DateTime<Utc>>>,
    resolved_at: Vec<Option<DateTime<Utc>>>,
    assignment_attempt: Vec<Option<i32>>,
}

impl TicketColumns {
    /// Binds the columns as parameters $1 to $13 of [`UPDATE_TICKETS`].
    fn bind(self, query: Query<'_>) -> Query<'_> {
        query
            .bind(self.id)
            .bind(self.status)
            .bind(self.category)
            .bind(self.confidence)
            .bind(self.method)
            .bind(self.needs_review)
            .bind(self.pool)
            .bind(self.assignee)
            .bind(self.assignee_name)
            .bind(self.categorized_at)
            .bind(self.assigned_at)
            .bind(self.resolved_at)
            .bind(self.assignment_attempt)
    }

    fn push(&mut self, t: &Ticket) {
        self.id.push(t.id);
        self.status.push(t.status.clone());
        self.category.push(t.category.clone());
        self.confidence.push(t.confidence);
        self.method.push(t.method.clone());
        self.needs_review.push(t.needs_review);
        self.pool.push(t.pool.clone());
        self.assignee.push(t.assignee);
        self.assignee_name.push(t.assignee_name.clone());
        self.categorized_at.push(t.categorized_at);
        self.assigned_at.push(t.assigned_at);
        self.resolved_at.push(t.resolved_at);
        self.assignment_attempt.push(t.assignment_attempt);
    }
}

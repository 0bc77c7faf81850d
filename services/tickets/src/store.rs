//! Data access for tickets and their events. Every state change writes its event to the
//! ticket's history and to the outbox in the same transaction.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};
use uuid::Uuid;

use sysops_contract::{RawEnvelope, TicketStatus};
use sysops_platform::outbox::Outbox;

use crate::domain::access::Parties;

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

    /// Inserts a new ticket and its `ticket.created` event.
    pub async fn insert(&self, ticket: &Ticket, event: &RawEnvelope) -> Result<(), sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO tickets (id, title, description, customer, customer_id, region, channel, priority, \
             status, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
        )
        .bind(ticket.id)
        .bind(&ticket.title)
        .bind(&ticket.description)
        .bind(&ticket.customer)
        .bind(ticket.customer_id)
        .bind(&ticket.region)
        .bind(&ticket.channel)
        .bind(&ticket.priority)
        .bind(&ticket.status)
        .bind(ticket.created_at)
        .execute(&mut *tx)
        .await?;
        self.record_event(&mut tx, event).await?;
        self.outbox.enqueue(&mut tx, event).await?;
        self.outbox.commit(tx).await
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

    /// Writes back every mutable field of `ticket`.
    pub async fn update(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        ticket: &Ticket,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE tickets SET status = $2, category = $3, confidence = $4, method = $5, \
             needs_review = $6, pool = $7, assignee = $8, assignee_name = $9, updated_at = now(), \
             categorized_at = $10, assigned_at = $11, resolved_at = $12 WHERE id = $1",
        )
        .bind(ticket.id)
        .bind(&ticket.status)
        .bind(&ticket.category)
        .bind(ticket.confidence)
        .bind(&ticket.method)
        .bind(ticket.needs_review)
        .bind(&ticket.pool)
        .bind(ticket.assignee)
        .bind(&ticket.assignee_name)
        .bind(ticket.categorized_at)
        .bind(ticket.assigned_at)
        .bind(ticket.resolved_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Writes the changed ticket, its event to the history and to the outbox, and commits: the
    /// change and its announcement are one transaction.
    pub async fn commit_change(
        &self,
        mut tx: Transaction<'_, Postgres>,
        ticket: &Ticket,
        event: &RawEnvelope,
    ) -> Result<(), sqlx::Error> {
        self.update(&mut tx, ticket).await?;
        self.record_event(&mut tx, event).await?;
        self.outbox.enqueue(&mut tx, event).await?;
        self.outbox.commit(tx).await
    }

    /// Adds an event to the ticket's history; an event already there is ignored.
    pub async fn record_event(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        event: &RawEnvelope,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO ticket_events (event_id, ticket_id, event_type, occurred_at, causation_id, data) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(event.id)
        .bind(event.ticket_id)
        .bind(event.event_type.routing_key())
        .bind(event.occurred_at)
        .bind(event.causation_id)
        .bind(&event.data)
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

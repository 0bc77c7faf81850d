//! New tickets: a submission as stored, and the one statement that stores many of them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use sysops_contract::{Envelope, EventType, RawEnvelope, TicketCreated, TicketStatus};
use sysops_platform::outbox;

use super::{record_rows, Query, Store, Ticket};
use crate::domain::NewTicket;

/// A new ticket and the `ticket.created` event that announces it.
#[derive(Debug, Clone)]
pub struct Created {
    pub ticket: Ticket,
    pub event: RawEnvelope,
}

impl Created {
    /// A submitted ticket, status `new`, for `customer` (with their account's id when they
    /// submitted it themselves).
    pub fn submitted(
        new: &NewTicket,
        customer: String,
        customer_id: Option<Uuid>,
    ) -> Result<Self, serde_json::Error> {
        let now = Utc::now();
        let id = Uuid::now_v7();
        let ticket = Ticket {
            id,
            title: new.title().to_owned(),
            description: new.description().to_owned(),
            customer,
            customer_id,
            region: new.region().map(str::to_owned),
            channel: new.channel().as_str().to_owned(),
            priority: new.priority().as_str().to_owned(),
            status: TicketStatus::New.as_str().to_owned(),
            category: None,
            confidence: None,
            method: None,
            needs_review: false,
            pool: None,
            assignee: None,
            assignee_name: None,
            created_at: now,
            updated_at: now,
            categorized_at: None,
            assigned_at: None,
            resolved_at: None,
        };
        let payload = TicketCreated {
            title: ticket.title.clone(),
            description: ticket.description.clone(),
            customer: ticket.customer.clone(),
            region: ticket.region.clone(),
            channel: new.channel(),
            priority: new.priority(),
        };
        let event = Envelope::new(EventType::TicketCreated, Some(id), payload).to_raw()?;
        Ok(Created { ticket, event })
    }
}

impl Store {
    /// Inserts new tickets, each with its `ticket.created` event in its history and in the
    /// outbox, in one statement: all of them or, on an error, none.
    pub async fn insert(&self, created: &[Created]) -> Result<(), sqlx::Error> {
        let mut c = CreatedColumns::default();
        for row in created {
            c.push(row)?;
        }
        let sql = format!(
            "WITH new AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], \
             $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], \
             $11::uuid[], $12::jsonb[], $13::text[], $14::timestamptz[], $15::jsonb[]) \
             AS n(id, title, description, customer, customer_id, region, channel, priority, \
             status, created_at, event_id, envelope, event_type, occurred_at, data)), \
             announced AS ({}), recorded AS ({}) \
             INSERT INTO tickets (id, title, description, customer, customer_id, region, \
             channel, priority, status, created_at, updated_at) \
             SELECT id, title, description, customer, customer_id, region, channel, priority, \
             status, created_at, created_at FROM new",
            outbox::insert_rows("SELECT event_id, envelope FROM new"),
            record_rows("SELECT event_id, id, event_type, occurred_at, NULL::uuid, data FROM new"),
        );
        c.bind(sqlx::query(&sql)).execute(&self.pool).await?;
        // One statement outside a transaction: committed once it returned.
        self.outbox.written();
        Ok(())
    }
}

/// New tickets and their events, column by column, for [`Store::insert`]'s `unnest`.
#[derive(Default)]
struct CreatedColumns<'a> {
    id: Vec<Uuid>,
    title: Vec<&'a str>,
    description: Vec<&'a str>,
    customer: Vec<&'a str>,
    customer_id: Vec<Option<Uuid>>,
    region: Vec<Option<&'a str>>,
    channel: Vec<&'a str>,
    priority: Vec<&'a str>,
    status: Vec<&'a str>,
    created_at: Vec<DateTime<Utc>>,
    event_id: Vec<Uuid>,
    envelope: Vec<serde_json::Value>,
    event_type: Vec<&'static str>,
    occurred_at: Vec<DateTime<Utc>>,
    data: Vec<&'a serde_json::Value>,
}

impl<'a> CreatedColumns<'a> {
    fn push(&mut self, row: &'a Created) -> Result<(), sqlx::Error> {
        let (t, e) = (&row.ticket, &row.event);
        self.id.push(t.id);
        self.title.push(&t.title);
        self.description.push(&t.description);
        self.customer.push(&t.customer);
        self.customer_id.push(t.customer_id);
        self.region.push(t.region.as_deref());
        self.channel.push(&t.channel);
        self.priority.push(&t.priority);
        self.status.push(&t.status);
        self.created_at.push(t.created_at);
        self.event_id.push(e.id);
        self.envelope.push(outbox::envelope_json(e)?);
        self.event_type.push(e.event_type.routing_key());
        self.occurred_at.push(e.occurred_at);
        self.data.push(&e.data);
        Ok(())
    }

    /// Binds the columns as parameters $1 to $15, in the order of their fields.
    fn bind(self, query: Query<'a>) -> Query<'a> {
        query
            .bind(self.id)
            .bind(self.title)
            .bind(self.description)
            .bind(self.customer)
            .bind(self.customer_id)
            .bind(self.region)
            .bind(self.channel)
            .bind(self.priority)
            .bind(self.status)
            .bind(self.created_at)
            .bind(self.event_id)
            .bind(self.envelope)
            .bind(self.event_type)
            .bind(self.occurred_at)
            .bind(self.data)
    }
}

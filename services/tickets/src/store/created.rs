//! New tickets: a submission as stored, and the one statement that stores many of them.

use std::collections::HashSet;

use chrono::{DateTime, SubsecRound, Utc};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use sysops_contract::{Envelope, EventType, RawEnvelope, TicketCreated, TicketStatus};
use sysops_platform::outbox;

use sqlx::postgres::PgArguments;
use sqlx::Postgres;

use super::{record_rows, Store, Ticket};

type QueryScalar<'a, O> = sqlx::query::QueryScalar<'a, Postgres, O, PgArguments>;
use crate::domain::NewTicket;

/// A new ticket and the `ticket.created` event that announces it.
#[derive(Debug, Clone)]
pub struct Created {
    pub ticket: Ticket,
    pub event: RawEnvelope,
    /// Set when the submission carried an `Idempotency-Key`.
    pub idempotency: Option<Idempotency>,
}

/// What makes a repeated submission the same one: the account that sent it, the key it gave,
/// and a digest of what it submitted (to tell a retry from a different ticket under a reused
/// key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub submitter: Uuid,
    pub key: String,
    pub digest: Vec<u8>,
}

impl Created {
    /// A submitted ticket, status `new`, for `customer` (with their account's id when they
    /// submitted it themselves).
    pub fn submitted(
        new: &NewTicket,
        customer: String,
        customer_id: Option<Uuid>,
    ) -> Result<Self, serde_json::Error> {
        // To the microsecond, as PostgreSQL keeps it: the answer shows what is read back later.
        let now = Utc::now().trunc_subsecs(6);
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
            assignment_attempt: None,
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
        Ok(Created {
            ticket,
            event,
            idempotency: None,
        })
    }

    /// The same submission, sent by `submitter` under `key`.
    pub fn with_key(mut self, submitter: Uuid, key: String) -> Self {
        let t = &self.ticket;
        let content = (
            &t.title,
            &t.description,
            &t.customer,
            &t.region,
            &t.channel,
            &t.priority,
        );
        let digest = Sha256::digest(serde_json::to_vec(&content).unwrap_or_default()).to_vec();
        self.idempotency = Some(Idempotency {
            submitter,
            key,
            digest,
        });
        self
    }
}

impl Store {
    /// Inserts new tickets, each with its `ticket.created` event in its history and in the
    /// outbox, in one statement: all of them or, on an error, none.
    ///
    /// A ticket whose submitter already stored one under the same idempotency key is left out;
    /// the answer holds, for each ticket given, whether it was stored.
    pub async fn insert(&self, created: &[Created]) -> Result<Vec<bool>, sqlx::Error> {
        let mut c = CreatedColumns::default();
        for row in created {
            c.push(row)?;
        }
        let sql = format!(
            "WITH new AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], \
             $5::uuid[], $6::text[], $7::text[], $8::text[], $9::text[], $10::timestamptz[], \
             $11::uuid[], $12::jsonb[], $13::text[], $14::timestamptz[], $15::jsonb[], \
             $16::uuid[], $17::text[], $18::bytea[]) \
             AS n(id, title, description, customer, customer_id, region, channel, priority, \
             status, created_at, event_id, envelope, event_type, occurred_at, data, \
             submitter, idempotency_key, request_digest)), \
             inserted AS (INSERT INTO tickets (id, title, description, customer, customer_id, \
             region, channel, priority, status, created_at, updated_at, submitter, \
             idempotency_key, request_digest) \
             SELECT id, title, description, customer, customer_id, region, channel, priority, \
             status, created_at, created_at, submitter, idempotency_key, request_digest FROM new \
             ON CONFLICT (submitter, idempotency_key) WHERE idempotency_key IS NOT NULL \
             DO NOTHING RETURNING id), \
             kept AS (SELECT new.* FROM new JOIN inserted USING (id)), \
             announced AS ({}), recorded AS ({}) \
             SELECT id FROM inserted",
            outbox::insert_rows("SELECT event_id, envelope FROM kept"),
            record_rows("SELECT event_id, id, event_type, occurred_at, NULL::uuid, data FROM kept"),
        );
        let stored: HashSet<Uuid> = c
            .bind(sqlx::query_scalar(&sql))
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();
        // One statement outside a transaction: committed once it returned.
        self.outbox.written();
        Ok(created
            .iter()
            .map(|c| stored.contains(&c.ticket.id))
            .collect())
    }

    /// The ticket `submitter` stored under idempotency `key`, with the digest of its submission.
    pub async fn by_idempotency_key(
        &self,
        submitter: Uuid,
        key: &str,
    ) -> Result<Option<(Ticket, Vec<u8>)>, sqlx::Error> {
        let found: Option<(Uuid, Vec<u8>)> = sqlx::query_as(
            "SELECT id, request_digest FROM tickets \
             WHERE submitter = $1 AND idempotency_key = $2",
        )
        .bind(submitter)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        let Some((id, digest)) = found else {
            return Ok(None);
        };
        Ok(self.get(id).await?.map(|t| (t, digest)))
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
    submitter: Vec<Option<Uuid>>,
    idempotency_key: Vec<Option<&'a str>>,
    request_digest: Vec<Option<Vec<u8>>>,
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
        let key = row.idempotency.as_ref();
        self.submitter.push(key.map(|k| k.submitter));
        self.idempotency_key.push(key.map(|k| k.key.as_str()));
        self.request_digest.push(key.map(|k| k.digest.clone()));
        Ok(())
    }

    /// Binds the columns as parameters $1 to $18, in the order of their fields.
    fn bind<O>(self, query: QueryScalar<'a, O>) -> QueryScalar<'a, O> {
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
            .bind(self.submitter)
            .bind(self.idempotency_key)
            .bind(self.request_digest)
    }
}

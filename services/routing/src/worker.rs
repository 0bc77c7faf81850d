//! Consumer of `routing.work`: puts categorized tickets in their pool's backlog and announces
//! `ticket.queued`; follows the lifecycle so the backlog holds only tickets that wait. Effects,
//! the inbox entry and the outgoing events commit in one transaction.

use serde_json::json;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use sysops_bus::{HandleError, Incoming};
use sysops_contract::{
    Envelope, EventType, RawEnvelope, TicketCategorized, TicketCreated, TicketQueued,
    TicketRecategorized,
};
use sysops_platform::db::is_transient;
use sysops_platform::inbox::{self, Seen};
use sysops_platform::outbox::Outbox;
use sysops_taxonomy::Taxonomy;

/// What the consumer needs.
#[derive(Clone)]
pub struct Worker {
    pub pool: PgPool,
    pub outbox: Outbox,
    pub taxonomy: std::sync::Arc<Taxonomy>,
}

fn db_error(e: sqlx::Error) -> HandleError {
    if is_transient(&e) {
        HandleError::transient(e)
    } else {
        HandleError::permanent(e)
    }
}

impl Worker {
    #[tracing::instrument(skip_all, fields(event_id = %incoming.envelope.id, event_type = %incoming.envelope.event_type))]
    pub async fn handle(&self, incoming: Incoming) -> Result<(), HandleError> {
        let event = incoming.envelope;
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        if inbox::record(&mut tx, event.id).await.map_err(db_error)? == Seen::Again {
            return Ok(());
        }
        match event.event_type {
            EventType::ExpertChanged => {}
            _ => {
                let ticket_id = event
                    .ticket_id
                    .ok_or_else(|| HandleError::permanent("ticket event without ticket_id"))?;
                self.apply(&mut tx, ticket_id, &event).await?;
            }
        }
        tx.commit().await.map_err(db_error)
    }

    async fn apply(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        ticket_id: Uuid,
        event: &RawEnvelope,
    ) -> Result<(), HandleError> {
        match event.event_type {
            EventType::TicketCreated => {
                let created: TicketCreated =
                    serde_json::from_value(event.data.clone()).map_err(HandleError::permanent)?;
                sqlx::query(
                    "INSERT INTO routes (ticket_id, priority, region, status, created_at) VALUES ($1, $2, $3, 'new', $4) \
                     ON CONFLICT (ticket_id) DO UPDATE SET priority = $2, region = $3, created_at = $4",
                )
                .bind(ticket_id)
                .bind(created.priority.as_str())
                .bind(&created.region)
                .bind(event.occurred_at)
                .execute(&mut **tx)
                .await
                .map_err(db_error)?;
            }
            EventType::TicketCategorized => {
                let c: TicketCategorized =
                    serde_json::from_value(event.data.clone()).map_err(HandleError::permanent)?;
                if c.needs_review {
                    self.set_status(tx, ticket_id, "review").await?;
                } else {
                    self.enqueue(tx, ticket_id, &c.category, event).await?;
                }
            }
            EventType::TicketRecategorized => {
                let r: TicketRecategorized =
                    serde_json::from_value(event.data.clone()).map_err(HandleError::permanent)?;
                self.enqueue(tx, ticket_id, &r.to, event).await?;
            }
            EventType::TicketRejected => {
                let category: Option<(Option<String>,)> =
                    sqlx::query_as("SELECT category FROM routes WHERE ticket_id = $1")
                        .bind(ticket_id)
                        .fetch_optional(&mut **tx)
                        .await
                        .map_err(db_error)?;
                match category.and_then(|(c,)| c) {
                    Some(category) => self.enqueue(tx, ticket_id, &category, event).await?,
                    None => tracing::warn!(%ticket_id, "rejected ticket unknown to routing"),
                }
            }
            EventType::TicketAccepted => self.set_status(tx, ticket_id, "accepted").await?,
            EventType::TicketResolved | EventType::TicketCancelled | EventType::TicketClosed => {
                self.set_status(tx, ticket_id, "done").await?
            }
            other => {
                return Err(HandleError::permanent(format!(
                    "{other} does not belong on routing.work"
                )))
            }
        }
        Ok(())
    }

    async fn set_status(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        ticket_id: Uuid,
        status: &str,
    ) -> Result<(), HandleError> {
        sqlx::query(
            "INSERT INTO routes (ticket_id, status) VALUES ($1, $2) \
             ON CONFLICT (ticket_id) DO UPDATE SET status = $2, updated_at = now()",
        )
        .bind(ticket_id)
        .bind(status)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    /// Puts the ticket in the backlog of its category's pool and announces it.
    async fn enqueue(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        ticket_id: Uuid,
        category: &str,
        cause: &RawEnvelope,
    ) -> Result<(), HandleError> {
        let pool = self
            .taxonomy
            .pool_of(category)
            .ok_or_else(|| {
                HandleError::permanent(format!("category `{category}` is not in the taxonomy"))
            })?
            .to_owned();
        sqlx::query(
            "INSERT INTO routes (ticket_id, category, pool, status, queued_at) VALUES ($1, $2, $3, 'queued', now()) \
             ON CONFLICT (ticket_id) DO UPDATE SET category = $2, pool = $3, status = 'queued', queued_at = now(), updated_at = now()",
        )
        .bind(ticket_id)
        .bind(category)
        .bind(&pool)
        .execute(&mut **tx)
        .await
        .map_err(db_error)?;
        let reason = "no expert of the pool is available; waiting in the backlog".to_owned();
        let queued = Envelope::derived(
            cause,
            EventType::TicketQueued,
            TicketQueued {
                category: category.to_owned(),
                pool: pool.clone(),
                reason: Some(reason.clone()),
            },
        )
        .to_raw()
        .map_err(HandleError::permanent)?;
        sqlx::query("INSERT INTO decisions (event_id, ticket_id, kind, category, pool, detail) VALUES ($1, $2, 'queued', $3, $4, $5)")
            .bind(queued.id)
            .bind(ticket_id)
            .bind(category)
            .bind(&pool)
            .bind(json!({ "reason": reason, "cause": cause.event_type }))
            .execute(&mut **tx)
            .await
            .map_err(db_error)?;
        self.outbox.enqueue(tx, &queued).await.map_err(db_error)?;
        metrics::counter!("routing_queued_total", "pool" => pool).increment(1);
        Ok(())
    }
}

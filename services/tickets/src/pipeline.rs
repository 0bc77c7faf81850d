//! Consumer of `tickets.pipeline`: reflects the categorizer's and routing's decisions
//! (category, pool, assignment) on the ticket. Idempotent through the inbox: the effects and
//! the handled event id commit together.

use chrono::Utc;
use sysops_bus::{HandleError, Incoming};
use sysops_contract::{
    EventType, TicketAssigned, TicketCategorized, TicketEscalated, TicketQueued, TicketStatus,
    TicketUnassigned,
};
use sysops_platform::db::is_transient;
use sysops_platform::inbox::{self, Seen};

use crate::domain::lifecycle::{in_pipeline, pipeline_status};
use crate::store::Store;

fn db_error(e: sqlx::Error) -> HandleError {
    if is_transient(&e) {
        HandleError::transient(e)
    } else {
        HandleError::permanent(e)
    }
}

#[tracing::instrument(skip_all, fields(event_id = %incoming.envelope.id, event_type = %incoming.envelope.event_type, ticket_id))]
pub async fn handle(store: &Store, incoming: Incoming) -> Result<(), HandleError> {
    let event = incoming.envelope;
    let ticket_id = event
        .ticket_id
        .ok_or_else(|| HandleError::permanent("pipeline event without ticket_id"))?;
    tracing::Span::current().record("ticket_id", tracing::field::display(ticket_id));

    let mut tx = store.begin().await.map_err(db_error)?;
    if inbox::record(&mut tx, event.id).await.map_err(db_error)? == Seen::Again {
        tracing::debug!("already handled");
        return Ok(());
    }
    let mut ticket = store
        .get_for_update(&mut tx, ticket_id)
        .await
        .map_err(db_error)?
        .ok_or_else(|| HandleError::permanent(format!("no ticket {ticket_id}")))?;
    let current = ticket.status();
    let now = Utc::now();
    let mut needs_review = false;
    // The event concerns an assignment the ticket no longer has: history only.
    let mut stale = false;

    match event.event_type {
        EventType::TicketCategorized => {
            let c: TicketCategorized =
                serde_json::from_value(event.data.clone()).map_err(HandleError::permanent)?;
            // A person's category wins over a late machine decision, and so does any state
            // people have taken the ticket to (accepted, cancelled, ...).
            if ticket.method.as_deref() != Some("human") && in_pipeline(current) {
                needs_review = c.needs_review;
                ticket.category = Some(c.category);
                ticket.confidence = Some(c.confidence);
                ticket.method = Some(c.method.as_str().to_owned());
                ticket.needs_review = c.needs_review;
                ticket.categorized_at = Some(now);
            }
        }
        EventType::TicketQueued => {
            let q: TicketQueued =
                serde_json::from_value(event.data.clone()).map_err(HandleError::permanent)?;
            // Only a ticket that is (or becomes) queued takes the pool.
            if pipeline_status(current, event.event_type, false) == TicketStatus::Queued {
                ticket.pool = Some(q.pool);
                // Routing's word can arrive before the categorizer's (both come on this
                // queue, handled concurrently): the ticket shows its category meanwhile, and
                // `ticket.categorized` adds the confidence and method when it comes.
                if ticket.category.is_none() {
                    ticket.category = Some(q.category);
                }
            }
        }
        EventType::TicketAssigned => {
            let a: TicketAssigned =
                serde_json::from_value(event.data.clone()).map_err(HandleError::permanent)?;
            if pipeline_status(current, event.event_type, false) == TicketStatus::Assigned {
                ticket.pool = Some(a.pool);
                ticket.assignee = Some(a.expert_id);
                ticket.assignee_name = Some(a.expert_name);
                ticket.assigned_at = Some(now);
            }
        }
        EventType::TicketSlaBreached => {}
        EventType::TicketUnassigned => {
            let u: TicketUnassigned =
                serde_json::from_value(event.data.clone()).map_err(HandleError::permanent)?;
            // A late take-back of an older assignment must not clear a newer one.
            stale = ticket.assignee != Some(u.expert_id);
            if !stale {
                ticket.assignee = None;
                ticket.assignee_name = None;
            }
        }
        EventType::TicketEscalated => {
            let _: TicketEscalated =
                serde_json::from_value(event.data.clone()).map_err(HandleError::permanent)?;
            if pipeline_status(current, event.event_type, false) == TicketStatus::NeedsReview {
                ticket.needs_review = true;
                ticket.assignee = None;
                ticket.assignee_name = None;
            }
        }
        other => {
            return Err(HandleError::permanent(format!(
                "{other} does not belong on tickets.pipeline"
            )))
        }
    }
    let next = if stale {
        current
    } else {
        pipeline_status(current, event.event_type, needs_review)
    };
    ticket.status = next.as_str().to_owned();
    store.update(&mut tx, &ticket).await.map_err(db_error)?;
    store
        .record_event(&mut tx, &event)
        .await
        .map_err(db_error)?;
    tx.commit().await.map_err(db_error)?;
    metrics::counter!("tickets_pipeline_events_total", "type" => event.event_type.routing_key())
        .increment(1);
    tracing::debug!(from = %current, to = %next, "pipeline event applied");
    Ok(())
}

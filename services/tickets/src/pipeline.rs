//! Consumer of `tickets.pipeline`: reflects the categorizer's and routing's decisions
//! (category, pool, assignment) on the ticket. Whatever has arrived is handled as one batch in
//! one transaction (a backlog drains in a few round trips per batch, not per event), events of
//! one ticket in the order they were delivered. Idempotent through the inbox: the effects and
//! the handled event ids commit together.

use chrono::{DateTime, Utc};
use sysops_bus::{payload, ticket_of, HandleError, Incoming};
use sysops_contract::{
    EventType, RawEnvelope, TicketAssigned, TicketCategorized, TicketEscalated, TicketQueued,
    TicketStatus, TicketUnassigned,
};
use sysops_platform::db::handle_error;
use sysops_platform::inbox;

use crate::domain::lifecycle::{in_pipeline, pipeline_status};
use crate::store::{Store, Ticket};

/// Applies a batch of pipeline events. A permanent failure of any event fails the whole batch
/// (nothing of it is committed); the consumer then handles each event alone.
#[tracing::instrument(skip_all, fields(events = batch.len()))]
pub async fn handle(store: &Store, batch: Vec<Incoming>) -> Result<(), HandleError> {
    let mut tx = store.begin().await.map_err(handle_error)?;
    let envelopes = batch.iter().map(|i| &i.envelope).collect();
    let events: Vec<&RawEnvelope> = inbox::first_seen(&mut tx, envelopes, |e| e.id)
        .await
        .map_err(handle_error)?;
    if events.len() < batch.len() {
        tracing::debug!(again = batch.len() - events.len(), "events already handled");
    }
    if events.is_empty() {
        return tx.commit().await.map_err(handle_error);
    }
    let ticket_ids = events
        .iter()
        .map(|e| ticket_of(e))
        .collect::<Result<Vec<_>, _>>()?;
    let mut tickets = store
        .lock_all(&mut tx, &ticket_ids)
        .await
        .map_err(handle_error)?;
    let now = Utc::now();
    for (event, &ticket_id) in events.iter().zip(&ticket_ids) {
        let ticket = tickets
            .get_mut(&ticket_id)
            .ok_or_else(|| HandleError::permanent(format!("no ticket {ticket_id}")))?;
        let (from, to) = apply(ticket, event, now)?;
        tracing::debug!(event_id = %event.id, event_type = %event.event_type, %ticket_id, %from, %to, "pipeline event applied");
    }
    store
        .update_all(&mut tx, tickets.values())
        .await
        .map_err(handle_error)?;
    store
        .record_events(&mut tx, events.iter().copied())
        .await
        .map_err(handle_error)?;
    tx.commit().await.map_err(handle_error)?;
    for event in &events {
        metrics::counter!("tickets_pipeline_events_total", "type" => event.event_type.routing_key())
            .increment(1);
    }
    Ok(())
}

/// An event's assignment `attempt` as the `tickets.assignment_attempt` column holds it.
fn attempt_number(attempt: u32) -> i32 {
    i32::try_from(attempt).unwrap_or(i32::MAX)
}

/// Applies one event to `ticket` (in memory) and returns its status before and after.
fn apply(
    ticket: &mut Ticket,
    event: &RawEnvelope,
    now: DateTime<Utc>,
) -> Result<(TicketStatus, TicketStatus), HandleError> {
    let current = ticket.status();
    let mut needs_review = false;
    // The event concerns an assignment the ticket no longer has: history only.
    let mut stale = false;

    match event.event_type {
        EventType::TicketCategorized => {
            let c: TicketCategorized = payload(event)?;
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
            let q: TicketQueued = payload(event)?;
            // Only a ticket that is (or becomes) queued takes the pool.
            if pipeline_status(current, event.event_type, false) == TicketStatus::Queued {
                ticket.pool = Some(q.pool);
                // Routing's word can arrive before the categorizer's (two publishers, no
                // order guaranteed between them, and a redelivery comes late): the ticket
                // shows its category meanwhile, and `ticket.categorized` adds the confidence
                // and method when it comes.
                if ticket.category.is_none() {
                    ticket.category = Some(q.category);
                }
            }
        }
        EventType::TicketAssigned => {
            let a: TicketAssigned = payload(event)?;
            let attempt = attempt_number(a.attempt);
            // Routing numbers a ticket's assignments in order, and events can arrive out of it
            // (two relays, two consumers, a redelivery): an assignment no newer than the latest
            // one applied, or than one already taken back, is history only.
            stale = ticket
                .assignment_attempt
                .is_some_and(|latest| attempt <= latest);
            if !stale && pipeline_status(current, event.event_type, false) == TicketStatus::Assigned
            {
                ticket.pool = Some(a.pool);
                ticket.assignee = Some(a.expert_id);
                ticket.assignee_name = Some(a.expert_name);
                ticket.assigned_at = Some(now);
                ticket.assignment_attempt = Some(attempt);
            }
        }
        EventType::TicketSlaBreached => {}
        EventType::TicketUnassigned => {
            let u: TicketUnassigned = payload(event)?;
            let attempt = u.attempt.map(attempt_number);
            stale = current != TicketStatus::Assigned
                || match (attempt, ticket.assignment_attempt) {
                    // Taking back assignment n ends every older one too (a ticket has one open
                    // assignment at a time), but not a newer one.
                    (Some(n), Some(latest)) => n < latest,
                    _ => ticket.assignee != Some(u.expert_id),
                };
            // Remembered even when stale: the assignment it takes back may arrive after it, and
            // must then not apply. An accepted ticket stays (routing lets the acceptance win).
            if let Some(n) = attempt {
                ticket.assignment_attempt = ticket.assignment_attempt.max(Some(n));
            }
            if !stale {
                ticket.assignee = None;
                ticket.assignee_name = None;
            }
        }
        EventType::TicketEscalated => {
            let _: TicketEscalated = payload(event)?;
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
    Ok((current, next))
}

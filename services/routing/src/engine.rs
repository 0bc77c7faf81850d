//! The assignment engine: places one ticket (best eligible expert, or the backlog), drains a
//! pool's backlog when capacity frees, and closes assignments. Every function runs inside the
//! caller's transaction, after the caller locked the ticket's route and the pools concerned
//! ([`crate::store::lock_pools`]); effects, decisions and outgoing events commit together.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use sysops_contract::{
    Availability, Envelope, EventType, RawEnvelope, TicketAssigned, TicketQueued,
};
use sysops_platform::outbox::Outbox;
use sysops_taxonomy::Taxonomy;

use crate::domain::{choose, Candidate, SlaPolicy, TicketFacts};
use crate::store::assignments::{self, OpenAssignment};
use crate::store::routes::{self, Route};

mod view;

pub use view::PoolView;

/// Backlog tickets locked per round of a drain.
const DRAIN_BATCH: i64 = 16;

/// What caused the work: an event (outgoing ids derive from it, so a redelivery repeats
/// them) or a person or clock (fresh ids).
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    Event(&'a RawEnvelope),
    Fresh(&'static str),
}

impl Origin<'_> {
    fn name(&self) -> &str {
        match self {
            Origin::Event(e) => e.event_type.routing_key(),
            Origin::Fresh(what) => what,
        }
    }
}

/// Where a ticket ended up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Assigned { expert_id: Uuid, attempt: i32 },
    Queued,
}

/// The assignment rules and where their events go.
#[derive(Clone)]
pub struct Engine {
    pub outbox: Outbox,
    pub taxonomy: Arc<Taxonomy>,
    pub sla: SlaPolicy,
    /// Rejections after which a ticket goes to a manager.
    pub max_rejections: u32,
}

fn encode(e: serde_json::Error) -> sqlx::Error {
    sqlx::Error::Encode(Box::new(e))
}

impl Engine {
    /// Builds an outgoing event about `ticket_id` and writes it to the outbox.
    pub async fn emit<T: Serialize>(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        origin: Origin<'_>,
        ticket_id: Uuid,
        event_type: EventType,
        data: T,
    ) -> Result<RawEnvelope, sqlx::Error> {
        let raw = envelope(origin, ticket_id, event_type, data)?;
        self.outbox.enqueue(tx, &raw).await?;
        Ok(raw)
    }

    /// Gives the ticket to the best eligible expert of its pool, or puts it in the backlog
    /// (announcing `ticket.queued` unless it already waited there).
    pub async fn place(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        route: &mut Route,
        origin: Origin<'_>,
        view: &mut PoolView,
    ) -> Result<Placement, sqlx::Error> {
        let pool = route.pool.clone().unwrap_or_default();
        let mut candidates = view.take(tx, &pool, Utc::now()).await?;
        let placement = self
            .place_among(tx, route, origin, &mut candidates, true, view)
            .await?;
        view.put(&pool, candidates);
        Ok(placement)
    }

    /// [`Engine::place`] with the pool's candidates already loaded; they are updated as
    /// slots are taken so a drain loads them once.
    async fn place_among(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        route: &mut Route,
        origin: Origin<'_>,
        candidates: &mut [Candidate],
        announce_queue: bool,
        view: &mut PoolView,
    ) -> Result<Placement, sqlx::Error> {
        let started = std::time::Instant::now();
        let now = Utc::now();
        let pool = route.pool.clone().unwrap_or_default();
        let facts = TicketFacts {
            ticket_id: route.ticket_id,
            region: route.region.clone(),
            excluded: route.excluded.clone(),
        };
        let choice = choose(candidates, &facts, now);
        let attempt = route.attempts + 1;
        let due = accept_due(&self.sla, route, now);
        // Best first. What an assignment writes (the route, the record, the event) is made up
        // front and written by the statement that takes the expert's unit, only if it was free.
        for s in &choice.ranked {
            let expert = &candidates[s.index];
            let mut assigned = route.clone();
            assigned.status = "assigned".into();
            assigned.attempts = attempt;
            assigned.queued_at = None;
            let payload = TicketAssigned {
                pool: pool.clone(),
                expert_id: expert.expert_id,
                expert_name: expert.name.clone(),
                attempt: u32::try_from(attempt).unwrap_or(u32::MAX),
                decision: choice.record(candidates, s.index, route.region.as_deref()),
            };
            let detail = json!({
                "expert_id": payload.expert_id, "expert_name": payload.expert_name, "attempt": attempt,
                "reason": payload.decision.reason, "candidates": payload.decision.candidates,
                "accept_due_at": due, "cause": origin.name(),
            });
            let expert_id = expert.expert_id;
            let event = envelope(origin, route.ticket_id, EventType::TicketAssigned, payload)?;
            let c = &mut candidates[s.index];
            if !routes::assign_decided(tx, &assigned, expert_id, Some(due), &event, detail).await? {
                // Another pool's transaction took the last unit; forget this expert here.
                c.load = c.capacity;
                continue;
            }
            c.load += 1;
            c.last_assigned_at = Some(now);
            view.took(expert_id, now);
            *route = assigned;
            metrics::counter!("routing_assigned_total", "pool" => pool).increment(1);
            metrics::histogram!("routing_decision_seconds").record(started.elapsed().as_secs_f64());
            return Ok(Placement::Assigned { expert_id, attempt });
        }
        view.queued(&pool);
        let was_queued = route.status == "queued";
        if was_queued && !announce_queue {
            return Ok(Placement::Queued);
        }
        route.status = "queued".into();
        if !was_queued || route.queued_at.is_none() {
            route.queued_at = Some(now);
        }
        if was_queued {
            routes::save(tx, route).await?;
            return Ok(Placement::Queued);
        }
        let record = choice.queue_record(candidates);
        let event = envelope(
            origin,
            route.ticket_id,
            EventType::TicketQueued,
            TicketQueued {
                category: route.category.clone().unwrap_or_default(),
                pool: pool.clone(),
                reason: Some(record.reason.clone()),
            },
        )?;
        let detail = json!({ "reason": record.reason, "candidates": record.candidates, "cause": origin.name() });
        routes::save_decided(tx, route, &event, "queued", detail).await?;
        metrics::counter!("routing_queued_total", "pool" => pool).increment(1);
        Ok(Placement::Queued)
    }

    /// Assigns the pool's backlog, by priority then age, while any expert of the pool has
    /// room. The pool must be locked. Returns how many tickets were assigned.
    pub async fn drain(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        pool: &str,
        origin: Origin<'_>,
        view: &mut PoolView,
    ) -> Result<usize, sqlx::Error> {
        let (assigned, candidates) = self.drain_among(tx, pool, origin, view).await?;
        view.put(pool, candidates);
        Ok(assigned)
    }

    /// [`Engine::drain`], also returning the pool's candidates as they are after it (for the
    /// caller to put back in `view`).
    async fn drain_among(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        pool: &str,
        origin: Origin<'_>,
        view: &mut PoolView,
    ) -> Result<(usize, Vec<Candidate>), sqlx::Error> {
        let now = Utc::now();
        let mut candidates = view.take(tx, pool, now).await?;
        let mut skipped = Vec::new();
        let mut assigned = 0;
        'rounds: loop {
            // Lock no more backlog rows than the pool has room for: usually one slot frees.
            let room = room(&candidates);
            if room == 0 || view.backlog_empty(pool) {
                break;
            }
            let batch = routes::lock_backlog(tx, pool, &skipped, room.min(DRAIN_BATCH)).await?;
            if batch.is_empty() {
                if skipped.is_empty() {
                    view.saw_empty_backlog(pool);
                }
                break;
            }
            for mut route in batch {
                match self
                    .place_among(tx, &mut route, origin, &mut candidates, false, view)
                    .await?
                {
                    Placement::Assigned { .. } => assigned += 1,
                    // Everyone with room rejected this one; later tickets may still fit.
                    Placement::Queued => skipped.push(route.ticket_id),
                }
                if !has_room(&candidates) {
                    break 'rounds;
                }
            }
        }
        Ok((assigned, candidates))
    }

    /// Drains every pool in `pools` (already locked).
    pub async fn drain_all(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        pools: &[String],
        origin: Origin<'_>,
        view: &mut PoolView,
    ) -> Result<usize, sqlx::Error> {
        let mut total = 0;
        for pool in pools {
            total += self.drain(tx, pool, origin, view).await?;
        }
        Ok(total)
    }

    /// Drains the pools of an expert who just gave back one unit of capacity (already locked),
    /// until that unit is taken again. Every other expert of those pools had no room while
    /// their backlog waited, so once this expert is full again the remaining pools have nothing
    /// new to assign (and a drain of each would cost a query under their locks).
    pub async fn drain_freed(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        expert_id: Uuid,
        pools: &[String],
        origin: Origin<'_>,
        view: &mut PoolView,
    ) -> Result<usize, sqlx::Error> {
        let mut total = 0;
        for pool in pools {
            let (assigned, candidates) = self.drain_among(tx, pool, origin, view).await?;
            total += assigned;
            let room_left = candidates
                .iter()
                .find(|c| c.expert_id == expert_id)
                .is_some_and(|c| has_room(std::slice::from_ref(c)));
            view.put(pool, candidates);
            if !room_left {
                break;
            }
        }
        Ok(total)
    }

    /// Closes the ticket's open assignment with `outcome` and gives the expert's unit back,
    /// storing `route` in the same statement when given. Returns the expert's pools that have
    /// a backlog.
    pub async fn close_open(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        open: &OpenAssignment,
        outcome: &str,
        route: Option<&Route>,
        view: &mut PoolView,
    ) -> Result<Vec<String>, sqlx::Error> {
        let closed = assignments::close(tx, open.id, outcome, route).await?;
        if closed.released {
            view.freed(open.expert_id);
        }
        Ok(closed.backlogged)
    }
}

/// An outgoing event about `ticket_id`: caused by an event (its id derives from the cause, so a
/// redelivery repeats it) or fresh.
fn envelope<T: Serialize>(
    origin: Origin<'_>,
    ticket_id: Uuid,
    event_type: EventType,
    data: T,
) -> Result<RawEnvelope, sqlx::Error> {
    let mut envelope = match origin {
        Origin::Event(cause) => {
            Envelope::derived_with_discriminator(cause, event_type, &ticket_id.to_string(), data)
        }
        Origin::Fresh(_) => Envelope::new(event_type, Some(ticket_id), data),
    };
    envelope.ticket_id = Some(ticket_id);
    envelope.to_raw().map_err(encode)
}

/// When the accept clock of an assignment made now runs out.
fn accept_due(sla: &SlaPolicy, route: &Route, now: DateTime<Utc>) -> DateTime<Utc> {
    let limit = sla.accept.for_priority(route.priority());
    now + chrono::Duration::from_std(limit).unwrap_or(chrono::Duration::days(365))
}

fn has_room(candidates: &[Candidate]) -> bool {
    room(candidates) > 0
}

/// Free units of capacity among the candidates who can take work now.
fn room(candidates: &[Candidate]) -> i64 {
    candidates
        .iter()
        .filter(|c| c.availability == Availability::Available && c.in_shift)
        .map(|c| i64::from((c.capacity - c.load).max(0)))
        .sum()
}

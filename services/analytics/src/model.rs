//! What analytics knows, kept up to date event by event: one row per ticket (its lifecycle
//! times, category, pool, assignee, SLA breaches), the expert roster and the dead letters.
//!
//! Events can arrive out of order (several consumers, redeliveries) and a rebuild reads them
//! in no particular order, so every field is set from the event that says it, and the status
//! is the one of the latest status-changing event, by occurrence time.

use std::collections::{BTreeMap, HashMap, HashSet};

use uuid::Uuid;

use sysops_contract::{EventType, TicketStatus};
use sysops_taxonomy::Taxonomy;

use payloads::{
    parse, Breached, Categorized, Created, ExpertChanged, Placed, Recategorized, Unassigned,
};

/// A ticket as analytics sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRow {
    pub id: Uuid,
    pub title: Option<String>,
    pub customer: Option<String>,
    pub region: Option<String>,
    pub priority: Option<String>,
    pub channel: Option<String>,
    pub category: Option<String>,
    /// The categorizer's category when a person changed it.
    pub original_category: Option<String>,
    pub pool: Option<String>,
    pub method: Option<String>,
    pub model: Option<String>,
    pub confidence: Option<f32>,
    pub needs_review: bool,
    /// A person changed the category the categorizer chose.
    pub overridden: bool,
    pub status: TicketStatus,
    /// When the status was set, milliseconds since the epoch (0: never).
    status_ms: i64,
    pub expert_id: Option<Uuid>,
    pub expert_name: Option<String>,
    pub created_ms: Option<i64>,
    pub categorized_ms: Option<i64>,
    pub first_assigned_ms: Option<i64>,
    pub assigned_ms: Option<i64>,
    pub accepted_ms: Option<i64>,
    pub resolved_ms: Option<i64>,
    pub closed_ms: Option<i64>,
    pub cancelled_ms: Option<i64>,
    pub assignments: u32,
    pub rejections: u32,
    /// Assignments taken back by routing or a manager.
    pub takebacks: u32,
    pub escalated: bool,
    pub breach_assign: bool,
    pub breach_accept: bool,
    pub breach_resolve: bool,
}

impl TicketRow {
    fn new(id: Uuid) -> Self {
        TicketRow {
            id,
            title: None,
            customer: None,
            region: None,
            priority: None,
            channel: None,
            category: None,
            original_category: None,
            pool: None,
            method: None,
            model: None,
            confidence: None,
            needs_review: false,
            overridden: false,
            status: TicketStatus::New,
            status_ms: 0,
            expert_id: None,
            expert_name: None,
            created_ms: None,
            categorized_ms: None,
            first_assigned_ms: None,
            assigned_ms: None,
            accepted_ms: None,
            resolved_ms: None,
            closed_ms: None,
            cancelled_ms: None,
            assignments: 0,
            rejections: 0,
            takebacks: 0,
            escalated: false,
            breach_assign: false,
            breach_accept: false,
            breach_resolve: false,
        }
    }

    /// Moves the status if `at` is not older than the current status's time; at the same
    /// millisecond the later lifecycle stage wins.
    fn move_to(&mut self, status: TicketStatus, at: i64) {
        if (at, stage(status)) >= (self.status_ms, stage(self.status)) {
            self.status = status;
            self.status_ms = at;
        }
    }

    /// Whether an expert is working on the ticket (it counts towards their load).
    pub fn is_held(&self) -> bool {
        matches!(self.status, TicketStatus::Assigned | TicketStatus::Accepted)
    }
}

/// Order of the lifecycle stages, to settle events of the same millisecond.
fn stage(status: TicketStatus) -> u8 {
    match status {
        TicketStatus::New => 0,
        TicketStatus::Categorized | TicketStatus::NeedsReview => 1,
        TicketStatus::Queued | TicketStatus::Rejected => 2,
        TicketStatus::Assigned => 3,
        TicketStatus::Accepted => 4,
        TicketStatus::Resolved => 5,
        TicketStatus::Closed | TicketStatus::Cancelled => 6,
    }
}

/// An expert, from the latest `expert.changed`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpertRow {
    pub id: Uuid,
    pub name: String,
    pub availability: String,
    pub capacity: u32,
    pub pools: Vec<String>,
    pub regions: Vec<String>,
    changed_ms: i64,
}

/// A message the broker dead-lettered.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetterRow {
    pub id: Uuid,
    /// The work queue it died in.
    pub queue: String,
    pub reason: Option<String>,
    pub event_type: Option<String>,
    pub ticket_id: Option<Uuid>,
    pub at_ms: i64,
}

/// One event, as the model needs it.
#[derive(Debug, Clone)]
pub struct Event<'a> {
    pub event_type: EventType,
    pub ticket_id: Option<Uuid>,
    pub occurred_ms: i64,
    pub data: &'a serde_json::Value,
}

/// Everything analytics has learned from the events so far.
#[derive(Debug, Default)]
pub struct Model {
    tickets: Vec<TicketRow>,
    index: HashMap<Uuid, usize>,
    experts: BTreeMap<Uuid, ExpertRow>,
    dead_letters: Vec<DeadLetterRow>,
    dead_letter_ids: HashSet<Uuid>,
    events_by_type: BTreeMap<&'static str, u64>,
    /// Bumped by every change, so readers know when their copy is stale.
    version: u64,
    /// Positions in `tickets` of the rows changed since [`Model::take_changed`] was last called.
    changed: HashSet<usize>,
    /// Category -> pool, for tickets routing has not placed yet.
    pools: HashMap<String, String>,
}

impl Model {
    /// An empty model that places categories in pools by `taxonomy` until routing says.
    pub fn new(taxonomy: Option<&Taxonomy>) -> Self {
        let pools = taxonomy
            .map(|t| {
                t.categories()
                    .iter()
                    .filter_map(|c| Some((c.id.clone(), t.pool_of(&c.id)?.to_owned())))
                    .collect()
            })
            .unwrap_or_default();
        Model {
            pools,
            ..Default::default()
        }
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn tickets(&self) -> &[TicketRow] {
        &self.tickets
    }

    pub fn ticket(&self, id: Uuid) -> Option<&TicketRow> {
        self.index.get(&id).map(|&i| &self.tickets[i])
    }

    pub fn experts(&self) -> impl Iterator<Item = &ExpertRow> {
        self.experts.values()
    }

    pub fn dead_letters(&self) -> &[DeadLetterRow] {
        &self.dead_letters
    }

    pub fn events_by_type(&self) -> &BTreeMap<&'static str, u64> {
        &self.events_by_type
    }

    pub fn event_count(&self) -> u64 {
        self.events_by_type.values().sum()
    }

    /// Positions in [`Model::tickets`] of the rows changed (or added) since the last call, in
    /// order; forgets them.
    pub fn take_changed(&mut self) -> Vec<usize> {
        let mut positions: Vec<usize> = self.changed.drain().collect();
        positions.sort_unstable();
        positions
    }

    /// The ticket's row, created if new; marked as changed.
    fn row(&mut self, id: Uuid) -> &mut TicketRow {
        let next = self.tickets.len();
        let i = *self.index.entry(id).or_insert(next);
        if i == next {
            self.tickets.push(TicketRow::new(id));
        }
        self.changed.insert(i);
        &mut self.tickets[i]
    }

    /// Learns from one event. Each event must be applied once (the event store's insert
    /// decides which events are new).
    pub fn apply(&mut self, event: &Event<'_>) {
        use EventType as E;
        self.version += 1;
        *self
            .events_by_type
            .entry(event.event_type.routing_key())
            .or_default() += 1;
        let at = event.occurred_ms;
        if event.event_type == E::ExpertChanged {
            self.apply_expert(event);
            return;
        }
        let Some(ticket_id) = event.ticket_id else {
            return;
        };
        let default_pool = |category: &Option<String>, pools: &HashMap<String, String>| {
            category.as_ref().and_then(|c| pools.get(c).cloned())
        };
        let pools = std::mem::take(&mut self.pools);
        let t = self.row(ticket_id);
        match event.event_type {
            E::TicketCreated => {
                if let Some(c) = parse::<Created>(event.data) {
                    t.title = c.title;
                    t.customer = c.customer;
                    t.region = c.region;
                    t.priority = c.priority.or(Some("normal".into()));
                    t.channel = c.channel;
                }
                t.created_ms = Some(at);
                t.move_to(TicketStatus::New, at);
            }
            E::TicketCategorized => {
                if let Some(c) = parse::<Categorized>(event.data) {
                    // A person's category, when one arrived first, stays.
                    if !t.overridden {
                        if t.pool.is_none() {
                            t.pool = default_pool(&c.category, &pools);
                        }
                        t.category = c.category;
                    } else {
                        t.original_category = c.category;
                    }
                    t.confidence = c.confidence;
                    t.method = c.method;
                    t.model = c.model;
                    t.needs_review = c.needs_review;
                    let status = if c.needs_review {
                        TicketStatus::NeedsReview
                    } else {
                        TicketStatus::Categorized
                    };
                    t.move_to(status, at);
                }
                t.categorized_ms = Some(t.categorized_ms.map_or(at, |m| m.min(at)));
            }
            E::TicketRecategorized => {
                if let Some(r) = parse::<Recategorized>(event.data) {
                    if !t.overridden {
                        t.original_category = r.from.or(t.category.take());
                    }
                    t.overridden = true;
                    t.pool = default_pool(&r.to, &pools).or(t.pool.take());
                    t.category = r.to;
                }
                t.move_to(TicketStatus::Categorized, at);
            }
            E::TicketQueued => {
                if let Some(p) = parse::<Placed>(event.data) {
                    t.pool = p.pool.or(t.pool.take());
                    if t.category.is_none() {
                        t.category = p.category;
                    }
                }
                t.move_to(TicketStatus::Queued, at);
            }
            E::TicketAssigned => {
                t.assignments += 1;
                t.first_assigned_ms = Some(t.first_assigned_ms.map_or(at, |m| m.min(at)));
                if t.assigned_ms.is_none_or(|m| m <= at) {
                    t.assigned_ms = Some(at);
                    if let Some(p) = parse::<Placed>(event.data) {
                        t.pool = p.pool.or(t.pool.take());
                        t.expert_id = p.expert_id;
                        t.expert_name = p.expert_name;
                    }
                }
                t.move_to(TicketStatus::Assigned, at);
            }
            E::TicketAccepted => {
                t.accepted_ms = Some(at);
                t.move_to(TicketStatus::Accepted, at);
            }
            E::TicketRejected => {
                t.rejections += 1;
                t.move_to(TicketStatus::Rejected, at);
            }
            E::TicketUnassigned => {
                t.takebacks += 1;
                let expert = parse::<Unassigned>(event.data).and_then(|u| u.expert_id);
                if expert.is_some()
                    && expert == t.expert_id
                    && t.assigned_ms.is_none_or(|m| m <= at)
                {
                    t.move_to(TicketStatus::Queued, at);
                }
            }
            E::TicketEscalated => {
                t.escalated = true;
                t.move_to(TicketStatus::NeedsReview, at);
            }
            E::TicketResolved => {
                t.resolved_ms = Some(at);
                t.move_to(TicketStatus::Resolved, at);
            }
            E::TicketClosed => {
                t.closed_ms = Some(at);
                t.move_to(TicketStatus::Closed, at);
            }
            E::TicketCancelled => {
                t.cancelled_ms = Some(at);
                t.move_to(TicketStatus::Cancelled, at);
            }
            E::TicketSlaBreached => match parse::<Breached>(event.data).and_then(|b| b.clock) {
                Some(clock) if clock == "assign" => t.breach_assign = true,
                Some(clock) if clock == "accept" => t.breach_accept = true,
                Some(clock) if clock == "resolve" => t.breach_resolve = true,
                _ => {}
            },
            E::ExpertChanged => {}
        }
        self.pools = pools;
    }

    fn apply_expert(&mut self, event: &Event<'_>) {
        let Some(e) = parse::<ExpertChanged>(event.data) else {
            return;
        };
        let row = ExpertRow {
            id: e.expert_id,
            name: e.name,
            availability: e.availability,
            capacity: e.capacity,
            pools: e.skills.into_iter().map(|s| s.pool).collect(),
            regions: e.regions,
            changed_ms: event.occurred_ms,
        };
        match self.experts.get(&row.id) {
            Some(known) if known.changed_ms > row.changed_ms => {}
            _ => {
                self.experts.insert(row.id, row);
            }
        }
    }

    /// Records a dead letter; the same one twice is kept once.
    pub fn add_dead_letter(&mut self, row: DeadLetterRow) {
        if !self.dead_letter_ids.insert(row.id) {
            return;
        }
        self.version += 1;
        self.dead_letters.push(row);
    }
}

mod payloads;
#[cfg(test)]
mod tests;

//! Version 1 payloads of the events routing emits when it takes work back from an expert or
//! hands a ticket to a manager. Kept apart from [`crate::payloads`] because they belong to the
//! reassignment part of the lifecycle.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// `ticket.unassigned`: routing took an assignment back (the expert did not accept in time, a
/// manager moved the ticket, or its category changed). A `ticket.assigned` or `ticket.queued`
/// follows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketUnassigned {
    /// The expert who had the ticket.
    pub expert_id: Uuid,
    /// Why it was taken back, in words.
    pub reason: String,
    /// Who took it back (`routing` for the SLA clock, a manager's name otherwise).
    pub by: String,
    /// The `attempt` of the `ticket.assigned` that made the assignment taken back. Absent from
    /// events written before it was added; consumers then go by `expert_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
}

/// `ticket.escalated`: the ticket was rejected too often; a manager must decide
/// (the ticket goes to `needs_review`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketEscalated {
    pub pool: String,
    /// How many experts rejected it.
    pub rejections: u32,
    pub reason: String,
}

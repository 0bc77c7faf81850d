//! The ticket lifecycle of DESIGN.md:
//! `new -> categorized -> queued | assigned -> accepted -> resolved -> closed`, with `rejected`
//! returning to routing, `cancelled` from any open state, and `needs_review` when the
//! categorizer is unsure. People's moves are checked here; the pipeline's (categorized,
//! queued, assigned) are applied by [`pipeline_status`].

use sysops_contract::{EventType, TicketStatus};

use TicketStatus::*;

/// A move a person asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Accept,
    Reject,
    Resolve,
    Cancel,
    Close,
    /// A human picks the category.
    Recategorize,
}

impl Action {
    pub const fn verb(self) -> &'static str {
        match self {
            Action::Accept => "accept",
            Action::Reject => "reject",
            Action::Resolve => "resolve",
            Action::Cancel => "cancel",
            Action::Close => "close",
            Action::Recategorize => "recategorize",
        }
    }

    /// The event announcing the move.
    pub const fn event_type(self) -> EventType {
        match self {
            Action::Accept => EventType::TicketAccepted,
            Action::Reject => EventType::TicketRejected,
            Action::Resolve => EventType::TicketResolved,
            Action::Cancel => EventType::TicketCancelled,
            Action::Close => EventType::TicketClosed,
            Action::Recategorize => EventType::TicketRecategorized,
        }
    }

    /// The states the move is allowed from.
    pub const fn allowed_from(self) -> &'static [TicketStatus] {
        match self {
            Action::Accept => &[Assigned],
            Action::Reject => &[Assigned],
            Action::Resolve => &[Accepted],
            Action::Cancel => &[
                New,
                Categorized,
                NeedsReview,
                Queued,
                Assigned,
                Accepted,
                Rejected,
            ],
            Action::Close => &[Resolved],
            Action::Recategorize => &[New, Categorized, NeedsReview, Queued, Rejected],
        }
    }

    const fn target(self) -> TicketStatus {
        match self {
            Action::Accept => Accepted,
            Action::Reject => Rejected,
            Action::Resolve => Resolved,
            Action::Cancel => Cancelled,
            Action::Close => Closed,
            Action::Recategorize => Categorized,
        }
    }

    /// The state after the move, or why it is illegal.
    pub fn apply(self, from: TicketStatus) -> Result<TicketStatus, IllegalMove> {
        if self.allowed_from().contains(&from) {
            Ok(self.target())
        } else {
            Err(IllegalMove {
                action: self,
                current: from,
            })
        }
    }
}

/// A move the current state does not allow; shown to the client with 409.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("cannot {} a ticket that is {current}; {} is allowed only when the ticket is {}", action.verb(), action.verb(), list(action.allowed_from()))]
pub struct IllegalMove {
    pub action: Action,
    pub current: TicketStatus,
}

fn list(states: &[TicketStatus]) -> String {
    states
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// The status after a pipeline event, given the current one. Events of one ticket may arrive
/// out of order (they come from different services), so the pipeline only moves a ticket
/// forward: a `ticket.categorized` that arrives after `ticket.queued` updates the category but
/// leaves the status queued. People's states (accepted and later) are never overridden.
pub fn pipeline_status(
    current: TicketStatus,
    event: EventType,
    needs_review: bool,
) -> TicketStatus {
    let target = match event {
        EventType::TicketCategorized if needs_review => NeedsReview,
        EventType::TicketCategorized => Categorized,
        EventType::TicketQueued => Queued,
        EventType::TicketAssigned => Assigned,
        // Routing took the assignment back; a new assignment or the backlog follows.
        EventType::TicketUnassigned if current == Assigned => return Queued,
        // Rejected too often: a manager decides. Only tickets routing still holds move.
        EventType::TicketEscalated
            if matches!(current, Categorized | Queued | Assigned | Rejected) =>
        {
            return NeedsReview
        }
        _ => return current,
    };
    match (pipeline_rank(current), pipeline_rank(target)) {
        (Some(now), Some(next)) if next > now => target,
        // A rejected ticket goes back to the pipeline: it can be queued or assigned again.
        _ if current == Rejected && matches!(target, Queued | Assigned) => target,
        _ => current,
    }
}

/// Whether the ticket is still in the automatic part of its lifecycle (categorizer and
/// routing decide), as opposed to a state people have taken it to.
pub fn in_pipeline(status: TicketStatus) -> bool {
    pipeline_rank(status).is_some()
}

/// Position in the automatic part of the lifecycle; `None` once people have taken over.
fn pipeline_rank(status: TicketStatus) -> Option<u8> {
    match status {
        New => Some(0),
        Categorized | NeedsReview => Some(1),
        Queued => Some(2),
        Assigned => Some(3),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_happy_path_is_allowed() {
        assert_eq!(Action::Accept.apply(Assigned), Ok(Accepted));
        assert_eq!(Action::Resolve.apply(Accepted), Ok(Resolved));
        assert_eq!(Action::Close.apply(Resolved), Ok(Closed));
    }

    #[test]
    fn illegal_moves_name_the_current_state() {
        let err = Action::Resolve.apply(New).expect_err("illegal");
        assert_eq!(
            err.to_string(),
            "cannot resolve a ticket that is new; resolve is allowed only when the ticket is accepted"
        );
        assert!(Action::Cancel.apply(Closed).is_err());
        assert!(Action::Cancel.apply(Cancelled).is_err());
    }

    #[test]
    fn every_open_state_can_be_cancelled() {
        for s in TicketStatus::ALL {
            let open = !s.is_terminal() && s != Resolved;
            assert_eq!(Action::Cancel.apply(s).is_ok(), open, "{s}");
        }
    }

    #[test]
    fn the_pipeline_only_moves_forward() {
        use EventType::*;
        assert_eq!(pipeline_status(New, TicketCategorized, false), Categorized);
        assert_eq!(pipeline_status(New, TicketCategorized, true), NeedsReview);
        assert_eq!(pipeline_status(Queued, TicketCategorized, false), Queued);
        assert_eq!(pipeline_status(New, TicketQueued, false), Queued);
        assert_eq!(pipeline_status(Assigned, TicketQueued, false), Assigned);
        assert_eq!(pipeline_status(Rejected, TicketAssigned, false), Assigned);
        assert_eq!(pipeline_status(Accepted, TicketAssigned, false), Accepted);
        assert_eq!(pipeline_status(Cancelled, TicketQueued, false), Cancelled);
    }

    #[test]
    fn routing_can_take_an_assignment_back_or_escalate_a_rejected_ticket() {
        use EventType::*;
        assert_eq!(pipeline_status(Assigned, TicketUnassigned, false), Queued);
        assert_eq!(pipeline_status(Accepted, TicketUnassigned, false), Accepted);
        assert_eq!(
            pipeline_status(Rejected, TicketEscalated, false),
            NeedsReview
        );
        assert_eq!(pipeline_status(Accepted, TicketEscalated, false), Accepted);
        assert_eq!(
            pipeline_status(Cancelled, TicketEscalated, false),
            Cancelled
        );
    }
}

use serde::{Deserialize, Serialize};

/// How urgent a ticket is; drives SLA clocks and backlog order.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    Default,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Low,
    #[default]
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub const fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
        .ok_or_else(|| format!("unknown priority `{s}`"))
    }
}

/// Where a ticket came from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    #[default]
    Web,
    Phone,
    Email,
    Chat,
}

impl Channel {
    pub const fn as_str(self) -> &'static str {
        match self {
            Channel::Web => "web",
            Channel::Phone => "phone",
            Channel::Email => "email",
            Channel::Chat => "chat",
        }
    }
}

/// The lifecycle state of a ticket, owned by the tickets service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TicketStatus {
    New,
    Categorized,
    NeedsReview,
    Queued,
    Assigned,
    Accepted,
    Rejected,
    Resolved,
    Closed,
    Cancelled,
}

impl TicketStatus {
    pub const ALL: [TicketStatus; 10] = [
        TicketStatus::New,
        TicketStatus::Categorized,
        TicketStatus::NeedsReview,
        TicketStatus::Queued,
        TicketStatus::Assigned,
        TicketStatus::Accepted,
        TicketStatus::Rejected,
        TicketStatus::Resolved,
        TicketStatus::Closed,
        TicketStatus::Cancelled,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            TicketStatus::New => "new",
            TicketStatus::Categorized => "categorized",
            TicketStatus::NeedsReview => "needs_review",
            TicketStatus::Queued => "queued",
            TicketStatus::Assigned => "assigned",
            TicketStatus::Accepted => "accepted",
            TicketStatus::Rejected => "rejected",
            TicketStatus::Resolved => "resolved",
            TicketStatus::Closed => "closed",
            TicketStatus::Cancelled => "cancelled",
        }
    }

    /// Whether work on the ticket is over.
    pub const fn is_terminal(self) -> bool {
        matches!(self, TicketStatus::Closed | TicketStatus::Cancelled)
    }
}

impl std::fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A string that names no ticket status.
#[derive(Debug, thiserror::Error)]
#[error("unknown ticket status `{0}`")]
pub struct UnknownStatus(pub String);

impl std::str::FromStr for TicketStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TicketStatus::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

//! Version 1 payloads, one struct per event type. Fields are added, never repurposed; a
//! breaking change gets a new version number and a new struct.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Channel, Priority};

/// `ticket.created`: the ticket as the customer submitted it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketCreated {
    pub title: String,
    pub description: String,
    pub customer: String,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub channel: Channel,
    #[serde(default)]
    pub priority: Priority,
}

/// Which part of the categorizer chain decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Llm,
    Embedding,
    Keyword,
}

impl Method {
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::Llm => "llm",
            Method::Embedding => "embedding",
            Method::Keyword => "keyword",
        }
    }
}

/// One category the categorizer considered, with its score in 0..1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CategoryScore {
    pub category: String,
    pub score: f32,
}

/// `ticket.categorized`: the categorizer's decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketCategorized {
    pub category: String,
    /// Calibrated probability that `category` is right, 0..1.
    pub confidence: f32,
    pub method: Method,
    /// Best candidates, highest score first.
    #[serde(default)]
    pub candidates: Vec<CategoryScore>,
    /// The model that decided (LLM model name, embedding model, or the taxonomy for keywords).
    #[serde(default)]
    pub model: Option<String>,
    pub latency_ms: f64,
    /// Confidence was below the review threshold: a human picks the category.
    pub needs_review: bool,
    /// Tokens the LLM used (prompt and answer), when it decided or was asked.
    #[serde(default)]
    pub tokens: Option<u32>,
    /// Why an earlier link of the chain did not decide (LLM down, unsure, invalid answer).
    #[serde(default)]
    pub fallback_reason: Option<String>,
    /// The ticket's priority and region, as in `ticket.created`: routing orders and matches by
    /// them without consuming `ticket.created` itself.
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub region: Option<String>,
    /// When the ticket was created (the time of its `ticket.created`), where its SLA clocks
    /// start.
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// `ticket.recategorized`: a human's correction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketRecategorized {
    #[serde(default)]
    pub from: Option<String>,
    pub to: String,
    pub by: String,
    /// The ticket text, so the categorizer can learn from the correction without a lookup.
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub region: Option<String>,
}

/// `ticket.queued`: no expert is free; the ticket waits in the pool's backlog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketQueued {
    pub category: String,
    pub pool: String,
    #[serde(default)]
    pub reason: Option<String>,
}

/// One expert considered for an assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CandidateScore {
    pub expert_id: Uuid,
    pub name: String,
    pub score: f64,
    /// Why the expert was eligible or not, in words.
    pub note: String,
}

/// Why an expert got a ticket: every candidate, the winner and the reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DecisionRecord {
    pub candidates: Vec<CandidateScore>,
    pub reason: String,
}

/// `ticket.assigned`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketAssigned {
    pub pool: String,
    pub expert_id: Uuid,
    pub expert_name: String,
    /// 1 for the first assignment, incremented by each reassignment.
    pub attempt: u32,
    pub decision: DecisionRecord,
}

/// `ticket.accepted`, `ticket.rejected`, `ticket.resolved`, `ticket.cancelled`, `ticket.closed`:
/// a person moved the ticket along its lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LifecycleMove {
    pub by: String,
    #[serde(default)]
    pub reason: Option<String>,
    /// The expert the ticket was assigned to when the move happened.
    #[serde(default)]
    pub assignee: Option<Uuid>,
}

/// Which SLA clock ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SlaClock {
    Assign,
    Accept,
    Resolve,
}

/// `ticket.sla_breached`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TicketSlaBreached {
    pub clock: SlaClock,
    pub due_at: DateTime<Utc>,
}

/// Whether an expert can take work now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    Available,
    Busy,
    Off,
}

/// A skill: a pool the expert serves and how well, 0..1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Skill {
    pub pool: String,
    pub proficiency: f32,
}

/// `expert.changed`: the expert's state after an admin's change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ExpertChanged {
    pub expert_id: Uuid,
    pub name: String,
    pub availability: Availability,
    pub capacity: u32,
    pub skills: Vec<Skill>,
    pub regions: Vec<String>,
}

//! Validated domain types and the pure assignment rules.

pub mod expert;
pub mod score;
pub mod sla;

pub use expert::{ExpertRequest, NewExpert};
pub use score::{choose, Candidate, Choice, TicketFacts};
pub use sla::{ClockLimits, SlaPolicy};

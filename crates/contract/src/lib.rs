//! The event contract shared by every service: the envelope, the event types and their routing
//! keys, the versioned payloads, and the rule for deriving the id of an event from its cause.
//!
//! Event types and routing keys are defined here and nowhere else.

mod envelope;
mod payloads;
mod routing;
mod ticket;

pub use envelope::{Envelope, EventType, RawEnvelope, UnknownEventType};
pub use payloads::*;
pub use routing::{TicketEscalated, TicketUnassigned};
pub use ticket::{Channel, Priority, TicketStatus, UnknownStatus};

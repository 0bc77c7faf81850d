//! Validated request types and the lifecycle state machine.

pub mod access;
pub mod customer_view;
pub mod lifecycle;
pub mod new_ticket;

pub use lifecycle::{Action, IllegalMove};
pub use new_ticket::{NewTicket, NewTicketRequest};

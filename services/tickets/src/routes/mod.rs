//! HTTP routes of the tickets service.

pub mod moves;
pub mod tickets;

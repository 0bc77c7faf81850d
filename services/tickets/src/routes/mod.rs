//! HTTP routes of the tickets service.

pub mod tickets;

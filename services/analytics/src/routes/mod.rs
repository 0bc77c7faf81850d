//! HTTP routes of the analytics service.

pub mod dashboard;
pub mod events;
pub mod page;

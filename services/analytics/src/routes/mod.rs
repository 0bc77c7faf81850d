//! HTTP routes of the analytics service.

pub mod dashboard;
pub mod doc;
pub mod events;
pub mod page;

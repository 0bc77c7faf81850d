//! HTTP routes of the routing service.

pub mod pools;
pub mod routing;

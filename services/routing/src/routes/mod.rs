//! HTTP routes of the routing service.

pub mod experts;
pub mod pools;
pub mod reassign;
pub mod routing;

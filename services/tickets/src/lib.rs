//! The tickets service: the ticket store, its lifecycle state machine, the transactional
//! outbox that announces every change, and the consumer that reflects the pipeline's
//! decisions on each ticket.

pub mod config;
pub mod domain;
pub mod intake;
pub mod pipeline;
pub mod routes;
pub mod startup;
pub mod store;

/// The PostgreSQL schema this service owns.
pub const SCHEMA: &str = "tickets";

/// This service's routes, described for the gateway's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <routes::tickets::ApiDoc as utoipa::OpenApi>::openapi()
}

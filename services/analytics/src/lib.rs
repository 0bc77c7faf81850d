//! The analytics service: keeps every event of the system once (the audit trail) and serves
//! the figures managers read.

pub mod config;
pub mod frames;
pub mod model;
pub mod params;
pub mod query;
pub mod routes;
pub mod startup;
pub mod store;

/// The PostgreSQL schema this service owns.
pub const SCHEMA: &str = "analytics";

/// This service's routes, described for the gateway's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    <routes::doc::ApiDoc as utoipa::OpenApi>::openapi()
}

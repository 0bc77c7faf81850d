//! The routing service: keeps the roster of experts, maps each categorized ticket to its
//! skill pool and gives it to the best available expert (or the pool's backlog), reassigns on
//! rejection, assigns the backlog when capacity frees, and runs the SLA clocks.

pub mod config;
pub mod domain;
pub mod engine;
pub mod roster;
pub mod routes;
pub mod sla;
pub mod startup;
pub mod store;
pub mod worker;

/// The PostgreSQL schema this service owns.
pub const SCHEMA: &str = "routing";

/// The migrations of [`SCHEMA`].
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

/// This service's routes, described for the gateway's OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = routes::experts::ApiDoc::openapi();
    doc.merge(routes::pools::ApiDoc::openapi());
    doc.merge(routes::routing::ApiDoc::openapi());
    doc
}

//! Glue every service shares: configuration of the common parts, telemetry, the PostgreSQL
//! pool with per-schema migrations, the transactional outbox and inbox, the HTTP error format, the checking of access tokens,
//! the operational endpoints (`/health`, `/ready`, `/metrics`), graceful shutdown, and what the
//! web pages share (the sign-in script).

pub mod auth;
pub mod config;
pub mod db;
pub mod http;
pub mod inbox;
pub mod ops;
pub mod outbox;
pub mod repo;
pub mod service;
pub mod shutdown;
pub mod telemetry;
pub mod web;

pub use config::{CommonConfig, LogFormat};
pub use http::{ApiError, ApiJson, OptionalJson};

//! The routing service: maps each categorized ticket to its skill pool and keeps the pools'
//! backlogs; later, assigns experts.

pub mod config;
pub mod routes;
pub mod startup;
pub mod worker;

/// The PostgreSQL schema this service owns.
pub const SCHEMA: &str = "routing";

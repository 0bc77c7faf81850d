//! The categorizer: reads new tickets from `categorizer.work`, picks a category of the
//! taxonomy with a confidence, and publishes `ticket.categorized`. Stateless; run as many
//! replicas as the load needs, the broker spreads the work.

pub mod config;
pub mod dataset;
pub mod embedding_cache;
pub mod evaluation;
pub mod keywords;
pub mod startup;
pub mod worker;

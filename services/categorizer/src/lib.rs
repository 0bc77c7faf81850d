//! The categorizer: reads new tickets from `categorizer.work`, picks a category of the
//! taxonomy with a confidence, and publishes `ticket.categorized`. The chain: an LLM over any
//! OpenAI-compatible API when configured; the local model (sentence embeddings and n-grams,
//! learned from examples and corrections) when the LLM is absent, failing or unsure; keywords
//! as the last resort. Replicas share the queue; each keeps its own copy of the model.

pub mod config;
pub mod corrections;
pub mod dataset;
pub mod embedding_cache;
pub mod evaluation;
pub mod keywords;
pub mod llm;
pub mod local;
pub mod priority;
pub mod startup;
pub mod worker;

/// The PostgreSQL schema this service owns.
pub const SCHEMA: &str = "categorizer";

/// The migrations of [`SCHEMA`].
pub fn migrator() -> sqlx::migrate::Migrator {
    sqlx::migrate!("./migrations")
}

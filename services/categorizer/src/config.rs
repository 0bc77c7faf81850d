//! Configuration of the categorizer, from flags or the environment.

use std::path::PathBuf;

use sysops_platform::CommonConfig;

/// Settings of the categorizer.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "categorizer", about = "Categorizes Sysops Squad tickets")]
pub struct Config {
    #[command(flatten)]
    pub common: CommonConfig,
    /// Address of the operational endpoints (port 0 picks a free port).
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8082")]
    pub http_addr: String,
    /// The taxonomy to classify into.
    #[arg(long, env = "TAXONOMY_PATH", default_value = "models/taxonomy.toml")]
    pub taxonomy_path: PathBuf,
    /// Below this confidence a ticket is marked `needs_review` and a person picks the category.
    #[arg(long, env = "REVIEW_THRESHOLD", default_value_t = 0.4)]
    pub review_threshold: f32,
    /// Unacknowledged tickets the broker sends ahead.
    #[arg(long, env = "PREFETCH", default_value_t = 64)]
    pub prefetch: u16,
    /// Tickets categorized at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 16)]
    pub concurrency: usize,
}

impl Config {
    /// Settings for tests: port 0, the given database and exchange, the shipped taxonomy.
    pub fn for_tests(database_url: &str, exchange: &str) -> Self {
        Config {
            common: CommonConfig::for_tests(database_url, exchange),
            http_addr: "127.0.0.1:0".into(),
            taxonomy_path: concat!(env!("CARGO_MANIFEST_DIR"), "/../../models/taxonomy.toml")
                .into(),
            review_threshold: 0.4,
            prefetch: 64,
            concurrency: 16,
        }
    }
}

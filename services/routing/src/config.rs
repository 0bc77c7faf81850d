//! Configuration of the routing service, from flags or the environment.

use std::path::PathBuf;

use sysops_platform::CommonConfig;

/// Settings of the routing service.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "routing",
    about = "Routes Sysops Squad tickets to skill pools and experts"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonConfig,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8083")]
    pub http_addr: String,
    /// The taxonomy that maps categories to pools.
    #[arg(long, env = "TAXONOMY_PATH", default_value = "models/taxonomy.toml")]
    pub taxonomy_path: PathBuf,
    /// Milliseconds between outbox polls when no notification arrives.
    #[arg(long, env = "OUTBOX_POLL_MS", default_value_t = 1000)]
    pub outbox_poll_ms: u64,
    /// Messages of `routing.work` handled at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 8)]
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
            outbox_poll_ms: 500,
            concurrency: 8,
        }
    }
}

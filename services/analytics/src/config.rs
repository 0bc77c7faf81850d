//! Configuration of the analytics service, from flags or the environment.

use sysops_platform::CommonConfig;

/// Settings of the analytics service.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "analytics",
    about = "Keeps every Sysops Squad event and serves dashboards"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonConfig,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8084")]
    pub http_addr: String,
    /// Most events stored in one batch (one statement, one acknowledgement).
    #[arg(long, env = "INGEST_BATCH", default_value_t = 500)]
    pub ingest_batch: usize,
    /// The taxonomy, to place categorized tickets in their pool before routing does. Optional:
    /// without it, a ticket's pool is known once routing queues or assigns it.
    #[arg(long, env = "TAXONOMY_PATH", default_value = "models/taxonomy.toml")]
    pub taxonomy_path: std::path::PathBuf,
}

impl Config {
    /// Settings for tests: port 0, the given database and exchange.
    pub fn for_tests(database_url: &str, exchange: &str) -> Self {
        Config {
            common: CommonConfig::for_tests(database_url, exchange),
            http_addr: "127.0.0.1:0".into(),
            ingest_batch: 500,
            taxonomy_path: "models/taxonomy.toml".into(),
        }
    }
}

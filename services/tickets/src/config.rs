//! Configuration of the tickets service, from flags or the environment.

use std::path::PathBuf;
use std::time::Duration;

use sysops_platform::CommonConfig;

/// Settings of the tickets service.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "tickets",
    about = "The ticket store, lifecycle and outbox of Sysops Squad triage"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonConfig,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8081")]
    pub http_addr: String,
    /// The taxonomy, to check categories that people choose.
    #[arg(long, env = "TAXONOMY_PATH", default_value = "models/taxonomy.toml")]
    pub taxonomy_path: PathBuf,
    /// Milliseconds between outbox polls when no commit of this process woke the relay.
    #[arg(long, env = "OUTBOX_POLL_MS", default_value_t = 1000)]
    pub outbox_poll_ms: u64,
    /// Largest accepted request body, in bytes.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Seconds a request may take before it is answered 408.
    #[arg(long, env = "REQUEST_TIMEOUT_SECS", default_value_t = 10)]
    pub request_timeout_secs: u64,
    /// Most messages of `tickets.pipeline` applied in one transaction and acknowledged
    /// together; the broker sends twice this ahead (at most 65535).
    #[arg(long, env = "PIPELINE_BATCH", default_value_t = 200)]
    pub pipeline_batch: usize,
}

impl Config {
    pub fn outbox_poll(&self) -> Duration {
        Duration::from_millis(self.outbox_poll_ms)
    }

    /// Settings for tests: port 0, the given database and exchange.
    pub fn for_tests(database_url: &str, exchange: &str) -> Self {
        Config {
            common: CommonConfig::for_tests(database_url, exchange),
            http_addr: "127.0.0.1:0".into(),
            taxonomy_path: sysops_platform::repo::path("models/taxonomy.toml"),
            outbox_poll_ms: 500,
            max_body_bytes: 64 * 1024,
            request_timeout_secs: 10,
            pipeline_batch: 200,
        }
    }
}

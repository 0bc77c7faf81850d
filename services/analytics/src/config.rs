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
    /// Messages of `analytics.events` handled at once.
    #[arg(long, env = "CONCURRENCY", default_value_t = 16)]
    pub concurrency: usize,
}

impl Config {
    /// Settings for tests: port 0, the given database and exchange.
    pub fn for_tests(database_url: &str, exchange: &str) -> Self {
        Config {
            common: CommonConfig::for_tests(database_url, exchange),
            http_addr: "127.0.0.1:0".into(),
            concurrency: 16,
        }
    }
}

//! Configuration of the gateway, from flags or the environment.
//!
//! The gateway has no database and no broker, so it does not flatten
//! [`sysops_platform::CommonConfig`]; it declares its logging settings the same way.

use std::time::Duration;

use sysops_platform::LogFormat;

/// Settings of the gateway.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "gateway",
    about = "The public edge of Sysops Squad triage: proxies /api to the services"
)]
pub struct Config {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8080")]
    pub http_addr: String,
    /// Base URL of the tickets service.
    #[arg(long, env = "TICKETS_URL", default_value = "http://127.0.0.1:8081")]
    pub tickets_url: String,
    /// Base URL of the categorizer service.
    #[arg(long, env = "CATEGORIZER_URL", default_value = "http://127.0.0.1:8082")]
    pub categorizer_url: String,
    /// Base URL of the routing service.
    #[arg(long, env = "ROUTING_URL", default_value = "http://127.0.0.1:8083")]
    pub routing_url: String,
    /// Base URL of the analytics service.
    #[arg(long, env = "ANALYTICS_URL", default_value = "http://127.0.0.1:8084")]
    pub analytics_url: String,
    /// Seconds an upstream may take to answer before the client gets a 504.
    #[arg(long, env = "UPSTREAM_TIMEOUT_SECS", default_value_t = 10)]
    pub upstream_timeout_secs: u64,
    /// Largest request body forwarded, in bytes; larger ones are answered 413.
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` EnvFilter syntax (e.g. `info,tower_http=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
}

impl Config {
    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_secs(self.upstream_timeout_secs)
    }

    /// Settings for tests: port 0 and the given upstreams.
    pub fn for_tests(
        tickets_url: &str,
        categorizer_url: &str,
        routing_url: &str,
        analytics_url: &str,
    ) -> Self {
        Config {
            http_addr: "127.0.0.1:0".into(),
            tickets_url: tickets_url.into(),
            categorizer_url: categorizer_url.into(),
            routing_url: routing_url.into(),
            analytics_url: analytics_url.into(),
            upstream_timeout_secs: 5,
            max_body_bytes: 64 * 1024,
            log_format: LogFormat::Text,
            log_filter: "info".into(),
        }
    }
}

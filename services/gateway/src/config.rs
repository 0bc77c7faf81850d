//! Configuration of the gateway, from flags or the environment.
//!
//! The gateway has a database (its `identity` schema: users and sessions) but no broker, so it
//! does not flatten [`sysops_platform::CommonConfig`]; it declares the same settings the same
//! way.

use std::time::Duration;

use sysops_platform::auth::AuthConfig;
use sysops_platform::config::{DatabaseConfig, Secret};
use sysops_platform::LogFormat;

/// Settings of the gateway.
#[derive(Clone, clap::Parser)]
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
    /// PostgreSQL, for the `identity` schema: accounts and sessions.
    #[command(flatten)]
    pub db: DatabaseConfig,
    #[command(flatten)]
    pub auth: AuthConfig,
    /// Seconds an access token is valid.
    #[arg(long, env = "ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// Seconds a sign-in session (its refresh token) lasts without being renewed.
    #[arg(long, env = "REFRESH_TOKEN_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub refresh_token_ttl_secs: u64,
    /// E-mail of the administrator created at first start, when no admin exists yet.
    #[arg(long, env = "ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of that administrator (at least 10 characters).
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<Secret>,
    /// Requests per second one client address may make on average (bursts of twice that);
    /// 0 turns the limit off.
    #[arg(long, env = "RATE_LIMIT_PER_ADDRESS", default_value_t = 50)]
    pub rate_limit_per_address: u32,
    /// Requests per second one signed-in user may make on average (bursts of twice that);
    /// 0 turns the limit off.
    #[arg(long, env = "RATE_LIMIT_PER_USER", default_value_t = 20)]
    pub rate_limit_per_user: u32,
    /// Sign-up, sign-in and renewal attempts per minute from one address; 0 turns it off.
    #[arg(long, env = "SIGN_IN_LIMIT_PER_MINUTE", default_value_t = 10)]
    pub sign_in_limit_per_minute: u32,
    /// Origins other web sites may call the API from (comma-separated, e.g.
    /// `https://help.example.com`); none by default: the pages are served from here.
    #[arg(long, env = "CORS_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub cors_allowed_origins: Vec<String>,
    /// Bearer token a metrics scraper presents at `/metrics` on the public port; unset, the
    /// metrics answer only to clients on this host.
    #[arg(long, env = "METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<Secret>,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` EnvFilter syntax (e.g. `info,tower_http=debug`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log_filter: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("http_addr", &self.http_addr)
            .field("tickets_url", &self.tickets_url)
            .field("categorizer_url", &self.categorizer_url)
            .field("routing_url", &self.routing_url)
            .field("analytics_url", &self.analytics_url)
            .field("db", &self.db)
            .field("admin_email", &self.admin_email)
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
}

impl Config {
    pub fn access_token_ttl(&self) -> Duration {
        Duration::from_secs(self.access_token_ttl_secs)
    }

    pub fn refresh_token_ttl(&self) -> Duration {
        Duration::from_secs(self.refresh_token_ttl_secs)
    }

    pub fn upstream_timeout(&self) -> Duration {
        Duration::from_secs(self.upstream_timeout_secs)
    }

    /// Settings for tests: port 0, the given database and upstreams.
    pub fn for_tests(
        database_url: &str,
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
            db: DatabaseConfig::for_tests(database_url),
            auth: AuthConfig::for_tests(),
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 3600,
            admin_email: None,
            admin_password: None,
            rate_limit_per_address: 0,
            rate_limit_per_user: 0,
            sign_in_limit_per_minute: 0,
            cors_allowed_origins: Vec::new(),
            metrics_token: None,
            log_format: LogFormat::Text,
            log_filter: "info".into(),
        }
    }
}

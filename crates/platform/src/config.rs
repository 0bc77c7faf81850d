//! Settings every backend service has. Each service flattens [`CommonConfig`] into its own
//! `Config`; values come from flags or the environment.

use std::time::Duration;

use sysops_bus::BusConfig;

use crate::auth::AuthConfig;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Where PostgreSQL is and how many connections to open; the gateway has these too.
#[derive(Clone, clap::Args)]
pub struct DatabaseConfig {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://sysops:sysops@127.0.0.1:5432/sysops"
    )]
    pub database_url: String,
    /// Most connections this process opens to PostgreSQL.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub db_max_connections: u32,
}

impl DatabaseConfig {
    /// Settings for tests: the given database, a small pool.
    pub fn for_tests(database_url: &str) -> Self {
        DatabaseConfig {
            database_url: database_url.into(),
            db_max_connections: 5,
        }
    }

    /// Prepares `schema` (see [`crate::db::connect_and_migrate`]) and returns its pool.
    pub async fn connect(
        &self,
        schema: &'static str,
        migrator: sqlx::migrate::Migrator,
    ) -> Result<sqlx::PgPool, crate::db::DbError> {
        let settings = crate::db::PoolSettings {
            max_connections: self.db_max_connections,
            ..Default::default()
        };
        crate::db::connect_and_migrate(&self.database_url, schema, settings, migrator).await
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("database_url", &redact(&self.database_url))
            .field("db_max_connections", &self.db_max_connections)
            .finish()
    }
}

/// Database, broker and logging settings shared by the backend services.
#[derive(Clone, clap::Args)]
pub struct CommonConfig {
    #[command(flatten)]
    pub db: DatabaseConfig,
    /// RabbitMQ AMQP URL.
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,
    /// The topic exchange events go through.
    #[arg(long, env = "AMQP_EXCHANGE", default_value = "tickets")]
    pub amqp_exchange: String,
    /// Prefix for every queue name (lets several stacks share one broker).
    #[arg(long, env = "AMQP_QUEUE_PREFIX", default_value = "")]
    pub amqp_queue_prefix: String,
    /// Deliveries after which a message that keeps failing goes to its dead-letter queue.
    #[arg(long, env = "AMQP_DELIVERY_LIMIT", default_value_t = 5)]
    pub amqp_delivery_limit: u32,
    /// Log format: text or json.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log filter in `tracing` EnvFilter syntax (e.g. `info,sqlx=warn`).
    #[arg(long, env = "RUST_LOG", default_value = "info,sqlx=warn")]
    pub log_filter: String,
    /// Seconds to wait for in-flight work at shutdown.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,
    #[command(flatten)]
    pub auth: AuthConfig,
}

impl CommonConfig {
    /// Bus settings for a service named `service`.
    pub fn bus(&self, service: &str) -> BusConfig {
        let mut bus = BusConfig::new(self.amqp_url.clone(), self.amqp_exchange.clone());
        bus.queue_prefix = self.amqp_queue_prefix.clone();
        bus.connection_name = format!("{service}@{}", std::process::id());
        bus.delivery_limit = self.amqp_delivery_limit;
        bus
    }

    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// Settings for tests: local servers, the given database and exchange.
    pub fn for_tests(database_url: &str, exchange: &str) -> Self {
        CommonConfig {
            db: DatabaseConfig::for_tests(database_url),
            amqp_url: "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
            amqp_exchange: exchange.into(),
            amqp_queue_prefix: format!("{exchange}."),
            amqp_delivery_limit: 5,
            log_format: LogFormat::Text,
            log_filter: "info".into(),
            shutdown_grace_secs: 5,
            auth: AuthConfig::for_tests(),
        }
    }
}

impl std::fmt::Debug for CommonConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommonConfig")
            .field("db", &self.db)
            .field("amqp_url", &redact(&self.amqp_url))
            .field("amqp_exchange", &self.amqp_exchange)
            .field("amqp_queue_prefix", &self.amqp_queue_prefix)
            .field("log_format", &self.log_format)
            .finish_non_exhaustive()
    }
}

/// A secret from the configuration: usable, never shown by `Debug`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_owned()))
    }
}

/// Hides the password of a `scheme://user:password@host` URL.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => match url[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &url[..s + 3 + c], &url[at..]),
            None => url.to_owned(),
        },
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            super::redact("postgres://u:p@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(super::redact("postgres://h/db"), "postgres://h/db");
    }
}

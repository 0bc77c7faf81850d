//! PostgreSQL: one schema per service, a pool whose connections use it, its migrations.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgPool};

/// Why the database could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("invalid schema name `{0}`")]
    SchemaName(String),
    #[error("invalid database URL")]
    Url(#[source] sqlx::Error),
    #[error("cannot reach the database")]
    Connect(#[source] sqlx::Error),
    #[error("migrations of schema `{schema}` failed")]
    Migrate {
        schema: String,
        #[source]
        source: sqlx::migrate::MigrateError,
    },
}

/// Pool sizing and timeouts.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    pub max_connections: u32,
    pub acquire_timeout: Duration,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Creates the service's schema if needed and returns a pool whose connections all have it as
/// their `search_path`, then runs inside it the shared migrations (outbox and inbox) and the
/// service's own. Service migrations use version numbers above 1000.
pub async fn connect_and_migrate(
    url: &str,
    schema: &'static str,
    settings: PoolSettings,
    mut migrator: Migrator,
) -> Result<PgPool, DbError> {
    if !schema.chars().all(|c| c.is_ascii_lowercase() || c == '_') || schema.is_empty() {
        return Err(DbError::SchemaName(schema.into()));
    }
    let options: PgConnectOptions = url.parse().map_err(DbError::Url)?;
    let options = options.application_name(schema);

    let mut conn = sqlx::PgConnection::connect_with(&options)
        .await
        .map_err(DbError::Connect)?;
    // Two replicas starting together may race here; the loser's error is harmless.
    if let Err(e) = conn
        .execute(format!("CREATE SCHEMA IF NOT EXISTS {schema}").as_str())
        .await
    {
        tracing::debug!(error = %e, schema, "schema creation raced with another process");
    }
    let _ = conn.close().await;

    let pool = PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout)
        .after_connect(move |conn, _meta| {
            Box::pin(async move {
                conn.execute(format!("SET search_path TO {schema}").as_str())
                    .await?;
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .map_err(DbError::Connect)?;
    // Both sets share the schema's migration table, so each ignores the other's rows.
    let mut shared = sqlx::migrate!("./migrations");
    shared.set_ignore_missing(true);
    migrator.set_ignore_missing(true);
    for m in [&shared, &migrator] {
        m.run(&pool).await.map_err(|source| DbError::Migrate {
            schema: schema.into(),
            source,
        })?;
    }
    Ok(pool)
}

/// Whether an error means the database could not be reached or the statement could be
/// retried, as opposed to the statement being wrong for the data.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            // Class 40 (transaction rollback: serialization, deadlock), 53 (resources),
            // 57 (operator intervention: shutdown), 08 (connection).
            db.code()
                .map(|c| ["40", "53", "57", "08"].iter().any(|p| c.starts_with(p)))
                .unwrap_or(false)
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => true,
        _ => false,
    }
}

//! PostgreSQL: one schema per service, a pool whose connections use it, its migrations.

use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, Executor, PgPool};
use sysops_bus::HandleError;

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

/// Whether a failed statement may pass when tried again later: the database could not be
/// reached, was shutting down or failing over (read-only), ran out of resources, or the
/// transaction lost a race or waited too long for a lock.
///
/// Only an error in the statement or its data is permanent (see [`is_permanent_code`]). An
/// SQLSTATE class not named there counts as transient: a message retried in vain still ends in
/// its dead-letter queue at the delivery limit, while a good message dead-lettered at once needs
/// a person to replay it.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(db) => db.code().is_some_and(|c| !is_permanent_code(&c)),
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => true,
        _ => false,
    }
}

/// SQLSTATE classes that say the statement or its data is wrong, so that the same statement
/// fails the same way every time: 0A (feature not supported), 21 (cardinality), 22 (data
/// exception), 23 (integrity constraint), 42 (syntax or access rule), 44 (check option),
/// 54 (program limit) and P0 (raised by PL/pgSQL).
pub fn is_permanent_code(sqlstate: &str) -> bool {
    ["0A", "21", "22", "23", "42", "44", "54", "P0"]
        .iter()
        .any(|class| sqlstate.starts_with(class))
}

/// A failed statement as a message handler's error: transient ones are retried, the rest
/// dead-lettered.
pub fn handle_error(e: sqlx::Error) -> HandleError {
    if is_transient(&e) {
        HandleError::transient(e)
    } else {
        HandleError::permanent(e)
    }
}

#[cfg(test)]
mod tests {
    use super::is_permanent_code;

    #[test]
    fn only_errors_in_the_statement_or_its_data_are_permanent() {
        // Unique violation, invalid text, undefined table, raised by a trigger.
        for code in ["23505", "22P02", "42P01", "P0001"] {
            assert!(is_permanent_code(code), "{code}");
        }
        // Serialization failure, read-only after a failover, lock timeout, I/O error,
        // connection lost, too many connections, admin shutdown, internal error.
        for code in [
            "40001", "25006", "55P03", "58030", "08006", "53300", "57P01", "XX000",
        ] {
            assert!(!is_permanent_code(code), "{code}");
        }
    }
}

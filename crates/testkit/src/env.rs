//! A throwaway database and bus topology for one test.

use sqlx::{Connection, Executor, PgConnection};
use sysops_bus::{Bus, BusConfig};
use uuid::Uuid;

const DEFAULT_DATABASE_URL: &str = "postgres://sysops:sysops@127.0.0.1:5432/sysops";
const DEFAULT_AMQP_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// One test's database (created fresh) and exchange and queue names (unique).
#[derive(Debug)]
pub struct TestEnv {
    /// URL of the test's own database.
    pub database_url: String,
    pub amqp_url: String,
    /// The test's exchange; queues are prefixed with `<exchange>.`.
    pub exchange: String,
    admin_url: String,
    database: String,
}

impl TestEnv {
    /// Creates a fresh database. Panics when PostgreSQL is not reachable, with a hint.
    pub async fn new() -> Self {
        let admin_url =
            std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_DATABASE_URL.into());
        let amqp_url = std::env::var("TEST_AMQP_URL").unwrap_or_else(|_| DEFAULT_AMQP_URL.into());
        let id = Uuid::new_v4().simple().to_string();
        let database = format!("test_{}", &id[..16]);
        let mut admin = PgConnection::connect(&admin_url)
            .await
            .expect("PostgreSQL is reachable (start it with scripts/deps.sh)");
        admin
            .execute(format!("CREATE DATABASE {database}").as_str())
            .await
            .expect("the test account may create databases");
        let _ = admin.close().await;
        let database_url = match admin_url.rfind('/') {
            Some(i) => format!("{}/{database}", &admin_url[..i]),
            None => panic!("TEST_DATABASE_URL has no database part"),
        };
        TestEnv {
            database_url,
            amqp_url,
            exchange: format!("t{}", &id[..12]),
            admin_url,
            database,
        }
    }

    /// The environment a service process of this test runs with.
    pub fn service_env(&self) -> Vec<(String, String)> {
        vec![
            ("DATABASE_URL".into(), self.database_url.clone()),
            ("AMQP_URL".into(), self.amqp_url.clone()),
            ("AMQP_EXCHANGE".into(), self.exchange.clone()),
            ("AMQP_QUEUE_PREFIX".into(), self.queue_prefix()),
            ("DB_MAX_CONNECTIONS".into(), "5".into()),
            ("TAXONOMY_PATH".into(), taxonomy_path()),
            ("MODEL_DIR".into(), model_dir()),
            ("OUTBOX_POLL_MS".into(), "500".into()),
            ("SHUTDOWN_GRACE_SECS".into(), "5".into()),
            crate::auth::secret_env(),
        ]
    }

    pub fn queue_prefix(&self) -> String {
        format!("{}.", self.exchange)
    }

    /// A bus on this test's topology, for publishing or inspecting queues from the test.
    pub fn bus(&self) -> std::sync::Arc<Bus> {
        let mut config = BusConfig::new(self.amqp_url.clone(), self.exchange.clone());
        config.queue_prefix = self.queue_prefix();
        config.connection_name = "test".into();
        Bus::new(config)
    }

    /// A pool on this test's database with `search_path` set to `schema`.
    pub async fn pool(&self, schema: &str) -> sqlx::PgPool {
        self.pool_of(schema, 2).await
    }

    /// A pool of at most `connections` connections with `search_path` set to `schema`; one, for
    /// a test of what a connection keeps between statements (prepared statements, their plans).
    pub async fn pool_of(&self, schema: &str, connections: u32) -> sqlx::PgPool {
        let schema = schema.to_owned();
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(connections)
            .after_connect(move |conn, _| {
                let schema = schema.clone();
                Box::pin(async move {
                    conn.execute(format!("SET search_path TO {schema}").as_str())
                        .await?;
                    Ok(())
                })
            })
            .connect(&self.database_url)
            .await
            .expect("the test database is reachable")
    }

    /// A pool on this test's database with `schema` prepared as a service prepares its own
    /// (created, migrated, on the search path).
    pub async fn migrated_pool(
        &self,
        schema: &'static str,
        migrator: sqlx::migrate::Migrator,
    ) -> sqlx::PgPool {
        sysops_platform::db::connect_and_migrate(
            &self.database_url,
            schema,
            sysops_platform::db::PoolSettings::default(),
            migrator,
        )
        .await
        .expect("the schema is migrated")
    }

    /// Deletes the test's queues, exchanges and database. Call at the end of a test; a failed
    /// test leaves them for inspection.
    pub async fn cleanup(self) {
        let bus = self.bus();
        if let Err(e) = bus.delete_topology().await {
            tracing::warn!(error = %e, "could not delete the test topology");
        }
        bus.close().await;
        if let Ok(mut admin) = PgConnection::connect(&self.admin_url).await {
            let _ = admin
                .execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.database).as_str())
                .await;
            let _ = admin.close().await;
        }
    }
}

/// The embedding model fetched by `scripts/fetch-model.sh`.
pub fn model_dir() -> String {
    sysops_platform::repo::path_string("models/all-MiniLM-L6-v2")
}

/// The shipped taxonomy.
pub fn taxonomy_path() -> String {
    sysops_platform::repo::path_string("models/taxonomy.toml")
}

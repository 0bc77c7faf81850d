//! Building and running the tickets service: HTTP API, outbox relay, pipeline consumer.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::DefaultBodyLimit;
use axum::extract::FromRef;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use sysops_bus::{run_batch_consumer, BatchOptions, Bus, Incoming, WorkQueue};
use sysops_platform::auth::TokenKeys;
use sysops_platform::http::{self, with_middleware};
use sysops_platform::ops::Ops;
use sysops_platform::service;
use sysops_taxonomy::Taxonomy;

use crate::config::Config;
use crate::intake::Intake;
use crate::store::Store;
use crate::{pipeline, routes, SCHEMA};

/// What request handlers share.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub store: Store,
    /// Writes new tickets, in groups when they arrive together.
    pub intake: Intake,
    /// Categories people may choose.
    pub taxonomy: Arc<Taxonomy>,
    /// Checks the callers' access tokens.
    pub keys: Arc<TokenKeys>,
}

/// A built service, bound to its port, not yet running.
pub struct Application {
    config: Config,
    listener: TcpListener,
    state: AppState,
    bus: Arc<Bus>,
}

impl Application {
    /// Connects to PostgreSQL (migrating the `tickets` schema), prepares the bus and binds the
    /// listener. The broker may be down: tickets are still accepted and wait in the outbox.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let taxonomy = Taxonomy::load(&config.taxonomy_path).context("loading the taxonomy")?;
        let (pool, bus) = service::connect(
            &config.common,
            "tickets",
            SCHEMA,
            sqlx::migrate!("./migrations"),
        )
        .await?;
        let keys = Arc::new(TokenKeys::new(&config.common.auth)?);
        let listener = http::bind(&config.http_addr)
            .await
            .context("binding the HTTP listener")?;
        let store = Store::new(pool);
        Ok(Application {
            state: AppState {
                intake: Intake::start(store.clone()),
                store,
                taxonomy: Arc::new(taxonomy),
                keys,
            },
            config,
            listener,
            bus,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// The HTTP routes, ready to serve.
    pub fn router(&self) -> Router {
        let ops = Ops::new("tickets")
            .postgres(self.state.store.pool().clone())
            .rabbitmq(self.bus.clone());
        let api = routes::tickets::router()
            .with_state(self.state.clone())
            .layer(DefaultBodyLimit::max(self.config.max_body_bytes))
            .fallback(http::not_found);
        with_middleware(api, Duration::from_secs(self.config.request_timeout_secs))
            .merge(ops.router())
    }

    /// Runs until `shutdown` is cancelled, then drains in-flight work and closes connections.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let router = self.router();
        let tracker = TaskTracker::new();
        let store = self.state.store.clone();

        tracker.spawn(store.outbox().clone().run_relay(
            store.pool().clone(),
            self.bus.clone(),
            self.config.outbox_poll(),
            shutdown.clone(),
        ));
        let options = BatchOptions::sized(self.config.pipeline_batch);
        let consumer_store = store.clone();
        tracker.spawn(run_batch_consumer(
            self.bus.clone(),
            WorkQueue::TicketsPipeline,
            options,
            move |batch: Vec<Incoming>| {
                let store = consumer_store.clone();
                async move { pipeline::handle(&store, batch).await }
            },
            shutdown.clone(),
        ));
        http::serve(self.listener, router, shutdown.clone())
            .await
            .context("serving HTTP")?;
        service::drain(
            &tracker,
            self.config.common.shutdown_grace(),
            &self.bus,
            store.pool(),
            "tickets",
        )
        .await;
        Ok(())
    }
}

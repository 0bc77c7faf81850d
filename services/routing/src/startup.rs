//! Building and running the routing service: HTTP API, outbox relay, work-queue consumer.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::FromRef;
use axum::{middleware, Router};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use sysops_bus::{run_batch_consumer, BatchOptions, Bus, Incoming, WorkQueue};
use sysops_platform::auth::{staff_only, TokenKeys};
use sysops_platform::http::{self, with_middleware};
use sysops_platform::ops::Ops;
use sysops_platform::outbox::Outbox;
use sysops_platform::service;
use sysops_taxonomy::Taxonomy;

use crate::config::Config;
use crate::engine::Engine;
use crate::worker::Worker;
use crate::{roster, routes, sla, SCHEMA};

/// What request handlers share.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    /// The assignment rules, the taxonomy and the outbox.
    pub engine: Engine,
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
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let taxonomy = Taxonomy::load(&config.taxonomy_path).context("loading the taxonomy")?;
        let (pool, bus) =
            service::connect(&config.common, "routing", SCHEMA, crate::migrator()).await?;
        let engine = Engine {
            outbox: Outbox::default(),
            taxonomy: Arc::new(taxonomy),
            sla: config.sla(),
            max_rejections: config.max_rejections,
        };
        if let Some(path) = config
            .experts_seed_path
            .as_ref()
            .filter(|p| !p.as_os_str().is_empty())
        {
            let added = roster::seed(&pool, &engine, path)
                .await
                .context("seeding the expert roster")?;
            tracing::info!(added, path = %path.display(), "expert roster seeded");
        }
        let keys = Arc::new(TokenKeys::new(&config.common.auth)?);
        let listener = http::bind(&config.http_addr)
            .await
            .context("binding the HTTP listener")?;
        Ok(Application {
            state: AppState { pool, engine, keys },
            config,
            listener,
            bus,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn router(&self) -> Router {
        let ops = Ops::new("routing")
            .postgres(self.state.pool.clone())
            .rabbitmq(self.bus.clone());
        // Every route is for managers and admins; changing experts is for admins alone.
        let api = routes::pools::router()
            .merge(routes::routing::router())
            .merge(routes::experts::router())
            .route_layer(middleware::from_fn_with_state(
                self.state.keys.clone(),
                staff_only,
            ))
            .with_state(self.state.clone())
            .fallback(http::not_found);
        with_middleware(api, Duration::from_secs(10)).merge(ops.router())
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let router = self.router();
        let tracker = TaskTracker::new();
        tracker.spawn(self.state.engine.outbox.clone().run_relay(
            self.state.pool.clone(),
            self.bus.clone(),
            Duration::from_millis(self.config.outbox_poll_ms),
            shutdown.clone(),
        ));
        tracker.spawn(sla::run(
            self.state.pool.clone(),
            self.state.engine.clone(),
            Duration::from_millis(self.config.sla_check_ms),
            shutdown.clone(),
        ));
        let worker = Worker {
            pool: self.state.pool.clone(),
            engine: self.state.engine.clone(),
        };
        let options = BatchOptions::sized(self.config.work_batch);
        tracker.spawn(run_batch_consumer(
            self.bus.clone(),
            WorkQueue::RoutingWork,
            options,
            move |batch: Vec<Incoming>| {
                let worker = worker.clone();
                async move { worker.handle(batch).await }
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
            &self.state.pool,
            "routing",
        )
        .await;
        Ok(())
    }
}

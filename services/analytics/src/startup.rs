//! Building and running the analytics service: the event consumer and the HTTP API.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::extract::FromRef;
use axum::{middleware, Router};
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use sysops_bus::{run_batch_consumer, BatchOptions, Bus, DeadLetter, Incoming, WorkQueue};
use sysops_platform::auth::{staff_only, TokenKeys};
use sysops_platform::http::{self, with_middleware};
use sysops_platform::ops::Ops;
use sysops_platform::service;

use sysops_taxonomy::Taxonomy;

use crate::config::Config;
use crate::frames::Live;
use crate::model::Model;
use crate::{routes, store, SCHEMA};

/// What request handlers share.
#[derive(Clone, FromRef)]
pub struct AppState {
    pub pool: PgPool,
    pub live: Arc<Live>,
    /// Checks the callers' access tokens.
    pub keys: Arc<TokenKeys>,
}

/// A built service, bound to its port, not yet running.
pub struct Application {
    config: Config,
    listener: TcpListener,
    state: AppState,
    bus: Arc<Bus>,
    /// How long the start-up rebuild took, for `/metrics`.
    rebuild_seconds: f64,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let (pool, bus) = service::connect(
            &config.common,
            "analytics",
            SCHEMA,
            sqlx::migrate!("./migrations"),
        )
        .await?;
        let taxonomy = match Taxonomy::load(&config.taxonomy_path) {
            Ok(t) => Some(t),
            Err(e) => {
                tracing::warn!(path = %config.taxonomy_path.display(), error = %e, "no taxonomy; pools are known once routing places tickets");
                None
            }
        };
        let mut model = Model::new(taxonomy.as_ref());
        let rebuilt = store::load(&pool, &mut model)
            .await
            .context("rebuilding from the event store")?;
        let live = Live::new(model).context("building the frames")?;
        tracing::info!(
            events = rebuilt.events,
            dead_letters = rebuilt.dead_letters,
            tickets = live.frames().tickets.height(),
            seconds = rebuilt.seconds,
            "rebuilt from the event store"
        );
        let keys = Arc::new(TokenKeys::new(&config.common.auth)?);
        let listener = http::bind(&config.http_addr)
            .await
            .context("binding the HTTP listener")?;
        Ok(Application {
            state: AppState { pool, live, keys },
            config,
            listener,
            bus,
            rebuild_seconds: rebuilt.seconds,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn router(&self) -> Router {
        let ops = Ops::new("analytics")
            .postgres(self.state.pool.clone())
            .rabbitmq(self.bus.clone());
        // The data is for managers and admins; the page itself asks for a sign-in.
        let data = routes::events::router()
            .merge(routes::dashboard::router())
            .route_layer(middleware::from_fn_with_state(
                self.state.keys.clone(),
                staff_only,
            ));
        let api = data
            .merge(routes::page::router())
            .with_state(self.state.clone())
            .fallback(http::not_found);
        with_middleware(api, Duration::from_secs(30)).merge(ops.router())
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let router = self.router();
        // Set once the metrics recorder exists (building the router installs it).
        metrics::gauge!("analytics_rebuild_seconds").set(self.rebuild_seconds);
        let tracker = TaskTracker::new();
        let options = BatchOptions::sized(self.config.ingest_batch);
        let state = self.state.clone();
        tracker.spawn(run_batch_consumer(
            self.bus.clone(),
            WorkQueue::AnalyticsEvents,
            options.clone(),
            move |batch: Vec<Incoming>| {
                let state = state.clone();
                async move { store::ingest(&state.pool, &state.live, batch).await }
            },
            shutdown.clone(),
        ));
        let state = self.state.clone();
        let prefix = self.bus.config().queue_prefix.clone();
        tracker.spawn(run_batch_consumer(
            self.bus.clone(),
            WorkQueue::DeadLetterTap,
            options,
            move |batch: Vec<DeadLetter>| {
                let state = state.clone();
                let prefix = prefix.clone();
                async move { store::record_dead_letters(&state.pool, &state.live, &prefix, batch).await }
            },
            shutdown.clone(),
        ));
        tracker.spawn(self.state.live.clone().refresh_until(shutdown.clone()));
        http::serve(self.listener, router, shutdown.clone())
            .await
            .context("serving HTTP")?;
        service::drain(
            &tracker,
            self.config.common.shutdown_grace(),
            &self.bus,
            &self.state.pool,
            "analytics",
        )
        .await;
        Ok(())
    }
}

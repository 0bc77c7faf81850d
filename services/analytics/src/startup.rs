//! Building and running the analytics service: the event consumer and the HTTP API.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use sysops_bus::{run_consumer, Bus, ConsumerOptions, WorkQueue};
use sysops_platform::http::{self, with_middleware};
use sysops_platform::ops::Ops;
use sysops_platform::service;

use crate::config::Config;
use crate::{routes, store, SCHEMA};

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
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
        let (pool, bus) = service::connect(
            &config.common,
            "analytics",
            SCHEMA,
            sqlx::migrate!("./migrations"),
        )
        .await?;
        let listener = http::bind(&config.http_addr)
            .await
            .context("binding the HTTP listener")?;
        Ok(Application {
            state: AppState { pool },
            config,
            listener,
            bus,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub fn router(&self) -> Router {
        let ops = Ops::new("analytics")
            .postgres(self.state.pool.clone())
            .rabbitmq(self.bus.clone());
        let api = routes::events::router()
            .merge(routes::dashboard::router())
            .with_state(self.state.clone())
            .fallback(http::not_found);
        with_middleware(api, Duration::from_secs(30)).merge(ops.router())
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let router = self.router();
        let tracker = TaskTracker::new();
        let pool = self.state.pool.clone();
        let options = ConsumerOptions {
            concurrency: self.config.concurrency,
            prefetch: 128,
            ..Default::default()
        };
        tracker.spawn(run_consumer(
            self.bus.clone(),
            WorkQueue::AnalyticsEvents,
            options,
            move |incoming| {
                let pool = pool.clone();
                async move { store::ingest(&pool, incoming).await }
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
            "analytics",
        )
        .await;
        Ok(())
    }
}

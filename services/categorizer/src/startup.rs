//! Building and running the categorizer: the work-queue consumer and the operational endpoints.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use sysops_bus::{run_consumer, Bus, ConsumerOptions, WorkQueue};
use sysops_platform::http;
use sysops_platform::ops::Ops;
use sysops_taxonomy::Taxonomy;

use crate::config::Config;
use crate::keywords::KeywordClassifier;
use crate::worker::Worker;

/// A built categorizer, bound to its port, not yet running.
pub struct Application {
    config: Config,
    listener: TcpListener,
    worker: Arc<Worker>,
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let taxonomy = Taxonomy::load(&config.taxonomy_path).context("loading the taxonomy")?;
        let bus = Bus::new(config.common.bus("categorizer"));
        if let Err(e) = bus.connect().await {
            tracing::warn!(error = %e, "broker unreachable at start; will keep trying");
        }
        let model = config
            .taxonomy_path
            .file_name()
            .map(|n| format!("keywords:{}", n.to_string_lossy()))
            .unwrap_or_else(|| "keywords".into());
        let worker = Worker {
            bus,
            keywords: KeywordClassifier::new(&taxonomy),
            model,
            review_threshold: config.review_threshold,
            fallback_category: taxonomy.categories()[0].id.clone(),
        };
        let listener = http::bind(&config.http_addr)
            .await
            .context("binding the HTTP listener")?;
        Ok(Application {
            config,
            listener,
            worker: Arc::new(worker),
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let bus = self.worker.bus.clone();
        let ops = Ops::new("categorizer").rabbitmq(bus.clone());
        let router = sysops_platform::http::with_middleware(ops.router(), Duration::from_secs(10));

        let tracker = TaskTracker::new();
        let options = ConsumerOptions {
            prefetch: self.config.prefetch,
            concurrency: self.config.concurrency,
            ..Default::default()
        };
        let worker = self.worker.clone();
        tracker.spawn(run_consumer(
            bus.clone(),
            WorkQueue::CategorizerWork,
            options,
            move |incoming| {
                let worker = worker.clone();
                async move { worker.handle(incoming).await }
            },
            shutdown.clone(),
        ));
        tracker.close();
        http::serve(self.listener, router, shutdown.clone())
            .await
            .context("serving HTTP")?;
        if tokio::time::timeout(self.config.common.shutdown_grace(), tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "in-flight tickets did not finish in time; the broker will redeliver them"
            );
        }
        bus.close().await;
        tracing::info!("categorizer stopped");
        Ok(())
    }
}

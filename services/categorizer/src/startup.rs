//! Building and running the categorizer: the model, the work-queue consumer, the trainer and
//! the operational endpoints.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use sysops_bus::{run_consumer, ConsumerOptions, WorkQueue};
use sysops_embedder::service::BatchObserver;
use sysops_embedder::{Embedder, EmbeddingService, ServiceOptions};
use sysops_platform::http;
use sysops_platform::ops::Ops;
use sysops_platform::service;
use sysops_taxonomy::Taxonomy;

use crate::config::Config;
use crate::dataset::read_csv;
use crate::keywords::KeywordClassifier;
use crate::llm::LlmCategorizer;
use crate::local::{taxonomy_examples, Trainer};
use crate::worker::Worker;
use crate::SCHEMA;

/// A built categorizer, bound to its port, not yet running.
pub struct Application {
    config: Config,
    listener: TcpListener,
    worker: Arc<Worker>,
    trainer: Option<Trainer>,
}

fn batch_metrics() -> BatchObserver {
    Arc::new(|size, tokens, took| {
        metrics::histogram!("categorizer_batch_size").record(size as f64);
        metrics::histogram!("categorizer_batch_tokens").record(tokens as f64);
        metrics::histogram!("categorizer_batch_seconds").record(took.as_secs_f64());
    })
}

impl Application {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let taxonomy =
            Arc::new(Taxonomy::load(&config.taxonomy_path).context("loading the taxonomy")?);
        let (pool, bus) =
            service::connect(&config.common, "categorizer", SCHEMA, crate::migrator()).await?;

        // The embedding model is optional: without it (not fetched, unreadable) keywords decide.
        let embeddings = match Embedder::load_with(
            &config.model_dir,
            config.embed_max_tokens,
            config.embed_precision,
        ) {
            Ok(embedder) => {
                let mut options = ServiceOptions::default();
                if config.embed_workers > 0 {
                    options.workers = config.embed_workers;
                }
                tracing::info!(model = %config.model_dir.display(), workers = options.workers, precision = %embedder.precision(), "embedding model loaded");
                Some(EmbeddingService::start(
                    embedder,
                    options,
                    Some(batch_metrics()),
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, model = %config.model_dir.display(), "no embedding model; keywords decide");
                None
            }
        };
        let llm = match config.llm() {
            Some(settings) => {
                tracing::info!(?settings, "LLM configured");
                Some(LlmCategorizer::new(settings, &taxonomy)?)
            }
            None => None,
        };
        let (model_tx, model_rx) = watch::channel(None);
        let trainer = embeddings.clone().map(|embeddings| Trainer {
            pool: pool.clone(),
            taxonomy: taxonomy.clone(),
            model: model_tx,
            // Vectors of another model, input length or precision are embedded again.
            embedding_model: format!("{}@{}", embeddings.name(), config.embed_max_tokens),
            embeddings,
        });
        if let Some(trainer) = &trainer {
            trainer
                .store("taxonomy", &taxonomy_examples(&taxonomy))
                .await?;
            if let Some(path) = &config.training_csv {
                let rows = read_csv(path)?;
                let known: Vec<_> = rows
                    .into_iter()
                    .filter(|r| taxonomy.category(&r.label).is_some())
                    .collect();
                let stored = trainer.store("csv", &known).await?;
                tracing::info!(path = %path.display(), rows = known.len(), new = stored, "training CSV loaded");
            }
        }
        let keyword_model = config
            .taxonomy_path
            .file_name()
            .map(|n| format!("keywords:{}", n.to_string_lossy()))
            .unwrap_or_else(|| "keywords".into());
        let worker = Worker {
            bus,
            pool,
            keywords: KeywordClassifier::new(&taxonomy),
            keyword_model,
            review_threshold: config.review_threshold,
            fallback_category: taxonomy.categories()[0].id.clone(),
            llm,
            llm_min_confidence: config.llm_min_confidence,
            embeddings,
            local: model_rx,
        };
        let listener = http::bind(&config.http_addr)
            .await
            .context("binding the HTTP listener")?;
        Ok(Application {
            config,
            listener,
            worker: Arc::new(worker),
            trainer,
        })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let bus = self.worker.bus.clone();
        let ops = Ops::new("categorizer")
            .postgres(self.worker.pool.clone())
            .rabbitmq(bus.clone());
        let router = http::with_middleware(
            ops.router().fallback(http::not_found),
            Duration::from_secs(10),
        );

        let tracker = TaskTracker::new();
        // Health and metrics answer while the first model trains (a large training CSV is
        // embedded on the first start, which takes minutes).
        let server = tokio::spawn(http::serve(self.listener, router, shutdown.clone()));
        if let Some(trainer) = self.trainer {
            // The first model is trained before work is taken, so the chain is complete from the
            // first ticket; it takes seconds when the stored examples' embeddings are reused. If
            // that fails, work starts anyway (the LLM and keywords decide) and the training is
            // retried in the background until it works.
            let debounce = Duration::from_millis(self.config.retrain_debounce_ms);
            let first = trainer.retrain().await;
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                if let Err(e) = first {
                    tracing::error!(error = %e, "training the local model failed; keywords decide until a retraining works");
                    let mut delay = Duration::from_secs(5);
                    loop {
                        tokio::select! {
                            _ = shutdown.cancelled() => return,
                            _ = tokio::time::sleep(delay) => {}
                        }
                        match trainer.retrain().await {
                            Ok(()) => break,
                            Err(e) => tracing::error!(error = %e, "training the local model failed; retrying"),
                        }
                        delay = (delay * 2).min(Duration::from_secs(60));
                    }
                }
                trainer.follow_corrections(debounce, shutdown).await;
            });
        }
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
        if let Some(llm_worker) = self.worker.llm.as_ref().map(|_| self.worker.clone()) {
            let shutdown = shutdown.clone();
            tracker.spawn(async move {
                while !shutdown.is_cancelled() {
                    if let Some(llm) = &llm_worker.llm {
                        let state = match llm.breaker_state() {
                            crate::llm::BreakerState::Closed => 0.0,
                            crate::llm::BreakerState::Open => 1.0,
                            crate::llm::BreakerState::HalfOpen => 2.0,
                        };
                        metrics::gauge!("categorizer_llm_breaker_state").set(state);
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                    }
                }
            });
        }
        server
            .await
            .context("the HTTP server task")?
            .context("serving HTTP")?;
        service::drain(
            &tracker,
            self.config.common.shutdown_grace(),
            &bus,
            &self.worker.pool,
            "categorizer",
        )
        .await;
        Ok(())
    }
}

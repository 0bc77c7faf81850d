//! `/health` (the process is alive), `/ready` (its dependencies answer) and `/metrics`
//! (Prometheus text format).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;

/// Checks one dependency; `Err` holds what is wrong.
pub type Check =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>> + Send + Sync>;

/// The operational endpoints of one service.
#[derive(Clone)]
pub struct Ops {
    service: &'static str,
    checks: Vec<(&'static str, Check)>,
}

impl Ops {
    pub fn new(service: &'static str) -> Self {
        Ops {
            service,
            checks: Vec::new(),
        }
    }

    /// Adds a dependency that `/ready` checks.
    pub fn check<F, Fut>(mut self, name: &'static str, f: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.checks.push((name, Arc::new(move || Box::pin(f()))));
        self
    }

    /// Adds a check that PostgreSQL answers.
    pub fn postgres(self, pool: sqlx::PgPool) -> Self {
        self.check("postgres", move || {
            let pool = pool.clone();
            async move {
                sqlx::query("SELECT 1")
                    .execute(&pool)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        })
    }

    /// Adds a check that the broker connection is open.
    pub fn rabbitmq(self, bus: Arc<sysops_bus::Bus>) -> Self {
        self.check("rabbitmq", move || {
            let bus = bus.clone();
            async move {
                if bus.is_connected().await {
                    Ok(())
                } else {
                    Err("not connected".to_owned())
                }
            }
        })
    }

    pub fn router(self) -> Router {
        // Make sure the recorder exists before the first scrape.
        metrics_handle();
        Router::new()
            .route("/health", get(health))
            .route("/ready", get(ready))
            .route("/metrics", get(render_metrics))
            .with_state(Arc::new(self))
    }
}

async fn health(State(ops): State<Arc<Ops>>) -> impl IntoResponse {
    Json(json!({ "status": "healthy", "service": ops.service }))
}

async fn ready(State(ops): State<Arc<Ops>>) -> impl IntoResponse {
    let mut all_ok = true;
    let mut checks = serde_json::Map::new();
    for (name, check) in &ops.checks {
        let result = tokio::time::timeout(std::time::Duration::from_secs(2), check()).await;
        let value = match result {
            Ok(Ok(())) => json!("ok"),
            Ok(Err(e)) => {
                all_ok = false;
                json!(e)
            }
            Err(_) => {
                all_ok = false;
                json!("timed out")
            }
        };
        checks.insert((*name).to_owned(), value);
    }
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if all_ok { "ready" } else { "not_ready" },
        "service": ops.service,
        "checks": checks,
    });
    (status, Json(body))
}

async fn render_metrics() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        metrics_handle().render(),
    )
}

/// The process-wide Prometheus recorder, installed on first use.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&[
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
            .expect("the bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Fails only if another recorder was installed first, e.g. by a test harness; the
        // handle still renders this recorder's (then empty) state.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

//! `GET /api/health`: the health of every service behind the gateway, asked concurrently.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use crate::startup::AppState;
use crate::upstream::{Service, Upstreams};

/// How long a service may take to answer `/health` before it counts as unhealthy. Short, so the
/// system's health answers quickly even when a service hangs.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// The health of the whole system.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SystemHealth {
    /// `degraded` when any service is unhealthy.
    pub status: SystemStatus,
    /// Each service behind the gateway by name.
    #[schema(value_type = BTreeMap<String, ServiceHealth>)]
    pub services: BTreeMap<&'static str, ServiceHealth>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SystemStatus {
    Healthy,
    Degraded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceHealth {
    Healthy,
    Unhealthy,
}

/// The health of every service. Answers 200 whatever the outcome, so callers can read which
/// service is down.
#[utoipa::path(
    get, path = "/api/health", tag = "gateway",
    responses((status = 200, description = "Each service's health", body = SystemHealth))
)]
pub async fn system_health(State(state): State<AppState>) -> Json<SystemHealth> {
    let probes = Service::ALL.map(|service| {
        let state = &state;
        async move {
            let health = match probe(&state.client, &state.upstreams, service).await {
                Ok(()) => ServiceHealth::Healthy,
                Err(why) => {
                    tracing::info!(service = service.name(), why, "service unhealthy");
                    ServiceHealth::Unhealthy
                }
            };
            (service.name(), health)
        }
    });
    let services: BTreeMap<_, _> = futures::future::join_all(probes)
        .await
        .into_iter()
        .collect();
    let status = if services.values().all(|h| *h == ServiceHealth::Healthy) {
        SystemStatus::Healthy
    } else {
        SystemStatus::Degraded
    };
    Json(SystemHealth { status, services })
}

/// Asks `service` for its `/health`; `Ok` when it answers with a success status in time,
/// otherwise what went wrong.
pub async fn probe(
    client: &reqwest::Client,
    upstreams: &Upstreams,
    service: Service,
) -> Result<(), String> {
    let response = client
        .get(upstreams.url(service, "/health"))
        .timeout(PROBE_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timed out".to_owned()
            } else if e.is_connect() {
                "unreachable".to_owned()
            } else {
                e.to_string()
            }
        })?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(format!("answered {}", response.status()))
    }
}

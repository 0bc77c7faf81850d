//! `/api/routing`: the decisions taken for a ticket and overall statistics.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use sysops_platform::ApiError;

use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/routing/history/{ticket_id}", get(history))
        .route("/api/routing/statistics", get(statistics))
        .route(
            "/api/routing/reassign/{ticket_id}",
            post(super::reassign::reassign),
        )
}

/// The routing routes, described for the gateway's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(history, statistics, super::reassign::reassign),
    tags((name = "routing", description = "Why each ticket went where it did, and how routing is doing"))
)]
pub struct ApiDoc;

/// One decision routing took about a ticket.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
struct Decision {
    /// The event that announced it.
    event_id: Uuid,
    /// `assigned`, `queued`, `rejected`, `escalated`, `taken_back`, `reassigned`...
    kind: String,
    category: Option<String>,
    pool: Option<String>,
    /// Every candidate with its score, the winner and why (see docs/api.md).
    detail: Value,
    decided_at: DateTime<Utc>,
}

/// A ticket's routing decisions, oldest first.
#[derive(Debug, Serialize, ToSchema)]
struct RoutingHistory {
    ticket_id: Uuid,
    decisions: Vec<Decision>,
}

/// Every decision routing took about a ticket: the candidates, their scores, the winner, and
/// why.
#[utoipa::path(
    get, path = "/api/routing/history/{ticket_id}", tag = "routing", security(("bearer" = [])),
    params(("ticket_id" = Uuid, Path, description = "The ticket's id")),
    responses(
        (status = 200, description = "The decisions", body = RoutingHistory),
        (status = 404, description = "Routing has decided nothing about this ticket", body = sysops_platform::http::ErrorBody),
    )
)]
async fn history(
    State(state): State<AppState>,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<RoutingHistory>, ApiError> {
    let Path(ticket_id) = id?;
    let decisions: Vec<Decision> = sqlx::query_as(
        "SELECT event_id, kind, category, pool, detail, decided_at FROM decisions WHERE ticket_id = $1 ORDER BY seq",
    )
    .bind(ticket_id)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    if decisions.is_empty() {
        return Err(ApiError::not_found(format!(
            "no routing decision for ticket {ticket_id}"
        )));
    }
    Ok(Json(RoutingHistory {
        ticket_id,
        decisions,
    }))
}

/// Seconds from submission to first assignment.
#[derive(Debug, Serialize, ToSchema)]
struct TimeToAssign {
    count: i64,
    p50: Option<f64>,
    p90: Option<f64>,
    p99: Option<f64>,
    mean: Option<f64>,
}

/// Routing's figures since it started keeping them.
#[derive(Debug, Serialize, ToSchema)]
struct Statistics {
    /// Tickets by pool (`unrouted` before categorization) and route status.
    by_pool: BTreeMap<String, BTreeMap<String, i64>>,
    decisions: i64,
    decisions_by_kind: BTreeMap<String, i64>,
    time_to_assign_seconds: TimeToAssign,
    /// Assignments by status: `assigned`, `accepted`, `done`, `rejected`, `taken_back`, `moved`.
    assignments_by_outcome: BTreeMap<String, i64>,
    /// Assignments after a ticket's first.
    reassignments: i64,
    /// SLA breaches by clock: `assign`, `accept`, `resolve`.
    sla_breaches: BTreeMap<String, i64>,
}

/// Counts by pool, time-to-assign percentiles, reassignments and SLA breaches.
#[utoipa::path(
    get, path = "/api/routing/statistics", tag = "routing", security(("bearer" = [])),
    responses((status = 200, description = "The figures", body = Statistics))
)]
async fn statistics(State(state): State<AppState>) -> Result<Json<Statistics>, ApiError> {
    let db = &state.pool;
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT pool, status, count(*) FROM routes GROUP BY pool, status ORDER BY pool, status",
    )
    .fetch_all(db)
    .await
    .map_err(ApiError::from_db)?;
    let mut by_pool: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for (pool, status, count) in rows {
        by_pool
            .entry(pool.unwrap_or_else(|| "unrouted".into()))
            .or_default()
            .insert(status, count);
    }
    let (assigned, p50, p90, p99, mean): (i64, Option<f64>, Option<f64>, Option<f64>, Option<f64>) =
        sqlx::query_as(
            "SELECT count(*), \
             percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.9) WITHIN GROUP (ORDER BY s), \
             percentile_cont(0.99) WITHIN GROUP (ORDER BY s), avg(s) \
             FROM (SELECT extract(epoch FROM first_assigned_at - created_at)::float8 AS s FROM routes \
                   WHERE first_assigned_at IS NOT NULL AND created_at IS NOT NULL) t",
        )
        .fetch_one(db)
        .await
        .map_err(ApiError::from_db)?;
    let outcomes: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, count(*) FROM assignments GROUP BY status ORDER BY status")
            .fetch_all(db)
            .await
            .map_err(ApiError::from_db)?;
    let reassignments: i64 =
        sqlx::query_scalar("SELECT count(*) FROM assignments WHERE attempt > 1")
            .fetch_one(db)
            .await
            .map_err(ApiError::from_db)?;
    let breaches: Vec<(String, i64)> =
        sqlx::query_as("SELECT clock, count(*) FROM sla_breaches GROUP BY clock ORDER BY clock")
            .fetch_all(db)
            .await
            .map_err(ApiError::from_db)?;
    let kinds: Vec<(String, i64)> =
        sqlx::query_as("SELECT kind, count(*) FROM decisions GROUP BY kind ORDER BY kind")
            .fetch_all(db)
            .await
            .map_err(ApiError::from_db)?;
    let decisions: i64 = kinds.iter().map(|(_, n)| n).sum();
    Ok(Json(Statistics {
        by_pool,
        decisions,
        decisions_by_kind: kinds.into_iter().collect(),
        time_to_assign_seconds: TimeToAssign {
            count: assigned,
            p50,
            p90,
            p99,
            mean,
        },
        assignments_by_outcome: outcomes.into_iter().collect(),
        reassignments,
        sla_breaches: breaches.into_iter().collect(),
    }))
}

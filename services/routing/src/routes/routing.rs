//! `/api/routing`: the decisions taken for a ticket and overall statistics.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};
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

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Decision {
    event_id: Uuid,
    kind: String,
    category: Option<String>,
    pool: Option<String>,
    detail: Value,
    decided_at: DateTime<Utc>,
}

async fn history(
    State(state): State<AppState>,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(
        json!({ "ticket_id": ticket_id, "decisions": decisions }),
    ))
}

async fn statistics(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let db = &state.pool;
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT pool, status, count(*) FROM routes GROUP BY pool, status ORDER BY pool, status",
    )
    .fetch_all(db)
    .await
    .map_err(ApiError::from_db)?;
    let mut by_pool = serde_json::Map::new();
    for (pool, status, count) in rows {
        let entry = by_pool
            .entry(pool.unwrap_or_else(|| "unrouted".into()))
            .or_insert_with(|| json!({}));
        entry[status] = json!(count);
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
    let to_map = |rows: Vec<(String, i64)>| -> serde_json::Map<String, Value> {
        rows.into_iter().map(|(k, v)| (k, json!(v))).collect()
    };
    let decisions: i64 = kinds.iter().map(|(_, n)| n).sum();
    Ok(Json(json!({
        "by_pool": by_pool,
        "decisions": decisions,
        "decisions_by_kind": to_map(kinds),
        "time_to_assign_seconds": { "count": assigned, "p50": p50, "p90": p90, "p99": p99, "mean": mean },
        "assignments_by_outcome": to_map(outcomes),
        "reassignments": reassignments,
        "sla_breaches": to_map(breaches),
    })))
}

//! `/api/routing`: the decisions taken for a ticket and overall statistics.

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::routing::get;
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
    let Path(ticket_id) =
        id.map_err(|r| ApiError::bad_request(format!("invalid path: {}", r.body_text())))?;
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
    let rows: Vec<(Option<String>, String, i64)> = sqlx::query_as(
        "SELECT pool, status, count(*) FROM routes GROUP BY pool, status ORDER BY pool, status",
    )
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    let mut by_pool = serde_json::Map::new();
    for (pool, status, count) in rows {
        let entry = by_pool
            .entry(pool.unwrap_or_else(|| "unrouted".into()))
            .or_insert_with(|| json!({}));
        entry[status] = json!(count);
    }
    let decisions: i64 = sqlx::query_scalar("SELECT count(*) FROM decisions")
        .fetch_one(&state.pool)
        .await
        .map_err(ApiError::from_db)?;
    Ok(Json(json!({ "by_pool": by_pool, "decisions": decisions })))
}

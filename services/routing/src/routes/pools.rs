//! `/api/pools`: the skill pools of the taxonomy with their backlog.

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
        .route("/api/pools", get(list))
        .route("/api/pools/{name}", get(fetch))
}

#[derive(Debug, Serialize, sqlx::FromRow)]
struct BacklogEntry {
    ticket_id: Uuid,
    category: Option<String>,
    priority: String,
    region: Option<String>,
    queued_at: Option<DateTime<Utc>>,
}

async fn backlog_sizes(
    state: &AppState,
) -> Result<std::collections::HashMap<String, i64>, ApiError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT pool, count(*) FROM routes WHERE status = 'queued' GROUP BY pool")
            .fetch_all(&state.pool)
            .await
            .map_err(ApiError::from_db)?;
    Ok(rows.into_iter().collect())
}

async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let sizes = backlog_sizes(&state).await?;
    let pools: Vec<Value> = state
        .taxonomy
        .pools()
        .into_iter()
        .map(|(name, categories)| {
            json!({
                "name": name,
                "categories": categories,
                "backlog": sizes.get(name).copied().unwrap_or(0),
            })
        })
        .collect();
    Ok(Json(json!({ "pools": pools })))
}

async fn fetch(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let pools = state.taxonomy.pools();
    let Some(categories) = pools.get(name.as_str()) else {
        return Err(ApiError::not_found(format!("no pool named `{name}`"))
            .with_detail(json!({ "known": pools.keys().collect::<Vec<_>>() })));
    };
    let backlog: Vec<BacklogEntry> = sqlx::query_as(
        "SELECT ticket_id, category, priority, region, queued_at FROM routes \
         WHERE status = 'queued' AND pool = $1 ORDER BY queued_at LIMIT 200",
    )
    .bind(&name)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    let size = backlog_sizes(&state)
        .await?
        .get(name.as_str())
        .copied()
        .unwrap_or(0);
    Ok(Json(json!({
        "name": name,
        "categories": categories,
        "backlog": size,
        "oldest": backlog,
    })))
}

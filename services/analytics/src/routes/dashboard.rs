//! `/api/dashboard/summary`: headline figures computed from the event store.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use sysops_platform::ApiError;

use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/dashboard/summary", get(summary))
}

async fn summary(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let by_type: Vec<(String, i64)> = sqlx::query_as(
        "SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY event_type",
    )
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    let by_category: Vec<(Option<String>, i64, Option<f64>)> = sqlx::query_as(
        "SELECT data->>'category', count(*), avg((data->>'confidence')::float8) FROM events \
         WHERE event_type = 'ticket.categorized' GROUP BY 1 ORDER BY 2 DESC",
    )
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    let by_method: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT data->>'method', count(*) FROM events WHERE event_type = 'ticket.categorized' GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    let needs_review: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE event_type = 'ticket.categorized' AND (data->>'needs_review')::boolean",
    )
    .fetch_one(&state.pool)
    .await
    .map_err(ApiError::from_db)?;

    let events: Map<String, Value> = by_type.into_iter().map(|(t, n)| (t, json!(n))).collect();
    let created = events.get("ticket.created").cloned().unwrap_or(json!(0));
    Ok(Json(json!({
        "tickets_created": created,
        "events_by_type": events,
        "categories": by_category.into_iter().map(|(c, n, conf)| json!({
            "category": c, "tickets": n, "mean_confidence": conf,
        })).collect::<Vec<_>>(),
        "methods": by_method.into_iter().map(|(m, n)| json!({ "method": m, "tickets": n })).collect::<Vec<_>>(),
        "needs_review": needs_review,
    })))
}

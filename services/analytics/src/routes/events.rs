//! `/api/analytics/events`: the audit trail, filtered.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::{Postgres, QueryBuilder};
use uuid::Uuid;

use sysops_contract::EventType;
use sysops_platform::ApiError;

use crate::startup::AppState;
use crate::store::StoredEvent;

const MAX_PAGE: i64 = 1000;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/analytics/events", get(list))
}

/// Query of `GET /api/analytics/events`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(super) struct Params {
    /// Only this ticket's events.
    ticket_id: Option<Uuid>,
    /// Only events of this type, such as `ticket.assigned`.
    #[serde(rename = "type")]
    event_type: Option<String>,
    /// At most this many, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<i64>,
}

/// Stored events, oldest first.
#[utoipa::path(
    get, path = "/api/analytics/events", tag = "analytics", security(("bearer" = [])),
    params(Params),
    responses(
        (status = 200, description = "The events", body = super::doc::EventList),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn list(
    State(state): State<AppState>,
    params: Result<Query<Params>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params?;
    let event_type = p
        .event_type
        .as_deref()
        .map(str::parse::<EventType>)
        .transpose()
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let limit = p.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be between 1 and {MAX_PAGE}"
        )));
    }
    let mut q: QueryBuilder<Postgres> = QueryBuilder::new("SELECT * FROM events WHERE true");
    if let Some(t) = p.ticket_id {
        q.push(" AND ticket_id = ").push_bind(t);
    }
    if let Some(t) = event_type {
        q.push(" AND event_type = ").push_bind(t.routing_key());
    }
    q.push(" ORDER BY occurred_at, event_id LIMIT ")
        .push_bind(limit);
    let events: Vec<StoredEvent> = q
        .build_query_as()
        .fetch_all(&state.pool)
        .await
        .map_err(ApiError::from_db)?;
    Ok(Json(json!({ "events": events })))
}

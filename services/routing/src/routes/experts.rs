//! `/api/experts`: the roster. Every change publishes `expert.changed` and assigns the
//! backlog the change made room for.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use sysops_platform::auth::{Caller, Role};
use sysops_platform::{ApiError, ApiJson};

use crate::domain::{ExpertRequest, NewExpert};
use crate::roster::save_expert;
use crate::startup::AppState;
use crate::store::experts::{self, Expert, ExpertFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/experts", get(list).post(create))
        .route("/api/experts/{id}", get(fetch).put(replace))
}

/// Query of `GET /api/experts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    pool: Option<String>,
    availability: Option<String>,
    region: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) =
        params.map_err(|r| ApiError::bad_request(format!("invalid query: {}", r.body_text())))?;
    let filter = ExpertFilter {
        pool: p.pool,
        availability: p.availability,
        region: p.region.map(|r| r.trim().to_lowercase()),
    };
    let list = experts::list(&state.pool, &filter)
        .await
        .map_err(ApiError::from_db)?;
    Ok(Json(json!({ "total": list.len(), "experts": list })))
}

fn parse(state: &AppState, req: ExpertRequest) -> Result<NewExpert, ApiError> {
    let pools = state.engine.taxonomy.pools();
    let known: Vec<&str> = pools.keys().copied().collect();
    NewExpert::parse(req, &known).map_err(|errors| {
        let summary = errors
            .iter()
            .map(|e| format!("{} {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ");
        ApiError::unprocessable(format!("invalid expert: {summary}")).with_detail(json!(errors))
    })
}

#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<ExpertRequest>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require(&[Role::Admin])?;
    let expert = parse(&state, req)?;
    let id = Uuid::now_v7();
    let tx = state.pool.begin().await.map_err(ApiError::from_db)?;
    let (stored, assigned) = save(&state, tx, id, &expert).await?;
    tracing::info!(expert_id = %id, assigned, "expert created");
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("/api/experts/{id}"))],
        Json(stored),
    ))
}

/// Stores the expert, assigns what its change frees up, and commits; returns the expert as
/// stored and how many backlog tickets it took.
async fn save(
    state: &AppState,
    mut tx: sqlx::Transaction<'_, sqlx::Postgres>,
    id: Uuid,
    expert: &NewExpert,
) -> Result<(Expert, usize), ApiError> {
    let saved = save_expert(&mut tx, &state.engine, id, expert)
        .await
        .map_err(ApiError::from_db)?;
    state
        .engine
        .outbox
        .commit(tx)
        .await
        .map_err(ApiError::from_db)?;
    Ok(saved)
}

async fn fetch(
    State(state): State<AppState>,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id?;
    let expert = experts::get(&state.pool, id)
        .await
        .map_err(ApiError::from_db)?
        .ok_or_else(|| ApiError::not_found(format!("no expert {id}")))?;
    let open: Vec<(Uuid, String, String, i32)> = sqlx::query_as(
        "SELECT ticket_id, pool, status, attempt FROM assignments \
         WHERE expert_id = $1 AND status IN ('assigned', 'accepted') ORDER BY assigned_at",
    )
    .bind(id)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    let open: Vec<Value> = open
        .into_iter()
        .map(|(t, p, s, a)| json!({ "ticket_id": t, "pool": p, "status": s, "attempt": a }))
        .collect();
    let mut body = serde_json::to_value(expert).map_err(|e| ApiError::internal(&e))?;
    body["open_assignments"] = json!(open);
    Ok(Json(body))
}

#[tracing::instrument(skip_all, fields(expert_id))]
async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
    ApiJson(req): ApiJson<ExpertRequest>,
) -> Result<Json<Value>, ApiError> {
    caller.require(&[Role::Admin])?;
    let Path(id) = id?;
    tracing::Span::current().record("expert_id", tracing::field::display(id));
    let expert = parse(&state, req)?;
    let mut tx = state.pool.begin().await.map_err(ApiError::from_db)?;
    let exists: Option<i32> = sqlx::query_scalar("SELECT 1 FROM experts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(ApiError::from_db)?;
    if exists.is_none() {
        return Err(ApiError::not_found(format!("no expert {id}")));
    }
    let (stored, assigned) = save(&state, tx, id, &expert).await?;
    tracing::info!(assigned, "expert changed");
    let mut body = serde_json::to_value(stored).map_err(|e| ApiError::internal(&e))?;
    body["backlog_assigned"] = json!(assigned);
    Ok(Json(body))
}

//! `/api/experts`: the roster. Every change publishes `expert.changed` and assigns the
//! backlog the change made room for.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, OpenApi, ToSchema};
use uuid::Uuid;

use sysops_platform::auth::{Caller, Role};
use sysops_platform::{ApiError, ApiJson};

use crate::domain::expert::availability_str;
use crate::domain::{ExpertRequest, NewExpert};
use crate::roster::save_expert;
use crate::startup::AppState;
use crate::store::experts::{self, Expert, ExpertFilter};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/experts", get(list).post(create))
        .route("/api/experts/{id}", get(fetch).put(replace))
}

/// The roster's routes, described for the gateway's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(list, create, fetch, replace),
    tags((name = "experts", description = "The roster: experts, their skills, regions, availability and capacity"))
)]
pub struct ApiDoc;

/// Query of `GET /api/experts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListParams {
    /// Only experts serving this pool.
    pool: Option<String>,
    /// Only experts with this availability.
    availability: Option<sysops_contract::Availability>,
    /// Only experts serving this region.
    region: Option<String>,
}

/// The roster, or part of it.
#[derive(Debug, Serialize, ToSchema)]
struct ExpertList {
    total: usize,
    experts: Vec<Expert>,
}

/// The experts, by name.
#[utoipa::path(
    get, path = "/api/experts", tag = "experts", security(("bearer" = [])),
    params(ListParams),
    responses(
        (status = 200, description = "The experts", body = ExpertList),
        (status = 400, description = "An unknown filter", body = sysops_platform::http::ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    params: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<ExpertList>, ApiError> {
    let Query(p) =
        params.map_err(|r| ApiError::bad_request(format!("invalid query: {}", r.body_text())))?;
    let filter = ExpertFilter {
        pool: p.pool,
        availability: p.availability.map(|a| availability_str(a).to_owned()),
        region: p.region.map(|r| r.trim().to_lowercase()),
    };
    let list = experts::list(&state.pool, &filter)
        .await
        .map_err(ApiError::from_db)?;
    Ok(Json(ExpertList {
        total: list.len(),
        experts: list,
    }))
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

/// Adds an expert; the pool backlogs they can serve are assigned to them at once.
#[utoipa::path(
    post, path = "/api/experts", tag = "experts", security(("bearer" = [])),
    request_body = ExpertRequest,
    responses(
        (status = 201, description = "Added; `Location` names it", body = Expert,
         headers(("location" = String, description = "The expert's URL"))),
        (status = 422, description = "A field is invalid; `detail` lists each one", body = sysops_platform::http::ErrorBody),
    )
)]
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

/// One of an expert's open assignments.
#[derive(Debug, Serialize, ToSchema)]
struct OpenAssignmentView {
    ticket_id: Uuid,
    pool: String,
    /// `assigned` or `accepted`.
    status: String,
    /// 1 for the ticket's first assignment, more after rejections or take-backs.
    attempt: i32,
}

/// An expert and what they hold now.
#[derive(Debug, Serialize, ToSchema)]
struct ExpertDetail {
    #[serde(flatten)]
    expert: Expert,
    open_assignments: Vec<OpenAssignmentView>,
}

/// An expert with their open assignments, oldest first.
#[utoipa::path(
    get, path = "/api/experts/{id}", tag = "experts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The expert's id")),
    responses(
        (status = 200, description = "The expert", body = ExpertDetail),
        (status = 404, description = "No such expert", body = sysops_platform::http::ErrorBody),
    )
)]
async fn fetch(
    State(state): State<AppState>,
    id: Result<Path<Uuid>, PathRejection>,
) -> Result<Json<ExpertDetail>, ApiError> {
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
    let open_assignments = open
        .into_iter()
        .map(|(ticket_id, pool, status, attempt)| OpenAssignmentView {
            ticket_id,
            pool,
            status,
            attempt,
        })
        .collect();
    Ok(Json(ExpertDetail {
        expert,
        open_assignments,
    }))
}

/// An expert as changed, and how many backlog tickets the change let them take.
#[derive(Debug, Serialize, ToSchema)]
struct ExpertChange {
    #[serde(flatten)]
    expert: Expert,
    backlog_assigned: usize,
}

/// Replaces an expert's details; the backlog the change makes room for is assigned at once.
#[utoipa::path(
    put, path = "/api/experts/{id}", tag = "experts", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The expert's id")),
    request_body = ExpertRequest,
    responses(
        (status = 200, description = "Changed", body = ExpertChange),
        (status = 404, description = "No such expert", body = sysops_platform::http::ErrorBody),
        (status = 422, description = "A field is invalid; `detail` lists each one", body = sysops_platform::http::ErrorBody),
    )
)]
#[tracing::instrument(skip_all, fields(expert_id))]
async fn replace(
    State(state): State<AppState>,
    caller: Caller,
    id: Result<Path<Uuid>, PathRejection>,
    ApiJson(req): ApiJson<ExpertRequest>,
) -> Result<Json<ExpertChange>, ApiError> {
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
    Ok(Json(ExpertChange {
        expert: stored,
        backlog_assigned: assigned,
    }))
}

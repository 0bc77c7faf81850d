//! `/api/pools`: the skill pools of the taxonomy with their members, load and backlog.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use utoipa::{OpenApi, ToSchema};
use uuid::Uuid;

use sysops_platform::ApiError;

use crate::startup::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/pools", get(list))
        .route("/api/pools/{name}", get(fetch))
}

/// The pools' routes, described for the gateway's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(list, fetch),
    tags((name = "pools", description = "Skill pools: members, load and backlog"))
)]
pub struct ApiDoc;

/// A ticket waiting in a pool's backlog.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
struct BacklogEntry {
    ticket_id: Uuid,
    category: Option<String>,
    #[schema(value_type = sysops_contract::Priority)]
    priority: String,
    region: Option<String>,
    queued_at: Option<DateTime<Utc>>,
}

/// An expert serving a pool.
#[derive(Debug, Serialize, sqlx::FromRow, ToSchema)]
struct Member {
    id: Uuid,
    name: String,
    proficiency: f32,
    #[schema(value_type = sysops_contract::Availability)]
    availability: String,
    regions: Vec<String>,
    load: i32,
    capacity: i32,
}

/// Figures of every pool that has any: backlog, open assignments, members, capacity.
#[derive(Debug, Default, Clone, Copy, Serialize, ToSchema)]
struct Figures {
    backlog: i64,
    /// Open assignments of the pool's tickets.
    load: i64,
    members: i64,
    available_members: i64,
    /// Capacity of the available members (shared with their other pools).
    capacity: i64,
}

async fn figures(state: &AppState) -> Result<HashMap<String, Figures>, ApiError> {
    let rows: Vec<(String, i64, i64, i64, i64, i64)> = sqlx::query_as(
        "WITH b AS (SELECT pool, count(*) n FROM routes WHERE status = 'queued' GROUP BY pool), \
              l AS (SELECT pool, count(*) n FROM assignments WHERE status IN ('assigned', 'accepted') GROUP BY pool), \
              m AS (SELECT s.pool, count(*) n, count(*) FILTER (WHERE e.availability = 'available') a, \
                           COALESCE(sum(e.capacity) FILTER (WHERE e.availability = 'available'), 0) c \
                    FROM expert_skills s JOIN experts e ON e.id = s.expert_id GROUP BY s.pool), \
              p AS (SELECT pool FROM b UNION SELECT pool FROM l UNION SELECT pool FROM m) \
         SELECT p.pool, COALESCE(b.n, 0), COALESCE(l.n, 0), COALESCE(m.n, 0), COALESCE(m.a, 0), COALESCE(m.c, 0)::bigint \
         FROM p LEFT JOIN b USING (pool) LEFT JOIN l USING (pool) LEFT JOIN m USING (pool) WHERE p.pool IS NOT NULL",
    )
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    Ok(rows
        .into_iter()
        .map(
            |(pool, backlog, load, members, available_members, capacity)| {
                (
                    pool,
                    Figures {
                        backlog,
                        load,
                        members,
                        available_members,
                        capacity,
                    },
                )
            },
        )
        .collect())
}

/// A pool with its figures.
#[derive(Debug, Serialize, ToSchema)]
struct PoolSummary {
    name: String,
    /// The taxonomy's categories routed to this pool.
    categories: Vec<String>,
    #[serde(flatten)]
    figures: Figures,
}

/// Every pool of the taxonomy.
#[derive(Debug, Serialize, ToSchema)]
struct PoolList {
    pools: Vec<PoolSummary>,
}

/// Every pool of the taxonomy with its backlog, load, members and capacity.
#[utoipa::path(
    get, path = "/api/pools", tag = "pools", security(("bearer" = [])),
    responses((status = 200, description = "The pools", body = PoolList))
)]
async fn list(State(state): State<AppState>) -> Result<Json<PoolList>, ApiError> {
    let figures = figures(&state).await?;
    let pools = state
        .engine
        .taxonomy
        .pools()
        .into_iter()
        .map(|(name, categories)| PoolSummary {
            figures: figures.get(name).copied().unwrap_or_default(),
            name: name.to_owned(),
            categories: categories.iter().map(|c| c.to_string()).collect(),
        })
        .collect();
    Ok(Json(PoolList { pools }))
}

/// One pool in detail.
#[derive(Debug, Serialize, ToSchema)]
struct PoolDetail {
    name: String,
    categories: Vec<String>,
    /// Tickets waiting for an expert.
    backlog: i64,
    /// Open assignments of the pool's tickets.
    load: i64,
    /// Capacity of the available members (shared with their other pools).
    capacity: i64,
    /// The members, most proficient first.
    members: Vec<Member>,
    /// The backlog in the order it will be assigned (the first 200).
    next: Vec<BacklogEntry>,
}

/// One pool: its members and the head of its backlog.
#[utoipa::path(
    get, path = "/api/pools/{name}", tag = "pools", security(("bearer" = [])),
    params(("name" = String, Path, description = "The pool's name")),
    responses(
        (status = 200, description = "The pool", body = PoolDetail),
        (status = 404, description = "No such pool; `detail.known` lists them", body = sysops_platform::http::ErrorBody),
    )
)]
async fn fetch(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<PoolDetail>, ApiError> {
    let pools = state.engine.taxonomy.pools();
    let Some(categories) = pools.get(name.as_str()) else {
        return Err(ApiError::not_found(format!("no pool named `{name}`"))
            .with_detail(json!({ "known": pools.keys().collect::<Vec<_>>() })));
    };
    let backlog: Vec<BacklogEntry> = sqlx::query_as(
        "SELECT ticket_id, category, priority, region, queued_at FROM routes \
         WHERE status = 'queued' AND pool = $1 ORDER BY priority_rank DESC, queued_at, ticket_id LIMIT 200",
    )
    .bind(&name)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    let members: Vec<Member> = sqlx::query_as(
        "SELECT e.id, e.name, s.proficiency, e.availability, e.regions, e.load, e.capacity \
         FROM expert_skills s JOIN experts e ON e.id = s.expert_id WHERE s.pool = $1 \
         ORDER BY s.proficiency DESC, e.name",
    )
    .bind(&name)
    .fetch_all(&state.pool)
    .await
    .map_err(ApiError::from_db)?;
    let f = figures(&state)
        .await?
        .get(name.as_str())
        .copied()
        .unwrap_or_default();
    Ok(Json(PoolDetail {
        categories: categories.iter().map(|c| c.to_string()).collect(),
        name,
        backlog: f.backlog,
        load: f.load,
        capacity: f.capacity,
        members,
        next: backlog,
    }))
}

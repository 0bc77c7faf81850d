//! `/api/pools`: the skill pools of the taxonomy with their members, load and backlog.

use std::collections::HashMap;

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

#[derive(Debug, Serialize, sqlx::FromRow)]
struct Member {
    id: Uuid,
    name: String,
    proficiency: f32,
    availability: String,
    regions: Vec<String>,
    load: i32,
    capacity: i32,
}

/// Figures of every pool that has any: backlog, open assignments, members, capacity.
#[derive(Debug, Default, Clone, Copy, Serialize)]
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

async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let figures = figures(&state).await?;
    let pools: Vec<Value> = state
        .engine
        .taxonomy
        .pools()
        .into_iter()
        .map(|(name, categories)| {
            let f = figures.get(name).copied().unwrap_or_default();
            let mut v = json!({ "name": name, "categories": categories });
            if let (Some(obj), Ok(Value::Object(extra))) =
                (v.as_object_mut(), serde_json::to_value(f))
            {
                obj.extend(extra);
            }
            v
        })
        .collect();
    Ok(Json(json!({ "pools": pools })))
}

async fn fetch(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Value>, ApiError> {
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
    Ok(Json(json!({
        "name": name,
        "categories": categories,
        "backlog": f.backlog,
        "load": f.load,
        "capacity": f.capacity,
        "members": members,
        "next": backlog,
    })))
}

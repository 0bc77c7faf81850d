//! The figures managers read: `/api/dashboard/*` and `/api/analytics/*` (but the event
//! list). Every query runs on a blocking thread over the latest frames.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use polars::prelude::{DataFrame, PolarsResult};
use serde_json::{json, Value};

use sysops_contract::TicketStatus;
use sysops_platform::ApiError;

use crate::frames::Frames;
use crate::params::Params;
use crate::query::{self, Drill, Filters, DURATIONS, STAGES};
use crate::startup::AppState;

/// Most rows of a drill-down page as JSON; exports have no limit.
const MAX_PAGE: u32 = 1000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/dashboard/summary", get(summary))
        .route("/api/dashboard/routing", get(routing))
        .route("/api/analytics/tickets", get(volume))
        .route("/api/analytics/performance", get(performance))
        .route("/api/analytics/trends", get(trends))
        .route("/api/analytics/pools", get(pools))
        .route("/api/analytics/pools/{pool}", get(pool))
        .route("/api/analytics/drilldown", get(drilldown))
        .route("/api/analytics/dead-letters", get(dead_letters))
}

type Pairs = Result<Query<Vec<(String, String)>>, QueryRejection>;

fn params(query: Pairs) -> Result<Params, ApiError> {
    let Query(pairs) = query?;
    Params::new(pairs)
}

/// Runs `f` on the latest frames on a blocking thread, timing it by `name`.
async fn run<T, F>(state: &AppState, name: &'static str, f: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: FnOnce(Arc<Frames>) -> PolarsResult<T> + Send + 'static,
{
    let frames = state.live.frames();
    let started = Instant::now();
    let result = tokio::task::spawn_blocking(move || f(frames))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e));
    metrics::histogram!("analytics_query_seconds", "query" => name)
        .record(started.elapsed().as_secs_f64());
    result
}

/// The filters of a report whose time window is set by its own parameter (`what`): `from` and
/// `to` would narrow nothing there, so they are refused rather than ignored.
fn untimed(filters: Filters, what: &str) -> Result<Filters, ApiError> {
    if filters.from_ms.is_some() || filters.to_ms.is_some() {
        return Err(ApiError::bad_request(format!(
            "`from` and `to` do not apply here: {what} sets the time window"
        )));
    }
    Ok(filters)
}

/// Reads the common filters and refuses anything else.
fn filters_only(query: Pairs) -> Result<Filters, ApiError> {
    let mut p = params(query)?;
    let filters = p.filters(Utc::now())?;
    p.finish()?;
    Ok(filters)
}

#[utoipa::path(
    get, path = "/api/dashboard/summary", tag = "analytics", security(("bearer" = [])),
    params(super::doc::Filters),
    responses(
        (status = 200, description = "Volumes, open tickets, SLA breaches and categorizer figures", body = super::doc::Report),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn summary(
    State(state): State<AppState>,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let f = filters_only(query)?;
    run(&state, "summary", move |frames| query::summary(&frames, &f))
        .await
        .map(Json)
}

#[utoipa::path(
    get, path = "/api/dashboard/routing", tag = "analytics", security(("bearer" = [])),
    params(super::doc::Filters),
    responses(
        (status = 200, description = "Routing by pool and by expert", body = super::doc::Report),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn routing(
    State(state): State<AppState>,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let f = filters_only(query)?;
    run(&state, "routing", move |frames| query::routing(&frames, &f))
        .await
        .map(Json)
}

#[utoipa::path(
    get, path = "/api/analytics/tickets", tag = "analytics", security(("bearer" = [])),
    params(super::doc::Filters, super::doc::VolumeParams),
    responses(
        (status = 200, description = "Tickets per period", body = super::doc::Report),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn volume(
    State(state): State<AppState>,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let mut p = params(query)?;
    let now = Utc::now();
    let f = untimed(p.filters(now)?, "`period`")?;
    let period = p.choice("period", &["day", "week", "month"], "week")?;
    p.finish()?;
    run(&state, "tickets", move |frames| {
        query::volume(&frames, &f, period, now)
    })
    .await
    .map(Json)
}

#[utoipa::path(
    get, path = "/api/analytics/performance", tag = "analytics", security(("bearer" = [])),
    params(super::doc::Filters),
    responses(
        (status = 200, description = "Stage durations: percentiles and the slowest tickets", body = super::doc::Report),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn performance(
    State(state): State<AppState>,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let f = filters_only(query)?;
    run(&state, "performance", move |frames| {
        query::performance(&frames, &f)
    })
    .await
    .map(Json)
}

#[utoipa::path(
    get, path = "/api/analytics/trends", tag = "analytics", security(("bearer" = [])),
    params(super::doc::Filters, super::doc::TrendParams),
    responses(
        (status = 200, description = "Daily series", body = super::doc::Report),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn trends(
    State(state): State<AppState>,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let mut p = params(query)?;
    let now = Utc::now();
    let f = untimed(p.filters(now)?, "`days`")?;
    let days = p
        .parse::<i64>("days", "a whole number of days from 1 to 365")?
        .unwrap_or(14);
    if !(1..=365).contains(&days) {
        return Err(ApiError::bad_request(format!(
            "`days` must be from 1 to 365, not {days}"
        )));
    }
    p.finish()?;
    run(&state, "trends", move |frames| {
        query::trends(&frames, &f, days, now)
    })
    .await
    .map(Json)
}

#[utoipa::path(
    get, path = "/api/analytics/pools", tag = "analytics", security(("bearer" = [])),
    params(super::doc::Filters),
    responses(
        (status = 200, description = "Figures per pool", body = super::doc::Report),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn pools(
    State(state): State<AppState>,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let f = filters_only(query)?;
    run(&state, "pools", move |frames| query::pools(&frames, &f))
        .await
        .map(Json)
}

/// One pool: its routing figures, performance and summary.
#[utoipa::path(
    get, path = "/api/analytics/pools/{pool}", tag = "analytics", security(("bearer" = [])),
    params(("pool" = String, Path, description = "The pool's name"), super::doc::Filters),
    responses(
        (status = 200, description = "One pool's routing, summary and performance", body = super::doc::Report),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
        (status = 404, description = "No ticket or expert of this pool yet", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn pool(
    State(state): State<AppState>,
    Path(name): Path<String>,
    query: Pairs,
) -> Result<Json<Value>, ApiError> {
    let mut f = filters_only(query)?;
    f.pool = Some(name.clone());
    let answer = run(&state, "pool", move |frames| {
        let routing = query::routing(&frames, &f)?;
        let known = routing["pools"].as_array().is_some_and(|p| !p.is_empty())
            || routing["experts"].as_array().is_some_and(|e| !e.is_empty());
        if !known {
            return Ok(None);
        }
        Ok(Some(json!({
            "pool": f.pool,
            "routing": routing,
            "summary": query::summary(&frames, &f)?,
            "performance": query::performance(&frames, &f)?,
        })))
    })
    .await?;
    answer
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("no ticket or expert of pool `{name}` yet")))
}

fn yes_no(p: &mut Params, key: &'static str) -> Result<Option<bool>, ApiError> {
    p.parse::<bool>(key, "true or false")
}

/// The drill-down parameters beyond the common filters.
fn drill(p: &mut Params, now: chrono::DateTime<Utc>) -> Result<Drill, ApiError> {
    let status = p
        .text("status")
        .map(|s| {
            TicketStatus::ALL
                .into_iter()
                .find(|t| t.as_str() == s)
                .ok_or_else(|| {
                    let all: Vec<_> = TicketStatus::ALL.iter().map(|t| t.as_str()).collect();
                    ApiError::bad_request(format!(
                        "`status` must be one of {}, not `{s}`",
                        all.join(", ")
                    ))
                })
        })
        .transpose()?;
    let breached = match p.text("breached") {
        None => None,
        Some(b) if ["any", "assign", "accept", "resolve"].contains(&b.as_str()) => Some(b),
        Some(b) => {
            return Err(ApiError::bad_request(format!(
                "`breached` must be one of any, assign, accept, resolve, not `{b}`"
            )))
        }
    };
    let slowest = match p.text("slowest") {
        None => None,
        Some(s) => Some(DURATIONS.into_iter().find(|d| *d == s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`slowest` must be one of {}, not `{s}`",
                DURATIONS.join(", ")
            ))
        })?),
    };
    let reached = match p.text("reached") {
        None => None,
        Some(s) => Some(
            STAGES
                .iter()
                .find(|(stage, _)| *stage == s)
                .map(|(_, column)| *column)
                .ok_or_else(|| {
                    let all: Vec<_> = STAGES.iter().map(|(stage, _)| *stage).collect();
                    ApiError::bad_request(format!(
                        "`reached` must be one of {}, not `{s}`",
                        all.join(", ")
                    ))
                })?,
        ),
    };
    let confidence = "a number from 0 to 1";
    Ok(Drill {
        status,
        open: yes_no(p, "open")?,
        held: yes_no(p, "held")?,
        method: p.text("method"),
        needs_review: yes_no(p, "needs_review")?,
        overridden: yes_no(p, "overridden")?,
        escalated: yes_no(p, "escalated")?,
        reassigned: yes_no(p, "reassigned")?,
        rejected: yes_no(p, "rejected")?,
        taken_back: yes_no(p, "taken_back")?,
        reached,
        breached,
        expert_id: p.text("expert_id"),
        confidence_min: p.parse("confidence_min", confidence)?,
        confidence_max: p.parse("confidence_max", confidence)?,
        resolved_from_ms: p.time("resolved_from", now)?,
        resolved_to_ms: p.time("resolved_to", now)?,
        slowest,
    })
}

/// How a list is answered: a JSON page, or every row as a CSV or Parquet file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    Parquet,
}

fn format(p: &mut Params) -> Result<Format, ApiError> {
    Ok(
        match p.choice("format", &["json", "csv", "parquet"], "json")? {
            "csv" => Format::Csv,
            "parquet" => Format::Parquet,
            _ => Format::Json,
        },
    )
}

fn file(format: Format, name: &str, df: DataFrame) -> Result<Response, ApiError> {
    let internal = |e: polars::prelude::PolarsError| ApiError::internal(&e);
    let df = query::exportable(df).map_err(internal)?;
    let (bytes, mime, ext) = match format {
        Format::Csv => (
            query::to_csv(df).map_err(internal)?,
            "text/csv; charset=utf-8",
            "csv",
        ),
        _ => (
            query::to_parquet(df).map_err(internal)?,
            "application/vnd.apache.parquet",
            "parquet",
        ),
    };
    Ok((
        [
            (CONTENT_TYPE, mime.to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.{ext}\""),
            ),
        ],
        Body::from(bytes),
    )
        .into_response())
}

/// `GET /api/analytics/drilldown`: the tickets behind a figure, as JSON (paged) or as a CSV
/// or Parquet file (all of them).
#[utoipa::path(
    get, path = "/api/analytics/drilldown", tag = "analytics", security(("bearer" = [])),
    params(super::doc::Filters, super::doc::DrillParams),
    responses(
        (status = 200, description = "The matching tickets: a JSON page, or every one as CSV or Parquet", content((super::doc::DrillPage = "application/json"), (String = "text/csv"), (Vec<u8> = "application/vnd.apache.parquet"))),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn drilldown(
    State(state): State<AppState>,
    query: Pairs,
) -> Result<Response, ApiError> {
    let mut p = params(query)?;
    let now = Utc::now();
    let f = p.filters(now)?;
    let d = drill(&mut p, now)?;
    let format = format(&mut p)?;
    let limit = p
        .parse::<u32>("limit", &format!("a number from 1 to {MAX_PAGE}"))?
        .unwrap_or(100);
    let offset = p.parse::<u32>("offset", "a whole number")?.unwrap_or(0);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "`limit` must be from 1 to {MAX_PAGE}, not {limit}"
        )));
    }
    p.finish()?;
    let page = (format == Format::Json).then_some(limit);
    let (total, df) = run(&state, "drilldown", move |frames| {
        query::drilldown(&frames, &f, &d, offset, page)
    })
    .await?;
    if format != Format::Json {
        return file(format, "tickets", df);
    }
    let tickets = query::records(&df).map_err(|e| ApiError::internal(&e))?;
    Ok(Json(json!({
        "total": total,
        "offset": offset,
        "limit": limit,
        "tickets": tickets,
    }))
    .into_response())
}

/// `GET /api/analytics/dead-letters`: messages the broker dead-lettered, newest first.
#[utoipa::path(
    get, path = "/api/analytics/dead-letters", tag = "analytics", security(("bearer" = [])),
    params(super::doc::Filters, super::doc::DeadLetterParams),
    responses(
        (status = 200, description = "Dead-lettered messages, newest first: JSON, CSV or Parquet", content((super::doc::Report = "application/json"), (String = "text/csv"), (Vec<u8> = "application/vnd.apache.parquet"))),
        (status = 400, description = "An unknown parameter or a bad value", body = sysops_platform::http::ErrorBody),
    )
)]
pub(super) async fn dead_letters(
    State(state): State<AppState>,
    query: Pairs,
) -> Result<Response, ApiError> {
    let mut p = params(query)?;
    let f = p.filters(Utc::now())?;
    let queue = p.text("queue");
    let format = format(&mut p)?;
    p.finish()?;
    let (body, all) = run(&state, "dead_letters", move |frames| {
        query::dead_letters(&frames, &f, queue.as_deref(), MAX_PAGE)
    })
    .await?;
    if format != Format::Json {
        return file(format, "dead-letters", all);
    }
    Ok(Json(body).into_response())
}

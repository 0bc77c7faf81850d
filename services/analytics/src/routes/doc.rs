//! The analytics routes as the OpenAPI document describes them. The handlers read their query
//! strings by hand (they refuse unknown parameters and explain every bad value); the parameter
//! sets here say the same for readers and tools.

#![allow(dead_code)] // Read by the OpenAPI derive only.

use utoipa::{IntoParams, OpenApi, ToSchema};

use sysops_contract::{Priority, TicketStatus};

/// The analytics routes, described for the gateway's OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(
        super::dashboard::summary,
        super::dashboard::routing,
        super::dashboard::volume,
        super::dashboard::performance,
        super::dashboard::trends,
        super::dashboard::pools,
        super::dashboard::pool,
        super::dashboard::drilldown,
        super::dashboard::dead_letters,
        super::events::list,
    ),
    components(schemas(TimeOrSpan, Format, Report)),
    tags((name = "analytics", description = "Figures for managers, aggregated from every event"))
)]
pub struct ApiDoc;

/// A time: RFC 3339, or a span back from now such as `90m`, `24h` or `7d`.
#[derive(ToSchema)]
#[schema(example = "7d")]
pub struct TimeOrSpan(String);

/// The filters every figure takes. Unknown parameters are refused (400).
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Filters {
    /// Tickets submitted at or after this time.
    #[param(value_type = Option<TimeOrSpan>)]
    from: Option<String>,
    /// Tickets submitted before this time.
    #[param(value_type = Option<TimeOrSpan>)]
    to: Option<String>,
    /// Only this skill pool.
    pool: Option<String>,
    /// Only this category.
    category: Option<String>,
    /// Only this region.
    region: Option<String>,
    /// Only this priority.
    priority: Option<Priority>,
}

/// How an export is answered.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
    Parquet,
}

/// `GET /api/analytics/tickets`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VolumeParams {
    /// The bucket of the series (default `week`).
    #[param(pattern = "^(day|week|month)$")]
    period: Option<String>,
}

/// `GET /api/analytics/trends`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendParams {
    /// Days back from today, 1 to 365 (default 14).
    #[param(minimum = 1, maximum = 365)]
    days: Option<i64>,
}

/// `GET /api/analytics/drilldown`: which tickets, beyond the common filters.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DrillParams {
    status: Option<TicketStatus>,
    /// Not yet resolved, closed or cancelled (`true`), or finished (`false`).
    open: Option<bool>,
    /// With an expert: assigned or accepted (`true`), or not (`false`).
    held: Option<bool>,
    /// How the category was decided: `llm`, `embedding`, `keyword`, `human`.
    method: Option<String>,
    needs_review: Option<bool>,
    /// A person changed the machine's category.
    overridden: Option<bool>,
    escalated: Option<bool>,
    reassigned: Option<bool>,
    rejected: Option<bool>,
    taken_back: Option<bool>,
    /// Reached this stage: `categorized`, `assigned`, `accepted`, `resolved`...
    reached: Option<String>,
    /// Breached an SLA clock: `any`, `assign`, `accept`, `resolve`.
    #[param(pattern = "^(any|assign|accept|resolve)$")]
    breached: Option<String>,
    expert_id: Option<String>,
    #[param(minimum = 0.0, maximum = 1.0)]
    confidence_min: Option<f64>,
    #[param(minimum = 0.0, maximum = 1.0)]
    confidence_max: Option<f64>,
    #[param(value_type = Option<TimeOrSpan>)]
    resolved_from: Option<String>,
    #[param(value_type = Option<TimeOrSpan>)]
    resolved_to: Option<String>,
    /// Slowest first by this duration: `t_categorize`, `t_assign`, `t_accept`, `t_resolve`.
    #[param(pattern = "^(t_categorize|t_assign|t_accept|t_resolve)$")]
    slowest: Option<String>,
    /// `json` (a page, default), `csv` or `parquet` (every matching ticket, as a file).
    format: Option<Format>,
    /// Page size for JSON, 1 to 1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    #[param(minimum = 0)]
    offset: Option<u32>,
}

/// `GET /api/analytics/dead-letters`.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeadLetterParams {
    /// Only messages dead-lettered from this queue.
    queue: Option<String>,
    /// `json` (default), `csv` or `parquet`.
    format: Option<Format>,
}

/// A page of the drill-down.
#[derive(ToSchema)]
pub struct DrillPage {
    total: u64,
    offset: u32,
    limit: u32,
    /// One object per ticket: its fields and the durations of its stages.
    tickets: Vec<serde_json::Value>,
}

/// One event as analytics stored it.
#[derive(ToSchema)]
pub struct EventList {
    events: Vec<serde_json::Value>,
}

/// Figures computed from the event store: an object whose members depend on the endpoint
/// (see docs/api.md, "Analytics").
#[derive(ToSchema)]
pub struct Report(serde_json::Map<String, serde_json::Value>);

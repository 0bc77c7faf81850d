//! The model as polars frames, which the dashboard queries run on.
//!
//! Rows change as tickets move along (a ticket's status, assignee and times), which columnar
//! frames are not made for, so the model keeps rows and the frames are rebuilt from them in
//! one pass whenever the model has changed, at most every [`REFRESH_INTERVAL`]. Queries read
//! the latest frames without waiting for ingest, and ingest never waits for a query.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use polars::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::model::Model;

/// How stale the frames may be while events flow, at least. With many tickets a rebuild takes
/// longer; the wait after one is then four times its duration, so rebuilding never takes more
/// than a fifth of a core.
pub const REFRESH_INTERVAL: Duration = Duration::from_millis(250);

/// One consistent picture of everything analytics knows.
#[derive(Debug, Clone)]
pub struct Frames {
    /// One row per ticket; see [`tickets_frame`] for the columns.
    pub tickets: DataFrame,
    /// One row per expert of the roster.
    pub experts: DataFrame,
    /// One row per dead-lettered message.
    pub dead_letters: DataFrame,
    pub events_by_type: BTreeMap<String, u64>,
    /// The model version the frames show.
    pub version: u64,
}

impl Frames {
    pub fn build(model: &Model) -> PolarsResult<Self> {
        Ok(Frames {
            tickets: tickets_frame(model)?,
            experts: experts_frame(model)?,
            dead_letters: dead_letters_frame(model)?,
            events_by_type: model
                .events_by_type()
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            version: model.version(),
        })
    }
}

fn seconds_between(from: Option<i64>, to: Option<i64>) -> Option<f64> {
    match (from, to) {
        (Some(a), Some(b)) if b >= a => Some((b - a) as f64 / 1000.0),
        _ => None,
    }
}

/// Columns: ticket_id, title, customer, region, priority, channel, category,
/// original_category, pool, method, model, confidence, needs_review, overridden, status,
/// expert_id, expert_name, the lifecycle times in epoch milliseconds (created_ms,
/// categorized_ms, first_assigned_ms, assigned_ms, accepted_ms, resolved_ms, closed_ms,
/// cancelled_ms), assignments, reassignments, rejections, takebacks, escalated, the SLA
/// breaches (breach_assign, breach_accept, breach_resolve, breached), and durations in
/// seconds: t_categorize (created to categorized), t_assign (created to first assigned),
/// t_accept (assigned to accepted), t_resolve (created to resolved).
pub fn tickets_frame(model: &Model) -> PolarsResult<DataFrame> {
    // One pass over the rows, filling every column at once: rows are wide, and a pass per
    // column would read them all forty times.
    macro_rules! columns {
        ($rows:expr, |$t:ident| { $($name:ident: $ty:ty = $value:expr,)* }) => {{
            let rows = $rows;
            $(let mut $name: Vec<$ty> = Vec::with_capacity(rows.len());)*
            for $t in rows {
                $($name.push($value);)*
            }
            DataFrame::new(rows.len(), vec![$(Column::new(stringify!($name).into(), $name)),*])
        }};
    }
    columns!(model.tickets(), |t| {
        ticket_id: String = t.id.to_string(),
        title: Option<&str> = t.title.as_deref(),
        customer: Option<&str> = t.customer.as_deref(),
        region: Option<&str> = t.region.as_deref(),
        priority: Option<&str> = t.priority.as_deref(),
        channel: Option<&str> = t.channel.as_deref(),
        category: Option<&str> = t.category.as_deref(),
        original_category: Option<&str> = t.original_category.as_deref(),
        pool: Option<&str> = t.pool.as_deref(),
        method: Option<&str> = t.method.as_deref(),
        model: Option<&str> = t.model.as_deref(),
        confidence: Option<f64> = t.confidence.map(f64::from),
        needs_review: bool = t.needs_review,
        overridden: bool = t.overridden,
        status: &str = t.status.as_str(),
        expert_id: Option<String> = t.expert_id.map(|e| e.to_string()),
        expert_name: Option<&str> = t.expert_name.as_deref(),
        created_ms: Option<i64> = t.created_ms,
        categorized_ms: Option<i64> = t.categorized_ms,
        first_assigned_ms: Option<i64> = t.first_assigned_ms,
        assigned_ms: Option<i64> = t.assigned_ms,
        accepted_ms: Option<i64> = t.accepted_ms,
        resolved_ms: Option<i64> = t.resolved_ms,
        closed_ms: Option<i64> = t.closed_ms,
        cancelled_ms: Option<i64> = t.cancelled_ms,
        assignments: u32 = t.assignments,
        reassignments: u32 = t.assignments.saturating_sub(1),
        rejections: u32 = t.rejections,
        takebacks: u32 = t.takebacks,
        escalated: bool = t.escalated,
        breach_assign: bool = t.breach_assign,
        breach_accept: bool = t.breach_accept,
        breach_resolve: bool = t.breach_resolve,
        breached: bool = t.breach_assign || t.breach_accept || t.breach_resolve,
        held: bool = t.is_held(),
        t_categorize: Option<f64> = seconds_between(t.created_ms, t.categorized_ms),
        t_assign: Option<f64> = seconds_between(t.created_ms, t.first_assigned_ms),
        t_accept: Option<f64> = seconds_between(t.assigned_ms, t.accepted_ms),
        t_resolve: Option<f64> = seconds_between(t.created_ms, t.resolved_ms),
    })
}

/// Columns: expert_id, name, availability, capacity, pools and regions (comma-separated).
pub fn experts_frame(model: &Model) -> PolarsResult<DataFrame> {
    let rows: Vec<_> = model.experts().collect();
    let n = rows.len();
    DataFrame::new(
        n,
        vec![
            Column::new(
                "expert_id".into(),
                rows.iter().map(|e| e.id.to_string()).collect::<Vec<_>>(),
            ),
            Column::new(
                "name".into(),
                rows.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "availability".into(),
                rows.iter()
                    .map(|e| e.availability.as_str())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "capacity".into(),
                rows.iter().map(|e| e.capacity).collect::<Vec<_>>(),
            ),
            Column::new(
                "pools".into(),
                rows.iter().map(|e| e.pools.join(",")).collect::<Vec<_>>(),
            ),
            Column::new(
                "regions".into(),
                rows.iter().map(|e| e.regions.join(",")).collect::<Vec<_>>(),
            ),
        ],
    )
}

/// Columns: id, queue, reason, event_type, ticket_id, at_ms.
pub fn dead_letters_frame(model: &Model) -> PolarsResult<DataFrame> {
    let rows = model.dead_letters();
    DataFrame::new(
        rows.len(),
        vec![
            Column::new(
                "id".into(),
                rows.iter().map(|d| d.id.to_string()).collect::<Vec<_>>(),
            ),
            Column::new(
                "queue".into(),
                rows.iter().map(|d| d.queue.as_str()).collect::<Vec<_>>(),
            ),
            Column::new(
                "reason".into(),
                rows.iter().map(|d| d.reason.as_deref()).collect::<Vec<_>>(),
            ),
            Column::new(
                "event_type".into(),
                rows.iter()
                    .map(|d| d.event_type.as_deref())
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "ticket_id".into(),
                rows.iter()
                    .map(|d| d.ticket_id.map(|t| t.to_string()))
                    .collect::<Vec<_>>(),
            ),
            Column::new(
                "at_ms".into(),
                rows.iter().map(|d| d.at_ms).collect::<Vec<_>>(),
            ),
        ],
    )
}

/// The model, shared with the ingest path, and the latest frames built from it.
#[derive(Debug)]
pub struct Live {
    pub model: Mutex<Model>,
    frames: RwLock<Arc<Frames>>,
}

impl Live {
    pub fn new(model: Model) -> PolarsResult<Arc<Self>> {
        let frames = Frames::build(&model)?;
        Ok(Arc::new(Live {
            model: Mutex::new(model),
            frames: RwLock::new(Arc::new(frames)),
        }))
    }

    /// The latest frames.
    pub fn frames(&self) -> Arc<Frames> {
        self.frames
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Rebuilds the frames if the model changed since they were built; blocking. Returns how
    /// long the rebuild took, if there was one.
    pub fn refresh(&self) -> PolarsResult<Option<Duration>> {
        let current = self.frames().version;
        let started = Instant::now();
        let frames = {
            let model = self
                .model
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if model.version() == current {
                return Ok(None);
            }
            Frames::build(&model)?
        };
        let took = started.elapsed();
        metrics::histogram!("analytics_frame_build_seconds").record(took.as_secs_f64());
        metrics::gauge!("analytics_tickets").set(frames.tickets.height() as f64);
        *self
            .frames
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(frames);
        Ok(Some(took))
    }

    /// Keeps the frames fresh until `shutdown`, on a blocking thread.
    pub async fn refresh_until(self: Arc<Self>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let live = self.clone();
            let mut wait = REFRESH_INTERVAL;
            match tokio::task::spawn_blocking(move || live.refresh()).await {
                Ok(Ok(Some(took))) => wait = wait.max(took * 4),
                Ok(Ok(None)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "could not rebuild the frames"),
                Err(e) => tracing::error!(error = %e, "frame rebuild panicked"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }
}

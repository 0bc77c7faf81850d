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

/// How stale the frames may be while events flow.
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
    let rows = model.tickets();
    let n = rows.len();
    macro_rules! column {
        ($name:literal, $value:expr) => {
            Column::new($name.into(), rows.iter().map($value).collect::<Vec<_>>())
        };
    }
    let ids: Vec<String> = rows.iter().map(|t| t.id.to_string()).collect();
    let experts: Vec<Option<String>> = rows
        .iter()
        .map(|t| t.expert_id.map(|e| e.to_string()))
        .collect();
    let columns = vec![
        Column::new("ticket_id".into(), ids),
        column!("title", |t| t.title.as_deref()),
        column!("customer", |t| t.customer.as_deref()),
        column!("region", |t| t.region.as_deref()),
        column!("priority", |t| t.priority.as_deref()),
        column!("channel", |t| t.channel.as_deref()),
        column!("category", |t| t.category.as_deref()),
        column!("original_category", |t| t.original_category.as_deref()),
        column!("pool", |t| t.pool.as_deref()),
        column!("method", |t| t.method.as_deref()),
        column!("model", |t| t.model.as_deref()),
        column!("confidence", |t| t.confidence.map(f64::from)),
        column!("needs_review", |t| t.needs_review),
        column!("overridden", |t| t.overridden),
        column!("status", |t| t.status.as_str()),
        Column::new("expert_id".into(), experts),
        column!("expert_name", |t| t.expert_name.as_deref()),
        column!("created_ms", |t| t.created_ms),
        column!("categorized_ms", |t| t.categorized_ms),
        column!("first_assigned_ms", |t| t.first_assigned_ms),
        column!("assigned_ms", |t| t.assigned_ms),
        column!("accepted_ms", |t| t.accepted_ms),
        column!("resolved_ms", |t| t.resolved_ms),
        column!("closed_ms", |t| t.closed_ms),
        column!("cancelled_ms", |t| t.cancelled_ms),
        column!("assignments", |t| t.assignments),
        column!("reassignments", |t| t.assignments.saturating_sub(1)),
        column!("rejections", |t| t.rejections),
        column!("takebacks", |t| t.takebacks),
        column!("escalated", |t| t.escalated),
        column!("breach_assign", |t| t.breach_assign),
        column!("breach_accept", |t| t.breach_accept),
        column!("breach_resolve", |t| t.breach_resolve),
        column!("breached", |t| t.breach_assign
            || t.breach_accept
            || t.breach_resolve),
        column!("held", |t| t.is_held()),
        column!("t_categorize", |t| seconds_between(
            t.created_ms,
            t.categorized_ms
        )),
        column!("t_assign", |t| seconds_between(
            t.created_ms,
            t.first_assigned_ms
        )),
        column!("t_accept", |t| seconds_between(
            t.assigned_ms,
            t.accepted_ms
        )),
        column!("t_resolve", |t| seconds_between(
            t.created_ms,
            t.resolved_ms
        )),
    ];
    DataFrame::new(n, columns)
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

    /// Rebuilds the frames if the model changed since they were built; blocking.
    pub fn refresh(&self) -> PolarsResult<bool> {
        let current = self.frames().version;
        let started = Instant::now();
        let frames = {
            let model = self
                .model
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if model.version() == current {
                return Ok(false);
            }
            Frames::build(&model)?
        };
        metrics::histogram!("analytics_frame_build_seconds")
            .record(started.elapsed().as_secs_f64());
        metrics::gauge!("analytics_tickets").set(frames.tickets.height() as f64);
        *self
            .frames
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(frames);
        Ok(true)
    }

    /// Keeps the frames fresh until `shutdown`, on a blocking thread.
    pub async fn refresh_until(self: Arc<Self>, shutdown: CancellationToken) {
        while !shutdown.is_cancelled() {
            let live = self.clone();
            match tokio::task::spawn_blocking(move || live.refresh()).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "could not rebuild the frames"),
                Err(e) => tracing::error!(error = %e, "frame rebuild panicked"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(REFRESH_INTERVAL) => {}
            }
        }
    }
}

//! The model as polars frames, which the dashboard queries run on.
//!
//! Rows change as tickets move along (a ticket's status, assignee and times), which columnar
//! frames are not made for, so the model keeps rows, and whenever it has changed (at most every
//! [`REFRESH_INTERVAL`]) the rows of the tickets that changed are built again and replace
//! their old rows in the frame. Queries read the latest frames without waiting for ingest, and
//! ingest never waits for a query.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use polars::prelude::*;
use tokio_util::sync::CancellationToken;

use crate::model::{Model, TicketRow};

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
        Self::with_tickets(model, tickets_frame(model)?)
    }

    /// The frames of `model`, with `tickets` as its tickets frame (the rest is small and built
    /// whole).
    fn with_tickets(model: &Model, tickets: DataFrame) -> PolarsResult<Self> {
        Ok(Frames {
            tickets,
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
    rows_frame(model.tickets())
}

/// The tickets frame of these rows only.
fn rows_frame<'a>(rows: impl IntoIterator<Item = &'a TicketRow>) -> PolarsResult<DataFrame> {
    // One pass over the rows, filling every column at once: rows are wide, and a pass per
    // column would read them all forty times.
    macro_rules! columns {
        ($rows:expr, |$t:ident| { $($name:ident: $ty:ty = $value:expr,)* }) => {{
            let rows = $rows.into_iter();
            let capacity = rows.size_hint().0;
            $(let mut $name: Vec<$ty> = Vec::with_capacity(capacity);)*
            let mut height = 0;
            for $t in rows {
                height += 1;
                $($name.push($value);)*
            }
            DataFrame::new(height, vec![$(Column::new(stringify!($name).into(), $name)),*])
        }};
    }
    columns!(rows, |t| {
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

/// `old` with the rows of the tickets in `ids` replaced by `rows` (which may also hold tickets
/// `old` has not seen yet).
fn replace_rows(
    old: &DataFrame,
    ids: &HashSet<String>,
    rows: DataFrame,
) -> PolarsResult<DataFrame> {
    if old.height() == 0 {
        return Ok(rows);
    }
    let keep: BooleanChunked = old
        .column("ticket_id")?
        .str()?
        .iter()
        .map(|id| Some(id.is_none_or(|id| !ids.contains(id))))
        .collect();
    let mut frame = old.filter(&keep)?;
    frame.vstack_mut(&rows)?;
    // Each update adds a chunk; queries slow down over many small ones.
    if frame.first_col_n_chunks() > MAX_CHUNKS {
        frame.rechunk_mut_par();
    }
    Ok(frame)
}

/// Chunks the tickets frame may have before it is copied into one.
const MAX_CHUNKS: usize = 4;

/// The model, shared with the ingest path, and the latest frames built from it.
#[derive(Debug)]
pub struct Live {
    pub model: Mutex<Model>,
    frames: RwLock<Arc<Frames>>,
}

impl Live {
    pub fn new(mut model: Model) -> PolarsResult<Arc<Self>> {
        let frames = Frames::build(&model)?;
        model.take_changed();
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

    /// Brings the frames up to date if the model changed since they were built; blocking.
    /// Only the tickets changed since the last refresh are built again, unless they are a
    /// quarter of all. Returns how long it took, if there was anything to do.
    pub fn refresh(&self) -> PolarsResult<Option<Duration>> {
        let previous = self.frames();
        let started = Instant::now();
        let frames = {
            let mut model = self
                .model
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if model.version() == previous.version {
                return Ok(None);
            }
            let changed = model.take_changed();
            let all = model.tickets();
            let tickets = if changed.len() * 4 > all.len() {
                rows_frame(all)?
            } else {
                let ids = changed.iter().map(|&i| all[i].id.to_string()).collect();
                let rows = rows_frame(changed.iter().map(|&i| &all[i]))?;
                replace_rows(&previous.tickets, &ids, rows)?
            };
            Frames::with_tickets(&model, tickets)?
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use sysops_contract::EventType;
    use uuid::Uuid;

    use super::*;
    use crate::model::Event;

    fn apply(live: &Live, event_type: EventType, id: Uuid, ms: i64, data: Value) {
        live.model.lock().expect("model").apply(&Event {
            event_type,
            ticket_id: Some(id),
            occurred_ms: ms,
            data: &data,
        });
    }

    fn by_id(frame: &DataFrame) -> DataFrame {
        frame
            .sort(["ticket_id"], SortMultipleOptions::default())
            .expect("sorted")
    }

    #[test]
    fn a_refresh_rebuilds_the_changed_tickets_and_agrees_with_a_full_build() {
        let ids: Vec<Uuid> = (0..40).map(|_| Uuid::new_v4()).collect();
        let live = Live::new(Model::default()).expect("frames");
        let created = || json!({"title": "t", "customer": "c", "priority": "high"});
        for (i, id) in ids.iter().enumerate() {
            apply(&live, EventType::TicketCreated, *id, i as i64, created());
        }
        // Every ticket is new: the whole frame is built.
        assert!(live.refresh().expect("refresh").is_some());
        assert_eq!(live.frames().tickets.height(), 40);

        // A few changed and a few new: only their rows are built again.
        let categorized = json!({"category": "printers", "confidence": 0.9, "method": "embedding", "needs_review": false});
        apply(
            &live,
            EventType::TicketCategorized,
            ids[0],
            100,
            categorized.clone(),
        );
        apply(
            &live,
            EventType::TicketCategorized,
            ids[5],
            101,
            categorized,
        );
        apply(
            &live,
            EventType::TicketAssigned,
            ids[7],
            102,
            json!({"pool": "printers", "expert_id": Uuid::new_v4(), "expert_name": "Ada"}),
        );
        let new = [Uuid::new_v4(), Uuid::new_v4()];
        for id in new {
            apply(&live, EventType::TicketCreated, id, 103, created());
        }
        assert!(live.refresh().expect("refresh").is_some());
        let frames = live.frames();
        let full = tickets_frame(&live.model.lock().expect("model")).expect("frame");
        assert_eq!(frames.tickets.height(), 42);
        assert!(by_id(&frames.tickets).equals_missing(&by_id(&full)));

        // Nothing changed since: nothing to do.
        assert!(live.refresh().expect("refresh").is_none());
    }
}

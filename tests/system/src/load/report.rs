//! What a run measured, and the table the command prints.

use std::time::Instant;

use serde::Serialize;

use super::follow::{Track, Tracks};
use super::usage::ProcessUsage;
use super::{Submission, CREATED};

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl Latency {
    fn of(mut samples: Vec<f64>) -> Self {
        samples.sort_by(f64::total_cmp);
        let at = |q: f64| {
            (!samples.is_empty())
                .then(|| samples[((samples.len() - 1) as f64 * q).round() as usize])
        };
        Latency {
            count: samples.len(),
            p50: at(0.5),
            p95: at(0.95),
            p99: at(0.99),
            max: samples.last().copied(),
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    /// Submissions attempted, accepted (201), refused (any other status) and failed (no answer).
    pub attempted: usize,
    pub accepted: usize,
    pub refused: usize,
    pub failed: usize,
    /// Accepted tickets seen categorized, and placed by routing: assigned to an expert,
    /// queued in a pool, or waiting for a person's review.
    pub categorized: usize,
    pub assigned: usize,
    pub queued: usize,
    pub needs_review: usize,
    /// Accepted tickets neither assigned, queued nor sent to review by the end.
    pub unplaced: usize,
    pub submit_seconds: f64,
    pub total_seconds: f64,
    /// Accepted tickets per second while submitting.
    pub accepted_per_second: f64,
    /// Placed tickets per second from the first submission to the last placement.
    pub placed_per_second: f64,
    /// `POST /api/tickets` round trip.
    pub submit_latency_ms: Latency,
    pub to_categorized_ms: Latency,
    pub to_assigned_ms: Latency,
    /// Tickets the simulated experts accepted and resolved (any assigned during the run).
    pub resolved: usize,
    pub processes: Vec<ProcessUsage>,
    /// Every submission, in the order sent (not in the JSON summary; see
    /// [`super::submissions_csv`]).
    #[serde(skip)]
    pub submissions: Vec<Submission>,
}

/// What [`build`] reads of a finished run.
pub(super) struct Run {
    pub started: Instant,
    pub attempted: usize,
    pub submissions: Vec<Submission>,
    pub tracks: Tracks,
    pub submit_seconds: f64,
    pub total_seconds: f64,
    pub resolved: usize,
    pub processes: Vec<ProcessUsage>,
}

pub(super) fn build(run: Run) -> anyhow::Result<LoadReport> {
    let started = run.started;
    let tracks = run.tracks.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
    let accepted: Vec<&Track> = tracks.values().filter(|t| t.sent.is_some()).collect();
    let mut to_categorized = Vec::new();
    let mut to_assigned = Vec::new();
    let (mut assigned, mut queued, mut review) = (0, 0, 0);
    let mut last_placed = started;
    for t in &accepted {
        let sent = t.sent.unwrap_or(started);
        let ms = |at: Instant| at.saturating_duration_since(sent).as_secs_f64() * 1000.0;
        if let Some(c) = t.categorized {
            to_categorized.push(ms(c));
        }
        if let Some((at, kind)) = t.placed {
            last_placed = last_placed.max(at);
            match kind {
                "assigned" => {
                    assigned += 1;
                    to_assigned.push(ms(at));
                }
                "queued" => queued += 1,
                _ => review += 1,
            }
        }
    }
    let placed = assigned + queued + review;
    let submissions = run.submissions;
    Ok(LoadReport {
        attempted: run.attempted,
        accepted: accepted.len(),
        refused: submissions
            .iter()
            .filter(|s| s.status.is_some_and(|c| c != CREATED))
            .count(),
        failed: submissions.iter().filter(|s| s.status.is_none()).count(),
        categorized: to_categorized.len(),
        assigned,
        queued,
        needs_review: review,
        unplaced: accepted.len() - placed,
        submit_seconds: run.submit_seconds,
        total_seconds: run.total_seconds,
        accepted_per_second: accepted.len() as f64 / run.submit_seconds.max(1e-9),
        placed_per_second: placed as f64
            / last_placed.duration_since(started).as_secs_f64().max(1e-9),
        submit_latency_ms: Latency::of(
            submissions
                .iter()
                .filter(|s| s.status == Some(CREATED))
                .map(|s| s.latency_ms)
                .collect(),
        ),
        to_categorized_ms: Latency::of(to_categorized),
        to_assigned_ms: Latency::of(to_assigned),
        resolved: run.resolved,
        processes: run.processes,
        submissions,
    })
}

/// The report as the table the command prints.
pub fn table(r: &LoadReport) -> String {
    let lat = |l: &Latency| {
        let f = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
        format!(
            "p50 {} / p95 {} / p99 {} / max {} ms (n={})",
            f(l.p50),
            f(l.p95),
            f(l.p99),
            f(l.max),
            l.count
        )
    };
    let mut s = format!(
        "tickets: {} sent, {} accepted, {} refused, {} failed\n\
         placed:  {} assigned, {} queued, {} waiting for review, {} not placed ({} categorized)\n\
         experts: {} tickets accepted and resolved by the simulated experts\n\
         rate:    {:.1} accepted/s over {:.1} s; {:.1} placed/s\n\
         submit (POST /api/tickets): {}\n\
         submit to categorized:      {}\n\
         submit to assigned:         {}\n",
        r.attempted,
        r.accepted,
        r.refused,
        r.failed,
        r.assigned,
        r.queued,
        r.needs_review,
        r.unplaced,
        r.categorized,
        r.resolved,
        r.accepted_per_second,
        r.submit_seconds,
        r.placed_per_second,
        lat(&r.submit_latency_ms),
        lat(&r.to_categorized_ms),
        lat(&r.to_assigned_ms),
    );
    for p in &r.processes {
        s.push_str(&format!(
            "process {:<12} pid {:<7} cpu {:>6.1} %  rss {:>7.1} MB  peak {:>7.1} MB\n",
            p.name, p.pid, p.cpu_percent, p.rss_mb, p.peak_rss_mb
        ));
    }
    s
}

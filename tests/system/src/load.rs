//! The load generator's engine: submits tickets through the gateway at a set rate (or as fast
//! as it can), follows each one on the bus until routing has placed it, and measures.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use uuid::Uuid;

use sysops_bus::Bus;

use crate::sample_ticket;

mod usage;
pub use usage::{memory_mb, ProcessUsage};
use usage::{usage, usage_snapshot};

/// What to send and how.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The gateway's base URL.
    pub gateway: String,
    /// Access token of a manager or admin: submits the tickets and, playing the experts,
    /// accepts and resolves them.
    pub token: String,
    /// Tickets per second; `None` as fast as `concurrency` allows.
    pub rate: Option<f64>,
    /// Stop after this many tickets...
    pub count: Option<usize>,
    /// ...or after this long, whichever comes first (at least one must be set).
    pub duration: Option<Duration>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long to wait, after the last submission, for tickets to be placed.
    pub settle: Duration,
    /// Draw a progress bar on stderr.
    pub progress: bool,
    /// Play the experts: accept every ticket assigned during the run and resolve it this long
    /// after, which frees capacity as real experts would. `None`: assignments stay open.
    pub work: Option<Duration>,
}

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
    /// Every submission, in the order sent (not in the JSON summary; see [`submissions_csv`]).
    #[serde(skip)]
    pub submissions: Vec<Submission>,
}

/// One `POST /api/tickets` of a run.
#[derive(Debug, Clone, Copy)]
pub struct Submission {
    /// Seconds from the start of the run to the request.
    pub sent_at: f64,
    /// Round trip in milliseconds.
    pub latency_ms: f64,
    /// The answer's status; `None` when there was no answer.
    pub status: Option<u16>,
}

/// The submissions as CSV (`sent_at_s,latency_ms,status`, status empty when there was no
/// answer), to see when in a run the slow answers came.
pub fn submissions_csv(submissions: &[Submission]) -> String {
    let mut csv = String::from("sent_at_s,latency_ms,status\n");
    for s in submissions {
        let status = s.status.map(|c| c.to_string()).unwrap_or_default();
        csv.push_str(&format!("{:.4},{:.3},{status}\n", s.sent_at, s.latency_ms));
    }
    csv
}

#[derive(Debug, Default)]
struct Track {
    sent: Option<Instant>,
    categorized: Option<Instant>,
    placed: Option<(Instant, &'static str)>,
}

type Tracks = Arc<Mutex<HashMap<Uuid, Track>>>;

/// The status of an accepted submission.
const CREATED: u16 = 201;

/// Runs the load; `bus` is on the system's exchange.
pub async fn run(bus: &Bus, options: &LoadOptions) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        options.count.is_some() || options.duration.is_some(),
        "give a count or a duration"
    );
    let tracks: Tracks = Arc::default();
    let events = bus
        .tap(&["ticket.categorized", "ticket.assigned", "ticket.queued"])
        .await?;
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", options.token).parse()?,
    );
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .default_headers(headers)
        .build()?;
    let resolved = Arc::new(Mutex::new(0usize));
    // Simulated experts at work right now.
    let busy = Arc::new(AtomicUsize::new(0));
    let follower = {
        let tracks = tracks.clone();
        let (http, gateway, work, resolved, busy) = (
            http.clone(),
            options.gateway.clone(),
            options.work,
            resolved.clone(),
            busy.clone(),
        );
        tokio::spawn(async move {
            let mut events = std::pin::pin!(events);
            while let Some(e) = events.next().await {
                let now = Instant::now();
                let Some(id) = e.ticket_id else { continue };
                let Ok(mut tracks) = tracks.lock() else {
                    return;
                };
                let t = tracks.entry(id).or_default();
                match e.event_type.routing_key() {
                    "ticket.categorized" => {
                        t.categorized.get_or_insert(now);
                        if e.data["needs_review"] == true {
                            t.placed.get_or_insert((now, "needs_review"));
                        }
                    }
                    "ticket.assigned" => {
                        if !matches!(t.placed, Some((_, "assigned"))) {
                            t.placed = Some((now, "assigned"));
                        }
                        if let Some(work) = work {
                            let (http, gateway, resolved, busy) = (
                                http.clone(),
                                gateway.clone(),
                                resolved.clone(),
                                busy.clone(),
                            );
                            busy.fetch_add(1, Ordering::SeqCst);
                            tokio::spawn(async move {
                                if play_expert(&http, &gateway, id, work).await {
                                    *resolved.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                                }
                                busy.fetch_sub(1, Ordering::SeqCst);
                            });
                        }
                    }
                    _ => {
                        t.placed.get_or_insert((now, "queued"));
                    }
                }
            }
        })
    };

    let before = usage_snapshot();
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let started = Instant::now();
    let mut attempted = 0;
    let mut requests = Vec::new();
    let mut last_draw = Instant::now();
    loop {
        if options.count.is_some_and(|c| attempted >= c)
            || options.duration.is_some_and(|d| started.elapsed() >= d)
        {
            break;
        }
        if let Some(rate) = options.rate {
            let due = started + Duration::from_secs_f64(attempted as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
        let permit = slots.clone().acquire_owned().await?;
        let (title, description) = sample_ticket(attempted);
        let (http, url) = (http.clone(), format!("{}/api/tickets", options.gateway));
        let shared = tracks.clone();
        requests.push(tokio::spawn(async move {
            let sent = Instant::now();
            let answer = http
                .post(url)
                .json(&json!({"title": title, "description": description}))
                .send()
                .await;
            let submission = Submission {
                sent_at: sent.duration_since(started).as_secs_f64(),
                latency_ms: sent.elapsed().as_secs_f64() * 1000.0,
                status: answer.as_ref().ok().map(|r| r.status().as_u16()),
            };
            if let Some(r) = answer.ok().filter(|r| r.status().as_u16() == CREATED) {
                let body: Value = r.json().await.unwrap_or_default();
                if let Some(id) = body["id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) {
                    if let Ok(mut t) = shared.lock() {
                        t.entry(id).or_default().sent = Some(sent);
                    }
                }
            }
            drop(permit);
            submission
        }));
        attempted += 1;
        if options.progress && last_draw.elapsed() > Duration::from_millis(250) {
            draw(options, attempted, &tracks, started);
            last_draw = Instant::now();
        }
    }
    let mut submissions = Vec::with_capacity(requests.len());
    for r in requests {
        if let Ok(submission) = r.await {
            submissions.push(submission);
        }
    }
    submissions.sort_by(|a, b| a.sent_at.total_cmp(&b.sent_at));
    let submit_seconds = started.elapsed().as_secs_f64();

    let deadline = Instant::now() + options.settle;
    loop {
        let (accepted, placed) = counts(&tracks);
        if options.progress {
            draw(options, attempted, &tracks, started);
        }
        // With simulated experts, also until they are done: each resolution frees capacity,
        // and routing then assigns waiting tickets.
        let idle = busy.load(Ordering::SeqCst) == 0;
        if (placed >= accepted && idle) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if options.progress {
        eprintln!();
    }
    follower.abort();
    let total_seconds = started.elapsed().as_secs_f64();
    let after = usage_snapshot();

    let tracks = tracks.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
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
    let processes = usage(&before, &after, total_seconds);
    let report = LoadReport {
        attempted,
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
        submit_seconds,
        total_seconds,
        accepted_per_second: accepted.len() as f64 / submit_seconds.max(1e-9),
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
        resolved: *resolved.lock().unwrap_or_else(|e| e.into_inner()),
        processes,
        submissions,
    };
    Ok(report)
}

/// Accepts ticket `id`, works on it for `work`, resolves it. The tickets service learns of the
/// assignment from the bus too, so a move it does not allow yet (409) is tried again for a
/// while. Whether the ticket was resolved.
pub async fn play_expert(http: &reqwest::Client, gateway: &str, id: Uuid, work: Duration) -> bool {
    async fn step(http: &reqwest::Client, gateway: &str, id: Uuid, action: &str) -> bool {
        for _ in 0..100 {
            let answer = http
                .post(format!("{gateway}/api/tickets/{id}/{action}"))
                .send()
                .await;
            match answer.map(|r| r.status()) {
                Ok(s) if s.is_success() => return true,
                Ok(s) if s == reqwest::StatusCode::CONFLICT => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                _ => return false,
            }
        }
        false
    }
    if !step(http, gateway, id, "accept").await {
        return false;
    }
    tokio::time::sleep(work).await;
    step(http, gateway, id, "resolve").await
}

fn counts(tracks: &Tracks) -> (usize, usize) {
    let Ok(t) = tracks.lock() else { return (0, 0) };
    let accepted = t.values().filter(|t| t.sent.is_some()).count();
    let placed = t
        .values()
        .filter(|t| t.sent.is_some() && t.placed.is_some())
        .count();
    (accepted, placed)
}

fn draw(options: &LoadOptions, attempted: usize, tracks: &Tracks, started: Instant) {
    let (accepted, placed) = counts(tracks);
    let target = options.count.unwrap_or(attempted.max(1));
    let width = 30;
    let done = (placed * width / target.max(1)).min(width);
    eprint!(
        "\r[{}{}] sent {attempted}/{target}  accepted {accepted}  placed {placed}  {:.1} s ",
        "#".repeat(done),
        "-".repeat(width - done),
        started.elapsed().as_secs_f64()
    );
    let _ = std::io::stderr().flush();
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

//! The load generator's engine: submits tickets through the gateway at a set rate (or as fast
//! as it can), follows each one on the bus until routing has placed it, and measures.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::Semaphore;
use uuid::Uuid;

use sysops_bus::Bus;

use crate::sample_ticket;

mod follow;
mod report;
mod usage;

pub use follow::play_expert;
use follow::{counts, draw, follow, Experts, Tracks, FOLLOWED};
pub use report::{table, Latency, LoadReport};
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

/// The status of an accepted submission.
const CREATED: u16 = 201;

/// Runs the load; `bus` is on the system's exchange.
pub async fn run(bus: &Bus, options: &LoadOptions) -> anyhow::Result<LoadReport> {
    anyhow::ensure!(
        options.count.is_some() || options.duration.is_some(),
        "give a count or a duration"
    );
    let tracks = Tracks::default();
    let events = bus.tap(&FOLLOWED).await?;
    let http = client(options)?;
    let experts = options
        .work
        .map(|work| Experts::new(http.clone(), options.gateway.clone(), work));
    let follower = follow(events, tracks.clone(), experts.clone());

    let before = usage_snapshot();
    let started = Instant::now();
    let (attempted, submissions) = submit(&http, options, &tracks, started).await?;
    let submit_seconds = started.elapsed().as_secs_f64();
    settle(options, attempted, &tracks, experts.as_ref(), started).await;
    follower.abort();
    let total_seconds = started.elapsed().as_secs_f64();
    let after = usage_snapshot();

    report::build(report::Run {
        started,
        attempted,
        submissions,
        tracks,
        submit_seconds,
        total_seconds,
        resolved: experts.as_ref().map_or(0, Experts::resolved),
        processes: usage(&before, &after, total_seconds),
    })
}

/// An HTTP client that sends the run's access token with every request.
fn client(options: &LoadOptions) -> anyhow::Result<reqwest::Client> {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {}", options.token).parse()?,
    );
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(options.concurrency)
        .default_headers(headers)
        .build()?)
}

/// Submits tickets at the set rate, at most `concurrency` at once, until the count or the time
/// is reached; how many were attempted, and every submission in the order sent.
async fn submit(
    http: &reqwest::Client,
    options: &LoadOptions,
    tracks: &Tracks,
    started: Instant,
) -> anyhow::Result<(usize, Vec<Submission>)> {
    let slots = Arc::new(Semaphore::new(options.concurrency.max(1)));
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
            draw(options, attempted, tracks, started);
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
    Ok((attempted, submissions))
}

/// Waits until every accepted ticket is placed and the simulated experts are done (each
/// resolution frees capacity, and routing then assigns waiting tickets), or `settle` has passed.
async fn settle(
    options: &LoadOptions,
    attempted: usize,
    tracks: &Tracks,
    experts: Option<&Experts>,
    started: Instant,
) {
    let deadline = Instant::now() + options.settle;
    loop {
        let (accepted, placed) = counts(tracks);
        if options.progress {
            draw(options, attempted, tracks, started);
        }
        let idle = experts.is_none_or(Experts::idle);
        if (placed >= accepted && idle) || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if options.progress {
        eprintln!();
    }
}

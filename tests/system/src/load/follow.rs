//! Following the submitted tickets on the bus, and the simulated experts who work on them.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use tokio::task::JoinHandle;
use uuid::Uuid;

use sysops_contract::RawEnvelope;

use super::LoadOptions;

/// What was seen of one ticket, and when.
#[derive(Debug, Default)]
pub(super) struct Track {
    pub sent: Option<Instant>,
    pub categorized: Option<Instant>,
    pub placed: Option<(Instant, &'static str)>,
}

pub(super) type Tracks = Arc<Mutex<HashMap<Uuid, Track>>>;

/// The routing keys [`follow`] reads.
pub(super) const FOLLOWED: [&str; 3] = ["ticket.categorized", "ticket.assigned", "ticket.queued"];

/// Records when each ticket is categorized and placed, and hands each assignment to `experts`.
pub(super) fn follow(
    events: impl Stream<Item = RawEnvelope> + Send + 'static,
    tracks: Tracks,
    experts: Option<Experts>,
) -> JoinHandle<()> {
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
                    if let Some(experts) = &experts {
                        experts.take(id);
                    }
                }
                _ => {
                    t.placed.get_or_insert((now, "queued"));
                }
            }
        }
    })
}

/// The simulated experts: each assigned ticket is accepted, worked on for a while and resolved,
/// which frees capacity as real experts would.
#[derive(Clone)]
pub(super) struct Experts {
    http: reqwest::Client,
    gateway: String,
    work: Duration,
    /// Tickets accepted and resolved.
    resolved: Arc<AtomicUsize>,
    /// Tickets being worked on now.
    busy: Arc<AtomicUsize>,
}

impl Experts {
    pub fn new(http: reqwest::Client, gateway: String, work: Duration) -> Self {
        Experts {
            http,
            gateway,
            work,
            resolved: Arc::default(),
            busy: Arc::default(),
        }
    }

    fn take(&self, id: Uuid) {
        let me = self.clone();
        self.busy.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            if play_expert(&me.http, &me.gateway, id, me.work).await {
                me.resolved.fetch_add(1, Ordering::SeqCst);
            }
            me.busy.fetch_sub(1, Ordering::SeqCst);
        });
    }

    pub fn idle(&self) -> bool {
        self.busy.load(Ordering::SeqCst) == 0
    }

    pub fn resolved(&self) -> usize {
        self.resolved.load(Ordering::SeqCst)
    }
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

/// Tickets accepted, and of those, placed.
pub(super) fn counts(tracks: &Tracks) -> (usize, usize) {
    let Ok(t) = tracks.lock() else { return (0, 0) };
    let accepted = t.values().filter(|t| t.sent.is_some()).count();
    let placed = t
        .values()
        .filter(|t| t.sent.is_some() && t.placed.is_some())
        .count();
    (accepted, placed)
}

/// Draws the progress bar on stderr.
pub(super) fn draw(options: &LoadOptions, attempted: usize, tracks: &Tracks, started: Instant) {
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

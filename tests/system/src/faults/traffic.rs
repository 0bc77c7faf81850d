//! The load the suite puts on the system: customers submitting tickets through the gateway, and
//! experts accepting and resolving what they are assigned.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::load::play_expert;
use crate::sample_ticket;

/// What submitting gave.
#[derive(Debug, Default)]
pub(super) struct Sent {
    pub(super) accepted: Vec<(Uuid, DateTime<Utc>)>,
    pub(super) refused: Vec<DateTime<Utc>>,
}

/// Submits tickets at `rate` per second for `load`, at most 32 in flight.
pub(super) async fn submit(
    http: reqwest::Client,
    gateway: String,
    rate: f64,
    load: Duration,
) -> Sent {
    let sent = Arc::new(Mutex::new(Sent::default()));
    let slots = Arc::new(Semaphore::new(32));
    let start = tokio::time::Instant::now();
    let mut requests = Vec::new();
    for i in 0usize.. {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due.duration_since(start) >= load {
            break;
        }
        tokio::time::sleep_until(due).await;
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let (http, url, sent) = (http.clone(), format!("{gateway}/api/tickets"), sent.clone());
        requests.push(tokio::spawn(async move {
            let (title, description) = sample_ticket(i);
            let at = Utc::now();
            let answer = http
                .post(url)
                .timeout(Duration::from_secs(10))
                .json(&json!({"title": title, "description": description}))
                .send()
                .await;
            let id = match answer {
                Ok(r) if r.status() == reqwest::StatusCode::CREATED => r
                    .json::<serde_json::Value>()
                    .await
                    .ok()
                    .and_then(|b| b["id"].as_str()?.parse::<Uuid>().ok()),
                _ => None,
            };
            let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
            match id {
                Some(id) => sent.accepted.push((id, at)),
                None => sent.refused.push(at),
            }
            drop(permit);
        }));
    }
    for r in requests {
        let _ = r.await;
    }
    let mut sent = sent.lock().unwrap_or_else(PoisonError::into_inner);
    std::mem::take(&mut *sent)
}

/// Plays the experts: accepts every open assignment and resolves it after `work`, as the
/// experts of the demo roster would, so their capacity frees and assignment goes on.
pub(super) async fn simulated_experts(db: PgPool, gateway: String, work: Duration) {
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    let busy: Arc<Mutex<HashSet<i64>>> = Arc::default();
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let Ok(open) = sqlx::query_as::<_, (i64, Uuid)>(
            "SELECT id, ticket_id FROM routing.assignments WHERE status = 'assigned'",
        )
        .fetch_all(&db)
        .await
        else {
            continue;
        };
        for (assignment, ticket) in open {
            if !busy
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(assignment)
            {
                continue;
            }
            let (http, gateway, busy) = (http.clone(), gateway.clone(), busy.clone());
            tokio::spawn(async move {
                let done = play_expert(&http, &gateway, ticket, work).await;
                if !done {
                    // Tried again at the next look, if the assignment is still open.
                    busy.lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&assignment);
                }
            });
        }
    }
}

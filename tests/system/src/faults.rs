//! The fault suite: runs the whole system as real processes on a database and topology of its
//! own, puts it under a steady load of tickets, injects one fault per scenario, and checks in
//! the services' databases what became of every ticket the gateway accepted.
//!
//! Each scenario gives one [`Row`]: tickets accepted, assigned, lost (accepted but not stored,
//! or never placed by routing), assigned twice (two assignments of one ticket open at the same
//! time, or more `ticket.assigned` events in a ticket's history than routing made
//! assignments), and the time to recover: from the fault until the last refused submission or
//! the last ticket whose placement it delayed (slower than max(1 s, 3 x the p99 before the
//! fault)), whichever is later.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use tokio::process::Command;
use tokio::sync::Semaphore;
use uuid::Uuid;

use sysops_bus::WorkQueue;
use sysops_testkit::llm::{Behaviour, StandIn};
use sysops_testkit::{ServiceProcess, Stack};

use crate::load::play_expert;
use crate::sample_ticket;

/// A process of the system that a scenario kills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Gateway,
    Tickets,
    Categorizer,
    Routing,
    Analytics,
}

/// What a scenario does to the system while the load runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing: the reference row.
    None,
    /// SIGKILL, down for the downtime, started again on the same address.
    Kill(Service),
    /// The RabbitMQ node stopped and, after the downtime, started again.
    RestartRabbitMq,
    /// PostgreSQL stopped (fast shutdown: connections cut) and started again.
    RestartPostgres,
    /// The LLM behaves this way for half the load (the categorizer then uses the LLM).
    Llm(LlmFault),
    /// Malformed messages on every work queue's routing keys, malformed requests at the gateway.
    MalformedFlood,
    /// A second categorizer replica started, and stopped (SIGTERM) a few seconds later.
    ScaleCategorizer,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmFault {
    /// Answers after 3 s, beyond the categorizer's 1 s timeout.
    Slow,
    /// 500 Internal Server Error to every request.
    ServerError,
    /// 429 Too Many Requests to every request.
    RateLimited,
    /// 200 with a body that is not valid JSON.
    Garbage,
}

impl Fault {
    /// Every scenario, in the order the suite runs them.
    pub const ALL: [Fault; 14] = [
        Fault::None,
        Fault::Kill(Service::Gateway),
        Fault::Kill(Service::Tickets),
        Fault::Kill(Service::Categorizer),
        Fault::Kill(Service::Routing),
        Fault::Kill(Service::Analytics),
        Fault::ScaleCategorizer,
        Fault::MalformedFlood,
        Fault::Llm(LlmFault::Slow),
        Fault::Llm(LlmFault::ServerError),
        Fault::Llm(LlmFault::RateLimited),
        Fault::Llm(LlmFault::Garbage),
        Fault::RestartRabbitMq,
        Fault::RestartPostgres,
    ];

    /// The scenario's name on the command line and in the table.
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Kill(Service::Gateway) => "kill-gateway",
            Fault::Kill(Service::Tickets) => "kill-tickets",
            Fault::Kill(Service::Categorizer) => "kill-categorizer",
            Fault::Kill(Service::Routing) => "kill-routing",
            Fault::Kill(Service::Analytics) => "kill-analytics",
            Fault::RestartRabbitMq => "restart-rabbitmq",
            Fault::RestartPostgres => "restart-postgres",
            Fault::Llm(LlmFault::Slow) => "llm-slow",
            Fault::Llm(LlmFault::ServerError) => "llm-500",
            Fault::Llm(LlmFault::RateLimited) => "llm-429",
            Fault::Llm(LlmFault::Garbage) => "llm-garbage",
            Fault::MalformedFlood => "malformed-flood",
            Fault::ScaleCategorizer => "scale-categorizer",
        }
    }

    pub fn by_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// How hard and how long.
#[derive(Debug, Clone)]
pub struct FaultOptions {
    /// Tickets per second submitted through the gateway during each scenario.
    pub rate: f64,
    /// How long each scenario submits.
    pub load: Duration,
    /// When, after the scenario's first submission, the fault strikes.
    pub fault_at: Duration,
    /// How long a killed or stopped process stays down.
    pub downtime: Duration,
    /// Longest wait, after the last submission, for every accepted ticket to be placed.
    pub settle: Duration,
    /// Simulated experts accept each assignment and resolve it after this long.
    pub work: Duration,
}

impl Default for FaultOptions {
    fn default() -> Self {
        FaultOptions {
            rate: 20.0,
            load: Duration::from_secs(20),
            fault_at: Duration::from_secs(5),
            downtime: Duration::from_secs(3),
            settle: Duration::from_secs(90),
            work: Duration::from_millis(500),
        }
    }
}

/// What one scenario measured.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub scenario: &'static str,
    /// Submissions answered 201.
    pub accepted: usize,
    /// Submissions answered otherwise or not at all (the client would try again).
    pub refused: usize,
    /// Accepted tickets routing assigned to an expert at least once.
    pub assigned: usize,
    /// Accepted tickets routing placed (assigned, queued in a pool, or sent to review).
    pub placed: usize,
    pub lost: usize,
    pub assigned_twice: usize,
    /// Seconds from the fault until the system was back to normal; `None` when tickets were
    /// lost.
    pub recovery_seconds: Option<f64>,
    /// What else the scenario observed.
    pub note: String,
}

impl Row {
    /// The suite's promise: nothing lost, nothing assigned twice.
    pub fn holds(&self) -> bool {
        self.lost == 0 && self.assigned_twice == 0
    }
}

/// The system under test and what the suite runs beside it.
pub struct Suite {
    stack: Stack,
    options: FaultOptions,
    llm: StandIn,
    categories: Vec<String>,
    llm_on: bool,
    db: PgPool,
    experts: tokio::task::JoinHandle<()>,
}

impl Suite {
    /// Starts the stack (with the demo roster of experts) and the simulated experts.
    pub async fn start(options: FaultOptions) -> anyhow::Result<Self> {
        let roster = sysops_platform::repo::path_string("services/routing/seed/experts.toml");
        let taxonomy =
            sysops_taxonomy::Taxonomy::load(sysops_platform::repo::path("models/taxonomy.toml"))?;
        let categories: Vec<String> = taxonomy.categories().iter().map(|c| c.id.clone()).collect();
        let llm = StandIn::start(Behaviour::Cycle(categories.clone())).await?;
        let stack = Stack::start_with(&[("EXPERTS_SEED_PATH".into(), roster)]).await?;
        let db = stack.env.pool("public").await;
        let experts = tokio::spawn(simulated_experts(
            db.clone(),
            stack.gateway.url(),
            options.work,
        ));
        Ok(Suite {
            stack,
            options,
            llm,
            categories,
            llm_on: false,
            db,
            experts,
        })
    }

    /// Runs one scenario and measures it.
    pub async fn run(&mut self, fault: Fault) -> anyhow::Result<Row> {
        self.use_llm(matches!(fault, Fault::Llm(_))).await?;
        let submitter = tokio::spawn(submit(
            self.stack.http.clone(),
            self.stack.gateway.url(),
            self.options.rate,
            self.options.load,
        ));
        tokio::time::sleep(self.options.fault_at).await;
        let fault_at = Utc::now();
        let note = self.inject(fault).await?;
        let sent = submitter.await?;
        let ids: Vec<Uuid> = sent.accepted.iter().map(|(id, _)| *id).collect();

        let deadline = tokio::time::Instant::now() + self.options.settle;
        let mut fates: Vec<Fate> = ids.iter().map(|&id| Fate::unknown(id)).collect();
        loop {
            // The database may be on its way back: the last reading stands until it answers.
            if let Some(now) = read_fates(&self.db, &ids).await {
                fates = now;
            }
            if fates.iter().all(Fate::settled) || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let twice = assigned_twice(&self.db, &ids).await?;
        let assigned: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT ticket_id) FROM routing.assignments WHERE ticket_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_one(&self.db)
        .await?;

        let sent_at: HashMap<Uuid, DateTime<Utc>> = sent.accepted.iter().copied().collect();
        let lost = fates.iter().filter(|f| !f.settled()).count();
        let latencies: Vec<(DateTime<Utc>, f64, DateTime<Utc>)> = fates
            .iter()
            .filter_map(|f| {
                let (sent, placed) = (*sent_at.get(&f.id)?, f.placed_at?);
                Some((
                    sent,
                    (placed - sent).num_milliseconds() as f64 / 1000.0,
                    placed,
                ))
            })
            .collect();
        let recovery = (lost == 0).then(|| recovery(fault_at, &latencies, &sent.refused));
        Ok(Row {
            scenario: fault.name(),
            accepted: ids.len(),
            refused: sent.refused.len(),
            assigned: usize::try_from(assigned).unwrap_or(0),
            placed: fates.iter().filter(|f| f.placed_at.is_some()).count(),
            lost,
            assigned_twice: twice,
            recovery_seconds: recovery,
            note,
        })
    }

    /// Stops the simulated experts and the stack, and deletes its database and topology.
    pub async fn shutdown(self) {
        self.experts.abort();
        self.db.close().await;
        self.stack.shutdown().await;
    }

    /// Restarts the categorizer with or without the LLM stand-in, when that changes.
    async fn use_llm(&mut self, on: bool) -> anyhow::Result<()> {
        if on == self.llm_on {
            return Ok(());
        }
        let c = &mut self.stack.categorizer;
        let settings = [
            ("LLM_BASE_URL", self.llm.url()),
            ("LLM_MODEL", "stand-in"),
            ("LLM_API_KEY", "sk-fault-suite"),
            ("LLM_TIMEOUT_MS", "1000"),
            ("LLM_BREAKER_COOLDOWN_SECS", "5"),
        ];
        for (key, value) in settings {
            if on {
                c.set_env(key, value);
            } else {
                c.remove_env(key);
            }
        }
        c.terminate().await?;
        c.revive().await?;
        self.llm_on = on;
        Ok(())
    }

    /// Does the fault; returns a note on what it observed.
    async fn inject(&mut self, fault: Fault) -> anyhow::Result<String> {
        let down = self.options.downtime;
        let started = tokio::time::Instant::now();
        let note = match fault {
            Fault::None => String::new(),
            Fault::Kill(service) => {
                let p = self.process(service);
                p.kill().await;
                tokio::time::sleep(down).await;
                p.revive().await?;
                format!(
                    "down {:.1} s, back in {:.1} s",
                    down.as_secs_f64(),
                    started.elapsed().as_secs_f64()
                )
            }
            Fault::RestartRabbitMq => {
                run("rabbitmqctl", &["-q", "stop"]).await?;
                tokio::time::sleep(down).await;
                deps_up().await?;
                format!("broker back in {:.1} s", started.elapsed().as_secs_f64())
            }
            Fault::RestartPostgres => {
                let cluster = run(
                    "sh",
                    &[
                        "-c",
                        "pg_lsclusters --no-header | awk '{print $1, $2}' | sort -V | tail -n 1",
                    ],
                )
                .await?;
                let mut args: Vec<&str> = cluster.split_whitespace().collect();
                args.extend(["stop", "-m", "fast"]);
                run("pg_ctlcluster", &args).await?;
                tokio::time::sleep(down).await;
                deps_up().await?;
                format!("database back in {:.1} s", started.elapsed().as_secs_f64())
            }
            Fault::Llm(kind) => {
                let calls = self.llm.calls();
                self.llm.set(match kind {
                    LlmFault::Slow => Behaviour::Slow(Duration::from_secs(3)),
                    LlmFault::ServerError => Behaviour::AlwaysFail(500),
                    LlmFault::RateLimited => Behaviour::AlwaysFail(429),
                    LlmFault::Garbage => Behaviour::MalformedBody,
                });
                tokio::time::sleep(self.options.load / 2).await;
                self.llm.set(Behaviour::Cycle(self.categories.clone()));
                format!(
                    "{} LLM requests while failing",
                    self.llm.calls().saturating_sub(calls)
                )
            }
            Fault::MalformedFlood => self.flood().await?,
            Fault::ScaleCategorizer => {
                let env = self.stack.env.service_env();
                let mut extra = ServiceProcess::start("categorizer", &env).await?;
                tokio::time::sleep(self.options.load / 3).await;
                let status = extra.terminate().await?;
                format!(
                    "second replica ran {:.1} s, exit code {}",
                    started.elapsed().as_secs_f64(),
                    status.code().map_or("none".into(), |c| c.to_string())
                )
            }
        };
        Ok(note)
    }

    fn process(&mut self, service: Service) -> &mut ServiceProcess {
        match service {
            Service::Gateway => &mut self.stack.gateway,
            Service::Tickets => &mut self.stack.tickets,
            Service::Categorizer => &mut self.stack.categorizer,
            Service::Routing => &mut self.stack.routing,
            Service::Analytics => &mut self.stack.analytics,
        }
    }

    /// 1,000 malformed messages on the routing keys the work queues consume and 200 malformed
    /// requests at the gateway.
    async fn flood(&self) -> anyhow::Result<String> {
        let bus = self.stack.env.bus();
        let keys = [
            "ticket.created",
            "ticket.categorized",
            "ticket.assigned",
            "ticket.rejected",
            "ticket.resolved",
        ];
        let dead_before = dead_letters(&bus).await;
        for i in 0..1000usize {
            let body = match i % 3 {
                0 => b"{ not an event".to_vec(),
                1 => json!({"id": Uuid::now_v7(), "type": keys[i % keys.len()], "version": 1,
                    "occurred_at": "2026-11-24T10:00:00Z", "ticket_id": Uuid::now_v7(), "data": {"title": 7}})
                .to_string()
                .into_bytes(),
                _ => json!({"hello": "world", "n": i}).to_string().into_bytes(),
            };
            bus.publish_raw(keys[i % keys.len()], &body).await?;
        }
        let bad_bodies = [
            "{\"title\": ",
            "{\"description\": \"no title\"}",
            "{\"title\": \"\", \"description\": \"\"}",
            "[1, 2, 3]",
        ];
        let (mut client_errors, mut server_errors) = (0, 0);
        for i in 0..200 {
            let answer = self
                .stack
                .http
                .post(format!("{}/api/tickets", self.stack.gateway.url()))
                .header("content-type", "application/json")
                .body(bad_bodies[i % bad_bodies.len()])
                .send()
                .await?;
            match answer.status().as_u16() {
                400..=499 => client_errors += 1,
                _ => server_errors += 1,
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        let dead = dead_letters(&bus).await.saturating_sub(dead_before);
        bus.close().await;
        Ok(format!(
            "1000 bad messages ({dead} copies dead-lettered by the consumers), 200 bad requests ({client_errors} x 4xx, {server_errors} other)"
        ))
    }
}

/// Messages waiting in the dead-letter queues of every work queue.
async fn dead_letters(bus: &sysops_bus::Bus) -> u32 {
    let mut total = 0;
    for q in WorkQueue::ALL {
        total += bus.queue_depth(&q.dead_letter_name()).await.unwrap_or(0);
    }
    total
}

/// Runs a command; its standard output, or an error with its standard error.
async fn run(program: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .await?;
    anyhow::ensure!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Starts PostgreSQL and RabbitMQ again with the project's script.
async fn deps_up() -> anyhow::Result<()> {
    let script = sysops_platform::repo::path_string("scripts/deps.sh");
    run("bash", &[&script, "up"]).await.map(|_| ())
}

/// What submitting gave.
#[derive(Debug, Default)]
struct Sent {
    accepted: Vec<(Uuid, DateTime<Utc>)>,
    refused: Vec<DateTime<Utc>>,
}

/// Submits tickets at `rate` per second for `load`, at most 32 in flight.
async fn submit(http: reqwest::Client, gateway: String, rate: f64, load: Duration) -> Sent {
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

/// What became of one accepted ticket.
#[derive(Debug, Clone)]
struct Fate {
    id: Uuid,
    stored: bool,
    placed_at: Option<DateTime<Utc>>,
}

impl Fate {
    fn unknown(id: Uuid) -> Self {
        Fate {
            id,
            stored: false,
            placed_at: None,
        }
    }

    fn settled(&self) -> bool {
        self.stored && self.placed_at.is_some()
    }
}

/// Reads each ticket's fate: stored by the tickets service, and when routing first placed it.
/// `None` when the database does not answer.
async fn read_fates(db: &PgPool, ids: &[Uuid]) -> Option<Vec<Fate>> {
    let rows: Vec<(Uuid, bool, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT i.id, t.id IS NOT NULL, \
                CASE WHEN r.status IS NULL OR r.status = 'new' THEN NULL \
                     ELSE coalesce((SELECT min(d.decided_at) FROM routing.decisions d \
                                    WHERE d.ticket_id = i.id), r.updated_at) END \
         FROM unnest($1::uuid[]) AS i (id) \
         LEFT JOIN tickets.tickets t ON t.id = i.id \
         LEFT JOIN routing.routes r ON r.ticket_id = i.id",
    )
    .bind(ids)
    .fetch_all(db)
    .await
    .ok()?;
    let fates = rows
        .into_iter()
        .map(|(id, stored, placed_at)| Fate {
            id,
            stored,
            placed_at,
        })
        .collect();
    Some(fates)
}

/// Tickets with two assignments open at the same time, or with more `ticket.assigned` events
/// in their history than routing made assignments.
async fn assigned_twice(db: &PgPool, ids: &[Uuid]) -> anyhow::Result<usize> {
    let overlapping: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT a.ticket_id FROM routing.assignments a \
         JOIN routing.assignments b ON b.ticket_id = a.ticket_id AND b.id > a.id \
              AND b.assigned_at < coalesce(a.ended_at, 'infinity') \
         WHERE a.ticket_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let duplicated: Vec<Uuid> = sqlx::query_scalar(
        "SELECT e.ticket_id FROM tickets.ticket_events e \
         WHERE e.ticket_id = ANY($1) AND e.event_type = 'ticket.assigned' \
         GROUP BY e.ticket_id \
         HAVING count(*) > (SELECT count(*) FROM routing.assignments a WHERE a.ticket_id = e.ticket_id)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let all: HashSet<Uuid> = overlapping.into_iter().chain(duplicated).collect();
    Ok(all.len())
}

/// Seconds from the fault until the last refused submission after it or the last placement
/// it delayed. `latencies`: (sent, seconds to placement, placed) of each placed ticket.
fn recovery(
    fault_at: DateTime<Utc>,
    latencies: &[(DateTime<Utc>, f64, DateTime<Utc>)],
    refused: &[DateTime<Utc>],
) -> f64 {
    let mut before: Vec<f64> = latencies
        .iter()
        .filter(|(sent, _, _)| *sent < fault_at)
        .map(|l| l.1)
        .collect();
    before.sort_by(f64::total_cmp);
    let normal = before
        .get(((before.len() as f64 - 1.0) * 0.99).round().max(0.0) as usize)
        .copied()
        .unwrap_or(0.0);
    let slow = (3.0 * normal).max(1.0);
    latencies
        .iter()
        .filter(|l| l.1 > slow)
        .map(|l| l.2)
        .chain(refused.iter().copied().filter(|at| *at >= fault_at))
        .map(|at| (at - fault_at).num_milliseconds() as f64 / 1000.0)
        .fold(0.0, f64::max)
}

/// Plays the experts: accepts every open assignment and resolves it after `work`, as the
/// experts of the demo roster would, so their capacity frees and assignment goes on.
async fn simulated_experts(db: PgPool, gateway: String, work: Duration) {
    let http = reqwest::Client::new();
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

/// The rows as the table the command prints.
pub fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<18} {:>8} {:>7} {:>8} {:>6} {:>4} {:>14} {:>9}  note\n",
        "scenario",
        "accepted",
        "refused",
        "assigned",
        "placed",
        "lost",
        "assigned-twice",
        "recovery"
    );
    for r in rows {
        let recovery = r
            .recovery_seconds
            .map_or("never".to_owned(), |s| format!("{s:.1} s"));
        s.push_str(&format!(
            "{:<18} {:>8} {:>7} {:>8} {:>6} {:>4} {:>14} {:>9}  {}\n",
            r.scenario,
            r.accepted,
            r.refused,
            r.assigned,
            r.placed,
            r.lost,
            r.assigned_twice,
            recovery,
            r.note
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_runs_to_the_last_slow_placement_or_refusal() {
        let t0 = Utc::now();
        let at = |s: f64| t0 + chrono::Duration::milliseconds((s * 1000.0) as i64);
        let fault = at(5.0);
        // Before the fault placements take 0.1 s; one sent at 6 s waits until 12 s.
        let latencies = vec![
            (at(1.0), 0.1, at(1.1)),
            (at(2.0), 0.1, at(2.1)),
            (at(6.0), 6.0, at(12.0)),
            (at(7.0), 0.2, at(7.2)),
        ];
        assert!((recovery(fault, &latencies, &[]) - 7.0).abs() < 1e-6);
        // A refusal at 14 s is later still; one before the fault does not count.
        assert!((recovery(fault, &latencies, &[at(14.0), at(4.0)]) - 9.0).abs() < 1e-6);
        // Nothing slow, nothing refused: no time to recover.
        assert_eq!(recovery(fault, &latencies[..2], &[]), 0.0);
    }

    #[test]
    fn every_scenario_has_a_unique_name() {
        let names: HashSet<&str> = Fault::ALL.iter().map(|f| f.name()).collect();
        assert_eq!(names.len(), Fault::ALL.len());
        assert_eq!(
            Fault::by_name("kill-routing"),
            Some(Fault::Kill(Service::Routing))
        );
        assert_eq!(Fault::by_name("nope"), None);
    }
}

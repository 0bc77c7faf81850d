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

use std::collections::HashMap;
use std::process::Stdio;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::PgPool;
use tokio::process::Command;
use uuid::Uuid;

use sysops_bus::WorkQueue;
use sysops_testkit::llm::{Behaviour, StandIn};
use sysops_testkit::{ServiceProcess, Stack};

mod outcome;
mod scenario;
mod traffic;

pub use scenario::{Fault, LlmFault, Service};

use outcome::{assigned_twice, read_fates, recovery, Fate};
use traffic::{simulated_experts, submit};

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

//! `routing-bench`: assignment decisions per second and decision latency of the routing
//! engine on real PostgreSQL, with a large roster and a deep backlog.
//!
//! Run (release): `cargo build --release -p sysops-routing --bin routing-bench &&
//! $CARGO_TARGET_DIR/release/routing-bench` (`--help` for the sizes). It creates a throwaway
//! database next to `BENCH_DATABASE_URL`'s, drops it at the end, and needs no broker: events
//! are handed to the same handler the `routing.work` consumer uses, in batches as the
//! consumer forms them, so every decision pays for its share of the transaction, row locks,
//! inbox and outbox.
//!
//! Phases: (1) `--experts` experts are created off duty and `--backlog` tickets wait in the
//! pools; (2) every expert comes on duty, which assigns the backlog up to capacity;
//! (3) steady state: `--rate` events per second for `--seconds`, half `ticket.resolved`
//! (each frees a slot, so the backlog's next ticket is assigned) and half new
//! `ticket.categorized`, handled as the consumer does: one batch at a time, of whatever has
//! arrived (at most `--batch`), each event timed from its arrival to its batch's commit;
//! (4) saturation: batches of `--batch` resolutions, one after another, as fast as they go.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use serde_json::json;
use sqlx::{Connection, Executor, PgConnection, PgPool};
use tokio::sync::Mutex;
use uuid::Uuid;

use sysops_bus::Incoming;
use sysops_contract::{Envelope, EventType, RawEnvelope};
use sysops_platform::db::{connect_and_migrate, PoolSettings};
use sysops_platform::outbox::Outbox;
use sysops_routing::config::Config;
use sysops_routing::domain::{ExpertRequest, NewExpert};
use sysops_routing::engine::Engine;
use sysops_routing::roster::save_expert;
use sysops_routing::worker::Worker;
use sysops_routing::SCHEMA;
use sysops_taxonomy::Taxonomy;

#[derive(Debug, Parser)]
#[command(
    name = "routing-bench",
    about = "Benchmarks routing's assignment decisions"
)]
struct Args {
    /// An account allowed to create databases.
    #[arg(
        long,
        env = "BENCH_DATABASE_URL",
        default_value = "postgres://sysops:sysops@127.0.0.1:5432/sysops"
    )]
    database_url: String,
    #[arg(long, default_value_t = 200)]
    experts: usize,
    #[arg(long, default_value_t = 10_000)]
    backlog: usize,
    /// Events per second in the steady phase.
    #[arg(long, default_value_t = 500)]
    rate: u32,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Most events handled together (the consumer's WORK_BATCH, whose default this is).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    #[arg(long, env = "TAXONOMY_PATH", default_value = "models/taxonomy.toml")]
    taxonomy_path: std::path::PathBuf,
}

const REGIONS: [&str; 4] = ["north", "south", "east", "west"];

/// Open assignments not yet resolved by the bench, oldest first.
struct Open {
    cursor: i64,
    queue: VecDeque<(Uuid, Uuid)>,
}

async fn refill(pool: &PgPool, open: &Mutex<Open>) -> anyhow::Result<Option<(Uuid, Uuid)>> {
    let mut o = open.lock().await;
    if o.queue.is_empty() {
        let rows: Vec<(i64, Uuid, Uuid)> = sqlx::query_as(
            "SELECT id, ticket_id, expert_id FROM assignments WHERE status = 'assigned' AND id > $1 ORDER BY id",
        )
        .bind(o.cursor)
        .fetch_all(pool)
        .await?;
        for (id, t, e) in rows {
            o.cursor = o.cursor.max(id);
            o.queue.push_back((t, e));
        }
    }
    Ok(o.queue.pop_front())
}

fn resolved(ticket: Uuid, expert: Uuid) -> RawEnvelope {
    let data = json!({ "by": "bench", "assignee": expert });
    Envelope::new(EventType::TicketResolved, Some(ticket), data)
}

fn categorized(category: &str) -> RawEnvelope {
    let data = json!({ "category": category, "confidence": 0.9, "method": "keyword", "latency_ms": 1.0, "needs_review": false });
    Envelope::new(EventType::TicketCategorized, Some(Uuid::now_v7()), data)
}

async fn handle(worker: &Worker, events: Vec<RawEnvelope>) -> anyhow::Result<()> {
    let batch = events
        .into_iter()
        .map(|envelope| Incoming {
            envelope,
            redelivered: false,
        })
        .collect();
    worker
        .handle(batch)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

async fn assignments(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM assignments")
        .fetch_one(pool)
        .await?)
}

/// Decisions of every kind (assigned and queued alike).
async fn decisions(pool: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar("SELECT count(*) FROM decisions")
        .fetch_one(pool)
        .await?)
}

/// The machine's CPU time counters (`/proc/stat`, all CPUs), where the OS has them.
fn cpu_times() -> Option<Vec<u64>> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    line.split_whitespace().map(|v| v.parse().ok()).collect()
}

/// How busy the machine was between two readings of [`cpu_times`], and what share of its CPU
/// time the hypervisor gave to others (steal): a phase with much steal measured the host too.
fn machine_report(before: Option<Vec<u64>>) {
    let (Some(before), Some(after)) = (before, cpu_times()) else {
        return;
    };
    let delta: Vec<u64> = after
        .iter()
        .zip(&before)
        .map(|(a, b)| a.saturating_sub(*b))
        .collect();
    let total: u64 = delta.iter().take(8).sum();
    if total == 0 || delta.len() < 8 {
        return;
    }
    let share = |i: usize| delta[i] as f64 * 100.0 / total as f64;
    // user nice system idle iowait irq softirq steal
    println!(
        "  (machine meanwhile: {:.1} % busy, {:.1} % iowait, {:.1} % stolen by the hypervisor)",
        100.0 - share(3) - share(4) - share(7),
        share(4),
        share(7)
    );
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut latencies: Vec<Duration>, decisions: i64, elapsed: Duration) {
    latencies.sort();
    println!(
        "{name}: {decisions} decisions in {:.2}s = {:.0} decisions/s; {} events, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        elapsed.as_secs_f64(),
        decisions as f64 / elapsed.as_secs_f64(),
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0),
    );
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let taxonomy = Taxonomy::load(&args.taxonomy_path).context("loading the taxonomy")?;
    let pools: Vec<String> = taxonomy.pools().keys().map(|p| p.to_string()).collect();
    let categories: Vec<(String, String)> = pools
        .iter()
        .filter_map(|p| {
            taxonomy
                .pools()
                .get(p.as_str())
                .and_then(|c| c.first())
                .map(|c| (c.to_string(), p.clone()))
        })
        .collect();

    let name = format!(
        "routing_bench_{}",
        &Uuid::new_v4().simple().to_string()[..12]
    );
    let mut admin = PgConnection::connect(&args.database_url)
        .await
        .context("connecting")?;
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await?;
    let url = match args.database_url.rfind('/') {
        Some(i) => format!("{}/{name}", &args.database_url[..i]),
        None => anyhow::bail!("the database URL names no database"),
    };
    let settings = PoolSettings {
        max_connections: 8,
        ..Default::default()
    };
    let pool = connect_and_migrate(&url, SCHEMA, settings, sysops_routing::migrator()).await?;
    let defaults = Config::for_tests(&url, "bench");
    let engine = Engine {
        outbox: Outbox::default(),
        taxonomy: Arc::new(taxonomy),
        sla: defaults.sla(),
        max_rejections: 3,
    };
    let worker = Worker {
        pool: pool.clone(),
        engine: engine.clone(),
    };
    let result = run(&args, &pool, &engine, &worker, &pools, &categories).await;
    pool.close().await;
    admin
        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    result
}

async fn run(
    args: &Args,
    pool: &PgPool,
    engine: &Engine,
    worker: &Worker,
    pools: &[String],
    categories: &[(String, String)],
) -> anyhow::Result<()> {
    // (1) The roster, off duty, and the backlog.
    let known: Vec<&str> = pools.iter().map(String::as_str).collect();
    let mut roster = Vec::new();
    for i in 0..args.experts {
        let mut skills = serde_json::Map::new();
        skills.insert(
            pools[i % pools.len()].clone(),
            json!(0.5 + (i % 5) as f64 / 10.0),
        );
        if i % 2 == 0 {
            skills.insert(pools[(i * 7 + 3) % pools.len()].clone(), json!(0.4));
        }
        let req: ExpertRequest = serde_json::from_value(json!({
            "name": format!("expert {i}"), "skills": skills, "capacity": 3 + (i % 6) as i32,
            "regions": [REGIONS[i % 4]], "availability": "off"
        }))?;
        let expert = NewExpert::parse(req, &known).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let id = Uuid::now_v7();
        let mut tx = pool.begin().await?;
        save_expert(&mut tx, engine, id, &expert).await?;
        tx.commit().await?;
        roster.push((id, expert));
    }
    sqlx::query(
        "INSERT INTO routes (ticket_id, priority, region, category, pool, status, created_at, queued_at) \
         SELECT gen_random_uuid(), (ARRAY['low','normal','normal','high','urgent'])[1 + (g % 5)], \
                (ARRAY['north','south','east','west'])[1 + (g % 4)], c.category, c.pool, 'queued', \
                now() - make_interval(secs => g), now() - make_interval(secs => g) \
         FROM generate_series(1, $1) g \
         JOIN (SELECT row_number() OVER () - 1 AS k, * FROM UNNEST($2::text[], $3::text[]) AS u(category, pool)) c \
           ON c.k = g % $4",
    )
    .bind(args.backlog as i64)
    .bind(categories.iter().map(|c| c.0.clone()).collect::<Vec<_>>())
    .bind(categories.iter().map(|c| c.1.clone()).collect::<Vec<_>>())
    .bind(categories.len() as i64)
    .execute(pool)
    .await?;
    // Statistics as a long-running database has them; a fresh table has none until autovacuum
    // comes by, and plans made without them differ from run to run. (The schema's own tables:
    // the bench's account may not analyze the shared catalogs.)
    sqlx::query("ANALYZE routes, experts, expert_skills, assignments, decisions")
        .execute(pool)
        .await?;
    let capacity: i64 = sqlx::query_scalar("SELECT sum(capacity) FROM experts")
        .fetch_one(pool)
        .await?;
    println!(
        "{} experts (total capacity {capacity}) in {} pools; backlog {} tickets",
        args.experts,
        pools.len(),
        args.backlog
    );

    // (2) Everyone comes on duty: the backlog is assigned up to capacity.
    let started = Instant::now();
    let mut latencies = Vec::new();
    for (id, expert) in &mut roster {
        expert.availability = sysops_contract::Availability::Available;
        let t = Instant::now();
        let mut tx = pool.begin().await?;
        save_expert(&mut tx, engine, *id, expert).await?;
        tx.commit().await?;
        latencies.push(t.elapsed());
    }
    report(
        "on duty (backlog drain)",
        latencies,
        assignments(pool).await?,
        started.elapsed(),
    );

    let open = Arc::new(Mutex::new(Open {
        cursor: 0,
        queue: VecDeque::new(),
    }));
    // (3) Steady state at the given rate.
    let before = assignments(pool).await?;
    let decided_before = decisions(pool).await?;
    let cpu_before = cpu_times();
    let started = Instant::now();
    let total = args.rate as u64 * args.seconds;
    let (arrivals, mut waiting) = tokio::sync::mpsc::unbounded_channel();
    let producer = {
        let (pool, open, categories) = (pool.clone(), open.clone(), categories.to_vec());
        let rate = args.rate.max(1);
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(Duration::from_secs(1) / rate);
            for n in 0..total {
                ticker.tick().await;
                // The event is chosen before it arrives: the bench's own bookkeeping is not
                // timed.
                let category = &categories[n as usize % categories.len()].0;
                let open_assignment = if n % 2 == 0 {
                    refill(&pool, &open).await?
                } else {
                    None
                };
                let event = match open_assignment {
                    Some((t, e)) => resolved(t, e),
                    None => categorized(category),
                };
                if arrivals.send((Instant::now(), event)).is_err() {
                    break;
                }
            }
            anyhow::Ok(())
        })
    };
    // As the consumer: one batch at a time, of whatever has arrived; an event arriving while
    // a batch is handled waits for the next, and its latency counts from its arrival.
    let mut latencies = Vec::new();
    let mut batch = Vec::new();
    while waiting.recv_many(&mut batch, args.batch.max(1)).await > 0 {
        let (arrived, events): (Vec<Instant>, Vec<RawEnvelope>) = batch.drain(..).unzip();
        handle(worker, events).await?;
        latencies.extend(arrived.iter().map(Instant::elapsed));
    }
    producer.await??;
    let elapsed = started.elapsed();
    report(
        &format!("steady {} events/s", args.rate),
        latencies,
        assignments(pool).await? - before,
        elapsed,
    );

    machine_report(cpu_before);
    println!(
        "  (of which {} decisions of any kind, assignments and queueings, at {:.0}/s)",
        decisions(pool).await? - decided_before,
        (decisions(pool).await? - decided_before) as f64 / elapsed.as_secs_f64()
    );

    // (4) Saturation: batches of resolutions as fast as they go; each assigns the next ticket.
    let before = assignments(pool).await?;
    let cpu_before = cpu_times();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut latencies = Vec::new();
    while Instant::now() < deadline {
        let mut events = Vec::new();
        while events.len() < args.batch.max(1) {
            let Some((t, e)) = refill(pool, &open).await? else {
                break;
            };
            events.push(resolved(t, e));
        }
        if events.is_empty() {
            break;
        }
        let (n, t) = (events.len(), Instant::now());
        handle(worker, events).await?;
        latencies.extend(std::iter::repeat_n(t.elapsed(), n));
    }
    report(
        &format!("saturation, batches of {}", args.batch),
        latencies,
        assignments(pool).await? - before,
        started.elapsed(),
    );
    machine_report(cpu_before);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM routes WHERE status = 'queued'")
        .fetch_one(pool)
        .await?;
    let over: i64 = sqlx::query_scalar("SELECT count(*) FROM experts WHERE load > capacity")
        .fetch_one(pool)
        .await?;
    println!("backlog left {left}; experts over capacity {over}");
    Ok(())
}

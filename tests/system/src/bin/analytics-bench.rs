//! `analytics-bench`: the analytics service with a million events.
//!
//! Run (release): `cargo build --release -p sysops-analytics -p sysops-system-tests --bins &&
//! $CARGO_TARGET_DIR/release/analytics-bench` (`--help` for the sizes). Needs PostgreSQL and
//! RabbitMQ (`scripts/deps.sh`); works in a throwaway database and topology, removed at the end.
//!
//! 1. Store: `--events` synthetic events (a month of realistic ticket lifecycles and a roster)
//!    go through the consumer's own handler, `store::ingest`, in batches of `--batch`.
//! 2. Rebuild: the analytics binary starts on that database; the time until it listens is
//!    the rebuild (it reads every event back before serving), and its memory is read.
//! 3. Queries: every dashboard endpoint, with and without filters, `--rounds` times each over
//!    HTTP; p50/p95/max per query.
//! 4. Live ingest: `--live-events` more events published to RabbitMQ while a client polls the
//!    summary; events per second from the first publish until the figures show them all, and
//!    the summary's latency meanwhile.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::Utc;
use clap::Parser;
use serde_json::Value;

use sysops_analytics::frames::Live;
use sysops_analytics::model::Model;
use sysops_analytics::{store, SCHEMA};
use sysops_bus::Incoming;
use sysops_contract::RawEnvelope;
use sysops_platform::db::{connect_and_migrate, PoolSettings};
use sysops_system_tests::load::memory_mb;
use sysops_system_tests::metric;
use sysops_system_tests::synthetic::Generator;
use sysops_testkit::{ServiceProcess, TestEnv};

#[derive(Debug, Parser)]
#[command(name = "analytics-bench", about = "Benchmarks the analytics service")]
struct Args {
    /// Events stored before the service starts.
    #[arg(long, default_value_t = 1_000_000)]
    events: usize,
    /// Events published through RabbitMQ while the service runs.
    #[arg(long, default_value_t = 100_000)]
    live_events: usize,
    /// Events per store batch (the service's INGEST_BATCH).
    #[arg(long, default_value_t = 500)]
    batch: usize,
    /// Requests per query.
    #[arg(long, default_value_t = 100)]
    rounds: usize,
    #[arg(long, default_value_t = 200)]
    experts: usize,
    /// Only time the frame build and each query function in this process, on events applied
    /// straight to the model (no database, broker or HTTP): where the time of a query goes.
    #[arg(long)]
    in_process: bool,
}

/// Applies the events to a model here and times the frame build and every query function.
fn in_process(args: &Args) -> anyhow::Result<()> {
    use sysops_analytics::frames::Frames;
    use sysops_analytics::model::Event;
    use sysops_analytics::query::{self, Drill, Filters};

    let now = Utc::now();
    let mut generator = Generator::new(7, args.experts, now);
    let mut model = Model::default();
    let mut applied = 0;
    let apply = |events: Vec<RawEnvelope>, model: &mut Model| {
        for e in events {
            model.apply(&Event {
                event_type: e.event_type,
                ticket_id: e.ticket_id,
                occurred_ms: e.occurred_at.timestamp_millis(),
                data: &e.data,
            });
        }
    };
    apply(generator.roster(), &mut model);
    while applied < args.events {
        let events = generator.ticket();
        applied += events.len();
        apply(events, &mut model);
    }
    let mut times = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        Frames::build(&model)?;
        times.push(millis(t.elapsed()));
    }
    times.sort_by(f64::total_cmp);
    println!(
        "{applied} events, {} tickets; frame build p50 {:.1} ms",
        model.tickets().len(),
        percentile(&times, 0.5)
    );
    let frames = Frames::build(&model)?;
    let all = Filters::default();
    let narrow = Filters {
        from_ms: Some(now.timestamp_millis() - 7 * 86_400_000),
        pool: Some("networking".into()),
        ..Filters::default()
    };
    type Query<'a> = (&'a str, Box<dyn Fn() -> anyhow::Result<()> + 'a>);
    let queries: Vec<Query> = vec![
        (
            "summary",
            Box::new(|| Ok(query::summary(&frames, &all).map(drop)?)),
        ),
        (
            "summary (7d, pool)",
            Box::new(|| Ok(query::summary(&frames, &narrow).map(drop)?)),
        ),
        (
            "routing",
            Box::new(|| Ok(query::routing(&frames, &all).map(drop)?)),
        ),
        (
            "tickets month",
            Box::new(|| Ok(query::volume(&frames, &all, "month", now).map(drop)?)),
        ),
        (
            "performance",
            Box::new(|| Ok(query::performance(&frames, &all).map(drop)?)),
        ),
        (
            "trends 30",
            Box::new(|| Ok(query::trends(&frames, &all, 30, now).map(drop)?)),
        ),
        (
            "drilldown queued",
            Box::new(|| {
                let d = Drill {
                    status: Some(sysops_contract::TicketStatus::Queued),
                    ..Drill::default()
                };
                Ok(query::drilldown(&frames, &all, &d, 0, Some(100)).map(drop)?)
            }),
        ),
    ];
    for (name, q) in &queries {
        let mut times = Vec::new();
        for _ in 0..args.rounds {
            let t = Instant::now();
            q()?;
            times.push(millis(t.elapsed()));
        }
        times.sort_by(f64::total_cmp);
        println!(
            "{name:<24} p50 {:>7.1} ms  p95 {:>7.1} ms",
            percentile(&times, 0.5),
            percentile(&times, 0.95)
        );
    }
    Ok(())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// VmRSS and VmHWM of `pid`, in MB (NaN when unreadable).
fn memory(pid: u32) -> (f64, f64) {
    memory_mb(pid).unwrap_or((f64::NAN, f64::NAN))
}

async fn events_shown(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let s: Value = http
        .get(format!("{base}/api/dashboard/summary?from="))
        .send()
        .await?
        .json()
        .await?;
    s["events_total"].as_u64().context("events_total")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.in_process {
        return in_process(&args);
    }
    let env = TestEnv::new().await;
    let result = run(&args, &env).await;
    env.cleanup().await;
    result
}

async fn run(args: &Args, env: &TestEnv) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut generator = Generator::new(7, args.experts, now);
    let summary_line = |name: &str, value: String| println!("{name:<44} {value}");
    println!(
        "analytics-bench: {} stored events, {} live events, {} experts, batch {}",
        args.events, args.live_events, args.experts, args.batch
    );

    // 1. Store.
    let pool = connect_and_migrate(
        &env.database_url,
        SCHEMA,
        PoolSettings::default(),
        sqlx::migrate!("../../services/analytics/migrations"),
    )
    .await?;
    let live = Live::new(Model::default())?;
    let started = Instant::now();
    let mut stored = 0;
    let mut pending: Vec<Incoming> = generator
        .roster()
        .into_iter()
        .map(|envelope| Incoming {
            envelope,
            redelivered: false,
        })
        .collect();
    let mut tickets = 0;
    while stored < args.events {
        while pending.len() < args.batch {
            tickets += 1;
            pending.extend(generator.ticket().into_iter().map(|envelope| Incoming {
                envelope,
                redelivered: false,
            }));
        }
        let take = args.batch.min(args.events - stored);
        let batch: Vec<Incoming> = pending.drain(..take).collect();
        store::ingest(&pool, &live, batch)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        stored += take;
    }
    let store_secs = started.elapsed().as_secs_f64();
    summary_line(
        "store (handler, no broker)",
        format!(
            "{stored} events of {tickets} tickets in {store_secs:.1} s = {:.0} events/s",
            stored as f64 / store_secs
        ),
    );
    drop(live);
    pool.close().await;

    // 2. Rebuild.
    let started = Instant::now();
    let service = ServiceProcess::start("analytics", &env.service_env()).await?;
    let rebuild = started.elapsed();
    let pid = service.pid().context("the service runs")?;
    let base = service.url();
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    let shown = events_shown(&http, &base).await?;
    anyhow::ensure!(
        shown as usize == stored,
        "the service shows {shown} of {stored} events"
    );
    let (rss, hwm) = memory(pid);
    let reading = metric(&http, &base, "analytics_rebuild_seconds").await;
    summary_line(
        "rebuild (start to listening)",
        format!(
            "{:.2} s for {stored} events (reading the store: {:.2} s)",
            rebuild.as_secs_f64(),
            reading.unwrap_or(f64::NAN)
        ),
    );
    summary_line(
        "memory after rebuild",
        format!("RSS {rss:.0} MB, peak {hwm:.0} MB"),
    );

    // 3. Queries.
    let queries = [
        "/api/dashboard/summary?from=",
        "/api/dashboard/summary?from=7d&pool=networking&priority=high",
        "/api/dashboard/routing",
        "/api/dashboard/routing?region=north",
        "/api/analytics/tickets?period=month",
        "/api/analytics/tickets?period=day&category=printers",
        "/api/analytics/performance",
        "/api/analytics/trends?days=30",
        "/api/analytics/pools/printers",
        "/api/analytics/drilldown?status=queued",
        "/api/analytics/drilldown?slowest=t_resolve&from=7d",
        "/api/analytics/dead-letters",
    ];
    println!();
    println!(
        "{:<62} {:>9} {:>9} {:>9}",
        "query", "p50 ms", "p95 ms", "max ms"
    );
    let mut worst_p95: f64 = 0.0;
    for q in queries {
        let url = format!("{base}{q}");
        for _ in 0..3 {
            http.get(&url).send().await?.bytes().await?;
        }
        let mut times = Vec::with_capacity(args.rounds);
        for _ in 0..args.rounds {
            let t = Instant::now();
            let r = http.get(&url).send().await?;
            anyhow::ensure!(r.status().is_success(), "{q}: {}", r.status());
            r.bytes().await?;
            times.push(millis(t.elapsed()));
        }
        times.sort_by(f64::total_cmp);
        let p95 = percentile(&times, 0.95);
        worst_p95 = worst_p95.max(p95);
        println!(
            "{q:<62} {:>9.1} {p95:>9.1} {:>9.1}",
            percentile(&times, 0.5),
            times.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!();
    summary_line("worst query p95", format!("{worst_p95:.1} ms"));

    // 4. Live ingest through the broker.
    let mut live_events = Vec::with_capacity(args.live_events);
    while live_events.len() < args.live_events {
        live_events.extend(generator.ticket());
    }
    live_events.truncate(args.live_events);
    let bus = env.bus();
    let target = (stored + live_events.len()) as u64;
    let polling = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let poller = {
        let http = http.clone();
        let base = base.clone();
        let polling = polling.clone();
        tokio::spawn(async move {
            loop {
                let t = Instant::now();
                let shown = events_shown(&http, &base).await.unwrap_or(0);
                if let Ok(mut p) = polling.lock() {
                    p.push(millis(t.elapsed()));
                }
                if shown >= target {
                    return Instant::now();
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        })
    };
    for chunk in live_events.chunks(1000) {
        bus.publish_all(chunk).await?;
    }
    let published = started.elapsed();
    let done = tokio::time::timeout(Duration::from_secs(600), poller)
        .await
        .context("the live events did not all show within 10 minutes")??;
    let ingest = done.duration_since(started).as_secs_f64();
    let mut during = polling.lock().map(|p| p.clone()).unwrap_or_default();
    during.sort_by(f64::total_cmp);
    let (rss, hwm) = memory(pid);
    summary_line(
        "live ingest through RabbitMQ",
        format!(
            "{} events in {ingest:.1} s = {:.0} events/s (published in {:.1} s)",
            live_events.len(),
            live_events.len() as f64 / ingest,
            published.as_secs_f64()
        ),
    );
    summary_line(
        "summary latency during live ingest",
        format!(
            "p50 {:.1} ms, p95 {:.1} ms over {} requests",
            percentile(&during, 0.5),
            percentile(&during, 0.95),
            during.len()
        ),
    );
    let builds = metric(&http, &base, "analytics_frame_build_seconds_count").await;
    let build_secs = metric(&http, &base, "analytics_frame_build_seconds_sum").await;
    if let (Some(n), Some(total)) = (builds, build_secs) {
        summary_line(
            "frame rebuilds (model -> polars)",
            format!("{n:.0}, mean {:.1} ms", total / n.max(1.0) * 1000.0),
        );
    }
    summary_line(
        "memory at the end",
        format!("RSS {rss:.0} MB, peak {hwm:.0} MB"),
    );
    drop(service);
    Ok(())
}

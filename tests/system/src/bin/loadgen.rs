//! `loadgen`: submits realistic tickets through the gateway and follows each one until routing
//! has placed it (assigned, queued in a pool, or sent to review), then prints throughput,
//! latency percentiles and each service's CPU and memory.
//!
//! Run against a running stack (`scripts/stack.sh up`):
//! `cargo build --release -p sysops-system-tests --bin loadgen &&
//! ~/.cache/sysops-target/release/loadgen --rate 100 --duration 60 --json load.json`
//! (`--help` for every option). It watches the bus through a private queue of its own, so it
//! needs the broker's URL and the exchange (the stack's defaults are the defaults here). It
//! signs in as a manager or admin: `--token`, or `--email` and `--password` (by default the
//! first admin's, `ADMIN_EMAIL` and `ADMIN_PASSWORD`, which `scripts/stack.sh` keeps in
//! `.run/secrets.env`).

use std::time::Duration;

use clap::Parser;

use sysops_bus::{Bus, BusConfig};
use sysops_system_tests::load::{run, submissions_csv, table, LoadOptions};

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Submits tickets and measures the system")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    gateway: String,
    /// Access token of a manager or admin (instead of signing in).
    #[arg(long, env = "SYSOPS_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// E-mail address to sign in with.
    #[arg(long, env = "ADMIN_EMAIL")]
    email: Option<String>,
    /// Password to sign in with.
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Tickets per second (0: as fast as --concurrency allows).
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Stop after this many tickets...
    #[arg(long)]
    count: Option<usize>,
    /// ...or after this many seconds (default 10 when no count is given).
    #[arg(long)]
    duration: Option<f64>,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds to wait after the last submission for tickets to be placed.
    #[arg(long, default_value_t = 60.0)]
    settle: f64,
    #[arg(
        long,
        env = "AMQP_URL",
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    amqp_url: String,
    #[arg(long, env = "AMQP_EXCHANGE", default_value = "tickets")]
    exchange: String,
    /// Also write the summary as JSON to this file (`-` for standard output).
    #[arg(long)]
    json: Option<String>,
    /// Also write every submission (send time, latency, status) as CSV to this file.
    #[arg(long)]
    submissions: Option<String>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// Play the experts: accept each ticket assigned during the run and resolve it this many
    /// milliseconds later (frees their capacity). Off when not given.
    #[arg(long)]
    work_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let duration = match (args.count, args.duration) {
        (None, None) => Some(Duration::from_secs(10)),
        (_, d) => d.map(Duration::from_secs_f64),
    };
    let gateway = args.gateway.trim_end_matches('/').to_owned();
    let token = match (args.token, args.email, args.password) {
        (Some(token), _, _) => token,
        (None, Some(email), Some(password)) => sign_in(&gateway, &email, &password).await?,
        _ => anyhow::bail!(
            "give --token, or --email and --password (or set ADMIN_EMAIL and ADMIN_PASSWORD)"
        ),
    };
    let options = LoadOptions {
        gateway,
        token,
        rate: (args.rate > 0.0).then_some(args.rate),
        count: args.count,
        duration,
        concurrency: args.concurrency,
        settle: Duration::from_secs_f64(args.settle),
        progress: !args.quiet,
        work: args.work_ms.map(Duration::from_millis),
    };
    let mut config = BusConfig::new(args.amqp_url, args.exchange);
    config.connection_name = "loadgen".into();
    let bus = Bus::new(config);
    let report = run(&bus, &options).await?;
    bus.close().await;
    print!("{}", table(&report));
    if let Some(path) = args.submissions {
        std::fs::write(&path, submissions_csv(&report.submissions))?;
    }
    if let Some(path) = args.json {
        let text = serde_json::to_string_pretty(&report)?;
        if path == "-" {
            println!("{text}");
        } else {
            std::fs::write(&path, text)?;
        }
    }
    Ok(())
}

/// Signs in through the gateway; the access token.
async fn sign_in(gateway: &str, email: &str, password: &str) -> anyhow::Result<String> {
    let response = reqwest::Client::new()
        .post(format!("{gateway}/api/auth/login"))
        .json(&serde_json::json!({ "email": email, "password": password }))
        .send()
        .await?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.unwrap_or_default();
    anyhow::ensure!(
        status.is_success(),
        "signing in as {email}: {status} {body}"
    );
    body["access_token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("the sign-in answer has no access_token: {body}"))
}

//! `faults`: the fault suite. Starts the whole system on a database and topology of its own
//! (PostgreSQL and RabbitMQ must be up: `scripts/deps.sh`), puts it under load, and runs one
//! scenario per fault, printing a row for each: tickets accepted, assigned, lost, assigned
//! twice, time to recover. Exits non-zero when any row lost a ticket or assigned one twice.
//!
//! `cargo build --release --bins && ~/.cache/sysops-target/release/faults`
//! (`--help` for the options; `--only kill-routing,llm-500` runs some scenarios). The
//! RabbitMQ and PostgreSQL scenarios restart the machine's servers, so run it alone.

use std::time::{Duration, Instant};

use clap::Parser;

use sysops_system_tests::faults::{table, Fault, FaultOptions, Suite};

#[derive(Debug, Parser)]
#[command(name = "faults", about = "Runs the fault scenarios under load")]
struct Args {
    /// Tickets per second during each scenario.
    #[arg(long, default_value_t = 20.0)]
    rate: f64,
    /// Seconds of load per scenario.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
    /// Seconds into the load at which the fault strikes.
    #[arg(long, default_value_t = 5.0)]
    fault_at: f64,
    /// Seconds a killed or stopped process stays down.
    #[arg(long, default_value_t = 3.0)]
    downtime: f64,
    /// Longest wait, in seconds, for every accepted ticket to be placed after the load.
    #[arg(long, default_value_t = 90.0)]
    settle: f64,
    /// Comma-separated scenarios to run (default: all). Names: none, kill-gateway,
    /// kill-tickets, kill-categorizer, kill-routing, kill-analytics, scale-categorizer,
    /// malformed-flood, llm-slow, llm-500, llm-429, llm-garbage, restart-rabbitmq,
    /// restart-postgres.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Also write the rows as JSON to this file.
    #[arg(long)]
    json: Option<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let faults = if args.only.is_empty() {
        Fault::ALL.to_vec()
    } else {
        args.only
            .iter()
            .map(|n| Fault::by_name(n).ok_or_else(|| anyhow::anyhow!("no scenario named `{n}`")))
            .collect::<anyhow::Result<Vec<_>>>()?
    };
    let options = FaultOptions {
        rate: args.rate,
        load: Duration::from_secs_f64(args.seconds),
        fault_at: Duration::from_secs_f64(args.fault_at),
        downtime: Duration::from_secs_f64(args.downtime),
        settle: Duration::from_secs_f64(args.settle),
        ..FaultOptions::default()
    };
    let started = Instant::now();
    let mut suite = Suite::start(options).await?;
    let mut rows = Vec::new();
    for fault in faults {
        eprintln!("[faults] {} ...", fault.name());
        let row = suite.run(fault).await?;
        eprint!("{}", table(std::slice::from_ref(&row)));
        rows.push(row);
    }
    suite.shutdown().await;
    println!("{}", table(&rows));
    println!("{:.0} s in all", started.elapsed().as_secs_f64());
    if let Some(path) = args.json {
        std::fs::write(path, serde_json::to_string_pretty(&rows)?)?;
    }
    anyhow::ensure!(
        rows.iter().all(|r| r.holds()),
        "a scenario lost a ticket or assigned one twice"
    );
    Ok(())
}

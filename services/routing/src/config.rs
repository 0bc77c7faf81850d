//! Configuration of the routing service, from flags or the environment.

use std::path::PathBuf;

use sysops_platform::CommonConfig;

use crate::domain::{ClockLimits, SlaPolicy};

/// Settings of the routing service.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "routing",
    about = "Routes Sysops Squad tickets to skill pools and experts"
)]
pub struct Config {
    #[command(flatten)]
    pub common: CommonConfig,
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, env = "HTTP_ADDR", default_value = "127.0.0.1:8083")]
    pub http_addr: String,
    /// The taxonomy that maps categories to pools.
    #[arg(long, env = "TAXONOMY_PATH", default_value = "models/taxonomy.toml")]
    pub taxonomy_path: PathBuf,
    /// Milliseconds between outbox polls when no commit of this process woke the relay.
    #[arg(long, env = "OUTBOX_POLL_MS", default_value_t = 1000)]
    pub outbox_poll_ms: u64,
    /// Most messages of `routing.work` handled in one transaction and acknowledged together;
    /// the broker sends twice this ahead (at most 65535).
    #[arg(long, env = "WORK_BATCH", default_value_t = 100)]
    pub work_batch: usize,
    /// Rejections after which a ticket goes to a manager (`needs_review`).
    #[arg(long, env = "MAX_REJECTIONS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_rejections: u32,
    /// Time to assign, per priority (`urgent=15m,high=30m,normal=2h,low=8h`; units s, m, h, d).
    #[arg(long, env = "SLA_ASSIGN", default_value = "urgent=15m,high=30m,normal=2h,low=8h", value_parser = ClockLimits::parse)]
    pub sla_assign: ClockLimits,
    /// Time for the expert to accept an assignment, per priority; then it is taken back.
    #[arg(long, env = "SLA_ACCEPT", default_value = "urgent=5m,high=10m,normal=30m,low=2h", value_parser = ClockLimits::parse)]
    pub sla_accept: ClockLimits,
    /// Time to resolve, per priority, counted from the ticket's creation.
    #[arg(long, env = "SLA_RESOLVE", default_value = "urgent=4h,high=8h,normal=1d,low=3d", value_parser = ClockLimits::parse)]
    pub sla_resolve: ClockLimits,
    /// Milliseconds between SLA sweeps (breaches, take-backs, backlog safety net).
    #[arg(long, env = "SLA_CHECK_MS", default_value_t = 5000)]
    pub sla_check_ms: u64,
    /// A roster (TOML) loaded at start when no expert exists yet; unset: none.
    #[arg(long, env = "EXPERTS_SEED_PATH")]
    pub experts_seed_path: Option<PathBuf>,
}

impl Config {
    /// Settings for tests: port 0, the given database and exchange, the shipped taxonomy.
    pub fn for_tests(database_url: &str, exchange: &str) -> Self {
        Config {
            common: CommonConfig::for_tests(database_url, exchange),
            http_addr: "127.0.0.1:0".into(),
            taxonomy_path: sysops_platform::repo::path("models/taxonomy.toml"),
            outbox_poll_ms: 500,
            work_batch: 100,
            max_rejections: 3,
            sla_assign: limits("urgent=15m,high=30m,normal=2h,low=8h"),
            sla_accept: limits("urgent=5m,high=10m,normal=30m,low=2h"),
            sla_resolve: limits("urgent=4h,high=8h,normal=1d,low=3d"),
            sla_check_ms: 1000,
            experts_seed_path: None,
        }
    }

    /// The SLA clocks.
    pub fn sla(&self) -> SlaPolicy {
        SlaPolicy {
            assign: self.sla_assign,
            accept: self.sla_accept,
            resolve: self.sla_resolve,
        }
    }
}

fn limits(s: &str) -> ClockLimits {
    ClockLimits::parse(s).expect("the test limits are valid")
}

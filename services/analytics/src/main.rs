//! `analytics`: the event store and dashboards of Sysops Squad triage.
//!
//! Run: `analytics` (settings from the environment; `analytics --help` lists them).

use clap::Parser;
use tokio_util::sync::CancellationToken;

use sysops_analytics::config::Config;
use sysops_analytics::startup::Application;
use sysops_platform::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(&config.common.log_filter, config.common.log_format);
    tracing::info!(?config, "starting");
    let shutdown_token = CancellationToken::new();
    shutdown::cancel_on_signal(shutdown_token.clone());
    let app = Application::build(config).await?;
    app.run(shutdown_token).await
}

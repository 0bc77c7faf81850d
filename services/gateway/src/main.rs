//! `gateway`: the public edge of Sysops Squad triage; proxies `/api` to the services.
//!
//! Run: `gateway` (settings from the environment; `gateway --help` lists them).

use clap::Parser;
use tokio_util::sync::CancellationToken;

use sysops_gateway::config::Config;
use sysops_gateway::startup::Application;
use sysops_platform::{shutdown, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(&config.log_filter, config.log_format);
    tracing::info!(?config, "starting");
    let shutdown_token = CancellationToken::new();
    shutdown::cancel_on_signal(shutdown_token.clone());
    let app = Application::build(config).await?;
    app.run(shutdown_token).await
}

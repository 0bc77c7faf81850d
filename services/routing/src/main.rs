//! `routing`: routes Sysops Squad tickets to skill pools.
//!
//! Run: `routing` (settings from the environment; `routing --help` lists them).

use clap::Parser;
use tokio_util::sync::CancellationToken;

use sysops_platform::{shutdown, telemetry};
use sysops_routing::config::Config;
use sysops_routing::startup::Application;

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

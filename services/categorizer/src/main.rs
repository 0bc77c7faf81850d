//! `categorizer`: categorizes Sysops Squad tickets from the work queue.
//!
//! Run: `categorizer` (settings from the environment; `categorizer --help` lists them).
//! Start more processes to scale; they share the queue.

/// Training allocates and frees large tensors at every step; mimalloc reuses that memory where
/// the system allocator returns it to the OS and faults it back in (measured: most of the
/// training time went to the kernel).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;
use tokio_util::sync::CancellationToken;

use sysops_categorizer::config::Config;
use sysops_categorizer::priority;
use sysops_categorizer::startup::Application;
use sysops_platform::{shutdown, telemetry};

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    telemetry::init(&config.common.log_filter, config.common.log_format);
    tracing::info!(?config, "starting");
    // Before the runtime starts its threads, so that they inherit the priority.
    if config.cpu_nice > 0 {
        match priority::lower(config.cpu_nice) {
            Ok(lowered) => tracing::info!(
                nice = lowered.thread_nice,
                autogroup = lowered.autogroup,
                "CPU priority lowered"
            ),
            Err(e) => tracing::warn!(error = %e, nice = config.cpu_nice, "CPU priority unchanged"),
        }
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            let shutdown_token = CancellationToken::new();
            shutdown::cancel_on_signal(shutdown_token.clone());
            let app = Application::build(config).await?;
            app.run(shutdown_token).await
        })
}

//! Test kit: a fresh database and a uniquely named exchange and queues per test, real service
//! processes started on port 0, access tokens signed with the test secret, and polling
//! helpers. Tests talk to the real PostgreSQL and
//! RabbitMQ that `scripts/deps.sh` starts.
//!
//! Environment: `TEST_DATABASE_URL` (an account allowed to create databases; default
//! `postgres://sysops:sysops@127.0.0.1:5432/sysops`), `TEST_AMQP_URL`, `TEST_LOG=1` to see the
//! services' logs.

pub mod auth;
mod env;
pub mod llm;
mod process;
pub mod stack;

pub use env::TestEnv;
pub use process::{binary_path, ServiceProcess};
pub use stack::Stack;

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 50 ms until it returns `Some`, or fails after `timeout` with `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether service logs should be shown.
pub fn logs_enabled() -> bool {
    std::env::var_os("TEST_LOG").is_some()
}

//! Tracing setup: `EnvFilter` (info by default), text or JSON lines on stdout.

use tracing_subscriber::{fmt, EnvFilter};

use crate::LogFormat;

/// Installs the global subscriber. Safe to call more than once (later calls do nothing), which
/// tests that build several applications in one process rely on.
pub fn init(filter: &str, format: LogFormat) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = fmt().with_env_filter(filter).with_target(true);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

/// For tests: logs to the test writer when `TEST_LOG` is set, nothing otherwise.
pub fn init_for_tests(enabled: bool) {
    if enabled {
        let _ = fmt()
            .with_env_filter(EnvFilter::new("info,sqlx=warn"))
            .with_test_writer()
            .try_init();
    }
}

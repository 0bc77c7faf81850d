//! The analytics service started as a process on its own schema and broker, and how tests ask it.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use sysops_testkit::{wait_for, ServiceProcess, TestEnv};

pub const SETTLE: Duration = Duration::from_secs(20);

pub struct Analytics {
    pub env: TestEnv,
    pub process: ServiceProcess,
    pub http: reqwest::Client,
}

impl Analytics {
    pub async fn start() -> Self {
        let env = TestEnv::new().await;
        let process = ServiceProcess::start("analytics", &env.service_env())
            .await
            .expect("analytics starts");
        Analytics {
            env,
            process,
            http: sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin),
        }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.process.url()))
            .send()
            .await
            .expect("request sent");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// Waits until the figures show `n` events.
    pub async fn settled(&self, n: u64) -> Value {
        wait_for("the events to show", SETTLE, || async {
            let s = self.ok("/api/dashboard/summary?from=").await;
            (s["events_total"].as_u64() == Some(n)).then_some(s)
        })
        .await
        .expect("events shown")
    }
}

pub fn find<'a>(rows: &'a Value, key: &str, value: &str) -> &'a Value {
    rows.as_array()
        .and_then(|a| a.iter().find(|r| r[key] == value))
        .unwrap_or_else(|| panic!("no row with {key} = {value} in {rows}"))
}

//! The tickets service in process on port 0, on a fresh database and topology, for its tests.
//! Its client calls as a manager.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use sysops_platform::auth::Role;
use sysops_testkit::{auth, TestEnv};
use sysops_tickets::config::Config;
use sysops_tickets::domain::{NewTicket, NewTicketRequest};
use sysops_tickets::startup::Application;
use sysops_tickets::store::Created;

pub struct App {
    pub base: String,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    pub env: TestEnv,
}

impl App {
    pub async fn spawn() -> App {
        sysops_platform::telemetry::init_for_tests(sysops_testkit::logs_enabled());
        let env = TestEnv::new().await;
        let config = Config::for_tests(&env.database_url, &env.exchange);
        let app = Application::build(config)
            .await
            .expect("the service builds");
        let base = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run(shutdown.clone()));
        App {
            base,
            http: auth::client_of(Role::Manager),
            shutdown,
            env,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("request sent");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("request sent");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn create(&self, title: &str) -> Value {
        let (status, body) = self
            .post(
                "/api/tickets",
                json!({"title": title, "description": "it broke"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// The event types of the ticket's history, oldest first.
    pub async fn history_types(&self, id: impl std::fmt::Display) -> Vec<String> {
        let (_, history) = self.get(&format!("/api/tickets/{id}/history")).await;
        history["events"]
            .as_array()
            .expect("a list")
            .iter()
            .map(|e| e["type"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.env.cleanup().await;
    }
}

/// A new ticket as a customer submits it, with its `ticket.created` event, titled `title`.
pub fn created(title: &str) -> Created {
    let new = NewTicket::parse(NewTicketRequest {
        title: title.into(),
        description: format!("{title}, since this morning"),
        region: Some("north".into()),
        priority: None,
        channel: None,
        customer: Some("ada@example.com".into()),
    })
    .expect("a valid ticket");
    Created::submitted(&new, "ada@example.com".into(), None).expect("a JSON payload")
}

/// Calls `method path` on the app as `client`; the status and the JSON body (or null).
pub async fn call(
    app: &App,
    client: &reqwest::Client,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = client.request(method, format!("{}{path}", app.base));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let r = request.send().await.expect("request sent");
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

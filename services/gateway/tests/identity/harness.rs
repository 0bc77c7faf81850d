//! A gateway on its own database with a first admin, and how the tests call it.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use sysops_gateway::config::Config;
use sysops_gateway::startup::Application;
use sysops_platform::telemetry;
use sysops_testkit::TestEnv;

pub const ADMIN_EMAIL: &str = "root@example.com";
pub const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A gateway on a fresh database, with a first admin; every service behind it is down.
pub struct Gateway {
    address: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    env: TestEnv,
}

impl Gateway {
    pub async fn start() -> Self {
        telemetry::init_for_tests(sysops_testkit::logs_enabled());
        let env = TestEnv::new().await;
        let down = "http://127.0.0.1:9";
        let mut config = Config::for_tests(&env.database_url, down, down, down, down);
        config.admin_email = Some(ADMIN_EMAIL.into());
        config.admin_password = Some(ADMIN_PASSWORD.parse().expect("infallible"));
        let app = Application::build(config).await.expect("build the gateway");
        let address = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        tokio::spawn(app.run(shutdown.clone()));
        Gateway {
            address,
            http: reqwest::Client::new(),
            shutdown,
            env,
        }
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.env.cleanup().await;
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POSTs `body` with an optional bearer token; the status and the JSON body (or null).
    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request).await
    }

    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        answer(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    /// PATCHes `body` with a bearer token; the status and the JSON body (or null).
    pub async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        answer(
            self.http
                .patch(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn admin_token(&self) -> String {
        let (status, body) = self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        token_of(&body)
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("the gateway answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn token_of(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

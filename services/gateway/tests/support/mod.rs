//! A gateway in front of a stand-in tickets service (an echo server) while every other service
//! is down, for the gateway's tests. Its client calls as an admin.
// Each test binary uses a part of this module.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use sysops_gateway::config::Config;
use sysops_gateway::startup::Application;
use sysops_platform::auth::Role;
use sysops_platform::telemetry;
use sysops_testkit::{auth, TestEnv};

/// One database for every gateway of a test binary (its `identity` schema is all they use).
static DATABASE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn database_url() -> String {
    DATABASE
        .get_or_init(|| async { TestEnv::new().await.database_url.clone() })
        .await
        .clone()
}

/// A running gateway, stopped when dropped.
pub struct TestGateway {
    address: String,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    /// Holds the port of the services that are down.
    _closed_port: tokio::net::TcpSocket,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestGateway {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

/// Answers every request with what it received, as JSON.
async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Json<Value> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Json(json!({
        "method": method.as_str(),
        "path": uri.path(),
        "query": uri.query(),
        "request_id": header("x-request-id"),
                "forwarded_for": header("x-forwarded-for"),
        "traceparent": header("traceparent"),
        "body": String::from_utf8_lossy(&body),
    }))
}

/// Starts the echo server on a free port; returns its base URL.
async fn spawn_echo_upstream() -> String {
    let app = Router::new()
        .route(
            "/health",
            get(|| async { Json(json!({ "status": "healthy" })) }),
        )
        .route(
            "/api/tickets/broken",
            any(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/api/tickets/slow",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "too late"
            }),
        )
        .fallback(echo);
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the echo server");
    let addr = listener
        .local_addr()
        .expect("the echo server has an address");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .await
            .expect("serve the echo server")
    });
    format!("http://{addr}")
}

/// A URL where nothing listens, and the socket that keeps it so: bound, never listening, so
/// that connections to it are refused and no other server of the test run can take the port
/// (a port freed again could be, and would then answer or hang).
fn closed_port_url() -> (String, tokio::net::TcpSocket) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind a free port");
    let addr: SocketAddr = socket.local_addr().expect("the port has an address");
    (format!("http://{addr}"), socket)
}

/// The gateway with tickets served by the echo server and every other service down.
pub async fn spawn_gateway() -> TestGateway {
    spawn_gateway_with(|_| {}).await
}

/// Like [`spawn_gateway`], with settings changed by `adjust`.
pub async fn spawn_gateway_with(adjust: impl FnOnce(&mut Config)) -> TestGateway {
    telemetry::init_for_tests(std::env::var_os("TEST_LOG").is_some());
    let tickets = spawn_echo_upstream().await;
    let (down, closed_port) = closed_port_url();
    let mut config = Config::for_tests(&database_url().await, &tickets, &down, &down, &down);
    adjust(&mut config);
    let app = Application::build(config).await.expect("build the gateway");
    let address = format!("http://127.0.0.1:{}", app.port());
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    TestGateway {
        address,
        client: auth::client_of(Role::Admin),
        shutdown,
        _closed_port: closed_port,
    }
}

pub async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

//! The gateway in front of a stand-in tickets service (an echo server) while every other
//! service is down. Requests are made as an admin unless a test says otherwise.

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

/// One database for every gateway of this file (its `identity` schema is all they use).
static DATABASE: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();

async fn database_url() -> String {
    DATABASE
        .get_or_init(|| async { TestEnv::new().await.database_url.clone() })
        .await
        .clone()
}

/// A running gateway, stopped when dropped.
struct TestGateway {
    address: String,
    client: reqwest::Client,
    shutdown: CancellationToken,
}

impl Drop for TestGateway {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl TestGateway {
    fn url(&self, path: &str) -> String {
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

/// A URL where nothing listens.
async fn closed_port_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a free port");
    let addr: SocketAddr = listener.local_addr().expect("the port has an address");
    drop(listener);
    format!("http://{addr}")
}

/// The gateway with tickets served by the echo server and every other service down.
async fn spawn_gateway() -> TestGateway {
    spawn_gateway_with(|_| {}).await
}

/// Like [`spawn_gateway`], with settings changed by `adjust`.
async fn spawn_gateway_with(adjust: impl FnOnce(&mut Config)) -> TestGateway {
    telemetry::init_for_tests(std::env::var_os("TEST_LOG").is_some());
    let tickets = spawn_echo_upstream().await;
    let down = closed_port_url().await;
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
    }
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

#[tokio::test]
async fn a_proxied_request_reaches_the_owning_service_with_its_path_query_body_and_a_request_id() {
    let gateway = spawn_gateway().await;

    let response = gateway
        .client
        .post(gateway.url("/api/tickets?x=1"))
        .header("content-type", "application/json")
        .body(r#"{"title":"screen flickers"}"#)
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::OK);
    let response_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("the response carries x-request-id");
    let echoed = json_of(response).await;
    assert_eq!(echoed["method"], "POST");
    assert_eq!(echoed["path"], "/api/tickets");
    assert_eq!(echoed["query"], "x=1");
    assert_eq!(echoed["body"], r#"{"title":"screen flickers"}"#);
    assert_eq!(echoed["request_id"], response_id.as_str());
    assert!(
        uuid::Uuid::parse_str(&response_id).is_ok(),
        "a new id is a UUID: {response_id}"
    );
    assert_eq!(echoed["forwarded_for"], "127.0.0.1");
}

#[tokio::test]
async fn a_request_id_sent_by_the_client_is_kept_end_to_end() {
    let gateway = spawn_gateway().await;

    let response = gateway
        .client
        .get(gateway.url("/api/tickets/42"))
        .header("x-request-id", "client-chosen-id")
        .send()
        .await
        .expect("send");

    assert_eq!(response.headers()["x-request-id"], "client-chosen-id");
    let echoed = json_of(response).await;
    assert_eq!(echoed["request_id"], "client-chosen-id");
    assert_eq!(echoed["path"], "/api/tickets/42");
}

#[tokio::test]
async fn a_request_to_a_service_that_is_down_gets_503_naming_the_service() {
    let gateway = spawn_gateway().await;

    let response = gateway
        .client
        .get(gateway.url("/api/dashboard/summary"))
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("x-request-id"));
    let body = json_of(response).await;
    assert_eq!(body["error"], "the analytics service is unavailable");
    assert_eq!(body["detail"]["service"], "analytics");
}

#[tokio::test]
async fn a_service_slower_than_the_upstream_timeout_gets_504_naming_it() {
    let gateway = spawn_gateway_with(|config| config.upstream_timeout_secs = 1).await;

    let response = gateway
        .client
        .get(gateway.url("/api/tickets/slow"))
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::GATEWAY_TIMEOUT);
    let body = json_of(response).await;
    assert_eq!(body["error"], "the tickets service did not answer in time");
    assert_eq!(body["detail"]["service"], "tickets");
}

#[tokio::test]
async fn a_bare_server_error_from_a_service_comes_back_as_json_naming_it() {
    let gateway = spawn_gateway().await;

    let response = gateway
        .client
        .get(gateway.url("/api/tickets/broken"))
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body = json_of(response).await;
    assert_eq!(body["detail"]["service"], "tickets");
}

#[tokio::test]
async fn system_health_is_degraded_when_some_services_are_down() {
    let gateway = spawn_gateway().await;

    let response = gateway
        .client
        .get(gateway.url("/api/health"))
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::OK);
    let body = json_of(response).await;
    assert_eq!(
        body,
        json!({
            "status": "degraded",
            "services": {
                "tickets": "healthy",
                "categorizer": "unhealthy",
                "routing": "unhealthy",
                "analytics": "unhealthy",
            }
        })
    );
}

#[tokio::test]
async fn the_gateway_is_ready_while_the_tickets_service_answers() {
    let gateway = spawn_gateway().await;

    let ready = gateway
        .client
        .get(gateway.url("/ready"))
        .send()
        .await
        .expect("send");
    let health = gateway
        .client
        .get(gateway.url("/health"))
        .send()
        .await
        .expect("send");

    assert_eq!(ready.status(), StatusCode::OK);
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_unknown_api_path_gets_404_in_the_error_format() {
    let gateway = spawn_gateway().await;

    let response = gateway
        .client
        .get(gateway.url("/api/nothing/here"))
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        json_of(response).await,
        json!({ "error": "no such endpoint" })
    );
}

#[tokio::test]
async fn a_body_larger_than_the_limit_gets_413() {
    let gateway = spawn_gateway().await;
    let too_big = "x".repeat(64 * 1024 + 1);

    let response = gateway
        .client
        .post(gateway.url("/api/tickets"))
        .body(too_big)
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        json_of(response).await["error"],
        "the request body is too large"
    );
}

#[tokio::test]
async fn proxied_requests_are_counted_on_the_metrics_page() {
    let gateway = spawn_gateway().await;
    gateway
        .client
        .get(gateway.url("/api/tickets"))
        .send()
        .await
        .expect("send");

    let metrics = gateway
        .client
        .get(gateway.url("/metrics"))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("a text body");

    assert!(metrics.contains("gateway_requests_total{"), "{metrics}");
    assert!(metrics.contains(r#"service="tickets""#), "{metrics}");
    assert!(metrics.contains("gateway_upstream_seconds"), "{metrics}");
}

#[tokio::test]
async fn the_home_page_links_to_the_system_health() {
    let gateway = spawn_gateway().await;

    let response = gateway
        .client
        .get(gateway.url("/"))
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/html"));
    assert!(response
        .text()
        .await
        .expect("a body")
        .contains(r#"href="/api/health""#));
}

#[tokio::test]
async fn a_request_without_a_token_is_refused_401_before_it_reaches_the_service() {
    let gateway = spawn_gateway().await;

    let response = reqwest::Client::new()
        .get(gateway.url("/api/tickets"))
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="sysops""#
    );
    let body = json_of(response).await;
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("sign in"),
        "{body}"
    );
}

#[tokio::test]
async fn a_role_the_route_does_not_allow_is_refused_403_naming_the_allowed_roles() {
    let gateway = spawn_gateway().await;

    let response = auth::client_of(Role::Customer)
        .get(gateway.url("/api/pools"))
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body = json_of(response).await;
    assert_eq!(body["detail"]["allowed"], json!(["manager", "admin"]));
}

#[tokio::test]
async fn a_known_path_with_an_unknown_method_gets_405_with_the_allowed_methods() {
    let gateway = spawn_gateway().await;

    let response = gateway
        .client
        .delete(gateway.url("/api/tickets"))
        .send()
        .await
        .expect("send");

    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(response.headers()["allow"], "POST, GET");
}

#[tokio::test]
async fn an_address_over_its_rate_is_refused_429_with_retry_after() {
    let gateway = spawn_gateway_with(|config| config.rate_limit_per_address = 1).await;

    let mut statuses = Vec::new();
    let mut last = None;
    for _ in 0..3 {
        let response = reqwest::Client::new()
            .get(gateway.url("/api/health"))
            .send()
            .await
            .expect("send");
        statuses.push(response.status());
        last = Some(response);
    }

    // One per second with bursts of two: the third at once is refused.
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    let refused = last.expect("three answers");
    let retry_after: u64 = refused.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("whole seconds");
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    let body = json_of(refused).await;
    assert_eq!(body["detail"]["limit"], "address");
}

#[tokio::test]
async fn a_user_over_their_rate_is_refused_429() {
    let gateway = spawn_gateway_with(|config| config.rate_limit_per_user = 1).await;

    let mut statuses = Vec::new();
    for _ in 0..3 {
        let response = gateway
            .client
            .get(gateway.url("/api/tickets"))
            .send()
            .await
            .expect("send");
        statuses.push(response.status());
    }

    assert_eq!(statuses[2], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // Another user is not held back by the first one's requests.
    let other = auth::client_of(Role::Manager)
        .get(gateway.url("/api/tickets"))
        .send()
        .await
        .expect("send");
    assert_eq!(other.status(), StatusCode::OK);
}

#[tokio::test]
async fn password_guessing_from_one_address_is_slowed_to_the_sign_in_limit() {
    let gateway = spawn_gateway_with(|config| config.sign_in_limit_per_minute = 2).await;
    let attempt = || async {
        reqwest::Client::new()
            .post(gateway.url("/api/auth/login"))
            .json(&json!({ "email": "root@example.com", "password": "guess number n" }))
            .send()
            .await
            .expect("send")
            .status()
    };

    let statuses = [attempt().await, attempt().await, attempt().await];

    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
    // Other routes from the same address are not affected.
    let health = gateway
        .client
        .get(gateway.url("/api/health"))
        .send()
        .await
        .expect("send");
    assert_eq!(health.status(), StatusCode::OK);
}

#[tokio::test]
async fn answers_carry_the_security_headers() {
    let gateway = spawn_gateway().await;

    for path in ["/", "/api/health", "/api/tickets/42", "/api/nothing"] {
        let response = gateway
            .client
            .get(gateway.url(path))
            .send()
            .await
            .expect("send");
        let headers = response.headers();
        assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(headers["x-frame-options"], "DENY", "{path}");
        assert!(
            headers["content-security-policy"]
                .to_str()
                .expect("ascii")
                .contains("default-src 'self'"),
            "{path}"
        );
    }
}

#[tokio::test]
async fn only_configured_origins_may_call_the_api_from_a_browser() {
    let gateway = spawn_gateway_with(|config| {
        config.cors_allowed_origins = vec!["https://help.example.com".into()];
    })
    .await;
    let preflight = |origin: &'static str| {
        reqwest::Client::new()
            .request(Method::OPTIONS, gateway.url("/api/tickets"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };

    let allowed = preflight("https://help.example.com").await.expect("send");
    let other = preflight("https://evil.example.com").await.expect("send");

    assert!(allowed.status().is_success(), "{}", allowed.status());
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://help.example.com"
    );
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn a_trace_is_started_at_the_gateway_or_continued_from_the_client() {
    let gateway = spawn_gateway().await;

    let started = gateway
        .client
        .get(gateway.url("/api/tickets/7"))
        .send()
        .await
        .expect("send");
    let answered = started.headers()["traceparent"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let echoed = json_of(started).await;
    assert_eq!(
        echoed["traceparent"],
        answered.as_str(),
        "the service got the gateway's trace"
    );
    assert!(
        answered.starts_with("00-") && answered.len() == 55,
        "{answered}"
    );

    let client_trace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let continued = gateway
        .client
        .get(gateway.url("/api/tickets/7"))
        .header("traceparent", client_trace)
        .send()
        .await
        .expect("send");
    assert_eq!(json_of(continued).await["traceparent"], client_trace);
}

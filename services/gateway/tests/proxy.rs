//! The gateway in front of a stand-in tickets service (an echo server) while every other
//! service is down: forwarding, errors naming the service, health, request ids and traces.

mod support;

use reqwest::StatusCode;
use serde_json::json;

use support::{json_of, spawn_gateway, spawn_gateway_with};

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
async fn with_a_metrics_token_the_metrics_need_it_and_the_probes_stay_open() {
    let gateway =
        spawn_gateway_with(|c| c.metrics_token = Some("scrape me".parse().expect("infallible")))
            .await;
    let anyone = reqwest::Client::new();
    let status = |r: reqwest::Response| r.status();

    let refused = anyone
        .get(gateway.url("/metrics"))
        .send()
        .await
        .expect("send");
    assert_eq!(refused.status(), 401);
    assert!(refused.headers().contains_key("www-authenticate"));
    let wrong = anyone
        .get(gateway.url("/metrics"))
        .bearer_auth("a guess")
        .send()
        .await
        .expect("send");
    assert_eq!(status(wrong), 401);
    let scraped = anyone
        .get(gateway.url("/metrics"))
        .bearer_auth("scrape me")
        .send()
        .await
        .expect("send");
    assert_eq!(scraped.status(), 200);
    assert!(scraped.text().await.expect("text").contains("gateway_"));
    let health = anyone
        .get(gateway.url("/health"))
        .send()
        .await
        .expect("send");
    assert_eq!(status(health), 200);
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

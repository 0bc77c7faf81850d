//! The gateway's checks before anything is forwarded: tokens and roles, methods, rate limits,
//! security headers and CORS.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::json;

use sysops_platform::auth::Role;
use sysops_testkit::auth;

use support::{json_of, spawn_gateway, spawn_gateway_with};

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

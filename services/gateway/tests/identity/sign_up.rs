//! Signing up and signing in, and what is refused.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{token_of, Gateway, ADMIN_EMAIL, ADMIN_PASSWORD};

#[tokio::test]
async fn a_customer_registers_signs_in_and_is_told_who_they_are() {
    let gw = Gateway::start().await;

    let (status, registered) = gw
        .post(
            "/api/auth/register",
            None,
            json!({ "email": " Ada@Example.com ", "password": "a long enough password", "name": "Ada" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{registered}");
    assert_eq!(registered["user"]["role"], "customer");
    assert_eq!(registered["user"]["email"], "ada@example.com");
    assert_eq!(registered["token_type"], "Bearer");
    assert!(registered["user"].get("password_hash").is_none());

    let (status, signed_in) = gw.login("ada@example.com", "a long enough password").await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");
    let (status, me) = gw.get("/api/auth/me", &token_of(&signed_in)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["name"], "Ada");

    let (status, again) = gw
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "ada@example.com", "password": "another long password" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    gw.stop().await;
}

#[tokio::test]
async fn bad_sign_ups_and_wrong_passwords_are_refused_with_a_reason() {
    let gw = Gateway::start().await;

    let (status, body) = gw
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "bob@example.com", "password": "short" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .contains("at least 10"),
        "{body}"
    );
    let (status, _) = gw
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "not-an-address", "password": "a long enough password" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = gw
        .post(
            "/api/auth/register",
            None,
            json!({ "email": "eve@example.com", "password": "a long enough password", "role": "admin" }),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "nobody registers as admin"
    );

    let (status, body) = gw.login(ADMIN_EMAIL, "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "wrong e-mail address or password");
    let (status, body) = gw.login("nobody@example.com", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "wrong e-mail address or password");
    gw.stop().await;
}

//! Sessions: renewal, replayed refresh tokens, signing out, password changes, forged tokens.

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{token_of, Gateway, ADMIN_EMAIL, ADMIN_PASSWORD};

#[tokio::test]
async fn a_refresh_token_renews_once_and_a_replayed_one_ends_the_session() {
    let gw = Gateway::start().await;
    let (_, first) = gw.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, elsewhere) = gw.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let refresh = first["refresh_token"].as_str().expect("a refresh token");
    let renew =
        |token: Value| gw.post("/api/auth/refresh", None, json!({ "refresh_token": token }));

    let (status, once) = renew(json!(refresh)).await;
    assert_eq!(status, StatusCode::OK, "{once}");
    assert_ne!(once["refresh_token"], first["refresh_token"]);
    let (status, renewed) = renew(once["refresh_token"].clone()).await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    let (status, _) = gw.get("/api/auth/me", &token_of(&renewed)).await;
    assert_eq!(status, StatusCode::OK);

    // A token spent two renewals ago, again: someone else holds a copy, so the session ends
    // for both.
    let (status, _) = renew(json!(refresh)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a used refresh token is spent"
    );
    let (status, _) = renew(renewed["refresh_token"].clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the session was ended");
    let (status, _) = gw.get("/api/auth/me", &token_of(&renewed)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = gw.get("/api/auth/me", &token_of(&elsewhere)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another session of the same user goes on"
    );
    gw.stop().await;
}

#[tokio::test]
async fn signing_out_ends_the_session_and_only_that_one() {
    let gw = Gateway::start().await;
    let (_, first) = gw.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (_, elsewhere) = gw.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let token = token_of(&first);

    let (status, _) = gw.post("/api/auth/logout", Some(&token), json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (status, body) = gw.get("/api/auth/me", &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap_or_default()
        .contains("signed out"));
    let (status, _) = gw
        .post(
            "/api/auth/refresh",
            None,
            json!({ "refresh_token": first["refresh_token"] }),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = gw.get("/api/auth/me", &token_of(&elsewhere)).await;
    assert_eq!(status, StatusCode::OK);
    gw.stop().await;
}

#[tokio::test]
async fn changing_ones_password_ends_every_session_and_starts_a_new_one() {
    let gw = Gateway::start().await;
    let email = "pat@example.com";
    let (status, first) = gw
        .post(
            "/api/auth/register",
            None,
            json!({ "email": email, "password": "first password here" }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (_, elsewhere) = gw.login(email, "first password here").await;
    let token = token_of(&first);

    let change =
        |current: &str, new: &str| json!({ "current_password": current, "new_password": new });
    let (status, body) = gw
        .post(
            "/api/auth/password",
            Some(&token),
            change("wrong", "second password here"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["detail"]["field"], "current_password");
    let (status, body) = gw
        .post(
            "/api/auth/password",
            Some(&token),
            change("first password here", "short"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, _) = gw
        .post(
            "/api/auth/password",
            None,
            change("first password here", "second password here"),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let (status, renewed) = gw
        .post(
            "/api/auth/password",
            Some(&token),
            change("first password here", "second password here"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renewed}");
    assert_eq!(renewed["user"]["email"], email);
    // Every earlier session is over, this one's and the other device's, refresh tokens too.
    for old in [&first, &elsewhere] {
        let (status, _) = gw.get("/api/auth/me", &token_of(old)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = gw
            .post(
                "/api/auth/refresh",
                None,
                json!({ "refresh_token": old["refresh_token"] }),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, _) = gw.get("/api/auth/me", &token_of(&renewed)).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = gw.login(email, "first password here").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = gw.login(email, "second password here").await;
    assert_eq!(status, StatusCode::OK);
    gw.stop().await;
}

#[tokio::test]
async fn a_tampered_or_foreign_token_is_refused() {
    let gw = Gateway::start().await;
    let token = gw.admin_token().await;
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });

    let (status, body) = gw.get("/api/auth/me", &forged).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = gw.get("/api/auth/me", "not.a.token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    gw.stop().await;
}

//! Accounts managed by admins, and tokens made with the shared secret.

use reqwest::StatusCode;
use serde_json::json;

use sysops_testkit::auth;

use crate::harness::{token_of, Gateway};

#[tokio::test]
async fn admins_create_and_disable_accounts_and_a_disabled_account_is_signed_out() {
    let gw = Gateway::start().await;
    let admin = gw.admin_token().await;

    let (status, body) = gw
        .post(
            "/api/users",
            Some(&admin),
            json!({ "email": "eng@example.com", "password": "engineer password", "role": "expert" }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let expert_id = uuid::Uuid::now_v7();
    let (status, created) = gw
        .post(
            "/api/users",
            Some(&admin),
            json!({ "email": "eng@example.com", "password": "engineer password", "role": "expert", "expert_id": expert_id }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["expert_id"], json!(expert_id));

    let (_, signed_in) = gw.login("eng@example.com", "engineer password").await;
    let expert = token_of(&signed_in);
    let (status, _) = gw.get("/api/users", &expert).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "experts do not manage accounts"
    );

    let id = created["id"].as_str().expect("an id");
    // Linked to another roster entry: tokens naming the old one stop working.
    let (status, body) = gw
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({ "expert_id": uuid::Uuid::now_v7() }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = gw.get("/api/auth/me", &expert).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the relinked account's session ended"
    );
    let (_, signed_in) = gw.login("eng@example.com", "engineer password").await;
    let expert = token_of(&signed_in);

    let (status, body) = gw
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({ "disabled": true }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = gw.get("/api/auth/me", &expert).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the disabled account's session ended"
    );
    let (status, body) = gw.login("eng@example.com", "engineer password").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");

    let (status, list) = gw.get("/api/users?role=expert", &admin).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 1);
    gw.stop().await;
}

#[tokio::test]
async fn an_admin_cannot_lock_themselves_out() {
    let gw = Gateway::start().await;
    let admin = gw.admin_token().await;
    let (_, me) = gw.get("/api/auth/me", &admin).await;
    let id = me["id"].as_str().expect("an id");

    let (status, body) = gw
        .patch(
            &format!("/api/users/{id}"),
            &admin,
            json!({ "role": "customer" }),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    gw.stop().await;
}

#[tokio::test]
async fn a_token_signed_with_the_shared_secret_for_a_role_is_accepted() {
    let gw = Gateway::start().await;
    let manager = auth::token(&auth::someone(sysops_platform::auth::Role::Manager));

    let (status, _) = gw.get("/api/users", &manager).await;

    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a manager is signed in but not an admin"
    );
    gw.stop().await;
}

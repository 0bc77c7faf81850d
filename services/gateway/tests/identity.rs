//! Accounts and sessions through the gateway's HTTP API, on a real database: sign-up,
//! sign-in, renewal, sign-out, the first admin, and accounts managed by admins.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use sysops_gateway::config::Config;
use sysops_gateway::startup::Application;
use sysops_platform::telemetry;
use sysops_testkit::{auth, TestEnv};

const ADMIN_EMAIL: &str = "root@example.com";
const ADMIN_PASSWORD: &str = "correct horse battery staple";

/// A gateway on a fresh database, with a first admin; every service behind it is down.
struct Gateway {
    address: String,
    http: reqwest::Client,
    shutdown: CancellationToken,
    env: TestEnv,
}

impl Gateway {
    async fn start() -> Self {
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

    async fn stop(self) {
        self.shutdown.cancel();
        self.env.cleanup().await;
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// POSTs `body` with an optional bearer token; the status and the JSON body (or null).
    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        let mut request = self.http.post(self.url(path)).json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        answer(request).await
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        answer(self.http.get(self.url(path)).bearer_auth(token)).await
    }

    /// PATCHes `body` with a bearer token; the status and the JSON body (or null).
    async fn patch(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        answer(
            self.http
                .patch(self.url(path))
                .bearer_auth(token)
                .json(&body),
        )
        .await
    }

    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/api/auth/login",
            None,
            json!({ "email": email, "password": password }),
        )
        .await
    }

    async fn admin_token(&self) -> String {
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

fn token_of(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .expect("an access token")
        .to_owned()
}

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

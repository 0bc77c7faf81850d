//! Submissions sent again under an `Idempotency-Key` (after a timeout or a lost answer) are
//! stored once: the same submission gets the ticket stored the first time, a different one under
//! a used key is refused, keys belong to the account that sent them.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use sysops_platform::auth::Role;
use sysops_testkit::auth;
use sysops_tickets::intake::{Intake, Stored};
use sysops_tickets::store::Store;

use support::{created, App};

async fn submit(
    app: &App,
    client: &reqwest::Client,
    key: Option<&str>,
    body: &Value,
) -> (StatusCode, Value) {
    let mut request = client
        .request(Method::POST, format!("{}/api/tickets", app.base))
        .json(body);
    if let Some(key) = key {
        request = request.header("Idempotency-Key", key);
    }
    let r = request.send().await.expect("request sent");
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

async fn count(app: &App, sql: &str, id: &Value) -> i64 {
    let id: Uuid = id.as_str().and_then(|s| s.parse().ok()).expect("an id");
    sqlx::query_scalar(sql)
        .bind(id)
        .fetch_one(&app.env.pool("tickets").await)
        .await
        .expect("a count")
}

#[tokio::test]
async fn the_same_submission_under_the_same_key_is_stored_once() {
    let app = App::spawn().await;
    let body = json!({"title": "Printer jams", "description": "on every page", "customer": "ada@example.com"});
    let (status, first) = submit(&app, &app.http, Some("order-7-try"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let (status, again) = submit(&app, &app.http, Some("order-7-try"), &body).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again, first, "the ticket stored the first time");

    let id = &first["id"];
    let events = "SELECT count(*) FROM ticket_events WHERE ticket_id = $1";
    assert_eq!(count(&app, events, id).await, 1);
    let outbox = "SELECT count(*) FROM outbox WHERE (envelope->>'ticket_id')::uuid = $1";
    assert_eq!(count(&app, outbox, id).await, 1);
    let all = "SELECT count(*) FROM tickets WHERE id = $1 OR title = 'Printer jams'";
    assert_eq!(count(&app, all, id).await, 1);

    // Without a key every submission is a new ticket.
    let (status, other) = submit(&app, &app.http, None, &body).await;
    assert_eq!(status, StatusCode::CREATED, "{other}");
    assert_ne!(other["id"], first["id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_used_key_with_a_different_ticket_is_refused() {
    let app = App::spawn().await;
    let body =
        json!({"title": "VPN down", "description": "since 9", "customer": "ada@example.com"});
    let (status, first) = submit(&app, &app.http, Some("k1"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let changed =
        json!({"title": "VPN down", "description": "since 10", "customer": "ada@example.com"});
    let (status, refused) = submit(&app, &app.http, Some("k1"), &changed).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("Idempotency-Key `k1` was used for a different ticket"),
        "{refused}"
    );
    assert_eq!(refused["detail"]["ticket_id"], first["id"]);
    app.stop().await;
}

#[tokio::test]
async fn keys_belong_to_the_account_that_sent_them() {
    let app = App::spawn().await;
    let (ada, bob) = (
        auth::client_of(Role::Customer),
        auth::client_of(Role::Customer),
    );
    let body = json!({"title": "Screen flickers", "description": "after the update"});
    let (status, of_ada) = submit(&app, &ada, Some("same-key"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{of_ada}");
    let (status, of_bob) = submit(&app, &bob, Some("same-key"), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{of_bob}");
    assert_ne!(of_ada["id"], of_bob["id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_malformed_key_is_refused_400() {
    let app = App::spawn().await;
    let body =
        json!({"title": "Keyboard", "description": "keys stick", "customer": "ada@example.com"});
    let long = "k".repeat(256);
    for key in ["", "   ", long.as_str(), "caf\u{e9}"] {
        let (status, answer) = submit(&app, &app.http, Some(key), &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{key:?}: {answer}");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("Idempotency-Key must be 1 to 255 printable ASCII characters"),
            "{answer}"
        );
    }
    let (status, answer) = submit(&app, &app.http, Some(&"k".repeat(255)), &body).await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");
    app.stop().await;
}

// The test runtime has one thread: both submissions are handed over before a writer runs, so
// they are written in one statement.
#[tokio::test]
async fn two_submissions_under_one_key_in_one_group_store_one_ticket() {
    let app = App::spawn().await;
    let store = Store::new(app.env.pool("tickets").await);
    let intake = Intake::start(store.clone());
    let account = Uuid::now_v7();
    let first = created("Mouse").with_key(account, "twice".into());
    let mut second = first.clone();
    second.ticket.id = Uuid::now_v7();
    second.event.id = Uuid::now_v7();
    let (a, b) = tokio::join!(intake.store(first.clone()), intake.store(second));
    assert_eq!(
        (a.expect("stored"), b.expect("answered")),
        (Stored::New, Stored::KeyUsed)
    );
    let (ticket, digest) = store
        .by_idempotency_key(account, "twice")
        .await
        .expect("a lookup")
        .expect("the ticket");
    assert_eq!(ticket.id, first.ticket.id);
    assert_eq!(Some(digest), first.idempotency.map(|k| k.digest));
    app.stop().await;
}

//! The tickets API against a real database and broker, in process on port 0. Requests are
//! made as a manager unless a test says otherwise.

mod support;

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use sysops_contract::{Envelope, EventType};

use support::App;

#[tokio::test]
async fn a_created_ticket_can_be_read_back_and_has_a_created_event() {
    let app = App::spawn().await;
    let (status, body) = app
        .post(
            "/api/tickets",
            json!({"title": "Wi-Fi drops", "description": "the router reboots hourly", "region": "North", "priority": "high", "channel": "phone"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["status"], "new");
    assert_eq!(body["region"], "north");
    assert_eq!(body["priority"], "high");

    let id = body["id"].as_str().expect("an id");
    let (status, fetched) = app.get(&format!("/api/tickets/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["title"], "Wi-Fi drops");

    assert_eq!(app.history_types(id).await, ["ticket.created"]);
    app.stop().await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_nothing_is_stored() {
    let app = App::spawn().await;
    let cases = [
        (
            json!({"description": "no title"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing field `title`",
        ),
        (
            json!({"title": "ok title", "description": "x", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown field `colour`",
        ),
        (
            json!({"title": 42, "description": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid type",
        ),
        (
            json!({"title": "  ", "description": "x"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title must not be empty",
        ),
        (
            json!({"title": "ok title", "description": "x", "priority": "asap"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown variant `asap`",
        ),
    ];
    for (body, expected, message) in cases {
        let (status, error) = app.post("/api/tickets", body.clone()).await;
        assert_eq!(status, expected, "{body}");
        let text = error["error"].as_str().unwrap_or_default();
        assert!(
            text.contains(message),
            "{body}: `{text}` should mention `{message}`"
        );
    }

    let r = app
        .http
        .post(format!("{}/api/tickets", app.base))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app
        .http
        .post(format!("{}/api/tickets", app.base))
        .body("{}")
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let huge = json!({"title": "big", "description": "x".repeat(100_000)});
    let r = app
        .http
        .post(format!("{}/api/tickets", app.base))
        .json(&huge)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let error: Value = r.json().await.expect("json error");
    assert!(error["error"]
        .as_str()
        .unwrap_or_default()
        .contains("too large"));

    let (_, list) = app.get("/api/tickets").await;
    assert_eq!(list["total"], 0);
    app.stop().await;
}

#[tokio::test]
async fn illegal_moves_are_refused_with_409_naming_the_current_state() {
    let app = App::spawn().await;
    let ticket = app.create("Laptop will not boot").await;
    let id = ticket["id"].as_str().expect("an id");

    let (status, error) = app
        .post(&format!("/api/tickets/{id}/resolve"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        error["error"]
            .as_str()
            .unwrap_or_default()
            .contains("ticket that is new"),
        "{error}"
    );

    let (status, cancelled) = app
        .post(
            &format!("/api/tickets/{id}/cancel"),
            json!({"reason": "fixed it myself"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cancelled["status"], "cancelled");

    let (status, _) = app
        .post(&format!("/api/tickets/{id}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = app
        .post(&format!("/api/tickets/{id}/explode"), json!({}))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app.get("/api/tickets/not-a-uuid").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app
        .get(&format!("/api/tickets/{}", uuid::Uuid::now_v7()))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.stop().await;
}

#[tokio::test]
async fn of_moves_racing_on_one_ticket_one_wins_and_only_it_is_recorded() {
    let app = App::spawn().await;
    let ticket = app.create("Monitor flickers").await;
    let id = ticket["id"].as_str().expect("an id");
    let path = format!("/api/tickets/{id}/cancel");
    let cancel = || app.post(&path, json!({"reason": "duplicate"}));
    let answers = tokio::join!(cancel(), cancel(), cancel(), cancel(), cancel(), cancel());
    let statuses = [
        answers.0 .0,
        answers.1 .0,
        answers.2 .0,
        answers.3 .0,
        answers.4 .0,
        answers.5 .0,
    ];
    assert_eq!(
        statuses.iter().filter(|s| **s == StatusCode::OK).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        app.history_types(id).await,
        ["ticket.created", "ticket.cancelled"]
    );
    let (_, fetched) = app.get(&format!("/api/tickets/{id}")).await;
    assert_eq!(fetched["status"], "cancelled");
    app.stop().await;
}

#[tokio::test]
async fn a_person_can_pick_the_category_and_unknown_categories_are_refused() {
    let app = App::spawn().await;
    let id = app.create("Strange noise").await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let r = app
        .http
        .put(format!("{}/api/tickets/{id}/category", app.base))
        .json(&json!({"category": "teleporters"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .http
        .put(format!("{}/api/tickets/{id}/category", app.base))
        .json(&json!({"category": "audio"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = r.json().await.expect("ticket");
    assert_eq!(t["category"], "audio");
    assert_eq!(t["method"], "human");
    assert_eq!(t["status"], "categorized");
    app.stop().await;
}

#[tokio::test]
async fn the_list_filters_and_pages() {
    let app = App::spawn().await;
    for i in 0..5 {
        app.create(&format!("Ticket number {i}")).await;
    }
    let cancelled = app.create("To be cancelled").await;
    app.post(
        &format!(
            "/api/tickets/{}/cancel",
            cancelled["id"].as_str().expect("id")
        ),
        json!({}),
    )
    .await;

    let (_, page) = app.get("/api/tickets?limit=2").await;
    assert_eq!(page["total"], 6);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(page["next_offset"], 2);
    assert_eq!(page["items"][0]["title"], "To be cancelled", "newest first");

    let (_, last) = app.get("/api/tickets?limit=4&offset=4").await;
    assert_eq!(last["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(last["next_offset"], Value::Null);

    let (_, new_only) = app.get("/api/tickets?status=new").await;
    assert_eq!(new_only["total"], 5);
    let (status, error) = app.get("/api/tickets?status=sleeping").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]
        .as_str()
        .unwrap_or_default()
        .contains("unknown ticket status"));
    let (status, _) = app.get("/api/tickets?limit=0").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = app.get("/api/tickets?sort=asc").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    app.stop().await;
}

/// Routing's `ticket.queued` and the categorizer's `ticket.categorized` come on one queue and
/// may be applied in either order: a ticket queued first shows its category at once, and the
/// decision's confidence and method when they come.
#[tokio::test]
async fn a_ticket_queued_before_its_categorization_shows_its_category() {
    let app = App::spawn().await;
    let created = app.create("Printer jams").await;
    let id: Uuid = created["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let bus = app.env.bus();
    let ticket_when = |what: &'static str, ready: fn(&Value) -> bool| {
        let app = &app;
        sysops_testkit::wait_for(what, Duration::from_secs(30), move || async move {
            let (_, t) = app.get(&format!("/api/tickets/{id}")).await;
            ready(&t).then_some(t)
        })
    };

    let queued = json!({"category": "printers", "pool": "printers"});
    bus.publish(&Envelope::new(EventType::TicketQueued, Some(id), queued))
        .await
        .expect("published");
    let t = ticket_when("the ticket queued", |t| t["status"] == "queued")
        .await
        .expect("queued");
    assert_eq!(t["category"], "printers", "{t}");
    assert_eq!(t["pool"], "printers");
    assert!(t["method"].is_null(), "{t}");

    let categorized = json!({"category": "printers", "confidence": 0.75, "method": "keyword",
        "candidates": [], "latency_ms": 1.0, "needs_review": false});
    bus.publish(&Envelope::new(
        EventType::TicketCategorized,
        Some(id),
        categorized,
    ))
    .await
    .expect("published");
    let t = ticket_when("the categorization applied", |t| t["method"] == "keyword")
        .await
        .expect("categorized");
    assert_eq!(t["status"], "queued", "a later event does not move it back");
    assert_eq!(t["confidence"].as_f64(), Some(0.75));
    assert_eq!(t["pool"], "printers");
    bus.close().await;
    app.stop().await;
}

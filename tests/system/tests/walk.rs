//! A user's walk through the gateway: submit a ticket, see it categorized and queued in a
//! pool, read its history.

use std::time::Instant;

use sysops_system_tests::{event_types, history, wait_for_categorized_ticket, SETTLE};
use sysops_testkit::Stack;

#[tokio::test]
async fn a_submitted_ticket_is_categorized_queued_and_has_its_history() {
    let stack = Stack::start().await.expect("the stack starts");
    let started = Instant::now();
    let id = stack
        .submit(
            "Printer keeps jamming",
            "My printer shows a paper jam error on every page, even with new paper.",
        )
        .await
        .expect("submitted");

    let ticket = wait_for_categorized_ticket(&stack.http, &stack.gateway.url(), id, &["queued"])
        .await
        .expect("queued");
    eprintln!("submit to queued: {:?}", started.elapsed());
    assert_eq!(ticket["category"], "printers");
    assert_eq!(ticket["pool"], "printers");
    assert_eq!(ticket["method"], "embedding");
    assert!(
        ticket["confidence"].as_f64().unwrap_or(0.0) > 0.5,
        "{ticket}"
    );

    let history = history(&stack.http, &stack.gateway.url(), id)
        .await
        .expect("history");
    assert_eq!(
        event_types(&history),
        ["ticket.created", "ticket.categorized", "ticket.queued"]
    );

    let health: serde_json::Value = stack
        .http
        .get(format!("{}/api/health", stack.gateway.url()))
        .send()
        .await
        .expect("health")
        .json()
        .await
        .expect("json");
    assert_eq!(health["status"], "healthy", "{health}");

    let routing: serde_json::Value = stack
        .http
        .get(format!("{}/api/routing/history/{id}", stack.gateway.url()))
        .send()
        .await
        .expect("routing history")
        .json()
        .await
        .expect("json");
    assert_eq!(routing["decisions"][0]["pool"], "printers");
    stack.shutdown().await;
}

#[tokio::test]
async fn a_ticket_nothing_matches_waits_for_review_and_a_persons_category_routes_it() {
    let stack = Stack::start().await.expect("the stack starts");
    let id = stack
        .submit("Question", "Hello, something odd happened yesterday.")
        .await
        .expect("submitted");
    let ticket = stack
        .wait_for_status(id, "needs_review", SETTLE)
        .await
        .expect("needs review");
    assert_eq!(ticket["needs_review"], true);

    let r = stack
        .http
        .put(format!("{}/api/tickets/{id}/category", stack.gateway.url()))
        .json(&serde_json::json!({"category": "audio"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    let ticket = stack
        .wait_for_status(id, "queued", SETTLE)
        .await
        .expect("queued");
    assert_eq!(ticket["pool"], "av");
    assert_eq!(ticket["category"], "audio");
    stack.shutdown().await;
}

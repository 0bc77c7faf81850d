//! The `tickets.pipeline` batch handler against a real database: events of one batch apply in
//! delivery order, each event once, a batch that cannot be applied commits nothing, a late
//! take-back does not undo an acceptance, an older assignment arriving late does not replace a
//! newer one, and customers read the history without the help desk's workings.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use uuid::Uuid;

use sysops_bus::{HandleError, Incoming};
use sysops_contract::{Envelope, EventType};
use sysops_tickets::pipeline;
use sysops_tickets::store::Store;

use sysops_platform::auth::Role;
use sysops_testkit::auth;

use support::{call, App};

fn incoming(event_type: EventType, ticket: Uuid, data: Value) -> Incoming {
    Incoming {
        envelope: Envelope::new(event_type, Some(ticket), data)
            .to_raw()
            .expect("a JSON payload"),
        redelivered: false,
    }
}

fn categorized(ticket: Uuid, category: &str) -> Incoming {
    let data = json!({"category": category, "confidence": 0.9, "method": "embedding",
        "candidates": [], "latency_ms": 3.0, "needs_review": false});
    incoming(EventType::TicketCategorized, ticket, data)
}

fn queued(ticket: Uuid) -> Incoming {
    let data = json!({"category": "printers", "pool": "printers", "reason": "no one has room"});
    incoming(EventType::TicketQueued, ticket, data)
}

/// Routing's assignment number `attempt` of `ticket`, to `expert`.
fn assigned(ticket: Uuid, expert: Uuid, attempt: u32) -> Incoming {
    let candidate = json!({"expert_id": expert, "name": "Ada", "score": 0.9, "note": "load 0/3"});
    let data = json!({"pool": "printers", "expert_id": expert, "expert_name": "Ada",
        "attempt": attempt, "decision": {"candidates": [candidate], "reason": "the only one"}});
    incoming(EventType::TicketAssigned, ticket, data)
}

/// Routing took assignment number `attempt` back from `expert`.
fn unassigned(ticket: Uuid, expert: Uuid, attempt: u32) -> Incoming {
    let data = json!({"expert_id": expert, "reason": "not accepted in time", "by": "routing",
        "attempt": attempt});
    incoming(EventType::TicketUnassigned, ticket, data)
}

async fn id_of(app: &App, title: &str) -> Uuid {
    app.create(title).await["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id")
}

#[tokio::test]
async fn a_batch_applies_each_event_once_in_delivery_order() {
    let app = App::spawn().await;
    let store = Store::new(app.env.pool("tickets").await);
    let (a, b) = (
        id_of(&app, "Printer jams").await,
        id_of(&app, "VPN down").await,
    );
    let expert = Uuid::now_v7();
    let first = categorized(a, "printers");
    let batch = vec![
        first.clone(),
        categorized(b, "network"),
        assigned(a, expert, 1),
        // A redelivery arriving in the same batch.
        first,
    ];
    pipeline::handle(&store, batch.clone())
        .await
        .expect("the batch applies");

    let (_, t) = app.get(&format!("/api/tickets/{a}")).await;
    assert_eq!(t["status"], "assigned", "{t}");
    assert_eq!(t["category"], "printers");
    assert_eq!(t["method"], "embedding");
    assert_eq!(t["assignee"], expert.to_string());
    assert_eq!(t["assignee_name"], "Ada");
    let (_, t) = app.get(&format!("/api/tickets/{b}")).await;
    assert_eq!(t["status"], "categorized", "{t}");
    assert_eq!(t["category"], "network");
    let a_history = ["ticket.created", "ticket.categorized", "ticket.assigned"];
    assert_eq!(app.history_types(a).await, a_history);

    // The whole batch again, as after a crash before the acknowledgement: nothing changes.
    let before = app.get(&format!("/api/tickets/{a}")).await.1;
    pipeline::handle(&store, batch)
        .await
        .expect("a redelivered batch is accepted");
    assert_eq!(app.get(&format!("/api/tickets/{a}")).await.1, before);
    assert_eq!(app.history_types(a).await, a_history);
    app.stop().await;
}

#[tokio::test]
async fn a_batch_with_an_event_that_cannot_apply_commits_nothing() {
    let app = App::spawn().await;
    let store = Store::new(app.env.pool("tickets").await);
    let a = id_of(&app, "Printer jams").await;
    let good = categorized(a, "printers");
    let unknown_ticket = categorized(Uuid::now_v7(), "printers");
    let bad_payload = incoming(EventType::TicketAssigned, a, json!({"pool": 7}));
    for bad in [unknown_ticket, bad_payload] {
        let failed = pipeline::handle(&store, vec![good.clone(), bad]).await;
        assert!(
            matches!(failed, Err(HandleError::Permanent(_))),
            "{failed:?}"
        );
        let (_, t) = app.get(&format!("/api/tickets/{a}")).await;
        assert_eq!(t["status"], "new", "{t}");
        assert_eq!(app.history_types(a).await, ["ticket.created"]);
    }
    // The good event alone (as the consumer retries it) applies: its inbox entry was rolled
    // back with the failed batch.
    pipeline::handle(&store, vec![good])
        .await
        .expect("the good event applies");
    let (_, t) = app.get(&format!("/api/tickets/{a}")).await;
    assert_eq!(t["status"], "categorized", "{t}");
    app.stop().await;
}

#[tokio::test]
async fn a_take_back_that_arrives_after_the_acceptance_changes_nothing() {
    // Routing took the assignment back from an expert who had not accepted in time and gave the
    // ticket to another, while the expert accepted it here; routing then let the expert keep it
    // (the acceptance wins). The take-back and the new assignment arrive after the acceptance.
    let app = App::spawn().await;
    let store = Store::new(app.env.pool("tickets").await);
    let a = id_of(&app, "Printer jams").await;
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());
    pipeline::handle(
        &store,
        vec![categorized(a, "printers"), assigned(a, first, 1)],
    )
    .await
    .expect("the assignment applies");
    let as_first = auth::client_as(&auth::expert(first));
    let path = format!("/api/tickets/{a}/accept");
    let (status, body) = call(&app, &as_first, Method::POST, &path, Some(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    pipeline::handle(
        &store,
        vec![unassigned(a, first, 1), assigned(a, second, 2)],
    )
    .await
    .expect("the late events are handled");
    let (_, t) = app.get(&format!("/api/tickets/{a}")).await;
    assert_eq!(t["status"], "accepted", "{t}");
    assert_eq!(t["assignee"], first.to_string(), "{t}");
    let (status, t) = call(
        &app,
        &as_first,
        Method::GET,
        &format!("/api/tickets/{a}"),
        None,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the expert still sees the ticket: {t}"
    );
    app.stop().await;
}

#[tokio::test]
async fn assignments_arriving_out_of_order_leave_the_newest_in_place() {
    // Routing's replicas relay their outboxes independently, and two pipeline consumers take
    // batches side by side, so routing's events can arrive out of the order it made them in.
    let app = App::spawn().await;
    let store = Store::new(app.env.pool("tickets").await);
    let (a, b) = (
        id_of(&app, "Printer jams").await,
        id_of(&app, "VPN down").await,
    );
    let (first, second) = (Uuid::now_v7(), Uuid::now_v7());

    // `a` was taken back from `first` and given to `second`; the first assignment comes last.
    let reassigned = vec![
        categorized(a, "printers"),
        unassigned(a, first, 1),
        assigned(a, second, 2),
    ];
    pipeline::handle(&store, reassigned).await.expect("applied");
    pipeline::handle(&store, vec![assigned(a, first, 1)])
        .await
        .expect("the late assignment is handled");
    let (_, t) = app.get(&format!("/api/tickets/{a}")).await;
    assert_eq!(t["status"], "assigned", "{t}");
    assert_eq!(t["assignee"], second.to_string(), "{t}");
    let history = app.history_types(a).await;
    assert_eq!(
        history.len(),
        5,
        "every event is in the history: {history:?}"
    );

    // `b` was taken back from `first` and put in the backlog; the assignment comes last.
    let backlog = vec![
        categorized(b, "printers"),
        unassigned(b, first, 1),
        queued(b),
    ];
    pipeline::handle(&store, backlog).await.expect("applied");
    pipeline::handle(&store, vec![assigned(b, first, 1)])
        .await
        .expect("the late assignment is handled");
    let (_, t) = app.get(&format!("/api/tickets/{b}")).await;
    assert_eq!(t["status"], "queued", "{t}");
    assert_eq!(t["assignee"], Value::Null, "{t}");

    // A newer assignment still applies, and its take-back clears it.
    pipeline::handle(&store, vec![assigned(b, second, 2)])
        .await
        .expect("applied");
    let (_, t) = app.get(&format!("/api/tickets/{b}")).await;
    assert_eq!(t["assignee"], second.to_string(), "{t}");
    pipeline::handle(&store, vec![unassigned(b, second, 2)])
        .await
        .expect("applied");
    let (_, t) = app.get(&format!("/api/tickets/{b}")).await;
    assert_eq!(t["status"], "queued", "{t}");
    assert_eq!(t["assignee"], Value::Null, "{t}");
    app.stop().await;
}

#[tokio::test]
async fn a_customer_reads_what_happened_and_staff_read_the_whole_record() {
    let app = App::spawn().await;
    let store = Store::new(app.env.pool("tickets").await);
    let customer = auth::client_of(Role::Customer);
    let body = json!({"title": "Printer jams", "description": "on every page"});
    let (status, created) = call(&app, &customer, Method::POST, "/api/tickets", Some(body)).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id: Uuid = created["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .expect("an id");
    let expert = Uuid::now_v7();
    pipeline::handle(
        &store,
        vec![categorized(id, "printers"), assigned(id, expert, 1)],
    )
    .await
    .expect("the events apply");

    let path = format!("/api/tickets/{id}/history");
    let (status, history) = call(&app, &customer, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let events = history["events"].as_array().expect("events");
    assert_eq!(
        events[1]["data"],
        json!({"category": "printers", "needs_review": false})
    );
    assert_eq!(
        events[2]["data"],
        json!({"pool": "printers", "expert_name": "Ada"})
    );

    let (_, whole) = app.get(&path).await;
    assert_eq!(
        whole["events"][2]["data"]["decision"]["candidates"][0]["note"],
        "load 0/3"
    );
    assert_eq!(whole["events"][1]["data"]["method"], "embedding");
    app.stop().await;
}

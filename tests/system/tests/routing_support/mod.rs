//! What the routing tests share: experts through the API, events published straight onto
//! the test's exchange, and the invariants read from the routing schema.

#![allow(dead_code)]

use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use sysops_bus::Bus;
use sysops_contract::{Envelope, EventType, RawEnvelope};

/// (category, pool) pairs of the shipped taxonomy used by the tests.
pub const CATEGORIES: [(&str, &str); 4] = [
    ("printers", "printers"),
    ("networking", "networking"),
    ("computers", "computers"),
    ("audio", "av"),
];

/// Creates an expert through `POST /api/experts`; returns its id.
pub async fn create_expert(
    http: &reqwest::Client,
    base: &str,
    name: &str,
    skills: Value,
    capacity: i32,
) -> Uuid {
    let body =
        json!({ "name": name, "skills": skills, "capacity": capacity, "regions": ["north"] });
    let r = http
        .post(format!("{base}/api/experts"))
        .json(&body)
        .send()
        .await
        .expect("expert request sent");
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap_or_default());
    let v: Value = r.json().await.expect("json");
    v["id"].as_str().expect("id").parse().expect("uuid")
}

/// A `ticket.categorized` event for a new ticket (the payload as JSON, as the categorizer
/// sends it).
pub fn categorized(ticket_id: Uuid, category: &str) -> RawEnvelope {
    let data = json!({
        "category": category, "confidence": 0.9, "method": "keyword", "candidates": [],
        "latency_ms": 1.0, "needs_review": false
    });
    Envelope::new(EventType::TicketCategorized, Some(ticket_id), data)
}

/// A lifecycle event (`ticket.rejected`, `ticket.resolved`, ...) by the assignee.
pub fn lifecycle(event_type: EventType, ticket_id: Uuid, assignee: Option<Uuid>) -> RawEnvelope {
    let data = json!({ "by": "test", "reason": "test", "assignee": assignee });
    Envelope::new(event_type, Some(ticket_id), data)
}

/// Publishes events in batches of 100.
pub async fn publish(bus: &Bus, events: &[RawEnvelope]) {
    for chunk in events.chunks(100) {
        bus.publish_all(chunk).await.expect("published");
    }
}

/// Counts of routes by status.
pub async fn count_routes(db: &PgPool, statuses: &[&str]) -> i64 {
    let statuses: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
    sqlx::query_scalar("SELECT count(*) FROM routes WHERE status = ANY($1)")
        .bind(&statuses)
        .fetch_one(db)
        .await
        .expect("count routes")
}

/// Every safety invariant that can be read at one instant; returns what is violated.
pub async fn violations(db: &PgPool) -> Vec<String> {
    let mut found = Vec::new();
    let doubles: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT ticket_id FROM assignments WHERE status IN ('assigned','accepted') \
         GROUP BY ticket_id HAVING count(*) > 1) d",
    )
    .fetch_one(db)
    .await
    .expect("doubles");
    if doubles > 0 {
        found.push(format!("{doubles} tickets with two open assignments"));
    }
    let over: Vec<(String, i32, i32)> =
        sqlx::query_as("SELECT name, load, capacity FROM experts WHERE load > capacity")
            .fetch_all(db)
            .await
            .expect("over capacity");
    if !over.is_empty() {
        found.push(format!("experts over capacity: {over:?}"));
    }
    let drift: Vec<(String, i32, i64)> = sqlx::query_as(
        "SELECT e.name, e.load, count(a.id) FROM experts e LEFT JOIN assignments a \
         ON a.expert_id = e.id AND a.status IN ('assigned','accepted') GROUP BY e.id HAVING e.load <> count(a.id)",
    )
    .fetch_all(db)
    .await
    .expect("drift");
    if !drift.is_empty() {
        found.push(format!("load differs from open assignments: {drift:?}"));
    }
    found
}

/// Queued tickets while an expert of their pool is available with room (and did not reject
/// them).
pub async fn stranded(db: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM routes r WHERE r.status = 'queued' AND EXISTS ( \
           SELECT 1 FROM expert_skills s JOIN experts e ON e.id = s.expert_id \
           WHERE s.pool = r.pool AND e.availability = 'available' AND e.load < e.capacity \
           AND NOT (e.id = ANY(r.excluded)))",
    )
    .fetch_one(db)
    .await
    .expect("stranded")
}

/// The open assignments: (ticket, expert).
pub async fn open_assignments(db: &PgPool) -> Vec<(Uuid, Uuid)> {
    sqlx::query_as(
        "SELECT ticket_id, expert_id FROM assignments WHERE status IN ('assigned','accepted') ORDER BY id",
    )
    .fetch_all(db)
    .await
    .expect("open assignments")
}

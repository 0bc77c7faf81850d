//! Routing with the tickets service: assignment shows on the ticket, rejections reassign and
//! then escalate to a manager, an unaccepted assignment is taken back after its clock, and
//! the expert, pool and statistics endpoints tell what happened.

mod routing_support;

use std::time::Duration;

use serde_json::{json, Value};
use uuid::Uuid;

use sysops_system_tests::SETTLE;
use sysops_testkit::{stack::submit_ticket, wait_for, ServiceProcess, TestEnv};

use routing_support::*;

struct Services {
    env: TestEnv,
    tickets: ServiceProcess,
    routing: ServiceProcess,
    http: reqwest::Client,
}

async fn start(extra: &[(&str, &str)]) -> Services {
    let env = TestEnv::new().await;
    let mut service_env = env.service_env();
    service_env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let tickets = ServiceProcess::start("tickets", &service_env)
        .await
        .expect("tickets");
    let routing = ServiceProcess::start("routing", &service_env)
        .await
        .expect("routing");
    Services {
        env,
        tickets,
        routing,
        http: sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin),
    }
}

impl Services {
    /// Submits a ticket and categorizes it as `category` (no categorizer runs).
    async fn printer_ticket(&self) -> Uuid {
        let id = submit_ticket(
            &self.http,
            &self.tickets.url(),
            "Printer jams",
            "Paper jam on every page",
        )
        .await
        .expect("submitted");
        let bus = self.env.bus();
        bus.publish(&categorized(id, "printers"))
            .await
            .expect("categorized");
        bus.close().await;
        id
    }

    async fn ticket(&self, id: Uuid) -> Value {
        self.http
            .get(format!("{}/api/tickets/{id}", self.tickets.url()))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json")
    }

    async fn wait_ticket(&self, id: Uuid, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
        wait_for(what, SETTLE, || async {
            let t = self.ticket(id).await;
            ok(&t).then_some(t)
        })
        .await
        .expect(what)
    }

    async fn reject(&self, id: Uuid) {
        let r = self
            .http
            .post(format!("{}/api/tickets/{id}/reject", self.tickets.url()))
            .json(&json!({"reason": "not my field"}))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    }

    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}{path}", self.routing.url()))
            .send()
            .await
            .expect("sent")
            .json()
            .await
            .expect("json")
    }
}

#[tokio::test]
async fn a_rejected_ticket_goes_to_another_expert_and_to_a_manager_after_the_limit() {
    let s = start(&[("MAX_REJECTIONS", "2")]).await;
    for name in ["ann", "bob", "cid"] {
        create_expert(&s.http, &s.routing.url(), name, json!({"printers": 0.8}), 2).await;
    }
    let id = s.printer_ticket().await;
    let first = s
        .wait_ticket(id, "assigned", |t| t["status"] == "assigned")
        .await;
    let first_expert = first["assignee"].clone();

    s.reject(id).await;
    let second = s
        .wait_ticket(id, "reassigned", |t| {
            t["status"] == "assigned" && t["assignee"] != first_expert
        })
        .await;
    let history = s.get(&format!("/api/routing/history/{id}")).await;
    let assigned: Vec<&Value> = history["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .filter(|d| d["kind"] == "assigned")
        .collect();
    assert_eq!(assigned.len(), 2, "{history}");
    assert_eq!(assigned[1]["detail"]["attempt"], 2);
    assert!(assigned[1]["detail"]["reason"]
        .as_str()
        .expect("reason")
        .contains("highest score"));
    let notes: Vec<&str> = assigned[1]["detail"]["candidates"]
        .as_array()
        .expect("candidates")
        .iter()
        .filter_map(|c| c["note"].as_str())
        .collect();
    assert!(
        notes.iter().any(|n| n.contains("rejected this ticket")),
        "{notes:?}"
    );
    assert_ne!(second["assignee"], first_expert);

    s.reject(id).await;
    let escalated = s
        .wait_ticket(id, "needs review", |t| t["status"] == "needs_review")
        .await;
    assert_eq!(escalated["needs_review"], true);

    // A manager gives it to the one expert who has not rejected it.
    let experts = s.get("/api/experts?pool=printers").await;
    let last = experts["experts"]
        .as_array()
        .expect("experts")
        .iter()
        .find(|e| e["id"] != first_expert && e["id"] != second["assignee"])
        .expect("a third expert")["id"]
        .clone();
    let url = format!("{}/api/routing/reassign/{id}", s.routing.url());
    let long = json!({"expert_id": last, "reason": "x".repeat(2001)});
    let r = s.http.post(&url).json(&long).send().await.expect("sent");
    assert_eq!(r.status(), 422, "{}", r.text().await.unwrap_or_default());
    // No body: the best eligible other expert, the only one left.
    let r = s.http.post(&url).send().await.expect("sent");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    s.wait_ticket(id, "assigned by hand", |t| {
        t["status"] == "assigned" && t["assignee"] == last
    })
    .await;
    let stats = s.get("/api/routing/statistics").await;
    assert_eq!(stats["reassignments"], 2, "{stats}");
    assert_eq!(stats["decisions_by_kind"]["escalated"], 1, "{stats}");
    s.env.cleanup().await;
}

#[tokio::test]
async fn an_unaccepted_assignment_is_taken_back_and_reassigned_when_its_clock_runs_out() {
    let s = start(&[
        ("SLA_ACCEPT", "urgent=2s,high=2s,normal=2s,low=2s"),
        ("SLA_CHECK_MS", "200"),
    ])
    .await;
    for name in ["ann", "bob"] {
        create_expert(&s.http, &s.routing.url(), name, json!({"printers": 0.8}), 1).await;
    }
    let id = s.printer_ticket().await;
    let first = s
        .wait_ticket(id, "assigned", |t| t["status"] == "assigned")
        .await;
    let second = s
        .wait_ticket(id, "taken back and reassigned", |t| {
            t["status"] == "assigned" && t["assignee"] != first["assignee"]
        })
        .await;
    // The second expert does not accept either: nobody else is left, so it waits.
    let _ = second;
    s.wait_ticket(id, "back in the backlog", |t| t["status"] == "queued")
        .await;
    let history: Value = s
        .http
        .get(format!("{}/api/tickets/{id}/history", s.tickets.url()))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let breaches = history["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "ticket.sla_breached")
        .count();
    assert_eq!(
        breaches, 1,
        "the accept clock breach is announced once: {history}"
    );
    let stats = s.get("/api/routing/statistics").await;
    assert_eq!(stats["assignments_by_outcome"]["taken_back"], 2, "{stats}");
    assert_eq!(stats["sla_breaches"]["accept"], 1, "{stats}");
    s.env.cleanup().await;
}

#[tokio::test]
async fn experts_are_validated_and_a_new_expert_takes_the_waiting_backlog() {
    let s = start(&[]).await;
    let bad = s
        .http
        .post(format!("{}/api/experts", s.routing.url()))
        .json(&json!({"name": "", "skills": {"nowhere": 2.0}, "capacity": -1}))
        .send()
        .await
        .expect("sent");
    assert_eq!(bad.status(), 422);
    let body: Value = bad.json().await.expect("json");
    assert!(
        body["error"].as_str().expect("error").contains("capacity"),
        "{body}"
    );

    let id = s.printer_ticket().await;
    s.wait_ticket(id, "queued", |t| t["status"] == "queued")
        .await;
    let pool = s.get("/api/pools/printers").await;
    assert_eq!(pool["backlog"], 1, "{pool}");

    let expert = create_expert(
        &s.http,
        &s.routing.url(),
        "dee",
        json!({"printers": 0.7}),
        1,
    )
    .await;
    let t = s
        .wait_ticket(id, "assigned to the new expert", |t| {
            t["status"] == "assigned"
        })
        .await;
    assert_eq!(t["assignee"], json!(expert));

    // Taking the expert off and back on changes nothing for open work but is announced.
    let r = s
        .http
        .put(format!("{}/api/experts/{expert}", s.routing.url()))
        .json(&json!({"name": "dee", "skills": {"printers": 0.9}, "capacity": 3, "availability": "busy"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    let e = s.get(&format!("/api/experts/{expert}")).await;
    assert_eq!(e["availability"], "busy");
    let busy = s.get("/api/experts?availability=busy").await;
    assert_eq!(busy["total"], 1, "{busy}");
    let r = s
        .http
        .get(format!(
            "{}/api/experts?availability=sleeping",
            s.routing.url()
        ))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(error.contains("unknown variant `sleeping`"), "{body}");
    assert_eq!(e["load"], 1);
    assert_eq!(e["open_assignments"][0]["ticket_id"], json!(id));
    let pools = s.get("/api/pools").await;
    let printers = pools["pools"]
        .as_array()
        .expect("pools")
        .iter()
        .find(|p| p["name"] == "printers")
        .expect("printers pool")
        .clone();
    assert_eq!(printers["load"], 1, "{printers}");
    assert_eq!(printers["members"], 1, "{printers}");
    let db = s.env.pool("routing").await;
    let changed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE envelope->>'type' = 'expert.changed'",
    )
    .fetch_one(&db)
    .await
    .expect("count");
    assert_eq!(changed, 2);
    db.close().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    s.env.cleanup().await;
}

/// The whole pipeline: the priority and region a customer gives reach routing with the
/// categorizer's decision, so the expert who serves the region gets the ticket.
#[tokio::test]
async fn the_submitted_region_and_priority_reach_routing_through_the_categorizer() {
    let stack = sysops_testkit::Stack::start()
        .await
        .expect("the stack starts");
    let base = stack.gateway.url();
    let mut experts = Vec::new();
    for (name, region) in [("Nora North", "north"), ("Sam South", "south")] {
        let r = stack
            .http
            .post(format!("{base}/api/experts"))
            .json(&json!({"name": name, "skills": {"printers": 0.9}, "capacity": 5, "regions": [region]}))
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.expect("json");
        experts.push(v["id"].as_str().expect("id").to_owned());
    }
    let r = stack
        .http
        .post(format!("{base}/api/tickets"))
        .json(
            &json!({"title": "Printer jams", "description": "Paper jam on every page",
                      "region": "South", "priority": "urgent"}),
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 201);
    let created: Value = r.json().await.expect("json");
    let id: Uuid = created["id"].as_str().expect("id").parse().expect("uuid");

    let ticket = stack
        .wait_for_status(id, "assigned", SETTLE)
        .await
        .expect("assigned");
    assert_eq!(ticket["assignee"].as_str(), Some(experts[1].as_str()));
    let db = stack.env.pool("routing").await;
    let (priority, region, created_at): (
        String,
        Option<String>,
        Option<chrono::DateTime<chrono::Utc>>,
    ) = sqlx::query_as("SELECT priority, region, created_at FROM routes WHERE ticket_id = $1")
        .bind(id)
        .fetch_one(&db)
        .await
        .expect("the route");
    assert_eq!(priority, "urgent");
    assert_eq!(region.as_deref(), Some("south"));
    let submitted: chrono::DateTime<chrono::Utc> = created["created_at"]
        .as_str()
        .expect("created_at")
        .parse()
        .expect("time");
    let created_at = created_at.expect("the SLA clocks' start");
    assert!(
        (created_at - submitted).num_milliseconds().abs() < 1000,
        "{created_at} vs {submitted}"
    );
    db.close().await;
    stack.shutdown().await;
}

#[tokio::test]
async fn the_sla_sweep_reads_open_routes_through_their_index_not_the_whole_table() {
    use sqlx::Connection;
    use sysops_contract::SlaClock;

    let env = TestEnv::new().await;
    let pool = env
        .migrated_pool(sysops_routing::SCHEMA, sysops_routing::migrator())
        .await;
    let mut conn = pool.acquire().await.expect("a connection");
    // With sequential scans priced out, a plan still shows one only when no index can answer.
    let mut tx = conn.begin().await.expect("a transaction");
    sqlx::query("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await
        .expect("set");
    for clock in [SlaClock::Assign, SlaClock::Resolve] {
        let plan: Vec<String> = sqlx::query_scalar(&format!(
            "EXPLAIN {}",
            sysops_routing::sla::breach_statement(clock)
        ))
        .bind("resolve")
        .bind(60.0f64)
        .bind(600.0f64)
        .bind(3600.0f64)
        .bind(86_400.0f64)
        .fetch_all(&mut *tx)
        .await
        .expect("explained");
        assert!(
            !plan.iter().any(|line| line.contains("Seq Scan on routes")),
            "{clock:?} clock reads every route:\n{}",
            plan.join("\n")
        );
    }
    drop(tx);
    drop(conn);
    pool.close().await;
    env.cleanup().await;
}

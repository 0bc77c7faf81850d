//! The analytics service as a process, fed events through a real broker: the figures, the
//! filters, drill-downs and exports, strict parameters, dead letters, and a rebuild from
//! PostgreSQL after a restart that gives the same answers.

use std::time::Duration;

use chrono::{DateTime, Utc};
use polars::prelude::SerReader;
use reqwest::StatusCode;
use serde_json::{json, Value};
use uuid::Uuid;

use sysops_contract::{Envelope, EventType, RawEnvelope};
use sysops_testkit::{wait_for, ServiceProcess, TestEnv};

const SETTLE: Duration = Duration::from_secs(20);

fn event(t: EventType, ticket: Option<Uuid>, at: DateTime<Utc>, data: Value) -> RawEnvelope {
    let mut e = Envelope::new(t, ticket, data);
    e.occurred_at = at;
    e
}

/// Four tickets and three experts, with known figures:
/// - T1 (printers, high, north): assigned to Pia 5 s after submission, accepted, resolved.
/// - T2 (networking, normal, south): waits in the networking pool.
/// - T3 (keyword, unsure -> review): a manager moves it to computers.
/// - T4 (networking, urgent): Nico rejects it, it breaches the accept clock, Nora has it.
struct Scenario {
    events: Vec<RawEnvelope>,
    tickets: [Uuid; 4],
    nora: Uuid,
}

fn scenario(now: DateTime<Utc>) -> Scenario {
    use EventType::*;
    let s = |secs: i64| chrono::Duration::seconds(secs);
    let t: [Uuid; 4] = std::array::from_fn(|_| Uuid::now_v7());
    let (pia, nico, nora) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let expert = |id: Uuid, name: &str, pool: &str, capacity: u32| {
        event(
            ExpertChanged,
            None,
            now - s(4 * 3600),
            json!({"expert_id": id, "name": name, "availability": "available", "capacity": capacity,
                   "skills": [{"pool": pool, "proficiency": 0.9}], "regions": ["north"]}),
        )
    };
    let created = |id: Uuid, at: DateTime<Utc>, priority: &str, region: &str| {
        event(
            TicketCreated,
            Some(id),
            at,
            json!({"title": format!("ticket {id}"), "description": "it broke", "customer": "c@example.com",
                   "region": region, "priority": priority, "channel": "web"}),
        )
    };
    let categorized = |id: Uuid,
                       at,
                       category: &str,
                       method: &str,
                       confidence: f64,
                       review: bool| {
        event(
            TicketCategorized,
            Some(id),
            at,
            json!({"category": category, "confidence": confidence, "method": method, "latency_ms": 12.0,
                   "needs_review": review}),
        )
    };
    let assigned = |id: Uuid, at, expert: Uuid, name: &str, pool: &str, attempt: u32| {
        event(
            TicketAssigned,
            Some(id),
            at,
            json!({"pool": pool, "expert_id": expert, "expert_name": name, "attempt": attempt,
                   "decision": {"candidates": [], "reason": "best score"}}),
        )
    };
    let moved = |kind, id: Uuid, at| event(kind, Some(id), at, json!({"by": "someone"}));

    let t1 = now - s(3 * 3600);
    let t2 = now - s(2 * 3600);
    let t3 = now - s(30 * 60);
    let t4 = now - s(10 * 60);
    let events = vec![
        expert(pia, "Pia", "printers", 2),
        expert(nico, "Nico", "networking", 2),
        expert(nora, "Nora", "networking", 3),
        created(t[0], t1, "high", "north"),
        categorized(t[0], t1 + s(1), "printers", "embedding", 0.92, false),
        assigned(t[0], t1 + s(5), pia, "Pia", "printers", 1),
        moved(TicketAccepted, t[0], t1 + s(65)),
        moved(TicketResolved, t[0], t1 + s(3605)),
        created(t[1], t2, "normal", "south"),
        categorized(t[1], t2 + s(2), "networking", "llm", 0.81, false),
        event(
            TicketQueued,
            Some(t[1]),
            t2 + s(3),
            json!({"category": "networking", "pool": "networking"}),
        ),
        created(t[2], t3, "low", "north"),
        categorized(t[2], t3 + s(1), "networking", "keyword", 0.35, true),
        event(
            TicketRecategorized,
            Some(t[2]),
            t3 + s(120),
            json!({"from": "networking", "to": "computers", "by": "manager"}),
        ),
        created(t[3], t4, "urgent", "north"),
        categorized(t[3], t4 + s(2), "networking", "embedding", 0.7, false),
        assigned(t[3], t4 + s(4), nico, "Nico", "networking", 1),
        moved(TicketRejected, t[3], t4 + s(30)),
        event(
            TicketSlaBreached,
            Some(t[3]),
            t4 + s(31),
            json!({"clock": "accept", "due_at": t4 + s(31)}),
        ),
        assigned(t[3], t4 + s(32), nora, "Nora", "networking", 2),
    ];
    Scenario {
        events,
        tickets: t,
        nora,
    }
}

struct Analytics {
    env: TestEnv,
    process: ServiceProcess,
    http: reqwest::Client,
}

impl Analytics {
    async fn start() -> Self {
        let env = TestEnv::new().await;
        let process = ServiceProcess::start("analytics", &env.service_env())
            .await
            .expect("analytics starts");
        Analytics {
            env,
            process,
            http: sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin),
        }
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.process.url()))
            .send()
            .await
            .expect("request sent");
        (r.status(), r.json().await.unwrap_or(Value::Null))
    }

    async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        body
    }

    /// Waits until the figures show `n` events.
    async fn settled(&self, n: u64) -> Value {
        wait_for("the events to show", SETTLE, || async {
            let s = self.ok("/api/dashboard/summary?from=").await;
            (s["events_total"].as_u64() == Some(n)).then_some(s)
        })
        .await
        .expect("events shown")
    }
}

fn find<'a>(rows: &'a Value, key: &str, value: &str) -> &'a Value {
    rows.as_array()
        .and_then(|a| a.iter().find(|r| r[key] == value))
        .unwrap_or_else(|| panic!("no row with {key} = {value} in {rows}"))
}

#[tokio::test]
async fn figures_filters_drilldowns_and_exports_follow_the_events() {
    let mut a = Analytics::start().await;
    let now = Utc::now();
    let sc = scenario(now);
    let bus = a.env.bus();
    bus.publish_all(&sc.events).await.expect("published");
    // A redelivery of the same events changes nothing.
    bus.publish_all(&sc.events[3..6])
        .await
        .expect("published again");
    let total = sc.events.len() as u64;
    let s = a.settled(total).await;

    assert_eq!(s["tickets"], 4, "{s}");
    assert_eq!(s["open"], 3);
    assert_eq!(s["backlog"], 1);
    assert_eq!(s["held"], 1);
    assert_eq!(s["needs_review"], 1);
    assert_eq!(s["overridden"], 1);
    assert_eq!(s["breached"], 1);
    assert_eq!(s["reassigned"], 1);
    assert_eq!(s["resolved"], 1);
    let status = |name: &str| find(&s["statuses"], "status", name)["tickets"].clone();
    assert_eq!(
        [
            status("resolved"),
            status("queued"),
            status("categorized"),
            status("assigned")
        ],
        [json!(1), json!(1), json!(1), json!(1)]
    );
    let funnel: Vec<u64> = s["funnel"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|f| f["tickets"].as_u64().expect("a count"))
        .collect();
    assert_eq!(
        funnel,
        [4, 4, 2, 1, 1, 0],
        "created..closed: {}",
        s["funnel"]
    );
    assert_eq!(find(&s["methods"], "method", "embedding")["tickets"], 2);
    assert_eq!(find(&s["methods"], "method", "keyword")["tickets"], 1);
    let computers = find(&s["categories"], "category", "computers");
    assert_eq!(computers["override_rate"], 1.0);
    // Times to assign: 5 s (T1) and 4 s (T4); linear p50 is 4.5 s.
    assert_eq!(s["durations"]["assign"]["n"], 2);
    assert_eq!(s["durations"]["assign"]["p50"], 4.5);
    assert_eq!(s["durations"]["accept"]["p50"], 60.0);

    // Filters.
    let recent = a.ok("/api/dashboard/summary?from=1h").await;
    assert_eq!(recent["tickets"], 2, "created in the last hour: T3, T4");
    let urgent = a.ok("/api/dashboard/summary?priority=urgent&from=").await;
    assert_eq!(urgent["tickets"], 1);
    let networking = a.ok("/api/dashboard/summary?pool=networking").await;
    assert_eq!(
        networking["tickets"], 2,
        "T2 and T4 (T3 moved to computers)"
    );
    let window = format!(
        "/api/dashboard/summary?from={}&to={}",
        (now - chrono::Duration::seconds(4 * 3600))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .replace('+', "%2B"),
        (now - chrono::Duration::seconds(3600))
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            .replace('+', "%2B"),
    );
    assert_eq!(a.ok(&window).await["tickets"], 2, "T1 and T2");

    // Routing: backlog and load per pool, experts' utilisation.
    let r = a.ok("/api/dashboard/routing").await;
    let net = find(&r["pools"], "pool", "networking");
    assert_eq!(
        (net["backlog"].clone(), net["held"].clone()),
        (json!(1), json!(1))
    );
    assert_eq!(net["rejections"], 1);
    let nora = find(&r["experts"], "name", "Nora");
    assert_eq!(nora["load"], 1);
    assert_eq!(nora["capacity"], 3);
    assert!((nora["utilisation"].as_f64().expect("a number") - 1.0 / 3.0).abs() < 1e-9);
    assert_eq!(find(&r["experts"], "name", "Nico")["load"], 0);
    assert_eq!(r["totals"]["breaches_accept"], 1);

    // Every figure drills down to its tickets.
    let backlog = &net["drill"]["backlog"];
    let query: Vec<String> = backlog
        .as_object()
        .expect("an object")
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                v.as_str().map(str::to_owned).unwrap_or(v.to_string())
            )
        })
        .collect();
    let d = a
        .ok(&format!("/api/analytics/drilldown?{}", query.join("&")))
        .await;
    assert_eq!(d["total"], 1, "{d}");
    assert_eq!(d["tickets"][0]["ticket_id"], sc.tickets[1].to_string());
    assert_eq!(s["drill"]["held"]["held"], true, "{s}");
    let held = a.ok("/api/analytics/drilldown?held=true").await;
    assert_eq!(held["total"], s["held"], "{held}");
    let by_expert = a
        .ok(&format!("/api/analytics/drilldown?expert_id={}", sc.nora))
        .await;
    assert_eq!(
        by_expert["tickets"][0]["ticket_id"],
        sc.tickets[3].to_string()
    );
    let slow = a.ok("/api/analytics/drilldown?slowest=t_assign").await;
    assert_eq!(slow["total"], 2);
    assert_eq!(slow["tickets"][0]["t_assign"], 5.0, "slowest first");

    // Exports: CSV and Parquet of the same rows.
    let csv = a
        .http
        .get(format!(
            "{}/api/analytics/drilldown?needs_review=true&format=csv",
            a.process.url()
        ))
        .send()
        .await
        .expect("csv");
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"]
        .to_str()
        .expect("a text header")
        .starts_with("text/csv"));
    let text = csv.text().await.expect("a body");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "header and one ticket: {text}");
    assert!(
        lines[0].starts_with("ticket_id,title,status"),
        "{}",
        lines[0]
    );
    assert!(
        lines[0].contains("created_at"),
        "times are exported as datetimes"
    );
    assert!(lines[1].contains(&sc.tickets[2].to_string()));
    let parquet = a
        .http
        .get(format!(
            "{}/api/analytics/drilldown?format=parquet",
            a.process.url()
        ))
        .send()
        .await
        .expect("parquet")
        .bytes()
        .await
        .expect("a body");
    let df = polars::prelude::ParquetReader::new(std::io::Cursor::new(parquet.to_vec()))
        .finish()
        .expect("a Parquet file");
    assert_eq!(df.height(), 4);

    // The seed's endpoints.
    let vol = a.ok("/api/analytics/tickets?period=day").await;
    assert_eq!(vol["series"].as_array().expect("an array").len(), 24);
    let created: u64 = vol["series"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|b| b["created"].as_u64().expect("a count"))
        .sum();
    assert_eq!(created, 4);
    let perf = a.ok("/api/analytics/performance").await;
    assert_eq!(perf["sla_breaches"]["totals"]["accept"], 1);
    let hist: u64 = perf["categorizer"]["confidence_histogram"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|b| b["tickets"].as_u64().expect("a count"))
        .sum();
    assert_eq!(hist, 4);
    let trends = a.ok("/api/analytics/trends?days=7").await;
    assert_eq!(trends["series"].as_array().expect("an array").len(), 7);
    assert_eq!(trends["change"]["created"]["current"], 4);
    let pool = a.ok("/api/analytics/pools/printers").await;
    assert_eq!(pool["summary"]["tickets"], 1);
    let (status, body) = a.get("/api/analytics/pools/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    // A restart rebuilds the same figures from PostgreSQL.
    let before = a.ok("/api/dashboard/routing").await;
    a.process.restart().await.expect("restarted");
    let after_summary = a.settled(total).await;
    assert_eq!(after_summary["statuses"], s["statuses"]);
    assert_eq!(after_summary["durations"], s["durations"]);
    let after = a.ok("/api/dashboard/routing").await;
    assert_eq!(after["pools"], before["pools"]);
    assert_eq!(after["experts"], before["experts"]);

    a.process.kill().await;
    a.env.cleanup().await;
}

#[tokio::test]
async fn bad_parameters_are_refused_with_a_reason() {
    let mut a = Analytics::start().await;
    for (path, needle) in [
        ("/api/dashboard/summary?colour=blue", "colour"),
        ("/api/dashboard/summary?from=yesterday", "yesterday"),
        ("/api/dashboard/summary?from=1h&to=2h", "before"),
        ("/api/analytics/trends?days=0", "days"),
        ("/api/analytics/tickets?period=year", "period"),
        (
            "/api/analytics/trends?from=7d",
            "`days` sets the time window",
        ),
        (
            "/api/analytics/tickets?to=1h",
            "`period` sets the time window",
        ),
        ("/api/analytics/drilldown?status=lost", "status"),
        ("/api/analytics/drilldown?limit=5000", "limit"),
        ("/api/analytics/drilldown?format=xlsx", "format"),
        (
            "/api/analytics/drilldown?needs_review=maybe",
            "needs_review",
        ),
        ("/api/dashboard/routing?pool=a&pool=b", "more than once"),
    ] {
        let (status, body) = a.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(needle), "{path}: {error}");
    }
    a.process.kill().await;
    a.env.cleanup().await;
}

#[tokio::test]
async fn dead_letters_of_any_queue_are_counted_and_listed() {
    let mut a = Analytics::start().await;
    let bus = a.env.bus();
    bus.publish_raw("ticket.created", b"{ not an event")
        .await
        .expect("published");
    let dead = wait_for("the dead letter to show", SETTLE, || async {
        let d = a.ok("/api/analytics/dead-letters").await;
        (d["total"].as_u64() >= Some(1)).then_some(d)
    })
    .await
    .expect("dead letter shown");
    // Analytics dead-letters it itself; the other work queues have no consumer here.
    let row = &dead["dead_letters"][0];
    assert_eq!(row["queue"], "analytics.events", "{dead}");
    assert_eq!(row["reason"], "rejected");
    assert_eq!(
        find(&dead["by_queue"], "queue", "analytics.events")["messages"],
        1
    );
    let summary = a.ok("/api/dashboard/summary").await;
    assert_eq!(summary["dead_letters"], 1);
    let csv = a
        .http
        .get(format!(
            "{}/api/analytics/dead-letters?format=csv",
            a.process.url()
        ))
        .send()
        .await
        .expect("csv")
        .text()
        .await
        .expect("a body");
    assert_eq!(csv.lines().count(), 2, "{csv}");

    // The page and its assets are served, from here, with nothing fetched elsewhere.
    for (path, kind) in [
        ("/dashboard", "text/html"),
        ("/dashboard/app.js", "text/javascript"),
        ("/dashboard/app.css", "text/css"),
    ] {
        let r = a
            .http
            .get(format!("{}{path}", a.process.url()))
            .send()
            .await
            .expect("page");
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert!(r.headers()["content-type"]
            .to_str()
            .expect("present")
            .starts_with(kind));
        let body = r.text().await.expect("a body");
        assert!(
            !body.contains("http://") || path == "/dashboard/app.js",
            "{path} loads nothing remote"
        );
        assert!(!body.contains("https://"), "{path} loads nothing remote");
    }
    a.process.kill().await;
    a.env.cleanup().await;
}

//! One small day of events (see `scenario`): every figure, filter, drill-down and export checked
//! against what it must be, and the same figures again after a restart.

use chrono::{DateTime, Utc};
use polars::prelude::SerReader;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::harness::{find, Analytics};
use crate::scenario::{scenario, Scenario};

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

    summary(&s);
    filters(&a, now).await;
    routing_and_drilldowns(&a, &sc, &s).await;
    exports(&a, &sc).await;
    seed_endpoints(&a).await;
    restart_rebuilds_the_same_figures(&mut a, total, &s).await;

    a.process.kill().await;
    a.env.cleanup().await;
}

fn summary(s: &Value) {
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
}

async fn filters(a: &Analytics, now: DateTime<Utc>) {
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
}

/// Backlog and load per pool, experts' utilisation, and the tickets behind the figures.
async fn routing_and_drilldowns(a: &Analytics, sc: &Scenario, s: &Value) {
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
}

/// CSV and Parquet of the same rows.
async fn exports(a: &Analytics, sc: &Scenario) {
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
}

/// The endpoints the system was first specified with.
async fn seed_endpoints(a: &Analytics) {
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
}

async fn restart_rebuilds_the_same_figures(a: &mut Analytics, total: u64, s: &Value) {
    let before = a.ok("/api/dashboard/routing").await;
    a.process.restart().await.expect("restarted");
    let after_summary = a.settled(total).await;
    assert_eq!(after_summary["statuses"], s["statuses"]);
    assert_eq!(after_summary["durations"], s["durations"]);
    let after = a.ok("/api/dashboard/routing").await;
    assert_eq!(after["pools"], before["pools"]);
    assert_eq!(after["experts"], before["experts"]);
}

//! The managers' dashboard in headless Chromium, through the gateway, on a stack that has
//! processed tickets: the charts render with the numbers the API gives, live, and a
//! screenshot (desktop and phone) is kept as an artifact.

use std::time::Duration;

use serde_json::{json, Value};

use sysops_platform::auth::Role;
use sysops_system_tests::browser::{dom, screenshot, tags, Tag};
use sysops_system_tests::{metric, sample_ticket, SETTLE};
use sysops_testkit::{auth, wait_for, Stack};

const TICKETS: usize = 12;
const BUDGET: Duration = Duration::from_secs(8);

async fn get(stack: &Stack, path: &str) -> Value {
    stack
        .http
        .get(format!("{}{path}", stack.gateway.url()))
        .send()
        .await
        .expect("request sent")
        .json()
        .await
        .expect("json")
}

/// Summary queries analytics has answered, from its `/metrics`.
async fn summary_queries(stack: &Stack) -> u64 {
    metric(
        &stack.http,
        &stack.analytics.url(),
        "analytics_query_seconds_count{query=\"summary\"}",
    )
    .await
    .unwrap_or(0.0) as u64
}

fn value_of<'a>(tags: &'a [Tag], chart: &str, label: &str, key: Option<&str>) -> Option<&'a str> {
    tags.iter()
        .find(|t| {
            t.chart.as_deref() == Some(chart)
                && t.attr("data-label") == Some(label)
                && (key.is_none() || t.attr("data-key") == key)
        })
        .and_then(|t| t.attr("data-value"))
}

#[tokio::test]
async fn the_dashboard_draws_the_figures_of_the_processed_tickets() {
    let stack = Stack::start().await.expect("the stack starts");
    let base = stack.gateway.url();
    let r = stack
        .http
        .post(format!("{base}/api/experts"))
        .json(&json!({"name": "Ada", "skills": {"printers": 0.9},
                      "capacity": 1, "regions": ["north"]}))
        .send()
        .await
        .expect("expert created");
    assert_eq!(r.status(), 201);
    for i in 0..TICKETS {
        let (title, description) = sample_ticket(i);
        stack.submit(&title, &description).await.expect("submitted");
    }
    // Every ticket categorized and placed (or waiting for review) in analytics' view.
    let summary = wait_for("analytics to see every ticket placed", SETTLE, || async {
        let s = get(&stack, "/api/dashboard/summary").await;
        let placed = ["queued", "assigned", "needs_review"]
            .iter()
            .map(|st| {
                s["statuses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|r| r["status"] == *st))
                    .and_then(|r| r["tickets"].as_u64())
                    .unwrap_or(0)
            })
            .sum::<u64>();
        (placed == TICKETS as u64).then_some(s)
    })
    .await
    .expect("placed");
    let routing = get(&stack, "/api/dashboard/routing").await;

    // Without a session the page asks for a sign-in and shows no figure.
    let anonymous = dom(&format!("{base}/dashboard"), BUDGET)
        .await
        .expect("the page renders");
    let signin = tags(&anonymous)
        .into_iter()
        .find(|t| t.attr("id") == Some("signin"))
        .expect("a sign-in dialog");
    assert!(signin.attr("open").is_some(), "the sign-in dialog is open");
    assert!(!tags(&anonymous)
        .iter()
        .any(|t| t.attr("data-kpi").is_some()));

    // A manager's token handed over in the address fragment.
    let manager = auth::token(&auth::someone(Role::Manager));
    let url = format!("{base}/dashboard#token={manager}");
    let polls_before = summary_queries(&stack).await;
    let page = dom(&url, BUDGET).await.expect("the page renders");
    let polls = summary_queries(&stack).await - polls_before;
    assert!(
        polls >= 2,
        "the page keeps polling while open ({polls} summary queries in {BUDGET:?})"
    );
    let t = tags(&page);

    let kpi = |key: &str| {
        t.iter()
            .find(|t| t.attr("data-kpi") == Some(key))
            .and_then(|t| t.attr("data-value"))
            .map(str::to_owned)
    };
    assert_eq!(kpi("tickets").as_deref(), Some("12"), "the tickets figure");
    assert_eq!(
        kpi("backlog"),
        Some(summary["backlog"].to_string()),
        "the backlog figure"
    );

    for pool in routing["pools"].as_array().expect("pools") {
        let name = pool["pool"].as_str().expect("a string");
        for (key, field) in [("waiting", "backlog"), ("with an expert", "held")] {
            let n = pool[field].as_u64().expect("a count");
            let drawn = value_of(&t, "pools", name, Some(key));
            if n == 0 {
                assert!(drawn.is_none(), "{name} draws no empty {key} bar");
            } else {
                assert_eq!(drawn, Some(n.to_string().as_str()), "{name} {key}");
            }
        }
    }
    let ada = routing["experts"][0]["utilisation"]
        .as_f64()
        .expect("a number");
    assert_eq!(
        value_of(&t, "experts", "Ada", None).map(|v| v.parse::<f64>().expect("a number")),
        Some(ada)
    );

    for m in summary["methods"].as_array().expect("methods") {
        let method = m["method"].as_str().expect("a string");
        assert_eq!(
            value_of(&t, "methods", method, None),
            Some(m["tickets"].to_string().as_str()),
            "method slice {method}"
        );
    }
    let created: u64 = t
        .iter()
        .filter(|t| {
            t.chart.as_deref() == Some("volume") && t.attr("data-series") == Some("created")
        })
        .filter_map(|t| t.attr("data-value")?.parse::<u64>().ok())
        .sum();
    assert_eq!(
        created, TICKETS as u64,
        "the volume chart counts every ticket"
    );
    let funnel = value_of(&t, "funnel", "created", None);
    assert_eq!(funnel, Some("12"));
    let live = t
        .iter()
        .find(|t| t.attr("id") == Some("live"))
        .expect("live");
    assert!(
        live.text.starts_with("live"),
        "the page says it is live: {}",
        live.text
    );
    assert!(
        !page.contains("src=\"http") && !page.contains("href=\"http"),
        "nothing is loaded from elsewhere"
    );

    // A ticket submitted now shows on the page.
    let (title, description) = sample_ticket(99);
    stack.submit(&title, &description).await.expect("submitted");
    wait_for("analytics to see the new ticket", SETTLE, || async {
        (get(&stack, "/api/dashboard/summary").await["tickets"] == 13).then_some(())
    })
    .await
    .expect("seen");
    let page = dom(&url, BUDGET).await.expect("the page renders");
    let t = tags(&page);
    assert_eq!(
        t.iter()
            .find(|t| t.attr("data-kpi") == Some("tickets"))
            .and_then(|t| t.attr("data-value")),
        Some("13")
    );

    for (name, size) in [
        ("dashboard-desktop.png", (1280, 2200)),
        ("dashboard-phone.png", (390, 3200)),
    ] {
        let path = screenshot(&url, name, size, BUDGET)
            .await
            .expect("screenshot");
        let bytes = std::fs::metadata(&path).expect("screenshot written").len();
        assert!(
            bytes > 10_000,
            "{} is a real picture ({bytes} bytes)",
            path.display()
        );
        eprintln!("screenshot: {}", path.display());
    }
    stack.shutdown().await;
}

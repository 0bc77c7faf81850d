//! End-to-end tests of the whole system: real service processes, real PostgreSQL and RabbitMQ.
//! The tests live in `tests/`; this library holds what they share.

pub mod browser;
pub mod driver;
pub mod faults;
pub mod load;
pub mod openapi;
pub mod synthetic;

use std::time::Duration;

use serde_json::Value;
use uuid::Uuid;

/// The types of a ticket's history, oldest first.
pub fn event_types(history: &Value) -> Vec<String> {
    history["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter_map(|e| e["type"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A ticket a customer might write, varied by `i`.
pub fn sample_ticket(i: usize) -> (String, String) {
    const SAMPLES: [(&str, &str); 6] = [
        (
            "Printer jams",
            "The printer jams on every page and shows a paper jam error.",
        ),
        (
            "Wi-Fi keeps dropping",
            "My router loses the wifi connection every evening.",
        ),
        (
            "Laptop will not boot",
            "The laptop shows a black screen after the logo.",
        ),
        (
            "TV has no sound",
            "The smart tv picture is fine but there is no sound from the soundbar.",
        ),
        (
            "Charged twice",
            "My invoice shows a double charge for the support plan this month.",
        ),
        (
            "Thermostat offline",
            "The smart thermostat shows offline in the app since yesterday.",
        ),
    ];
    let (t, d) = SAMPLES[i % SAMPLES.len()];
    (format!("{t} #{i}"), d.to_owned())
}

/// Reads `GET {base}/api/tickets/{id}/history`.
pub async fn history(http: &reqwest::Client, base: &str, id: Uuid) -> anyhow::Result<Value> {
    Ok(http
        .get(format!("{base}/api/tickets/{id}/history"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?)
}

/// The event types of the ticket's history (`GET {base}/api/tickets/{id}/history`) once its
/// categorization is in it: routing's `ticket.queued` may be applied before it.
pub async fn categorized_history(http: &reqwest::Client, base: &str, id: Uuid) -> Vec<String> {
    sysops_testkit::wait_for("the categorization in the history", SETTLE, || async {
        let types = event_types(&history(http, base, id).await.ok()?);
        types
            .iter()
            .any(|t| t == "ticket.categorized")
            .then_some(types)
    })
    .await
    .unwrap_or_default()
}

/// Generous bound for asynchronous processing in tests; the work is usually done in
/// milliseconds, the bound only keeps a broken build from hanging.
pub const SETTLE: Duration = Duration::from_secs(60);

/// How many tickets have `status`, read from `GET {base}/api/tickets`; -1 when the service does
/// not answer.
pub async fn count_status(http: &reqwest::Client, base: &str, status: &str) -> i64 {
    let page: Option<Value> = async {
        http.get(format!("{base}/api/tickets?status={status}&limit=1"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }
    .await;
    page.and_then(|p| p["total"].as_i64()).unwrap_or(-1)
}

/// Waits until the ticket has one of `statuses`; returns it.
pub async fn wait_for_ticket(
    http: &reqwest::Client,
    base: &str,
    id: Uuid,
    statuses: &[&str],
) -> anyhow::Result<Value> {
    let what = format!("ticket {id} to be {}", statuses.join(" or "));
    wait_for_ticket_where(http, base, id, &what, |t| {
        statuses.iter().any(|s| t["status"] == *s)
    })
    .await
}

/// Waits until the ticket has one of `statuses` and its categorization is applied. Routing's
/// `ticket.queued` and the categorizer's `ticket.categorized` reach the tickets service on one
/// queue but may be applied in either order, so `queued` alone does not mean the category is
/// there yet.
pub async fn wait_for_categorized_ticket(
    http: &reqwest::Client,
    base: &str,
    id: Uuid,
    statuses: &[&str],
) -> anyhow::Result<Value> {
    let what = format!(
        "ticket {id} to be categorized and {}",
        statuses.join(" or ")
    );
    wait_for_ticket_where(http, base, id, &what, |t| {
        t["categorized_at"].is_string() && statuses.iter().any(|s| t["status"] == *s)
    })
    .await
}

/// Waits until `GET {base}/api/tickets/{id}` satisfies `ready`; returns the ticket.
pub async fn wait_for_ticket_where(
    http: &reqwest::Client,
    base: &str,
    id: Uuid,
    what: &str,
    ready: impl Fn(&Value) -> bool,
) -> anyhow::Result<Value> {
    sysops_testkit::wait_for(what, SETTLE, || async {
        let t: Value = http
            .get(format!("{base}/api/tickets/{id}"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        ready(&t).then_some(t)
    })
    .await
}

/// A series of a service's `/metrics` (at `base`), summed over its labels: `name` is a metric
/// name, or a name with labels as the exporter writes them (`x_count{query="summary"}`).
pub async fn metric(http: &reqwest::Client, base: &str, name: &str) -> Option<f64> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    let values: Vec<f64> = text
        .lines()
        .filter(|l| {
            l.starts_with(name) && matches!(l.as_bytes().get(name.len()), Some(b' ') | Some(b'{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
        .collect();
    (!values.is_empty()).then(|| values.iter().sum())
}

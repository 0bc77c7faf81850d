use reqwest::StatusCode;

use sysops_testkit::wait_for;

use crate::harness::{find, Analytics, SETTLE};

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

//! The load generator against a real stack: every ticket it sends is followed to its placement
//! and counted once.

use std::time::Duration;

use serde_json::json;

use sysops_system_tests::load::{run, submissions_csv, table, LoadOptions};
use sysops_testkit::Stack;

#[tokio::test]
async fn the_load_generator_follows_every_ticket_to_its_placement() {
    let stack = Stack::start().await.expect("the stack starts");
    let base = stack.gateway.url();
    for (name, pool) in [("Ada", "printers"), ("Lin", "networking")] {
        let r = stack
            .http
            .post(format!("{base}/api/experts"))
            .json(
                &json!({"name": name, "skills": {pool: 0.9}, "capacity": 50, "regions": ["north"]}),
            )
            .send()
            .await
            .expect("expert created");
        assert_eq!(r.status(), 201);
    }
    let options = LoadOptions {
        gateway: base,
        token: sysops_testkit::auth::token(&sysops_testkit::auth::someone(
            sysops_platform::auth::Role::Admin,
        )),
        rate: Some(40.0),
        count: Some(40),
        duration: None,
        concurrency: 8,
        settle: Duration::from_secs(60),
        progress: false,
        work: Some(Duration::from_millis(200)),
    };
    let report = run(&stack.env.bus(), &options).await.expect("the load ran");
    eprintln!("{}", table(&report));

    assert_eq!((report.attempted, report.accepted), (40, 40));
    assert_eq!((report.refused, report.failed), (0, 0));
    assert_eq!(report.categorized, 40, "every ticket seen categorized");
    assert_eq!(report.unplaced, 0, "every ticket placed");
    assert_eq!(
        report.assigned + report.queued + report.needs_review,
        40,
        "each counted once"
    );
    assert!(
        report.assigned > 0,
        "printer and network tickets have experts"
    );
    assert_eq!(report.to_assigned_ms.count, report.assigned);
    // Capacity 2 each: more than four assignments means the simulated experts freed capacity.
    assert!(report.assigned > 4, "{} assigned", report.assigned);
    assert!(
        report.resolved > 0,
        "the simulated experts resolved tickets"
    );
    assert_eq!(report.submit_latency_ms.count, 40);
    // One row per request, in the order sent, paced at the set rate: the 40th is due 39/40 s
    // after the start.
    assert_eq!(report.submissions.len(), 40);
    assert!(report.submissions.iter().all(|s| s.status == Some(201)));
    assert!(report
        .submissions
        .windows(2)
        .all(|w| w[0].sent_at <= w[1].sent_at));
    let last = report.submissions[39].sent_at;
    assert!(last >= 0.97, "last sent at {last} s");
    let csv = submissions_csv(&report.submissions);
    assert_eq!(csv.lines().count(), 41);
    assert!(csv.starts_with("sent_at_s,latency_ms,status\n"));
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",201")), "{csv}");
    stack.shutdown().await;
}

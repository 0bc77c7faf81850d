//! Faults of shared infrastructure. These disturb every test running at the same time, so the
//! test command runs this file alone (`--test-threads=1`, after the others). Their names start
//! with `serial_` so the parallel run can skip them.

use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::Mutex;

use sysops_system_tests::faults::{table, Fault, FaultOptions, Suite};
use sysops_system_tests::{categorized_history, count_status, sample_ticket, SETTLE};
use sysops_testkit::{stack::submit_ticket, wait_for, Stack};

async fn rabbitmqctl(args: &[&str]) {
    let status = Command::new("rabbitmqctl")
        .args(args)
        .arg("-q")
        .status()
        .await
        .expect("rabbitmqctl runs");
    assert!(status.success(), "rabbitmqctl {args:?} failed");
}

#[tokio::test]
async fn serial_a_rabbitmq_restart_during_submissions_loses_no_ticket() {
    let stack = Stack::start().await.expect("the stack starts");
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let refused = Arc::new(Mutex::new(0usize));

    let submitter = {
        let (http, base, accepted, refused) = (
            stack.http.clone(),
            stack.gateway.url(),
            accepted.clone(),
            refused.clone(),
        );
        tokio::spawn(async move {
            for i in 0..300 {
                let (title, description) = sample_ticket(i);
                match submit_ticket(&http, &base, &title, &description).await {
                    Ok(id) => accepted.lock().await.push(id),
                    Err(_) => *refused.lock().await += 1,
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    rabbitmqctl(&["stop_app"]).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    rabbitmqctl(&["start_app"]).await;
    submitter.await.expect("submitter finished");

    let ids = accepted.lock().await.clone();
    eprintln!(
        "accepted {} tickets, refused {}",
        ids.len(),
        refused.lock().await
    );
    assert_eq!(
        *refused.lock().await,
        0,
        "the broker being down must not refuse tickets"
    );

    let base = stack.gateway.url();
    let http = stack.http.clone();
    let total = ids.len() as i64;
    wait_for("every accepted ticket queued", SETTLE * 2, || async {
        (count_status(&http, &base, "queued").await == total).then_some(())
    })
    .await
    .expect("none lost");
    for id in &ids {
        let types = categorized_history(&http, &base, *id).await;
        assert_eq!(
            types.iter().filter(|t| *t == "ticket.categorized").count(),
            1,
            "{id}: {types:?}"
        );
    }
    stack.shutdown().await;
}

/// The whole fault suite, shortened: every scenario under a light load.
#[tokio::test]
async fn serial_b_under_every_fault_no_ticket_is_lost_or_assigned_twice() {
    let options = FaultOptions {
        rate: 8.0,
        load: Duration::from_secs(8),
        fault_at: Duration::from_secs(2),
        downtime: Duration::from_secs(2),
        settle: SETTLE * 2,
        work: Duration::from_millis(300),
    };
    let mut suite = Suite::start(options).await.expect("the suite starts");
    let mut rows = Vec::new();
    for fault in Fault::ALL {
        rows.push(suite.run(fault).await.expect("the scenario ran"));
    }
    suite.shutdown().await;
    eprintln!("{}", table(&rows));
    for r in &rows {
        assert!(r.accepted > 0, "{}: nothing accepted", r.scenario);
        assert_eq!(r.lost, 0, "{}: lost tickets", r.scenario);
        assert_eq!(r.assigned_twice, 0, "{}: assigned twice", r.scenario);
        assert_eq!(r.placed, r.accepted, "{}: every ticket placed", r.scenario);
        assert!(r.assigned > 0, "{}: the experts got work", r.scenario);
    }
    let row = |name: &str| rows.iter().find(|r| r.scenario == name).expect("ran");
    assert!(row("kill-gateway").refused > 0, "the gateway was down");
    assert_eq!(row("none").refused, 0);
    let flood = &row("malformed-flood").note;
    assert!(flood.contains("(200 x 4xx, 0 other)"), "{flood}");
}

//! Faults of shared infrastructure. These disturb every test running at the same time, so the
//! test command runs this file alone (`--test-threads=1`, after the others). Their names start
//! with `serial_` so the parallel run can skip them.

use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use tokio::sync::Mutex;

use sysops_system_tests::{event_types, history, sample_ticket, SETTLE};
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
        let r: serde_json::Value = http
            .get(format!("{base}/api/tickets?status=queued&limit=1"))
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        (r["total"].as_i64() == Some(total)).then_some(())
    })
    .await
    .expect("none lost");
    for id in &ids {
        let types = event_types(&history(&http, &base, *id).await.expect("history"));
        assert_eq!(
            types.iter().filter(|t| *t == "ticket.categorized").count(),
            1,
            "{id}: {types:?}"
        );
    }
    stack.shutdown().await;
}

//! Crashes and bad messages: nothing accepted is lost, nothing is done twice.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;

use sysops_system_tests::{
    count_status, event_types, history, sample_ticket, wait_for_categorized_ticket,
    wait_for_ticket, SETTLE,
};
use sysops_testkit::{stack::submit_ticket, wait_for, ServiceProcess, TestEnv};

#[tokio::test]
async fn a_categorizer_killed_mid_stream_categorizes_every_ticket_exactly_once() {
    let env = TestEnv::new().await;
    let service_env = env.service_env();
    let tickets = ServiceProcess::start("tickets", &service_env)
        .await
        .expect("tickets");
    let routing = ServiceProcess::start("routing", &service_env)
        .await
        .expect("routing");
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);

    let mut ids = Vec::new();
    for i in 0..200 {
        let (title, description) = sample_ticket(i);
        ids.push(
            submit_ticket(&http, &tickets.url(), &title, &description)
                .await
                .expect("submitted"),
        );
    }
    // Slow the categorizer down so the kill lands mid-stream.
    let mut slow_env = service_env.clone();
    slow_env.push(("PREFETCH".into(), "10".into()));
    slow_env.push(("CONCURRENCY".into(), "1".into()));
    let mut categorizer = ServiceProcess::start("categorizer", &slow_env)
        .await
        .expect("categorizer");
    let base = tickets.url();
    wait_for("some tickets categorized", SETTLE, || async {
        let pending = count_status(&http, &base, "new").await;
        (0..200).contains(&pending).then_some(())
    })
    .await
    .expect("categorization started");
    categorizer.kill().await;
    let left = count_status(&http, &base, "new").await;
    eprintln!("killed the categorizer with {left} tickets left");

    let _categorizer = ServiceProcess::start("categorizer", &service_env)
        .await
        .expect("categorizer again");
    wait_for("every ticket queued", SETTLE, || async {
        (count_status(&http, &base, "queued").await == 200).then_some(())
    })
    .await
    .expect("all queued");

    for id in &ids {
        let h = history(&http, &base, *id).await.expect("history");
        let types = event_types(&h);
        let categorized = types.iter().filter(|t| *t == "ticket.categorized").count();
        let queued = types.iter().filter(|t| *t == "ticket.queued").count();
        assert_eq!((categorized, queued), (1, 1), "ticket {id}: {types:?}");
    }
    drop((tickets, routing));
    env.cleanup().await;
}

#[tokio::test]
async fn a_malformed_message_is_dead_lettered_and_the_consumer_keeps_going() {
    let env = TestEnv::new().await;
    let service_env = env.service_env();
    let tickets = ServiceProcess::start("tickets", &service_env)
        .await
        .expect("tickets");
    let _routing = ServiceProcess::start("routing", &service_env)
        .await
        .expect("routing");
    let _categorizer = ServiceProcess::start("categorizer", &service_env)
        .await
        .expect("categorizer");
    let bus = env.bus();

    bus.publish_raw("ticket.created", b"{ this is not an event")
        .await
        .expect("published");
    let wrong_payload = serde_json::json!({
        "id": Uuid::now_v7(), "type": "ticket.created", "version": 1,
        "occurred_at": "2026-11-23T10:00:00Z", "ticket_id": Uuid::now_v7(), "data": {"title": 7}
    });
    bus.publish_raw("ticket.created", wrong_payload.to_string().as_bytes())
        .await
        .expect("published");

    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    let id = submit_ticket(
        &http,
        &tickets.url(),
        "Router lost wifi",
        "The wifi router keeps rebooting",
    )
    .await
    .expect("submitted");
    let base = tickets.url();
    wait_for_ticket(&http, &base, id, &["queued"])
        .await
        .expect("the consumer kept going");

    let dlq = wait_for(
        "both bad messages in the categorizer's DLQ",
        SETTLE,
        || async {
            let depth = bus.queue_depth("categorizer.work.dlq").await.ok()?;
            (depth == 2).then_some(depth)
        },
    )
    .await
    .expect("dead-lettered");
    assert_eq!(dlq, 2);
    assert_eq!(bus.queue_depth("categorizer.work").await.expect("depth"), 0);
    bus.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_ticket_accepted_while_the_broker_is_unreachable_is_published_after_a_restart() {
    let env = TestEnv::new().await;
    let good_env = env.service_env();
    let _routing = ServiceProcess::start("routing", &good_env)
        .await
        .expect("routing");
    let _categorizer = ServiceProcess::start("categorizer", &good_env)
        .await
        .expect("categorizer");

    // The tickets service commits the ticket but cannot publish: its broker address is dead.
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut cut_off: HashMap<String, String> = good_env.iter().cloned().collect();
    cut_off.insert(
        "AMQP_URL".into(),
        format!("amqp://guest:guest@127.0.0.1:{closed_port}/%2f"),
    );
    let cut_off: Vec<(String, String)> = cut_off.into_iter().collect();
    let mut tickets = ServiceProcess::start("tickets", &cut_off)
        .await
        .expect("tickets without broker");
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    let id = submit_ticket(
        &http,
        &tickets.url(),
        "Laptop overheating",
        "My laptop fan is loud and it shuts down",
    )
    .await
    .expect("accepted");
    tokio::time::sleep(Duration::from_millis(700)).await;
    tickets.kill().await;

    let outbox = env.pool("tickets").await;
    let unpublished: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&outbox)
            .await
            .expect("outbox readable");
    assert_eq!(unpublished, 1, "the event waits in the outbox");

    let tickets = ServiceProcess::start("tickets", &good_env)
        .await
        .expect("tickets again");
    let base = tickets.url();
    let ticket = wait_for_categorized_ticket(&http, &base, id, &["queued"])
        .await
        .expect("published and processed");
    assert_eq!(ticket["category"], "computers");
    outbox.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn every_service_stops_cleanly_on_sigterm() {
    let env = TestEnv::new().await;
    let service_env = env.service_env();
    for name in ["tickets", "routing", "analytics", "categorizer"] {
        let mut service = ServiceProcess::start(name, &service_env)
            .await
            .expect("started");
        let status = service.terminate().await.expect("exited after SIGTERM");
        assert!(status.success(), "{name} exited with {status}");
    }
    env.cleanup().await;
}

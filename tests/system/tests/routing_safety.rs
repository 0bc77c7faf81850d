//! Routing under concurrency and faults, over real processes: two replicas never double-assign
//! or overload an expert, redeliveries and late events change nothing, a killed replica loses
//! no ticket.

mod routing_support;

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use sysops_contract::EventType;
use sysops_system_tests::SETTLE;
use sysops_testkit::{wait_for, ServiceProcess, TestEnv};

use routing_support::*;

/// 20 experts of mixed capacity (1 to 6) over the test pools, some in two pools.
async fn roster(http: &reqwest::Client, base: &str) -> Vec<Uuid> {
    let mut ids = Vec::new();
    for i in 0..20usize {
        let (_, pool) = CATEGORIES[i % CATEGORIES.len()];
        let (_, second) = CATEGORIES[(i + 1) % CATEGORIES.len()];
        let skills = if i % 3 == 0 {
            json!({ pool: 0.9, second: 0.5 })
        } else {
            json!({ pool: 0.6 + (i as f64) / 100.0 })
        };
        let capacity = 1 + (i % 6) as i32;
        ids.push(create_expert(http, base, &format!("expert {i}"), skills, capacity).await);
    }
    ids
}

#[tokio::test]
async fn two_replicas_assign_a_thousand_tickets_without_double_assignment_or_overload() {
    let env = TestEnv::new().await;
    let service_env = env.service_env();
    let a = ServiceProcess::start("routing", &service_env)
        .await
        .expect("replica a");
    let _b = ServiceProcess::start("routing", &service_env)
        .await
        .expect("replica b");
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    roster(&http, &a.url()).await;
    let db = env.pool("routing").await;
    let bus = env.bus();

    let events: Vec<_> = (0..1000)
        .map(|i| categorized(Uuid::now_v7(), CATEGORIES[i % CATEGORIES.len()].0))
        .collect();
    publish(&bus, &events).await;

    // Watch the invariants while the replicas work, not only at the end.
    let checks = std::sync::atomic::AtomicUsize::new(0);
    wait_for("1000 tickets routed", SETTLE, || async {
        let v = violations(&db).await;
        assert!(v.is_empty(), "{v:?}");
        checks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        (count_routes(&db, &["assigned", "queued"]).await == 1000).then_some(())
    })
    .await
    .expect("every ticket routed");

    // Free capacity three times over: resolving every open assignment makes both replicas
    // drain the backlogs at once.
    for round in 0..3 {
        let open = open_assignments(&db).await;
        let resolved: Vec<_> = open
            .iter()
            .map(|(t, e)| lifecycle(EventType::TicketResolved, *t, Some(*e)))
            .collect();
        let done_before = count_routes(&db, &["done"]).await;
        publish(&bus, &resolved).await;
        wait_for(&format!("round {round} resolved"), SETTLE, || async {
            let v = violations(&db).await;
            assert!(v.is_empty(), "{v:?}");
            (count_routes(&db, &["done"]).await >= done_before + open.len() as i64).then_some(())
        })
        .await
        .expect("resolutions applied");
    }
    wait_for(
        "no ticket stranded in a backlog",
        Duration::from_secs(10),
        || async { (stranded(&db).await == 0).then_some(()) },
    )
    .await
    .expect("backlog assigned while experts have room");
    assert!(violations(&db).await.is_empty());
    let assigned: i64 = sqlx::query_scalar("SELECT count(*) FROM assignments")
        .fetch_one(&db)
        .await
        .expect("count");
    eprintln!(
        "{assigned} assignments, invariants checked {} times during the first wave",
        checks.load(std::sync::atomic::Ordering::Relaxed)
    );
    assert!(
        assigned > 200,
        "four waves of capacity (66 each) were used: {assigned}"
    );
    db.close().await;
    bus.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_redelivered_categorized_or_rejected_event_changes_nothing() {
    let env = TestEnv::new().await;
    let routing = ServiceProcess::start("routing", &env.service_env())
        .await
        .expect("routing");
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    for name in ["ann", "bob", "cid"] {
        create_expert(&http, &routing.url(), name, json!({"printers": 0.8}), 2).await;
    }
    let db = env.pool("routing").await;
    let bus = env.bus();
    let ticket = Uuid::now_v7();
    let event = categorized(ticket, "printers");
    let state = || async {
        let a: i64 = sqlx::query_scalar("SELECT count(*) FROM assignments")
            .fetch_one(&db)
            .await
            .expect("a");
        let d: i64 = sqlx::query_scalar("SELECT count(*) FROM decisions")
            .fetch_one(&db)
            .await
            .expect("d");
        let o: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox")
            .fetch_one(&db)
            .await
            .expect("o");
        let load: i64 = sqlx::query_scalar("SELECT sum(load) FROM experts")
            .fetch_one(&db)
            .await
            .expect("l");
        (a, d, o, load)
    };

    bus.publish(&event).await.expect("published");
    let first = wait_for("assigned", SETTLE, || async {
        (count_routes(&db, &["assigned"]).await == 1).then_some(())
    })
    .await;
    first.expect("the ticket is assigned");
    let after_first = state().await;
    bus.publish(&event).await.expect("published again");
    let (_, expert) = open_assignments(&db).await[0];
    let rejected = lifecycle(EventType::TicketRejected, ticket, Some(expert));
    bus.publish(&rejected).await.expect("rejected");
    wait_for("reassigned", SETTLE, || async {
        let open = open_assignments(&db).await;
        (open.len() == 1 && open[0].1 != expert).then_some(())
    })
    .await
    .expect("the ticket went to another expert");
    let after_reject = state().await;
    assert_eq!(
        after_reject.0,
        after_first.0 + 1,
        "one more assignment, none from the repeat"
    );
    bus.publish(&rejected).await.expect("rejected again");
    bus.publish(&event).await.expect("categorized a third time");
    // Give the repeats time to be handled (they are acknowledged as already seen).
    let marker = categorized(Uuid::now_v7(), "printers");
    bus.publish(&marker).await.expect("marker");
    wait_for("the marker routed", SETTLE, || async {
        (count_routes(&db, &["assigned", "queued"]).await == 2).then_some(())
    })
    .await
    .expect("marker handled");
    let (a, d, o, load) = state().await;
    assert_eq!(a, after_reject.0 + 1, "only the marker was assigned");
    assert_eq!(load, after_reject.3 + 1);
    assert!(d > after_reject.1 && o > after_reject.2);
    let rejections: i32 = sqlx::query_scalar("SELECT rejections FROM routes WHERE ticket_id = $1")
        .bind(ticket)
        .fetch_one(&db)
        .await
        .expect("rejections");
    assert_eq!(rejections, 1);
    db.close().await;
    bus.close().await;
    env.cleanup().await;
}

/// Events of one ticket may arrive out of order (a redelivery comes late; after a broker
/// outage the tickets service's outbox sends them in one burst).
#[tokio::test]
async fn an_acceptance_handled_after_the_resolution_opens_no_assignment() {
    let env = TestEnv::new().await;
    // Events are handled in delivery order, so the marker below is handled after the
    // acceptance.
    let routing = ServiceProcess::start("routing", &env.service_env())
        .await
        .expect("routing");
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    let expert = create_expert(&http, &routing.url(), "ann", json!({"printers": 0.8}), 2).await;
    let db = env.pool("routing").await;
    let bus = env.bus();
    let ticket = Uuid::now_v7();
    bus.publish(&categorized(ticket, "printers"))
        .await
        .expect("published");
    wait_for("assigned", SETTLE, || async {
        (count_routes(&db, &["assigned"]).await == 1).then_some(())
    })
    .await
    .expect("the ticket is assigned");

    let resolved = lifecycle(EventType::TicketResolved, ticket, Some(expert));
    bus.publish(&resolved).await.expect("resolved");
    wait_for("done", SETTLE, || async {
        (count_routes(&db, &["done"]).await == 1).then_some(())
    })
    .await
    .expect("the ticket is done");
    let accepted = lifecycle(EventType::TicketAccepted, ticket, Some(expert));
    bus.publish(&accepted).await.expect("accepted");
    let marker = categorized(Uuid::now_v7(), "printers");
    bus.publish(&marker).await.expect("marker");
    wait_for("the marker assigned", SETTLE, || async {
        (count_routes(&db, &["assigned"]).await == 1).then_some(())
    })
    .await
    .expect("marker handled");

    let open = open_assignments(&db).await;
    assert_eq!(open.len(), 1, "only the marker's: {open:?}");
    assert_ne!(open[0].0, ticket);
    assert!(
        violations(&db).await.is_empty(),
        "{:?}",
        violations(&db).await
    );
    let status: String = sqlx::query_scalar("SELECT status FROM routes WHERE ticket_id = $1")
        .bind(ticket)
        .fetch_one(&db)
        .await
        .expect("route");
    assert_eq!(status, "done");
    db.close().await;
    bus.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_routing_replica_killed_mid_stream_loses_no_ticket() {
    let env = TestEnv::new().await;
    // Small batches: many transactions, so the kill lands mid-stream.
    let mut service_env = env.service_env();
    service_env.push(("WORK_BATCH".into(), "5".into()));
    let mut a = ServiceProcess::start("routing", &service_env)
        .await
        .expect("replica a");
    let b = ServiceProcess::start("routing", &service_env)
        .await
        .expect("replica b");
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    roster(&http, &b.url()).await;
    let db = env.pool("routing").await;
    let bus = env.bus();
    let events: Vec<_> = (0..600)
        .map(|i| categorized(Uuid::now_v7(), CATEGORIES[i % CATEGORIES.len()].0))
        .collect();
    publish(&bus, &events).await;
    wait_for("some tickets routed", SETTLE, || async {
        let n = count_routes(&db, &["assigned", "queued"]).await;
        (n >= 50).then_some(())
    })
    .await
    .expect("routing started");
    a.kill().await;
    let at_kill = count_routes(&db, &["assigned", "queued"]).await;
    eprintln!("killed replica a with {at_kill} of 600 routed");
    wait_for("all 600 routed by the survivor", SETTLE, || async {
        (count_routes(&db, &["assigned", "queued"]).await == 600).then_some(())
    })
    .await
    .expect("no ticket lost");
    let first_decisions: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT ticket_id FROM decisions WHERE kind IN ('assigned','queued') \
         GROUP BY ticket_id HAVING count(*) = 1) t",
    )
    .fetch_one(&db)
    .await
    .expect("decisions");
    assert_eq!(first_decisions, 600, "each ticket decided exactly once");
    assert!(violations(&db).await.is_empty());
    assert_eq!(stranded(&db).await, 0);
    db.close().await;
    bus.close().await;
    env.cleanup().await;
}

/// One batch can carry a ticket's whole life, a redelivery of one of its events and events of
/// other tickets: they apply in delivery order, each once, and the same batch again (as after
/// a crash before the acknowledgement) changes nothing.
#[tokio::test]
async fn a_batch_applies_in_delivery_order_and_once() {
    let env = TestEnv::new().await;
    // The process migrates the schema and serves the experts API; the batches below are
    // handed to the consumer's handler directly, so they are exactly as written.
    let routing = ServiceProcess::start("routing", &env.service_env())
        .await
        .expect("routing");
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    let expert = create_expert(&http, &routing.url(), "ann", json!({"printers": 0.8}), 1).await;
    let db = env.pool("routing").await;
    let config = sysops_routing::config::Config::for_tests(&env.database_url, &env.exchange);
    let worker = sysops_routing::worker::Worker {
        pool: db.clone(),
        engine: sysops_routing::engine::Engine {
            outbox: sysops_platform::outbox::Outbox::default(),
            taxonomy: std::sync::Arc::new(
                sysops_taxonomy::Taxonomy::load(&config.taxonomy_path).expect("taxonomy"),
            ),
            sla: config.sla(),
            max_rejections: config.max_rejections,
        },
    };
    let (a, b, unknown) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let first = categorized(a, "printers");
    let batch: Vec<_> = [
        first.clone(),
        // Ann's one slot is taken by `a`: `b` waits in the backlog ...
        categorized(b, "printers"),
        first,
        lifecycle(EventType::TicketAccepted, a, Some(expert)),
        // ... until `a` is resolved, which gives `b` to her.
        lifecycle(EventType::TicketResolved, a, Some(expert)),
        // A rejection of a ticket routing never saw: nothing to do, and no route for it.
        lifecycle(EventType::TicketRejected, unknown, Some(expert)),
    ]
    .into_iter()
    .map(|envelope| sysops_bus::Incoming {
        envelope,
        redelivered: false,
    })
    .collect();
    let decisions = || async {
        sqlx::query_as::<_, (Uuid, String)>("SELECT ticket_id, kind FROM decisions ORDER BY seq")
            .fetch_all(&db)
            .await
            .expect("decisions")
    };
    for round in ["first", "again"] {
        worker
            .handle(batch.clone())
            .await
            .unwrap_or_else(|e| panic!("{round}: {e}"));
        let status = |t: Uuid| {
            let db = db.clone();
            async move {
                sqlx::query_scalar::<_, String>("SELECT status FROM routes WHERE ticket_id = $1")
                    .bind(t)
                    .fetch_optional(&db)
                    .await
                    .expect("route")
            }
        };
        assert_eq!(status(a).await.as_deref(), Some("done"), "{round}");
        assert_eq!(status(b).await.as_deref(), Some("assigned"), "{round}");
        assert_eq!(status(unknown).await, None, "{round}");
        assert_eq!(open_assignments(&db).await, [(b, expert)], "{round}");
        let kinds: Vec<_> = decisions()
            .await
            .into_iter()
            .map(|(t, kind)| (if t == a { "a" } else { "b" }, kind))
            .collect();
        let expected = [("a", "assigned"), ("b", "queued"), ("b", "assigned")];
        assert_eq!(kinds, expected.map(|(t, k)| (t, k.to_owned())), "{round}");
        assert!(violations(&db).await.is_empty(), "{round}");
    }

    // A queued ticket drained by an earlier event of the same batch: its own later event
    // sees the assignment the drain made, not the route as it was when the batch began.
    let c = Uuid::now_v7();
    let incoming = |envelope| sysops_bus::Incoming {
        envelope,
        redelivered: false,
    };
    worker
        .handle(vec![incoming(categorized(c, "printers"))])
        .await
        .expect("c queued");
    worker
        .handle(vec![
            incoming(lifecycle(EventType::TicketResolved, b, Some(expert))),
            incoming(lifecycle(EventType::TicketAccepted, c, Some(expert))),
        ])
        .await
        .expect("b resolved, c assigned and accepted");
    let status: String = sqlx::query_scalar("SELECT status FROM routes WHERE ticket_id = $1")
        .bind(c)
        .fetch_one(&db)
        .await
        .expect("route");
    assert_eq!(status, "accepted");
    assert_eq!(open_assignments(&db).await, [(c, expert)]);
    let load: i32 = sqlx::query_scalar("SELECT load FROM experts WHERE id = $1")
        .bind(expert)
        .fetch_one(&db)
        .await
        .expect("expert");
    assert_eq!(
        load, 1,
        "an acceptance of the drained assignment, not an override"
    );
    assert!(violations(&db).await.is_empty());

    // The batch sees the backlog empty (c's resolution frees a unit nobody waits for), then
    // queues e behind d, then frees d's unit: e is assigned in the same batch.
    let (d, e) = (Uuid::now_v7(), Uuid::now_v7());
    worker
        .handle(vec![
            incoming(lifecycle(EventType::TicketResolved, c, Some(expert))),
            incoming(categorized(d, "printers")),
            incoming(categorized(e, "printers")),
            incoming(lifecycle(EventType::TicketResolved, d, Some(expert))),
        ])
        .await
        .expect("d assigned and resolved, e assigned");
    assert_eq!(open_assignments(&db).await, [(e, expert)]);
    assert!(violations(&db).await.is_empty());
    db.close().await;
    env.cleanup().await;
}

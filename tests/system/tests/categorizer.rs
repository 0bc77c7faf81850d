//! Categorizer replicas on one queue, learning from corrections in every replica, and a replica
//! that cannot train its model working on without it.

use std::time::Duration;

use futures::StreamExt;
use uuid::Uuid;

use sysops_system_tests::{
    categorized_history, count_status, metric, sample_ticket, wait_for_categorized_ticket, SETTLE,
};
use sysops_testkit::{stack::submit_ticket, wait_for, ServiceProcess, TestEnv};

async fn categorized(http: &reqwest::Client, base: &str) -> i64 {
    count_status(http, base, "queued").await + count_status(http, base, "needs_review").await
}

/// The tickets and routing services, which a ticket passes through before and after the
/// categorizer.
async fn tickets_and_routing(service_env: &[(String, String)]) -> (ServiceProcess, ServiceProcess) {
    let tickets = ServiceProcess::start("tickets", service_env)
        .await
        .expect("tickets");
    let routing = ServiceProcess::start("routing", service_env)
        .await
        .expect("routing");
    (tickets, routing)
}

#[tokio::test]
async fn three_replicas_categorize_a_thousand_tickets_once_each_even_when_one_is_killed() {
    let env = TestEnv::new().await;
    let service_env = env.service_env();
    let (tickets, _routing) = tickets_and_routing(&service_env).await;
    let mut replicas = Vec::new();
    for _ in 0..3 {
        replicas.push(
            ServiceProcess::start("categorizer", &service_env)
                .await
                .expect("categorizer"),
        );
    }
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    let base = tickets.url();

    let ids: Vec<Uuid> = futures::stream::iter(0..1000)
        .map(|i| {
            let (http, base) = (http.clone(), base.clone());
            async move {
                let (title, description) = sample_ticket(i);
                submit_ticket(&http, &base, &title, &description)
                    .await
                    .expect("accepted")
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;

    wait_for("a third of the tickets categorized", SETTLE, || async {
        (categorized(&http, &base).await >= 300).then_some(())
    })
    .await
    .expect("progress");
    replicas[1].kill().await;
    eprintln!(
        "killed a replica at {} categorized",
        categorized(&http, &base).await
    );

    wait_for("every ticket categorized", SETTLE * 3, || async {
        (categorized(&http, &base).await == 1000).then_some(())
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
    for survivor in [&replicas[0], &replicas[2]] {
        let decisions = metric(&http, &survivor.url(), "categorizer_decisions_total")
            .await
            .unwrap_or(0.0);
        assert!(decisions > 0.0, "every live replica took work");
    }
    env.cleanup().await;
}

#[tokio::test]
async fn a_correction_is_learned_by_every_replica_without_a_restart() {
    let env = TestEnv::new().await;
    let service_env = env.service_env();
    let (tickets, _routing) = tickets_and_routing(&service_env).await;
    let replicas = [
        ServiceProcess::start("categorizer", &service_env)
            .await
            .expect("categorizer"),
        ServiceProcess::start("categorizer", &service_env)
            .await
            .expect("categorizer"),
    ];
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    let base = tickets.url();
    let mut before = Vec::new();
    for r in &replicas {
        let url = r.url();
        let trained = wait_for("the replica trained at start", SETTLE, || {
            metric(&http, &url, "categorizer_training_examples")
        })
        .await
        .expect("trained at start");
        before.push(trained);
    }

    let title = "Flux capacitor whine";
    let description = "The flux capacitor in my hoverboard whines loudly at night";
    let id = submit_ticket(&http, &base, title, description)
        .await
        .expect("accepted");
    let first = wait_for_categorized_ticket(&http, &base, id, &["queued", "needs_review"])
        .await
        .expect("categorized");
    let corrected = if first["category"] == "gaming_consoles" {
        "smart_home"
    } else {
        "gaming_consoles"
    };
    let r = http
        .put(format!("{base}/api/tickets/{id}/category"))
        .json(&serde_json::json!({ "category": corrected }))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);

    for (r, before) in replicas.iter().zip(&before) {
        wait_for(
            "the replica retrained with the correction",
            SETTLE,
            || async {
                let now = metric(&http, &r.url(), "categorizer_training_examples").await?;
                (now > *before).then_some(())
            },
        )
        .await
        .expect("every replica learned");
    }
    // Several submissions, so both replicas answer some of them.
    for _ in 0..6 {
        let again = submit_ticket(&http, &base, title, description)
            .await
            .expect("accepted");
        let t = wait_for_categorized_ticket(&http, &base, again, &["queued", "needs_review"])
            .await
            .expect("categorized");
        assert_eq!(t["category"], corrected, "{t}");
        assert_eq!(t["method"], "embedding");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_replica_whose_training_fails_categorizes_by_keywords_and_trains_once_it_can() {
    let env = TestEnv::new().await;
    let service_env = env.service_env();
    let (tickets, _routing) = tickets_and_routing(&service_env).await;
    let http = sysops_testkit::auth::client_of(sysops_platform::auth::Role::Admin);
    let base = tickets.url();

    // A first replica makes the categorizer's tables and stores the taxonomy's examples.
    let mut first = ServiceProcess::start("categorizer", &service_env)
        .await
        .expect("categorizer");
    let url = first.url();
    wait_for("the first replica trained", SETTLE, || {
        metric(&http, &url, "categorizer_training_examples")
    })
    .await
    .expect("trained");
    first.kill().await;

    // The examples' vectors are gone and storing them fails, so the next replica cannot train.
    let db = env.pool("categorizer").await;
    for statement in [
        "DELETE FROM example_vectors",
        "CREATE FUNCTION refuse_vectors() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'vectors refused by the test'; END $$",
        "CREATE TRIGGER refuse_vectors BEFORE INSERT ON example_vectors \
         FOR EACH ROW EXECUTE FUNCTION refuse_vectors()",
    ] {
        sqlx::query(statement).execute(&db).await.expect(statement);
    }
    let replica = ServiceProcess::start("categorizer", &service_env)
        .await
        .expect("categorizer");
    let (title, description) = sample_ticket(1);
    let id = submit_ticket(&http, &base, &title, &description)
        .await
        .expect("accepted");
    let t = wait_for_categorized_ticket(&http, &base, id, &["queued", "needs_review"])
        .await
        .expect("categorized while the model cannot be trained");
    assert_eq!(t["method"], "keyword", "{t}");

    // Storing works again: the training is retried and the model decides.
    sqlx::query("DROP TRIGGER refuse_vectors ON example_vectors")
        .execute(&db)
        .await
        .expect("trigger dropped");
    let url = replica.url();
    wait_for("the replica trained on a retry", SETTLE, || {
        metric(&http, &url, "categorizer_training_examples")
    })
    .await
    .expect("trained once it could");
    let id = submit_ticket(&http, &base, &title, &description)
        .await
        .expect("accepted");
    let t = wait_for_categorized_ticket(&http, &base, id, &["queued", "needs_review"])
        .await
        .expect("categorized");
    assert_eq!(t["method"], "embedding", "{t}");
    db.close().await;
    env.cleanup().await;
}

//! Training from the stored examples against a real database: replicas whose embedding models
//! differ (bfloat16 on one CPU, f32 on another) keep their vectors apart and each trains on
//! every example.

use std::sync::Arc;

use tokio::sync::watch;

use sysops_categorizer::local::{taxonomy_examples, Trainer};
use sysops_embedder::{Embedder, EmbeddingService, ServiceOptions};
use sysops_platform::repo;
use sysops_taxonomy::Taxonomy;
use sysops_testkit::TestEnv;

#[tokio::test]
async fn replicas_of_different_embedding_models_each_train_on_every_example() {
    let env = TestEnv::new().await;
    let pool = env
        .migrated_pool(sysops_categorizer::SCHEMA, sysops_categorizer::migrator())
        .await;
    let taxonomy =
        Arc::new(Taxonomy::load(repo::path("models/taxonomy.toml")).expect("the taxonomy"));
    let embedder =
        Embedder::load(&repo::path("models/all-MiniLM-L6-v2"), 128).expect("the model present");
    let embeddings = EmbeddingService::start(
        embedder,
        ServiceOptions {
            workers: 1,
            ..ServiceOptions::default()
        },
        None,
    );
    let trainer = |model: &str| Trainer {
        pool: pool.clone(),
        embeddings: embeddings.clone(),
        taxonomy: taxonomy.clone(),
        model: watch::channel(None).0,
        embedding_model: model.to_owned(),
    };
    let (first, second) = (trainer("model-a@128"), trainer("model-b@128"));
    let examples = taxonomy_examples(&taxonomy).len() as i64;
    assert!(
        first
            .store("taxonomy", &taxonomy_examples(&taxonomy))
            .await
            .expect("stored")
            > 0
    );

    // Alternating, as replicas do after each correction: neither loses the other's vectors.
    for trainer in [&first, &second, &first, &second] {
        trainer.retrain().await.expect("trained");
        let trained = trainer.model.borrow().as_ref().map(|m| m.examples);
        assert_eq!(
            trained,
            Some(examples as usize),
            "{}",
            trainer.embedding_model
        );
    }
    let per_model: Vec<(String, i64)> =
        sqlx::query_as("SELECT model, count(*) FROM example_vectors GROUP BY model ORDER BY model")
            .fetch_all(&pool)
            .await
            .expect("counted");
    assert_eq!(
        per_model,
        vec![
            ("model-a@128".to_owned(), examples),
            ("model-b@128".to_owned(), examples)
        ]
    );
    pool.close().await;
    env.cleanup().await;
}

#[tokio::test]
async fn a_ticket_keeps_only_its_latest_correction() {
    use chrono::{Duration, Utc};
    use sysops_categorizer::corrections::{self, Correction, Stored};
    use uuid::Uuid;

    let env = TestEnv::new().await;
    let pool = env
        .migrated_pool(sysops_categorizer::SCHEMA, sysops_categorizer::migrator())
        .await;
    let (ticket, other) = (Uuid::now_v7(), Uuid::now_v7());
    let t0 = Utc::now();
    let correction = |label: &'static str, ticket: Uuid, minutes: i64| Correction {
        event_id: Uuid::now_v7(),
        ticket_id: Some(ticket),
        text: "Printer jams on every page",
        label,
        at: t0 + Duration::minutes(minutes),
    };
    let labels = || async {
        let mut found = sqlx::query_scalar::<_, String>(
            "SELECT label || ':' || ticket_id FROM examples WHERE source = 'correction'",
        )
        .fetch_all(&pool)
        .await
        .expect("the corrections");
        found.sort();
        found
    };

    let first = correction("networking", ticket, 1);
    assert_eq!(
        corrections::store(&pool, &first).await.expect("stored"),
        Stored::Learned
    );
    let of_other = correction("printers", other, 1);
    corrections::store(&pool, &of_other).await.expect("stored");
    let second = correction("printers", ticket, 2);
    assert_eq!(
        corrections::store(&pool, &second).await.expect("stored"),
        Stored::Learned
    );
    let mut expected = vec![format!("printers:{other}"), format!("printers:{ticket}")];
    expected.sort();
    assert_eq!(labels().await, expected);

    // The first one redelivered, and one older than the latest arriving late: nothing changes.
    assert_eq!(
        corrections::store(&pool, &first).await.expect("handled"),
        Stored::Nothing
    );
    let late = correction("smart_home", ticket, 0);
    assert_eq!(
        corrections::store(&pool, &late).await.expect("handled"),
        Stored::Nothing
    );
    assert_eq!(labels().await, expected);
    env.cleanup().await;
}

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

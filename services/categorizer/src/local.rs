//! The local model: the learned classifier over sentence embeddings and n-grams, trained from
//! the examples table, retrained in every replica when a correction arrives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use sysops_embedder::classifier::{Example, LinearClassifier, TrainOptions};
use sysops_embedder::features::NgramHasher;
use sysops_embedder::EmbeddingService;
use sysops_taxonomy::Taxonomy;

use crate::dataset::LabelledTicket;

/// `NOTIFY` channel that tells every replica the examples changed.
pub const EXAMPLES_CHANNEL: &str = "categorizer_examples";

const BUCKETS: u32 = 1 << 17;
/// How many examples one correction counts as.
const CORRECTION_WEIGHT: usize = 5;

/// A trained model and what it needs to predict.
pub struct LocalModel {
    pub classifier: LinearClassifier,
    pub labels: Vec<String>,
    pub hasher: NgramHasher,
    pub examples: usize,
}

impl LocalModel {
    /// Categories with their probabilities, best first (never empty: there is at least one
    /// category).
    pub fn predict(&self, embedding: &[f32], text: &str) -> Vec<(String, f32)> {
        self.classifier
            .predict(embedding, &self.hasher.features(text))
            .into_iter()
            .map(|s| (self.labels[s.label].clone(), s.probability))
            .collect()
    }
}

/// Trains the local model and keeps it current.
pub struct Trainer {
    pub pool: PgPool,
    pub embeddings: EmbeddingService,
    pub taxonomy: Arc<Taxonomy>,
    /// Where the latest model is published.
    pub model: watch::Sender<Option<Arc<LocalModel>>>,
    /// Names the embedding model, its precision and input length: the vectors this trainer
    /// stores and trains on are filed under it, apart from other models'.
    pub embedding_model: String,
}

/// The taxonomy as examples: every example ticket, and each category's name, description and
/// keywords, so a category with no examples is still learned from its description.
pub fn taxonomy_examples(taxonomy: &Taxonomy) -> Vec<LabelledTicket> {
    let mut out = Vec::new();
    for c in taxonomy.categories() {
        let mut push = |text: String| {
            out.push(LabelledTicket {
                id: String::new(),
                text,
                label: c.id.clone(),
            })
        };
        push(format!("{}. {}", c.name, c.description));
        if !c.keywords.is_empty() {
            push(c.keywords.join(", "));
        }
        for e in &c.examples {
            push(e.clone());
        }
    }
    out
}

impl Trainer {
    /// Stores examples of `source` (skipping those already stored).
    pub async fn store(&self, source: &str, rows: &[LabelledTicket]) -> anyhow::Result<u64> {
        let mut stored = 0;
        for chunk in rows.chunks(1000) {
            let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
            let labels: Vec<&str> = chunk.iter().map(|r| r.label.as_str()).collect();
            stored += sqlx::query(
                "INSERT INTO examples (source, text, label) SELECT $1, t, l FROM unnest($2::text[], $3::text[]) AS u(t, l) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(source)
            .bind(&texts)
            .bind(&labels)
            .execute(&self.pool)
            .await?
            .rows_affected();
        }
        Ok(stored)
    }

    /// Embeds stored examples that have no embedding of this model yet.
    async fn embed_missing(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT e.id, e.text FROM examples e WHERE NOT EXISTS \
                 (SELECT 1 FROM example_vectors v WHERE v.model = $1 AND v.example_id = e.id) \
                 ORDER BY e.id LIMIT 256",
            )
            .bind(&self.embedding_model)
            .fetch_all(&self.pool)
            .await?;
            if rows.is_empty() {
                return Ok(total);
            }
            let texts: Vec<String> = rows.iter().map(|(_, t)| t.clone()).collect();
            let futures = texts.into_iter().map(|t| self.embeddings.embed(t));
            let vectors = futures::future::try_join_all(futures).await?;
            let ids: Vec<i64> = rows.iter().map(|(id, _)| *id).collect();
            let mut tx = self.pool.begin().await?;
            for (id, v) in ids.iter().zip(vectors) {
                // Another replica of the same model may have stored it meanwhile: same vector.
                sqlx::query(
                    "INSERT INTO example_vectors (model, example_id, embedding) VALUES ($1, $2, $3) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(&self.embedding_model)
                .bind(id)
                .bind(v)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            total += rows.len();
            tracing::info!(embedded = total, "embedding stored examples");
        }
    }

    /// Trains on every stored example of a taxonomy category and publishes the model.
    pub async fn retrain(&self) -> anyhow::Result<()> {
        let embedded = self.embed_missing().await?;
        let rows: Vec<(String, String, String, Vec<f32>)> = sqlx::query_as(
            "SELECT e.source, e.text, e.label, v.embedding FROM examples e \
             JOIN example_vectors v ON v.example_id = e.id WHERE v.model = $1",
        )
        .bind(&self.embedding_model)
        .fetch_all(&self.pool)
        .await?;
        let labels: Vec<String> = self
            .taxonomy
            .categories()
            .iter()
            .map(|c| c.id.clone())
            .collect();
        let dim = self.embeddings.dim();
        let started = Instant::now();
        let model = tokio::task::spawn_blocking(move || -> anyhow::Result<LocalModel> {
            let hasher = NgramHasher::new(BUCKETS);
            let mut examples: Vec<Example> = Vec::with_capacity(rows.len());
            for (source, text, label, embedding) in rows {
                let Some(label) = labels.iter().position(|l| *l == label) else {
                    continue;
                };
                if embedding.len() != dim {
                    continue;
                }
                let example = Example {
                    embedding,
                    features: hasher.features(&text),
                    label,
                };
                // A person's correction is the most trustworthy label there is: it counts as
                // several examples, so one correction changes what the model says of that text.
                if source == "correction" {
                    examples.extend(std::iter::repeat_n(example.clone(), CORRECTION_WEIGHT - 1));
                }
                examples.push(example);
            }
            let count = examples.len();
            let classifier = LinearClassifier::train(
                labels.len(),
                dim,
                hasher,
                &examples,
                &TrainOptions::default(),
            )?;
            Ok(LocalModel {
                classifier,
                labels,
                hasher,
                examples: count,
            })
        })
        .await??;
        tracing::info!(
            examples = model.examples,
            embedded_now = embedded,
            seconds = started.elapsed().as_secs_f64(),
            temperature = model.classifier.temperature(),
            "local model trained"
        );
        metrics::gauge!("categorizer_training_examples").set(model.examples as f64);
        self.model.send_replace(Some(Arc::new(model)));
        Ok(())
    }

    /// Retrains whenever another process (or this one) stores a correction; several
    /// corrections within `debounce` cause one retraining.
    pub async fn follow_corrections(self, debounce: Duration, shutdown: CancellationToken) {
        loop {
            let mut listener = match sqlx::postgres::PgListener::connect_with(&self.pool).await {
                Ok(mut l) => match l.listen(EXAMPLES_CHANNEL).await {
                    Ok(()) => l,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for corrections");
                        tokio::time::sleep(Duration::from_secs(2)).await;
                        continue;
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for corrections");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => continue,
                    }
                }
            };
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    r = listener.recv() => if r.is_err() { break },
                }
                // Gather a burst of corrections into one retraining.
                let _ = tokio::time::timeout(debounce, async {
                    while listener.recv().await.is_ok() {}
                })
                .await;
                if let Err(e) = self.retrain().await {
                    tracing::error!(error = %e, "retraining failed; keeping the previous model");
                }
            }
        }
    }
}

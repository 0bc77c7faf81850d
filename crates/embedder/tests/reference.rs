//! The embedder against reference vectors computed by an independent implementation (a numpy
//! forward pass, `scripts/reference-embeddings.py`), stored in `tests/fixtures/reference.json`.

use std::path::PathBuf;

use serde_json::Value;
use sysops_embedder::{bf16_supported, Embedder, EmbeddingService, Precision, ServiceOptions};

fn model_dir() -> PathBuf {
    // At run time: a test binary may have been compiled in another checkout.
    manifest_dir().join("../../models/all-MiniLM-L6-v2")
}

fn manifest_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo runs the tests"))
}

/// One sentence of the fixture: its text, its token count and its reference vector.
struct Reference {
    text: String,
    tokens: usize,
    embedding: Vec<f64>,
}

fn references() -> Vec<Reference> {
    let text = std::fs::read_to_string(manifest_dir().join("tests/fixtures/reference.json"))
        .expect("fixture");
    let fixture: Value = serde_json::from_str(&text).expect("fixture is JSON");
    fixture["sentences"]
        .as_array()
        .expect("sentences")
        .iter()
        .map(|s| Reference {
            text: s["text"].as_str().expect("text").to_owned(),
            tokens: s["tokens"].as_u64().expect("count") as usize,
            embedding: s["embedding"]
                .as_array()
                .expect("vector")
                .iter()
                .filter_map(Value::as_f64)
                .collect(),
        })
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - y).abs())
        .fold(0.0, f64::max)
}

#[test]
fn embeddings_match_the_reference_implementation() {
    let embedder =
        Embedder::load(&model_dir(), 256).expect("model present (scripts/fetch-model.sh)");
    let sentences = references();
    let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();

    // Together in one padded batch, and one by one: padding must not change a vector.
    let batched = embedder.embed(&texts).expect("embedded");
    for (i, s) in sentences.iter().enumerate() {
        let reference = &s.embedding;
        assert_eq!(batched[i].len(), reference.len());
        assert_eq!(embedder.count_tokens(texts[i]).expect("tokens"), s.tokens);
        let alone = embedder.embed(&texts[i..=i]).expect("embedded");
        assert!(
            max_abs_diff(&batched[i], reference) < 1e-3,
            "sentence {i} batched differs by {}",
            max_abs_diff(&batched[i], reference)
        );
        assert!(
            max_abs_diff(&alone[0], reference) < 1e-3,
            "sentence {i} alone"
        );
        let norm: f32 = batched[i].iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-4);
    }
}

#[test]
fn bfloat16_embeddings_stay_close_to_the_reference() {
    let embedder = Embedder::load_with(&model_dir(), 256, Precision::Bf16).expect("model present");
    if !bf16_supported() {
        // The model falls back to f32, and says so in its name.
        assert_eq!(embedder.precision(), Precision::F32);
        assert_eq!(embedder.name(), "all-MiniLM-L6-v2");
        eprintln!("this CPU has no AVX-512 BF16; the bfloat16 products are not measured");
        return;
    }
    assert_eq!(embedder.name(), "all-MiniLM-L6-v2+bf16");
    let sentences = references();
    let texts: Vec<&str> = sentences.iter().map(|s| s.text.as_str()).collect();
    let batched = embedder.embed(&texts).expect("embedded");
    for (i, s) in sentences.iter().enumerate() {
        // Alone and in a padded batch: padding changes the attention products' summation order,
        // which can move an input across a bfloat16 rounding boundary, so both are held to the
        // reference rather than to each other.
        let alone = embedder.embed(&texts[i..=i]).expect("embedded");
        for (how, vector) in [("batched", &batched[i]), ("alone", &alone[0])] {
            // Both unit length: the dot product is the cosine similarity.
            let cosine: f64 = vector
                .iter()
                .zip(&s.embedding)
                .map(|(a, b)| f64::from(*a) * b)
                .sum();
            assert!(
                cosine > 0.999,
                "sentence {i} {how}: cosine similarity {cosine} to the f32 reference"
            );
        }
    }
}

#[test]
fn long_texts_are_truncated_not_refused() {
    let embedder = Embedder::load(&model_dir(), 32).expect("model present");
    let long = "printer ".repeat(500);
    assert_eq!(embedder.count_tokens(&long).expect("tokens"), 32);
    assert_eq!(embedder.embed(&[&long]).expect("embedded")[0].len(), 384);
}

#[tokio::test]
async fn the_service_embeds_concurrent_requests_in_batches() {
    let embedder = Embedder::load(&model_dir(), 128).expect("model present");
    let batches = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = batches.clone();
    let observer: sysops_embedder::service::BatchObserver =
        std::sync::Arc::new(move |n, _, _| seen.lock().expect("lock").push(n));
    let service = EmbeddingService::start(embedder, ServiceOptions::default(), Some(observer));
    let mut handles = Vec::new();
    for i in 0..40 {
        let s = service.clone();
        handles.push(tokio::spawn(async move {
            s.embed(format!("my laptop number {i} will not boot")).await
        }));
    }
    for h in handles {
        assert_eq!(h.await.expect("joined").expect("embedded").len(), 384);
    }
    let batches = batches.lock().expect("lock").clone();
    assert_eq!(batches.iter().sum::<usize>(), 40);
    assert!(batches.len() < 40, "requests were batched: {batches:?}");
}

//! `eval`: measures the local categorizer on labelled data.
//!
//! Trains the classifier (sentence embeddings + hashed n-grams, calibrated) on one CSV of
//! `id,text,label` and predicts another, then prints accuracy, macro-F1, per-class F1,
//! calibration error, coverage and accuracy above the review threshold, and throughput.
//!
//!     eval --train ../shared/data/it_service_tickets/train.csv \
//!          --test ../shared/data/it_service_tickets/test.csv [--k-shot 10]
//!
//! Embeddings are cached in `--cache` (default ~/.cache/sysops-eval) so later runs on the same
//! texts skip the model; `--no-cache` measures embedding throughput afresh.

/// Training allocates and frees large tensors at every step; mimalloc reuses that memory where
/// the system allocator returns it to the OS and faults it back in (measured: most of the
/// training time went to the kernel).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;

use sysops_categorizer::dataset::{k_shot, read_csv};
use sysops_categorizer::embedding_cache::EmbeddingCache;
use sysops_categorizer::evaluation::{Outcome, Report};
use sysops_embedder::classifier::{Example, LinearClassifier, TrainOptions};
use sysops_embedder::features::NgramHasher;
use sysops_embedder::{Embedder, EmbeddingService, Precision, ServiceOptions};

#[derive(Debug, Parser)]
#[command(name = "eval", about = "Train on one labelled CSV, measure on another")]
struct Args {
    /// Training data, CSV with columns id,text,label.
    #[arg(long)]
    train: PathBuf,
    /// Test data, same columns.
    #[arg(long)]
    test: PathBuf,
    /// Train on only N examples of each label.
    #[arg(long)]
    k_shot: Option<usize>,
    /// Seed of the k-shot sample and of training.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// The sentence-embedding model.
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    model_dir: PathBuf,
    /// Tokens per text the model sees.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Number format of the embedding model's dense layers: auto (bf16 where the CPU has
    /// AVX-512 BF16, else f32), f32 or bf16. Cached embeddings are kept apart by it.
    #[arg(long, default_value = "auto")]
    precision: Precision,
    /// Confidence below which a ticket would go to a person.
    #[arg(long, default_value_t = 0.5)]
    review_threshold: f32,
    /// Where embeddings are cached.
    #[arg(long)]
    cache: Option<PathBuf>,
    /// Embed everything afresh, without reading or writing the cache.
    #[arg(long)]
    no_cache: bool,
    /// Training epochs.
    #[arg(long, default_value_t = TrainOptions::default().epochs)]
    epochs: usize,
    /// AdamW learning rate.
    #[arg(long, default_value_t = TrainOptions::default().learning_rate)]
    learning_rate: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = TrainOptions::default().weight_decay)]
    weight_decay: f64,
    /// Weight of the embedding against the n-grams.
    #[arg(long, default_value_t = TrainOptions::default().embedding_weight)]
    embedding_weight: f32,
    /// Scale of the n-gram features.
    #[arg(long, default_value_t = TrainOptions::default().ngram_weight)]
    ngram_weight: f32,
    /// Weight of the similarity to class prototypes.
    #[arg(long, default_value_t = TrainOptions::default().prototype_weight)]
    prototype_weight: f32,
    /// Units of the hidden layer over the embedding (0 for none).
    #[arg(long, default_value_t = TrainOptions::default().hidden)]
    hidden: usize,
    /// Examples per training step.
    #[arg(long, default_value_t = TrainOptions::default().batch_size)]
    batch_size: usize,
    /// Hash buckets for n-grams (a power of two is usual).
    #[arg(long, default_value_t = 1 << 17)]
    buckets: u32,
    /// Also print the report as JSON.
    #[arg(long)]
    json: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let train_rows = read_csv(&args.train)?;
    let train_rows = match args.k_shot {
        Some(k) => k_shot(&train_rows, k, args.seed),
        None => train_rows,
    };
    let test_rows = read_csv(&args.test)?;
    let labels: Vec<String> = train_rows
        .iter()
        .map(|r| r.label.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    println!(
        "train {} examples, test {}, {} labels",
        train_rows.len(),
        test_rows.len(),
        labels.len()
    );

    let embedder = Embedder::load_with(&args.model_dir, args.max_tokens, args.precision)
        .context("loading the embedding model")?;
    let dim = embedder.dim();
    let model_name = format!("{}@{}", embedder.name(), args.max_tokens);
    println!("embedding model {model_name}");
    let service = EmbeddingService::start(embedder, ServiceOptions::default(), None);
    let cache_path = args
        .cache
        .clone()
        .unwrap_or_else(EmbeddingCache::default_path);
    let mut cache = if args.no_cache {
        EmbeddingCache::empty(&model_name, dim)
    } else {
        EmbeddingCache::load(&cache_path, &model_name, dim)?
    };

    let started = Instant::now();
    let texts: Vec<&str> = train_rows
        .iter()
        .chain(&test_rows)
        .map(|r| r.text.as_str())
        .collect();
    let embedded_now = cache.fill(&texts, |missing| service.embed_blocking(missing))?;
    let embed_time = started.elapsed();
    if embedded_now > 0 {
        println!(
            "embedded {embedded_now} texts in {:.1}s: {:.1} texts/s",
            embed_time.as_secs_f64(),
            embedded_now as f64 / embed_time.as_secs_f64()
        );
        if !args.no_cache {
            cache.save(&cache_path)?;
        }
    }

    let hasher = NgramHasher::new(args.buckets);
    let label_index = |l: &str| labels.iter().position(|x| x == l);
    let examples: Vec<Example> = train_rows
        .iter()
        .filter_map(|r| {
            Some(Example {
                embedding: cache.get(&r.text)?.to_vec(),
                features: hasher.features(&r.text),
                label: label_index(&r.label)?,
            })
        })
        .collect();
    let options = TrainOptions {
        epochs: args.epochs,
        learning_rate: args.learning_rate,
        weight_decay: args.weight_decay,
        embedding_weight: args.embedding_weight,
        batch_size: args.batch_size,
        prototype_weight: args.prototype_weight,
        hidden: args.hidden,
        ngram_weight: args.ngram_weight,
        seed: args.seed,
        ..Default::default()
    };
    let started = Instant::now();
    let model = LinearClassifier::train(labels.len(), dim, hasher, &examples, &options)?;
    println!(
        "trained in {:.2}s (temperature {:.3})",
        started.elapsed().as_secs_f64(),
        model.temperature()
    );

    let started = Instant::now();
    let outcomes: Vec<Outcome> = test_rows
        .iter()
        .map(|r| {
            let embedding = cache.get(&r.text).unwrap_or(&[]);
            let best = &model.predict(embedding, &hasher.features(&r.text))[0];
            Outcome {
                truth: r.label.clone(),
                predicted: labels[best.label].clone(),
                confidence: best.probability,
            }
        })
        .collect();
    let classify_time = started.elapsed();
    let report = Report::new(&outcomes, args.review_threshold);
    println!(
        "classified {} texts in {:.3}s: {:.0} texts/s (embeddings excluded)\n",
        outcomes.len(),
        classify_time.as_secs_f64(),
        outcomes.len() as f64 / classify_time.as_secs_f64()
    );
    print!("{}", report.render());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}

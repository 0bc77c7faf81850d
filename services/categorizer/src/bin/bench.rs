//! `bench`: how fast the local model embeds and classifies on this machine.
//!
//! Prints embeddings per second at batch sizes 1, 8 and 32 for each thread count of the matrix
//! products, then through the embedding service for each number of worker threads, and the
//! single-ticket latency (embedding and classification through the service, as the categorizer
//! does it) at p50 and p99.
//!
//!     bench [--data FILE.csv] [--limit 256] [--threads 1,2] [--batches 1,8,32]

/// Training allocates and frees large tensors at every step; mimalloc reuses that memory where
/// the system allocator returns it to the OS and faults it back in (measured: most of the
/// training time went to the kernel).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

use sysops_categorizer::dataset::read_csv;
use sysops_embedder::classifier::{Example, LinearClassifier, TrainOptions};
use sysops_embedder::features::NgramHasher;
use sysops_embedder::{Embedder, EmbeddingService, Precision, ServiceOptions};

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Embedding throughput and single-ticket latency of the local model"
)]
struct Args {
    /// Texts to embed, CSV with columns id,text,label.
    #[arg(long, default_value = "../shared/data/it_service_tickets/test.csv")]
    data: PathBuf,
    /// How many texts of the file to use.
    #[arg(long, default_value_t = 256)]
    limit: usize,
    /// Thread counts to measure (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Batch sizes to measure (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,8,32")]
    batches: Vec<usize>,
    /// Worker counts of the embedding service to measure (comma separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    workers: Vec<usize>,
    /// Single-ticket requests for the latency figures.
    #[arg(long, default_value_t = 200)]
    latency_samples: usize,
    #[arg(long, default_value = "models/all-MiniLM-L6-v2")]
    model_dir: PathBuf,
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// Number format of the dense layers: auto (bf16 where the CPU has AVX-512 BF16, else
    /// f32), f32 or bf16. bfloat16 products use one thread whatever --threads says.
    #[arg(long, default_value = "auto")]
    precision: Precision,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rows = read_csv(&args.data)?;
    let texts: Vec<String> = rows
        .iter()
        .take(args.limit)
        .map(|r| r.text.clone())
        .collect();
    let embedder = Embedder::load_with(&args.model_dir, args.max_tokens, args.precision)
        .context("loading the model")?;
    let tokens: usize = texts
        .iter()
        .map(|t| embedder.count_tokens(t).unwrap_or(0))
        .sum();
    println!(
        "{} texts from {}, {:.1} tokens each on average (truncated at {}); model {}",
        texts.len(),
        args.data.display(),
        tokens as f64 / texts.len() as f64,
        args.max_tokens,
        embedder.name()
    );
    println!("\nthreads  batch  embeddings/s");
    for &threads in &args.threads {
        // candle sizes its matrix-multiplication parallelism from this variable at each call.
        std::env::set_var("RAYON_NUM_THREADS", threads.to_string());
        for &batch in &args.batches {
            let mut sorted: Vec<&str> = texts.iter().map(String::as_str).collect();
            sorted.sort_by_key(|t| t.len());
            let started = Instant::now();
            for chunk in sorted.chunks(batch) {
                embedder.embed(chunk)?;
            }
            let rate = texts.len() as f64 / started.elapsed().as_secs_f64();
            println!("{threads:>7}  {batch:>5}  {rate:>12.1}");
        }
    }
    std::env::remove_var("RAYON_NUM_THREADS");

    // Through the embedding service, as the categorizer runs it: W single-threaded workers
    // sharing one queue, batches of up to 8.
    let mut embedder = Some(embedder);
    let mut service = None;
    println!("\nworkers  embeddings/s (embedding service, batches of up to 8)");
    for workers in args.workers.iter().copied() {
        let model = match embedder.take() {
            Some(m) => m,
            None => Embedder::load_with(&args.model_dir, args.max_tokens, args.precision)?,
        };
        let options = ServiceOptions {
            workers,
            ..ServiceOptions::default()
        };
        let s = EmbeddingService::start(model, options, None);
        let started = Instant::now();
        s.embed_blocking(texts.clone())?;
        println!(
            "{workers:>7}  {:>12.1}",
            texts.len() as f64 / started.elapsed().as_secs_f64()
        );
        service = Some(s);
    }
    let service = service.context("at least one worker count")?;

    // Single tickets through the embedding thread and a trained classifier, as in service.
    let hasher = NgramHasher::new(1 << 18);
    let dim = service.dim();
    let labels: Vec<String> = {
        let mut l: Vec<String> = rows.iter().map(|r| r.label.clone()).collect();
        l.sort();
        l.dedup();
        l
    };
    let sample: Vec<&sysops_categorizer::dataset::LabelledTicket> = rows.iter().take(256).collect();
    let vectors = service.embed_blocking(sample.iter().map(|r| r.text.clone()).collect())?;
    let examples: Vec<Example> = sample
        .iter()
        .zip(vectors)
        .map(|(r, embedding)| Example {
            embedding,
            features: hasher.features(&r.text),
            label: labels.iter().position(|l| *l == r.label).unwrap_or(0),
        })
        .collect();
    let model = LinearClassifier::train(
        labels.len(),
        dim,
        hasher,
        &examples,
        &TrainOptions::default(),
    )?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut latencies = Vec::with_capacity(args.latency_samples);
    runtime.block_on(async {
        for text in texts.iter().cycle().take(args.latency_samples) {
            let started = Instant::now();
            let embedding = service.embed(text.clone()).await?;
            let _ = model.predict(&embedding, &hasher.features(text));
            latencies.push(started.elapsed());
        }
        anyhow::Ok(())
    })?;
    latencies.sort();
    println!(
        "\nsingle ticket (embed + classify, one at a time): p50 {:.1} ms, p99 {:.1} ms over {} requests",
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
        latencies.len()
    );
    Ok(())
}

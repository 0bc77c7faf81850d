//! The embedding workers: threads sharing the model take requests from one channel and embed
//! what is waiting in batches (capped by count, tokens and padding), so a backlog drains at
//! full speed while a lone request is not held back.

use std::sync::Arc;
use std::thread;

use tokio::sync::{mpsc, oneshot};

use crate::{Embedder, ModelError};

/// Sizing of the embedding threads and their batches.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
    /// Threads running the model, each on its own batches. On small machines several
    /// single-threaded workers outrun one worker whose matrix products use every core
    /// (measured with `bench`), so each worker's products run on its own thread.
    pub workers: usize,
    /// Most texts in one forward pass.
    pub max_batch: usize,
    /// Most padded tokens (batch size times longest input) in one forward pass.
    pub max_batch_tokens: usize,
    /// Requests that may wait in the channel.
    pub queue: usize,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        ServiceOptions {
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            max_batch: 8,
            max_batch_tokens: 4096,
            queue: 1024,
        }
    }
}

struct Request {
    text: String,
    reply: oneshot::Sender<Result<Vec<f32>, ModelError>>,
}

/// Handle to the embedding thread; cheap to clone. The thread stops when every handle is gone.
#[derive(Clone)]
pub struct EmbeddingService {
    tx: mpsc::Sender<Request>,
    dim: usize,
    name: Arc<str>,
}

impl std::fmt::Debug for EmbeddingService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingService")
            .field("name", &self.name)
            .finish()
    }
}

/// Reports batch sizes, for metrics.
pub type BatchObserver = Arc<dyn Fn(usize, usize, std::time::Duration) + Send + Sync>;

impl EmbeddingService {
    /// Starts the worker threads. `observer` is told each batch's size, padded tokens and
    /// duration.
    ///
    pub fn start(
        embedder: Embedder,
        options: ServiceOptions,
        observer: Option<BatchObserver>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(options.queue);
        let dim = embedder.dim();
        let name: Arc<str> = embedder.name().into();
        let workers = options.workers.max(1);
        let embedder = Arc::new(embedder);
        let rx = Arc::new(std::sync::Mutex::new(rx));
        for i in 0..workers {
            let (embedder, rx, options, observer) = (
                embedder.clone(),
                rx.clone(),
                options.clone(),
                observer.clone(),
            );
            thread::Builder::new()
                .name(format!("embedder-{i}"))
                .spawn(move || {
                    // With several workers, each runs its matrix products on its own thread (a
                    // one-thread pool for the rayon tasks candle splits them into); with one,
                    // the products use the global pool and every core.
                    match (workers > 1)
                        .then(|| rayon::ThreadPoolBuilder::new().num_threads(1).build())
                    {
                        Some(Ok(pool)) => {
                            pool.install(|| run(&embedder, &rx, &options, observer.as_ref()))
                        }
                        _ => run(&embedder, &rx, &options, observer.as_ref()),
                    }
                })
                .expect("the OS can start a thread");
        }
        EmbeddingService { tx, dim, name }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Embeds one text; waits for a place in the queue when it is full.
    pub async fn embed(&self, text: String) -> Result<Vec<f32>, ModelError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Request { text, reply })
            .await
            .map_err(|_| ModelError::ServiceStopped)?;
        rx.await.map_err(|_| ModelError::ServiceStopped)?
    }

    /// Embeds many texts from a blocking context (training, tools).
    pub fn embed_blocking(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, ModelError> {
        let mut replies = Vec::with_capacity(texts.len());
        for text in texts {
            let (reply, rx) = oneshot::channel();
            self.tx
                .blocking_send(Request { text, reply })
                .map_err(|_| ModelError::ServiceStopped)?;
            replies.push(rx);
        }
        replies
            .into_iter()
            .map(|rx| rx.blocking_recv().map_err(|_| ModelError::ServiceStopped)?)
            .collect()
    }
}

type Shared<T> = Arc<std::sync::Mutex<T>>;

/// Requests a worker holds when it forms a batch, in batches
/// (Twice the batch size: enough to find similar lengths, small enough that one worker does not
/// hold requests another idle worker could be embedding.)
const POOL_BATCHES: usize = 2;
/// Most padding tolerated in a batch, as a share of its real tokens.
const MAX_PADDING: f32 = 0.25;

/// One worker: takes what waits in the channel (the lock is held only while taking), then
/// embeds the oldest waiting request together with those closest to it in length, so batches
/// waste little on padding and no request waits behind ever newer ones.
fn run(
    embedder: &Embedder,
    rx: &Shared<mpsc::Receiver<Request>>,
    options: &ServiceOptions,
    observer: Option<&BatchObserver>,
) {
    // (tokens, arrival order, request)
    let mut waiting: Vec<(usize, u64, Request)> = Vec::new();
    let mut arrivals = 0u64;
    loop {
        if waiting.is_empty() {
            // Nothing in hand: wait for work (one worker waits on the channel, the others on
            // the lock).
            let Ok(mut rx) = rx.lock() else { return };
            match rx.blocking_recv() {
                Some(r) => {
                    waiting.push((tokens(embedder, &r.text), arrivals, r));
                    arrivals += 1;
                }
                None => return,
            }
            top_up(embedder, &mut rx, &mut waiting, &mut arrivals, options);
        } else if let Ok(mut rx) = rx.try_lock() {
            // Work in hand: never block on the lock, or a worker holding requests could wait
            // behind one that waits for requests.
            top_up(embedder, &mut rx, &mut waiting, &mut arrivals, options);
        }
        let batch = take_batch(&mut waiting, options);
        let longest = batch.iter().map(|(t, _, _)| *t).max().unwrap_or(0);
        let started = std::time::Instant::now();
        let texts: Vec<&str> = batch.iter().map(|(_, _, r)| r.text.as_str()).collect();
        let result = embedder.embed(&texts);
        if let Some(observe) = observer {
            observe(batch.len(), batch.len() * longest, started.elapsed());
        }
        match result {
            Ok(vectors) => {
                for ((_, _, request), vector) in batch.into_iter().zip(vectors) {
                    let _ = request.reply.send(Ok(vector));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedding a batch failed");
                let message = e.to_string();
                for (_, _, request) in batch {
                    let _ = request
                        .reply
                        .send(Err(ModelError::Tokenizer(message.clone())));
                }
            }
        }
    }
}

/// Adds requests already in the channel to `waiting`, up to the pool size.
fn top_up(
    embedder: &Embedder,
    rx: &mut mpsc::Receiver<Request>,
    waiting: &mut Vec<(usize, u64, Request)>,
    arrivals: &mut u64,
    options: &ServiceOptions,
) {
    while waiting.len() < POOL_BATCHES * options.max_batch {
        match rx.try_recv() {
            Ok(r) => {
                waiting.push((tokens(embedder, &r.text), *arrivals, r));
                *arrivals += 1;
            }
            Err(_) => break,
        }
    }
}

/// Removes and returns the next batch: the oldest request, plus the requests nearest to it in
/// length while the batch stays within the count, token and padding limits.
fn take_batch(
    waiting: &mut Vec<(usize, u64, Request)>,
    options: &ServiceOptions,
) -> Vec<(usize, u64, Request)> {
    let oldest = waiting
        .iter()
        .enumerate()
        .min_by_key(|(_, (_, order, _))| *order)
        .map(|(i, _)| i)
        .unwrap_or(0);
    let anchor = waiting[oldest].0;
    let mut by_distance: Vec<usize> = (0..waiting.len()).filter(|&i| i != oldest).collect();
    by_distance.sort_by_key(|&i| waiting[i].0.abs_diff(anchor));
    let mut chosen = vec![oldest];
    let (mut real, mut longest) = (anchor, anchor);
    for i in by_distance {
        if chosen.len() >= options.max_batch {
            break;
        }
        let t = waiting[i].0;
        let (next_real, next_longest) = (real + t, longest.max(t));
        let padded = (chosen.len() + 1) * next_longest;
        if padded > options.max_batch_tokens
            || padded as f32 > next_real as f32 * (1.0 + MAX_PADDING)
        {
            continue;
        }
        chosen.push(i);
        real = next_real;
        longest = next_longest;
    }
    chosen.sort_unstable_by(|a, b| b.cmp(a));
    chosen.into_iter().map(|i| waiting.swap_remove(i)).collect()
}

fn tokens(embedder: &Embedder, text: &str) -> usize {
    embedder.count_tokens(text).unwrap_or(512)
}

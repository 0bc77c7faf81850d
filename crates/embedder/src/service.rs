//! The embedding thread: owns the model, takes requests from a channel, and embeds whatever is
//! waiting in one batch (capped by tokens), so a backlog drains at full speed while a lone
//! request is not held back.

use std::sync::Arc;
use std::thread;

use tokio::sync::{mpsc, oneshot};

use crate::{Embedder, ModelError};

/// Sizing of the embedding thread's batches.
#[derive(Debug, Clone)]
pub struct ServiceOptions {
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
            max_batch: 32,
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
    /// Starts the thread. `observer` is told each batch's size, padded tokens and duration.
    pub fn start(
        embedder: Embedder,
        options: ServiceOptions,
        observer: Option<BatchObserver>,
    ) -> Self {
        let (tx, rx) = mpsc::channel(options.queue);
        let dim = embedder.dim();
        let name: Arc<str> = embedder.name().into();
        thread::Builder::new()
            .name("embedder".into())
            .spawn(move || run(embedder, rx, options, observer))
            .expect("the OS can start a thread");
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

fn run(
    embedder: Embedder,
    mut rx: mpsc::Receiver<Request>,
    options: ServiceOptions,
    observer: Option<BatchObserver>,
) {
    let mut waiting: Vec<(usize, Request)> = Vec::new();
    loop {
        if waiting.is_empty() {
            match rx.blocking_recv() {
                Some(r) => waiting.push((tokens(&embedder, &r.text), r)),
                None => return,
            }
        }
        while waiting.len() < options.max_batch * 4 {
            match rx.try_recv() {
                Ok(r) => waiting.push((tokens(&embedder, &r.text), r)),
                Err(_) => break,
            }
        }
        // Similar lengths together waste the least padding.
        waiting.sort_by_key(|(t, _)| *t);
        let mut take = 0;
        let mut longest = 0;
        for (t, _) in &waiting {
            let next_longest = longest.max(*t);
            if take > 0
                && (take + 1 > options.max_batch
                    || (take + 1) * next_longest > options.max_batch_tokens)
            {
                break;
            }
            take += 1;
            longest = next_longest;
        }
        let batch: Vec<(usize, Request)> = waiting.drain(..take).collect();
        let started = std::time::Instant::now();
        let texts: Vec<&str> = batch.iter().map(|(_, r)| r.text.as_str()).collect();
        let result = embedder.embed(&texts);
        if let Some(observe) = &observer {
            observe(batch.len(), batch.len() * longest, started.elapsed());
        }
        match result {
            Ok(vectors) => {
                for ((_, request), vector) in batch.into_iter().zip(vectors) {
                    let _ = request.reply.send(Ok(vector));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "embedding a batch failed");
                let message = e.to_string();
                for (_, request) in batch {
                    let _ = request
                        .reply
                        .send(Err(ModelError::Tokenizer(message.clone())));
                }
            }
        }
    }
}

fn tokens(embedder: &Embedder, text: &str) -> usize {
    embedder.count_tokens(text).unwrap_or(512)
}

//! Storing new tickets. Submissions that arrive while earlier ones are being written wait
//! together and are then written in one statement, so under load the database commits (and
//! flushes its log) once per group instead of once per ticket. A lone submission is written at
//! once: nothing waits for a group to fill.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot, Mutex};

use crate::store::{Created, Store};

/// Writers, each with one statement in flight at a time.
pub const WRITERS: usize = 2;
/// Most tickets in one statement.
pub const MAX_GROUP: usize = 64;

struct Submission {
    created: Created,
    stored: oneshot::Sender<Result<Stored, sqlx::Error>>,
}

/// What became of a submission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Stored with its event.
    New,
    /// Not stored: its submitter stored a ticket under the same idempotency key before.
    KeyUsed,
}

impl From<bool> for Stored {
    fn from(stored: bool) -> Self {
        if stored {
            Stored::New
        } else {
            Stored::KeyUsed
        }
    }
}

/// Hands new tickets to the writers; cheap to clone. The writers stop once every handle is
/// gone and what was handed to them is written.
#[derive(Debug, Clone)]
pub struct Intake {
    tx: mpsc::Sender<Submission>,
}

impl Intake {
    /// Starts [`WRITERS`] writers on the current runtime.
    pub fn start(store: Store) -> Self {
        let (tx, rx) = mpsc::channel(WRITERS * MAX_GROUP * 4);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..WRITERS {
            tokio::spawn(write(store.clone(), rx.clone()));
        }
        Intake { tx }
    }

    /// Stores a new ticket with its event; returns once it is committed.
    pub async fn store(&self, created: Created) -> Result<Stored, sqlx::Error> {
        let (stored, done) = oneshot::channel();
        self.tx
            .send(Submission { created, stored })
            .await
            .map_err(|_| sqlx::Error::PoolClosed)?;
        done.await.map_err(|_| sqlx::Error::PoolClosed)?
    }
}

/// One writer: takes what is waiting (at least one, at most [`MAX_GROUP`]) and writes it.
async fn write(store: Store, rx: Arc<Mutex<mpsc::Receiver<Submission>>>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    loop {
        if rx.lock().await.recv_many(&mut group, MAX_GROUP).await == 0 {
            return;
        }
        let started = Instant::now();
        let (created, replies): (Vec<_>, Vec<_>) =
            group.drain(..).map(|s| (s.created, s.stored)).unzip();
        metrics::histogram!("tickets_intake_group_size").record(created.len() as f64);
        match store.insert(&created).await {
            Ok(stored) => {
                for (reply, stored) in replies.into_iter().zip(stored) {
                    let _ = reply.send(Ok(stored.into()));
                }
            }
            // One ticket's error must not fail the others: each is written again on its own.
            Err(e) if created.len() > 1 => {
                tracing::warn!(error = %e, tickets = created.len(), "storing a group of tickets failed; storing each alone");
                for (one, reply) in created.into_iter().zip(replies) {
                    let stored = store.insert(std::slice::from_ref(&one)).await;
                    let _ = reply.send(stored.map(|s| s.first().copied().unwrap_or(false).into()));
                }
            }
            Err(e) => {
                if let Some(reply) = replies.into_iter().next() {
                    let _ = reply.send(Err(e));
                }
            }
        }
        metrics::histogram!("tickets_intake_write_seconds").record(started.elapsed().as_secs_f64());
    }
}

//! Consuming a work queue: prefetch, concurrent handling, ack only after the handler's effects
//! are committed, dead-lettering of malformed or permanently failing messages, and recovery
//! after the broker or the connection goes away.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, BasicRejectOptions,
};
use lapin::types::FieldTable;
use lapin::Channel;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use sysops_contract::RawEnvelope;

use crate::trace::trace_id_of;
use crate::{Bus, BusError, WorkQueue};

/// A delivered event, parsed.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub envelope: RawEnvelope,
    /// The broker says this message was delivered before (a consumer died or nacked it).
    pub redelivered: bool,
}

/// Why a handler could not finish.
#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// The message can never succeed (bad payload, unknown reference): dead-letter it now.
    #[error("permanent failure: {0}")]
    Permanent(String),
    /// Something outside the message failed (database, broker): retry.
    #[error("transient failure: {0}")]
    Transient(String),
}

impl HandleError {
    pub fn permanent(e: impl std::fmt::Display) -> Self {
        HandleError::Permanent(e.to_string())
    }

    pub fn transient(e: impl std::fmt::Display) -> Self {
        HandleError::Transient(e.to_string())
    }
}

/// The event's payload as `T`: one that does not parse never will (a permanent failure).
pub fn payload<T: serde::de::DeserializeOwned>(event: &RawEnvelope) -> Result<T, HandleError> {
    T::deserialize(&event.data).map_err(HandleError::permanent)
}

/// The ticket the event is about: a ticket event without one is malformed (a permanent failure).
pub fn ticket_of(event: &RawEnvelope) -> Result<uuid::Uuid, HandleError> {
    event
        .ticket_id
        .ok_or_else(|| HandleError::permanent("ticket event without ticket_id"))
}

/// How a consumer takes work.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Unacknowledged messages the broker may send ahead.
    pub prefetch: u16,
    /// Messages handled at once.
    pub concurrency: usize,
    /// In-process retries of a transient failure before the message is returned to the queue.
    /// `None` retries until shutdown: a database outage must not push healthy messages
    /// towards the broker's delivery limit (and the dead-letter queue) by requeueing them.
    pub transient_retries: Option<u32>,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        ConsumerOptions {
            prefetch: 32,
            concurrency: 8,
            transient_retries: None,
        }
    }
}

/// What became of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settlement {
    Ack,
    DeadLetter,
    Requeue,
}

impl Settlement {
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Settlement::Ack => "ack",
            Settlement::DeadLetter => "dead_letter",
            Settlement::Requeue => "requeue",
        }
    }
}

/// Consumes `queue` until `shutdown` is cancelled, reconnecting whenever the broker goes away.
/// Messages in flight at shutdown finish before this returns.
pub async fn run_consumer<H, Fut>(
    bus: Arc<Bus>,
    queue: WorkQueue,
    options: ConsumerOptions,
    handler: H,
    shutdown: CancellationToken,
) where
    H: Fn(Incoming) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandleError>> + Send,
{
    let handler = Arc::new(handler);
    supervise(&bus, queue, &shutdown, || {
        consume_once(&bus, queue, &options, handler.clone(), &shutdown)
    })
    .await;
}

/// Runs `session` (one channel's consumption) until `shutdown`, opening a new one with backoff
/// whenever the broker or the connection goes away, and watches the queue's depths meanwhile.
pub(crate) async fn supervise<S, Fut>(
    bus: &Bus,
    queue: WorkQueue,
    shutdown: &CancellationToken,
    mut session: S,
) where
    S: FnMut() -> Fut,
    Fut: Future<Output = Result<(), BusError>>,
{
    let consume = async {
        let mut backoff = Duration::from_millis(200);
        while !shutdown.is_cancelled() {
            match session().await {
                Ok(()) => backoff = Duration::from_millis(200),
                Err(e) => {
                    tracing::warn!(queue = queue.name(), error = %e, "consumer lost its channel; reconnecting");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    // At most 2 s: once the broker is back, consumption resumes within that.
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    };
    tokio::join!(consume, watch_depths(bus, queue, shutdown));
    tracing::info!(queue = queue.name(), "consumer stopped");
}

/// Opens a channel with `prefetch` and starts consuming `queue` on it.
pub(crate) async fn open(
    bus: &Bus,
    queue: WorkQueue,
    prefetch: u16,
) -> Result<(Channel, lapin::Consumer), BusError> {
    let channel = bus.channel().await?;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await
        .map_err(BusError::Amqp)?;
    let queue_name = bus.config().queue_name(queue.name());
    let consumer = channel
        .basic_consume(
            &queue_name,
            &format!(
                "{}-{}",
                bus.config().connection_name,
                uuid::Uuid::new_v4().simple()
            ),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(BusError::Amqp)?;
    tracing::info!(queue = %queue_name, prefetch, "consuming");
    Ok((channel, consumer))
}

/// Ends a session: on shutdown the channel is closed (unacknowledged deliveries go back to
/// the queue) and the session is over; otherwise the delivery stream ended because the
/// channel died.
pub(crate) async fn close(channel: Channel, shutdown: &CancellationToken) -> Result<(), BusError> {
    if shutdown.is_cancelled() {
        let _ = channel.close(200, "consumer shutting down").await;
        Ok(())
    } else {
        Err(BusError::ChannelClosed)
    }
}

/// How often queue depths are read for `/metrics`.
const DEPTH_INTERVAL: Duration = Duration::from_secs(10);

/// Publishes the depth of the queue and of its dead-letter queue as gauges: the backlog is
/// what operators scale on, and dead letters need a person.
async fn watch_depths(bus: &Bus, queue: WorkQueue, shutdown: &CancellationToken) {
    let dead_letters = queue
        .has_dead_letter_queue()
        .then(|| queue.dead_letter_name());
    while !shutdown.is_cancelled() {
        if let Ok(depth) = bus.queue_depth(queue.name()).await {
            metrics::gauge!("bus_queue_depth", "queue" => queue.name()).set(f64::from(depth));
        }
        if let Some(dead_letters) = &dead_letters {
            if let Ok(depth) = bus.queue_depth(dead_letters).await {
                metrics::gauge!("bus_dead_letter_depth", "queue" => queue.name())
                    .set(f64::from(depth));
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(DEPTH_INTERVAL) => {}
        }
    }
}

/// One session on one channel; returns `Ok` on shutdown, `Err` when the channel died.
async fn consume_once<H, Fut>(
    bus: &Bus,
    queue: WorkQueue,
    options: &ConsumerOptions,
    handler: Arc<H>,
    shutdown: &CancellationToken,
) -> Result<(), BusError>
where
    H: Fn(Incoming) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandleError>> + Send,
{
    let (channel, consumer) = open(bus, queue, options.prefetch).await?;
    consumer
        .take_until(shutdown.cancelled())
        .for_each_concurrent(options.concurrency, |delivery| {
            let handler = handler.clone();
            async move {
                match delivery {
                    Ok(delivery) => {
                        settle(queue, delivery, handler.as_ref(), options, shutdown).await
                    }
                    Err(e) => {
                        tracing::warn!(queue = queue.name(), error = %e, "delivery stream error")
                    }
                }
            }
        })
        .await;

    close(channel, shutdown).await
}

async fn settle<H, Fut>(
    queue: WorkQueue,
    delivery: Delivery,
    handler: &H,
    options: &ConsumerOptions,
    shutdown: &CancellationToken,
) where
    H: Fn(Incoming) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandleError>> + Send,
{
    let settlement = match serde_json::from_slice::<RawEnvelope>(&delivery.data) {
        Err(e) => {
            tracing::error!(queue = queue.name(), error = %e, "malformed message; dead-lettering it");
            Settlement::DeadLetter
        }
        Ok(envelope) => {
            // Everything logged while handling the event names its trace (the ticket).
            let trace_id = trace_id_of(&delivery)
                .or_else(|| envelope.ticket_id.map(|id| id.simple().to_string()));
            let span = tracing::info_span!(
                "event",
                queue = queue.name(),
                event_type = %envelope.event_type,
                event_id = %envelope.id,
                trace_id = trace_id.as_deref().unwrap_or("-"),
            );
            let incoming = Incoming {
                envelope,
                redelivered: delivery.redelivered,
            };
            handle_with_retries(queue, incoming, handler, options, shutdown)
                .instrument(span)
                .await
        }
    };
    metrics::counter!("bus_consumed_total", "queue" => queue.name(), "outcome" => settlement.as_str())
        .increment(1);
    let result = match settlement {
        Settlement::Ack => delivery.ack(BasicAckOptions::default()).await,
        Settlement::DeadLetter => delivery.reject(BasicRejectOptions { requeue: false }).await,
        Settlement::Requeue => {
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    multiple: false,
                })
                .await
        }
    };
    if let Err(e) = result {
        // The channel is gone; the broker redelivers the message and the inbox makes the
        // second handling a no-op.
        tracing::warn!(queue = queue.name(), error = %e, "could not settle a delivery");
    }
}

async fn handle_with_retries<H, Fut>(
    queue: WorkQueue,
    incoming: Incoming,
    handler: &H,
    options: &ConsumerOptions,
    shutdown: &CancellationToken,
) -> Settlement
where
    H: Fn(Incoming) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), HandleError>> + Send,
{
    let event_id = incoming.envelope.id;
    let event_type = incoming.envelope.event_type;
    let what = format!("event {event_id} ({event_type})");
    retry_transient(
        queue,
        &what,
        || handler(incoming.clone()),
        options.transient_retries,
        shutdown,
    )
    .await
}

/// Runs `attempt` until it succeeds or fails permanently, retrying transient failures with
/// jittered exponential backoff, at most `retries` times (`None`: until shutdown).
pub(crate) async fn retry_transient<A, Fut>(
    queue: WorkQueue,
    what: &str,
    mut attempt: A,
    retries: Option<u32>,
    shutdown: &CancellationToken,
) -> Settlement
where
    A: FnMut() -> Fut,
    Fut: Future<Output = Result<(), HandleError>>,
{
    let mut delay = Duration::from_millis(100);
    let mut attempts = 0;
    loop {
        attempts += 1;
        match attempt().await {
            Ok(()) => return Settlement::Ack,
            Err(HandleError::Permanent(reason)) => {
                tracing::error!(queue = queue.name(), what, %reason, "cannot be handled; dead-lettering it");
                return Settlement::DeadLetter;
            }
            Err(HandleError::Transient(reason)) => {
                let exhausted = retries.is_some_and(|limit| attempts > limit);
                if exhausted || shutdown.is_cancelled() {
                    tracing::warn!(queue = queue.name(), what, %reason, "giving it back to the queue");
                    return Settlement::Requeue;
                }
                tracing::warn!(queue = queue.name(), what, %reason, attempts, "transient failure; retrying");
                let jitter =
                    Duration::from_millis(rand::random_range(0..=delay.as_millis() as u64 / 2));
                tokio::select! {
                    _ = shutdown.cancelled() => return Settlement::Requeue,
                    _ = tokio::time::sleep(delay + jitter) => {}
                }
                delay = (delay * 2).min(Duration::from_secs(10));
            }
        }
    }
}

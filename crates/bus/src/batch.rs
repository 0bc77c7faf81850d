//! Consuming a queue in batches: whatever has arrived is handled together (up to a maximum),
//! so a backlog drains in few database round trips while a lone message is handled at once.
//! The guarantees are those of [`crate::run_consumer`]: ack after the handler's effects,
//! malformed and permanently failing messages dead-lettered one by one, transient failures
//! retried, reconnection after the broker goes away.

use std::future::Future;

use futures::StreamExt;
use lapin::message::Delivery;
use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};
use lapin::types::AMQPValue;
use tokio_util::sync::CancellationToken;

use sysops_contract::RawEnvelope;

use crate::consumer::{close, open, retry_transient, supervise, Settlement};
use crate::{Bus, BusError, HandleError, Incoming, WorkQueue};

/// What a batch consumer hands its handler, parsed from a delivery.
pub trait FromDelivery: Sized + Clone + Send {
    /// The item, or why the delivery can never be handled (it is dead-lettered at once).
    fn from_delivery(delivery: &Delivery) -> Result<Self, String>;
}

impl FromDelivery for Incoming {
    fn from_delivery(delivery: &Delivery) -> Result<Self, String> {
        serde_json::from_slice::<RawEnvelope>(&delivery.data)
            .map(|envelope| Incoming {
                envelope,
                redelivered: delivery.redelivered,
            })
            .map_err(|e| format!("malformed message: {e}"))
    }
}

/// A message that died in a work queue, as the dead-letter tap receives it.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// The full name of the queue it died in (the dead-letter exchange routes by it).
    pub queue: String,
    /// Why the broker dead-lettered it: `rejected` (a consumer gave up on it) or
    /// `delivery_limit` (it was delivered too often), when the broker says.
    pub reason: Option<String>,
    /// The message as it was published.
    pub body: Vec<u8>,
}

impl FromDelivery for DeadLetter {
    fn from_delivery(delivery: &Delivery) -> Result<Self, String> {
        let header = |name: &str| {
            delivery
                .properties
                .headers()
                .as_ref()
                .and_then(|h| h.inner().get(name))
                .and_then(|v| match v {
                    AMQPValue::LongString(s) => Some(s.to_string()),
                    AMQPValue::ShortString(s) => Some(s.to_string()),
                    _ => None,
                })
        };
        Ok(DeadLetter {
            queue: header("x-first-death-queue")
                .unwrap_or_else(|| delivery.routing_key.to_string()),
            reason: header("x-first-death-reason"),
            body: delivery.data.clone(),
        })
    }
}

/// How a batch consumer takes work.
#[derive(Debug, Clone)]
pub struct BatchOptions {
    /// Unacknowledged messages the broker may send ahead; at least `max_batch`.
    pub prefetch: u16,
    /// Most messages handled together.
    pub max_batch: usize,
    /// As in [`crate::ConsumerOptions::transient_retries`].
    pub transient_retries: Option<u32>,
}

impl BatchOptions {
    /// Batches of at most `max_batch` messages (at least one), with twice that sent ahead (at
    /// most 65535), so the next batch is waiting while one is handled.
    pub fn sized(max_batch: usize) -> Self {
        let max_batch = max_batch.max(1);
        BatchOptions {
            max_batch,
            prefetch: u16::try_from(max_batch * 2).unwrap_or(u16::MAX),
            ..Default::default()
        }
    }
}

impl Default for BatchOptions {
    fn default() -> Self {
        BatchOptions {
            prefetch: 1000,
            max_batch: 500,
            transient_retries: None,
        }
    }
}

/// Consumes `queue` in batches until `shutdown` is cancelled; one batch is handled at a time.
/// When the handler fails permanently on a batch, each message is handled alone, so only the
/// ones that really cannot be handled are dead-lettered.
pub async fn run_batch_consumer<T, H, Fut>(
    bus: std::sync::Arc<Bus>,
    queue: WorkQueue,
    options: BatchOptions,
    handler: H,
    shutdown: CancellationToken,
) where
    T: FromDelivery,
    H: Fn(Vec<T>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandleError>> + Send,
{
    supervise(&bus, queue, &shutdown, || {
        session(&bus, queue, &options, &handler, &shutdown)
    })
    .await;
}

async fn session<T, H, Fut>(
    bus: &Bus,
    queue: WorkQueue,
    options: &BatchOptions,
    handler: &H,
    shutdown: &CancellationToken,
) -> Result<(), BusError>
where
    T: FromDelivery,
    H: Fn(Vec<T>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandleError>> + Send,
{
    let (channel, consumer) = open(bus, queue, options.prefetch).await?;
    let chunks = consumer
        .take_until(shutdown.cancelled())
        .ready_chunks(options.max_batch.max(1));
    let mut chunks = std::pin::pin!(chunks);
    while let Some(chunk) = chunks.next().await {
        let mut deliveries = Vec::with_capacity(chunk.len());
        let mut items = Vec::with_capacity(chunk.len());
        for delivery in chunk {
            match delivery {
                Err(e) => {
                    tracing::warn!(queue = queue.name(), error = %e, "delivery stream error")
                }
                Ok(delivery) => match T::from_delivery(&delivery) {
                    Ok(item) => {
                        items.push(item);
                        deliveries.push(delivery);
                    }
                    Err(reason) => {
                        tracing::error!(queue = queue.name(), %reason, "dead-lettering a message");
                        settle(queue, &[delivery], Settlement::DeadLetter).await;
                    }
                },
            }
        }
        if !items.is_empty() {
            handle_batch(queue, deliveries, items, handler, options, shutdown).await;
        }
    }
    close(channel, shutdown).await
}

async fn handle_batch<T, H, Fut>(
    queue: WorkQueue,
    deliveries: Vec<Delivery>,
    items: Vec<T>,
    handler: &H,
    options: &BatchOptions,
    shutdown: &CancellationToken,
) where
    T: FromDelivery,
    H: Fn(Vec<T>) -> Fut + Send + Sync,
    Fut: Future<Output = Result<(), HandleError>> + Send,
{
    metrics::histogram!("bus_batch_size", "queue" => queue.name()).record(items.len() as f64);
    let what = format!("a batch of {}", items.len());
    let outcome = retry_transient(
        queue,
        &what,
        || handler(items.clone()),
        options.transient_retries,
        shutdown,
    )
    .await;
    if outcome != Settlement::DeadLetter || items.len() == 1 {
        settle(queue, &deliveries, outcome).await;
        return;
    }
    // Something in the batch can never be handled: find it by handling each message alone.
    for (delivery, item) in deliveries.into_iter().zip(items) {
        let outcome = retry_transient(
            queue,
            "one message of a failed batch",
            || handler(vec![item.clone()]),
            options.transient_retries,
            shutdown,
        )
        .await;
        settle(queue, std::slice::from_ref(&delivery), outcome).await;
    }
}

/// Settles every delivery of `deliveries` (in delivery order) the same way.
async fn settle(queue: WorkQueue, deliveries: &[Delivery], settlement: Settlement) {
    let Some(last) = deliveries.last() else {
        return;
    };
    metrics::counter!("bus_consumed_total", "queue" => queue.name(), "outcome" => settlement.as_str())
        .increment(deliveries.len() as u64);
    // One batch is in flight at a time, so every earlier delivery of the channel is already
    // settled and a `multiple` acknowledgement covers exactly this batch.
    let result = match settlement {
        Settlement::Ack => last.ack(BasicAckOptions { multiple: true }).await,
        Settlement::Requeue => {
            last.nack(BasicNackOptions {
                requeue: true,
                multiple: true,
            })
            .await
        }
        Settlement::DeadLetter => {
            let mut result = Ok(());
            for delivery in deliveries {
                result = result.and(delivery.reject(BasicRejectOptions { requeue: false }).await);
            }
            result
        }
    };
    if let Err(e) = result {
        tracing::warn!(queue = queue.name(), error = %e, "could not settle deliveries");
    }
}

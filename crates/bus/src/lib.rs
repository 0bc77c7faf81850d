//! The message bus: every use of lapin (RabbitMQ) in the system lives here.
//!
//! - [`topology`]: the exchange, the work queues with their bindings, dead-lettering.
//! - [`Bus`]: one connection per process, re-established after a broker restart.
//! - publishing with publisher confirms and `mandatory`, persistent messages.
//! - [`consumer`]: prefetch, ack after the handler's effects, bounded redelivery, then the DLQ.
//! - [`batch`]: the same, handling whatever has arrived together; and the dead-letter tap.
//! - [`trace`]: the W3C trace context each message carries (trace id = ticket id).

pub mod batch;
mod config;
pub mod consumer;
mod error;
mod publish;
mod tap;
pub mod topology;
pub mod trace;

pub use batch::{run_batch_consumer, BatchOptions, DeadLetter, FromDelivery};
pub use config::BusConfig;
pub use consumer::{payload, run_consumer, ticket_of, ConsumerOptions, HandleError, Incoming};
pub use error::BusError;
pub use topology::WorkQueue;

use std::sync::Arc;
use std::time::Duration;

use lapin::{Channel, Connection, ConnectionProperties};
use tokio::sync::Mutex;

/// A process's link to RabbitMQ. Cheap to share behind an `Arc`; reconnects on demand.
pub struct Bus {
    config: BusConfig,
    /// The live connection, replaced when the broker drops it.
    connection: Mutex<Option<Arc<Connection>>>,
    /// The channel used for publishing, in confirm mode; rebuilt after a failure.
    publish_channel: Mutex<Option<Channel>>,
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Bus {
    /// A bus that connects lazily; nothing is contacted until first use.
    pub fn new(config: BusConfig) -> Arc<Self> {
        Arc::new(Bus {
            config,
            connection: Mutex::new(None),
            publish_channel: Mutex::new(None),
        })
    }

    pub fn config(&self) -> &BusConfig {
        &self.config
    }

    /// Whether a connection to the broker is currently open.
    pub async fn is_connected(&self) -> bool {
        self.connection
            .lock()
            .await
            .as_ref()
            .is_some_and(|c| c.status().connected())
    }

    /// Connects (declaring the topology) unless already connected.
    pub async fn connect(&self) -> Result<(), BusError> {
        self.connection().await.map(|_| ())
    }

    /// Connects, retrying with backoff until it works or `give_up_after` passes.
    pub async fn connect_with_retry(&self, give_up_after: Duration) -> Result<(), BusError> {
        let deadline = tokio::time::Instant::now() + give_up_after;
        let mut delay = Duration::from_millis(100);
        loop {
            match self.connect().await {
                Ok(()) => return Ok(()),
                Err(e) if tokio::time::Instant::now() + delay > deadline => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "broker not reachable yet, retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    async fn connection(&self) -> Result<Arc<Connection>, BusError> {
        let mut guard = self.connection.lock().await;
        if let Some(conn) = guard.as_ref() {
            if conn.status().connected() {
                return Ok(conn.clone());
            }
        }
        let props = ConnectionProperties::default()
            .with_connection_name(self.config.connection_name.clone().into());
        let conn = Connection::connect(&self.config.url, props)
            .await
            .map_err(BusError::Connect)?;
        let channel = conn.create_channel().await.map_err(BusError::Amqp)?;
        topology::declare(&channel, &self.config).await?;
        // Best effort: the channel was only needed for the declarations.
        let _ = channel.close(200, "topology declared").await;
        tracing::info!(exchange = %self.config.exchange, "connected to the broker");
        let conn = Arc::new(conn);
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// A fresh channel on the live connection.
    pub async fn channel(&self) -> Result<Channel, BusError> {
        let conn = self.connection().await?;
        match conn.create_channel().await {
            Ok(ch) => Ok(ch),
            Err(e) => {
                // The connection looked open but is not: forget it so the next call reconnects.
                self.forget_connection().await;
                Err(BusError::Amqp(e))
            }
        }
    }

    async fn forget_connection(&self) {
        if let Some(conn) = self.connection.lock().await.take() {
            let _ = conn.close(200, "reconnecting").await;
        }
    }

    /// The number of ready messages in a queue of this bus (its name without prefix).
    pub async fn queue_depth(&self, queue: &str) -> Result<u32, BusError> {
        let channel = self.channel().await?;
        let depth = topology::depth(&channel, &self.config.queue_name(queue)).await;
        let _ = channel.close(200, "depth read").await;
        depth
    }

    /// Deletes this bus's exchanges and queues (all of them, messages included). For tests and
    /// tools that set up throwaway topologies with a unique prefix.
    pub async fn delete_topology(&self) -> Result<(), BusError> {
        let channel = self.channel().await?;
        topology::delete(&channel, &self.config).await?;
        let _ = channel.close(200, "topology deleted").await;
        Ok(())
    }

    /// Closes the connection; in-flight unacknowledged messages return to their queues.
    pub async fn close(&self) {
        self.publish_channel.lock().await.take();
        if let Some(conn) = self.connection.lock().await.take() {
            let _ = conn.close(200, "shutting down").await;
        }
    }
}

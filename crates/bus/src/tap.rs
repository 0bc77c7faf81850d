//! Watching events go by without taking them from anyone: a private, exclusive queue bound to
//! some routing keys, deleted when the watcher goes away. For tools (the load generator) that
//! follow tickets through the system.

use futures::{Stream, StreamExt};
use lapin::options::{BasicConsumeOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::FieldTable;

use sysops_contract::RawEnvelope;

use crate::{Bus, BusError};

impl Bus {
    /// Every event published from now on with one of `routing_keys`, as it arrives. Messages
    /// that are not events are skipped. The queue is the caller's alone and disappears with
    /// the connection; nothing is acknowledged (the broker forgets a message once sent).
    pub async fn tap(
        &self,
        routing_keys: &[&str],
    ) -> Result<impl Stream<Item = RawEnvelope> + Send + 'static, BusError> {
        let channel = self.channel().await?;
        let queue = channel
            .queue_declare(
                "",
                QueueDeclareOptions {
                    exclusive: true,
                    auto_delete: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(BusError::Amqp)?;
        for key in routing_keys {
            channel
                .queue_bind(
                    queue.name().as_str(),
                    &self.config().exchange,
                    key,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(BusError::Amqp)?;
        }
        let consumer = channel
            .basic_consume(
                queue.name().as_str(),
                "tap",
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(BusError::Amqp)?;
        Ok(consumer.filter_map(|delivery| async move {
            let delivery = delivery.ok()?;
            serde_json::from_slice::<RawEnvelope>(&delivery.data).ok()
        }))
    }
}

//! Publishing: persistent JSON messages, `mandatory`, publisher confirms.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::publisher_confirm::{Confirmation, PublisherConfirm};
use lapin::types::{AMQPValue, FieldTable};
use lapin::BasicProperties;

use sysops_contract::RawEnvelope;

use crate::trace::{traceparent_for, TRACEPARENT};
use crate::{Bus, BusError};

const PERSISTENT: u8 = 2;

impl Bus {
    /// Publishes one event and waits for the broker's confirm.
    pub async fn publish(&self, envelope: &RawEnvelope) -> Result<(), BusError> {
        self.publish_all(std::slice::from_ref(envelope)).await
    }

    /// Publishes events in order, then waits for all their confirms: one round trip for the
    /// batch. Fails if any was nacked or returned; the caller may publish the batch again
    /// (consumers deduplicate by event id).
    pub async fn publish_all(&self, envelopes: &[RawEnvelope]) -> Result<(), BusError> {
        let mut messages = Vec::with_capacity(envelopes.len());
        for envelope in envelopes {
            let body = serde_json::to_vec(envelope).map_err(BusError::Serialize)?;
            let mut headers = FieldTable::default();
            headers.insert(
                TRACEPARENT.into(),
                AMQPValue::LongString(traceparent_for(envelope).into()),
            );
            let properties = BasicProperties::default()
                .with_delivery_mode(PERSISTENT)
                .with_content_type("application/json".into())
                .with_message_id(envelope.id.to_string().into())
                .with_type(envelope.event_type.routing_key().into())
                .with_headers(headers);
            messages.push((envelope.event_type.routing_key(), body, properties));
        }
        let confirms = self.send(&messages).await?;
        for ((key, _, _), confirm) in messages.iter().zip(confirms) {
            await_confirm(key, confirm).await?;
            metrics::counter!("bus_published_total", "routing_key" => *key).increment(1);
        }
        Ok(())
    }

    /// Publishes arbitrary bytes under a routing key, with confirms. For operators' tools and
    /// tests that need to put a malformed message on the bus.
    pub async fn publish_raw(&self, routing_key: &str, body: &[u8]) -> Result<(), BusError> {
        let key = routing_key.to_owned();
        let messages = vec![(
            key.as_str(),
            body.to_vec(),
            BasicProperties::default().with_delivery_mode(PERSISTENT),
        )];
        let confirms = self.send(&messages).await?;
        for confirm in confirms {
            await_confirm(routing_key, confirm).await?;
        }
        Ok(())
    }

    async fn send(
        &self,
        messages: &[(&str, Vec<u8>, BasicProperties)],
    ) -> Result<Vec<PublisherConfirm>, BusError> {
        let mut guard = self.publish_channel.lock().await;
        let channel = match guard.as_ref() {
            Some(ch) if ch.status().connected() => ch.clone(),
            _ => {
                let ch = self.channel().await?;
                ch.confirm_select(ConfirmSelectOptions::default())
                    .await
                    .map_err(BusError::Amqp)?;
                *guard = Some(ch.clone());
                ch
            }
        };
        let options = BasicPublishOptions {
            mandatory: true,
            ..Default::default()
        };
        let mut confirms = Vec::with_capacity(messages.len());
        for (key, body, properties) in messages {
            match channel
                .basic_publish(
                    &self.config.exchange,
                    key,
                    options,
                    body,
                    properties.clone(),
                )
                .await
            {
                Ok(confirm) => confirms.push(confirm),
                Err(e) => {
                    guard.take();
                    return Err(BusError::Amqp(e));
                }
            }
        }
        Ok(confirms)
    }
}

async fn await_confirm(key: &str, confirm: PublisherConfirm) -> Result<(), BusError> {
    match confirm.await.map_err(BusError::Amqp)? {
        Confirmation::Ack(None) | Confirmation::NotRequested => Ok(()),
        Confirmation::Ack(Some(_returned)) => Err(BusError::Unroutable(key.to_owned())),
        Confirmation::Nack(_) => Err(BusError::Nacked(key.to_owned())),
    }
}

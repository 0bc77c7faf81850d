//! The durable topology of DESIGN.md, declared idempotently by every service at connect time,
//! so a message is routable even to a queue whose consumer has never started.

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, ExchangeKind};

use sysops_contract::EventType;

use crate::{BusConfig, BusError};

/// The work queues, one per consuming service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkQueue {
    CategorizerWork,
    RoutingWork,
    TicketsPipeline,
    AnalyticsEvents,
    /// A copy of every dead-lettered message of the work queues, kept by analytics so that
    /// dead letters show on the dashboard with the tickets they concern. Bound to the
    /// dead-letter exchange, not to the main one; it has no dead-letter queue of its own.
    DeadLetterTap,
}

impl WorkQueue {
    pub const ALL: [WorkQueue; 4] = [
        WorkQueue::CategorizerWork,
        WorkQueue::RoutingWork,
        WorkQueue::TicketsPipeline,
        WorkQueue::AnalyticsEvents,
    ];

    /// The queue's name, without the bus's prefix.
    pub const fn name(self) -> &'static str {
        match self {
            WorkQueue::CategorizerWork => "categorizer.work",
            WorkQueue::RoutingWork => "routing.work",
            WorkQueue::TicketsPipeline => "tickets.pipeline",
            WorkQueue::AnalyticsEvents => "analytics.events",
            WorkQueue::DeadLetterTap => "analytics.dead_letters",
        }
    }

    /// The name of its dead-letter queue, without the bus's prefix.
    pub fn dead_letter_name(self) -> String {
        format!("{}.dlq", self.name())
    }

    /// Whether the queue dead-letters into a `<queue>.dlq` of its own.
    pub const fn has_dead_letter_queue(self) -> bool {
        !matches!(self, WorkQueue::DeadLetterTap)
    }

    /// The routing keys bound to the queue on the main exchange.
    pub fn bindings(self) -> Vec<&'static str> {
        use EventType::*;
        let types: &[EventType] = match self {
            WorkQueue::CategorizerWork => &[TicketCreated, TicketRecategorized],
            WorkQueue::RoutingWork => &[
                TicketCategorized,
                TicketRecategorized,
                TicketAccepted,
                TicketRejected,
                TicketResolved,
                TicketCancelled,
                TicketClosed,
                ExpertChanged,
            ],
            WorkQueue::TicketsPipeline => &[
                TicketCategorized,
                TicketQueued,
                TicketAssigned,
                TicketSlaBreached,
                TicketUnassigned,
                TicketEscalated,
            ],
            WorkQueue::AnalyticsEvents => return vec!["#"],
            WorkQueue::DeadLetterTap => return Vec::new(),
        };
        types.iter().map(|t| t.routing_key()).collect()
    }

    /// Routing keys earlier versions bound to the queue and this one no longer consumes:
    /// removed at declaration, so an upgraded installation stops receiving them.
    pub fn retired_bindings(self) -> &'static [&'static str] {
        match self {
            // ticket.categorized carries the priority, region and creation time now.
            WorkQueue::RoutingWork => &["ticket.created"],
            _ => &[],
        }
    }
}

/// Declares the exchange, the dead-letter exchange, every work queue (quorum, with a delivery
/// limit) and its dead-letter queue, and the bindings.
pub async fn declare(channel: &Channel, config: &BusConfig) -> Result<(), BusError> {
    let durable = ExchangeDeclareOptions {
        durable: true,
        ..Default::default()
    };
    let dlx = config.dead_letter_exchange();
    channel
        .exchange_declare(
            &config.exchange,
            ExchangeKind::Topic,
            durable,
            FieldTable::default(),
        )
        .await
        .map_err(BusError::Amqp)?;
    channel
        .exchange_declare(&dlx, ExchangeKind::Direct, durable, FieldTable::default())
        .await
        .map_err(BusError::Amqp)?;

    let queue_options = QueueDeclareOptions {
        durable: true,
        ..Default::default()
    };
    for queue in WorkQueue::ALL {
        let name = config.queue_name(queue.name());
        let dlq = config.queue_name(&queue.dead_letter_name());

        channel
            .queue_declare(&dlq, queue_options, FieldTable::default())
            .await
            .map_err(BusError::Amqp)?;
        channel
            .queue_bind(
                &dlq,
                &dlx,
                &name,
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BusError::Amqp)?;

        // Quorum queues count deliveries themselves: a message that crashes its consumer
        // again and again is dead-lettered after `delivery_limit` attempts instead of
        // blocking the queue forever.
        let mut args = FieldTable::default();
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString("quorum".into()),
        );
        args.insert(
            "x-delivery-limit".into(),
            AMQPValue::LongInt(i32::try_from(config.delivery_limit).unwrap_or(i32::MAX)),
        );
        args.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(dlx.clone().into()),
        );
        args.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(name.clone().into()),
        );
        channel
            .queue_declare(&name, queue_options, args)
            .await
            .map_err(BusError::Amqp)?;
        for key in queue.bindings() {
            channel
                .queue_bind(
                    &name,
                    &config.exchange,
                    key,
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(BusError::Amqp)?;
        }
        for key in queue.retired_bindings() {
            // Removing a binding that does not exist is not an error.
            channel
                .queue_unbind(&name, &config.exchange, key, FieldTable::default())
                .await
                .map_err(BusError::Amqp)?;
        }
    }

    let tap = config.queue_name(WorkQueue::DeadLetterTap.name());
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    channel
        .queue_declare(&tap, queue_options, args)
        .await
        .map_err(BusError::Amqp)?;
    for queue in WorkQueue::ALL {
        // The dead-letter exchange routes by the name of the queue a message died in.
        channel
            .queue_bind(
                &tap,
                &dlx,
                &config.queue_name(queue.name()),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(BusError::Amqp)?;
    }
    Ok(())
}

/// Ready messages in a queue (full name), read with a passive declare.
pub(crate) async fn depth(channel: &Channel, queue: &str) -> Result<u32, BusError> {
    let q = channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(BusError::Amqp)?;
    Ok(q.message_count())
}

/// Deletes what [`declare`] created.
pub(crate) async fn delete(channel: &Channel, config: &BusConfig) -> Result<(), BusError> {
    for queue in WorkQueue::ALL {
        for name in [
            config.queue_name(queue.name()),
            config.queue_name(&queue.dead_letter_name()),
        ] {
            channel
                .queue_delete(&name, QueueDeleteOptions::default())
                .await
                .map_err(BusError::Amqp)?;
        }
    }
    channel
        .queue_delete(
            &config.queue_name(WorkQueue::DeadLetterTap.name()),
            QueueDeleteOptions::default(),
        )
        .await
        .map_err(BusError::Amqp)?;
    for exchange in [config.exchange.clone(), config.dead_letter_exchange()] {
        channel
            .exchange_delete(&exchange, ExchangeDeleteOptions::default())
            .await
            .map_err(BusError::Amqp)?;
    }
    Ok(())
}

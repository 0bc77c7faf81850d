use chrono::{DateTime, Utc};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use uuid::Uuid;

/// Namespace for the UUID v5 ids of derived events. Fixed forever: changing it would break
/// deduplication of events redelivered across an upgrade.
const DERIVED_EVENT_NAMESPACE: Uuid = Uuid::from_u128(0x5e0b_5a2d_7c1e_4f3b_9a8d_2f6c_1b4e_7d90);

/// Every event type of the system. The serialized name is also the AMQP routing key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    #[serde(rename = "ticket.created")]
    TicketCreated,
    #[serde(rename = "ticket.categorized")]
    TicketCategorized,
    #[serde(rename = "ticket.recategorized")]
    TicketRecategorized,
    #[serde(rename = "ticket.queued")]
    TicketQueued,
    #[serde(rename = "ticket.assigned")]
    TicketAssigned,
    #[serde(rename = "ticket.accepted")]
    TicketAccepted,
    #[serde(rename = "ticket.rejected")]
    TicketRejected,
    #[serde(rename = "ticket.resolved")]
    TicketResolved,
    #[serde(rename = "ticket.cancelled")]
    TicketCancelled,
    #[serde(rename = "ticket.closed")]
    TicketClosed,
    #[serde(rename = "ticket.sla_breached")]
    TicketSlaBreached,
    #[serde(rename = "expert.changed")]
    ExpertChanged,
    #[serde(rename = "ticket.unassigned")]
    TicketUnassigned,
    #[serde(rename = "ticket.escalated")]
    TicketEscalated,
}

impl EventType {
    /// All event types, in lifecycle order.
    pub const ALL: [EventType; 14] = [
        EventType::TicketCreated,
        EventType::TicketCategorized,
        EventType::TicketRecategorized,
        EventType::TicketQueued,
        EventType::TicketAssigned,
        EventType::TicketAccepted,
        EventType::TicketRejected,
        EventType::TicketResolved,
        EventType::TicketCancelled,
        EventType::TicketClosed,
        EventType::TicketSlaBreached,
        EventType::ExpertChanged,
        EventType::TicketUnassigned,
        EventType::TicketEscalated,
    ];

    /// The routing key on the topic exchange, equal to the `type` field of the envelope.
    pub const fn routing_key(self) -> &'static str {
        match self {
            EventType::TicketCreated => "ticket.created",
            EventType::TicketCategorized => "ticket.categorized",
            EventType::TicketRecategorized => "ticket.recategorized",
            EventType::TicketQueued => "ticket.queued",
            EventType::TicketAssigned => "ticket.assigned",
            EventType::TicketAccepted => "ticket.accepted",
            EventType::TicketRejected => "ticket.rejected",
            EventType::TicketResolved => "ticket.resolved",
            EventType::TicketCancelled => "ticket.cancelled",
            EventType::TicketClosed => "ticket.closed",
            EventType::TicketSlaBreached => "ticket.sla_breached",
            EventType::ExpertChanged => "expert.changed",
            EventType::TicketUnassigned => "ticket.unassigned",
            EventType::TicketEscalated => "ticket.escalated",
        }
    }

    /// The current payload version of this event type.
    pub const fn current_version(self) -> u16 {
        1
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.routing_key())
    }
}

/// A string that names no event type.
#[derive(Debug, thiserror::Error)]
#[error("unknown event type `{0}`")]
pub struct UnknownEventType(pub String);

impl std::str::FromStr for EventType {
    type Err = UnknownEventType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.routing_key() == s)
            .ok_or_else(|| UnknownEventType(s.to_owned()))
    }
}

/// The envelope every message on the bus carries; `data` is the typed payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T = serde_json::Value> {
    /// UUID v7 for original events, UUID v5 of the cause for derived ones.
    pub id: Uuid,
    #[serde(rename = "type")]
    pub event_type: EventType,
    pub version: u16,
    pub occurred_at: DateTime<Utc>,
    /// Absent only for events that concern no ticket (`expert.changed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket_id: Option<Uuid>,
    /// The id of the event whose handling produced this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
    pub data: T,
}

/// An envelope whose payload has not been interpreted yet.
pub type RawEnvelope = Envelope<serde_json::Value>;

impl<T: Serialize> Envelope<T> {
    /// A new original event (not caused by another event), with a time-ordered id.
    pub fn new(event_type: EventType, ticket_id: Option<Uuid>, data: T) -> Self {
        Envelope {
            id: Uuid::now_v7(),
            event_type,
            version: event_type.current_version(),
            occurred_at: Utc::now(),
            ticket_id,
            causation_id: None,
            data,
        }
    }

    /// An event emitted while handling `cause`. Its id depends only on the cause's id and the
    /// new event's type, so handling a redelivered cause again yields the same id and
    /// downstream consumers deduplicate it.
    pub fn derived<C>(cause: &Envelope<C>, event_type: EventType, data: T) -> Self {
        Self::derived_with_discriminator(cause, event_type, "", data)
    }

    /// Like [`Envelope::derived`], for handlers that emit several events of one type from a
    /// single cause; `discriminator` tells them apart and must itself be deterministic.
    pub fn derived_with_discriminator<C>(
        cause: &Envelope<C>,
        event_type: EventType,
        discriminator: &str,
        data: T,
    ) -> Self {
        let name = format!(
            "{}/{}/{}",
            cause.id,
            event_type.routing_key(),
            discriminator
        );
        Envelope {
            id: Uuid::new_v5(&DERIVED_EVENT_NAMESPACE, name.as_bytes()),
            event_type,
            version: event_type.current_version(),
            occurred_at: Utc::now(),
            ticket_id: cause.ticket_id,
            causation_id: Some(cause.id),
            data,
        }
    }

    /// The same envelope with its payload turned into JSON.
    pub fn to_raw(&self) -> Result<RawEnvelope, serde_json::Error> {
        Ok(Envelope {
            id: self.id,
            event_type: self.event_type,
            version: self.version,
            occurred_at: self.occurred_at,
            ticket_id: self.ticket_id,
            causation_id: self.causation_id,
            data: serde_json::to_value(&self.data)?,
        })
    }
}

impl RawEnvelope {
    /// Interprets the payload as `T`.
    pub fn parse_data<T: DeserializeOwned>(&self) -> Result<Envelope<T>, serde_json::Error> {
        Ok(Envelope {
            id: self.id,
            event_type: self.event_type,
            version: self.version,
            occurred_at: self.occurred_at,
            ticket_id: self.ticket_id,
            causation_id: self.causation_id,
            data: T::deserialize(&self.data)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_keys_round_trip_through_their_names() {
        for t in EventType::ALL {
            assert_eq!(t.routing_key().parse::<EventType>().ok(), Some(t));
            let json = serde_json::to_string(&t).expect("serializable");
            assert_eq!(json, format!("\"{}\"", t.routing_key()));
        }
    }

    #[test]
    fn a_derived_event_has_the_same_id_for_the_same_cause() {
        let cause = Envelope::new(EventType::TicketCreated, Some(Uuid::now_v7()), ());
        let a = Envelope::derived(&cause, EventType::TicketCategorized, 1);
        let b = Envelope::derived(&cause, EventType::TicketCategorized, 2);
        let c = Envelope::derived(&cause, EventType::TicketQueued, 1);
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a.causation_id, Some(cause.id));
        assert_eq!(a.ticket_id, cause.ticket_id);
    }

    #[test]
    fn an_envelope_of_an_unknown_type_is_refused() {
        let json = serde_json::json!({
            "id": Uuid::now_v7(), "type": "ticket.exploded", "version": 1,
            "occurred_at": "2026-11-23T10:00:00.123Z", "data": {}
        });
        assert!(serde_json::from_value::<RawEnvelope>(json).is_err());
    }
}

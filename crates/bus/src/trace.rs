//! W3C trace context (`traceparent`, <https://www.w3.org/TR/trace-context/>). Every event of one
//! ticket is published with the ticket's id as its trace id, so the logs of every service about
//! one ticket share a `trace_id`; HTTP requests carry a `traceparent` of their own from the
//! gateway to the service that answers.

use lapin::message::Delivery;
use lapin::types::AMQPValue;
use uuid::Uuid;

use sysops_contract::RawEnvelope;

/// The header, in HTTP and in AMQP message headers.
pub const TRACEPARENT: &str = "traceparent";

/// A `traceparent` whose trace id is the ticket id (the event id for events of no ticket); the
/// span id comes from the event id.
pub fn traceparent_for(envelope: &RawEnvelope) -> String {
    let trace = envelope.ticket_id.unwrap_or(envelope.id);
    format_traceparent(trace, envelope.id)
}

/// A `traceparent` starting a new trace.
pub fn new_traceparent() -> String {
    format_traceparent(Uuid::new_v4(), Uuid::new_v4())
}

fn format_traceparent(trace: Uuid, span: Uuid) -> String {
    let span = span.simple().to_string();
    format!("00-{}-{}-01", trace.simple(), &span[16..])
}

/// The trace id of a well-formed version-00 `traceparent`: 32 lower-case hex digits, not all
/// zero.
pub fn trace_id(traceparent: &str) -> Option<&str> {
    let mut parts = traceparent.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let well_formed = version == "00"
        && parts.next().is_none()
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && trace.bytes().any(|b| b != b'0')
        && span.bytes().any(|b| b != b'0');
    well_formed.then_some(trace)
}

/// The trace id a delivered message carries in its `traceparent` header, if any.
pub fn trace_id_of(delivery: &Delivery) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(TRACEPARENT)? {
        AMQPValue::LongString(value) => {
            trace_id(&String::from_utf8_lossy(value.as_bytes())).map(str::to_owned)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sysops_contract::{Envelope, EventType};

    #[test]
    fn the_trace_id_of_every_event_of_a_ticket_is_the_ticket_id() {
        let ticket = Uuid::now_v7();
        let a = Envelope::new(
            EventType::TicketCreated,
            Some(ticket),
            serde_json::json!({}),
        );
        let b = Envelope::derived(&a, EventType::TicketCategorized, serde_json::json!({}));
        let (ta, tb) = (traceparent_for(&a), traceparent_for(&b));
        assert_eq!(ta.len(), 55);
        assert_eq!(trace_id(&ta), trace_id(&tb));
        assert_eq!(trace_id(&ta), Some(ticket.simple().to_string().as_str()));
        assert_ne!(ta[36..52], tb[36..52]);
    }

    #[test]
    fn only_well_formed_traceparents_give_a_trace_id() {
        let fresh = new_traceparent();
        assert!(trace_id(&fresh).is_some(), "{fresh}");
        assert_eq!(
            trace_id("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(trace_id(bad), None, "{bad}");
        }
    }
}

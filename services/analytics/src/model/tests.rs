//! The model's rules: status whatever the arrival order, corrections, take-backs.

use super::*;
use serde_json::json;

fn event(t: EventType, ticket: Uuid, ms: i64, data: &serde_json::Value) -> Event<'_> {
    Event {
        event_type: t,
        ticket_id: Some(ticket),
        occurred_ms: ms,
        data,
    }
}

#[test]
fn status_follows_the_latest_event_whatever_the_arrival_order() {
    let id = Uuid::new_v4();
    let expert = Uuid::new_v4();
    let created = json!({"title": "t", "customer": "c", "region": "north", "priority": "high"});
    let categorized = json!({"category": "printers", "confidence": 0.9, "method": "embedding", "needs_review": false});
    let assigned = json!({"pool": "hardware", "expert_id": expert, "expert_name": "Ada"});
    let accepted = json!({"by": "Ada"});
    let in_order = [
        (EventType::TicketCreated, 1_000, &created),
        (EventType::TicketCategorized, 1_100, &categorized),
        (EventType::TicketAssigned, 1_200, &assigned),
        (EventType::TicketAccepted, 1_300, &accepted),
    ];
    let mut forward = Model::default();
    let mut backward = Model::default();
    for (t, ms, d) in in_order {
        forward.apply(&event(t, id, ms, d));
    }
    for (t, ms, d) in in_order.iter().rev() {
        backward.apply(&event(*t, id, *ms, d));
    }
    let (f, b) = (
        forward.ticket(id).expect("the ticket is known"),
        backward.ticket(id).expect("the ticket is known"),
    );
    assert_eq!(f, b);
    assert_eq!(f.status, TicketStatus::Accepted);
    assert_eq!(f.pool.as_deref(), Some("hardware"));
    assert_eq!(f.expert_id, Some(expert));
    assert_eq!(f.created_ms, Some(1_000));
    assert_eq!(f.first_assigned_ms, Some(1_200));
    assert_eq!(f.priority.as_deref(), Some("high"));
    assert_eq!(forward.event_count(), 4);
}

#[test]
fn a_correction_marks_an_override_and_keeps_the_original() {
    let id = Uuid::new_v4();
    let mut m = Model::default();
    m.apply(&event(
        EventType::TicketCategorized,
        id,
        10,
        &json!({"category": "printers", "confidence": 0.4, "method": "keyword", "needs_review": true}),
    ));
    assert_eq!(
        m.ticket(id).expect("the ticket is known").status,
        TicketStatus::NeedsReview
    );
    m.apply(&event(
        EventType::TicketRecategorized,
        id,
        20,
        &json!({"from": "printers", "to": "network", "by": "manager"}),
    ));
    let t = m.ticket(id).expect("the ticket is known");
    assert!(t.overridden);
    assert_eq!(t.category.as_deref(), Some("network"));
    assert_eq!(t.original_category.as_deref(), Some("printers"));
    assert_eq!(t.status, TicketStatus::Categorized);
}

#[test]
fn a_take_back_returns_the_ticket_to_the_backlog_until_the_next_assignment() {
    let id = Uuid::new_v4();
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let mut m = Model::default();
    m.apply(&event(
        EventType::TicketAssigned,
        id,
        10,
        &json!({"pool": "p", "expert_id": a, "expert_name": "A"}),
    ));
    m.apply(&event(
        EventType::TicketUnassigned,
        id,
        20,
        &json!({"expert_id": a, "reason": "sla", "by": "routing"}),
    ));
    assert_eq!(
        m.ticket(id).expect("the ticket is known").status,
        TicketStatus::Queued
    );
    m.apply(&event(
        EventType::TicketAssigned,
        id,
        20,
        &json!({"pool": "p", "expert_id": b, "expert_name": "B"}),
    ));
    m.apply(&event(
        EventType::TicketSlaBreached,
        id,
        15,
        &json!({"clock": "accept"}),
    ));
    let t = m.ticket(id).expect("the ticket is known");
    assert_eq!(t.status, TicketStatus::Assigned);
    assert_eq!(t.expert_id, Some(b));
    assert_eq!((t.assignments, t.takebacks), (2, 1));
    assert!(t.breach_accept && !t.breach_assign);
}

//! The events of a small day with known figures.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use sysops_contract::{Envelope, EventType, RawEnvelope};

fn event(t: EventType, ticket: Option<Uuid>, at: DateTime<Utc>, data: Value) -> RawEnvelope {
    let mut e = Envelope::new(t, ticket, data);
    e.occurred_at = at;
    e
}

/// Four tickets and three experts, with known figures:
/// - T1 (printers, high, north): assigned to Pia 5 s after submission, accepted, resolved.
/// - T2 (networking, normal, south): waits in the networking pool.
/// - T3 (keyword, unsure -> review): a manager moves it to computers.
/// - T4 (networking, urgent): Nico rejects it, it breaches the accept clock, Nora has it.
pub struct Scenario {
    pub events: Vec<RawEnvelope>,
    pub tickets: [Uuid; 4],
    pub nora: Uuid,
}

pub fn scenario(now: DateTime<Utc>) -> Scenario {
    use EventType::*;
    let s = |secs: i64| chrono::Duration::seconds(secs);
    let t: [Uuid; 4] = std::array::from_fn(|_| Uuid::now_v7());
    let (pia, nico, nora) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    let expert = |id: Uuid, name: &str, pool: &str, capacity: u32| {
        event(
            ExpertChanged,
            None,
            now - s(4 * 3600),
            json!({"expert_id": id, "name": name, "availability": "available", "capacity": capacity,
                   "skills": [{"pool": pool, "proficiency": 0.9}], "regions": ["north"]}),
        )
    };
    let created = |id: Uuid, at: DateTime<Utc>, priority: &str, region: &str| {
        event(
            TicketCreated,
            Some(id),
            at,
            json!({"title": format!("ticket {id}"), "description": "it broke", "customer": "c@example.com",
                   "region": region, "priority": priority, "channel": "web"}),
        )
    };
    let categorized = |id: Uuid,
                       at,
                       category: &str,
                       method: &str,
                       confidence: f64,
                       review: bool| {
        event(
            TicketCategorized,
            Some(id),
            at,
            json!({"category": category, "confidence": confidence, "method": method, "latency_ms": 12.0,
                   "needs_review": review}),
        )
    };
    let assigned = |id: Uuid, at, expert: Uuid, name: &str, pool: &str, attempt: u32| {
        event(
            TicketAssigned,
            Some(id),
            at,
            json!({"pool": pool, "expert_id": expert, "expert_name": name, "attempt": attempt,
                   "decision": {"candidates": [], "reason": "best score"}}),
        )
    };
    let moved = |kind, id: Uuid, at| event(kind, Some(id), at, json!({"by": "someone"}));

    let t1 = now - s(3 * 3600);
    let t2 = now - s(2 * 3600);
    let t3 = now - s(30 * 60);
    let t4 = now - s(10 * 60);
    let events = vec![
        expert(pia, "Pia", "printers", 2),
        expert(nico, "Nico", "networking", 2),
        expert(nora, "Nora", "networking", 3),
        created(t[0], t1, "high", "north"),
        categorized(t[0], t1 + s(1), "printers", "embedding", 0.92, false),
        assigned(t[0], t1 + s(5), pia, "Pia", "printers", 1),
        moved(TicketAccepted, t[0], t1 + s(65)),
        moved(TicketResolved, t[0], t1 + s(3605)),
        created(t[1], t2, "normal", "south"),
        categorized(t[1], t2 + s(2), "networking", "llm", 0.81, false),
        event(
            TicketQueued,
            Some(t[1]),
            t2 + s(3),
            json!({"category": "networking", "pool": "networking"}),
        ),
        created(t[2], t3, "low", "north"),
        categorized(t[2], t3 + s(1), "networking", "keyword", 0.35, true),
        event(
            TicketRecategorized,
            Some(t[2]),
            t3 + s(120),
            json!({"from": "networking", "to": "computers", "by": "manager"}),
        ),
        created(t[3], t4, "urgent", "north"),
        categorized(t[3], t4 + s(2), "networking", "embedding", 0.7, false),
        assigned(t[3], t4 + s(4), nico, "Nico", "networking", 1),
        moved(TicketRejected, t[3], t4 + s(30)),
        event(
            TicketSlaBreached,
            Some(t[3]),
            t4 + s(31),
            json!({"clock": "accept", "due_at": t4 + s(31)}),
        ),
        assigned(t[3], t4 + s(32), nora, "Nora", "networking", 2),
    ];
    Scenario {
        events,
        tickets: t,
        nora,
    }
}

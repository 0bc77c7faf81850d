//! What a customer reads of their ticket's history. Events carry what the help desk needs:
//! routing's decision (every candidate expert with score, load and notes), the categorizer's
//! model and costs, the e-mail addresses of the staff who acted, the reasons experts and
//! managers wrote for each other. A customer sees what happened to their ticket, not those.

use serde_json::{Map, Value};

/// The fields of each event type a customer sees; the rest of its data is left out.
fn shown(event_type: &str) -> &'static [&'static str] {
    match event_type {
        "ticket.created" => &[
            "title",
            "description",
            "customer",
            "region",
            "channel",
            "priority",
        ],
        "ticket.categorized" => &["category", "needs_review"],
        "ticket.recategorized" => &["from", "to", "by"],
        "ticket.queued" => &["pool"],
        "ticket.assigned" => &["pool", "expert_name"],
        "ticket.accepted" | "ticket.rejected" => &["by"],
        // The resolution note is for the customer; so are their own reasons.
        "ticket.resolved" | "ticket.closed" | "ticket.cancelled" => &["by", "reason"],
        "ticket.sla_breached" => &["clock"],
        _ => &[],
    }
}

/// `data` of an event of `event_type` as `customer` (their `author` string) may read it. Who
/// acted is named by role ("an expert"), unless it was the customer.
pub fn redact(event_type: &str, data: &Value, customer: &str) -> Value {
    let mut kept = Map::new();
    let Some(fields) = data.as_object() else {
        return Value::Object(kept);
    };
    for &name in shown(event_type) {
        let Some(value) = fields.get(name) else {
            continue;
        };
        let value = match (name, value.as_str()) {
            ("by", Some(by)) if by != customer => Value::String(by_role(by)),
            _ => value.clone(),
        };
        kept.insert(name.to_owned(), value);
    }
    Value::Object(kept)
}

/// "ada@example.com (expert)" -> "an expert"; authors without a role (`routing`) stay.
fn by_role(by: &str) -> String {
    let role = by
        .rsplit_once(" (")
        .and_then(|(_, rest)| rest.strip_suffix(')'));
    match role {
        Some(role @ ("expert" | "admin")) => format!("an {role}"),
        Some(role) => format!("a {role}"),
        None => by.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ME: &str = "grace@example.com (customer)";

    #[test]
    fn routing_decisions_and_staff_addresses_are_left_out() {
        let assigned = json!({"pool": "printers", "expert_id": "e1", "expert_name": "Ada",
            "attempt": 2, "decision": {"candidates": [{"name": "Bob", "score": 0.7}], "reason": "x"}});
        assert_eq!(
            redact("ticket.assigned", &assigned, ME),
            json!({"pool": "printers", "expert_name": "Ada"})
        );
        let rejected = json!({"by": "ada@desk.example (expert)", "reason": "customer was rude"});
        assert_eq!(
            redact("ticket.rejected", &rejected, ME),
            json!({"by": "an expert"})
        );
        let categorized = json!({"category": "printers", "confidence": 0.9, "method": "llm",
            "model": "m", "tokens": 120, "candidates": [], "needs_review": false});
        assert_eq!(
            redact("ticket.categorized", &categorized, ME),
            json!({"category": "printers", "needs_review": false})
        );
    }

    #[test]
    fn the_customers_own_words_and_the_resolution_note_stay() {
        let cancelled = json!({"by": ME, "reason": "fixed it myself"});
        assert_eq!(redact("ticket.cancelled", &cancelled, ME), cancelled);
        let resolved = json!({"by": "bo@desk.example (manager)", "reason": "toner replaced"});
        assert_eq!(
            redact("ticket.resolved", &resolved, ME),
            json!({"by": "a manager", "reason": "toner replaced"})
        );
        let unassigned =
            json!({"expert_id": "e1", "reason": "not accepted in time", "by": "routing"});
        assert_eq!(redact("ticket.unassigned", &unassigned, ME), json!({}));
        let breached = json!({"clock": "accept", "due_at": "2026-12-06T10:00:00Z"});
        assert_eq!(
            redact("ticket.sla_breached", &breached, ME),
            json!({"clock": "accept"})
        );
    }
}

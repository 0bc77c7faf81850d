//! Synthetic event streams for benchmarks: a month of ticket lifecycles, seeded, so every run
//! sees the same events.

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use uuid::Uuid;

use sysops_contract::{Envelope, EventType, RawEnvelope};

/// (category, pool) of the shipped taxonomy.
const CATEGORIES: [(&str, &str); 12] = [
    ("computers", "computers"),
    ("tv_home_theater", "av"),
    ("audio", "av"),
    ("networking", "networking"),
    ("smart_home", "smart_home"),
    ("phones_tablets", "mobile"),
    ("printers", "printers"),
    ("software_os", "software"),
    ("account_billing", "billing"),
    ("gaming_consoles", "gaming"),
    ("cameras_wearables", "cameras_wearables"),
    ("installation_delivery", "installation"),
];
const REGIONS: [&str; 4] = ["north", "south", "east", "west"];
const PRIORITIES: [(&str, f64); 4] = [
    ("low", 0.2),
    ("normal", 0.55),
    ("high", 0.2),
    ("urgent", 0.05),
];

struct Expert {
    id: Uuid,
    name: String,
    pool: &'static str,
}

/// Synthetic events: a roster, then tickets created over the last 30 days with lifecycles
/// like the real ones (most assigned within seconds, some queued, reviewed, rejected,
/// breached; resolved and closed later), never in the future.
pub struct Generator {
    rng: StdRng,
    experts: Vec<Expert>,
    now: DateTime<Utc>,
    span_ms: i64,
}

impl Generator {
    /// `experts` experts; tickets created in the 30 days before `now`; the same `seed` gives
    /// the same events.
    pub fn new(seed: u64, experts: usize, now: DateTime<Utc>) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let experts = (0..experts)
            .map(|i| Expert {
                id: Uuid::from_u128(rng.random()),
                name: format!("Expert {i}"),
                pool: CATEGORIES[i % CATEGORIES.len()].1,
            })
            .collect();
        Generator {
            rng,
            experts,
            now,
            span_ms: 30 * 86_400_000,
        }
    }

    pub fn roster(&self) -> Vec<RawEnvelope> {
        self.experts
            .iter()
            .map(|e| {
                let mut ev = Envelope::new(
                    EventType::ExpertChanged,
                    None,
                    json!({"expert_id": e.id, "name": e.name, "availability": "available",
                           "capacity": 3, "skills": [{"pool": e.pool, "proficiency": 0.8}],
                           "regions": REGIONS}),
                );
                ev.occurred_at = self.now - chrono::Duration::days(31);
                ev
            })
            .collect()
    }

    /// A random expert of `pool`: (id, name).
    fn expert(&mut self, pool: &str) -> (Uuid, String) {
        let candidates: Vec<&Expert> = self.experts.iter().filter(|e| e.pool == pool).collect();
        let e = candidates[self.rng.random_range(0..candidates.len())];
        (e.id, e.name.clone())
    }

    fn assigned(pool: &str, (id, name): &(Uuid, String), attempt: u32) -> Value {
        let candidates: Vec<Value> = (0..5u128)
            .map(|k| {
                json!({"expert_id": Uuid::from_u128(k), "name": format!("Candidate {k}"),
                       "score": 0.5, "note": "eligible: skill 0.8, load 1/3, region match"})
            })
            .collect();
        json!({"pool": pool, "expert_id": id, "expert_name": name, "attempt": attempt,
               "decision": {"candidates": candidates, "reason": "highest score"}})
    }

    /// One ticket's events.
    pub fn ticket(&mut self) -> Vec<RawEnvelope> {
        use EventType::*;
        let id = Uuid::from_u128(self.rng.random());
        let now = self.now.timestamp_millis();
        let created = now - self.rng.random_range(0..self.span_ms);
        let mut events: Vec<(EventType, i64, Value)> = Vec::with_capacity(8);
        let mut p = self.rng.random::<f64>();
        let priority = PRIORITIES
            .iter()
            .find(|(_, w)| {
                p -= w;
                p < 0.0
            })
            .map_or("normal", |(name, _)| name);
        let region = REGIONS[self.rng.random_range(0..REGIONS.len())];
        let customer = format!("customer{}@example.com", self.rng.random_range(0..50_000));
        events.push((
            TicketCreated,
            created,
            json!({"title": "Synthetic ticket", "description": "Something stopped working after the update.",
                   "customer": customer, "region": region, "priority": priority, "channel": "web"}),
        ));
        let (category, pool) = CATEGORIES[self.rng.random_range(0..CATEGORIES.len())];
        let confidence: f64 = 0.3 + 0.7 * self.rng.random::<f64>().sqrt();
        let method = match self.rng.random_range(0..100) {
            0..80 => "embedding",
            80..95 => "llm",
            _ => "keyword",
        };
        let review = confidence < 0.5;
        let mut t = created + self.rng.random_range(50..3000);
        events.push((
            TicketCategorized,
            t,
            json!({"category": category, "confidence": confidence, "method": method,
                   "latency_ms": 20.0, "needs_review": review,
                   "candidates": [{"category": category, "score": confidence}]}),
        ));
        let (category, pool) = if review {
            t += self.rng.random_range(600_000..3_600_000);
            let (to, to_pool) = CATEGORIES[self.rng.random_range(0..CATEGORIES.len())];
            events.push((
                TicketRecategorized,
                t,
                json!({"from": category, "to": to, "by": "manager"}),
            ));
            (to, to_pool)
        } else {
            (category, pool)
        };
        if self.rng.random_bool(0.2) {
            events.push((
                TicketQueued,
                t + 100,
                json!({"category": category, "pool": pool}),
            ));
            t += self.rng.random_range(60_000..7_200_000);
        } else {
            t += self.rng.random_range(200..5000);
        }
        let mut expert = self.expert(pool);
        events.push((TicketAssigned, t, Self::assigned(pool, &expert, 1)));
        if self.rng.random_bool(0.08) {
            t += self.rng.random_range(60_000..1_800_000);
            events.push((
                TicketRejected,
                t,
                json!({"by": expert.1, "reason": "not my area"}),
            ));
            expert = self.expert(pool);
            t += 1000;
            events.push((TicketAssigned, t, Self::assigned(pool, &expert, 2)));
        }
        if self.rng.random_bool(0.05) {
            let due = DateTime::from_timestamp_millis(t + 900_000);
            events.push((
                TicketSlaBreached,
                t + 900_000,
                json!({"clock": "accept", "due_at": due}),
            ));
        }
        if self.rng.random_bool(0.9) {
            t += self.rng.random_range(60_000..3_600_000);
            events.push((TicketAccepted, t, json!({"by": expert.1})));
            if self.rng.random_bool(0.85) {
                t += self.rng.random_range(600_000..172_800_000);
                events.push((TicketResolved, t, json!({"by": expert.1})));
                if self.rng.random_bool(0.5) {
                    t += 86_400_000;
                    events.push((TicketClosed, t, json!({"by": "customer"})));
                }
            }
        }
        events
            .into_iter()
            .filter(|(_, at, _)| *at <= now)
            .map(|(kind, at, data)| {
                let mut e = Envelope::new(kind, Some(id), data);
                e.occurred_at = DateTime::from_timestamp_millis(at).unwrap_or(self.now);
                e
            })
            .collect()
    }
}

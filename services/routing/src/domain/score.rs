//! Who gets a ticket: eligibility, the score, fair tie-breaks, and the decision record.
//!
//! Score of an eligible expert, in 0..1:
//!
//! ```text
//! score = 0.50 * proficiency                     skill in the pool, 0..1
//!       + 0.25 * (1 - load / capacity)           room left
//!       + 0.15 * min(1, idle_minutes / 60)       time since the last assignment (never: 1)
//!       + 0.10 * region_match                    1 when the expert serves the ticket's region
//!                                                (or the ticket has none), else 0
//! ```
//!
//! Equal scores (within 1e-9) go to the expert idle longest, then to a pseudo-random but
//! deterministic order derived from the ticket and expert ids, so no expert is favoured by
//! the order of rows.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use sysops_contract::{Availability, CandidateScore, DecisionRecord};

pub const W_PROFICIENCY: f64 = 0.50;
pub const W_LOAD: f64 = 0.25;
pub const W_IDLE: f64 = 0.15;
pub const W_REGION: f64 = 0.10;
/// Idle time after which the idle term is full.
pub const IDLE_SATURATION_MINUTES: f64 = 60.0;
/// Candidates listed in a decision record; pools are small, this only bounds the record.
const MAX_LISTED: usize = 50;

/// An expert of the pool as the store sees it now.
#[derive(Debug, Clone)]
pub struct Candidate {
    pub expert_id: Uuid,
    pub name: String,
    pub proficiency: f32,
    pub regions: Vec<String>,
    pub availability: Availability,
    /// Within the expert's shift window now (true when there is none).
    pub in_shift: bool,
    pub capacity: i32,
    pub load: i32,
    pub last_assigned_at: Option<DateTime<Utc>>,
}

/// What the decision needs to know about the ticket.
#[derive(Debug, Clone)]
pub struct TicketFacts {
    pub ticket_id: Uuid,
    pub region: Option<String>,
    /// Experts who rejected it or let it time out.
    pub excluded: Vec<Uuid>,
}

/// One eligible expert with its score.
#[derive(Debug, Clone)]
pub struct Scored {
    /// Index into the candidate list.
    pub index: usize,
    pub score: f64,
    pub region_match: bool,
}

/// The outcome of scoring a pool for one ticket.
#[derive(Debug, Clone)]
pub struct Choice {
    /// Eligible experts, best first.
    pub ranked: Vec<Scored>,
    /// No eligible expert served the ticket's region, so any region was allowed.
    pub widened: bool,
    /// Why each candidate is or is not eligible, by candidate index.
    notes: Vec<String>,
    scores: Vec<f64>,
}

/// Scores every candidate for the ticket at `now`.
pub fn choose(candidates: &[Candidate], ticket: &TicketFacts, now: DateTime<Utc>) -> Choice {
    let region = ticket.region.as_deref().map(str::to_lowercase);
    let mut notes = Vec::with_capacity(candidates.len());
    let mut eligible = Vec::new();
    for (i, c) in candidates.iter().enumerate() {
        let why_not = if ticket.excluded.contains(&c.expert_id) {
            Some("rejected this ticket or let it time out".to_owned())
        } else if c.availability != Availability::Available {
            Some(format!("not available ({:?})", c.availability).to_lowercase())
        } else if !c.in_shift {
            Some("outside their shift".to_owned())
        } else if c.load >= c.capacity {
            Some(format!("at capacity ({}/{})", c.load, c.capacity))
        } else {
            None
        };
        match why_not {
            Some(n) => notes.push(n),
            None => {
                let region_match = match &region {
                    None => true,
                    Some(r) => c.regions.iter().any(|x| x == r),
                };
                notes.push(String::new());
                eligible.push(Scored {
                    index: i,
                    score: 0.0,
                    region_match,
                });
            }
        }
    }
    let serves_region = eligible.iter().any(|s| s.region_match);
    let widened = region.is_some() && !serves_region && !eligible.is_empty();
    if region.is_some() && serves_region {
        for s in eligible.iter().filter(|s| !s.region_match) {
            notes[s.index] = format!(
                "does not serve region {}",
                region.as_deref().unwrap_or_default()
            );
        }
        eligible.retain(|s| s.region_match);
    }
    let mut scores = vec![0.0; candidates.len()];
    for s in &mut eligible {
        let c = &candidates[s.index];
        s.score = score(c, s.region_match, now);
        scores[s.index] = s.score;
        notes[s.index] = format!(
            "eligible: proficiency {:.2}, load {}/{}, idle {}, region {}",
            c.proficiency,
            c.load,
            c.capacity,
            idle_text(c.last_assigned_at, now),
            if s.region_match { "match" } else { "no match" },
        );
    }
    eligible.sort_by(|a, b| {
        let (ca, cb) = (&candidates[a.index], &candidates[b.index]);
        b.score
            .partial_cmp(&a.score)
            .filter(|_| (a.score - b.score).abs() > 1e-9)
            .unwrap_or_else(|| {
                ca.last_assigned_at.cmp(&cb.last_assigned_at).then_with(|| {
                    shuffle(ticket.ticket_id, ca.expert_id)
                        .cmp(&shuffle(ticket.ticket_id, cb.expert_id))
                })
            })
    });
    Choice {
        ranked: eligible,
        widened,
        notes,
        scores,
    }
}

/// The score of an eligible expert (see the module documentation).
pub fn score(c: &Candidate, region_match: bool, now: DateTime<Utc>) -> f64 {
    let room = if c.capacity > 0 {
        1.0 - f64::from(c.load) / f64::from(c.capacity)
    } else {
        0.0
    };
    let idle = match c.last_assigned_at {
        None => 1.0,
        Some(t) => {
            ((now - t).num_milliseconds().max(0) as f64 / 60_000.0 / IDLE_SATURATION_MINUTES)
                .min(1.0)
        }
    };
    W_PROFICIENCY * f64::from(c.proficiency.clamp(0.0, 1.0))
        + W_LOAD * room
        + W_IDLE * idle
        + W_REGION * if region_match { 1.0 } else { 0.0 }
}

fn idle_text(last: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match last {
        None => "never assigned".into(),
        Some(t) => format!("{} min", (now - t).num_minutes().max(0)),
    }
}

/// A deterministic pseudo-random rank of an expert for a ticket.
fn shuffle(ticket: Uuid, expert: Uuid) -> u128 {
    (ticket.as_u128() ^ expert.as_u128()).wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835)
}

impl Choice {
    /// The decision record naming `winner` (an index into the candidates).
    pub fn record(
        &self,
        candidates: &[Candidate],
        winner: usize,
        region: Option<&str>,
    ) -> DecisionRecord {
        let w = &candidates[winner];
        let runner_up = self
            .ranked
            .iter()
            .find(|s| s.index != winner)
            .map(|s| {
                format!(
                    "; next best {} with {:.3}",
                    candidates[s.index].name, s.score
                )
            })
            .unwrap_or_default();
        let mut reason = format!(
            "{} has the highest score {:.3} among {} eligible of {} in the pool{}",
            w.name,
            self.scores[winner],
            self.ranked.len(),
            candidates.len(),
            runner_up
        );
        if self.widened {
            reason.push_str(&format!(
                "; no available expert serves region {}, so any region was allowed",
                region.unwrap_or_default()
            ));
        }
        if self.ranked.first().is_some_and(|s| s.index != winner) {
            reason.push_str("; better-scored experts filled up concurrently");
        }
        DecisionRecord {
            candidates: self.listed(candidates),
            reason,
        }
    }

    /// The decision record when nobody can take the ticket.
    pub fn queue_record(&self, candidates: &[Candidate]) -> DecisionRecord {
        let reason = if candidates.is_empty() {
            "the pool has no experts; waiting in the backlog".to_owned()
        } else {
            format!(
                "none of the {} experts of the pool can take it now; waiting in the backlog",
                candidates.len()
            )
        };
        DecisionRecord {
            candidates: self.listed(candidates),
            reason,
        }
    }

    fn listed(&self, candidates: &[Candidate]) -> Vec<CandidateScore> {
        let mut order: Vec<usize> = self.ranked.iter().map(|s| s.index).collect();
        order.extend((0..candidates.len()).filter(|i| self.scores[*i] == 0.0));
        order
            .into_iter()
            .take(MAX_LISTED)
            .map(|i| CandidateScore {
                expert_id: candidates[i].expert_id,
                name: candidates[i].name.clone(),
                score: (self.scores[i] * 1000.0).round() / 1000.0,
                note: self.notes[i].clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expert(name: &str, proficiency: f32, load: i32, capacity: i32) -> Candidate {
        Candidate {
            expert_id: Uuid::now_v7(),
            name: name.into(),
            proficiency,
            regions: vec!["eu".into()],
            availability: Availability::Available,
            in_shift: true,
            capacity,
            load,
            last_assigned_at: None,
        }
    }

    fn ticket(region: Option<&str>) -> TicketFacts {
        TicketFacts {
            ticket_id: Uuid::now_v7(),
            region: region.map(str::to_owned),
            excluded: vec![],
        }
    }

    #[test]
    fn the_most_proficient_expert_with_room_wins() {
        let c = vec![
            expert("a", 0.5, 0, 3),
            expert("b", 0.9, 1, 3),
            expert("c", 1.0, 3, 3),
        ];
        let choice = choose(&c, &ticket(None), Utc::now());
        assert_eq!(choice.ranked.len(), 2);
        assert_eq!(c[choice.ranked[0].index].name, "b");
        let record = choice.record(&c, choice.ranked[0].index, None);
        assert!(record.reason.starts_with("b has the highest score"));
        assert_eq!(record.candidates.len(), 3);
        assert!(record.candidates[2].note.contains("at capacity (3/3)"));
    }

    #[test]
    fn excluded_off_and_out_of_shift_experts_are_not_eligible() {
        let mut c = vec![
            expert("a", 1.0, 0, 3),
            expert("b", 1.0, 0, 3),
            expert("c", 1.0, 0, 3),
        ];
        c[1].availability = Availability::Off;
        c[2].in_shift = false;
        let mut t = ticket(None);
        t.excluded.push(c[0].expert_id);
        let choice = choose(&c, &t, Utc::now());
        assert!(choice.ranked.is_empty());
        let record = choice.queue_record(&c);
        assert!(record.reason.contains("waiting in the backlog"));
    }

    #[test]
    fn region_restricts_when_someone_serves_it_and_widens_otherwise() {
        let mut c = vec![expert("eu", 0.5, 0, 3), expert("us", 1.0, 0, 3)];
        c[1].regions = vec!["us".into()];
        let choice = choose(&c, &ticket(Some("EU")), Utc::now());
        assert_eq!(choice.ranked.len(), 1);
        assert_eq!(c[choice.ranked[0].index].name, "eu");
        assert!(!choice.widened);

        let choice = choose(&c, &ticket(Some("apac")), Utc::now());
        assert!(choice.widened);
        assert_eq!(c[choice.ranked[0].index].name, "us");
        let record = choice.record(&c, choice.ranked[0].index, Some("apac"));
        assert!(record.reason.contains("any region was allowed"));
    }

    #[test]
    fn ties_go_to_the_expert_idle_longest() {
        let now = Utc::now();
        let mut c = vec![expert("recent", 0.8, 0, 2), expert("earlier", 0.8, 0, 2)];
        // Both idle past saturation, so their scores are equal.
        c[0].last_assigned_at = Some(now - chrono::Duration::hours(2));
        c[1].last_assigned_at = Some(now - chrono::Duration::hours(3));
        let choice = choose(&c, &ticket(None), now);
        assert_eq!(c[choice.ranked[0].index].name, "earlier");
    }

    #[test]
    fn equal_experts_share_tickets_rather_than_one_taking_all() {
        let c = vec![expert("a", 0.8, 0, 2), expert("b", 0.8, 0, 2)];
        let mut wins = [0, 0];
        for _ in 0..200 {
            let choice = choose(&c, &ticket(None), Utc::now());
            wins[choice.ranked[0].index] += 1;
        }
        assert!(wins[0] > 50 && wins[1] > 50, "{wins:?}");
    }

    #[test]
    fn the_score_follows_the_documented_formula() {
        let now = Utc::now();
        let mut c = expert("a", 0.8, 1, 4);
        c.last_assigned_at = Some(now - chrono::Duration::minutes(30));
        let s = score(&c, true, now);
        let expected = 0.5 * 0.8 + 0.25 * 0.75 + 0.15 * 0.5 + 0.10;
        assert!((s - expected).abs() < 1e-6, "{s} vs {expected}");
    }
}

//! What became of the tickets a scenario submitted, read from the services' tables.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use uuid::Uuid;

/// What became of one accepted ticket.
#[derive(Debug, Clone)]
pub(super) struct Fate {
    pub(super) id: Uuid,
    pub(super) stored: bool,
    pub(super) placed_at: Option<DateTime<Utc>>,
}

impl Fate {
    pub(super) fn unknown(id: Uuid) -> Self {
        Fate {
            id,
            stored: false,
            placed_at: None,
        }
    }

    pub(super) fn settled(&self) -> bool {
        self.stored && self.placed_at.is_some()
    }
}

/// Reads each ticket's fate: stored by the tickets service, and when routing first placed it.
/// `None` when the database does not answer.
pub(super) async fn read_fates(db: &PgPool, ids: &[Uuid]) -> Option<Vec<Fate>> {
    let rows: Vec<(Uuid, bool, Option<DateTime<Utc>>)> = sqlx::query_as(
        "SELECT i.id, t.id IS NOT NULL, \
                CASE WHEN r.status IS NULL OR r.status = 'new' THEN NULL \
                     ELSE coalesce((SELECT min(d.decided_at) FROM routing.decisions d \
                                    WHERE d.ticket_id = i.id), r.updated_at) END \
         FROM unnest($1::uuid[]) AS i (id) \
         LEFT JOIN tickets.tickets t ON t.id = i.id \
         LEFT JOIN routing.routes r ON r.ticket_id = i.id",
    )
    .bind(ids)
    .fetch_all(db)
    .await
    .ok()?;
    let fates = rows
        .into_iter()
        .map(|(id, stored, placed_at)| Fate {
            id,
            stored,
            placed_at,
        })
        .collect();
    Some(fates)
}

/// Tickets with two assignments open at the same time, or with more `ticket.assigned` events
/// in their history than routing made assignments.
pub(super) async fn assigned_twice(db: &PgPool, ids: &[Uuid]) -> anyhow::Result<usize> {
    let overlapping: Vec<Uuid> = sqlx::query_scalar(
        "SELECT DISTINCT a.ticket_id FROM routing.assignments a \
         JOIN routing.assignments b ON b.ticket_id = a.ticket_id AND b.id > a.id \
              AND b.assigned_at < coalesce(a.ended_at, 'infinity') \
         WHERE a.ticket_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let duplicated: Vec<Uuid> = sqlx::query_scalar(
        "SELECT e.ticket_id FROM tickets.ticket_events e \
         WHERE e.ticket_id = ANY($1) AND e.event_type = 'ticket.assigned' \
         GROUP BY e.ticket_id \
         HAVING count(*) > (SELECT count(*) FROM routing.assignments a WHERE a.ticket_id = e.ticket_id)",
    )
    .bind(ids)
    .fetch_all(db)
    .await?;
    let all: HashSet<Uuid> = overlapping.into_iter().chain(duplicated).collect();
    Ok(all.len())
}

/// Seconds from the fault until the last refused submission after it or the last placement
/// it delayed. `latencies`: (sent, seconds to placement, placed) of each placed ticket.
pub(super) fn recovery(
    fault_at: DateTime<Utc>,
    latencies: &[(DateTime<Utc>, f64, DateTime<Utc>)],
    refused: &[DateTime<Utc>],
) -> f64 {
    let mut before: Vec<f64> = latencies
        .iter()
        .filter(|(sent, _, _)| *sent < fault_at)
        .map(|l| l.1)
        .collect();
    before.sort_by(f64::total_cmp);
    let normal = before
        .get(((before.len() as f64 - 1.0) * 0.99).round().max(0.0) as usize)
        .copied()
        .unwrap_or(0.0);
    let slow = (3.0 * normal).max(1.0);
    latencies
        .iter()
        .filter(|l| l.1 > slow)
        .map(|l| l.2)
        .chain(refused.iter().copied().filter(|at| *at >= fault_at))
        .map(|at| (at - fault_at).num_milliseconds() as f64 / 1000.0)
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_runs_to_the_last_slow_placement_or_refusal() {
        let t0 = Utc::now();
        let at = |s: f64| t0 + chrono::Duration::milliseconds((s * 1000.0) as i64);
        let fault = at(5.0);
        // Before the fault placements take 0.1 s; one sent at 6 s waits until 12 s.
        let latencies = vec![
            (at(1.0), 0.1, at(1.1)),
            (at(2.0), 0.1, at(2.1)),
            (at(6.0), 6.0, at(12.0)),
            (at(7.0), 0.2, at(7.2)),
        ];
        assert!((recovery(fault, &latencies, &[]) - 7.0).abs() < 1e-6);
        // A refusal at 14 s is later still; one before the fault does not count.
        assert!((recovery(fault, &latencies, &[at(14.0), at(4.0)]) - 9.0).abs() < 1e-6);
        // Nothing slow, nothing refused: no time to recover.
        assert_eq!(recovery(fault, &latencies[..2], &[]), 0.0);
    }
}

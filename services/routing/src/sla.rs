//! The SLA clocks: every few seconds each replica records the clocks that ran out (once per
//! ticket and clock, enforced by the `sla_breaches` key), takes back assignments not accepted
//! in time and reassigns them, and drains every backlog as a safety net (shift windows open
//! without any event).

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use sysops_contract::{EventType, SlaClock, TicketSlaBreached};

use crate::domain::sla::clock_str;
use crate::domain::ClockLimits;
use crate::engine::{Engine, Origin, PoolView};
use crate::store::{assignments, lock_pools, routes};

/// Overdue assignments taken back per sweep.
const TAKE_BACK_BATCH: i64 = 100;

/// Runs the sweeps until `shutdown`.
pub async fn run(pool: PgPool, engine: Engine, every: Duration, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        if let Err(e) = sweep(&pool, &engine).await {
            tracing::warn!(error = %e, "SLA sweep failed; will retry");
        }
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(every) => {}
        }
    }
    tracing::info!("SLA clocks stopped");
}

/// One pass over every clock and backlog.
pub async fn sweep(pool: &PgPool, engine: &Engine) -> Result<(), sqlx::Error> {
    breach(pool, engine, SlaClock::Assign, &engine.sla.assign).await?;
    breach(pool, engine, SlaClock::Resolve, &engine.sla.resolve).await?;
    for ticket_id in assignments::overdue(pool, TAKE_BACK_BATCH).await? {
        take_back(pool, engine, ticket_id).await?;
    }
    let pools: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT pool FROM routes WHERE status = 'queued' AND pool IS NOT NULL",
    )
    .fetch_all(pool)
    .await?;
    for p in pools {
        let mut tx = pool.begin().await?;
        lock_pools(&mut tx, std::slice::from_ref(&p)).await?;
        let n = engine
            .drain(
                &mut tx,
                &p,
                Origin::Fresh("sla_sweep"),
                &mut PoolView::uncached(),
            )
            .await?;
        engine.outbox.commit(tx).await?;
        if n > 0 {
            tracing::info!(pool = %p, assigned = n, "backlog assigned by the periodic sweep");
        }
    }
    Ok(())
}

fn seconds(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// The statement that records the breaches of `clock` among open tickets, returning each
/// ticket and when its clock ran out; binds the clock's name, then its limits in seconds for
/// urgent, high, normal and low priority. It reads the open routes only, through the
/// `routes_open` index (whose statuses include every status named here), so its cost follows
/// the open work, not the table's history.
pub fn breach_statement(clock: SlaClock) -> String {
    let condition = match clock {
        SlaClock::Assign => {
            "r.first_assigned_at IS NULL AND r.status IN ('new', 'review', 'queued', 'escalated')"
        }
        _ => "r.status IN ('new', 'review', 'queued', 'assigned', 'accepted', 'escalated')",
    };
    format!(
        "INSERT INTO sla_breaches (ticket_id, clock, priority, pool, due_at) \
         SELECT r.ticket_id, $1, r.priority, r.pool, due FROM ( \
           SELECT r.*, COALESCE(r.created_at, r.updated_at) + make_interval(secs => CASE r.priority \
             WHEN 'urgent' THEN $2 WHEN 'high' THEN $3 WHEN 'normal' THEN $4 ELSE $5 END) AS due \
           FROM routes r WHERE {condition}) r \
         WHERE due < now() ON CONFLICT DO NOTHING RETURNING ticket_id, due_at"
    )
}

/// Records and announces the breaches of the assign clock (open tickets never assigned)
/// or the resolve clock (open tickets), in one statement per clock.
async fn breach(
    pool: &PgPool,
    engine: &Engine,
    clock: SlaClock,
    limits: &ClockLimits,
) -> Result<(), sqlx::Error> {
    let q = breach_statement(clock);
    let mut tx = pool.begin().await?;
    let rows: Vec<(Uuid, DateTime<Utc>)> = sqlx::query_as(&q)
        .bind(clock_str(clock))
        .bind(seconds(limits.urgent))
        .bind(seconds(limits.high))
        .bind(seconds(limits.normal))
        .bind(seconds(limits.low))
        .fetch_all(&mut *tx)
        .await?;
    for (ticket_id, due_at) in &rows {
        let data = TicketSlaBreached {
            clock,
            due_at: *due_at,
        };
        engine
            .emit(
                &mut tx,
                Origin::Fresh("sla"),
                *ticket_id,
                EventType::TicketSlaBreached,
                data,
            )
            .await?;
    }
    engine.outbox.commit(tx).await?;
    if !rows.is_empty() {
        metrics::counter!("routing_sla_breaches_total", "clock" => clock_str(clock))
            .increment(rows.len() as u64);
        tracing::info!(
            clock = clock_str(clock),
            breaches = rows.len(),
            "SLA clock ran out"
        );
    }
    Ok(())
}

/// Takes back the ticket's assignment if it is still unaccepted past its accept clock,
/// records the breach once, and places the ticket again without that expert.
async fn take_back(pool: &PgPool, engine: &Engine, ticket_id: Uuid) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Another replica, or an event about the ticket, is at work on it: next sweep.
    let Some(mut route) = routes::try_lock(&mut tx, ticket_id).await? else {
        return Ok(());
    };
    let Some(open) = assignments::open_for(&mut tx, ticket_id).await? else {
        return Ok(());
    };
    let Some(due_at) = open
        .accept_due_at
        .filter(|d| *d < Utc::now() && open.status == "assigned")
    else {
        return Ok(());
    };
    let freed = open.expert_pools.clone();
    let pool_name = route.pool.clone().unwrap_or_else(|| open.pool.clone());
    let mut locks = freed.clone();
    locks.push(pool_name.clone());
    lock_pools(&mut tx, &locks).await?;
    let mut view = PoolView::uncached();
    engine
        .close_open(&mut tx, &open, "taken_back", None, &mut view)
        .await?;
    let origin = Origin::Fresh("sla");
    let first = sqlx::query(
        "INSERT INTO sla_breaches (ticket_id, clock, priority, pool, due_at) VALUES ($1, 'accept', $2, $3, $4) \
         ON CONFLICT DO NOTHING",
    )
    .bind(ticket_id)
    .bind(&route.priority)
    .bind(&pool_name)
    .bind(due_at)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if first {
        let data = TicketSlaBreached {
            clock: SlaClock::Accept,
            due_at,
        };
        engine
            .emit(
                &mut tx,
                origin,
                ticket_id,
                EventType::TicketSlaBreached,
                data,
            )
            .await?;
        metrics::counter!("routing_sla_breaches_total", "clock" => "accept").increment(1);
    }
    let reason = "not accepted before the accept clock ran out".to_owned();
    let data = open.taken_back(reason.clone(), "routing".into());
    let event = engine
        .emit(
            &mut tx,
            origin,
            ticket_id,
            EventType::TicketUnassigned,
            data,
        )
        .await?;
    if !route.excluded.contains(&open.expert_id) {
        route.excluded.push(open.expert_id);
    }
    let detail =
        serde_json::json!({ "expert_id": open.expert_id, "reason": reason, "due_at": due_at });
    routes::record_decision(&mut tx, event.id, &route, "taken_back", detail).await?;
    route.status = "new".into();
    engine.place(&mut tx, &mut route, origin, &mut view).await?;
    engine.drain_all(&mut tx, &freed, origin, &mut view).await?;
    engine.outbox.commit(tx).await?;
    metrics::counter!("routing_taken_back_total").increment(1);
    tracing::info!(%ticket_id, expert_id = %open.expert_id, "assignment taken back after the accept clock");
    Ok(())
}

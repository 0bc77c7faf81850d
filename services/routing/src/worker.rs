//! Consumer of `routing.work`: places categorized tickets (best expert or the pool backlog),
//! follows the lifecycle (accept, reject and reassign, resolve, cancel) and assigns the
//! backlog whenever capacity frees. Whatever has arrived is handled as one batch in one
//! transaction, events in delivery order: the routes of the batch's tickets are locked first
//! (in ticket order), then the pools (every pool when the batch has more than one event), then
//! expert rows; effects, the inbox entries and the outgoing events commit together. A batch of
//! more than one event reads its routes and their open assignments with those locks
//! ([`prepared`]), so its events make fewer round trips while holding them.

use sqlx::{PgPool, Postgres, Transaction};
use tracing::Instrument;
use uuid::Uuid;

use sysops_bus::{payload, ticket_of, HandleError, Incoming};
use sysops_contract::{
    EventType, LifecycleMove, RawEnvelope, TicketCategorized, TicketEscalated, TicketRecategorized,
};
use sysops_platform::db::handle_error;
use sysops_platform::inbox;

use crate::engine::{Engine, Origin};
use crate::store::{assignments, experts, routes};

mod prepared;

use prepared::Prepared;

/// What the consumer needs.
#[derive(Clone)]
pub struct Worker {
    pub pool: PgPool,
    pub engine: Engine,
}

type Tx<'a> = Transaction<'a, Postgres>;

impl Worker {
    /// Handles a batch of events. A permanent failure of any event fails the whole batch
    /// (nothing of it is committed); the consumer then handles each event alone.
    #[tracing::instrument(skip_all, fields(events = batch.len()))]
    pub async fn handle(&self, batch: Vec<Incoming>) -> Result<(), HandleError> {
        let mut tx = self.pool.begin().await.map_err(handle_error)?;
        let envelopes = batch.iter().map(|i| &i.envelope).collect();
        let mut events: Vec<&RawEnvelope> = inbox::first_seen(&mut tx, envelopes, |e| e.id)
            .await
            .map_err(handle_error)?;
        // Expert changes are applied (and their backlog drained) by the request that made
        // them; the event is for other services.
        events.retain(|e| e.event_type != EventType::ExpertChanged);
        let tickets = events
            .iter()
            .map(|e| ticket_of(e))
            .collect::<Result<Vec<_>, _>>()?;
        let mut prepared = if events.len() > 1 {
            // Everything the events will lock, up front and in one order (routes by ticket,
            // then pools by name), so two transactions never wait on each other crosswise.
            // Only a rejection of a ticket routing never saw does not create its route.
            let create: Vec<Uuid> = events
                .iter()
                .zip(&tickets)
                .filter(|(e, _)| e.event_type != EventType::TicketRejected)
                .map(|(_, t)| *t)
                .collect();
            let pools: Vec<String> = self
                .engine
                .taxonomy
                .pools()
                .keys()
                .map(|p| p.to_string())
                .collect();
            Prepared::lock(&mut tx, &create, &tickets, &pools)
                .await
                .map_err(handle_error)?
        } else {
            Prepared::default()
        };
        for (event, ticket_id) in events.iter().zip(tickets) {
            let span = tracing::debug_span!("event", event_id = %event.id, event_type = %event.event_type, %ticket_id);
            self.apply(&mut tx, &mut prepared, ticket_id, event)
                .instrument(span)
                .await?;
        }
        self.engine.outbox.commit(tx).await.map_err(handle_error)
    }

    async fn apply(
        &self,
        tx: &mut Tx<'_>,
        prep: &mut Prepared,
        id: Uuid,
        event: &RawEnvelope,
    ) -> Result<(), HandleError> {
        match event.event_type {
            // Bound to routing.work by earlier versions; `ticket.categorized` now carries what
            // routing took from it. Left in the queue from before an upgrade: nothing to do.
            EventType::TicketCreated => Ok(()),
            EventType::TicketCategorized => self.on_categorized(tx, prep, id, event).await,
            EventType::TicketRecategorized => self.on_recategorized(tx, prep, id, event).await,
            EventType::TicketRejected => self.on_rejected(tx, prep, id, event).await,
            EventType::TicketAccepted => self.on_accepted(tx, prep, id, event).await,
            EventType::TicketResolved | EventType::TicketCancelled | EventType::TicketClosed => {
                self.on_finished(tx, prep, id, event).await
            }
            other => Err(HandleError::permanent(format!(
                "{other} does not belong on routing.work"
            ))),
        }
    }

    fn pool_of(&self, category: &str) -> Result<String, HandleError> {
        self.engine
            .taxonomy
            .pool_of(category)
            .map(str::to_owned)
            .ok_or_else(|| {
                HandleError::permanent(format!("category `{category}` is not in the taxonomy"))
            })
    }

    async fn on_categorized(
        &self,
        tx: &mut Tx<'_>,
        prep: &mut Prepared,
        id: Uuid,
        event: &RawEnvelope,
    ) -> Result<(), HandleError> {
        let c: TicketCategorized = payload(event)?;
        let pool = self.pool_of(&c.category)?;
        let mut route = prep.route_or_create(tx, id).await.map_err(handle_error)?;
        if !matches!(route.status.as_str(), "new" | "review") {
            tracing::debug!(status = %route.status, "late categorization; the route has moved on");
            return Ok(());
        }
        if route.created_at.is_none() {
            route.priority = c.priority.as_str().to_owned();
            route.region = c.region.map(|r| r.trim().to_lowercase());
            route.created_at = c.created_at.or(Some(event.occurred_at));
        }
        route.category = Some(c.category);
        route.pool = Some(pool.clone());
        if c.needs_review {
            route.status = "review".into();
            return routes::save(tx, &route).await.map_err(handle_error);
        }
        prep.lock_pools(tx, &[pool]).await.map_err(handle_error)?;
        self.engine
            .place(tx, &mut route, Origin::Event(event), &mut prep.view)
            .await
            .map_err(handle_error)?;
        Ok(())
    }

    async fn on_recategorized(
        &self,
        tx: &mut Tx<'_>,
        prep: &mut Prepared,
        id: Uuid,
        event: &RawEnvelope,
    ) -> Result<(), HandleError> {
        let r: TicketRecategorized = payload(event)?;
        let pool = self.pool_of(&r.to)?;
        let mut route = prep.route_or_create(tx, id).await.map_err(handle_error)?;
        if route.status == "done" {
            return Ok(());
        }
        let open = prep.open_for(tx, id).await.map_err(handle_error)?;
        let freed = open
            .as_ref()
            .map(|o| o.expert_pools.clone())
            .unwrap_or_default();
        let mut locks = freed.clone();
        locks.push(pool.clone());
        prep.lock_pools(tx, &locks).await.map_err(handle_error)?;
        let origin = Origin::Event(event);
        if let Some(open) = &open {
            self.engine
                .close_open(tx, open, "moved", None, &mut prep.view)
                .await
                .map_err(handle_error)?;
            let data = open.taken_back(format!("the category changed to {}", r.to), r.by.clone());
            self.engine
                .emit(tx, origin, id, EventType::TicketUnassigned, data)
                .await
                .map_err(handle_error)?;
        }
        route.category = Some(r.to.clone());
        route.pool = Some(pool);
        // A manager decided: the rejection count starts again (the experts who rejected
        // it are still never offered it).
        route.rejections = 0;
        route.status = "new".into();
        if r.region.is_some() {
            route.region = r.region.map(|x| x.trim().to_lowercase());
        }
        route.priority = r.priority.as_str().to_owned();
        self.engine
            .place(tx, &mut route, origin, &mut prep.view)
            .await
            .map_err(handle_error)?;
        self.engine
            .drain_all(tx, &freed, origin, &mut prep.view)
            .await
            .map_err(handle_error)?;
        Ok(())
    }

    async fn on_rejected(
        &self,
        tx: &mut Tx<'_>,
        prep: &mut Prepared,
        id: Uuid,
        event: &RawEnvelope,
    ) -> Result<(), HandleError> {
        let m: LifecycleMove = payload(event)?;
        let Some(mut route) = prep.route(tx, id).await.map_err(handle_error)? else {
            tracing::warn!("rejected ticket unknown to routing");
            return Ok(());
        };
        let open = prep.open_for(tx, id).await.map_err(handle_error)?;
        let Some(open) = open.filter(|o| m.assignee.is_none_or(|a| a == o.expert_id)) else {
            tracing::info!("rejection of an assignment that is no longer open; nothing to do");
            return Ok(());
        };
        let freed = open.expert_pools.clone();
        let pool = route.pool.clone().unwrap_or_else(|| open.pool.clone());
        let mut locks = freed.clone();
        locks.push(pool.clone());
        prep.lock_pools(tx, &locks).await.map_err(handle_error)?;
        self.engine
            .close_open(tx, &open, "rejected", None, &mut prep.view)
            .await
            .map_err(handle_error)?;
        if !route.excluded.contains(&open.expert_id) {
            route.excluded.push(open.expert_id);
        }
        route.rejections += 1;
        route.pool = Some(pool.clone());
        let detail = serde_json::json!({
            "expert_id": open.expert_id, "by": m.by, "reason": m.reason, "rejections": route.rejections,
        });
        routes::record_decision(tx, event.id, &route, "rejected", detail)
            .await
            .map_err(handle_error)?;
        metrics::counter!("routing_rejections_total", "pool" => pool.clone()).increment(1);
        let origin = Origin::Event(event);
        if route.rejections >= i32::try_from(self.engine.max_rejections).unwrap_or(i32::MAX) {
            route.status = "escalated".into();
            routes::save(tx, &route).await.map_err(handle_error)?;
            let data = TicketEscalated {
                pool,
                rejections: u32::try_from(route.rejections).unwrap_or(0),
                reason: format!(
                    "rejected {} times; a manager must pick the category or an expert",
                    route.rejections
                ),
            };
            let detail =
                serde_json::json!({ "reason": data.reason, "rejections": data.rejections });
            let out = self
                .engine
                .emit(tx, origin, id, EventType::TicketEscalated, data)
                .await
                .map_err(handle_error)?;
            routes::record_decision(tx, out.id, &route, "escalated", detail)
                .await
                .map_err(handle_error)?;
            metrics::counter!("routing_escalations_total").increment(1);
        } else {
            // Back through the pool; `excluded` keeps every rejecting expert away.
            route.status = "new".into();
            self.engine
                .place(tx, &mut route, origin, &mut prep.view)
                .await
                .map_err(handle_error)?;
        }
        self.engine
            .drain_all(tx, &freed, origin, &mut prep.view)
            .await
            .map_err(handle_error)?;
        Ok(())
    }

    async fn on_accepted(
        &self,
        tx: &mut Tx<'_>,
        prep: &mut Prepared,
        id: Uuid,
        event: &RawEnvelope,
    ) -> Result<(), HandleError> {
        let m: LifecycleMove = payload(event)?;
        let mut route = prep.route_or_create(tx, id).await.map_err(handle_error)?;
        if route.status == "done" {
            // Handled after the ticket's resolution (events of one ticket can be handled
            // concurrently, and a broker outage delivers them in one burst): the work is over,
            // and nobody takes the ticket again.
            tracing::debug!("acceptance of a finished ticket; nothing to do");
            return Ok(());
        }
        let open = prep.open_for(tx, id).await.map_err(handle_error)?;
        match (&open, m.assignee) {
            (Some(o), who) if who.is_none_or(|w| w == o.expert_id) && o.status == "assigned" => {
                assignments::accept(tx, o.id).await.map_err(handle_error)?;
            }
            (Some(o), who) if who.is_none_or(|w| w == o.expert_id) => {}
            (_, Some(who)) => {
                // The expert accepted an assignment routing had just taken back: the
                // person's acceptance wins, and whoever got the ticket since lets it go.
                let mut locks = route.pool.clone().into_iter().collect::<Vec<_>>();
                let mut freed = Vec::new();
                if let Some(o) = &open {
                    freed = o.expert_pools.clone();
                    locks.extend(freed.iter().cloned());
                }
                prep.lock_pools(tx, &locks).await.map_err(handle_error)?;
                if let Some(o) = &open {
                    self.engine
                        .close_open(tx, o, "moved", None, &mut prep.view)
                        .await
                        .map_err(handle_error)?;
                }
                // The expert's load changes outside what the view follows.
                prep.view.forget();
                if let Some((load, capacity)) =
                    experts::force_slot(tx, who).await.map_err(handle_error)?
                {
                    if load > capacity {
                        tracing::warn!(expert_id = %who, load, capacity, "an acceptance took an expert over capacity");
                        metrics::counter!("routing_capacity_overrides_total").increment(1);
                    }
                    let pool = route.pool.clone().unwrap_or_default();
                    assignments::open(tx, id, who, &pool, route.attempts + 1, "accepted", None)
                        .await
                        .map_err(handle_error)?;
                    route.attempts += 1;
                }
                route.status = "accepted".into();
                routes::save(tx, &route).await.map_err(handle_error)?;
                let origin = Origin::Event(event);
                self.engine
                    .drain_all(tx, &freed, origin, &mut prep.view)
                    .await
                    .map_err(handle_error)?;
                return Ok(());
            }
            _ => {}
        }
        route.status = "accepted".into();
        routes::save(tx, &route).await.map_err(handle_error)
    }

    async fn on_finished(
        &self,
        tx: &mut Tx<'_>,
        prep: &mut Prepared,
        id: Uuid,
        event: &RawEnvelope,
    ) -> Result<(), HandleError> {
        let mut route = prep.route_or_create(tx, id).await.map_err(handle_error)?;
        let open = prep.open_for(tx, id).await.map_err(handle_error)?;
        let finishing = route.status != "done";
        if finishing {
            route.status = "done".into();
            route.queued_at = None;
        }
        let Some(o) = &open else {
            if finishing {
                routes::save(tx, &route).await.map_err(handle_error)?;
            }
            return Ok(());
        };
        prep.lock_pools(tx, &o.expert_pools)
            .await
            .map_err(handle_error)?;
        // Only pools with a backlog can use the freed unit (usually none, when the experts
        // keep up): the others are not read at all.
        let backlogged = self
            .engine
            .close_open(tx, o, "done", finishing.then_some(&route), &mut prep.view)
            .await
            .map_err(handle_error)?;
        self.engine
            .drain_freed(
                tx,
                o.expert_id,
                &backlogged,
                Origin::Event(event),
                &mut prep.view,
            )
            .await
            .map_err(handle_error)?;
        Ok(())
    }
}

//! What a batch of `routing.work` locks and reads before its events are applied, so each event
//! costs fewer round trips while the pool locks are held.

use std::collections::HashMap;

use uuid::Uuid;

use crate::engine::PoolView;
use crate::store::assignments::{self, OpenAssignment};
use crate::store::lock_pools;
use crate::store::routes::{self, Route};

use super::Tx;

/// Locks held and rows read for the events of one transaction.
#[derive(Debug, Default)]
pub(super) struct Prepared {
    /// Routes as locked at the start, each good for the first event of its ticket: until then
    /// only this transaction could change them, and it does so only through that event (a
    /// backlog drain changes queued routes, which are not kept here).
    routes: HashMap<Uuid, Route>,
    /// The open assignments of the tickets in `routes`, read with them.
    open: HashMap<Uuid, OpenAssignment>,
    /// The open assignment of the route handed out last, as read with it.
    taken: Option<(Uuid, Option<OpenAssignment>)>,
    /// The pools' experts and backlogs, read once while every pool is locked; whether every
    /// pool is locked is the view's to say.
    pub(super) view: PoolView,
}

impl Prepared {
    /// Locks the routes of `tickets` (creating those of `create` first), in ticket order, then
    /// every pool of `pools`, and reads the routes and their open assignments.
    pub(super) async fn lock(
        tx: &mut Tx<'_>,
        create: &[Uuid],
        tickets: &[Uuid],
        pools: &[String],
    ) -> Result<Self, sqlx::Error> {
        let routes = routes::create_and_lock(tx, create, tickets).await?;
        lock_pools(tx, pools).await?;
        let open = assignments::open_for_all(tx, tickets).await?;
        Ok(Prepared {
            routes: routes
                .into_iter()
                .filter(|r| r.status != "queued")
                .map(|r| (r.ticket_id, r))
                .collect(),
            open: open.into_iter().map(|o| (o.ticket_id, o)).collect(),
            taken: None,
            view: PoolView::every_pool_locked(),
        })
    }

    /// The ticket's route, locked; created (status `new`) when routing has not seen the ticket.
    pub(super) async fn route_or_create(
        &mut self,
        tx: &mut Tx<'_>,
        ticket_id: Uuid,
    ) -> Result<Route, sqlx::Error> {
        match self.take(ticket_id) {
            Some(route) => Ok(route),
            None => routes::lock_or_create(tx, ticket_id).await,
        }
    }

    /// The ticket's route, locked, if routing knows the ticket.
    pub(super) async fn route(
        &mut self,
        tx: &mut Tx<'_>,
        ticket_id: Uuid,
    ) -> Result<Option<Route>, sqlx::Error> {
        match self.take(ticket_id) {
            Some(route) => Ok(Some(route)),
            None => routes::lock(tx, ticket_id).await,
        }
    }

    fn take(&mut self, ticket_id: Uuid) -> Option<Route> {
        let route = self.routes.remove(&ticket_id);
        self.taken = route
            .is_some()
            .then(|| (ticket_id, self.open.remove(&ticket_id)));
        route
    }

    /// The ticket's open assignment; asked right after its route.
    pub(super) async fn open_for(
        &mut self,
        tx: &mut Tx<'_>,
        ticket_id: Uuid,
    ) -> Result<Option<OpenAssignment>, sqlx::Error> {
        match self.taken.take() {
            Some((taken, open)) if taken == ticket_id => Ok(open),
            _ => assignments::open_for(tx, ticket_id).await,
        }
    }

    /// Locks `pools`, unless every pool is locked already.
    pub(super) async fn lock_pools(
        &self,
        tx: &mut Tx<'_>,
        pools: &[String],
    ) -> Result<(), sqlx::Error> {
        if self.view.every_pool_held() {
            return Ok(());
        }
        lock_pools(tx, pools).await
    }
}

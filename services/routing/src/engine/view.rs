//! The pools' experts and backlogs as one transaction sees them, kept in step with that
//! transaction's own assignments and releases, so a batch reads each pool once.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::domain::Candidate;
use crate::store::experts;

/// What a transaction knows of the pools. Sound only while it holds every pool's lock: then
/// nothing but the transaction itself changes experts' loads or adds to a backlog (expert
/// changes, take-backs and other routing transactions all lock the pools they touch first).
/// [`PoolView::uncached`] keeps nothing and reads the database every time.
#[derive(Debug, Default)]
pub struct PoolView {
    cached: bool,
    /// Each pool's experts, as read and then updated by this transaction.
    candidates: HashMap<String, Vec<Candidate>>,
    /// Pools whose backlog was seen empty, with nothing queued in them since.
    empty_backlogs: HashSet<String>,
}

impl PoolView {
    /// Reads the database every time: for a transaction that holds only some pools' locks.
    pub fn uncached() -> Self {
        PoolView::default()
    }

    /// Keeps what it reads: for a transaction that holds every pool's lock.
    pub fn every_pool_locked() -> Self {
        PoolView {
            cached: true,
            ..PoolView::default()
        }
    }

    /// Whether the transaction holds every pool's lock (made by
    /// [`PoolView::every_pool_locked`]).
    pub(crate) fn every_pool_held(&self) -> bool {
        self.cached
    }

    /// The pool's experts at `now`; give them back with [`PoolView::put`] once done.
    pub(crate) async fn take(
        &mut self,
        tx: &mut Transaction<'_, Postgres>,
        pool: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<Candidate>, sqlx::Error> {
        match self.candidates.remove(pool) {
            Some(candidates) => Ok(candidates),
            None => experts::candidates(tx, pool, now).await,
        }
    }

    /// Keeps the pool's experts as the caller left them.
    pub(crate) fn put(&mut self, pool: &str, candidates: Vec<Candidate>) {
        if self.cached {
            self.candidates.insert(pool.to_owned(), candidates);
        }
    }

    /// The expert took a unit of capacity at `now`; the pool it was taken in is out (taken)
    /// and updated by the caller.
    pub(crate) fn took(&mut self, expert_id: Uuid, now: DateTime<Utc>) {
        for c in self.experts_mut(expert_id) {
            c.load += 1;
            c.last_assigned_at = Some(now);
        }
    }

    /// The expert gave a unit of capacity back.
    pub(crate) fn freed(&mut self, expert_id: Uuid) {
        for c in self.experts_mut(expert_id) {
            c.load = (c.load - 1).max(0);
        }
    }

    /// Forgets everything: the caller changed experts in a way not followed here.
    pub(crate) fn forget(&mut self) {
        self.candidates.clear();
        self.empty_backlogs.clear();
    }

    /// A ticket was queued in the pool.
    pub(crate) fn queued(&mut self, pool: &str) {
        self.empty_backlogs.remove(pool);
    }

    /// The pool's backlog was seen empty.
    pub(crate) fn saw_empty_backlog(&mut self, pool: &str) {
        if self.cached {
            self.empty_backlogs.insert(pool.to_owned());
        }
    }

    /// Whether the pool's backlog is known to be empty.
    pub(crate) fn backlog_empty(&self, pool: &str) -> bool {
        self.empty_backlogs.contains(pool)
    }

    fn experts_mut(&mut self, expert_id: Uuid) -> impl Iterator<Item = &mut Candidate> {
        self.candidates
            .values_mut()
            .flat_map(|list| list.iter_mut())
            .filter(move |c| c.expert_id == expert_id)
    }
}

//! Changing the roster: every change of an expert is one transaction that stores it, writes
//! `expert.changed` to the outbox and assigns the backlog of every pool the expert serves (or
//! served), since availability or capacity may have freed. Also the seed roster loaded at
//! start.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

use sysops_contract::{Envelope, EventType};

use crate::domain::{ExpertRequest, NewExpert};
use crate::engine::{Engine, Origin, PoolView};
use crate::store::experts::{self, Expert};
use crate::store::lock_pools;

/// Stores `expert` under `id` (new or replaced) and returns it as stored, with how many
/// backlog tickets it freed up.
pub async fn save_expert(
    tx: &mut Transaction<'_, Postgres>,
    engine: &Engine,
    id: Uuid,
    expert: &NewExpert,
) -> Result<(Expert, usize), sqlx::Error> {
    let mut pools = experts::pools_of(tx, id).await?;
    pools.extend(expert.skills.keys().cloned());
    pools.sort();
    pools.dedup();
    lock_pools(tx, &pools).await?;
    experts::upsert(tx, id, expert).await?;
    let stored = experts::get(&mut **tx, id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    let event = Envelope::new(EventType::ExpertChanged, None, stored.changed())
        .to_raw()
        .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    engine.outbox.enqueue(tx, &event).await?;
    let assigned = engine
        .drain_all(
            tx,
            &pools,
            Origin::Fresh("expert.changed"),
            &mut PoolView::uncached(),
        )
        .await?;
    // Re-read: the drain may have given the expert work.
    let stored = experts::get(&mut **tx, id)
        .await?
        .ok_or(sqlx::Error::RowNotFound)?;
    Ok((stored, assigned))
}

/// The seed file: `[[expert]]` tables shaped like the `POST /api/experts` body.
#[derive(Debug, Deserialize)]
struct Roster {
    expert: Vec<ExpertRequest>,
}

/// Loads the roster at `path` when no expert exists yet; returns how many were added.
/// Replicas starting together serialise on an advisory lock, so only one seeds.
pub async fn seed(pool: &PgPool, engine: &Engine, path: &Path) -> anyhow::Result<usize> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the expert roster {}", path.display()))?;
    let roster: Roster =
        toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    let pools = engine.taxonomy.pools();
    let known: Vec<&str> = pools.keys().copied().collect();
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock(1002, 0)")
        .execute(&mut *tx)
        .await?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM experts")
        .fetch_one(&mut *tx)
        .await?;
    if existing > 0 {
        return Ok(0);
    }
    let mut added = 0;
    for (i, req) in roster.expert.into_iter().enumerate() {
        let name = req.name.clone();
        let expert = NewExpert::parse(req, &known).map_err(|errors| {
            anyhow::anyhow!(
                "expert #{} ({name}) in the roster is invalid: {errors:?}",
                i + 1
            )
        })?;
        save_expert(&mut tx, engine, Uuid::now_v7(), &expert).await?;
        added += 1;
    }
    engine.outbox.commit(tx).await?;
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_seed_roster_is_valid_and_covers_every_pool() {
        let taxonomy =
            sysops_taxonomy::Taxonomy::load(sysops_platform::repo::path("models/taxonomy.toml"))
                .expect("the taxonomy loads");
        let pools = taxonomy.pools();
        let known: Vec<&str> = pools.keys().copied().collect();
        let text = std::fs::read_to_string(sysops_platform::repo::path(
            "services/routing/seed/experts.toml",
        ))
        .expect("the roster is readable");
        let roster: Roster = toml::from_str(&text).expect("the roster parses");
        assert!(roster.expert.len() >= 24, "a few dozen experts");
        let experts: Vec<NewExpert> = roster
            .expert
            .into_iter()
            .map(|r| NewExpert::parse(r, &known).expect("every expert is valid"))
            .collect();
        for pool in known {
            assert!(
                experts.iter().any(|e| e.skills.contains_key(pool)),
                "nobody serves {pool}"
            );
        }
    }
}

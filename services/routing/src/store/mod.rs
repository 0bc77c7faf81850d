//! PostgreSQL access of the routing service, one module per table family.

pub mod assignments;
pub mod experts;
pub mod routes;

/// Serialises everything that assigns tickets of `pools` or frees capacity in them, across
/// replicas, until the transaction ends. Locks are taken in name order so two transactions
/// never wait on each other in a cycle. Without it, a ticket could be queued by one
/// transaction while another frees the last expert without seeing it.
pub async fn lock_pools(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    pools: &[String],
) -> Result<(), sqlx::Error> {
    let mut sorted: Vec<&String> = pools.iter().collect();
    sorted.sort();
    sorted.dedup();
    for pool in sorted {
        sqlx::query("SELECT pg_advisory_xact_lock(1001, hashtext($1))")
            .bind(pool)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

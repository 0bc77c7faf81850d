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
    let mut sorted: Vec<&str> = pools.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted.dedup();
    // One statement: the function scan yields the array in order, so the locks are taken in
    // that (sorted) order and two transactions never wait for each other crosswise.
    sqlx::query("SELECT pg_advisory_xact_lock(1001, hashtext(p)) FROM unnest($1::text[]) AS p")
        .bind(&sorted)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

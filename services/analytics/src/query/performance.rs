//! `GET /api/analytics/performance`: how fast tickets move and how the categorizer decides.

use super::*;

/// `GET /api/analytics/performance`: how fast tickets move (overall and per pool), how the
/// categorizer decides (method mix, confidence distribution, review and override rates per
/// category) and SLA breaches.
pub fn performance(frames: &Frames, filters: &Filters) -> PolarsResult<Value> {
    let lf = tickets(frames, filters);
    let (overall, per_pool) = durations(lf.clone(), filters)?;
    let categorizer = categorizer(lf.clone(), filters)?;
    let breaches = breaches(lf, filters)?;
    let slowest: Map<String, Value> = DURATIONS
        .iter()
        .map(|d| {
            (
                d.trim_start_matches("t_").to_owned(),
                filters.drill_with(&[("slowest", json!(d))]),
            )
        })
        .collect();
    Ok(json!({
        "durations": overall,
        "per_pool": per_pool,
        "categorizer": categorizer,
        "sla_breaches": breaches,
        "drill": { "slowest": slowest },
        "filters": filters.echo(),
        "version": frames.version,
    }))
}

/// The durations of all tickets, and per pool (per priority, or anything else, through the
/// filters).
fn durations(lf: LazyFrame, filters: &Filters) -> PolarsResult<(Map<String, Value>, Vec<Value>)> {
    let profile = Profile::of(lf, &["pool"], &DURATIONS)?;
    let per_pool = profile.by[0]
        .iter()
        .map(|(name, (tickets, durations))| {
            json!({
                "pool": name,
                "tickets": tickets,
                "durations": durations,
                "drill": filters.drill_with(&[("pool", json!(name)), ("slowest", json!("t_assign"))]),
            })
        })
        .collect();
    Ok((profile.overall, per_pool))
}

/// How the categorizer decided: method mix, confidence histogram, review and override rates.
fn categorizer(lf: LazyFrame, filters: &Filters) -> PolarsResult<Value> {
    let rates = one(&lf
        .clone()
        .select([
            len().alias("tickets"),
            rate(col("needs_review"), "needs_review_rate"),
            rate(col("overridden"), "override_rate"),
        ])
        .collect()?)?;
    Ok(json!({
        "tickets": rates["tickets"],
        "needs_review_rate": rates["needs_review_rate"],
        "override_rate": rates["override_rate"],
        "methods": methods(lf.clone(), filters)?,
        "confidence_histogram": confidence_histogram(lf.clone(), filters)?,
        "categories": categorizer_per_category(lf, filters)?,
    }))
}

/// SLA breaches by clock, in all and per pool.
fn breaches(lf: LazyFrame, filters: &Filters) -> PolarsResult<Value> {
    let totals = one(&lf
        .clone()
        .select([
            count_if(col("breach_assign"), "assign"),
            count_if(col("breach_accept"), "accept"),
            count_if(col("breach_resolve"), "resolve"),
            count_if(col("breached"), "any"),
            rate(col("breached"), "rate"),
        ])
        .collect()?)?;
    let mut by_pool = grouped(
        lf.filter(col("breached")),
        "pool",
        vec![
            count_if(col("breach_assign"), "assign"),
            count_if(col("breach_accept"), "accept"),
            count_if(col("breach_resolve"), "resolve"),
        ],
    )?;
    add_drill(&mut by_pool, "pool", filters, &[("breached", json!("any"))]);
    Ok(json!({ "totals": totals, "by_pool": by_pool }))
}

/// Tickets per tenth of confidence.
pub(super) fn confidence_histogram(lf: LazyFrame, filters: &Filters) -> PolarsResult<Vec<Value>> {
    let df = lf
        .filter(col("confidence").is_not_null())
        .select([(col("confidence") * lit(10.0))
            .cast(DataType::Int32)
            .alias("bin")])
        .group_by([col("bin")])
        .agg([len().alias("n")])
        .collect()?;
    let mut bins = [0u64; 10];
    for r in records(&df)? {
        if let (Some(b), Some(n)) = (r["bin"].as_i64(), r["n"].as_u64()) {
            bins[b.clamp(0, 9) as usize] += n;
        }
    }
    Ok(bins
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (lo, hi) = (i as f64 / 10.0, (i + 1) as f64 / 10.0);
            json!({
                "from": lo, "to": hi, "tickets": n,
                "drill": filters.drill_with(&[("confidence_min", json!(lo)), ("confidence_max", json!(hi))]),
            })
        })
        .collect())
}

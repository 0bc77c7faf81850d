//! `GET /api/dashboard/routing` and `/api/analytics/pools`: pools and experts.

use super::*;

/// `GET /api/dashboard/routing`: pools (backlog, load, reassignments, breaches, time to
/// assign) and experts (load, capacity, utilisation, tickets taken and resolved).
pub fn routing(frames: &Frames, filters: &Filters) -> PolarsResult<Value> {
    let lf = tickets(frames, filters);
    let pools = pool_rows(lf.clone(), filters)?;

    let totals = one(&lf
        .clone()
        .select([
            col("reassignments").sum().alias("reassignments"),
            col("rejections").sum().alias("rejections"),
            col("takebacks").sum().alias("takebacks"),
            count_if(col("escalated"), "escalations"),
            count_if(col("breach_assign"), "breaches_assign"),
            count_if(col("breach_accept"), "breaches_accept"),
            count_if(col("breach_resolve"), "breaches_resolve"),
            count_if(col("status").eq(lit("queued")), "backlog"),
        ])
        .collect()?)?;

    Ok(json!({
        "pools": pools,
        "experts": experts(frames, filters, lf)?,
        "totals": totals,
        "filters": filters.echo(),
        "version": frames.version,
    }))
}

/// Per pool: backlog, held, reassignments, rejections, take-backs, escalations, breaches and
/// time to assign.
fn pool_rows(lf: LazyFrame, filters: &Filters) -> PolarsResult<Vec<Value>> {
    let mut pools = grouped(
        lf.clone(),
        "pool",
        vec![
            count_if(col("status").eq(lit("queued")), "backlog"),
            count_if(col("held"), "held"),
            count_if(col("assignments").gt(lit(0u32)), "assigned"),
            col("reassignments").sum().alias("reassignments"),
            col("rejections").sum().alias("rejections"),
            col("takebacks").sum().alias("takebacks"),
            count_if(col("escalated"), "escalated"),
            count_if(col("breached"), "breached"),
        ],
    )?;
    let profile = Profile::of(lf, &["pool"], &["t_assign"])?;
    for row in &mut pools {
        let pool = row["pool"].clone();
        let times = pool
            .as_str()
            .and_then(|p| profile.by[0].get(p))
            .and_then(|(_, d)| d.get("assign"));
        row["time_to_assign_p50"] = times.map_or(Value::Null, |t| t["p50"].clone());
        row["time_to_assign_p90"] = times.map_or(Value::Null, |t| t["p90"].clone());
        let f = Filters {
            pool: pool.as_str().map(str::to_owned),
            ..filters.clone()
        };
        row["drill"] = json!({
            "tickets": f.echo(),
            "backlog": f.drill_with(&[("status", json!("queued"))]),
            "held": f.drill_with(&[("held", json!(true))]),
            "reassigned": f.drill_with(&[("reassigned", json!(true))]),
            "breached": f.drill_with(&[("breached", json!("any"))]),
        });
    }
    Ok(pools)
}

/// Experts with their current load (over every open ticket, whatever the filters: load is
/// what they hold now) and what they took and resolved among the filtered tickets.
pub(super) fn experts(
    frames: &Frames,
    filters: &Filters,
    filtered: LazyFrame,
) -> PolarsResult<Vec<Value>> {
    let load: HashMap<String, u64> = records(
        &frames
            .tickets
            .clone()
            .lazy()
            .filter(col("held"))
            .group_by([col("expert_id")])
            .agg([len().alias("load")])
            .collect()?,
    )?
    .into_iter()
    .filter_map(|r| Some((r["expert_id"].as_str()?.to_owned(), r["load"].as_u64()?)))
    .collect();
    let work: HashMap<String, (u64, u64)> = records(
        &filtered
            .filter(col("expert_id").is_not_null())
            .group_by([col("expert_id")])
            .agg([
                len().alias("assigned"),
                count_if(col("resolved_ms").is_not_null(), "resolved"),
            ])
            .collect()?,
    )?
    .into_iter()
    .filter_map(|r| {
        Some((
            r["expert_id"].as_str()?.to_owned(),
            (r["assigned"].as_u64()?, r["resolved"].as_u64()?),
        ))
    })
    .collect();

    let mut rows = Vec::new();
    for e in records(&frames.experts)? {
        let id = e["expert_id"].as_str().unwrap_or_default().to_owned();
        let pools: Vec<&str> = e["pools"]
            .as_str()
            .unwrap_or_default()
            .split(',')
            .filter(|p| !p.is_empty())
            .collect();
        if let Some(p) = &filters.pool {
            if !pools.contains(&p.as_str()) {
                continue;
            }
        }
        let capacity = e["capacity"].as_u64().unwrap_or(0);
        let held = load.get(&id).copied().unwrap_or(0);
        let (assigned, resolved) = work.get(&id).copied().unwrap_or((0, 0));
        rows.push(json!({
            "expert_id": id,
            "name": e["name"],
            "availability": e["availability"],
            "pools": pools,
            "regions": e["regions"].as_str().unwrap_or_default().split(',').filter(|r| !r.is_empty()).collect::<Vec<_>>(),
            "capacity": capacity,
            "load": held,
            "utilisation": (capacity > 0).then(|| held as f64 / capacity as f64),
            "assigned": assigned,
            "resolved": resolved,
            "drill": filters.drill_with(&[("expert_id", json!(id))]),
        }));
    }
    rows.sort_by(|a, b| {
        let u = |v: &Value| v["utilisation"].as_f64().unwrap_or(-1.0);
        u(b).total_cmp(&u(a))
            .then_with(|| a["name"].as_str().cmp(&b["name"].as_str()))
    });
    Ok(rows)
}

/// `GET /api/analytics/pools`: every pool's figures; with `pool`, one pool's.
pub fn pools(frames: &Frames, filters: &Filters) -> PolarsResult<Value> {
    let pools = pool_rows(tickets(frames, filters), filters)?;
    Ok(json!({ "pools": pools, "filters": filters.echo(), "version": frames.version }))
}

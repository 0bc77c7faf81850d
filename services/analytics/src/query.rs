//! The dashboard queries, run with polars on the latest [`Frames`]. Every query is blocking
//! and runs off the async runtime (see `routes`).
//!
//! Times in answers are RFC 3339; durations are in seconds; rates are fractions in 0..1.
//! Every figure that counts tickets comes with the `drill` parameters that list them
//! (`GET /api/analytics/drilldown?...`).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, TimeZone, Utc};
use polars::prelude::*;
use serde_json::{json, Map, Value};

use sysops_contract::TicketStatus;

use crate::frames::Frames;

/// The filters every metric takes. Time bounds apply to when tickets were created.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filters {
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
    pub pool: Option<String>,
    pub category: Option<String>,
    pub region: Option<String>,
    pub priority: Option<String>,
}

impl Filters {
    fn expr(&self) -> Expr {
        let mut e = lit(true);
        if let Some(from) = self.from_ms {
            e = e.and(col("created_ms").gt_eq(lit(from)));
        }
        if let Some(to) = self.to_ms {
            e = e.and(col("created_ms").lt(lit(to)));
        }
        for (name, value) in [
            ("pool", &self.pool),
            ("category", &self.category),
            ("region", &self.region),
            ("priority", &self.priority),
        ] {
            if let Some(v) = value {
                e = e.and(col(name).eq(lit(v.as_str())));
            }
        }
        e
    }

    /// The filters as query parameters, the base of every drill-down link.
    fn drill(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(t) = self.from_ms {
            m.insert("from".into(), json!(rfc3339(t)));
        }
        if let Some(t) = self.to_ms {
            m.insert("to".into(), json!(rfc3339(t)));
        }
        for (name, value) in [
            ("pool", &self.pool),
            ("category", &self.category),
            ("region", &self.region),
            ("priority", &self.priority),
        ] {
            if let Some(v) = value {
                m.insert(name.into(), json!(v));
            }
        }
        m
    }

    fn drill_with(&self, extra: &[(&str, Value)]) -> Value {
        let mut m = self.drill();
        for (k, v) in extra {
            m.insert((*k).to_owned(), v.clone());
        }
        Value::Object(m)
    }

    fn echo(&self) -> Value {
        self.drill_with(&[])
    }
}

/// Narrows the ticket list of a drill-down beyond the common filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drill {
    pub status: Option<TicketStatus>,
    /// `open`: not resolved, closed or cancelled.
    pub open: Option<bool>,
    pub method: Option<String>,
    pub needs_review: Option<bool>,
    pub overridden: Option<bool>,
    pub escalated: Option<bool>,
    pub reassigned: Option<bool>,
    /// Rejected by an expert at least once.
    pub rejected: Option<bool>,
    /// Taken back from an expert at least once.
    pub taken_back: Option<bool>,
    /// Reached a lifecycle stage: the column of its time is set.
    pub reached: Option<&'static str>,
    /// `any`, `assign`, `accept` or `resolve`.
    pub breached: Option<String>,
    pub expert_id: Option<String>,
    /// Confidence in `[min, max)`; `max` 1 includes 1.
    pub confidence_min: Option<f64>,
    pub confidence_max: Option<f64>,
    /// Resolved within the window (by resolution time rather than creation time).
    pub resolved_from_ms: Option<i64>,
    pub resolved_to_ms: Option<i64>,
    /// Column to sort by, descending (a duration: the slowest first); newest first otherwise.
    pub slowest: Option<&'static str>,
}

pub const DURATIONS: [&str; 4] = ["t_categorize", "t_assign", "t_accept", "t_resolve"];
/// Lifecycle stages a ticket reaches, and the column of the time it did.
pub const STAGES: [(&str, &str); 6] = [
    ("created", "created_ms"),
    ("categorized", "categorized_ms"),
    ("assigned", "first_assigned_ms"),
    ("accepted", "accepted_ms"),
    ("resolved", "resolved_ms"),
    ("closed", "closed_ms"),
];
const CLOSED: [&str; 3] = ["resolved", "closed", "cancelled"];
const PERCENTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];

impl Drill {
    fn expr(&self) -> Expr {
        let mut e = lit(true);
        let flags = [
            ("needs_review", self.needs_review),
            ("overridden", self.overridden),
            ("escalated", self.escalated),
        ];
        for (name, value) in flags {
            if let Some(v) = value {
                e = e.and(col(name).eq(lit(v)));
            }
        }
        if let Some(s) = self.status {
            e = e.and(col("status").eq(lit(s.as_str())));
        }
        if let Some(open) = self.open {
            let closed = is_closed();
            e = e.and(if open { closed.not() } else { closed });
        }
        if let Some(m) = &self.method {
            e = e.and(col("method").eq(lit(m.as_str())));
        }
        if let Some(r) = self.reassigned {
            let moved = col("reassignments").gt(lit(0u32));
            e = e.and(if r { moved } else { moved.not() });
        }
        for (column, value) in [
            ("rejections", self.rejected),
            ("takebacks", self.taken_back),
        ] {
            if let Some(v) = value {
                let some = col(column).gt(lit(0u32));
                e = e.and(if v { some } else { some.not() });
            }
        }
        if let Some(stage) = self.reached {
            e = e.and(col(stage).is_not_null());
        }
        if let Some(b) = &self.breached {
            let column = match b.as_str() {
                "assign" => "breach_assign",
                "accept" => "breach_accept",
                "resolve" => "breach_resolve",
                _ => "breached",
            };
            e = e.and(col(column));
        }
        if let Some(x) = &self.expert_id {
            e = e.and(col("expert_id").eq(lit(x.as_str())));
        }
        if let Some(min) = self.confidence_min {
            e = e.and(col("confidence").gt_eq(lit(min)));
        }
        if let Some(max) = self.confidence_max {
            let below = if max >= 1.0 {
                col("confidence").lt_eq(lit(max))
            } else {
                col("confidence").lt(lit(max))
            };
            e = e.and(below);
        }
        if let Some(t) = self.resolved_from_ms {
            e = e.and(col("resolved_ms").gt_eq(lit(t)));
        }
        if let Some(t) = self.resolved_to_ms {
            e = e.and(col("resolved_ms").lt(lit(t)));
        }
        e
    }
}

fn is_closed() -> Expr {
    CLOSED
        .iter()
        .fold(lit(false), |e, s| e.or(col("status").eq(lit(*s))))
}

fn rfc3339(ms: i64) -> String {
    Utc.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The tickets passing `filters`. Left lazy: each aggregate then reads only the columns it
/// needs (materializing the filtered rows once would copy all forty columns).
fn tickets(frames: &Frames, filters: &Filters) -> PolarsResult<LazyFrame> {
    let all = frames.tickets.clone().lazy();
    if *filters == Filters::default() {
        return Ok(all);
    }
    Ok(all.filter(filters.expr()))
}

fn count_if(e: Expr, name: &str) -> Expr {
    e.cast(DataType::UInt32).sum().alias(name)
}

fn rate(e: Expr, name: &str) -> Expr {
    e.cast(DataType::Float64).mean().alias(name)
}

/// A JSON value of one cell.
fn cell(v: AnyValue<'_>) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => json!(b),
        AnyValue::String(s) => json!(s),
        AnyValue::StringOwned(s) => json!(s.as_str()),
        AnyValue::Int8(x) => json!(x),
        AnyValue::Int16(x) => json!(x),
        AnyValue::Int32(x) => json!(x),
        AnyValue::Int64(x) => json!(x),
        AnyValue::UInt8(x) => json!(x),
        AnyValue::UInt16(x) => json!(x),
        AnyValue::UInt32(x) => json!(x),
        AnyValue::UInt64(x) => json!(x),
        AnyValue::Float32(x) if x.is_finite() => json!(x),
        AnyValue::Float64(x) if x.is_finite() => json!(x),
        AnyValue::Float32(_) | AnyValue::Float64(_) => Value::Null,
        other => json!(other.to_string()),
    }
}

/// The rows of `df` as JSON objects; columns ending in `_ms` also appear as RFC 3339 times
/// (without the suffix).
pub fn records(df: &DataFrame) -> PolarsResult<Vec<Value>> {
    let columns = df.columns();
    let mut rows = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut row = Map::new();
        for c in columns {
            let v = cell(c.get(i)?);
            match (c.name().strip_suffix("_ms"), &v) {
                (Some(name), Value::Number(n)) => {
                    let ms = n.as_i64().unwrap_or_default();
                    row.insert(format!("{name}_at"), json!(rfc3339(ms)));
                }
                (Some(name), _) => {
                    row.insert(format!("{name}_at"), Value::Null);
                }
                (None, _) => {
                    row.insert(c.name().to_string(), v);
                }
            }
        }
        rows.push(Value::Object(row));
    }
    Ok(rows)
}

/// The single row of `df` as a JSON object.
fn one(df: &DataFrame) -> PolarsResult<Map<String, Value>> {
    match records(df)?.into_iter().next() {
        Some(Value::Object(m)) => Ok(m),
        _ => Ok(Map::new()),
    }
}

/// Quantiles 0.5, 0.9 and 0.99 of `values`, linearly interpolated between the closest ranks
/// (as polars' `QuantileMethod::Linear`). Found by selection, not by sorting, each search
/// narrowed to the ranks above the previous quantile (about 1.7 passes over the values in all),
/// on integer keys that order like `f64::total_cmp`.
pub fn percentiles(values: Vec<f64>) -> [Option<f64>; 3] {
    let n = values.len();
    let mut out = [None; 3];
    if n == 0 {
        return out;
    }
    let mut keys: Vec<u64> = values.into_iter().map(order_key).collect();
    // Every rank at or above `start` is at a position at or above `start`.
    let mut start = 0;
    for (slot, (_, q)) in out.iter_mut().zip(PERCENTILES) {
        let position = q * (n - 1) as f64;
        let below = (position.floor() as usize).max(start);
        let fraction = position - below as f64;
        let (_, low, above) = keys[start..].select_nth_unstable(below - start);
        let low = *low;
        let high = if fraction > 0.0 {
            above.iter().copied().min().unwrap_or(low)
        } else {
            low
        };
        let (low, high) = (from_order_key(low), from_order_key(high));
        *slot = Some(low + (high - low) * fraction);
        start = below;
    }
    out
}

/// An integer whose order is `f64::total_cmp`'s.
fn order_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

fn from_order_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

fn percentile_json(values: Vec<f64>) -> Value {
    let n = values.len();
    let [p50, p90, p99] = percentiles(values);
    json!({ "n": n, "p50": p50, "p90": p90, "p99": p99 })
}

/// The durations of a set of tickets: p50/p90/p99 and count of every duration column, in
/// seconds, over all of them and per value of each key column.
struct Profile {
    overall: Map<String, Value>,
    /// Per key column, in the order given: value -> (tickets, durations).
    by: Vec<BTreeMap<String, Group>>,
}

/// A group's ticket count and durations.
type Group = (u64, Map<String, Value>);

impl Profile {
    /// Groups by polars' hash group-by (row indices per group), quantiles by selection
    /// ([`percentiles`]). Only the duration columns `which` are computed.
    fn of(lf: LazyFrame, keys: &[&str], which: &[&'static str]) -> PolarsResult<Profile> {
        let mut columns: Vec<Expr> = keys.iter().map(|k| col(*k)).collect();
        columns.extend(which.iter().map(|d| col(*d)));
        let df = lf.select(columns).collect()?;
        let durations = which
            .iter()
            .map(|d| df.column(d)?.f64())
            .collect::<PolarsResult<Vec<_>>>()?;
        let named = |lists: Vec<Vec<f64>>| -> Map<String, Value> {
            which
                .iter()
                .zip(lists)
                .map(|(d, v)| (d.trim_start_matches("t_").to_owned(), percentile_json(v)))
                .collect()
        };
        let overall = durations
            .iter()
            .map(|ca| ca.iter().flatten().collect())
            .collect();
        let mut by = Vec::with_capacity(keys.len());
        for key in keys {
            let names = df.column(key)?.str()?;
            let grouping = df.group_by([*key])?;
            let mut groups = BTreeMap::new();
            let mut add = |first: IdxSize, rows: &mut dyn Iterator<Item = usize>| {
                let Some(name) = names.get(first as usize) else {
                    return;
                };
                let rows: Vec<usize> = rows.collect();
                let lists = durations
                    .iter()
                    .map(|ca| rows.iter().filter_map(|&i| ca.get(i)).collect())
                    .collect();
                groups.insert(name.to_owned(), (rows.len() as u64, named(lists)));
            };
            match &**grouping.get_groups() {
                GroupsType::Idx(idx) => {
                    for (first, all) in idx.first().iter().zip(idx.all()) {
                        add(*first, &mut all.iter().map(|&i| i as usize));
                    }
                }
                GroupsType::Slice { groups: slices, .. } => {
                    for [first, len] in slices.iter() {
                        add(*first, &mut (*first as usize..(*first + *len) as usize));
                    }
                }
            }
            by.push(groups);
        }
        Ok(Profile {
            overall: named(overall),
            by,
        })
    }
}

/// Counts per value of `key` with the given aggregates, biggest first.
fn grouped(lf: LazyFrame, key: &str, aggs: Vec<Expr>) -> PolarsResult<Vec<Value>> {
    let mut all = vec![len().alias("tickets")];
    all.extend(aggs);
    let df = lf
        .filter(col(key).is_not_null())
        .group_by([col(key)])
        .agg(all)
        .sort(
            ["tickets", key],
            SortMultipleOptions::default().with_order_descending_multi([true, false]),
        )
        .collect()?;
    records(&df)
}

fn add_drill(rows: &mut [Value], key: &str, filters: &Filters, extra: &[(&str, Value)]) {
    for row in rows {
        if let Some(v) = row.get(key).cloned() {
            let mut params = extra.to_vec();
            params.push((key, v));
            row["drill"] = filters.drill_with(&params);
        }
    }
}

fn categorizer_per_category(lf: LazyFrame, filters: &Filters) -> PolarsResult<Vec<Value>> {
    let mut rows = grouped(
        lf,
        "category",
        vec![
            col("confidence").mean().alias("mean_confidence"),
            rate(col("needs_review"), "needs_review_rate"),
            rate(col("overridden"), "override_rate"),
            count_if(col("needs_review"), "needs_review"),
            count_if(col("overridden"), "overridden"),
        ],
    )?;
    add_drill(&mut rows, "category", filters, &[]);
    Ok(rows)
}

fn methods(lf: LazyFrame, filters: &Filters) -> PolarsResult<Vec<Value>> {
    let mut rows = grouped(
        lf,
        "method",
        vec![col("confidence").mean().alias("mean_confidence")],
    )?;
    add_drill(&mut rows, "method", filters, &[]);
    Ok(rows)
}

/// `GET /api/dashboard/summary`: the headline figures.
pub fn summary(frames: &Frames, filters: &Filters) -> PolarsResult<Value> {
    let lf = tickets(frames, filters)?;
    let totals = one(&lf
        .clone()
        .select([
            len().alias("tickets"),
            count_if(is_closed().not(), "open"),
            count_if(col("held"), "held"),
            count_if(col("status").eq(lit("queued")), "backlog"),
            count_if(col("needs_review"), "needs_review"),
            count_if(col("status").eq(lit("needs_review")), "awaiting_review"),
            count_if(col("overridden"), "overridden"),
            count_if(col("breached"), "breached"),
            count_if(col("reassignments").gt(lit(0u32)), "reassigned"),
            count_if(col("resolved_ms").is_not_null(), "resolved"),
            col("confidence").mean().alias("mean_confidence"),
        ])
        .collect()?)?;

    let by_status: HashMap<String, Value> = grouped(lf.clone(), "status", vec![])?
        .into_iter()
        .filter_map(|r| Some((r["status"].as_str()?.to_owned(), r["tickets"].clone())))
        .collect();
    let statuses: Vec<Value> = TicketStatus::ALL
        .iter()
        .map(|s| {
            json!({
                "status": s.as_str(),
                "tickets": by_status.get(s.as_str()).cloned().unwrap_or(json!(0)),
                "drill": filters.drill_with(&[("status", json!(s.as_str()))]),
            })
        })
        .collect();

    let reached = one(&lf
        .clone()
        .select(
            STAGES
                .iter()
                .map(|(stage, column)| col(*column).count().alias(*stage))
                .collect::<Vec<_>>(),
        )
        .collect()?)?;
    let funnel: Vec<Value> = STAGES
        .iter()
        .map(|(stage, _)| {
            json!({
                "stage": stage,
                "tickets": reached.get(*stage).cloned().unwrap_or(json!(0)),
                "drill": filters.drill_with(&[("reached", json!(stage))]),
            })
        })
        .collect();
    let mut regions = grouped(lf.clone(), "region", vec![])?;
    add_drill(&mut regions, "region", filters, &[]);

    let drills = [
        ("open", json!({"open": true})),
        ("held", json!({"status": "assigned"})),
        ("backlog", json!({"status": "queued"})),
        ("needs_review", json!({"needs_review": true})),
        ("awaiting_review", json!({"status": "needs_review"})),
        ("overridden", json!({"overridden": true})),
        ("breached", json!({"breached": "any"})),
        ("reassigned", json!({"reassigned": true})),
    ];
    let mut drill = Map::new();
    drill.insert("tickets".into(), filters.echo());
    for (name, extra) in drills {
        let mut m = filters.drill();
        if let Value::Object(e) = extra {
            m.extend(e);
        }
        drill.insert(name.into(), Value::Object(m));
    }

    let dead = dead_letter_count(frames, filters)?;
    let events_total: u64 = frames.events_by_type.values().sum();
    let mut out = totals;
    out.insert("tickets_created".into(), out["tickets"].clone());
    out.insert("statuses".into(), json!(statuses));
    out.insert("funnel".into(), json!(funnel));
    out.insert("regions".into(), json!(regions));
    out.insert(
        "durations".into(),
        Value::Object(Profile::of(lf.clone(), &[], &DURATIONS)?.overall),
    );
    out.insert("methods".into(), json!(methods(lf.clone(), filters)?));
    out.insert(
        "categories".into(),
        json!(categorizer_per_category(lf, filters)?),
    );
    out.insert("dead_letters".into(), json!(dead));
    out.insert("events_total".into(), json!(events_total));
    out.insert("events_by_type".into(), json!(frames.events_by_type));
    out.insert("drill".into(), Value::Object(drill));
    out.insert("filters".into(), filters.echo());
    out.insert("version".into(), json!(frames.version));
    Ok(Value::Object(out))
}

fn dead_letter_count(frames: &Frames, filters: &Filters) -> PolarsResult<u32> {
    let df = dead_letters_in(frames, filters, None)
        .select([len().alias("n")])
        .collect()?;
    Ok(one(&df)?["n"].as_u64().unwrap_or(0) as u32)
}

fn dead_letters_in(frames: &Frames, filters: &Filters, queue: Option<&str>) -> LazyFrame {
    let mut e = lit(true);
    if let Some(t) = filters.from_ms {
        e = e.and(col("at_ms").gt_eq(lit(t)));
    }
    if let Some(t) = filters.to_ms {
        e = e.and(col("at_ms").lt(lit(t)));
    }
    if let Some(q) = queue {
        e = e.and(col("queue").eq(lit(q)));
    }
    frames.dead_letters.clone().lazy().filter(e)
}

/// `GET /api/analytics/dead-letters`: dead-lettered messages, newest first, with counts by
/// queue.
pub fn dead_letters(
    frames: &Frames,
    filters: &Filters,
    queue: Option<&str>,
    limit: u32,
) -> PolarsResult<(Value, DataFrame)> {
    let lf = dead_letters_in(frames, filters, queue);
    let by_queue = records(
        &lf.clone()
            .group_by([col("queue")])
            .agg([len().alias("messages")])
            .sort(["queue"], SortMultipleOptions::default())
            .collect()?,
    )?;
    let all = lf
        .sort(
            ["at_ms"],
            SortMultipleOptions::default().with_order_descending(true),
        )
        .collect()?;
    let page = all.head(Some(limit as usize));
    Ok((
        json!({
            "total": all.height(),
            "by_queue": by_queue,
            "dead_letters": records(&page)?,
        }),
        all,
    ))
}

/// `GET /api/dashboard/routing`: pools (backlog, load, reassignments, breaches, time to
/// assign) and experts (load, capacity, utilisation, tickets taken and resolved).
pub fn routing(frames: &Frames, filters: &Filters) -> PolarsResult<Value> {
    let lf = tickets(frames, filters)?;
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
    let profile = Profile::of(lf.clone(), &["pool"], &["t_assign"])?;
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
            "held": f.drill_with(&[("status", json!("assigned"))]),
            "reassigned": f.drill_with(&[("reassigned", json!(true))]),
            "breached": f.drill_with(&[("breached", json!("any"))]),
        });
    }

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

/// Experts with their current load (over every open ticket, whatever the filters: load is
/// what they hold now) and what they took and resolved among the filtered tickets.
fn experts(frames: &Frames, filters: &Filters, filtered: LazyFrame) -> PolarsResult<Vec<Value>> {
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

/// A time window cut into equal buckets.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub start_ms: i64,
    pub bucket_ms: i64,
    pub buckets: i64,
}

impl Window {
    /// The `buckets` buckets of `bucket_ms` that end with the one holding `now`.
    pub fn ending_at(now: DateTime<Utc>, bucket_ms: i64, buckets: i64) -> Self {
        let now = now.timestamp_millis();
        let end = now - now.rem_euclid(bucket_ms) + bucket_ms;
        Window {
            start_ms: end - bucket_ms * buckets,
            bucket_ms,
            buckets,
        }
    }

    fn end_ms(&self) -> i64 {
        self.start_ms + self.bucket_ms * self.buckets
    }

    /// The offset from the window's start of the bucket holding the time in `column` (a
    /// multiple of the bucket width; [`Window::index`] turns it into the bucket's index).
    fn bucket(&self, column: &str) -> Expr {
        let offset = col(column) - lit(self.start_ms);
        (offset.clone() - offset % lit(self.bucket_ms)).alias("bucket")
    }

    fn index(&self, offset: i64) -> usize {
        (offset / self.bucket_ms) as usize
    }

    /// Tickets per bucket of the time in `column` that pass `condition`.
    fn counts(&self, lf: LazyFrame, column: &str, condition: Expr) -> PolarsResult<Vec<u64>> {
        let df = lf
            .filter(
                col(column)
                    .gt_eq(lit(self.start_ms))
                    .and(col(column).lt(lit(self.end_ms())))
                    .and(condition),
            )
            .select([self.bucket(column)])
            .group_by([col("bucket")])
            .agg([len().alias("n")])
            .collect()?;
        let mut out = vec![0u64; self.buckets as usize];
        for r in records(&df)? {
            if let (Some(b), Some(n)) = (r["bucket"].as_i64(), r["n"].as_u64()) {
                if let Some(slot) = out.get_mut(self.index(b)) {
                    *slot = n;
                }
            }
        }
        Ok(out)
    }

    /// Mean of `value` per bucket of the time in `column`.
    fn means(&self, lf: LazyFrame, column: &str, value: &str) -> PolarsResult<Vec<Option<f64>>> {
        let df = lf
            .filter(
                col(column)
                    .gt_eq(lit(self.start_ms))
                    .and(col(column).lt(lit(self.end_ms()))),
            )
            .select([self.bucket(column), col(value)])
            .group_by([col("bucket")])
            .agg([col(value).mean().alias("mean")])
            .collect()?;
        let mut out = vec![None; self.buckets as usize];
        for r in records(&df)? {
            if let Some(b) = r["bucket"].as_i64() {
                if let Some(slot) = out.get_mut(self.index(b)) {
                    *slot = r["mean"].as_f64();
                }
            }
        }
        Ok(out)
    }
}

/// `GET /api/analytics/tickets?period=`: tickets created and resolved per bucket of the
/// period (`day`: 24 hours, `week`: 7 days, `month`: 30 days), with their split by status,
/// category and pool.
pub fn volume(
    frames: &Frames,
    filters: &Filters,
    period: &str,
    now: DateTime<Utc>,
) -> PolarsResult<Value> {
    const HOUR: i64 = 3_600_000;
    let window = match period {
        "day" => Window::ending_at(now, HOUR, 24),
        "week" => Window::ending_at(now, 24 * HOUR, 7),
        _ => Window::ending_at(now, 24 * HOUR, 30),
    };
    // The period decides the window; other time filters narrow it.
    let mut scoped = filters.clone();
    scoped.from_ms = Some(
        scoped
            .from_ms
            .map_or(window.start_ms, |f| f.max(window.start_ms)),
    );
    let untimed = Filters {
        from_ms: None,
        to_ms: None,
        ..filters.clone()
    };
    let all = tickets(frames, &untimed)?;
    let created = window.counts(all.clone(), "created_ms", lit(true))?;
    let resolved = window.counts(all.clone(), "resolved_ms", lit(true))?;
    let breached = window.counts(all, "created_ms", col("breached"))?;
    let series: Vec<Value> = (0..window.buckets)
        .map(|i| {
            let start = window.start_ms + i * window.bucket_ms;
            let end = start + window.bucket_ms;
            let bucket = Filters {
                from_ms: Some(start),
                to_ms: Some(end),
                ..untimed.clone()
            };
            json!({
                "start": rfc3339(start),
                "created": created[i as usize],
                "resolved": resolved[i as usize],
                "breached": breached[i as usize],
                "drill": bucket.echo(),
            })
        })
        .collect();
    let lf = tickets(frames, &scoped)?;
    let total = one(&lf.clone().select([len().alias("n")]).collect()?)?;
    let mut by_category = grouped(lf.clone(), "category", vec![])?;
    add_drill(&mut by_category, "category", &scoped, &[]);
    let mut by_pool = grouped(lf.clone(), "pool", vec![])?;
    add_drill(&mut by_pool, "pool", &scoped, &[]);
    let mut by_status = grouped(lf.clone(), "status", vec![])?;
    add_drill(&mut by_status, "status", &scoped, &[]);
    let mut by_priority = grouped(lf, "priority", vec![])?;
    add_drill(&mut by_priority, "priority", &scoped, &[]);
    Ok(json!({
        "period": period,
        "from": rfc3339(window.start_ms),
        "to": rfc3339(window.end_ms()),
        "bucket_seconds": window.bucket_ms / 1000,
        "total": total["n"],
        "series": series,
        "by_status": by_status,
        "by_category": by_category,
        "by_pool": by_pool,
        "by_priority": by_priority,
        "filters": scoped.echo(),
        "version": frames.version,
    }))
}

/// `GET /api/analytics/performance`: how fast tickets move (overall and per pool), how the categorizer decides (method mix, confidence distribution, review and
/// override rates per category) and SLA breaches.
pub fn performance(frames: &Frames, filters: &Filters) -> PolarsResult<Value> {
    let lf = tickets(frames, filters)?;
    // Per pool; per priority (or anything else) through the filters.
    let profile = Profile::of(lf.clone(), &["pool"], &DURATIONS)?;
    let per_pool: Vec<Value> = profile.by[0]
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
    let methods = methods(lf.clone(), filters)?;
    let histogram = confidence_histogram(lf.clone(), filters)?;
    let categories = categorizer_per_category(lf.clone(), filters)?;

    let totals = one(&lf
        .clone()
        .select([
            count_if(col("breach_assign"), "assign"),
            count_if(col("breach_accept"), "accept"),
            count_if(col("breach_resolve"), "resolve"),
            count_if(col("breached"), "any"),
            rate(col("breached"), "rate"),
            len().alias("tickets"),
            rate(col("needs_review"), "needs_review_rate"),
            rate(col("overridden"), "override_rate"),
        ])
        .collect()?)?;
    let review: Map<String, Value> = ["tickets", "needs_review_rate", "override_rate"]
        .iter()
        .map(|k| ((*k).to_owned(), totals[*k].clone()))
        .collect();
    let breaches: Map<String, Value> = ["assign", "accept", "resolve", "any", "rate"]
        .iter()
        .map(|k| ((*k).to_owned(), totals[*k].clone()))
        .collect();
    let mut breaches_by_pool = grouped(
        lf.clone().filter(col("breached")),
        "pool",
        vec![
            count_if(col("breach_assign"), "assign"),
            count_if(col("breach_accept"), "accept"),
            count_if(col("breach_resolve"), "resolve"),
        ],
    )?;
    add_drill(
        &mut breaches_by_pool,
        "pool",
        filters,
        &[("breached", json!("any"))],
    );
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
        "durations": profile.overall,
        "per_pool": per_pool,
        "categorizer": {
            "tickets": review["tickets"],
            "needs_review_rate": review["needs_review_rate"],
            "override_rate": review["override_rate"],
            "methods": methods,
            "confidence_histogram": histogram,
            "categories": categories,
        },
        "sla_breaches": { "totals": breaches, "by_pool": breaches_by_pool },
        "drill": { "slowest": slowest },
        "filters": filters.echo(),
        "version": frames.version,
    }))
}

/// Tickets per tenth of confidence.
fn confidence_histogram(lf: LazyFrame, filters: &Filters) -> PolarsResult<Vec<Value>> {
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

/// `GET /api/analytics/trends?days=`: per day over the last `days` days, tickets created,
/// resolved, sent to review, breached and reassigned, mean time to assign; and the change
/// against the `days` days before.
pub fn trends(
    frames: &Frames,
    filters: &Filters,
    days: i64,
    now: DateTime<Utc>,
) -> PolarsResult<Value> {
    const DAY: i64 = 86_400_000;
    let window = Window::ending_at(now, DAY, days);
    let previous = Window {
        start_ms: window.start_ms - DAY * days,
        bucket_ms: DAY * days,
        buckets: 1,
    };
    let current = Window {
        start_ms: window.start_ms,
        bucket_ms: DAY * days,
        buckets: 1,
    };
    let untimed = Filters {
        from_ms: None,
        to_ms: None,
        ..filters.clone()
    };
    let lf = tickets(frames, &untimed)?;
    let created = window.counts(lf.clone(), "created_ms", lit(true))?;
    let resolved = window.counts(lf.clone(), "resolved_ms", lit(true))?;
    let review = window.counts(lf.clone(), "created_ms", col("needs_review"))?;
    let breached = window.counts(lf.clone(), "created_ms", col("breached"))?;
    let reassigned = window.counts(lf.clone(), "created_ms", col("reassignments").gt(lit(0u32)))?;
    let assign = window.means(lf.clone(), "created_ms", "t_assign")?;
    let days_out: Vec<Value> = (0..window.buckets as usize)
        .map(|i| {
            let start = window.start_ms + i as i64 * DAY;
            json!({
                "day": rfc3339(start),
                "created": created[i],
                "resolved": resolved[i],
                "needs_review": review[i],
                "breached": breached[i],
                "reassigned": reassigned[i],
                "mean_time_to_assign": assign[i],
                "drill": Filters { from_ms: Some(start), to_ms: Some(start + DAY), ..untimed.clone() }.echo(),
            })
        })
        .collect();
    let mut change = Map::new();
    for (name, column, condition) in [
        ("created", "created_ms", lit(true)),
        ("resolved", "resolved_ms", lit(true)),
        ("needs_review", "created_ms", col("needs_review")),
        ("breached", "created_ms", col("breached")),
    ] {
        let now_n = current.counts(lf.clone(), column, condition.clone())?[0];
        let before = previous.counts(lf.clone(), column, condition)?[0];
        change.insert(
            name.into(),
            json!({
                "current": now_n,
                "previous": before,
                "change": (before > 0).then(|| (now_n as f64 - before as f64) / before as f64),
            }),
        );
    }
    Ok(json!({
        "days": days,
        "from": rfc3339(window.start_ms),
        "to": rfc3339(window.end_ms()),
        "series": days_out,
        "change": change,
        "filters": untimed.echo(),
        "version": frames.version,
    }))
}

/// `GET /api/analytics/pools`: every pool's figures; with `pool`, one pool's.
pub fn pools(frames: &Frames, filters: &Filters) -> PolarsResult<Value> {
    let routing = routing(frames, filters)?;
    Ok(json!({ "pools": routing["pools"], "filters": filters.echo(), "version": frames.version }))
}

/// The columns of a drill-down, in the order they are listed and exported.
pub const DRILL_COLUMNS: [&str; 27] = [
    "ticket_id",
    "title",
    "status",
    "priority",
    "region",
    "channel",
    "customer",
    "category",
    "original_category",
    "pool",
    "method",
    "confidence",
    "needs_review",
    "overridden",
    "expert_name",
    "expert_id",
    "created_ms",
    "first_assigned_ms",
    "accepted_ms",
    "resolved_ms",
    "t_categorize",
    "t_assign",
    "t_accept",
    "t_resolve",
    "reassignments",
    "breached",
    "escalated",
];

/// The tickets behind a figure: those passing `filters` and `drill`, slowest or newest
/// first. Returns the total and the requested page as a frame.
pub fn drilldown(
    frames: &Frames,
    filters: &Filters,
    drill: &Drill,
    offset: u32,
    limit: Option<u32>,
) -> PolarsResult<(usize, DataFrame)> {
    let lf = tickets(frames, filters)?.filter(drill.expr());
    let sorted = match drill.slowest {
        Some(column) => lf.filter(col(column).is_not_null()).sort(
            [column],
            SortMultipleOptions::default().with_order_descending(true),
        ),
        None => lf.sort(
            ["created_ms"],
            SortMultipleOptions::default()
                .with_order_descending(true)
                .with_nulls_last(true),
        ),
    };
    let all = sorted
        .select(DRILL_COLUMNS.iter().map(|c| col(*c)).collect::<Vec<_>>())
        .collect()?;
    let total = all.height();
    let page = match limit {
        Some(n) => all.slice(i64::from(offset), n as usize),
        None => all.slice(i64::from(offset), total),
    };
    Ok((total, page))
}

/// The frame ready to export: times as UTC datetimes instead of epoch milliseconds.
pub fn exportable(df: DataFrame) -> PolarsResult<DataFrame> {
    let times: Vec<Expr> = df
        .columns()
        .iter()
        .filter_map(|c| {
            c.name()
                .strip_suffix("_ms")
                .map(|n| (c.name().clone(), n.to_owned()))
        })
        .map(|(ms, name)| {
            col(ms)
                .cast(DataType::Datetime(TimeUnit::Milliseconds, None))
                .alias(format!("{name}_at"))
        })
        .collect();
    let order: Vec<Expr> = df
        .columns()
        .iter()
        .map(|c| {
            let name = c.name().as_str();
            col(name
                .strip_suffix("_ms")
                .map_or(name.to_owned(), |n| format!("{n}_at")))
        })
        .collect();
    df.lazy().with_columns(times).select(order).collect()
}

/// The frame as CSV bytes.
pub fn to_csv(mut df: DataFrame) -> PolarsResult<Vec<u8>> {
    let mut out = Vec::new();
    CsvWriter::new(&mut out).finish(&mut df)?;
    Ok(out)
}

/// The frame as Parquet bytes.
pub fn to_parquet(mut df: DataFrame) -> PolarsResult<Vec<u8>> {
    let mut out = Vec::new();
    ParquetWriter::new(&mut out).finish(&mut df)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_agree_with_polars_linear_quantiles() {
        for n in [1usize, 2, 3, 10, 101, 1000] {
            let values: Vec<f64> = (0..n)
                .map(|i| ((i * 7919) % 997) as f64 / 7.0 - 20.0 + (i % 3) as f64)
                .collect();
            let df =
                DataFrame::new(n, vec![Column::new("x".into(), values.clone())]).expect("a frame");
            let ours = percentiles(values);
            for ((_, q), ours) in PERCENTILES.iter().zip(ours) {
                let theirs = df
                    .clone()
                    .lazy()
                    .select([col("x").quantile(lit(*q), QuantileMethod::Linear)])
                    .collect()
                    .expect("a quantile");
                let theirs = cell(theirs.columns()[0].get(0).expect("one row"));
                let ours = ours.expect("values exist");
                assert!(
                    (ours - theirs.as_f64().expect("a number")).abs() < 1e-9,
                    "n={n} q={q}: {ours} vs {theirs}"
                );
            }
        }
        assert_eq!(percentiles(Vec::new()), [None, None, None]);
    }
}

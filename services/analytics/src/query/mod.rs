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

mod export;
mod filters;
mod over_time;
mod performance;
mod routing;
mod stats;
mod summary;

pub use export::{drilldown, exportable, to_csv, to_parquet, DRILL_COLUMNS};
pub use filters::{Drill, Filters, DURATIONS, STAGES};
use filters::{CLOSED, PERCENTILES};
pub use over_time::{trends, volume, Window};
pub use performance::performance;
pub use routing::{pools, routing};
pub use stats::percentiles;
use stats::Profile;
pub use summary::{dead_letters, summary};

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
fn tickets(frames: &Frames, filters: &Filters) -> LazyFrame {
    let all = frames.tickets.clone().lazy();
    if *filters == Filters::default() {
        return all;
    }
    all.filter(filters.expr())
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

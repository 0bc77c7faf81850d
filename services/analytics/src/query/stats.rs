//! Percentiles by selection, and the durations of a set of tickets.

use super::*;

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
pub(super) fn order_key(v: f64) -> u64 {
    let bits = v.to_bits();
    if bits >> 63 == 1 {
        !bits
    } else {
        bits | (1 << 63)
    }
}

pub(super) fn from_order_key(key: u64) -> f64 {
    if key >> 63 == 1 {
        f64::from_bits(key & !(1 << 63))
    } else {
        f64::from_bits(!key)
    }
}

pub(super) fn percentile_json(values: Vec<f64>) -> Value {
    let n = values.len();
    let [p50, p90, p99] = percentiles(values);
    json!({ "n": n, "p50": p50, "p90": p90, "p99": p99 })
}

/// The durations of a set of tickets: p50/p90/p99 and count of every duration column, in
/// seconds, over all of them and per value of each key column.
pub(super) struct Profile {
    pub(super) overall: Map<String, Value>,
    /// Per key column, in the order given: value -> (tickets, durations).
    pub(super) by: Vec<BTreeMap<String, Group>>,
}

/// A group's ticket count and durations.
pub(super) type Group = (u64, Map<String, Value>);

impl Profile {
    /// Groups by polars' hash group-by (row indices per group), quantiles by selection
    /// ([`percentiles`]). Only the duration columns `which` are computed.
    pub(super) fn of(
        lf: LazyFrame,
        keys: &[&str],
        which: &[&'static str],
    ) -> PolarsResult<Profile> {
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

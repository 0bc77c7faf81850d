//! Percentiles by selection, and the durations of a set of tickets.

use rayon::prelude::*;

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
    /// Groups by polars' hash group-by, then reads each duration column once, in row order,
    /// into the list of its row's group; quantiles by selection ([`percentiles`]), the lists
    /// spread over threads. Only the duration columns `which` are computed.
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
                .zip(
                    lists
                        .into_par_iter()
                        .map(percentile_json)
                        .collect::<Vec<_>>(),
                )
                .map(|(d, v)| (d.trim_start_matches("t_").to_owned(), v))
                .collect()
        };
        let overall = named(
            durations
                .iter()
                .map(|ca| ca.iter().flatten().collect())
                .collect(),
        );
        let mut by = Vec::with_capacity(keys.len());
        for key in keys {
            let (names, group_of) = group_ids(&df, key)?;
            // lists[group][duration]
            let mut lists: Vec<Vec<Vec<f64>>> = vec![vec![Vec::new(); which.len()]; names.len()];
            let mut sizes = vec![0u64; names.len()];
            for g in group_of.iter().flatten() {
                sizes[*g as usize] += 1;
            }
            for (d, ca) in durations.iter().enumerate() {
                for (g, v) in group_of.iter().zip(ca.iter()) {
                    if let (Some(g), Some(v)) = (g, v) {
                        lists[*g as usize][d].push(v);
                    }
                }
            }
            let answers: Vec<Map<String, Value>> = lists.into_par_iter().map(&named).collect();
            by.push(
                names
                    .into_iter()
                    .zip(sizes.into_iter().zip(answers))
                    .collect(),
            );
        }
        Ok(Profile { overall, by })
    }
}

/// The distinct non-null values of the string column `key` (found by polars' hash group-by),
/// and each row's index among them (`None` for a null).
fn group_ids(df: &DataFrame, key: &str) -> PolarsResult<(Vec<String>, Vec<Option<u32>>)> {
    let values = df.column(key)?.str()?;
    let grouping = df.group_by([key])?;
    let mut names = Vec::new();
    let mut group_of = vec![None; df.height()];
    let mut add = |first: IdxSize, rows: &mut dyn Iterator<Item = usize>| {
        if let Some(name) = values.get(first as usize) {
            let g = names.len() as u32;
            names.push(name.to_owned());
            rows.for_each(|i| group_of[i] = Some(g));
        }
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
    Ok((names, group_of))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profile_groups_durations_by_key_skipping_nulls() {
        let df = DataFrame::new(
            6,
            vec![
                Column::new(
                    "pool".into(),
                    [Some("a"), Some("b"), Some("a"), None, Some("a"), Some("b")],
                ),
                Column::new(
                    "t_assign".into(),
                    [
                        Some(1.0),
                        Some(10.0),
                        Some(3.0),
                        Some(100.0),
                        None,
                        Some(20.0),
                    ],
                ),
                Column::new(
                    "t_resolve".into(),
                    [None, Some(5.0), Some(7.0), None, Some(9.0), None],
                ),
            ],
        )
        .expect("a frame");
        let profile =
            Profile::of(df.lazy(), &["pool"], &["t_assign", "t_resolve"]).expect("a profile");

        assert_eq!(profile.overall["assign"]["n"], json!(5));
        assert_eq!(profile.overall["assign"]["p50"], json!(10.0));
        assert_eq!(profile.overall["resolve"]["n"], json!(3));
        let groups = &profile.by[0];
        assert_eq!(groups.len(), 2, "the null key is no group: {groups:?}");
        let (tickets, a) = &groups["a"];
        assert_eq!(*tickets, 3);
        assert_eq!(a["assign"]["n"], json!(2));
        assert_eq!(a["assign"]["p50"], json!(2.0));
        assert_eq!(a["resolve"]["n"], json!(2));
        assert_eq!(a["resolve"]["p50"], json!(8.0));
        let (tickets, b) = &groups["b"];
        assert_eq!(*tickets, 2);
        assert_eq!(b["assign"]["p50"], json!(15.0));
        assert_eq!(b["resolve"]["n"], json!(1));
        assert_eq!(b["resolve"]["p99"], json!(5.0));
    }
}

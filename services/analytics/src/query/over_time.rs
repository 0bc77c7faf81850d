//! Figures over time: `GET /api/analytics/tickets?period=` and `/api/analytics/trends`.

use super::*;

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

    pub(super) fn end_ms(&self) -> i64 {
        self.start_ms + self.bucket_ms * self.buckets
    }

    /// The offset from the window's start of the bucket holding the time in `column` (a
    /// multiple of the bucket width; [`Window::index`] turns it into the bucket's index).
    pub(super) fn bucket(&self, column: &str) -> Expr {
        let offset = col(column) - lit(self.start_ms);
        (offset.clone() - offset % lit(self.bucket_ms)).alias("bucket")
    }

    pub(super) fn index(&self, offset: i64) -> usize {
        (offset / self.bucket_ms) as usize
    }

    /// Tickets per bucket of the time in `column` that pass `condition`.
    pub(super) fn counts(
        &self,
        lf: LazyFrame,
        column: &str,
        condition: Expr,
    ) -> PolarsResult<Vec<u64>> {
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
    pub(super) fn means(
        &self,
        lf: LazyFrame,
        column: &str,
        value: &str,
    ) -> PolarsResult<Vec<Option<f64>>> {
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
    // The period decides the window (the handler refuses `from` and `to`).
    let untimed = Filters {
        from_ms: None,
        to_ms: None,
        ..filters.clone()
    };
    let scoped = Filters {
        from_ms: Some(window.start_ms),
        ..untimed.clone()
    };
    let all = tickets(frames, &untimed);
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
    let lf = tickets(frames, &scoped);
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
    let lf = tickets(frames, &untimed);
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

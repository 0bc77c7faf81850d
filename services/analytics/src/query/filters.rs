//! The filters every query takes, and the narrower ones of drill-downs.

use super::*;

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
    pub(super) fn expr(&self) -> Expr {
        let mut e = lit(true);
        if let Some(from) = self.from_ms {
            e = e.and(col("created_ms").gt_eq(lit(from)));
        }
        if let Some(to) = self.to_ms {
            e = e.and(col("created_ms").lt(lit(to)));
        }
        for (name, v) in self.columns() {
            e = e.and(col(name).eq(lit(v)));
        }
        e
    }

    /// The column filters that are set, as (column, value).
    fn columns(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("pool", &self.pool),
            ("category", &self.category),
            ("region", &self.region),
            ("priority", &self.priority),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref()?)))
    }

    /// The filters as query parameters, the base of every drill-down link.
    pub(super) fn drill(&self) -> Map<String, Value> {
        let mut m = Map::new();
        if let Some(t) = self.from_ms {
            m.insert("from".into(), json!(rfc3339(t)));
        }
        if let Some(t) = self.to_ms {
            m.insert("to".into(), json!(rfc3339(t)));
        }
        for (name, v) in self.columns() {
            m.insert(name.into(), json!(v));
        }
        m
    }

    pub(super) fn drill_with(&self, extra: &[(&str, Value)]) -> Value {
        let mut m = self.drill();
        for (k, v) in extra {
            m.insert((*k).to_owned(), v.clone());
        }
        Value::Object(m)
    }

    pub(super) fn echo(&self) -> Value {
        self.drill_with(&[])
    }
}

/// Narrows the ticket list of a drill-down beyond the common filters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Drill {
    pub status: Option<TicketStatus>,
    /// `open`: not resolved, closed or cancelled.
    pub open: Option<bool>,
    /// `held`: with an expert (assigned or accepted).
    pub held: Option<bool>,
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
pub(super) const CLOSED: [&str; 3] = ["resolved", "closed", "cancelled"];
pub(super) const PERCENTILES: [(&str, f64); 3] = [("p50", 0.5), ("p90", 0.9), ("p99", 0.99)];

impl Drill {
    pub(super) fn expr(&self) -> Expr {
        let mut e = lit(true);
        let flags = [
            ("needs_review", self.needs_review),
            ("overridden", self.overridden),
            ("escalated", self.escalated),
            ("held", self.held),
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

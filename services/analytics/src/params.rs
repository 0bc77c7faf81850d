//! Query-string parameters of the analytics API, read strictly: a parameter the endpoint does
//! not know, or a value it cannot read, is a 400 that says which and why.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, Utc};

use sysops_platform::ApiError;

use crate::query::Filters;

/// The parameters of one request, consumed as the endpoint reads them.
#[derive(Debug, Default)]
pub struct Params {
    values: BTreeMap<String, String>,
    /// Every parameter the endpoint asked for, for the error message.
    known: Vec<&'static str>,
}

impl Params {
    pub fn new(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut values = BTreeMap::new();
        for (k, v) in pairs {
            if values.insert(k.clone(), v).is_some() {
                return Err(ApiError::bad_request(format!(
                    "parameter `{k}` is given more than once"
                )));
            }
        }
        Ok(Params {
            values,
            known: Vec::new(),
        })
    }

    /// The value of `key`, if given and not empty.
    pub fn text(&mut self, key: &'static str) -> Option<String> {
        self.known.push(key);
        self.values.remove(key).filter(|v| !v.trim().is_empty())
    }

    /// The value of `key` read as a `T`; `expected` describes valid values for the message.
    pub fn parse<T: FromStr>(
        &mut self,
        key: &'static str,
        expected: &str,
    ) -> Result<Option<T>, ApiError> {
        self.text(key)
            .map(|v| {
                v.trim().parse::<T>().map_err(|_| {
                    ApiError::bad_request(format!("`{key}` must be {expected}, not `{v}`"))
                })
            })
            .transpose()
    }

    /// One of `choices`, or `default` when absent.
    pub fn choice(
        &mut self,
        key: &'static str,
        choices: &[&'static str],
        default: &'static str,
    ) -> Result<&'static str, ApiError> {
        match self.text(key) {
            None => Ok(default),
            Some(v) => choices.iter().copied().find(|c| *c == v).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`{key}` must be one of {}, not `{v}`",
                    choices.join(", ")
                ))
            }),
        }
    }

    /// A point in time: RFC 3339 (`2026-11-23T10:00:00Z`) or a span back from now (`90m`,
    /// `24h`, `7d`), as epoch milliseconds.
    pub fn time(&mut self, key: &'static str, now: DateTime<Utc>) -> Result<Option<i64>, ApiError> {
        let Some(v) = self.text(key) else {
            return Ok(None);
        };
        if let Ok(t) = DateTime::parse_from_rfc3339(v.trim()) {
            return Ok(Some(t.timestamp_millis()));
        }
        let span = parse_span(v.trim()).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{key}` must be an RFC 3339 time or a span back from now such as 90m, 24h or 7d, not `{v}`"
            ))
        })?;
        Ok(Some(now.timestamp_millis() - span))
    }

    /// The filters every metric takes: `from`, `to`, `pool`, `category`, `region`,
    /// `priority`.
    pub fn filters(&mut self, now: DateTime<Utc>) -> Result<Filters, ApiError> {
        let filters = Filters {
            from_ms: self.time("from", now)?,
            to_ms: self.time("to", now)?,
            pool: self.text("pool"),
            category: self.text("category"),
            region: self.text("region"),
            priority: self.text("priority"),
        };
        if let (Some(a), Some(b)) = (filters.from_ms, filters.to_ms) {
            if a >= b {
                return Err(ApiError::bad_request("`from` must be before `to`"));
            }
        }
        Ok(filters)
    }

    /// Refuses the request if it carries a parameter nobody read.
    pub fn finish(self) -> Result<(), ApiError> {
        match self.values.keys().next() {
            None => Ok(()),
            Some(unknown) => {
                let mut known = self.known;
                known.sort_unstable();
                known.dedup();
                Err(ApiError::bad_request(format!(
                    "unknown parameter `{unknown}`; this endpoint takes {}",
                    known.join(", ")
                )))
            }
        }
    }
}

/// `90m`, `24h`, `7d` in milliseconds.
fn parse_span(v: &str) -> Option<i64> {
    let unit = match v.chars().last()? {
        'm' => 60_000,
        'h' => 3_600_000,
        'd' => 86_400_000,
        _ => return None,
    };
    let n: i64 = v[..v.len() - 1].parse().ok()?;
    (n > 0).then_some(n.checked_mul(unit)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> Params {
        Params::new(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
        .expect("valid")
    }

    #[test]
    fn times_are_absolute_or_relative() {
        let now = DateTime::parse_from_rfc3339("2026-11-23T12:00:00Z")
            .expect("valid")
            .with_timezone(&Utc);
        let mut p = params(&[("from", "24h"), ("to", "2026-11-23T11:00:00Z")]);
        let f = p.filters(now).expect("valid");
        assert_eq!(f.from_ms, Some(now.timestamp_millis() - 86_400_000));
        assert_eq!(f.to_ms, Some(now.timestamp_millis() - 3_600_000));
        p.finish().expect("valid");
        let mut bad = params(&[("from", "yesterday")]);
        let e = bad.filters(now).expect_err("refused");
        assert!(e.error.contains("yesterday"), "{}", e.error);
    }

    #[test]
    fn unknown_and_repeated_parameters_are_refused() {
        let mut p = params(&[("pool", "network"), ("colour", "blue")]);
        p.text("pool");
        let e = p.finish().expect_err("refused").error;
        assert!(e.contains("colour") && e.contains("pool"), "{e}");
        assert!(Params::new(vec![("a".into(), "1".into()), ("a".into(), "2".into())]).is_err());
    }
}

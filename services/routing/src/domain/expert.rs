//! An expert as an admin describes it, parsed into a value the store can trust.

use std::collections::BTreeMap;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};

use sysops_contract::Availability;

/// Body of `POST /api/experts` and `PUT /api/experts/{id}`; also one entry of the seed roster.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpertRequest {
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    /// Pool name -> proficiency in (0, 1].
    #[schema(value_type = std::collections::HashMap<String, f32>)]
    pub skills: BTreeMap<String, f32>,
    /// Regions served (any when empty).
    #[serde(default)]
    pub regions: Vec<String>,
    /// `available` unless given.
    #[serde(default = "default_availability")]
    pub availability: Availability,
    /// Most open tickets at once; 0 takes no new work.
    #[schema(minimum = 0, maximum = 1000)]
    pub capacity: i32,
    /// Daily shift window in UTC, `HH:MM`; both or neither.
    #[serde(default)]
    #[schema(pattern = "^[0-2][0-9]:[0-5][0-9]$")]
    pub shift_start: Option<String>,
    #[serde(default)]
    pub shift_end: Option<String>,
}

fn default_availability() -> Availability {
    Availability::Available
}

/// A field that is wrong, for the 422 detail.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// A valid expert description.
#[derive(Debug, Clone, PartialEq)]
pub struct NewExpert {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub skills: BTreeMap<String, f32>,
    pub regions: Vec<String>,
    pub availability: Availability,
    pub capacity: i32,
    pub shift: Option<(NaiveTime, NaiveTime)>,
}

/// The most a capacity may be; beyond it the number is a typo.
const MAX_CAPACITY: i32 = 1000;

impl NewExpert {
    /// Checks every field against the pools that exist; all problems are reported at once.
    pub fn parse(req: ExpertRequest, known_pools: &[&str]) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, message: String| {
            errors.push(FieldError {
                field: field.into(),
                message,
            })
        };
        let name = req.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 200 {
            fail("name", "must have 1 to 200 characters".into());
        }
        let email = clean(req.email);
        if email
            .as_deref()
            .is_some_and(|e| !e.contains('@') || e.len() > 320)
        {
            fail("email", "is not an e-mail address".into());
        }
        let phone = clean(req.phone);
        if phone.as_deref().is_some_and(|p| {
            p.len() > 40
                || !p
                    .chars()
                    .all(|c| c.is_ascii_digit() || " +-().".contains(c))
        }) {
            fail("phone", "may hold only digits, spaces and + - ( ) .".into());
        }
        if req.skills.is_empty() {
            fail("skills", "must name at least one pool".into());
        }
        for (pool, proficiency) in &req.skills {
            if !known_pools.contains(&pool.as_str()) {
                fail(
                    "skills",
                    format!("`{pool}` is not a pool; known: {}", known_pools.join(", ")),
                );
            }
            if !(*proficiency > 0.0 && *proficiency <= 1.0) {
                fail(
                    "skills",
                    format!("proficiency for `{pool}` must be in (0, 1]"),
                );
            }
        }
        let mut regions: Vec<String> = req
            .regions
            .iter()
            .map(|r| r.trim().to_lowercase())
            .filter(|r| !r.is_empty())
            .collect();
        regions.sort();
        regions.dedup();
        if regions.iter().any(|r| r.len() > 64) {
            fail("regions", "a region has at most 64 characters".into());
        }
        if !(0..=MAX_CAPACITY).contains(&req.capacity) {
            fail("capacity", format!("must be between 0 and {MAX_CAPACITY}"));
        }
        let shift = match (req.shift_start.as_deref(), req.shift_end.as_deref()) {
            (None, None) => None,
            (Some(s), Some(e)) => match (parse_time(s), parse_time(e)) {
                (Some(s), Some(e)) if s != e => Some((s, e)),
                _ => {
                    fail("shift_start", "shift times are HH:MM and differ".into());
                    None
                }
            },
            _ => {
                fail(
                    "shift_start",
                    "give both shift_start and shift_end, or neither".into(),
                );
                None
            }
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewExpert {
            name,
            email,
            phone,
            skills: req.skills,
            regions,
            availability: req.availability,
            capacity: req.capacity,
            shift,
        })
    }
}

fn clean(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn parse_time(s: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M").ok()
}

/// Whether `now` falls in a daily window that may wrap past midnight (22:00-06:00).
pub fn in_shift(shift: Option<(NaiveTime, NaiveTime)>, now: NaiveTime) -> bool {
    match shift {
        None => true,
        Some((start, end)) if start < end => start <= now && now < end,
        Some((start, end)) => now >= start || now < end,
    }
}

/// The availability as stored.
pub fn availability_str(a: Availability) -> &'static str {
    match a {
        Availability::Available => "available",
        Availability::Busy => "busy",
        Availability::Off => "off",
    }
}

/// The stored availability, read back.
pub fn parse_availability(s: &str) -> Availability {
    match s {
        "available" => Availability::Available,
        "busy" => Availability::Busy,
        _ => Availability::Off,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> ExpertRequest {
        serde_json::from_value(serde_json::json!({
            "name": " Ada ", "skills": {"printers": 0.8}, "regions": ["EU", "eu", " "], "capacity": 3
        }))
        .expect("valid json")
    }

    #[test]
    fn a_valid_request_is_normalised() {
        let e = NewExpert::parse(request(), &["printers"]).expect("valid");
        assert_eq!(e.name, "Ada");
        assert_eq!(e.regions, vec!["eu".to_owned()]);
        assert_eq!(e.availability, Availability::Available);
        assert_eq!(e.shift, None);
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut req = request();
        req.name = String::new();
        req.capacity = -1;
        req.skills.insert("nowhere".into(), 2.0);
        req.shift_start = Some("9:00".into());
        let errors = NewExpert::parse(req, &["printers"]).expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"name"));
        assert!(fields.contains(&"capacity"));
        assert!(fields.contains(&"skills"));
        assert!(fields.contains(&"shift_start"));
    }

    #[test]
    fn shift_windows_may_wrap_past_midnight() {
        let t = |h| NaiveTime::from_hms_opt(h, 0, 0).expect("valid hour");
        assert!(in_shift(Some((t(9), t(17))), t(12)));
        assert!(!in_shift(Some((t(9), t(17))), t(17)));
        assert!(in_shift(Some((t(22), t(6))), t(23)));
        assert!(in_shift(Some((t(22), t(6))), t(1)));
        assert!(!in_shift(Some((t(22), t(6))), t(12)));
        assert!(in_shift(None, t(3)));
    }
}

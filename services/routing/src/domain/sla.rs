//! SLA clocks per priority: time to assign, time to accept, time to resolve.

use std::time::Duration;

use sysops_contract::{Priority, SlaClock};

/// The limits of one clock for each priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockLimits {
    pub urgent: Duration,
    pub high: Duration,
    pub normal: Duration,
    pub low: Duration,
}

impl ClockLimits {
    pub fn for_priority(&self, p: Priority) -> Duration {
        match p {
            Priority::Urgent => self.urgent,
            Priority::High => self.high,
            Priority::Normal => self.normal,
            Priority::Low => self.low,
        }
    }

    /// Parses `urgent=15m,high=30m,normal=1h,low=4h`; every priority must be given.
    /// Units: `s`, `m`, `h`, `d`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut found = [None; 4];
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| format!("`{part}` is not priority=duration"))?;
            let priority: Priority = name.trim().parse()?;
            found[priority as usize] = Some(parse_duration(value.trim())?);
        }
        match found {
            [Some(low), Some(normal), Some(high), Some(urgent)] => Ok(ClockLimits {
                urgent,
                high,
                normal,
                low,
            }),
            _ => Err(format!(
                "`{s}` must give urgent, high, normal and low, e.g. urgent=15m,high=30m,normal=1h,low=4h"
            )),
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{s}` is not a duration like 90s, 15m, 2h, 1d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{s}` is not a duration like 90s, 15m, 2h, 1d")),
    };
    if secs == 0 {
        return Err(format!("`{s}`: a clock must be longer than zero"));
    }
    Ok(Duration::from_secs(secs))
}

/// The three clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaPolicy {
    pub assign: ClockLimits,
    pub accept: ClockLimits,
    pub resolve: ClockLimits,
}

impl SlaPolicy {
    pub fn limit(&self, clock: SlaClock, p: Priority) -> Duration {
        match clock {
            SlaClock::Assign => self.assign.for_priority(p),
            SlaClock::Accept => self.accept.for_priority(p),
            SlaClock::Resolve => self.resolve.for_priority(p),
        }
    }
}

/// The stored name of a clock.
pub fn clock_str(c: SlaClock) -> &'static str {
    match c {
        SlaClock::Assign => "assign",
        SlaClock::Accept => "accept",
        SlaClock::Resolve => "resolve",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_read_per_priority() {
        let l = ClockLimits::parse("urgent=15m, high=30m,normal=1h,low=2d").expect("valid");
        assert_eq!(l.for_priority(Priority::Urgent), Duration::from_secs(900));
        assert_eq!(l.for_priority(Priority::Low), Duration::from_secs(172_800));
    }

    #[test]
    fn incomplete_or_malformed_limits_are_refused() {
        assert!(ClockLimits::parse("urgent=15m").is_err());
        assert!(ClockLimits::parse("urgent=15x,high=1m,normal=1m,low=1m").is_err());
        assert!(ClockLimits::parse("urgent=0s,high=1m,normal=1m,low=1m").is_err());
        assert!(ClockLimits::parse("soon=1m,urgent=1m,high=1m,normal=1m,low=1m").is_err());
    }
}

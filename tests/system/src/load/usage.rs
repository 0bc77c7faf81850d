//! CPU and memory of the service processes over a run, read from `/proc`.

use std::collections::HashMap;

use serde::Serialize;

/// CPU and memory of one service process over the run.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessUsage {
    pub name: String,
    pub pid: u32,
    /// Percent of one core, averaged over the run.
    pub cpu_percent: f64,
    pub rss_mb: f64,
    pub peak_rss_mb: f64,
}

const SERVICES: [&str; 5] = ["gateway", "tickets", "categorizer", "routing", "analytics"];

/// Resident memory of process `pid` now and at its peak (VmRSS, VmHWM), in MB.
pub fn memory_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mb = |field: &str| {
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
    };
    Some((mb("VmRSS:")?, mb("VmHWM:")?))
}

/// (name, pid) -> (cpu ticks, rss MB, peak rss MB) of every running service process.
pub(super) type Snapshot = HashMap<(String, u32), (u64, f64, f64)>;

/// Reads the service processes from /proc, by their command name.
pub(super) fn usage_snapshot() -> Snapshot {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
        let name = comm.trim();
        if !SERVICES.contains(&name) {
            continue;
        }
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // Fields after the command (which is in parentheses): utime and stime are 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks = |i: usize| {
            fields
                .get(i)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        let cpu = ticks(11) + ticks(12);
        let (rss, peak) = memory_mb(pid).unwrap_or_default();
        out.insert((name.to_owned(), pid), (cpu, rss, peak));
    }
    out
}

/// Linux counts CPU time in ticks of 1/100 s (`CLK_TCK`).
const TICKS_PER_SECOND: f64 = 100.0;

pub(super) fn usage(before: &Snapshot, after: &Snapshot, seconds: f64) -> Vec<ProcessUsage> {
    let mut out: Vec<ProcessUsage> = after
        .iter()
        .map(|((name, pid), (cpu, rss, peak))| {
            let start = before.get(&(name.clone(), *pid)).map_or(0, |b| b.0);
            ProcessUsage {
                name: name.clone(),
                pid: *pid,
                cpu_percent: (cpu.saturating_sub(start)) as f64
                    / TICKS_PER_SECOND
                    / seconds.max(1e-9)
                    * 100.0,
                rss_mb: *rss,
                peak_rss_mb: *peak,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name).then(a.pid.cmp(&b.pid)));
    out
}

//! CPU priority of the categorizer. Its work waits in a durable queue, while the services that
//! take tickets from people answer them while they wait; on a machine they share, the
//! categorizer should take the cores that are left over, and catch up once the others are idle.
//!
//! Linux gives each thread its own nice value, and a thread starts with the nice value of the
//! thread that made it. [`lower`] is called on the main thread before any other thread exists,
//! so the runtime's workers, the embedding threads and training all run at that value.
//!
//! Nice values weigh threads against each other only within one scheduling group. Where the
//! kernel groups processes by session (autogroup, `/proc/sys/kernel/sched_autogroup_enabled`),
//! a process that leads its own session is alone in its group and competes as a whole with
//! every other session, whatever its threads' nice values.
//! Such a group has a nice value of its own (`/proc/self/autogroup`, see sched(7)), which is
//! lowered too. A process sharing its session with others leaves the group alone, since that
//! would slow the others as well. Where the cgroup CPU controller groups processes (containers),
//! autogroups do not apply and the cgroup's CPU weight is the operator's to set.

/// What [`lower`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lowered {
    /// The calling thread's nice value afterwards.
    pub thread_nice: i32,
    /// Whether the session's scheduling group (autogroup) got the same value.
    pub autogroup: bool,
}

/// Sets the calling thread's nice value to `nice` (0 to 19; a lower value than the current one
/// needs privileges and is refused by the kernel), and the autogroup's when this process leads
/// its own session.
#[cfg(target_os = "linux")]
pub fn lower(nice: i32) -> std::io::Result<Lowered> {
    use rustix::process;
    let nice = nice.clamp(0, 19);
    // On Linux, the process id 0 (None) names the calling thread, not the whole process.
    process::setpriority_process(None, nice)?;
    let leads_session = session_id()? == process::getpid().as_raw_nonzero().get();
    let autogroup =
        leads_session && std::fs::write("/proc/self/autogroup", nice.to_string()).is_ok();
    Ok(Lowered {
        thread_nice: thread_nice()?,
        autogroup,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn lower(nice: i32) -> std::io::Result<Lowered> {
    let _ = nice;
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "per-thread nice values are Linux-only",
    ))
}

/// The session id of this process, as `/proc/self/stat` gives it: 0 where the session was
/// made outside this process's PID namespace (a container's first process, say), which
/// `getsid(2)` also returns there and so is read here rather than through a wrapper that
/// takes 0 for an impossible process id.
#[cfg(target_os = "linux")]
fn session_id() -> std::io::Result<i32> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    parse_session(&stat).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("no session id in /proc/self/stat: {stat:?}"),
        )
    })
}

/// The session field of a `/proc/<pid>/stat` line (the sixth; see proc_pid_stat(5)). The
/// command name before it is in parentheses and may itself hold spaces and parentheses, so the
/// fields are counted from the last `)`.
#[cfg(target_os = "linux")]
fn parse_session(stat: &str) -> Option<i32> {
    let (_, after_name) = stat.rsplit_once(')')?;
    // state, parent, process group, session
    after_name.split_ascii_whitespace().nth(3)?.parse().ok()
}

/// The calling thread's nice value.
#[cfg(target_os = "linux")]
pub fn thread_nice() -> std::io::Result<i32> {
    Ok(rustix::process::getpriority_process(None)?)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_session_is_read_after_the_command_name() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 0 0";
        assert_eq!(parse_session(stat), Some(4242));
        let outside_namespace = "7 (sysops-categor) S 0 7 0 0 -1";
        assert_eq!(parse_session(outside_namespace), Some(0));
        assert_eq!(parse_session("7 (truncated"), None);
        assert_eq!(parse_session("7 (x) S 1"), None);
    }

    #[test]
    fn a_lowered_thread_and_the_threads_it_starts_run_at_the_nice_value() {
        let before = thread_nice().expect("nice value");
        let target = before.max(12);
        // In a thread of its own, so that the test harness's threads keep their priority.
        std::thread::spawn(move || {
            let lowered = lower(target).expect("lowering one's own priority is allowed");
            assert_eq!(lowered.thread_nice, target);
            // The test process shares its session with whatever started it.
            assert!(!lowered.autogroup);
            assert_ne!(session_id().expect("session id"), std::process::id() as i32);
            let child = std::thread::spawn(thread_nice).join().expect("thread ran");
            assert_eq!(child.expect("nice value"), target);
        })
        .join()
        .expect("thread ran");
        assert_eq!(
            thread_nice().expect("nice value"),
            before,
            "another thread's nice value changed"
        );
    }
}

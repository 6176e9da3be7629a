//! Which process holds a lease, recorded so that a lease left by a process that died (kill -9,
//! a crash, a power cut) can be told from one held by a live process, and broken at once
//! instead of blocking every backup of the tenant until it expires.
//!
//! A process can only check processes it can see: those of the same boot of the same machine,
//! in the same pid namespace (two containers on one host see different processes under the
//! same pid). The lease records both, and a holder is judged dead only when they match and its
//! pid is gone or now names a process started at another time (a reused pid). In every other
//! case (another machine, another container, no /proc) nothing is known, and the lease runs
//! its course.

use serde::{Deserialize, Serialize};

/// The process that took a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LeaseHolder {
    /// The host name, for people.
    pub host: String,
    /// The process id.
    pub pid: u32,
    /// The machine's boot and pid namespace: processes are comparable only within one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// When the process started (clock ticks since boot, from `/proc/{pid}/stat`), so that a
    /// pid reused by another process is not taken for the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<u64>,
}

impl LeaseHolder {
    /// This process.
    pub fn current() -> Self {
        let pid = std::process::id();
        Self {
            host: host_name(),
            pid,
            machine: machine(),
            started: process_start(pid),
        }
    }

    /// `Some(false)` when the holder is certainly dead: it ran on this boot of this machine, in
    /// this pid namespace, and its pid is gone or belongs to a process started at another
    /// time. `Some(true)` when it is alive; `None` when this process cannot tell.
    pub fn is_alive(&self) -> Option<bool> {
        let here = machine()?;
        if self.machine.as_deref() != Some(here.as_str()) {
            return None;
        }
        let started = self.started?;
        Some(process_start(self.pid) == Some(started))
    }
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn host_name() -> String {
    read_trimmed("/proc/sys/kernel/hostname")
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into())
}

/// This boot's id and this process's pid namespace (Linux); `None` elsewhere.
fn machine() -> Option<String> {
    let boot = read_trimmed("/proc/sys/kernel/random/boot_id")?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{boot}/{}", namespace.display()))
}

/// The start time of process `pid` (field 22 of `/proc/{pid}/stat`); `None` when there is no
/// such process (or no /proc).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces or ')': the fields
    // after the last ')' start at field 3.
    let rest = stat.get(stat.rfind(')')?.checked_add(1)?..)?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_dead_one_is_dead() {
        let me = LeaseHolder::current();
        if me.machine.is_none() {
            eprintln!("no /proc here: nothing to check");
            return;
        }
        assert_eq!(me.is_alive(), Some(true));
        // A child that has exited (and been reaped): its pid names nothing now.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let started = process_start(pid);
        child.wait().unwrap();
        let dead = LeaseHolder {
            pid,
            started: started.or(Some(1)),
            ..me.clone()
        };
        assert_eq!(dead.is_alive(), Some(false));
        // A reused pid: this process's pid with another start time.
        let reused = LeaseHolder {
            started: me.started.map(|s| s + 1),
            ..me.clone()
        };
        assert_eq!(reused.is_alive(), Some(false));
        // Another machine or namespace, or an old record without these fields: unknown.
        let elsewhere = LeaseHolder {
            machine: Some("another-boot/pid:[1]".into()),
            ..me.clone()
        };
        assert_eq!(elsewhere.is_alive(), None);
        let old = LeaseHolder {
            machine: None,
            started: None,
            ..me
        };
        assert_eq!(old.is_alive(), None);
    }
}

//! CPU accounting for a comparison: the server's CPU seconds over a test (from
//! `/proc/PID/stat`), the client's (from the rusage of reaped children), and what they
//! mean per operation.
//!
//! CPU per operation is the figure throughput hides: a server that reaches the same
//! ops/s with half the CPU leaves the other half for more clients or more cores.

use crate::procfs::{self, CpuTicks};
use std::io;

/// Above this fraction of one core the client, not the server, may be the bottleneck,
/// and the server's ops/s is then a lower bound.
pub const CLIENT_SATURATED_FRACTION: f64 = 0.9;

/// Below this fraction of one core for both server and client, neither was CPU-bound:
/// the machine was busy with something else, or the test waited on the network.
pub const IDLE_FRACTION: f64 = 0.5;

/// CPU seconds used by every child this process has waited for (user + system).
///
/// Sampled before and after running one client to completion, the difference is that
/// client's CPU time: the servers are children too, but they are only reaped when they
/// are stopped, never while a client runs.
pub fn reaped_children_cpu_secs() -> f64 {
    // SAFETY: getrusage writes only into the struct we pass.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

/// A running measurement of one server process's CPU time.
pub struct ServerCpu {
    pid: u32,
    before: CpuTicks,
}

impl ServerCpu {
    pub fn start(pid: u32) -> io::Result<ServerCpu> {
        Ok(ServerCpu {
            pid,
            before: procfs::read_stat(pid)?,
        })
    }

    /// CPU seconds the server used since `start`, over all its threads.
    pub fn finish(self) -> io::Result<f64> {
        let after = procfs::read_stat(self.pid)?;
        Ok(ticks_to_secs(
            after.since(self.before),
            procfs::clock_ticks_per_sec(),
        ))
    }
}

pub fn ticks_to_secs(ticks: u64, ticks_per_sec: u64) -> f64 {
    ticks as f64 / ticks_per_sec as f64
}

/// CPU seconds per million operations.
pub fn secs_per_million_ops(cpu_secs: f64, ops: u64) -> f64 {
    cpu_secs / ops as f64 * 1e6
}

/// The fraction of one core a process used over `wall_secs`.
pub fn core_fraction(cpu_secs: f64, wall_secs: f64) -> f64 {
    if wall_secs > 0.0 {
        cpu_secs / wall_secs
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_become_seconds() {
        assert_eq!(ticks_to_secs(250, 100), 2.5);
        assert_eq!(ticks_to_secs(0, 100), 0.0);
    }

    #[test]
    fn cpu_per_million_operations() {
        // 3 CPU seconds over 6 million operations: half a second per million.
        assert_eq!(secs_per_million_ops(3.0, 6_000_000), 0.5);
        assert_eq!(secs_per_million_ops(1.5, 500_000), 3.0);
    }

    #[test]
    fn core_fraction_of_wall_time() {
        assert_eq!(core_fraction(4.5, 5.0), 0.9);
        assert_eq!(core_fraction(1.0, 0.0), 0.0);
    }

    /// This process's CPU time from the kernel's own clock, independent of /proc.
    fn process_cpu_secs() -> f64 {
        // SAFETY: clock_gettime writes only into the struct we pass.
        let t = unsafe {
            let mut t: libc::timespec = std::mem::zeroed();
            libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t);
            t
        };
        t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
    }

    #[test]
    fn server_cpu_of_a_busy_process_grows() {
        let measure = ServerCpu::start(std::process::id()).unwrap();
        // Burn 300 ms of CPU (not wall time: the machine may be busy).
        let until = process_cpu_secs() + 0.3;
        let mut spin = 0u64;
        while process_cpu_secs() < until {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let used = measure.finish().unwrap();
        // /proc counts in ticks (10 ms at 100 Hz), so allow a few ticks of rounding.
        assert!(used >= 0.25, "measured {used} s");
    }

    #[test]
    fn reaped_child_cpu_is_counted() {
        let before = reaped_children_cpu_secs();
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done"])
            .status()
            .unwrap();
        assert!(status.success());
        assert!(reaped_children_cpu_secs() > before);
    }
}

//! What the process as a whole uses: memory from the allocator (jemalloc, as Redis uses,
//! so `used_memory` compares like for like) and the kernel, CPU time from getrusage.

use tikv_jemalloc_ctl::{epoch, stats};

pub struct Memory {
    /// Bytes allocated by the application (Redis's used_memory).
    pub allocated: u64,
    pub active: u64,
    pub resident: u64,
    /// Resident set size from the kernel.
    pub rss: u64,
}

pub fn memory() -> Memory {
    // jemalloc's statistics are refreshed when the epoch advances.
    let _ = epoch::advance();
    Memory {
        allocated: stats::allocated::read().unwrap_or(0) as u64,
        active: stats::active::read().unwrap_or(0) as u64,
        resident: stats::resident::read().unwrap_or(0) as u64,
        rss: rss_bytes(),
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

/// The highest `allocated` seen, sampled by core 0's cron every 100 ms (Redis samples its
/// peak in serverCron the same way) and by every INFO.
static PEAK_ALLOCATED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn sample_peak() -> u64 {
    let allocated = memory().allocated;
    PEAK_ALLOCATED
        .fetch_max(allocated, std::sync::atomic::Ordering::Relaxed)
        .max(allocated)
}

pub fn total_system_memory() -> u64 {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// (user, system) CPU seconds of `who` (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD).
pub fn cpu_seconds(who: i32) -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(who, &mut usage) } != 0 {
        return (0.0, 0.0);
    }
    let secs = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    (secs(usage.ru_utime), secs(usage.ru_stime))
}

/// Redis's human-readable byte counts: 1.50K, 2.00M, ...
pub fn human_bytes(bytes: u64) -> String {
    let units = ["B", "K", "M", "G", "T", "P"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < units.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes}B")
    } else {
        format!("{value:.2}{}", units[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_bytes_like_redis() {
        assert_eq!(human_bytes(100), "100B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(3 << 20), "3.00M");
    }
}

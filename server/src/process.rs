//! What the process as a whole uses: memory from the allocator (jemalloc, as Redis uses,
//! so `used_memory` compares like for like) and the kernel, CPU time from getrusage.
//!
//! `used_memory` is also what `maxmemory` is enforced against (as Redis does), read
//! before every command while a limit is set. jemalloc's own total (`stats.allocated`)
//! needs an epoch refresh that merges every arena, too slow for that, so the figure is
//! kept from cheap parts:
//!
//! ```text
//! used ≈ offset + Σ per core (bytes its thread allocated − bytes it freed)
//!          ^ exact total − Σ, reset by core 0's cron (`hz`) and by INFO
//! ```
//!
//! Each core reads its own thread's jemalloc counters (two loads through pointers jemalloc
//! hands out once) and publishes its difference in its slot; it reads the other cores'
//! published slots. Allocations of other threads are caught at the next refresh.

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

/// Slots for the per-core published figures (a core index past it shares the last).
const CORE_SLOTS: usize = 256;

/// One core's published (allocated − freed) bytes, on its own cache line.
#[repr(align(64))]
struct Slot(std::sync::atomic::AtomicI64);

static CORE_NET: [Slot; CORE_SLOTS] =
    [const { Slot(std::sync::atomic::AtomicI64::new(0)) }; CORE_SLOTS];
/// The exact total minus the sum of the slots, at the last refresh.
static OFFSET: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

thread_local! {
    /// This thread's jemalloc counters (bytes ever allocated, ever freed).
    static THREAD_COUNTERS: Option<(
        tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
        tikv_jemalloc_ctl::thread::ThreadLocal<u64>,
    )> = tikv_jemalloc_ctl::thread::allocatedp::read()
        .and_then(|a| Ok((a, tikv_jemalloc_ctl::thread::deallocatedp::read()?)))
        .ok();
}

/// Bytes this thread allocated minus bytes it freed, since it started: a difference of
/// two readings is what the thread's work in between allocated (negative: freed).
pub fn thread_net_bytes() -> i64 {
    THREAD_COUNTERS.with(|counters| {
        counters.map_or(0, |(allocated, freed)| {
            allocated.get().wrapping_sub(freed.get()) as i64
        })
    })
}

/// Publishes this core's figure only. Every core's cron does, and every core does when
/// `maxmemory` changes, just before a refresh: a refresh rebases on the slots as they
/// are, and a slot left stale while no limit was set (nothing reads it then) made the
/// memory one core allocated and another freed count twice once one was (the replies of
/// 6,000 GETs of 1 KB values read 6 MB over, and the first writes evicted every key).
pub fn publish_net(core: usize) {
    CORE_NET[core.min(CORE_SLOTS - 1)]
        .0
        .store(thread_net_bytes(), std::sync::atomic::Ordering::Relaxed);
}

/// Publishes this core's figure and returns the process's used memory (see the module
/// doc): what `maxmemory` compares against.
pub fn used_memory(core: usize) -> u64 {
    use std::sync::atomic::Ordering::Relaxed;
    let own = core.min(CORE_SLOTS - 1);
    CORE_NET[own].0.store(thread_net_bytes(), Relaxed);
    let sum: i64 = CORE_NET.iter().map(|slot| slot.0.load(Relaxed)).sum();
    (sum + OFFSET.load(Relaxed)).max(0) as u64
}

/// `used_memory` at the first refresh, once the cores started (MEMORY STATS
/// startup.allocated).
static STARTUP_ALLOCATED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn startup_allocated() -> u64 {
    STARTUP_ALLOCATED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Re-bases `used_memory` on jemalloc's exact total (from `core`'s thread); returns it.
pub fn refresh_used_memory(core: usize) -> u64 {
    use std::sync::atomic::Ordering::Relaxed;
    let exact = memory().allocated;
    let own = core.min(CORE_SLOTS - 1);
    CORE_NET[own].0.store(thread_net_bytes(), Relaxed);
    let sum: i64 = CORE_NET.iter().map(|slot| slot.0.load(Relaxed)).sum();
    OFFSET.store(exact as i64 - sum, Relaxed);
    let _ = STARTUP_ALLOCATED.compare_exchange(0, exact, Relaxed, Relaxed);
    exact
}

/// Returns freed pages to the system (MEMORY PURGE: jemalloc's `arena.<all>.purge`).
pub fn purge() {
    // MALLCTL_ARENAS_ALL is 4096; the mallctl takes no value.
    // SAFETY: a void mallctl with null old/new pointers, as jemalloc documents.
    unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arena.4096.purge".as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
        );
    }
}

/// jemalloc's statistics report (MEMORY MALLOC-STATS).
pub fn malloc_stats() -> String {
    let mut out = Vec::new();
    let _ = tikv_jemalloc_ctl::stats_print::stats_print(&mut out, Default::default());
    String::from_utf8_lossy(&out).into_owned()
}

/// The highest `allocated` seen, sampled by core 0's cron (`hz` times a second) (Redis samples its
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

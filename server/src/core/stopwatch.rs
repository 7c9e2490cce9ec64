//! Cheap timing of every command for INFO commandstats and the slow log.
//!
//! Two clock reads per command are on the hot path. `clock_gettime` costs ~20-50 ns here
//! (it was 4.5% of a pipelined GET/SET profile); the CPU's time-stamp counter costs a few
//! nanoseconds, so on x86-64 with an invariant TSC (`constant_tsc` and `nonstop_tsc`) the
//! stopwatch counts TSC ticks, converted with a rate calibrated once at start against the
//! monotonic clock. Elsewhere it falls back to `Instant`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// TSC ticks per nanosecond, or None when the TSC is not usable.
static TICKS_PER_NS: OnceLock<Option<f64>> = OnceLock::new();

#[derive(Clone, Copy)]
pub enum Stopwatch {
    Tsc(u64),
    Clock(Instant),
}

#[cfg(target_arch = "x86_64")]
fn tsc() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86-64.
    unsafe { core::arch::x86_64::_rdtsc() }
}

#[cfg(not(target_arch = "x86_64"))]
fn tsc() -> u64 {
    0
}

fn invariant_tsc() -> bool {
    cfg!(target_arch = "x86_64")
        && std::fs::read_to_string("/proc/cpuinfo").is_ok_and(|info| {
            info.lines()
                .find(|l| l.starts_with("flags"))
                .is_some_and(|flags| {
                    flags.contains(" constant_tsc") && flags.contains(" nonstop_tsc")
                })
        })
}

/// Measures the TSC rate over ~20 ms; call once at start, before any executor runs.
pub fn calibrate() {
    TICKS_PER_NS.get_or_init(|| {
        if !invariant_tsc() {
            return None;
        }
        let (start_clock, start_tsc) = (Instant::now(), tsc());
        std::thread::sleep(Duration::from_millis(20));
        let (ns, ticks) = (
            start_clock.elapsed().as_nanos() as f64,
            tsc().wrapping_sub(start_tsc),
        );
        (ticks > 0 && ns > 0.0).then(|| ticks as f64 / ns)
    });
}

impl Stopwatch {
    pub fn start() -> Self {
        match TICKS_PER_NS.get() {
            Some(Some(_)) => Stopwatch::Tsc(tsc()),
            _ => Stopwatch::Clock(Instant::now()),
        }
    }

    pub fn elapsed(&self) -> Duration {
        match (self, TICKS_PER_NS.get()) {
            (Stopwatch::Tsc(start), Some(Some(rate))) => {
                Duration::from_nanos((tsc().wrapping_sub(*start) as f64 / rate) as u64)
            }
            (Stopwatch::Clock(start), _) => start.elapsed(),
            (Stopwatch::Tsc(_), _) => Duration::ZERO,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_a_sleep_within_tolerance() {
        calibrate();
        let watch = Stopwatch::start();
        std::thread::sleep(Duration::from_millis(30));
        let took = watch.elapsed();
        assert!(
            took >= Duration::from_millis(25) && took < Duration::from_millis(500),
            "{took:?}"
        );
    }
}

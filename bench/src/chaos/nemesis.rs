//! The nemesis: faults injected into the server at seeded random times while the
//! workload runs, each recorded with when it began and ended.
//!
//! - `kill`: SIGKILL (a crash: nothing flushed), down for a random while, then restarted
//!   on the same --dir, so it replays its log; ends when the server answers PING again.
//! - `pause`: SIGSTOP for a random while (sometimes longer than the clients' timeout, so
//!   some operations become unknown and still execute after SIGCONT), then SIGCONT.
//!
//! The seed fixes the schedule (gaps, fault kinds, how long each lasts); the process
//! timing around it is the machine's, so a seed replays the same attack, not the same
//! interleaving.

use super::error::Error;
use super::server::ServerUnderTest;
use super::workload::Clock;
use std::time::{Duration, Instant};

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// SIGKILL the server, then restart it on the same data directory.
    Kill,
    /// SIGSTOP the server, then SIGCONT it.
    Pause,
}

/// The gap between faults, in ms: long enough for the workload to run between them.
const GAP_MS: std::ops::Range<u64> = 700..2_500;
/// How long a killed server stays down, in ms.
const DOWN_MS: std::ops::Range<u64> = 0..1_000;
/// How long a pause lasts, in ms.
const PAUSE_MS: std::ops::Range<u64> = 100..2_500;

/// One fault as injected.
#[derive(Clone, Debug)]
pub struct Injected {
    pub fault: Fault,
    pub start_ns: u64,
    pub end_ns: u64,
    pub detail: String,
}

/// Injects faults from `faults` into `server` until `deadline`, leaving the server
/// running and resumed. Faults that would end after the deadline are not started.
pub fn run(
    server: &mut ServerUnderTest,
    faults: &[Fault],
    seed: u64,
    clock: Clock,
    deadline: Instant,
) -> Result<Vec<Injected>, Error> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut injected = Vec::new();
    if faults.is_empty() {
        sleep_until(deadline);
        return Ok(injected);
    }
    loop {
        let gap = Duration::from_millis(rng.u64(GAP_MS));
        let fault = faults[rng.usize(0..faults.len())];
        let hold = Duration::from_millis(match fault {
            Fault::Kill => rng.u64(DOWN_MS),
            Fault::Pause => rng.u64(PAUSE_MS),
        });
        if Instant::now() + gap + hold >= deadline {
            sleep_until(deadline);
            return Ok(injected);
        }
        std::thread::sleep(gap);
        injected.push(inject(server, fault, hold, clock)?);
    }
}

fn sleep_until(deadline: Instant) {
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
}

fn inject(
    server: &mut ServerUnderTest,
    fault: Fault,
    hold: Duration,
    clock: Clock,
) -> Result<Injected, Error> {
    // A server that died on its own is a finding; a kill would hide it.
    server.check_alive()?;
    let start_ns = clock.now_ns();
    let detail = match fault {
        Fault::Kill => {
            server.kill()?;
            std::thread::sleep(hold);
            let restarting = Instant::now();
            server.start()?;
            format!(
                "SIGKILL; down {} ms; restarted, ready after {} ms",
                hold.as_millis(),
                restarting.elapsed().as_millis()
            )
        }
        Fault::Pause => {
            server.pause();
            std::thread::sleep(hold);
            server.resume();
            format!("SIGSTOP for {} ms, then SIGCONT", hold.as_millis())
        }
    };
    Ok(Injected {
        fault,
        start_ns,
        end_ns: clock.now_ns(),
        detail,
    })
}

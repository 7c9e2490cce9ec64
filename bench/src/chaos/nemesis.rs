//! The nemesis: faults injected into the server, its network and its disk at seeded
//! random times while the workload runs, each recorded with when it began and ended.
//!
//! - `kill`: SIGKILL (a crash: nothing flushed), down for a random while, then restarted
//!   on the same --dir, so it replays its log; ends when the server answers PING again.
//! - `pause`: SIGSTOP for a random while (sometimes longer than the clients' timeout, so
//!   some operations become unknown and still execute after SIGCONT), then SIGCONT.
//! - `partition`: the clients cut off from the server through the fault proxy, both ways
//!   or one way (requests held, or replies held after the server executed them).
//! - `delay`: a one-way or two-way delay with jitter on the client links.
//! - `loss`: chunks held for TCP retransmission timeouts on both directions.
//! - `power-loss`: the server frozen, its disk image copied without syncing, the server
//!   killed and restarted on the copy ([`super::disk`]): only what was fsynced survives.
//!
//! Network faults go through [`crate::proxy`], between the clients and the server; see
//! its documentation for what each means for a TCP stream.
//!
//! The seed fixes the schedule (gaps, fault kinds, how long each lasts, their
//! parameters); the process timing around it is the machine's, so a seed replays the
//! same attack, not the same interleaving.

use super::disk::LoopDisk;
use super::error::Error;
use super::server::ServerUnderTest;
use super::workload::Clock;
use crate::proxy::control::Command;
use crate::proxy::link::Direction;
use crate::proxy::Proxy;
use std::time::{Duration, Instant};

/// A kind of fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Fault {
    /// SIGKILL the server, then restart it on the same data directory.
    Kill,
    /// SIGSTOP the server, then SIGCONT it.
    Pause,
    /// Partition the clients from the server (both ways or one way) through the proxy.
    Partition,
    /// Delay the client links (one way or both, with jitter) through the proxy.
    Delay,
    /// Hold chunks for retransmission timeouts through the proxy.
    Loss,
    /// Cut the power of the server's disk (needs root: a loop-device ext4 image).
    PowerLoss,
}

impl Fault {
    /// Whether the fault needs the proxy between the clients and the server.
    pub fn is_network(self) -> bool {
        matches!(self, Fault::Partition | Fault::Delay | Fault::Loss)
    }
}

/// The gap between faults, in ms: long enough for the workload to run between them.
const GAP_MS: std::ops::Range<u64> = 700..2_500;
/// How long a killed server stays down, in ms.
const DOWN_MS: std::ops::Range<u64> = 0..1_000;
/// How long a pause or a partition lasts, in ms.
const PAUSE_MS: std::ops::Range<u64> = 100..2_500;
/// How long a delay or loss lasts, in ms.
const DEGRADED_MS: std::ops::Range<u64> = 1_000..3_000;
/// The delay added, in ms (the jitter is up to half of it).
const DELAY_MS: std::ops::Range<u64> = 20..400;
/// The probability a chunk is lost, in percent.
const LOSS_PERCENT: std::ops::Range<u64> = 5..30;

/// One fault as injected.
#[derive(Clone, Debug)]
pub struct Injected {
    pub fault: Fault,
    pub start_ns: u64,
    pub end_ns: u64,
    pub detail: String,
}

/// What the nemesis can reach.
pub struct Target<'a> {
    pub server: &'a mut ServerUnderTest,
    /// Between the clients and the server; present when a network fault is scheduled.
    pub proxy: Option<&'a Proxy>,
    /// The server's disk image; present when power loss is scheduled and possible.
    pub disk: Option<&'a mut LoopDisk>,
}

/// A fault drawn from the schedule, with its parameters.
struct Planned {
    fault: Fault,
    hold: Duration,
    /// The proxy's command for a network fault.
    command: Option<Command>,
}

/// Injects faults from `faults` into `target` until `deadline`, leaving the server
/// running and resumed and the network healed. Faults that would end after the
/// deadline are not started.
pub fn run(
    target: &mut Target,
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
        let planned = plan(&mut rng, fault);
        if Instant::now() + gap + planned.hold >= deadline {
            sleep_until(deadline);
            return Ok(injected);
        }
        std::thread::sleep(gap);
        injected.push(inject(target, planned, clock)?);
    }
}

fn plan(rng: &mut fastrand::Rng, fault: Fault) -> Planned {
    let directions = |rng: &mut fastrand::Rng| match rng.usize(0..3) {
        0 => vec![Direction::Up, Direction::Down],
        1 => vec![Direction::Up],
        _ => vec![Direction::Down],
    };
    let (hold_ms, command) = match fault {
        Fault::Kill | Fault::PowerLoss => (rng.u64(DOWN_MS), None),
        Fault::Pause => (rng.u64(PAUSE_MS), None),
        Fault::Partition => (
            rng.u64(PAUSE_MS),
            Some(Command::Partition {
                directions: directions(rng),
            }),
        ),
        Fault::Delay => {
            let delay = rng.u64(DELAY_MS);
            let command = Command::Delay {
                directions: directions(rng),
                delay: Duration::from_millis(delay),
                jitter: Duration::from_millis(rng.u64(0..=delay / 2)),
            };
            (rng.u64(DEGRADED_MS), Some(command))
        }
        Fault::Loss => {
            let command = Command::Loss {
                directions: vec![Direction::Up, Direction::Down],
                p: rng.u64(LOSS_PERCENT) as f64 / 100.0,
            };
            (rng.u64(DEGRADED_MS), Some(command))
        }
    };
    Planned {
        fault,
        hold: Duration::from_millis(hold_ms),
        command,
    }
}

fn sleep_until(deadline: Instant) {
    std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
}

fn inject(target: &mut Target, planned: Planned, clock: Clock) -> Result<Injected, Error> {
    // A server that died on its own is a finding; a kill would hide it.
    target.server.check_alive()?;
    let start_ns = clock.now_ns();
    let hold = planned.hold;
    let server = &mut *target.server;
    let detail = match planned.fault {
        Fault::Kill => {
            server.kill()?;
            std::thread::sleep(hold);
            format!(
                "SIGKILL; down {} ms; {}",
                hold.as_millis(),
                restart(server)?
            )
        }
        Fault::Pause => {
            server.pause();
            std::thread::sleep(hold);
            server.resume();
            format!("SIGSTOP for {} ms, then SIGCONT", hold.as_millis())
        }
        Fault::Partition | Fault::Delay | Fault::Loss => {
            let proxy = target.proxy.ok_or_else(|| {
                Error::Usage("a network fault was scheduled without the proxy".into())
            })?;
            let command = planned
                .command
                .expect("network faults are planned with a command");
            proxy.apply(&command);
            std::thread::sleep(hold);
            proxy.apply(&Command::Heal);
            format!("proxy `{command}` for {} ms, then heal", hold.as_millis())
        }
        Fault::PowerLoss => {
            let disk = target.disk.as_deref_mut().ok_or_else(|| {
                Error::Usage("power loss was scheduled without a loop-device disk".into())
            })?;
            server.pause();
            let copy = disk.snapshot_device()?;
            server.kill()?;
            disk.come_back_as(&copy)?;
            std::thread::sleep(hold);
            format!(
                "SIGSTOP, disk image copied unsynced, SIGKILL; down {} ms; on the copy: {}",
                hold.as_millis(),
                restart(server)?
            )
        }
    };
    Ok(Injected {
        fault: planned.fault,
        start_ns,
        end_ns: clock.now_ns(),
        detail,
    })
}

fn restart(server: &mut ServerUnderTest) -> Result<String, Error> {
    let restarting = Instant::now();
    server.start()?;
    Ok(format!(
        "restarted, ready after {} ms",
        restarting.elapsed().as_millis()
    ))
}

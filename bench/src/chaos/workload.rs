//! The workloads: concurrent clients that issue operations at a bounded rate and record
//! each one (invoke and completion time, outcome) in the history format of
//! [`crate::check::history`].
//!
//! - `register`: SET of a value unique to the run (`process:sequence`) or GET, half and
//!   half, on keys `chaos:reg:N`.
//! - `counter`: INCR or GET, half and half, on keys `chaos:ctr:N`.
//!
//! Each client is a thread with one blocking connection at a time and a read timeout. An
//! operation whose connection breaks or times out is recorded as unknown and the
//! connection dropped: the request may still be executed (a paused server resumes and
//! runs it), so nothing sent on that connection can be trusted to have failed.

use crate::check::history::{Kind, Op, Outcome};
use crate::resp::{Connection, Reply};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a group of clients does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Workload {
    /// SET (unique values) and GET on many keys: the register model.
    Register,
    /// INCR and GET on many keys: the counter model.
    Counter,
}

impl Workload {
    /// The name of key `n` of this workload.
    pub fn key(self, n: usize) -> String {
        match self {
            Workload::Register => format!("chaos:reg:{n}"),
            Workload::Counter => format!("chaos:ctr:{n}"),
        }
    }
}

/// Pause between tries to reconnect while the server is down.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);

/// One client's part of the run.
pub struct Client {
    pub process: u32,
    pub workload: Workload,
    pub keys: usize,
    pub seed: u64,
    /// Time between operation starts: the client's share of the rate bound.
    pub interval: Duration,
    /// How long a reply may take before the operation is unknown.
    pub timeout: Duration,
    pub port: u16,
}

/// The run's monotonic clock: nanoseconds since it started.
#[derive(Clone, Copy)]
pub struct Clock(pub Instant);

impl Clock {
    pub fn now_ns(self) -> u64 {
        self.0.elapsed().as_nanos() as u64
    }
}

impl Client {
    /// Issues operations until `deadline` or `stop`, and returns what it recorded.
    pub fn run(&self, clock: Clock, deadline: Instant, stop: &AtomicBool) -> Vec<Op> {
        let mut rng = fastrand::Rng::with_seed(self.seed);
        let mut ops = Vec::new();
        let mut connection: Option<Connection> = None;
        let mut next_start = Instant::now();
        while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
            pace(&mut next_start, self.interval);
            let Some(conn) = connection.as_mut() else {
                connection = Connection::connect(self.port, self.timeout).ok();
                if connection.is_none() {
                    std::thread::sleep(RECONNECT_PAUSE);
                }
                continue;
            };
            let key = self.workload.key(rng.usize(0..self.keys));
            let kind = match (self.workload, rng.bool()) {
                (_, false) => Kind::Read,
                (Workload::Register, true) => Kind::Write,
                (Workload::Counter, true) => Kind::Incr,
            };
            let input = (kind == Kind::Write).then(|| format!("{}:{}", self.process, ops.len()));
            let op = perform(conn, clock, self.process, key, kind, input);
            if op.outcome == Outcome::Unknown {
                connection = None;
            }
            ops.push(op);
        }
        ops
    }
}

/// Sleeps until `next_start`, then sets the next one; a client that fell behind (a
/// pause, a restart) starts afresh instead of bursting to catch up.
fn pace(next_start: &mut Instant, interval: Duration) {
    let now = Instant::now();
    if *next_start > now {
        std::thread::sleep(*next_start - now);
        *next_start += interval;
    } else {
        *next_start = now + interval;
    }
}

/// Sends one operation on `conn` and records it.
pub fn perform(
    conn: &mut Connection,
    clock: Clock,
    process: u32,
    key: String,
    kind: Kind,
    input: Option<String>,
) -> Op {
    let command: &[u8] = match kind {
        Kind::Write => b"SET",
        Kind::Read => b"GET",
        Kind::Incr => b"INCR",
    };
    let mut args: Vec<&[u8]> = vec![command, key.as_bytes()];
    args.extend(input.as_deref().map(str::as_bytes));
    let invoke_ns = clock.now_ns();
    let reply = conn.call(&args);
    let complete_ns = clock.now_ns();
    let (outcome, output) = match reply {
        Ok(reply) => classify(kind, reply),
        Err(_) => (Outcome::Unknown, None),
    };
    Op {
        process,
        key,
        kind,
        input,
        output,
        invoke_ns,
        complete_ns,
        outcome,
    }
}

/// The outcome and output a reply means for an operation of `kind`.
///
/// `-LOADING` is the one error that certainly means "not executed" (the server refuses
/// everything while it replays its log). Any other error, or a reply of the wrong type,
/// does not rule out that the write took effect (an `-IOERR` after a failed log write,
/// say), so it is unknown.
pub fn classify(kind: Kind, reply: Reply) -> (Outcome, Option<String>) {
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    match (kind, reply) {
        (Kind::Write, Reply::Simple(ok)) if ok == "OK" => (Outcome::Ok, None),
        (Kind::Read, Reply::Bulk(value)) => (Outcome::Ok, value.map(text)),
        (Kind::Incr, Reply::Integer(n)) => (Outcome::Ok, Some(n.to_string())),
        (_, Reply::Error(e)) if e.starts_with("LOADING") => (Outcome::Fail, None),
        _ => (Outcome::Unknown, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_map_to_outcomes() {
        assert_eq!(
            classify(Kind::Write, Reply::Simple("OK".into())),
            (Outcome::Ok, None)
        );
        assert_eq!(
            classify(Kind::Read, Reply::Bulk(Some(b"v".to_vec()))),
            (Outcome::Ok, Some("v".into()))
        );
        assert_eq!(classify(Kind::Read, Reply::Bulk(None)), (Outcome::Ok, None));
        assert_eq!(
            classify(Kind::Incr, Reply::Integer(7)),
            (Outcome::Ok, Some("7".into()))
        );
        let loading = Reply::Error("LOADING Holdfast is loading the dataset in memory".into());
        assert_eq!(classify(Kind::Write, loading), (Outcome::Fail, None));
        let ioerr = Reply::Error("IOERR the log failed".into());
        assert_eq!(classify(Kind::Incr, ioerr), (Outcome::Unknown, None));
        assert_eq!(
            classify(Kind::Incr, Reply::Simple("OK".into())),
            (Outcome::Unknown, None)
        );
    }

    #[test]
    fn pacing_bounds_the_rate_without_bursts_after_a_stall() {
        let interval = Duration::from_millis(5);
        let mut next = Instant::now();
        let started = Instant::now();
        for _ in 0..10 {
            pace(&mut next, interval);
        }
        assert!(started.elapsed() >= interval * 9);
        // After a stall, the next start is one interval from now, not in the past.
        std::thread::sleep(Duration::from_millis(30));
        pace(&mut next, interval);
        assert!(next > Instant::now());
    }
}

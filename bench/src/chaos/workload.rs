//! The workloads: concurrent clients that issue operations at a bounded rate and record
//! each one (invoke and completion time, outcome) in the history format of
//! [`crate::check::history`].
//!
//! - `register`: SET of a value unique to the run (`process:sequence`) or GET, half and
//!   half, on keys `chaos:reg:N`.
//! - `counter`: INCR or GET, half and half, on keys `chaos:ctr:N`.
//! - `list-append`: RPUSH of a value unique to the run or LRANGE 0 -1, half and half, on
//!   keys `chaos:list:N` (checked with the list model: every read is the appended
//!   order's prefix as it stood). Each RPUSH and LRANGE is one command.
//!
//! - `cas`: compare-and-set or GET, half and half, on keys `chaos:cas:N`. The
//!   compare-and-set is a Lua script (EVAL: GET, compare, SET, one atomic step) that
//!   expects the value this client last saw on the key and sets a value unique to the
//!   run; it answers 1 when it set, 0 when the value was another. Checked with the
//!   register model's compare-and-set step.
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
    /// RPUSH (unique values) and LRANGE 0 -1 on many keys: the list model.
    ListAppend,
    /// Compare-and-set (EVAL) and GET on many keys: the register model with CAS.
    Cas,
}

impl Workload {
    /// The name of key `n` of this workload.
    pub fn key(self, n: usize) -> String {
        match self {
            Workload::Register => format!("chaos:reg:{n}"),
            Workload::Counter => format!("chaos:ctr:{n}"),
            Workload::ListAppend => format!("chaos:list:{n}"),
            Workload::Cas => format!("chaos:cas:{n}"),
        }
    }

    /// The operation that changes a key of this workload.
    fn update(self) -> Kind {
        match self {
            Workload::Register => Kind::Write,
            Workload::Counter => Kind::Incr,
            Workload::ListAppend => Kind::Append,
            Workload::Cas => Kind::Cas,
        }
    }

    /// The operation that reads a key of this workload.
    pub fn read(self) -> Kind {
        match self {
            Workload::ListAppend => Kind::ReadList,
            Workload::Register | Workload::Counter | Workload::Cas => Kind::Read,
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
        // The value this client last saw on each key: what its compare-and-set expects.
        let mut last_seen: std::collections::HashMap<String, Option<String>> = Default::default();
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
            let kind = match rng.bool() {
                true => self.workload.update(),
                false => self.workload.read(),
            };
            let input = matches!(kind, Kind::Write | Kind::Append | Kind::Cas)
                .then(|| format!("{}:{}", self.process, ops.len()));
            let op = match kind {
                Kind::Cas => {
                    let expected = last_seen.get(&key).cloned().flatten();
                    perform_cas(conn, clock, self.process, key, expected, input)
                }
                _ => perform(conn, clock, self.process, key, kind, input),
            };
            match (op.kind, op.outcome, op.output.as_deref()) {
                (Kind::Read, Outcome::Ok, _) => {
                    last_seen.insert(op.key.clone(), op.output.clone());
                }
                (Kind::Cas, Outcome::Ok, Some("1")) => {
                    last_seen.insert(op.key.clone(), op.input.clone());
                }
                _ => {}
            }
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

/// The compare-and-set script: ARGV[1] is "1" when a value is expected (ARGV[2]), "0"
/// when the key is expected to be absent; ARGV[3] is the value to set.
const CAS_SCRIPT: &str = "local cur = redis.call('get', KEYS[1]) \
if (ARGV[1] == '0' and not cur) or (ARGV[1] == '1' and cur == ARGV[2]) then \
redis.call('set', KEYS[1], ARGV[3]) return 1 end return 0";

/// Sends one compare-and-set and records it.
pub fn perform_cas(
    conn: &mut Connection,
    clock: Clock,
    process: u32,
    key: String,
    expected: Option<String>,
    input: Option<String>,
) -> Op {
    let flag: &[u8] = if expected.is_some() { b"1" } else { b"0" };
    let args: Vec<&[u8]> = vec![
        b"EVAL",
        CAS_SCRIPT.as_bytes(),
        b"1",
        key.as_bytes(),
        flag,
        expected.as_deref().unwrap_or("").as_bytes(),
        input.as_deref().unwrap_or("").as_bytes(),
    ];
    let mut op = record(conn, clock, process, &args, Kind::Cas);
    op.key = key;
    op.input = input;
    op.expected = expected;
    op
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
    let mut args: Vec<&[u8]> = match kind {
        Kind::Write => vec![b"SET", key.as_bytes()],
        Kind::Read => vec![b"GET", key.as_bytes()],
        Kind::Incr => vec![b"INCR", key.as_bytes()],
        Kind::Append => vec![b"RPUSH", key.as_bytes()],
        Kind::ReadList => vec![b"LRANGE", key.as_bytes(), b"0", b"-1"],
        Kind::Cas => unreachable!("a compare-and-set goes through perform_cas"),
    };
    args.extend(input.as_deref().map(str::as_bytes));
    let mut op = record(conn, clock, process, &args, kind);
    op.key = key;
    op.input = input;
    op
}

/// Sends `args` and records the operation's times and outcome (key and input are the
/// caller's to fill in).
fn record(conn: &mut Connection, clock: Clock, process: u32, args: &[&[u8]], kind: Kind) -> Op {
    let invoke_ns = clock.now_ns();
    let reply = conn.call(args);
    let complete_ns = clock.now_ns();
    let observed = match reply {
        Ok(reply) => classify(kind, reply),
        Err(_) => Observed::unknown(),
    };
    Op {
        process,
        key: String::new(),
        kind,
        input: None,
        output: observed.output,
        elements: observed.elements,
        expected: None,
        invoke_ns,
        complete_ns,
        outcome: observed.outcome,
    }
}

/// What a reply says about an operation.
#[derive(Debug, PartialEq, Eq)]
pub struct Observed {
    pub outcome: Outcome,
    pub output: Option<String>,
    pub elements: Option<Vec<String>>,
}

impl Observed {
    fn unknown() -> Observed {
        Observed::of(Outcome::Unknown, None)
    }

    fn of(outcome: Outcome, output: Option<String>) -> Observed {
        Observed {
            outcome,
            output,
            elements: None,
        }
    }
}

/// The outcome and output a reply means for an operation of `kind`.
///
/// `-LOADING` (the server refuses everything while it replays its log) and "unknown
/// command" (a server without lists) are the errors that certainly mean "not
/// executed". Any other error, or a reply of the wrong type, does not rule out that the
/// write took effect (an `-IOERR` after a failed log write, say), so it is unknown.
pub fn classify(kind: Kind, reply: Reply) -> Observed {
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    match (kind, reply) {
        (Kind::Write, Reply::Simple(ok)) if ok == "OK" => Observed::of(Outcome::Ok, None),
        (Kind::Read, Reply::Bulk(value)) => Observed::of(Outcome::Ok, value.map(text)),
        (Kind::Incr | Kind::Append | Kind::Cas, Reply::Integer(n)) => {
            Observed::of(Outcome::Ok, Some(n.to_string()))
        }
        (Kind::ReadList, Reply::Array(Some(items))) => {
            let elements: Option<Vec<String>> = items
                .into_iter()
                .map(|item| match item {
                    Reply::Bulk(Some(value)) => Some(text(value)),
                    _ => None,
                })
                .collect();
            match elements {
                Some(elements) => Observed {
                    outcome: Outcome::Ok,
                    output: None,
                    elements: Some(elements),
                },
                None => Observed::unknown(),
            }
        }
        (_, Reply::Error(e))
            if e.starts_with("LOADING") || e.starts_with("ERR unknown command") =>
        {
            Observed::of(Outcome::Fail, None)
        }
        _ => Observed::unknown(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_map_to_outcomes() {
        let of = |outcome, output: Option<&str>| Observed::of(outcome, output.map(String::from));
        assert_eq!(
            classify(Kind::Write, Reply::Simple("OK".into())),
            of(Outcome::Ok, None)
        );
        assert_eq!(
            classify(Kind::Read, Reply::Bulk(Some(b"v".to_vec()))),
            of(Outcome::Ok, Some("v"))
        );
        assert_eq!(
            classify(Kind::Read, Reply::Bulk(None)),
            of(Outcome::Ok, None)
        );
        assert_eq!(
            classify(Kind::Incr, Reply::Integer(7)),
            of(Outcome::Ok, Some("7"))
        );
        assert_eq!(
            classify(Kind::Append, Reply::Integer(3)),
            of(Outcome::Ok, Some("3"))
        );
        let list = Reply::Array(Some(vec![
            Reply::Bulk(Some(b"a".to_vec())),
            Reply::Bulk(Some(b"b".to_vec())),
        ]));
        assert_eq!(
            classify(Kind::ReadList, list).elements,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        let empty = classify(Kind::ReadList, Reply::Array(Some(vec![])));
        assert_eq!((empty.outcome, empty.elements), (Outcome::Ok, Some(vec![])));
        let odd = Reply::Array(Some(vec![Reply::Integer(1)]));
        assert_eq!(classify(Kind::ReadList, odd), Observed::unknown());
        let loading = Reply::Error("LOADING Holdfast is loading the dataset in memory".into());
        assert_eq!(classify(Kind::Write, loading), of(Outcome::Fail, None));
        let unknown_command =
            Reply::Error("ERR unknown command 'RPUSH', with args beginning with: 'k' 'v' ".into());
        assert_eq!(
            classify(Kind::Append, unknown_command),
            of(Outcome::Fail, None)
        );
        let ioerr = Reply::Error("IOERR the log failed".into());
        assert_eq!(classify(Kind::Incr, ioerr), Observed::unknown());
        assert_eq!(
            classify(Kind::Incr, Reply::Simple("OK".into())),
            Observed::unknown()
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

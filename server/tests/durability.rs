//! Real-process tests of what the durable server promises, and of the DEBUG DIGEST
//! family they rely on to compare whole keyspaces.
//!
//! - `digest_*`: DEBUG DIGEST and DIGEST-VALUE reply what redis-server replies for the
//!   same data; DIGEST-TTL tells expiry times apart; logically expired keys do not count.
//! - `crash_*` (invariants 1, 4 and 5): concurrent clients write, the server is SIGKILLed at
//!   a random moment, and after the restart every acknowledged write is there and every
//!   value there was written by someone.
//! - `dirty_read_*` (invariant 2): with commits held (DEBUG HOLD-COMMITS), neither a write
//!   nor a read of the key it wrote is answered, while reads of other keys are.
//! - `replay_*`: a random workload of every write command, then a restart (clean SHUTDOWN,
//!   or SIGKILL after the last reply), and DEBUG DIGEST-TTL is unchanged; and a log whose
//!   keys' TTLs ran out before the restart replays to only the live keys.
//!
//! The durable tests start `--durability local` on a temporary directory;
//! `HOLDFAST_TEST_DURABILITY=none` runs them without a log, where they must fail (that is
//! how to see that they can). Randomised tests print their seed; `HOLDFAST_CRASH_SEED` /
//! `HOLDFAST_REPLAY_SEED` replay the same choices (thread timing still varies).
//!
//! Poisoned log (a failing write or fsync must fail the held replies, never show their
//! writes) is not tested here. A failing fsync needs a device-mapper target (dm-error,
//! dm-flakey) or a fault-injecting file system; RLIMIT_FSIZE lowered on the running server
//! (with SIGXFSZ ignored) did not make the log's O_DIRECT writes fail, and set before the
//! start it stops the segment preallocation instead.

mod common;

use common::{durability_mode, RedisServer, Server, TempDir};
use holdfast_server::shard::slot::key_core;
use redis::Connection;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

// ---------------------------------------------------------------------------------------
// DEBUG DIGEST

/// Data with every shape the digest distinguishes: integers and strings that look like
/// them, empty, binary and long values, hashes in both encodings, TTLs, keys on both
/// cores, three databases.
fn digest_workload(con: &mut Connection) {
    for i in 0..200 {
        let key = format!("key:{i}");
        let value = match i % 5 {
            0 => i.to_string(),
            1 => format!("00{i}"),
            2 => String::new(),
            3 => "x".repeat(i * 3),
            _ => format!("v\r\n\0{i}"),
        };
        let _: () = query(con, &["SET", &key, &value]);
        if i % 7 == 0 {
            let _: i64 = query(con, &["EXPIRE", &key, "100000"]);
        }
    }
    for i in 0..40 {
        let key = format!("hash:{i}");
        for j in 0..=i % 6 {
            let value = match j % 3 {
                0 => j.to_string(),
                1 => String::new(),
                _ => format!("v\r\n\0{i}"),
            };
            let _: i64 = query(con, &["HSET", &key, &format!("f{j}"), &value]);
        }
        if i % 7 == 0 {
            let _: i64 = query(con, &["EXPIRE", &key, "100000"]);
        }
    }
    // Tables: past the entry count, and past the value length.
    for i in 0..600 {
        let _: i64 = query(
            con,
            &["HSET", "hash:big", &format!("field:{i}"), &i.to_string()],
        );
    }
    let _: i64 = query(con, &["HSET", "hash:long", "f", &"x".repeat(65)]);
    for db in ["1", "15"] {
        let _: () = query(con, &["SELECT", db]);
        let _: () = query(con, &["MSET", "a", "1", "b", db, "{b}c", "3"]);
        let _: i64 = query(con, &["HSET", "h", "a", db, "b", "2"]);
    }
    let _: () = query(con, &["SELECT", "0"]);
    list_digest_workload(con);
    set_digest_workload(con);
    zset_digest_workload(con);
    stream_digest_workload(con);
}

/// Lists: order matters to their digest; integers, empty and binary elements; a list of
/// many nodes; TTLs.
fn list_digest_workload(con: &mut Connection) {
    for i in 0..30 {
        let key = format!("list:{i}");
        for j in 0..=i % 5 {
            let value = match j % 3 {
                0 => j.to_string(),
                1 => String::new(),
                _ => format!("v\r\n\0{i}"),
            };
            let push = if j % 2 == 0 { "RPUSH" } else { "LPUSH" };
            let _: i64 = query(con, &[push, &key, &value]);
        }
        if i % 7 == 0 {
            let _: i64 = query(con, &["EXPIRE", &key, "100000"]);
        }
    }
    for i in 0..2000 {
        let _: i64 = query(con, &["RPUSH", "list:big", &format!("element:{i}")]);
    }
}

/// Sets in both encodings: intsets of every width, tables of strings, of integers past
/// set-max-intset-entries, and of integers mixed with strings that look like them.
fn set_digest_workload(con: &mut Connection) {
    for i in 0..30i64 {
        let key = format!("set:{i}");
        let members: Vec<String> = match i % 5 {
            0 => (0..=i).map(|j| (j * 7 - 50).to_string()).collect(),
            1 => vec![(i * 100_000).to_string(), (-i).to_string()],
            2 => vec![i64::MIN.to_string(), i64::MAX.to_string(), i.to_string()],
            3 => vec![format!("00{i}"), i.to_string(), String::new()],
            _ => (0..i).map(|j| format!("m\r\n\0{j}")).collect(),
        };
        if members.is_empty() {
            continue;
        }
        let args: Vec<&str> = ["SADD", key.as_str()]
            .into_iter()
            .chain(members.iter().map(String::as_str))
            .collect();
        let _: i64 = query(con, &args);
        if i % 7 == 0 {
            let _: i64 = query(con, &["EXPIRE", &key, "100000"]);
        }
    }
    let big: Vec<String> = (0..600).map(|i| i.to_string()).collect();
    let args: Vec<&str> = ["SADD", "set:big"]
        .into_iter()
        .chain(big.iter().map(String::as_str))
        .collect();
    let _: i64 = query(con, &args);
}

/// Sorted sets in both encodings (listpack; skiplist past 128 entries or a 64-byte
/// member), with scores Redis prints in different ways: integers, fractions, inf, -0.
fn zset_digest_workload(con: &mut Connection) {
    for i in 0..30 {
        let key = format!("zset:{i}");
        for j in 0..=i % 5 {
            let score = match j % 4 {
                0 => j.to_string(),
                1 => format!("{j}.1"),
                2 => "-inf".to_string(),
                _ => format!("-{j}e-3"),
            };
            let _: i64 = query(con, &["ZADD", &key, &score, &format!("m{j}\0")]);
        }
        if i % 7 == 0 {
            let _: i64 = query(con, &["EXPIRE", &key, "100000"]);
        }
    }
    for i in 0..200 {
        let member = format!("member:{i}");
        let _: i64 = query(con, &["ZADD", "zset:big", &format!("{i}.5"), &member]);
    }
    let long = "y".repeat(65);
    let _: i64 = query(
        con,
        &["ZADD", "zset:long", "-0", "a", "1e20", &long, "inf", "b"],
    );
}

/// Streams: entries in order with their fields, deleted entries left out, a stream of
/// several blocks, an empty stream with a group (groups are not part of the digest); TTLs.
fn stream_digest_workload(con: &mut Connection) {
    for i in 0..10u64 {
        let key = format!("stream:{i}");
        for j in 0..=i % 4 {
            let id = format!("{}-{j}", i + 1);
            let _: String = query(con, &["XADD", &key, &id, "f", &j.to_string(), "", "\0x"]);
        }
        if i % 3 == 0 {
            let _: i64 = query(con, &["XDEL", &key, &format!("{}-0", i + 1)]);
        }
        if i % 4 == 1 {
            let _: i64 = query(con, &["EXPIRE", &key, "100000"]);
        }
    }
    for i in 0..250 {
        let _: String = query(
            con,
            &["XADD", "stream:big", &format!("{i}-1"), "n", &i.to_string()],
        );
    }
    let _: () = query(
        con,
        &["XGROUP", "CREATE", "stream:empty", "g", "$", "MKSTREAM"],
    );
    let _: () = query(con, &["XGROUP", "CREATE", "stream:1", "g", "0"]);
}

#[test]
fn digest_and_digest_value_match_redis_server() {
    let Some(redis) = RedisServer::start(&["--enable-debug-command", "yes"]) else {
        eprintln!("skipped: redis-server is not installed, nothing to compare with");
        return;
    };
    let ours = Server::start();
    let mut theirs = redis.client();
    let mut mine = ours.client();
    let empty: String = query(&mut mine, &["DEBUG", "DIGEST"]);
    assert_eq!(empty, "0".repeat(40));
    digest_workload(&mut theirs);
    digest_workload(&mut mine);
    let expected: String = query(&mut theirs, &["DEBUG", "DIGEST"]);
    let got: String = query(&mut mine, &["DEBUG", "DIGEST"]);
    assert_eq!(got, expected, "DEBUG DIGEST");
    assert_ne!(got, empty);
    let keys = [
        "DEBUG",
        "DIGEST-VALUE",
        "key:0",
        "key:1",
        "key:2",
        "key:3",
        "key:4",
        "hash:0",
        "hash:5",
        "hash:big",
        "hash:long",
        "list:0",
        "list:4",
        "list:big",
        "zset:0",
        "zset:4",
        "zset:big",
        "zset:long",
        "stream:0",
        "stream:1",
        "stream:5",
        "stream:big",
        "stream:empty",
    ];
    let with_missing = [&keys[..], &["key:7", "missing"]].concat();
    let expected: Vec<String> = query(&mut theirs, &with_missing);
    let got: Vec<String> = query(&mut mine, &with_missing);
    assert_eq!(got, expected, "DEBUG DIGEST-VALUE");
    assert_eq!(got.last().unwrap(), &"0".repeat(40));
    let sets = [
        "DEBUG",
        "DIGEST-VALUE",
        "set:0",
        "set:1",
        "set:2",
        "set:3",
        "set:4",
        "set:big",
    ];
    let expected: Vec<String> = query(&mut theirs, &sets);
    let got: Vec<String> = query(&mut mine, &sets);
    assert_eq!(got, expected, "DEBUG DIGEST-VALUE of sets");

    // Replies are status replies, as in Redis, and the key count is free.
    let mut raw = ours.raw();
    raw.roundtrip(b"DEBUG DIGEST-VALUE\r\n", b"*0\r\n");
    raw.roundtrip(
        b"SELECT 3\r\nDEBUG DIGEST-VALUE x\r\n",
        b"+OK\r\n*1\r\n+0000000000000000000000000000000000000000\r\n",
    );
    raw.roundtrip(
        b"DEBUG DIGEST now\r\n",
        b"-ERR unknown subcommand or wrong number of arguments for 'DIGEST'. Try DEBUG HELP.\r\n",
    );
}

#[test]
fn digest_ttl_sees_expiry_times_where_digest_sees_only_a_ttl() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = query(&mut con, &["SET", "k", "v", "PXAT", "4000000000000"]);
    let _: () = query(&mut con, &["SET", "other", "v"]);
    let digest: String = query(&mut con, &["DEBUG", "DIGEST"]);
    let digest_ttl: String = query(&mut con, &["DEBUG", "DIGEST-TTL"]);
    assert_ne!(digest_ttl, digest);
    let _: i64 = query(&mut con, &["PEXPIREAT", "k", "4000000000001"]);
    assert_eq!(query::<String>(&mut con, &["DEBUG", "DIGEST"]), digest);
    let moved: String = query(&mut con, &["DEBUG", "DIGEST-TTL"]);
    assert_ne!(
        moved, digest_ttl,
        "an expiry 1 ms later must change DIGEST-TTL"
    );
    let _: i64 = query(&mut con, &["PEXPIREAT", "k", "4000000000000"]);
    assert_eq!(
        query::<String>(&mut con, &["DEBUG", "DIGEST-TTL"]),
        digest_ttl
    );
}

#[test]
fn digest_leaves_out_keys_past_their_expiry_still_in_memory() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = query(&mut con, &["DEBUG", "SET-ACTIVE-EXPIRE", "0"]);
    for i in 0..20 {
        let _: () = query(&mut con, &["SET", &format!("stays{i}"), "v"]);
    }
    let before: String = query(&mut con, &["DEBUG", "DIGEST"]);
    let before_ttl: String = query(&mut con, &["DEBUG", "DIGEST-TTL"]);
    for i in 0..20 {
        let _: () = query(&mut con, &["SET", &format!("goes{i}"), "v", "PX", "1"]);
    }
    std::thread::sleep(Duration::from_millis(20));
    // Nothing read the keys and active expiry is off: they are still in memory.
    let info: String = query(&mut con, &["INFO", "keyspace"]);
    assert!(
        info.contains("keys=40"),
        "expired keys were removed: {info}"
    );
    assert_eq!(query::<String>(&mut con, &["DEBUG", "DIGEST"]), before);
    assert_eq!(
        query::<String>(&mut con, &["DEBUG", "DIGEST-TTL"]),
        before_ttl
    );
}

// ---------------------------------------------------------------------------------------
// A small RESP2 client: pipelining, error replies as values, and read timeouts that tell
// "no reply yet" apart from a reply, which the durable tests need and a client library
// hides.

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Option<Vec<u8>>),
    Array(Option<Vec<Resp>>),
}

impl Resp {
    fn ok() -> Resp {
        Resp::Simple("OK".into())
    }

    fn bulk(bytes: &[u8]) -> Resp {
        Resp::Bulk(Some(bytes.to_vec()))
    }

    fn text(&self) -> String {
        match self {
            Resp::Simple(s) => s.clone(),
            Resp::Bulk(Some(b)) => String::from_utf8_lossy(b).into_owned(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    fn int(&self) -> i64 {
        match self {
            Resp::Int(n) => *n,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }
}

struct Conn {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Conn {
    fn open(port: u16) -> Conn {
        Conn::try_open(port).expect("connect")
    }

    fn try_open(port: u16) -> io::Result<Conn> {
        let stream = TcpStream::connect(("127.0.0.1", port))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Conn {
            writer: stream.try_clone()?,
            reader: BufReader::new(stream),
        })
    }

    fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<()> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            let arg = arg.as_ref();
            out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            out.extend_from_slice(arg);
            out.extend_from_slice(b"\r\n");
        }
        self.writer.write_all(&out)
    }

    fn read(&mut self) -> io::Result<Resp> {
        let mut line = Vec::new();
        self.reader.read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed mid-reply",
            ));
        }
        let text = String::from_utf8_lossy(&line[1..line.len() - 2]).into_owned();
        let number = || -> io::Result<i64> {
            text.parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, text.clone()))
        };
        Ok(match line[0] {
            b'+' => Resp::Simple(text.clone()),
            b'-' => Resp::Error(text.clone()),
            b':' => Resp::Int(number()?),
            b'$' => match number()? {
                -1 => Resp::Bulk(None),
                len => {
                    let mut bytes = vec![0; len as usize + 2];
                    self.reader.read_exact(&mut bytes)?;
                    bytes.truncate(len as usize);
                    Resp::Bulk(Some(bytes))
                }
            },
            b'*' => match number()? {
                -1 => Resp::Array(None),
                len => Resp::Array(Some(
                    (0..len).map(|_| self.read()).collect::<io::Result<_>>()?,
                )),
            },
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected reply type byte {other:#x}"),
                ))
            }
        })
    }

    fn call<A: AsRef<[u8]>>(&mut self, args: &[A]) -> io::Result<Resp> {
        self.send(args)?;
        self.read()
    }

    /// A call that must succeed with a non-error reply.
    fn must<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Resp {
        let reply = self
            .call(args)
            .unwrap_or_else(|e| panic!("{}: {e}", show(args)));
        if let Resp::Error(e) = &reply {
            panic!("{}: -{e}", show(args));
        }
        reply
    }

    /// The next reply if one arrives within `wait`; None if none does.
    fn read_within(&mut self, wait: Duration) -> Option<Resp> {
        self.writer.set_read_timeout(Some(wait)).unwrap();
        let reply = match self.read() {
            Ok(reply) => Some(reply),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            Err(e) => panic!("connection failed while waiting for a reply: {e}"),
        };
        self.writer
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        reply
    }
}

fn show<A: AsRef<[u8]>>(args: &[A]) -> String {
    let words: Vec<String> = args
        .iter()
        .map(|a| format!("{:?}", String::from_utf8_lossy(a.as_ref())))
        .collect();
    words.join(" ")
}

/// xorshift64*: seeded choices without a dependency; a failing seed replays.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// The seed from `var`, or a fresh one; printed either way so a failure can be replayed.
fn seed_from(var: &str) -> u64 {
    let seed = std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    println!("seed {seed} (replay with {var}={seed})");
    seed
}

fn env_usize(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Names `{prefix}{i}` until each of the two cores owns `per_core` of them.
fn names_on_both_cores(prefix: &str, per_core: usize) -> [Vec<String>; 2] {
    let mut by_core: [Vec<String>; 2] = [Vec::new(), Vec::new()];
    for i in 0.. {
        let name = format!("{prefix}{i}");
        let core = key_core(name.as_bytes(), 2);
        if by_core[core].len() < per_core {
            by_core[core].push(name);
        }
        if by_core.iter().all(|names| names.len() == per_core) {
            break;
        }
    }
    by_core
}

// ---------------------------------------------------------------------------------------
// Crash test

/// One key's state as the clients know it.
#[derive(Clone, PartialEq, Eq)]
struct KeyState {
    value: Vec<u8>,
    has_ttl: bool,
}

impl std::fmt::Debug for KeyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ttl = if self.has_ttl { " (with a TTL)" } else { "" };
        write!(f, "{:?}{ttl}", String::from_utf8_lossy(&self.value))
    }
}

/// The keys of one client that exist, and their states.
type State = BTreeMap<String, KeyState>;

/// A write a crash-test client sends. Each client owns its keys, so its own writes are the
/// only ones that touch them, in the order it sends them.
#[derive(Clone, Debug)]
enum Op {
    Set(String, String),
    MSet(Vec<(String, String)>),
    Del(Vec<String>),
    Incr(String),
    Append(String, String),
    Expire(String),
}

/// A long TTL: it never runs out during a test, but it must survive the restart.
const LONG_TTL_S: &str = "100000";

impl Op {
    fn args(&self) -> Vec<String> {
        let mut args: Vec<String> = Vec::new();
        let mut push = |words: &[&str]| args.extend(words.iter().map(|w| w.to_string()));
        match self {
            Op::Set(k, v) => push(&["SET", k, v]),
            Op::MSet(pairs) => {
                push(&["MSET"]);
                pairs.iter().for_each(|(k, v)| push(&[k, v]));
            }
            Op::Del(keys) => {
                push(&["DEL"]);
                keys.iter().for_each(|k| push(&[k]));
            }
            Op::Incr(k) => push(&["INCR", k]),
            Op::Append(k, s) => push(&["APPEND", k, s]),
            Op::Expire(k) => push(&["EXPIRE", k, LONG_TTL_S]),
        }
        args
    }

    /// Applies the write to the model and returns the reply Redis gives for it.
    fn apply(&self, state: &mut State) -> Resp {
        let fresh = |value: &str| KeyState {
            value: value.as_bytes().to_vec(),
            has_ttl: false,
        };
        match self {
            Op::Set(k, v) => {
                state.insert(k.clone(), fresh(v));
                Resp::ok()
            }
            Op::MSet(pairs) => {
                for (k, v) in pairs {
                    state.insert(k.clone(), fresh(v));
                }
                Resp::ok()
            }
            Op::Del(keys) => {
                Resp::Int(keys.iter().filter(|k| state.remove(*k).is_some()).count() as i64)
            }
            Op::Incr(k) => {
                let entry = state.entry(k.clone()).or_insert_with(|| fresh("0"));
                let n: i64 = String::from_utf8_lossy(&entry.value)
                    .parse::<i64>()
                    .unwrap()
                    + 1;
                entry.value = n.to_string().into_bytes();
                Resp::Int(n)
            }
            Op::Append(k, s) => {
                let entry = state.entry(k.clone()).or_insert_with(|| fresh(""));
                entry.value.extend_from_slice(s.as_bytes());
                Resp::Int(entry.value.len() as i64)
            }
            Op::Expire(k) => match state.get_mut(k) {
                Some(entry) => {
                    entry.has_ttl = true;
                    Resp::Int(1)
                }
                None => Resp::Int(0),
            },
        }
    }
}

/// The keys a client owns: strings and counters, each spread over both cores.
#[derive(Clone)]
struct ClientKeys {
    strings: [Vec<String>; 2],
    counters: [Vec<String>; 2],
}

impl ClientKeys {
    fn new(client: usize) -> ClientKeys {
        ClientKeys {
            strings: names_on_both_cores(&format!("c{client}:s"), 4),
            counters: names_on_both_cores(&format!("c{client}:n"), 2),
        }
    }

    fn all(&self) -> Vec<String> {
        self.strings
            .iter()
            .chain(&self.counters)
            .flatten()
            .cloned()
            .collect()
    }

    fn random_op(&self, rng: &mut Rng, value: String) -> Op {
        let core = rng.below(2);
        let string = rng.pick(&self.strings[core]).clone();
        let counter = rng.pick(&self.counters[core]).clone();
        let elsewhere = rng.pick(&self.strings[1 - core]).clone();
        match rng.below(100) {
            0..=34 => Op::Set(string, value),
            35..=44 => Op::MSet(vec![(string, value.clone()), (elsewhere, value)]),
            45..=54 => Op::Del(vec![string, rng.pick(&self.counters[1 - core]).clone()]),
            55..=74 => Op::Incr(counter),
            75..=89 => Op::Append(string, format!("+{value}")),
            _ if rng.chance(50) => Op::Expire(string),
            _ => Op::Expire(counter),
        }
    }
}

/// What one client knows after a round: the state its acknowledged writes made, and the
/// write it sent whose reply never came (it may or may not have happened).
struct ClientRun {
    acked: State,
    in_flight: Option<Op>,
    acked_writes: usize,
}

/// Writes until the server dies. Every reply is checked against the model, so the model
/// is known to describe what the server acknowledged.
fn crash_client(
    port: u16,
    client: usize,
    seed: u64,
    keys: &ClientKeys,
    mut acked: State,
) -> ClientRun {
    let mut rng = Rng::new(seed);
    // On a loaded machine the kill can come before this thread connects.
    let Ok(mut conn) = Conn::try_open(port) else {
        return ClientRun {
            acked,
            in_flight: None,
            acked_writes: 0,
        };
    };
    for seq in 0usize.. {
        let op = keys.random_op(&mut rng, format!("c{client}-{seed:x}-{seq}"));
        let reply = match conn.call(&op.args()) {
            Ok(reply) => reply,
            Err(_) => {
                return ClientRun {
                    acked,
                    in_flight: Some(op),
                    // Every earlier write was acknowledged, or the loop had ended there.
                    acked_writes: seq,
                };
            }
        };
        let mut next = acked.clone();
        let expected = op.apply(&mut next);
        assert_eq!(reply, expected, "client {client}: reply to {op:?}");
        acked = next;
    }
    unreachable!("the loop only ends when the server is gone")
}

/// Reads every key a client owns: value and whether it has a TTL.
fn read_state(conn: &mut Conn, keys: &[String]) -> State {
    for key in keys {
        conn.send(&["GET", key]).unwrap();
        conn.send(&["PEXPIRETIME", key]).unwrap();
    }
    let mut state = State::new();
    for key in keys {
        let value = conn.read().unwrap();
        let expire = conn.read().unwrap().int();
        if let Resp::Bulk(Some(value)) = value {
            state.insert(
                key.clone(),
                KeyState {
                    value,
                    has_ttl: expire > 0,
                },
            );
        } else {
            assert_eq!(value, Resp::Bulk(None), "GET {key}");
        }
    }
    state
}

/// Every key in database 0, by SCAN.
fn scan_all(conn: &mut Conn) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    let mut cursor = "0".to_string();
    loop {
        let Resp::Array(Some(reply)) = conn.must(&["SCAN", &cursor, "COUNT", "1000"]) else {
            panic!("SCAN replied with something else than an array");
        };
        cursor = reply[0].text();
        if let Resp::Array(Some(names)) = &reply[1] {
            keys.extend(names.iter().map(Resp::text));
        }
        if cursor == "0" {
            return keys;
        }
    }
}

/// Checks the restarted server against what the clients knew; returns the state each
/// client's keys are in now (its in-flight write resolved one way or the other), or the
/// list of violations.
fn check_after_crash(
    port: u16,
    runs: &[ClientRun],
    keys: &[ClientKeys],
) -> Result<Vec<State>, Vec<String>> {
    let mut conn = Conn::open(port);
    let mut problems = Vec::new();
    let mut states = Vec::new();
    for (client, (run, keys)) in runs.iter().zip(keys).enumerate() {
        let found = read_state(&mut conn, &keys.all());
        let mut after_in_flight = run.acked.clone();
        if let Some(op) = &run.in_flight {
            op.apply(&mut after_in_flight);
        }
        if found != run.acked && found != after_in_flight {
            problems.extend(describe_loss(client, run, &found, &after_in_flight));
        }
        states.push(found);
    }
    let owned: BTreeSet<String> = keys.iter().flat_map(ClientKeys::all).collect();
    for stray in scan_all(&mut conn).difference(&owned) {
        problems.push(format!("key {stray:?} exists but no client ever wrote it"));
    }
    if problems.is_empty() {
        Ok(states)
    } else {
        Err(problems)
    }
}

/// The first `n` lines, and how many more there were.
fn first_lines(lines: &[String], n: usize) -> String {
    let mut text = lines[..lines.len().min(n)].join("\n");
    if lines.len() > n {
        text.push_str(&format!("\n... and {} more", lines.len() - n));
    }
    text
}

fn describe_loss(
    client: usize,
    run: &ClientRun,
    found: &State,
    after_in_flight: &State,
) -> Vec<String> {
    let names: BTreeSet<&String> = run
        .acked
        .keys()
        .chain(found.keys())
        .chain(after_in_flight.keys())
        .collect();
    let mut lines = vec![format!(
        "client {client}: state matches neither its acknowledged writes nor those plus its \
         unacknowledged {:?}",
        run.in_flight
    )];
    for name in names {
        let (now, acked) = (found.get(name), run.acked.get(name));
        if now != acked && now != after_in_flight.get(name) {
            lines.push(format!(
                "  {name}: found {now:?}, acknowledged {acked:?}, or after the unacknowledged \
                 write {:?}",
                after_in_flight.get(name)
            ));
        }
    }
    lines
}

#[test]
fn crash_recovers_every_acknowledged_write_and_nothing_else() {
    let rounds = env_usize("HOLDFAST_CRASH_ROUNDS", 20);
    let clients = 6;
    let seed = seed_from("HOLDFAST_CRASH_SEED");
    let mut rng = Rng::new(seed);
    let dir = TempDir::new("crash");
    let keys: Vec<ClientKeys> = (0..clients).map(ClientKeys::new).collect();
    let mut states: Vec<State> = vec![State::new(); clients];
    let started = Instant::now();
    let mut total_acked = 0;
    let mut server = Server::start_durable(&dir.path);
    for round in 0..rounds {
        let port = server.port;
        let kill_after = Duration::from_millis(30 + rng.below(250) as u64);
        let runs: Vec<ClientRun> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..clients)
                .map(|client| {
                    let client_seed = rng.next();
                    let (keys, state) = (&keys[client], states[client].clone());
                    scope.spawn(move || crash_client(port, client, client_seed, keys, state))
                })
                .collect();
            std::thread::sleep(kill_after);
            server.kill();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let acked: usize = runs.iter().map(|r| r.acked_writes).sum();
        println!("round {round}: killed after {kill_after:?}, {acked} writes acknowledged");
        total_acked += acked;
        let restarting = Instant::now();
        server = Server::start_durable(&dir.path);
        println!("  restarted in {:?}", restarting.elapsed());
        states = check_after_crash(server.port, &runs, &keys).unwrap_or_else(|problems| {
            panic!(
                "round {round} (seed {seed}, killed after {kill_after:?}, {acked} writes \
                 acknowledged in the round, durability {}):\n{}",
                durability_mode(),
                first_lines(&problems, 40)
            )
        });
    }
    println!(
        "{rounds} rounds, {total_acked} acknowledged writes, {:?}",
        started.elapsed()
    );
    assert!(
        total_acked > rounds * clients,
        "the clients barely wrote anything"
    );
}

// ---------------------------------------------------------------------------------------
// Dirty reads

/// How long "no reply" is waited for. A reply that was going to come at once arrives in
/// well under a millisecond on loopback; this leaves room for a loaded machine.
const NO_REPLY_WAIT: Duration = Duration::from_millis(300);

/// With commits held, a write executes but is not acknowledged; a read of its key must
/// wait for the write's commit (it would otherwise show a value that could still vanish),
/// while reads of other keys, on the same core and on the other, are answered at once.
/// DEBUG DIGEST and DIGEST-VALUE of the key reveal the value as much as GET: they wait too.
#[test]
fn dirty_read_waits_for_the_commit_and_reads_of_other_keys_do_not() {
    let dir = TempDir::new("dirty-read");
    let server = Server::start_durable(&dir.path);
    let port = server.port;
    let [core0, core1] = names_on_both_cores("dirty:", 2);
    let mut admin = Conn::open(port);
    for clean in [&core0[1], &core1[1]] {
        admin.must(&["SET", clean, "committed"]);
    }
    for (written, cores) in [
        (&core0[0], [&core0[1], &core1[1]]),
        (&core1[0], [&core1[1], &core0[1]]),
    ] {
        assert_eq!(admin.must(&["DEBUG", "HOLD-COMMITS", "1"]), Resp::ok());
        let mut writer = Conn::open(port);
        writer.send(&["SET", written, "uncommitted"]).unwrap();
        assert_eq!(
            writer.read_within(NO_REPLY_WAIT),
            None,
            "SET {written} was acknowledged while commits were held"
        );
        let mut dirty_reader = Conn::open(port);
        dirty_reader.send(&["GET", written]).unwrap();
        assert_eq!(
            dirty_reader.read_within(NO_REPLY_WAIT),
            None,
            "GET {written} showed a write that is not committed"
        );
        for clean in cores {
            let mut reader = Conn::open(port);
            reader.send(&["GET", clean]).unwrap();
            assert_eq!(
                reader.read_within(Duration::from_secs(5)),
                Some(Resp::bulk(b"committed")),
                "GET {clean} (a clean key) waited for another key's commit"
            );
        }
        // The digests reveal the uncommitted value too: they wait as the GET does (each on
        // a connection of its own, or the second would only wait behind the first).
        let mut digests = Vec::new();
        for digest in [
            &["DEBUG", "DIGEST"][..],
            &["DEBUG", "DIGEST-VALUE", written],
        ] {
            let mut conn = Conn::open(port);
            conn.send(digest).unwrap();
            assert_eq!(
                conn.read_within(NO_REPLY_WAIT),
                None,
                "{} showed a write that is not committed",
                show(digest)
            );
            digests.push(conn);
        }
        let mut clean_digest = Conn::open(port);
        clean_digest
            .send(&["DEBUG", "DIGEST-VALUE", cores[0], cores[1]])
            .unwrap();
        assert!(
            clean_digest.read_within(Duration::from_secs(5)).is_some(),
            "DEBUG DIGEST-VALUE of clean keys waited for another key's commit"
        );
        assert_eq!(admin.must(&["DEBUG", "HOLD-COMMITS", "0"]), Resp::ok());
        assert_eq!(writer.read_within(Duration::from_secs(5)), Some(Resp::ok()));
        assert_eq!(
            dirty_reader.read_within(Duration::from_secs(5)),
            Some(Resp::bulk(b"uncommitted"))
        );
        for conn in &mut digests {
            assert!(conn.read_within(Duration::from_secs(5)).is_some());
        }
        admin.must(&["DEL", written]);
    }
}

// ---------------------------------------------------------------------------------------
// Replay equivalence

/// Databases the workload uses (SELECT, MOVE, COPY DB, SWAPDB).
const REPLAY_DBS: usize = 4;

/// Random commands covering every write command the server has, with relative and
/// absolute expiries (all far enough out that nothing expires during the test, or already
/// past, which deletes), multi-key commands across both cores, and values that are
/// integers, floats, binary and empty, so INCR-family commands sometimes succeed.
struct Workload {
    rng: Rng,
    keys: Vec<String>,
    /// Keys mostly left to the set commands, so sets live long enough to be popped from.
    set_keys: Vec<String>,
    /// A base for absolute expiry times: the workload's own clock, fixed at the start.
    now_ms: u64,
    /// Keys mostly left to the stream commands, so groups live long enough to be read.
    stream_keys: Vec<String>,
    /// The milliseconds of the next explicit stream ID (`ms-*`), rising.
    stream_ms: u64,
}

impl Workload {
    fn new(seed: u64) -> Workload {
        let [core0, core1] = names_on_both_cores("r:", 12);
        let mut keys: Vec<String> = core0.into_iter().chain(core1).collect();
        keys.extend(["{t}a", "{t}b", "n:1", "n:2", "f:1"].map(String::from));
        let [sets0, sets1] = names_on_both_cores("rs:", 4);
        Workload {
            rng: Rng::new(seed),
            keys,
            set_keys: sets0.into_iter().chain(sets1).collect(),
            now_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
            stream_keys: {
                let [streams0, streams1] = names_on_both_cores("rx:", 3);
                streams0.into_iter().chain(streams1).collect()
            },
            stream_ms: 1,
        }
    }

    fn key(&mut self) -> String {
        self.rng.pick(&self.keys).clone()
    }

    fn value(&mut self) -> Vec<u8> {
        match self.rng.below(6) {
            0 => self.rng.below(1000).to_string().into_bytes(),
            1 => format!("{}.{}", self.rng.below(100), self.rng.below(1000)).into_bytes(),
            2 => Vec::new(),
            3 => (0..self.rng.below(40))
                .map(|_| self.rng.below(256) as u8)
                .collect(),
            4 => vec![b'x'; 50 + self.rng.below(200)],
            _ => format!("v{}", self.rng.next()).into_bytes(),
        }
    }

    fn db(&mut self) -> String {
        self.rng.below(REPLAY_DBS).to_string()
    }

    /// Seconds far enough away that nothing expires while the test runs.
    fn ttl_s(&mut self) -> String {
        (100_000 + self.rng.below(100_000)).to_string()
    }

    fn future_ms(&mut self) -> u64 {
        self.now_ms + 100_000_000 + self.rng.below(100_000_000) as u64
    }

    /// An absolute time in Unix seconds: usually ahead, sometimes already past.
    fn at_s(&mut self) -> String {
        if self.rng.chance(10) {
            (self.now_ms / 1000 - 1 - self.rng.below(1000) as u64).to_string()
        } else {
            (self.future_ms() / 1000).to_string()
        }
    }

    fn at_ms(&mut self) -> String {
        if self.rng.chance(10) {
            (self.now_ms - 1 - self.rng.below(1000) as u64).to_string()
        } else {
            self.future_ms().to_string()
        }
    }

    fn set_options(&mut self, args: &mut Vec<Vec<u8>>) {
        let expiry = match self.rng.below(7) {
            0 => vec!["EX".into(), self.ttl_s()],
            1 => vec!["PX".into(), format!("{}000", self.ttl_s())],
            2 => vec!["EXAT".into(), self.at_s()],
            3 => vec!["PXAT".into(), self.at_ms()],
            4 => vec!["KEEPTTL".into()],
            _ => vec![],
        };
        args.extend(expiry.into_iter().map(String::into_bytes));
        match self.rng.below(6) {
            0 => args.push(b"NX".to_vec()),
            1 => args.push(b"XX".to_vec()),
            _ => {}
        }
        if self.rng.chance(20) {
            args.push(b"GET".to_vec());
        }
    }

    fn expire_option(&mut self, args: &mut Vec<Vec<u8>>) {
        if let Some(option) = ["NX", "XX", "GT", "LT"].get(self.rng.below(8)) {
            args.push(option.as_bytes().to_vec());
        }
    }

    /// A field name: mostly from a few, so fields are overwritten and deleted; sometimes
    /// past hash-max-listpack-value, which turns the hash into a table.
    fn field(&mut self) -> Vec<u8> {
        match self.rng.below(20) {
            0 => vec![b'F'; 65 + self.rng.below(20)],
            _ => format!("f{}", self.rng.below(8)).into_bytes(),
        }
    }

    fn set_key(&mut self) -> String {
        self.rng.pick(&self.set_keys).clone()
    }

    /// A set member: mostly small integers (intsets, of every width now and then),
    /// sometimes strings and integer look-alikes, which make tables.
    fn member(&mut self) -> Vec<u8> {
        match self.rng.below(20) {
            0 => b"s".to_vec(),
            1 => format!("0{}", self.rng.below(10)).into_bytes(),
            2 => (self.rng.below(10) as i64 * 1_000_000_007)
                .to_string()
                .into_bytes(),
            3 => (-(self.rng.below(10) as i64) * 70_001)
                .to_string()
                .into_bytes(),
            _ => self.rng.below(30).to_string().into_bytes(),
        }
    }

    /// A write to a set, or one that combines sets on any cores. SPOP is random: it must
    /// replay as what it removed.
    fn set_command(&mut self, k: &str, k2: &str) -> Vec<Vec<u8>> {
        let (k, k2) = match self.rng.chance(80) {
            true => (self.set_key(), self.set_key()),
            false => (k.to_string(), k2.to_string()),
        };
        let (k, k2) = (k.as_str(), k2.as_str());
        let name = |name: &str| vec![name.as_bytes().to_vec(), k.as_bytes().to_vec()];
        match self.rng.below(12) {
            0..=3 => {
                let mut args = name("SADD");
                if self.rng.chance(3) {
                    // Past set-max-intset-entries: a table of integers.
                    args.extend((0..600).map(|i: u32| i.to_string().into_bytes()));
                } else {
                    args.extend((0..1 + self.rng.below(5)).map(|_| self.member()));
                }
                args
            }
            4..=5 => {
                let members = (0..1 + self.rng.below(3)).map(|_| self.member());
                [name("SREM"), members.collect()].concat()
            }
            // A read that draws random numbers: the primary's random source moves on and
            // a replay's does not, so SPOP replays right only as what it removed.
            6 if self.rng.chance(50) => [name("SRANDMEMBER"), vec![b"-3".to_vec()]].concat(),
            6 => name("SPOP"),
            7 => [
                name("SPOP"),
                vec![self.rng.below(5).to_string().into_bytes()],
            ]
            .concat(),
            8 => [name("SMOVE"), vec![k2.as_bytes().to_vec(), self.member()]].concat(),
            _ => {
                let command = ["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"][self.rng.below(3)];
                let sources = [k2.to_string(), self.set_key(), self.key()];
                [name(command), sources.map(String::into_bytes).to_vec()].concat()
            }
        }
    }

    /// HyperLogLog and geo writes: PFADD (sparse, and dense past a few thousand
    /// elements), PFCOUNT of one key (which rewrites its cached cardinality), PFMERGE
    /// and GEOSEARCHSTORE / GEORADIUS STORE across cores, GEOADD.
    fn hll_geo_command(&mut self, k: &str, k2: &str) -> Vec<Vec<u8>> {
        let words = |items: &[&str]| -> Vec<Vec<u8>> {
            items.iter().map(|w| w.as_bytes().to_vec()).collect()
        };
        match self.rng.below(10) {
            0..=2 => {
                let mut args = words(&["PFADD", k]);
                let base = self.rng.below(1000);
                let n = if self.rng.chance(5) {
                    3000
                } else {
                    1 + self.rng.below(8)
                };
                args.extend((0..n).map(|i| format!("e{}", base * 7 + i).into_bytes()));
                args
            }
            3 => words(&["PFCOUNT", k]),
            4 => {
                let k3 = self.key();
                words(&["PFMERGE", k, k2, &k3])
            }
            5..=6 => {
                let mut args = words(&["GEOADD", k]);
                for _ in 0..1 + self.rng.below(3) {
                    let long = format!("{}.{}", self.rng.below(20), self.rng.below(1000));
                    let lat = format!("{}.{}", 30 + self.rng.below(20), self.rng.below(1000));
                    let member = format!("p{}", self.rng.below(12));
                    args.extend([long, lat, member].map(String::into_bytes));
                }
                args
            }
            7..=8 => {
                let mut args = words(&[
                    "GEOSEARCHSTORE",
                    k,
                    k2,
                    "FROMLONLAT",
                    "10",
                    "40",
                    "BYRADIUS",
                    "900",
                    "km",
                ]);
                if self.rng.chance(50) {
                    args.extend(words(&["COUNT", "3", "DESC", "STOREDIST"]));
                }
                args
            }
            _ => words(&["GEORADIUS", k2, "10", "40", "700", "km", "STORE", k]),
        }
    }

    /// A bit write: in place on one key (SETBIT, BITFIELD), or a BITOP over any cores.
    fn bit_command(&mut self, k: &str, k2: &str) -> Vec<Vec<u8>> {
        let words = |items: &[&str]| -> Vec<Vec<u8>> {
            items.iter().map(|w| w.as_bytes().to_vec()).collect()
        };
        let offset = self.rng.below(200).to_string();
        match self.rng.below(4) {
            0 => words(&["SETBIT", k, &offset, &self.rng.below(2).to_string()]),
            1 => {
                let overflow = ["WRAP", "SAT", "FAIL"][self.rng.below(3)];
                let by = (self.rng.below(200) as i64 - 100).to_string();
                let set = self.rng.below(300).to_string();
                words(&[
                    "BITFIELD", k, "OVERFLOW", overflow, "INCRBY", "i5", &offset, &by, "SET", "u7",
                    "#3", &set,
                ])
            }
            _ => {
                let op = ["AND", "OR", "XOR", "NOT"][self.rng.below(4)];
                let dst = self.key();
                match op {
                    "NOT" => words(&["BITOP", op, &dst, k]),
                    _ => words(&["BITOP", op, &dst, k, k2]),
                }
            }
        }
    }

    /// A write to a hash (long values from `value` make tables too).
    fn hash_command(&mut self, k: &str) -> Vec<Vec<u8>> {
        let name = |name: &str| vec![name.as_bytes().to_vec(), k.as_bytes().to_vec()];
        match self.rng.below(10) {
            0..=3 => {
                let mut args = name(if self.rng.chance(80) { "HSET" } else { "HMSET" });
                for _ in 0..1 + self.rng.below(4) {
                    args.push(self.field());
                    args.push(self.value());
                }
                args
            }
            4 => [name("HSETNX"), vec![self.field(), self.value()]].concat(),
            5..=6 => {
                let fields = (0..1 + self.rng.below(3)).map(|_| self.field());
                [name("HDEL"), fields.collect()].concat()
            }
            7..=8 => {
                let by = (self.rng.below(2001) as i64 - 1000)
                    .to_string()
                    .into_bytes();
                [name("HINCRBY"), vec![self.field(), by]].concat()
            }
            _ => {
                let by = format!(
                    "{}.{}",
                    self.rng.below(100) as i64 - 50,
                    self.rng.below(1000)
                );
                [name("HINCRBYFLOAT"), vec![self.field(), by.into_bytes()]].concat()
            }
        }
    }

    /// A member: mostly from a few, so members are rescored and removed; sometimes past
    /// zset-max-listpack-value, which turns the set into a skiplist.
    fn zset_member(&mut self) -> Vec<u8> {
        match self.rng.below(25) {
            0 => vec![b'M'; 65 + self.rng.below(20)],
            _ => format!("m{}", self.rng.below(10)).into_bytes(),
        }
    }

    fn score(&mut self) -> Vec<u8> {
        match self.rng.below(10) {
            0 => b"inf".to_vec(),
            1 => b"-inf".to_vec(),
            2 => format!(
                "{}.{}",
                self.rng.below(100) as i64 - 50,
                self.rng.below(1000)
            )
            .into_bytes(),
            _ => (self.rng.below(21) as i64 - 10).to_string().into_bytes(),
        }
    }

    /// A write to a sorted set: single-key commands log themselves; the multi-key ones
    /// (stores, ZMPOP) cross cores with `k2` and log what they did.
    fn zset_command(&mut self, k: &str, k2: &str) -> Vec<Vec<u8>> {
        let name = |name: &str| vec![name.as_bytes().to_vec(), k.as_bytes().to_vec()];
        let words = |items: &[&str]| -> Vec<Vec<u8>> {
            items.iter().map(|w| w.as_bytes().to_vec()).collect()
        };
        match self.rng.below(18) {
            0..=4 => {
                let mut args = name("ZADD");
                if let Some(flag) = ["NX", "XX", "GT", "LT", "CH"].get(self.rng.below(10)) {
                    args.push(flag.as_bytes().to_vec());
                }
                for _ in 0..1 + self.rng.below(4) {
                    args.push(self.score());
                    args.push(self.zset_member());
                }
                args
            }
            5 => [name("ZINCRBY"), vec![self.score(), self.zset_member()]].concat(),
            6 => [name("ZREM"), vec![self.zset_member(), self.zset_member()]].concat(),
            7 => {
                let count = self.rng.below(3).to_string();
                let pop = if self.rng.chance(50) {
                    "ZPOPMIN"
                } else {
                    "ZPOPMAX"
                };
                words(&[pop, k, &count])
            }
            8 => words(&["ZREMRANGEBYSCORE", k, "-3", "(4"]),
            9 => words(&["ZREMRANGEBYRANK", k, "0", "1"]),
            10 => words(&["ZREMRANGEBYLEX", k, "[m3", "(m6"]),
            11 => {
                let store = ["ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE"][self.rng.below(3)];
                let k3 = self.key();
                let mut args = words(&[store, k, "2", k2, &k3]);
                if store != "ZDIFFSTORE" && self.rng.chance(50) {
                    args.extend(words(&["WEIGHTS", "2", "-1.5", "AGGREGATE", "MAX"]));
                }
                args
            }
            12 => words(&[
                "ZRANGESTORE",
                k,
                k2,
                "(-5",
                "+inf",
                "BYSCORE",
                "LIMIT",
                "1",
                "5",
            ]),
            13 => words(&["ZRANGESTORE", k, k2, "0", "-2", "REV"]),
            14 => words(&["ZMPOP", "2", k, k2, "MAX", "COUNT", "2"]),
            15 => words(&["ZADD", k, "INCR", "1.5", "m1"]),
            16 => self.sort_store(k, k2),
            // The blocking pops' immediate forms (nothing there: a short timeout).
            _ => match self.rng.below(3) {
                0 => words(&["BZPOPMIN", k, k2, "0.001"]),
                1 => words(&["BZPOPMAX", k2, k, "0.001"]),
                _ => words(&["BZMPOP", "0.001", "2", k, k2, "MIN", "COUNT", "2"]),
            },
        }
    }

    /// A stream key: mostly one of the stream keys, sometimes any key (type errors).
    fn stream_key(&mut self) -> String {
        if self.rng.chance(90) {
            self.rng.pick(&self.stream_keys).clone()
        } else {
            self.key()
        }
    }

    /// An ID the workload's streams may hold (explicit IDs are `ms-0`, `ms-1`...).
    fn stream_id(&mut self) -> String {
        let ms = self.rng.below(self.stream_ms as usize + 1);
        format!("{ms}-{}", self.rng.below(2))
    }

    /// A write to streams: adds with explicit, partial and automatic IDs and every trim,
    /// deletes, groups created, moved and destroyed, reads by groups (new entries, NOACK,
    /// history; keys on one core or both), acks and claims. Reads never block here (the
    /// served-later path is in tests/streams.rs).
    fn stream_command(&mut self) -> Vec<Vec<u8>> {
        let (k, k2) = (self.stream_key(), self.stream_key());
        let words = |items: &[&str]| -> Vec<Vec<u8>> {
            items.iter().map(|w| w.as_bytes().to_vec()).collect()
        };
        let group = ["g1", "g2"][self.rng.below(2)];
        let consumer = ["c1", "c2", "c3"][self.rng.below(3)];
        match self.rng.below(20) {
            0..=5 => {
                let mut args = words(&["XADD", &k]);
                match self.rng.below(8) {
                    0 => args.extend(words(&["MAXLEN", "~", &self.rng.below(8).to_string()])),
                    1 => args.extend(words(&["MAXLEN", &self.rng.below(8).to_string()])),
                    2 => args.extend(words(&["MINID", &self.stream_id()])),
                    _ => {}
                }
                self.stream_ms += 1;
                let id = match self.rng.below(30) {
                    0 => "*".to_string(),
                    1 => format!("{}-5", self.stream_ms),
                    _ => format!("{}-*", self.stream_ms),
                };
                args.extend(words(&[&id, "f", &self.rng.below(100).to_string()]));
                args
            }
            6 => words(&["XDEL", &k, &self.stream_id(), &self.stream_id()]),
            7 => match self.rng.below(3) {
                0 => words(&["XTRIM", &k, "MAXLEN", "~", &self.rng.below(6).to_string()]),
                1 => words(&["XTRIM", &k, "MAXLEN", &self.rng.below(6).to_string()]),
                _ => words(&["XTRIM", &k, "MINID", &self.stream_id()]),
            },
            8 => {
                let start = if self.rng.chance(50) {
                    "$".to_string()
                } else {
                    self.stream_id()
                };
                words(&["XGROUP", "CREATE", &k, group, &start, "MKSTREAM"])
            }
            9 => match self.rng.below(4) {
                0 => words(&["XGROUP", "SETID", &k, group, &self.stream_id()]),
                1 => words(&["XGROUP", "DESTROY", &k, group]),
                2 => words(&["XGROUP", "CREATECONSUMER", &k, group, consumer]),
                _ => words(&["XGROUP", "DELCONSUMER", &k, group, consumer]),
            },
            10..=14 => {
                let mut args = words(&["XREADGROUP", "GROUP", group, consumer]);
                if self.rng.chance(50) {
                    args.extend(words(&["COUNT", &(1 + self.rng.below(3)).to_string()]));
                }
                if self.rng.chance(20) {
                    args.push(b"NOACK".to_vec());
                }
                let id = if self.rng.chance(75) { ">" } else { "0" };
                if k != k2 && self.rng.chance(30) {
                    args.extend(words(&["STREAMS", &k, &k2, id, id]));
                } else {
                    args.extend(words(&["STREAMS", &k, id]));
                }
                args
            }
            15 | 16 => words(&["XACK", &k, group, &self.stream_id(), &self.stream_id()]),
            17 => {
                let mut args = words(&["XCLAIM", &k, group, consumer, "0", &self.stream_id()]);
                for option in ["JUSTID", "FORCE"] {
                    if self.rng.chance(30) {
                        args.push(option.as_bytes().to_vec());
                    }
                }
                args
            }
            18 => {
                let count = (1 + self.rng.below(3)).to_string();
                words(&["XAUTOCLAIM", &k, group, consumer, "0", "0", "COUNT", &count])
            }
            _ => words(&["XADD", &k, "NOMKSTREAM", "*", "late", "1"]),
        }
    }

    /// SORT ... STORE from a list, set or sorted set into a list: the result depends on
    /// keys of both cores (BY/GET patterns), so it is logged as a PUT of the list.
    fn sort_store(&mut self, k: &str, k2: &str) -> Vec<Vec<u8>> {
        let mut args: Vec<Vec<u8>> = vec![b"SORT".to_vec(), k.into()];
        let mut push = |items: &[&str]| args.extend(items.iter().map(|w| w.as_bytes().to_vec()));
        match self.rng.below(4) {
            0 => push(&["BY", "nosort"]),
            1 => push(&["BY", "*", "ALPHA"]),
            2 => push(&["BY", "*->f1", "ALPHA"]),
            _ => push(&["ALPHA"]),
        }
        match self.rng.below(3) {
            0 => push(&["GET", "#", "GET", "*"]),
            1 => push(&["GET", "*->f2"]),
            _ => {}
        }
        if self.rng.chance(50) {
            push(&["DESC", "LIMIT", "1", "5"]);
        }
        push(&["STORE", k2]);
        args
    }

    /// A write to lists: pushes, pops (with and without a count), edits by index and by
    /// value, and moves whose two keys are on the same core or on both.
    fn list_command(&mut self, k: &str, k2: &str) -> Vec<Vec<u8>> {
        let name = |name: &str| vec![name.as_bytes().to_vec(), k.as_bytes().to_vec()];
        let index = |rng: &mut Rng| (rng.below(12) as i64 - 6).to_string().into_bytes();
        match self.rng.below(14) {
            0..=3 => {
                let push = ["LPUSH", "RPUSH", "LPUSHX", "RPUSHX"][self.rng.below(4)];
                let values = (0..1 + self.rng.below(4)).map(|_| self.value());
                [name(push), values.collect()].concat()
            }
            4..=5 => {
                let mut args = name(if self.rng.chance(50) { "LPOP" } else { "RPOP" });
                if self.rng.chance(40) {
                    args.push(self.rng.below(4).to_string().into_bytes());
                }
                args
            }
            6 => [name("LSET"), vec![index(&mut self.rng), self.value()]].concat(),
            7 => {
                let side = if self.rng.chance(50) {
                    "BEFORE"
                } else {
                    "AFTER"
                };
                let side = side.as_bytes().to_vec();
                [name("LINSERT"), vec![side, self.value(), self.value()]].concat()
            }
            8 => {
                let count = index(&mut self.rng);
                [name("LREM"), vec![count, self.value()]].concat()
            }
            9 => [
                name("LTRIM"),
                vec![index(&mut self.rng), index(&mut self.rng)],
            ]
            .concat(),
            10..=11 => {
                let ends = ["LEFT", "RIGHT"];
                let (from, to) = (*self.rng.pick(&ends), *self.rng.pick(&ends));
                if self.rng.chance(30) {
                    vec![b"RPOPLPUSH".to_vec(), k.into(), k2.into()]
                } else {
                    [
                        b"LMOVE".to_vec(),
                        k.into(),
                        k2.into(),
                        from.into(),
                        to.into(),
                    ]
                    .to_vec()
                }
            }
            _ => {
                let end = if self.rng.chance(50) { "LEFT" } else { "RIGHT" };
                let mut args: Vec<Vec<u8>> = vec![b"LMPOP".to_vec(), b"2".to_vec()];
                args.extend([k.as_bytes().to_vec(), k2.as_bytes().to_vec(), end.into()]);
                if self.rng.chance(50) {
                    args.push(b"COUNT".to_vec());
                    args.push((1 + self.rng.below(3)).to_string().into_bytes());
                }
                args
            }
        }
    }

    fn command(&mut self) -> Vec<Vec<u8>> {
        let words = |items: &[&str]| -> Vec<Vec<u8>> {
            items.iter().map(|w| w.as_bytes().to_vec()).collect()
        };
        let (k, k2) = (self.key(), self.key());
        // 1000.. are the set and bit commands, added after the rest; 1400.. HyperLogLog
        // and geo; 1500.. streams.
        let mut args = match self.rng.below(1600) {
            0..=139 => {
                let mut args = words(&["SET", &k]);
                args.push(self.value());
                self.set_options(&mut args);
                args
            }
            140..=159 => [words(&["SETNX", &k]), vec![self.value()]].concat(),
            160..=179 => [words(&["SETEX", &k, &self.ttl_s()]), vec![self.value()]].concat(),
            180..=189 => [
                words(&["PSETEX", &k, &format!("{}000", self.ttl_s())]),
                vec![self.value()],
            ]
            .concat(),
            190..=209 => [words(&["GETSET", &k]), vec![self.value()]].concat(),
            210..=224 => words(&["GETDEL", &k]),
            225..=254 => match self.rng.below(5) {
                0 => words(&["GETEX", &k, "EX", &self.ttl_s()]),
                1 => words(&["GETEX", &k, "PXAT", &self.at_ms()]),
                2 => words(&["GETEX", &k, "EXAT", &self.at_s()]),
                3 => words(&["GETEX", &k, "PERSIST"]),
                _ => words(&["GETEX", &k, "PX", &format!("{}000", self.ttl_s())]),
            },
            255..=299 => {
                let mut args = words(&[if self.rng.chance(80) {
                    "MSET"
                } else {
                    "MSETNX"
                }]);
                for key in [k, k2, self.key()] {
                    args.push(key.into_bytes());
                    args.push(self.value());
                }
                args
            }
            300..=339 => [words(&["APPEND", &k]), vec![self.value()]].concat(),
            340..=369 => {
                let offset = self.rng.below(60).to_string();
                [words(&["SETRANGE", &k, &offset]), vec![self.value()]].concat()
            }
            370..=419 => words(&["INCR", &k]),
            420..=439 => words(&["DECR", &k]),
            440..=459 => words(&[
                "INCRBY",
                &k,
                &(self.rng.below(2001) as i64 - 1000).to_string(),
            ]),
            460..=474 => words(&["DECRBY", &k, &self.rng.below(1000).to_string()]),
            475..=509 => {
                let by = format!(
                    "{}.{}",
                    self.rng.below(100) as i64 - 50,
                    self.rng.below(1000)
                );
                words(&["INCRBYFLOAT", &k, &by])
            }
            510..=549 => words(&[if self.rng.chance(50) { "DEL" } else { "UNLINK" }, &k, &k2]),
            550..=589 => {
                let mut args = match self.rng.below(4) {
                    0 => words(&["EXPIRE", &k, &self.ttl_s()]),
                    1 => words(&["PEXPIRE", &k, &format!("{}000", self.ttl_s())]),
                    2 => words(&["EXPIREAT", &k, &self.at_s()]),
                    _ => words(&["PEXPIREAT", &k, &self.at_ms()]),
                };
                self.expire_option(&mut args);
                args
            }
            590..=609 => words(&["PERSIST", &k]),
            610..=649 => words(&[
                if self.rng.chance(70) {
                    "RENAME"
                } else {
                    "RENAMENX"
                },
                &k,
                &k2,
            ]),
            650..=689 => {
                let mut args = words(&["COPY", &k, &k2]);
                if self.rng.chance(50) {
                    args.extend(words(&["DB", &self.db()]));
                }
                if self.rng.chance(50) {
                    args.push(b"REPLACE".to_vec());
                }
                args
            }
            690..=719 => words(&["MOVE", &k, &self.db()]),
            720..=849 => words(&["SELECT", &self.db()]),
            850..=869 => words(&["SWAPDB", &self.db(), &self.db()]),
            870..=872 => words(&["FLUSHDB"]),
            873 => words(&["FLUSHALL"]),
            874..=936 => self.hash_command(&k),
            937..=999 => self.list_command(&k, &k2),
            1000..=1249 => self.set_command(&k, &k2),
            1250..=1319 => self.bit_command(&k, &k2),
            1320..=1399 => self.zset_command(&k, &k2),
            1400..=1499 => self.hll_geo_command(&k, &k2),
            _ => self.stream_command(),
        };
        args.shrink_to_fit();
        args
    }
}

/// Runs `count` workload commands pipelined in batches; error replies (INCR of a
/// non-integer, RENAME of a missing key) are part of the workload, not failures.
fn run_workload(conn: &mut Conn, workload: &mut Workload, count: usize) {
    let mut errors = 0;
    for batch in (0..count).collect::<Vec<_>>().chunks(64) {
        for _ in batch {
            conn.send(&workload.command()).unwrap();
        }
        for _ in batch {
            if let Resp::Error(_) = conn.read().unwrap() {
                errors += 1;
            }
        }
    }
    assert!(
        errors < count / 2,
        "{errors} of {count} commands failed: the workload tests little"
    );
}

/// One key in a dump: its value and PEXPIRETIME (-1: none).
#[derive(Clone, PartialEq, Eq)]
struct Dumped {
    value: Vec<u8>,
    expire_at_ms: i64,
}

impl std::fmt::Debug for Dumped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: String = self
            .value
            .escape_ascii()
            .to_string()
            .chars()
            .take(60)
            .collect();
        let more = if shown.len() < self.value.escape_ascii().to_string().len() {
            "..."
        } else {
            ""
        };
        write!(
            f,
            "\"{shown}{more}\" ({} bytes) expiring at {}",
            self.value.len(),
            self.expire_at_ms
        )
    }
}

type Dump = BTreeMap<(usize, String), Dumped>;

/// Every key of every database the workload uses: value and absolute expiry.
fn dump(conn: &mut Conn) -> Dump {
    let mut all = BTreeMap::new();
    for db in 0..REPLAY_DBS {
        conn.must(&["SELECT", &db.to_string()]);
        for key in scan_all(conn) {
            let value = dump_value(conn, db, &key);
            let expire_at_ms = conn.must(&["PEXPIRETIME", &key]).int();
            all.insert(
                (db, key),
                Dumped {
                    value,
                    expire_at_ms,
                },
            );
        }
    }
    conn.must(&["SELECT", "0"]);
    all
}

/// A string as GET reads it; a hash as its sorted field/value pairs, each as
/// `field=value;` (enough to show a difference, not a format to parse back); a set as its
/// sorted members, each as `member;`.
fn dump_value(conn: &mut Conn, db: usize, key: &str) -> Vec<u8> {
    match conn.must(&["TYPE", key]).text().as_str() {
        "string" => match conn.must(&["GET", key]) {
            Resp::Bulk(Some(value)) => value,
            other => panic!("db {db} key {key:?}: GET of a string replied {other:?}"),
        },
        "hash" => {
            let Resp::Array(Some(items)) = conn.must(&["HGETALL", key]) else {
                panic!("db {db} key {key:?}: HGETALL of a hash replied no array");
            };
            let mut pairs: Vec<Vec<u8>> = items
                .chunks(2)
                .map(|pair| match pair {
                    [Resp::Bulk(Some(f)), Resp::Bulk(Some(v))] => [&f[..], b"=", v, b";"].concat(),
                    other => panic!("db {db} key {key:?}: HGETALL pair {other:?}"),
                })
                .collect();
            pairs.sort();
            pairs.concat()
        }
        "list" => match conn.must(&["LRANGE", key, "0", "-1"]) {
            Resp::Array(Some(items)) => items
                .iter()
                .map(|item| match item {
                    Resp::Bulk(Some(v)) => [&v[..], b";"].concat(),
                    other => panic!("db {db} key {key:?}: LRANGE element {other:?}"),
                })
                .collect::<Vec<_>>()
                .concat(),
            other => panic!("db {db} key {key:?}: LRANGE of a list replied {other:?}"),
        },
        "set" => {
            let Resp::Array(Some(items)) = conn.must(&["SMEMBERS", key]) else {
                panic!("db {db} key {key:?}: SMEMBERS of a set replied no array");
            };
            let mut members: Vec<Vec<u8>> = items
                .into_iter()
                .map(|item| match item {
                    Resp::Bulk(Some(m)) => [&m[..], b";"].concat(),
                    other => panic!("db {db} key {key:?}: SMEMBERS member {other:?}"),
                })
                .collect();
            members.sort();
            members.concat()
        }
        "zset" => match conn.must(&["ZRANGE", key, "0", "-1", "WITHSCORES"]) {
            Resp::Array(Some(items)) => items
                .iter()
                .flat_map(|item| match item {
                    Resp::Bulk(Some(text)) => [&text[..], b";"].concat(),
                    other => panic!("db {db} key {key:?}: ZRANGE item {other:?}"),
                })
                .collect(),
            other => panic!("db {db} key {key:?}: ZRANGE of a zset replied {other:?}"),
        },
        // The whole stream with its groups (PEL, consumers, counters), minus the block
        // layout (radix-tree-*), which a restored stream may pack differently.
        "stream" => match conn.must(&["XINFO", "STREAM", key, "FULL", "COUNT", "0"]) {
            Resp::Array(Some(items)) => [STREAM_DUMP.to_vec()]
                .into_iter()
                .chain(items
                .chunks(2)
                .filter(|pair| !matches!(&pair[0], Resp::Bulk(Some(name)) if name.starts_with(b"radix-tree")))
                .map(|pair| format!("{pair:?};").into_bytes()))
                .collect::<Vec<_>>()
                .concat(),
            other => panic!("db {db} key {key:?}: XINFO STREAM FULL replied {other:?}"),
        },
        other => panic!("db {db} key {key:?} is listed by SCAN but its type is {other}"),
    }
}

/// What a stream's dump starts with: DEBUG DIGEST leaves consumer groups out, so the
/// replay check compares these dumps (XINFO STREAM FULL) itself.
const STREAM_DUMP: &[u8] = b"stream:";

/// The streams of a dump.
fn streams_of(dump: &Dump) -> Dump {
    dump.iter()
        .filter(|(_, dumped)| dumped.value.starts_with(STREAM_DUMP))
        .map(|(name, dumped)| (name.clone(), dumped.clone()))
        .collect()
}

/// The digest, and the dump to explain a difference with.
fn snapshot(port: u16) -> (String, Dump) {
    let mut conn = Conn::open(port);
    let digest = conn.must(&["DEBUG", "DIGEST-TTL"]).text();
    (digest, dump(&mut conn))
}

fn explain_difference(before: &Dump, after: &Dump) -> String {
    let names: BTreeSet<&(usize, String)> = before.keys().chain(after.keys()).collect();
    let lines: Vec<String> = names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .map(|(db, key)| {
            let name = (*db, key.clone());
            format!(
                "db {db} key {key:?}: before {:?}, after {:?}",
                before.get(&name),
                after.get(&name)
            )
        })
        .collect();
    if lines.is_empty() {
        return "the dumps (GET + PEXPIRETIME of every key) agree: the digest disagrees with them"
            .into();
    }
    first_lines(&lines, 30)
}

/// INFO persistence's `holdfast_log_lsn`, after checking `holdfast_durability` names the
/// mode the server was started in.
fn log_lsn(port: u16) -> Result<u64, String> {
    let info = Conn::open(port).must(&["INFO", "persistence"]).text();
    let field = |name: &str| {
        info.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
            .map(|value| value.trim().to_string())
            .ok_or_else(|| format!("INFO persistence has no {name}:\n{info}"))
    };
    let mode = field("holdfast_durability")?;
    if mode != durability_mode() {
        return Err(format!(
            "holdfast_durability:{mode}, started with {}",
            durability_mode()
        ));
    }
    let lsn = field("holdfast_log_lsn")?;
    lsn.parse()
        .map_err(|_| format!("holdfast_log_lsn:{lsn} is not a number"))
}

/// Runs the workload, restarts the server the way `restart` does, and compares.
fn replay_equivalence(label: &str, restart: impl Fn(Server, &TempDir) -> Server) {
    let seed = seed_from("HOLDFAST_REPLAY_SEED");
    let dir = TempDir::new(label);
    let mut server = Server::start_durable(&dir.path);
    let mut workload = Workload::new(seed);
    for part in 0..2 {
        let mut conn = Conn::open(server.port);
        run_workload(&mut conn, &mut workload, 1500);
        drop(conn);
        let (digest, before) = snapshot(server.port);
        let lsn = log_lsn(server.port);
        server = restart(server, &dir);
        let (replayed, after) = snapshot(server.port);
        assert!(
            replayed == digest,
            "{label}, part {part} (seed {seed}, durability {}): DEBUG DIGEST-TTL {digest} \
             before the restart, {replayed} after; {} keys before, {} after:\n{}",
            durability_mode(),
            before.len(),
            after.len(),
            explain_difference(&before, &after)
        );
        let (streams_before, streams_after) = (streams_of(&before), streams_of(&after));
        assert!(
            streams_before == streams_after,
            "{label}, part {part} (seed {seed}): streams (XINFO STREAM FULL) differ after \
             the restart:\n{}",
            explain_difference(&streams_before, &streams_after)
        );
        // After the keyspace (whose failure says more): the log position survives too.
        let lsn = lsn.unwrap_or_else(|e| panic!("{e}"));
        assert!(lsn > 0, "the workload logged nothing");
        let replayed_lsn = log_lsn(server.port).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            replayed_lsn >= lsn,
            "the restart reached LSN {replayed_lsn}, the log had reached {lsn}"
        );
        assert!(
            !before.is_empty(),
            "the workload left no keys: it compares little"
        );
    }
}

#[test]
fn replay_after_clean_shutdown_restores_the_same_keyspace() {
    replay_equivalence("replay-shutdown", |server, dir| {
        let mut conn = Conn::open(server.port);
        conn.send(&["SHUTDOWN"]).unwrap();
        assert!(server.wait_exit(Duration::from_secs(20)).success());
        Server::start_durable(&dir.path)
    });
}

#[test]
fn replay_after_sigkill_restores_the_same_keyspace() {
    replay_equivalence("replay-sigkill", |server, dir| {
        server.kill();
        Server::start_durable(&dir.path)
    });
}

/// A log full of keys whose TTLs have passed by the time it is replayed: the restart
/// must come up (expiring keys while replaying must not log before the log is open) and
/// show only the keys that are still live.
#[test]
fn replay_of_keys_whose_ttl_passed_restores_only_the_live_ones() {
    let dir = TempDir::new("replay-expired");
    let server = Server::start_durable(&dir.path);
    let mut conn = Conn::open(server.port);
    let [core0, core1] = names_on_both_cores("live:", 50);
    for key in core0.iter().chain(&core1) {
        conn.send(&["SET", key, "stays"]).unwrap();
    }
    let expiring = 30_000;
    for i in 0..expiring {
        conn.send(&["SET", &format!("brief:{i}"), "v", "PX", "300"])
            .unwrap();
    }
    for _ in 0..core0.len() + core1.len() + expiring {
        assert_eq!(conn.read().unwrap(), Resp::ok());
    }
    std::thread::sleep(Duration::from_millis(400));
    let live = conn.must(&["DEBUG", "DIGEST-TTL"]).text();
    server.kill();
    let restarted = Server::start_durable(&dir.path);
    let mut conn = Conn::open(restarted.port);
    assert_eq!(conn.must(&["DEBUG", "DIGEST-TTL"]).text(), live);
    assert_eq!(
        scan_all(&mut conn).len(),
        core0.len() + core1.len(),
        "keys past their TTL are visible after the restart"
    );
}

/// Invariant 2 for writes that look their key up as a read first (GETDEL, GETEX): the key
/// they change is dirty until their record commits, so a reader of it waits too.
#[test]
fn dirty_read_waits_for_getdel_and_getex() {
    let dir = TempDir::new("dirty-getdel");
    let server = Server::start_durable(&dir.path);
    let port = server.port;
    let [core0, core1] = names_on_both_cores("dirty-gd:", 1);
    let mut admin = Conn::open(port);
    for key in [&core0[0], &core1[0]] {
        let writes: [&[&str]; 3] = [
            &["GETDEL", key],
            &["GETEX", key, "PERSIST"],
            &["GETEX", key, "PXAT", "1"],
        ];
        for write in writes {
            admin.must(&["SET", key, "committed", "EX", "1000"]);
            assert_eq!(admin.must(&["DEBUG", "HOLD-COMMITS", "1"]), Resp::ok());
            let mut writer = Conn::open(port);
            writer.send(write).unwrap();
            assert_eq!(
                writer.read_within(NO_REPLY_WAIT),
                None,
                "{} answered",
                show(write)
            );
            let mut reader = Conn::open(port);
            reader.send(&["TTL", key]).unwrap();
            assert_eq!(
                reader.read_within(NO_REPLY_WAIT),
                None,
                "TTL {key} showed what {} did before it committed",
                show(write)
            );
            assert_eq!(admin.must(&["DEBUG", "HOLD-COMMITS", "0"]), Resp::ok());
            assert_eq!(
                writer.read_within(Duration::from_secs(5)),
                Some(Resp::bulk(b"committed"))
            );
            assert!(reader.read_within(Duration::from_secs(5)).is_some());
        }
    }
}

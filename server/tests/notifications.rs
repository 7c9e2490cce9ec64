//! Keyspace notifications (`notify-keyspace-events`) with keys on both cores
//! (`--threads 2`), compared with the real redis-server where it can be.
//!
//! The one-connection differential harness cannot show what a second, subscribed
//! connection receives, so these tests subscribe to `__key*__:*` on several connections
//! (spread over both cores) and compare what each one receives:
//!
//! - every write command emits exactly the events redis-server 7.0 emits, names and
//!   order, with every class on (`KEA` plus `n` and `m`), for keys on either core and
//!   for commands whose keys span both cores (MSET, RENAME, SMOVE, LMOVE, SUNIONSTORE,
//!   ZUNIONSTORE, COPY, MULTI/EXEC, EVAL);
//! - the same comparison per family of newer commands: streams (XADD ... XGROUP, consumers
//!   created by XREADGROUP/XCLAIM/XAUTOCLAIM), HyperLogLog, geo stores, SORT ... STORE,
//!   and blocking pops and stream reads served at once or later (`blocked | push` lines);
//! - eviction raises `evicted` on both cores and invalidates the keys tracking clients
//!   read;
//! - each class alone (with K or E) lets through only its own events, and nothing is
//!   published without K or E;
//! - the active expiry cycle raises `expired` on both cores for keys nobody reads;
//! - replaying the log at start raises nothing.

mod common;
use common::{RedisServer, Server};
use holdfast_server::shard::slot::key_core;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

type Event = (String, String);

fn key_on(core: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|key| key_core(key.as_bytes(), 2) == core)
        .unwrap()
}

/// `@0x` names a key of core 0 (prefix `x:`), `@1x` one of core 1; other words as is.
fn words(line: &str) -> Vec<String> {
    line.split_whitespace()
        .map(|word| match word.strip_prefix('@') {
            Some(rest) => {
                let core = rest[..1].parse().unwrap();
                key_on(core, &format!("{}:", &rest[1..]))
            }
            None => word.to_owned(),
        })
        .collect()
}

fn run(con: &mut redis::Connection, words: &[String]) -> redis::Value {
    let mut cmd = redis::cmd(&words[0]);
    words[1..].iter().for_each(|w| {
        cmd.arg(w);
    });
    cmd.query(con)
        .unwrap_or_else(|e| redis::Value::SimpleString(format!("error: {e}")))
}

/// A connection subscribed to every keyspace and keyevent channel, read with a RESP
/// reader of its own that keeps partial input across read timeouts.
struct Watcher {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn watcher(url: &str) -> Watcher {
    let port: String = url
        .rsplit(':')
        .next()
        .unwrap()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let port: u16 = port.parse().unwrap();
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(10)))
        .unwrap();
    let mut watch = Watcher {
        stream,
        buf: Vec::new(),
    };
    watch
        .stream
        .write_all(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$10\r\n__key*__:*\r\n")
        .unwrap();
    let confirmation = watch
        .frame(Duration::from_secs(5))
        .expect("psubscribe reply");
    assert_eq!(confirmation[0], "psubscribe");
    watch
}

impl Watcher {
    /// One array of bulk strings (a message), within `wait`.
    fn frame(&mut self, wait: Duration) -> Option<Vec<String>> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some((parts, used)) = parse_array(&self.buf) {
                self.buf.drain(..used);
                return Some(parts);
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("the server closed a watcher"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }
}

/// A complete `*N` array of `$` bulk strings at the start of `buf`, and its length.
fn parse_array(buf: &[u8]) -> Option<(Vec<String>, usize)> {
    fn line(buf: &[u8], at: usize) -> Option<(&[u8], usize)> {
        let end = buf[at..].windows(2).position(|w| w == b"\r\n")? + at;
        Some((&buf[at..end], end + 2))
    }
    let (head, mut at) = line(buf, 0)?;
    assert_eq!(
        head[0],
        b'*',
        "unexpected frame {:?}",
        String::from_utf8_lossy(buf)
    );
    let count: usize = std::str::from_utf8(&head[1..]).ok()?.parse().ok()?;
    let mut parts = Vec::with_capacity(count);
    for _ in 0..count {
        let (head, next) = line(buf, at)?;
        let text = std::str::from_utf8(&head[1..]).ok()?;
        if head[0] == b':' {
            parts.push(text.to_owned());
            at = next;
            continue;
        }
        let len: usize = text.parse().ok()?;
        if buf.len() < next + len + 2 {
            return None;
        }
        parts.push(String::from_utf8_lossy(&buf[next..next + len]).into_owned());
        at = next + len + 2;
    }
    Some((parts, at))
}

/// The next message within `wait`, as (channel, payload).
fn next_event(watch: &mut Watcher, wait: Duration) -> Option<Event> {
    let parts = watch.frame(wait)?;
    assert_eq!(parts[0], "pmessage", "unexpected push {parts:?}");
    Some((parts[2].clone(), parts[3].clone()))
}

/// Messages until none came for `quiet`.
fn drain(con: &mut Watcher, quiet: Duration) -> Vec<Event> {
    std::iter::from_fn(|| next_event(con, quiet)).collect()
}

/// `count` messages (waiting up to 5 s for them), then whatever else arrives within
/// `quiet`: a missing event fails by count, an extra one by the quiet period.
fn receive(con: &mut Watcher, count: usize, quiet: Duration) -> Vec<Event> {
    let mut got: Vec<Event> = Vec::new();
    while got.len() < count {
        match next_event(con, Duration::from_secs(5)) {
            Some(event) => got.push(event),
            None => break,
        }
    }
    got.extend(drain(con, quiet));
    got
}

/// Commands touching every type, keys on both cores; each line's events are compared.
const SCRIPT: &[&str] = &[
    "SET @0s 1",
    "SET @0s 2 EX 100",
    "SETEX @1s 100 v",
    "SETNX @1s 1",
    "GETSET @1s 2",
    "GETEX @1s PERSIST",
    "GETEX @1s EX 100",
    "GETDEL @1s",
    "APPEND @0a x",
    "INCR @0n",
    "DECRBY @0n 3",
    "INCRBYFLOAT @1f 1.5",
    "SETRANGE @1r 2 ab",
    "GET @1missing",
    "MSET @0m 1 @1m 2 @0m2 3",
    "MSETNX @1mx 1 @0mx 2",
    "DEL @1m @0m @1nothing @0m2",
    "UNLINK @1mx @0mx",
    "EXPIRE @0s 200",
    "PEXPIRE @0s 300000",
    "EXPIRE @0s 100 NX",
    "PERSIST @0s",
    "EXPIRE @0a 0",
    "SET @1x 1",
    "RENAME @0s @1x",
    "RENAME @1x @1y",
    "RENAMENX @1y @0n",
    "COPY @1y @0c",
    "COPY @1y @0c REPLACE",
    "MOVE @0c 3",
    "SETBIT @0b 7 1",
    "SETBIT @0b 7 1",
    "BITFIELD @1bf SET u8 0 200 INCRBY u8 0 100",
    "BITOP OR @0bo @0b @1bf",
    "BITOP AND @1bo @1nothing",
    "RPUSH @0l a b c d",
    "LPUSH @0l z",
    "LPUSHX @1nothing z",
    "LINSERT @0l BEFORE a y",
    "LSET @0l 0 w",
    "LREM @0l 1 w",
    "LTRIM @0l 0 3",
    "LPOP @0l",
    "RPOP @0l 2",
    "LMOVE @0l @1l LEFT RIGHT",
    "RPOPLPUSH @1l @0l",
    "LMPOP 2 @1nothing @0l LEFT COUNT 5",
    "HSET @1h a 1 b 2",
    "HSETNX @1h c 3",
    "HINCRBY @1h a 5",
    "HINCRBYFLOAT @1h a 0.5",
    "HDEL @1h a nofield",
    "HDEL @1h b c",
    "SADD @0t a b c",
    "SADD @1t c d",
    "SREM @0t a",
    "SMOVE @0t @1t b",
    "SMOVE @0t @1new c",
    "SUNIONSTORE @0u @1t @1new",
    "SINTERSTORE @1i @1t @1new",
    "SDIFFSTORE @0u @1t @1t",
    "SINTERSTORE @0sm @1t @0nokey",
    "SUNIONSTORE @1sm @0nokey @1t",
    "SDIFFSTORE @0sm @0u @1nokey",
    "ZUNIONSTORE @1zm 2 @0nokey @1nokey",
    "SPOP @1new",
    "ZADD @0z 1 a 2 b 3 c",
    "ZADD @0z XX CH 5 a",
    "ZINCRBY @0z 1 b",
    "ZINCRBY @0z 0 b",
    "ZREM @0z nomember b",
    "ZADD @1z 1 x 2 y",
    "ZUNIONSTORE @1zu 2 @0z @1z",
    "ZINTERSTORE @0zi 2 @0z @1z",
    "ZRANGESTORE @0zr @1z 0 -1",
    "ZREMRANGEBYSCORE @1z 0 1",
    "ZPOPMIN @0z",
    "ZPOPMAX @0z",
    "ZMPOP 1 @1z MIN COUNT 3",
    "MULTI",
    "SET @0tx 1",
    "LPUSH @1tx a",
    "EXEC",
    "EVAL redis.call('set',KEYS[1],'v');redis.call('del',KEYS[1]) 1 @0ev",
];

/// Runs one script line: a plain command, or `blocked | push` where a second client
/// runs `blocked` (a blocking command) first and `push` serves it while it waits.
fn play(con: &mut redis::Connection, url: &str, line: &str) {
    let Some((blocked, push)) = line.split_once(" | ") else {
        run(con, &words(line));
        return;
    };
    let (url, blocked) = (url.to_owned(), words(blocked));
    let waiter = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        run(&mut con, &blocked)
    });
    // Long enough for the waiter to be blocked before the push arrives.
    std::thread::sleep(Duration::from_millis(200));
    run(con, &words(push));
    waiter.join().unwrap();
}

/// Each line's events, as redis-server emits them.
fn redis_streams(script: &[&str]) -> Option<Vec<Vec<Event>>> {
    let redis = RedisServer::start(&["--notify-keyspace-events", "KEAnm"])?;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let mut con = redis::Client::open(url.as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let mut watch = watcher(&url);
    let streams = script
        .iter()
        .map(|line| {
            play(&mut con, &url, line);
            drain(&mut watch, Duration::from_millis(50))
        })
        .collect();
    Some(streams)
}

/// Plays `script` on redis-server and on Holdfast (`--threads 2`) with every class on,
/// watched by subscribers on both cores. Returns the lines whose events differ, and how
/// many events redis-server raised; None when redis-server is not installed.
fn compare_with_redis(script: &[&str]) -> Option<(Vec<String>, usize)> {
    let expected = redis_streams(script)?;
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEAnm")
        .query(&mut con)
        .unwrap();
    // Connections land on either core: several watchers cover both.
    let mut watchers: Vec<_> = (0..4).map(|_| watcher(&server.url())).collect();
    let mut mismatches = Vec::new();
    for (line, want) in script.iter().zip(&expected) {
        play(&mut con, &server.url(), line);
        for (n, watch) in watchers.iter_mut().enumerate() {
            let got = receive(watch, want.len(), Duration::from_millis(30));
            if &got != want {
                mismatches.push(format!(
                    "{line} (watcher {n}):\n  redis {want:?}\n  got   {got:?}"
                ));
            }
        }
    }
    Some((mismatches, expected.iter().map(Vec::len).sum()))
}

/// `compare_with_redis`, asserting no line differs and the script raised at least `min`
/// events (on keyspace and keyevent channels both).
fn assert_same_events_as_redis(script: &[&str], min: usize) {
    let Some((mismatches, raised)) = compare_with_redis(script) else {
        eprintln!("redis-server is not installed: nothing to compare with");
        return;
    };
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
    assert!(raised >= min, "the script exercises too little: {raised}");
}

#[test]
fn every_command_emits_what_redis_emits_to_subscribers_on_both_cores() {
    assert_same_events_as_redis(SCRIPT, 151);
}

/// Stream commands: every event of t_stream.c, with the conditions Redis raises it
/// under (nothing trimmed, nothing deleted, consumer already there, ...).
const STREAMS: &[&str] = &[
    "XADD @0x 1-1 a 1",
    "XADD @0x MAXLEN 1 2-1 b 2",
    "XADD @1x2 NOMKSTREAM * a 1",
    "XADD @0x 1-0 a 1",
    "XADD @1x 5-1 a 1 b 2",
    "XADD @1x MAXLEN = 5 6-1 a 1",
    "XTRIM @0x MAXLEN 5",
    "XTRIM @0x MAXLEN 0",
    "XTRIM @1nothing MAXLEN 0",
    "XADD @0x 3-1 a 1",
    "XDEL @0x 9-9",
    "XDEL @0x 3-1 9-9",
    "XDEL @1nothing 1-1",
    "XSETID @0x 5-0",
    "XSETID @1nothing 5-0",
    "XGROUP CREATE @0x g 0",
    "XGROUP CREATE @0x g 0",
    "XGROUP CREATE @1x3 g $ MKSTREAM",
    "XGROUP CREATE @1x4 g 0",
    "XGROUP SETID @0x g 0",
    "XGROUP SETID @0x nogroup 0",
    "XGROUP CREATECONSUMER @0x g c1",
    "XGROUP CREATECONSUMER @0x g c1",
    "XADD @0x 6-0 a 1",
    "XADD @0x 7-0 a 1",
    "XREADGROUP GROUP g c2 COUNT 1 STREAMS @0x >",
    "XREADGROUP GROUP g c2 STREAMS @0x >",
    "XREADGROUP GROUP g c3 STREAMS @0x 0",
    "XREADGROUP GROUP g c9 STREAMS @0x >",
    "XCLAIM @0x g c4 0 6-0",
    "XCLAIM @0x g c5 0 9-9",
    "XAUTOCLAIM @0x g c6 0 0",
    "XAUTOCLAIM @0x g c7 3600000 0",
    "XGROUP DELCONSUMER @0x g c1",
    "XGROUP DELCONSUMER @0x g nope",
    "XGROUP DESTROY @0x g",
    "XGROUP DESTROY @0x g",
    "XADD @0x MAXLEN 0 8-0 x 1",
    "XREAD STREAMS @0x @1x 0 0",
    "XGROUP CREATE @0y g 0 MKSTREAM",
    "XGROUP CREATE @1x g 0",
    "XADD @0y 1-1 a 1",
    "XREADGROUP GROUP g both STREAMS @0y @1x > >",
    "XREADGROUP GROUP g both STREAMS @0y @1x > >",
    "DEL @0x @1x @1x3 @0y",
];

#[test]
fn stream_commands_emit_what_redis_emits() {
    assert_same_events_as_redis(STREAMS, 60);
}

/// HyperLogLog: `pfadd` (class $) from PFADD when a register changed or the key was
/// created, and from every PFMERGE; PFCOUNT raises only misses.
const HYPERLOGLOGS: &[&str] = &[
    "PFADD @0h a b",
    "PFADD @0h a",
    "PFADD @1h2",
    "PFADD @1h2",
    "PFCOUNT @0h",
    "PFCOUNT @0h @1h2",
    "PFADD @1hx a c",
    "PFMERGE @0hm @0h @1hx",
    "PFMERGE @0hm @1hx",
    "PFMERGE @1hm2",
    "PFCOUNT @0hm @1missing",
    "SET @0str v",
    "PFADD @0str a",
    "PFMERGE @1hm2 @0str",
    "PFCOUNT @1nx @0nx",
    "PFMERGE @0new @1nx @0h",
    "PFMERGE @1new2 @0nx @1h2",
];

#[test]
fn hyperloglog_commands_emit_what_redis_emits() {
    assert_same_events_as_redis(HYPERLOGLOGS, 20);
}

/// Geo: GEOADD is ZADD underneath; a store raises `geosearchstore`/`georadiusstore`, or
/// `del` when it empties an existing destination; source and destination on either core.
const GEO: &[&str] = &[
    "GEOADD @0g 1 2 m1 3 4 m2",
    "GEOADD @0g 1 2 m1",
    "GEOADD @0g XX CH 5 6 m1",
    "GEOADD @0g NX 5 6 m1",
    "GEOADD @1nothing XX 1 2 m",
    "GEOSEARCHSTORE @1gd @0g FROMLONLAT 1 2 BYRADIUS 1000 km",
    "GEOSEARCHSTORE @0gd @0g FROMLONLAT 1 2 BYRADIUS 1000 km STOREDIST",
    "GEOSEARCHSTORE @1gd @0g FROMLONLAT 100 50 BYRADIUS 1 km",
    "GEOSEARCHSTORE @1gd @0g FROMLONLAT 100 50 BYRADIUS 1 km",
    "GEOSEARCHSTORE @0gd @1nogeo FROMLONLAT 1 2 BYRADIUS 1 km",
    "GEORADIUS @0g 1 2 1000 km STORE @1gr",
    "GEORADIUS @0g 100 50 1 km STORE @1gr",
    "GEORADIUSBYMEMBER @0g m1 1000 km STOREDIST @0gr2",
    "GEORADIUSBYMEMBER @0g m2 1 km STOREDIST @0gr2",
    "GEORADIUS @1nogeo 1 2 1 km STORE @0gr2",
    "GEORADIUS_RO @0g 1 2 1000 km",
];

#[test]
fn geo_commands_emit_what_redis_emits() {
    assert_same_events_as_redis(GEO, 20);
}

/// SORT ... STORE, and the blocking pops: served at once, and served later by a write
/// (`blocked | push`), for XREAD/XREADGROUP too; keys on both cores.
const SORTS_AND_BLOCKING: &[&str] = &[
    "RPUSH @0l 3 1 2",
    "SORT @0l STORE @1sl",
    "SORT @0l STORE @0sl",
    "SORT @1nolist STORE @1sl",
    "SORT @1nolist STORE @1sl",
    "SORT @0l STORE @1sl",
    "SORT @0nolist STORE @1sl",
    "ZADD @0z 1 a 2 b",
    "ZADD @1z 3 c",
    "BZPOPMIN @1none @0z 5",
    "BZPOPMAX @0z 5",
    "ZADD @0z 1 a 2 b",
    "BZMPOP 5 2 @0z @1z MIN COUNT 5",
    "BZMPOP 5 2 @1z @0z MAX COUNT 1",
    "BZPOPMIN @0bz 5 | ZADD @0bz 1 a",
    "BZPOPMAX @1bz @0bz2 5 | ZADD @0bz2 1 a 2 b",
    "BZMPOP 5 2 @0bz @1bz MAX COUNT 1 | ZADD @1bz 1 a",
    "XREAD BLOCK 5000 STREAMS @0bs $ | XADD @0bs 1-1 a 1",
    "XGROUP CREATE @1bs g $ MKSTREAM",
    "XREADGROUP GROUP g c BLOCK 5000 STREAMS @1bs > | XADD @1bs 1-1 a 1",
    "XREADGROUP GROUP g c BLOCK 5000 STREAMS @1bs > | XADD @1bs MAXLEN 0 2-1 a 1",
];

#[test]
fn sort_store_and_blocked_commands_emit_what_redis_emits() {
    assert_same_events_as_redis(SORTS_AND_BLOCKING, 40);
}

/// One command per class and the events it raises with every class on.
const BY_CLASS: &[(char, &str, &[&str])] = &[
    ('$', "SET @0str v", &["set"]),
    ('l', "LPUSH @1list a", &["lpush"]),
    ('s', "SADD @0set a", &["sadd"]),
    ('h', "HSET @1hash f v", &["hset"]),
    ('z', "ZADD @0zset 1 a", &["zadd"]),
    ('g', "EXPIRE @1list 100", &["expire"]),
    ('m', "GET @0absent", &["keymiss"]),
];

/// The event names a subscriber receives while `flags` is set, for the BY_CLASS commands
/// run on fresh keys (db 0 flushed first).
fn events_with(server: &Server, flags: &str) -> Vec<Event> {
    let mut con = server.client();
    let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg(flags)
        .query(&mut con)
        .unwrap();
    let mut watch = watcher(&server.url());
    for (_, line, _) in BY_CLASS {
        run(&mut con, &words(line));
    }
    drain(&mut watch, Duration::from_millis(300))
}

#[test]
fn each_class_alone_lets_through_only_its_events() {
    let server = Server::start();
    for &(class, line, names) in BY_CLASS {
        let key = words(line)[1].clone();
        for (channel_flag, channel) in [('K', "keyspace"), ('E', "keyevent")] {
            let flags = format!("{channel_flag}{class}");
            let got = events_with(&server, &flags);
            let want: Vec<Event> = names
                .iter()
                .map(|name| match channel {
                    "keyspace" => (format!("__keyspace@0__:{key}"), name.to_string()),
                    _ => (format!("__keyevent@0__:{name}"), key.clone()),
                })
                .collect();
            assert_eq!(got, want, "notify-keyspace-events {flags}");
        }
    }
    let created = events_with(&server, "En");
    assert_eq!(created.len(), 5, "new keys: {created:?}");
    assert!(created
        .iter()
        .all(|(channel, _)| channel == "__keyevent@0__:new"));
    for flags in ["", "A", "g$lshzxetmn"] {
        assert_eq!(events_with(&server, flags), vec![], "flags {flags:?}");
    }
    let mut con = server.client();
    let shown: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg("notify-keyspace-events")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        shown[1], "g$lshzxetnm",
        "CONFIG GET shows Redis's class string"
    );
}

#[test]
fn the_active_expiry_cycle_raises_expired_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("Ex")
        .query(&mut con)
        .unwrap();
    let mut watch = watcher(&server.url());
    let keys = [key_on(0, "exp:"), key_on(1, "exp:")];
    for key in &keys {
        let _: () = redis::cmd("SET")
            .arg(key)
            .arg("v")
            .arg("PX")
            .arg(50)
            .query(&mut con)
            .unwrap();
    }
    // Nobody reads the keys again: only the active cycle can expire them.
    let mut got = receive(&mut watch, 2, Duration::from_millis(100));
    got.sort();
    let mut want: Vec<Event> = keys
        .iter()
        .map(|key| ("__keyevent@0__:expired".to_string(), key.clone()))
        .collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_cross_core_rename_raises_its_events_in_redis_order() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEgn")
        .query(&mut con)
        .unwrap();
    let (src, dst) = (key_on(1, "from:"), key_on(0, "to:"));
    let _: () = redis::cmd("SET")
        .arg(&src)
        .arg("v")
        .query(&mut con)
        .unwrap();
    let mut watchers: Vec<_> = (0..4).map(|_| watcher(&server.url())).collect();
    for _ in 0..20 {
        let _: () = redis::cmd("RENAME")
            .arg(&src)
            .arg(&dst)
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("RENAME")
            .arg(&dst)
            .arg(&src)
            .query(&mut con)
            .unwrap();
    }
    let pair = |from: &str, to: &str| -> Vec<Event> {
        let ks = |k: &str, e: &str| (format!("__keyspace@0__:{k}"), e.to_string());
        let ke = |e: &str, k: &str| (format!("__keyevent@0__:{e}"), k.to_string());
        vec![
            ks(to, "new"),
            ke("new", to),
            ks(from, "rename_from"),
            ke("rename_from", from),
            ks(to, "rename_to"),
            ke("rename_to", to),
        ]
    };
    let mut want = Vec::new();
    for _ in 0..20 {
        want.extend(pair(&src, &dst));
        want.extend(pair(&dst, &src));
    }
    for watch in &mut watchers {
        assert_eq!(receive(watch, want.len(), Duration::from_millis(50)), want);
    }
}

#[test]
fn replaying_the_log_raises_nothing() {
    let dir = common::temp_dir("notify-replay");
    let config = dir.join("holdfast.conf");
    std::fs::write(&config, "notify-keyspace-events KEA\n").unwrap();
    let data = dir.join("data");
    let args = |data: &std::path::Path| -> Vec<String> {
        ["--threads", "2", "--durability", "local", "--dir"]
            .iter()
            .map(|s| s.to_string())
            .chain([data.display().to_string()])
            .chain(["--config".into(), config.display().to_string()])
            .collect()
    };
    let first = args(&data);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let server = Server::start_with(&first);
    let mut con = server.client();
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg(i)
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::cmd("DEL").arg("k0").query(&mut con).unwrap();
    drop(con);
    server.kill();
    let server = Server::start_with(&first);
    let mut watch = watcher(&server.url());
    let mut con = server.client();
    // Commands on both cores: any event left from the replay would come out with theirs.
    let (a, b) = (key_on(0, "after:"), key_on(1, "after:"));
    for key in [&a, &b] {
        let _: () = redis::cmd("SET").arg(key).arg("v").query(&mut con).unwrap();
    }
    let got = receive(&mut watch, 4, Duration::from_millis(200));
    let mut names: Vec<&str> = got.iter().map(|(_, payload)| payload.as_str()).collect();
    names.sort();
    let mut want = vec!["set", "set", a.as_str(), b.as_str()];
    want.sort();
    assert_eq!(names, want, "events after a restart: {got:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_blocked_pop_served_by_a_push_raises_redis_events_in_order() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("El")
        .query(&mut con)
        .unwrap();
    let mut watch = watcher(&server.url());
    // The blocked client's key and the pushing client's other key on different cores.
    let (src, dst) = (key_on(0, "blk:"), key_on(1, "blk:"));
    let url = server.url();
    let (src2, dst2) = (src.clone(), dst.clone());
    let blocked = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let moved: String = redis::cmd("BLMOVE")
            .arg(&src2)
            .arg(&dst2)
            .arg("LEFT")
            .arg("RIGHT")
            .arg(0)
            .query(&mut con)
            .unwrap();
        moved
    });
    std::thread::sleep(Duration::from_millis(200));
    let _: () = redis::cmd("LPUSH")
        .arg(&src)
        .arg("v")
        .query(&mut con)
        .unwrap();
    assert_eq!(blocked.join().unwrap(), "v");
    // What redis-server 7.0.15 publishes for the same two commands (`del` is class g).
    let ke = |event: &str, key: &str| (format!("__keyevent@0__:{event}"), key.to_string());
    let want = vec![ke("lpush", &src), ke("rpush", &dst), ke("lpop", &src)];
    assert_eq!(
        receive(&mut watch, want.len(), Duration::from_millis(100)),
        want
    );
}

/// Keys removed for maxmemory raise `evicted` (class e) on both cores, each key once, and
/// a client tracking them is told each one is invalid, as Redis's performEvictions does
/// (signalModifiedKey, then the event). With maxmemory 1 the cron evicts every key.
#[test]
fn eviction_raises_evicted_and_invalidates_tracked_keys_on_both_cores() {
    let server = Server::start_with(&["--threads", "2", "--durability", "none"]);
    let mut con = server.client();
    let config = |con: &mut redis::Connection, name: &str, value: &str| {
        let _: () = redis::cmd("CONFIG")
            .arg("SET")
            .arg(name)
            .arg(value)
            .query(con)
            .unwrap();
    };
    config(&mut con, "notify-keyspace-events", "KEe");
    config(&mut con, "maxmemory-policy", "allkeys-random");
    let keys: Vec<String> = (0..10)
        .flat_map(|i| [key_on(0, &format!("ev{i}:")), key_on(1, &format!("ev{i}:"))])
        .collect();
    for key in &keys {
        let _: () = redis::cmd("SET").arg(key).arg("v").query(&mut con).unwrap();
    }
    // A RESP2 tracking client redirecting its invalidations to a subscriber.
    let mut listener = server.client();
    let listener_id: i64 = redis::cmd("CLIENT").arg("ID").query(&mut listener).unwrap();
    let mut invalidations = listener.as_pubsub();
    invalidations.subscribe("__redis__:invalidate").unwrap();
    invalidations
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut reader = server.client();
    let _: () = redis::cmd("CLIENT")
        .arg("TRACKING")
        .arg("on")
        .arg("REDIRECT")
        .arg(listener_id)
        .query(&mut reader)
        .unwrap();
    for key in &keys {
        let _: String = redis::cmd("GET").arg(key).query(&mut reader).unwrap();
    }
    let mut watchers: Vec<_> = (0..2).map(|_| watcher(&server.url())).collect();

    config(&mut con, "maxmemory", "1");
    let mut want: Vec<Event> = Vec::new();
    for key in &keys {
        want.push((format!("__keyspace@0__:{key}"), "evicted".into()));
        want.push(("__keyevent@0__:evicted".into(), key.clone()));
    }
    want.sort();
    for watch in &mut watchers {
        let got = receive(watch, want.len(), Duration::from_millis(300));
        // Each key's keyspace event comes right before its keyevent one.
        for pair in got.chunks(2) {
            let key = pair[0].0.strip_prefix("__keyspace@0__:").unwrap_or("?");
            assert_eq!(pair[1], ("__keyevent@0__:evicted".into(), key.into()));
        }
        let mut got = got;
        got.sort();
        assert_eq!(got, want);
    }
    config(&mut con, "maxmemory", "0");

    let mut invalidated: Vec<String> = Vec::new();
    while let Ok(message) = invalidations.get_message() {
        invalidated.extend(message.get_payload::<Vec<String>>().unwrap());
    }
    invalidated.sort();
    let mut evicted = keys.clone();
    evicted.sort();
    assert_eq!(invalidated, evicted, "each evicted key invalidated once");
    let size: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(size, 0);
}

/// An event is shown only once the write it reports is durable (DESIGN.md invariant 2):
/// with the log's commits held back, a SET executes but neither its reply nor its events
/// go out; released, both do.
#[test]
fn events_wait_for_the_write_to_be_durable() {
    if common::durability_mode() == "none" {
        eprintln!("skipped: events wait for the log only with one");
        return;
    }
    let server = Server::start();
    let mut admin = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("notify-keyspace-events")
        .arg("KEA")
        .query(&mut admin)
        .unwrap();
    let mut watch = watcher(&server.url());
    let _: () = redis::cmd("DEBUG")
        .arg("HOLD-COMMITS")
        .arg("1")
        .query(&mut admin)
        .unwrap();
    let mut writer = server.raw();
    writer.send(b"*3\r\n$3\r\nSET\r\n$7\r\ndurable\r\n$1\r\nv\r\n");
    assert_eq!(
        next_event(&mut watch, Duration::from_millis(500)),
        None,
        "an event went out before its write was durable"
    );
    let _: () = redis::cmd("DEBUG")
        .arg("HOLD-COMMITS")
        .arg("0")
        .query(&mut admin)
        .unwrap();
    writer.roundtrip(b"", b"+OK\r\n");
    let events = receive(&mut watch, 2, Duration::from_millis(500));
    assert_eq!(
        events,
        vec![
            ("__keyspace@0__:durable".to_string(), "set".to_string()),
            ("__keyevent@0__:set".to_string(), "durable".to_string()),
        ]
    );
}

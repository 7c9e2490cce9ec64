//! The string family end to end, against a real server on two cores: exact reply bytes
//! (each checked against redis-server 7.0.15) in RESP2 and RESP3, expiry options taking
//! effect, and the multi-key commands (MGET, MSET, MSETNX, LCS) atomic across cores.

mod common;
use common::{Raw, Server};
use holdfast_server::shard::slot::key_core;
use redis::Commands;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

/// A request as RESP multibulk.
fn request(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Sends `line` (split on spaces) and expects exactly `reply`.
fn check(raw: &mut Raw, line: &str, reply: &str) {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    raw.roundtrip(&request(&args), reply.as_bytes());
}

/// Sends arguments that may hold spaces or any bytes, and expects exactly `reply`.
fn check_args(raw: &mut Raw, args: &[&[u8]], reply: &[u8]) {
    raw.roundtrip(&request(args), reply);
}

/// `n` key names starting with `prefix` that live on `core` of two.
fn keys_on(core: usize, prefix: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|key| key_core(key.as_bytes(), 2) == core)
        .take(n)
        .collect()
}

/// Switches a raw connection to RESP3, consuming HELLO's reply (its client id varies).
fn resp3(raw: &mut Raw) {
    raw.send(&request(&[b"HELLO", b"3"]));
    let mut got = Vec::new();
    while !got.ends_with(b"$7\r\nmodules\r\n*0\r\n") {
        let byte = raw.read_exactly(1);
        assert_eq!(byte.len(), 1, "HELLO 3 reply cut short: {got:?}");
        got.extend_from_slice(&byte);
    }
}

const SYNTAX: &str = "-ERR syntax error\r\n";
const NOT_INT: &str = "-ERR value is not an integer or out of range\r\n";
const NOT_FLOAT: &str = "-ERR value is not a valid float\r\n";

#[test]
fn set_get_and_their_variants_reply_like_redis() {
    let server = Server::start();
    let mut raw = server.raw();
    for (line, reply) in [
        ("GET nokey", "$-1\r\n"),
        ("SET k v", "+OK\r\n"),
        ("GET k", "$1\r\nv\r\n"),
        ("SET k v ex 10 px 20", SYNTAX),
        ("SET k v ex abc foo", SYNTAX),
        ("SET k v ex abc", NOT_INT),
        (
            "SET k v ex 0",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        (
            "SET k v ex 9223372036854775",
            "-ERR invalid expire time in 'set' command\r\n",
        ),
        ("SET k v pxat 9223372036854775807", "+OK\r\n"),
        ("SET k v nx xx", SYNTAX),
        ("SET k v keepttl ex 10", SYNTAX),
        ("SET k v persist", SYNTAX),
        ("SET k x nx", "$-1\r\n"),
        ("SET k x nx get", "$1\r\nv\r\n"),
        ("SET k x xx get", "$1\r\nv\r\n"),
        ("SET nk v xx get", "$-1\r\n"),
        ("GET nk", "$-1\r\n"),
        (
            "SET",
            "-ERR wrong number of arguments for 'set' command\r\n",
        ),
        ("SETNX k v", ":0\r\n"),
        ("SETNX k2 v", ":1\r\n"),
        (
            "SETEX k 0 v",
            "-ERR invalid expire time in 'setex' command\r\n",
        ),
        ("SETEX k abc v", NOT_INT),
        ("SETEX k 100 v", "+OK\r\n"),
        (
            "PSETEX k -1 v",
            "-ERR invalid expire time in 'psetex' command\r\n",
        ),
        ("PSETEX k 100000 v", "+OK\r\n"),
        ("GETSET k w", "$1\r\nv\r\n"),
        ("GETSET nokey2 w", "$-1\r\n"),
        ("GETDEL k", "$1\r\nw\r\n"),
        ("GETDEL k", "$-1\r\n"),
        ("GETEX nokey ex abc", "$-1\r\n"),
        ("GETEX k2 foo", SYNTAX),
        (
            "GETEX k2 ex 0",
            "-ERR invalid expire time in 'getex' command\r\n",
        ),
        ("GETEX k2 persist ex 10", SYNTAX),
        ("GETEX k2 keepttl", SYNTAX),
        ("GETEX k2 ex 10 ex 20", "$1\r\nv\r\n"),
        ("GETEX k2 persist", "$1\r\nv\r\n"),
        ("GETEX k2 exat 1", "$1\r\nv\r\n"),
        ("GET k2", "$-1\r\n"),
        (
            "GETEX",
            "-ERR wrong number of arguments for 'getex' command\r\n",
        ),
    ] {
        check(&mut raw, line, reply);
    }
}

#[test]
fn counters_reply_like_redis() {
    let server = Server::start();
    let mut raw = server.raw();
    for (line, reply) in [
        ("INCR n", ":1\r\n"),
        ("INCRBY n 10", ":11\r\n"),
        ("DECR n", ":10\r\n"),
        ("DECRBY n 15", ":-5\r\n"),
        ("INCRBY n abc", NOT_INT),
        (
            "DECRBY n -9223372036854775808",
            "-ERR decrement would overflow\r\n",
        ),
        ("SET big 9223372036854775807", "+OK\r\n"),
        ("INCR big", "-ERR increment or decrement would overflow\r\n"),
        ("SET s 007", "+OK\r\n"),
        ("INCR s", NOT_INT),
        // strtold reads "007" as 7, where INCR refuses it.
        ("INCRBYFLOAT s 1", "$1\r\n8\r\n"),
        ("INCRBYFLOAT f 10.5", "$4\r\n10.5\r\n"),
        ("INCRBYFLOAT f 0.1", "$4\r\n10.6\r\n"),
        ("INCRBYFLOAT f -5", "$3\r\n5.6\r\n"),
        ("INCRBYFLOAT f 5.0e3", "$22\r\n5005.60000000000000009\r\n"),
        ("INCRBYFLOAT g 0.1", "$3\r\n0.1\r\n"),
        ("INCRBYFLOAT g 0.2", "$3\r\n0.3\r\n"),
        ("INCRBYFLOAT g 1e20", "$21\r\n100000000000000000000\r\n"),
        ("INCRBYFLOAT g abc", NOT_FLOAT),
        (
            "INCRBYFLOAT g inf",
            "-ERR increment would produce NaN or Infinity\r\n",
        ),
        ("INCRBYFLOAT g 0x10", "$21\r\n100000000000000000016\r\n"),
        ("GET g", "$21\r\n100000000000000000016\r\n"),
        (
            "INCR",
            "-ERR wrong number of arguments for 'incr' command\r\n",
        ),
        (
            "INCRBYFLOAT g",
            "-ERR wrong number of arguments for 'incrbyfloat' command\r\n",
        ),
    ] {
        check(&mut raw, line, reply);
    }
}

#[test]
fn append_strlen_getrange_setrange_reply_like_redis() {
    let server = Server::start();
    let mut raw = server.raw();
    for (line, reply) in [
        ("APPEND a hello", ":5\r\n"),
        ("APPEND a _world", ":11\r\n"),
        ("STRLEN a", ":11\r\n"),
        ("STRLEN nokey", ":0\r\n"),
        ("GETRANGE a 0 3", "$4\r\nhell\r\n"),
        ("GETRANGE a -3 -1", "$3\r\nrld\r\n"),
        ("GETRANGE a -100 -50", "$1\r\nh\r\n"),
        ("GETRANGE a -1 -5", "$0\r\n\r\n"),
        ("GETRANGE a 10 100", "$1\r\nd\r\n"),
        ("GETRANGE nokey 0 -1", "$0\r\n\r\n"),
        ("GETRANGE nokey a 1", NOT_INT),
        ("SUBSTR a 6 -1", "$5\r\nworld\r\n"),
        ("SETRANGE s 5 hi", ":7\r\n"),
        ("SETRANGE s -1 hi", "-ERR offset is out of range\r\n"),
        (
            "SETRANGE s 536870912 x",
            "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
        ),
        ("SETRANGE s 9223372036854775808 x", NOT_INT),
    ] {
        check(&mut raw, line, reply);
    }
    check_args(&mut raw, &[b"GET", b"s"], b"$7\r\n\0\0\0\0\0hi\r\n");
    check_args(
        &mut raw,
        &[b"SETRANGE", b"nokey", b"536870912", b""],
        b":0\r\n",
    );
    check_args(&mut raw, &[b"APPEND", b"e", b""], b":0\r\n");
    check_args(&mut raw, &[b"STRLEN", b"e"], b":0\r\n");
}

/// The size limit follows CONFIG SET proto-max-bulk-len (Redis's minimum is 1 MiB).
#[test]
fn growth_is_limited_by_proto_max_bulk_len() {
    let server = Server::start();
    let mut raw = server.raw();
    check(&mut raw, "CONFIG SET proto-max-bulk-len 1048576", "+OK\r\n");
    let too_big = "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n";
    for (line, reply) in [
        ("SETRANGE big 1048575 x", ":1048576\r\n"),
        ("APPEND big y", too_big),
        ("SETRANGE big 1048576 x", too_big),
        ("STRLEN big", ":1048576\r\n"),
    ] {
        check(&mut raw, line, reply);
    }
    check(
        &mut raw,
        "CONFIG SET proto-max-bulk-len 536870912",
        "+OK\r\n",
    );
    check(&mut raw, "APPEND big y", ":1048577\r\n");
}

#[test]
fn resp3_replies() {
    let server = Server::start();
    let mut raw = server.raw();
    resp3(&mut raw);
    let [a, b] = [keys_on(0, "r3:", 1), keys_on(1, "r3:", 1)].map(|k| k[0].clone());
    for (line, reply) in [
        ("GET nokey".to_string(), "_\r\n"),
        ("SET k v xx".into(), "_\r\n"),
        ("SET k v nx get".into(), "_\r\n"),
        ("GETDEL nokey".into(), "_\r\n"),
        ("GETEX nokey".into(), "_\r\n"),
        (format!("MSET {a} ohmytext {b} mynewtext"), "+OK\r\n"),
        (
            format!("MGET {a} nokey {b}"),
            "*3\r\n$8\r\nohmytext\r\n_\r\n$9\r\nmynewtext\r\n",
        ),
        (
            format!("LCS {a} {b} IDX MINMATCHLEN 2 WITHMATCHLEN"),
            "%2\r\n$7\r\nmatches\r\n*2\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n\
             *3\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n:2\r\n$3\r\nlen\r\n:6\r\n",
        ),
        (
            format!("LCS nokey {b} IDX"),
            "%2\r\n$7\r\nmatches\r\n*0\r\n$3\r\nlen\r\n:0\r\n",
        ),
        ("INCRBYFLOAT f 1.5".into(), "$3\r\n1.5\r\n"),
    ] {
        check(&mut raw, &line, reply);
    }
}

#[test]
fn lcs_replies_like_redis_with_keys_on_two_cores() {
    let server = Server::start();
    let mut raw = server.raw();
    let [a, b] = [keys_on(0, "lcs:", 1), keys_on(1, "lcs:", 1)].map(|k| k[0].clone());
    check(
        &mut raw,
        &format!("MSET {a} ohmytext {b} mynewtext"),
        "+OK\r\n",
    );
    let idx = "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n\
               *2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n";
    for (line, reply) in [
        (format!("LCS {a} {b}"), "$6\r\nmytext\r\n"),
        (format!("LCS {b} {a}"), "$6\r\nmytext\r\n"),
        (format!("LCS {a} {b} LEN"), ":6\r\n"),
        (format!("LCS {a} {b} IDX"), idx),
        (format!("LCS {a} {b} minmatchlen -5 idx"), idx),
        (
            format!("LCS {a} {b} IDX MINMATCHLEN 4 WITHMATCHLEN"),
            "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n\
             $3\r\nlen\r\n:6\r\n",
        ),
        (format!("LCS {a} {b} WITHMATCHLEN"), "$6\r\nmytext\r\n"),
        (
            format!("LCS {a} {b} LEN IDX"),
            "-ERR If you want both the length and indexes, please just use IDX.\r\n",
        ),
        (format!("LCS {a} {b} foo"), SYNTAX),
        (format!("LCS {a} {b} MINMATCHLEN"), SYNTAX),
        (format!("LCS {a} {b} MINMATCHLEN abc"), NOT_INT),
        (format!("LCS {a} nokey"), "$0\r\n\r\n"),
        ("LCS nokey nokey2 LEN".into(), ":0\r\n"),
        (
            format!("LCS {a}"),
            "-ERR wrong number of arguments for 'lcs' command\r\n",
        ),
    ] {
        check(&mut raw, &line, reply);
    }
    // The table may not outgrow proto-max-bulk-len: 600 × 600 cells of 4 bytes > 1 MiB.
    check(&mut raw, "CONFIG SET proto-max-bulk-len 1048576", "+OK\r\n");
    check(&mut raw, &format!("SETRANGE {a} 599 x"), ":600\r\n");
    check(&mut raw, &format!("SETRANGE {b} 599 y"), ":600\r\n");
    check(
        &mut raw,
        &format!("LCS {a} {b} LEN"),
        "-ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len\r\n",
    );
}

#[test]
fn mget_mset_msetnx_span_both_cores() {
    let server = Server::start();
    let mut raw = server.raw();
    let (low, high) = (keys_on(0, "m:", 3), keys_on(1, "m:", 3));
    let [l0, l1, l2] = [&low[0], &low[1], &low[2]];
    let [h0, h1, h2] = [&high[0], &high[1], &high[2]];
    for (line, reply) in [
        (
            format!("MSET {l0} a {h0} b {l1}"),
            "-ERR wrong number of arguments for 'mset' command\r\n",
        ),
        (
            format!("MSETNX {l0} a {h0}"),
            "-ERR wrong number of arguments for 'msetnx' command\r\n",
        ),
        (
            "MGET".into(),
            "-ERR wrong number of arguments for 'mget' command\r\n",
        ),
        (format!("MSET {l0} a {h0} b"), "+OK\r\n"),
        (
            format!("MGET {h0} nokey {l0}"),
            "*3\r\n$1\r\nb\r\n$-1\r\n$1\r\na\r\n",
        ),
        // One existing key, on either core, stops every write.
        (format!("MSETNX {l1} x {h1} y {h0} z"), ":0\r\n"),
        (format!("MSETNX {h1} x {l1} y {l0} z"), ":0\r\n"),
        (format!("MGET {l1} {h1}"), "*2\r\n$-1\r\n$-1\r\n"),
        (format!("MSETNX {l1} x {h1} y {l2} z {h2} w"), ":1\r\n"),
        (
            format!("MGET {l1} {h1} {l2} {h2}"),
            "*4\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n$1\r\nw\r\n",
        ),
        // A key given twice is absent for both checks; the last value wins.
        ("MSETNX twice 1 twice 2".into(), ":1\r\n"),
        ("GET twice".into(), "$1\r\n2\r\n"),
    ] {
        check(&mut raw, &line, reply);
    }
}

/// Two clients race MSETNX over the same fresh keys, spread over both cores, round after
/// round: exactly one may win each round, and every key must then hold its value. A
/// check-then-set that did not hold both cores would let both win.
#[test]
fn msetnx_is_atomic_across_cores() {
    let server = Server::start();
    const ROUNDS: usize = 300;
    let keys_of = |round: usize| -> Vec<String> {
        let mut keys = keys_on(0, &format!("race{round}:"), 4);
        keys.extend(keys_on(1, &format!("race{round}:"), 4));
        keys
    };
    let barrier = Arc::new(Barrier::new(2));
    let racers: Vec<_> = ["A", "B"]
        .into_iter()
        .map(|name| {
            let (url, barrier) = (server.url(), barrier.clone());
            thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                let mut wins = Vec::new();
                for round in 0..ROUNDS {
                    let pairs: Vec<(String, &str)> =
                        keys_of(round).into_iter().map(|k| (k, name)).collect();
                    barrier.wait();
                    let won: i64 = redis::cmd("MSETNX").arg(&pairs).query(&mut con).unwrap();
                    wins.push(won == 1);
                }
                wins
            })
        })
        .collect();
    let results: Vec<Vec<bool>> = racers.into_iter().map(|t| t.join().unwrap()).collect();
    let mut con = server.client();
    for (round, (&a, &b)) in results[0].iter().zip(&results[1]).enumerate() {
        assert!(a != b, "round {round}: MSETNX won by A {a}, by B {b}");
        let values: Vec<String> = con.mget(keys_of(round)).unwrap();
        let winner = if a { "A" } else { "B" };
        assert!(
            values.iter().all(|v| v == winner),
            "round {round}: {values:?}"
        );
    }
}

/// LCS reads its two keys (on different cores) at one instant: a writer keeps MSETting
/// both to the same string, a new letter each time, so any torn read would show an LCS
/// shorter than the whole string.
#[test]
fn lcs_reads_both_cores_atomically() {
    let server = Server::start();
    let (a, b) = (
        keys_on(0, "pair:", 1).remove(0),
        keys_on(1, "pair:", 1).remove(0),
    );
    let mut writer = server.client();
    let _: () = writer.mset(&[(&a, "aaaaaaaa"), (&b, "aaaaaaaa")]).unwrap();
    let (url, ka, kb) = (server.url(), a.clone(), b.clone());
    let reader = thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        for _ in 0..1500 {
            let len: i64 = redis::cmd("LCS")
                .arg(&ka)
                .arg(&kb)
                .arg("LEN")
                .query(&mut con)
                .unwrap();
            assert_eq!(len, 8, "LCS saw the two keys from different MSETs");
        }
    });
    for round in 0..1500u32 {
        let value =
            std::iter::repeat_n(char::from(b'a' + (round % 26) as u8), 8).collect::<String>();
        let _: () = writer.mset(&[(&a, &value), (&b, &value)]).unwrap();
    }
    reader.join().unwrap();
}

/// Expiry options take effect: keys set to expire go, the rest stay. All keys expire
/// after one shared wait, far longer than their 300 ms, so a slow machine cannot flake.
#[test]
fn expiry_options_take_effect() {
    let server = Server::start();
    let mut raw = server.raw();
    for line in [
        "SET gone v PX 300",
        "SET kept_ttl v PX 300",
        "SET cleared v PX 300",
        "SET persisted v PX 300",
        "SET incremented 1 PX 300",
        "SET appended a PX 300",
    ] {
        check(&mut raw, line, "+OK\r\n");
    }
    for (line, reply) in [
        ("SET kept_ttl w KEEPTTL", "+OK\r\n"),
        ("SET cleared w", "+OK\r\n"),
        ("GETEX persisted PERSIST", "$1\r\nv\r\n"),
        ("INCR incremented", ":2\r\n"),
        ("APPEND appended b", ":2\r\n"),
        ("PSETEX psetex 300 v", "+OK\r\n"),
        ("SET getex v", "+OK\r\n"),
        ("GETEX getex PX 300", "$1\r\nv\r\n"),
        ("SET getset v PX 300", "+OK\r\n"),
        ("GETSET getset w", "$1\r\nv\r\n"),
        ("SET far v EX 1000", "+OK\r\n"),
    ] {
        check(&mut raw, line, reply);
    }
    thread::sleep(Duration::from_millis(1200));
    for (line, reply) in [
        ("GET gone", "$-1\r\n"),
        ("GET kept_ttl", "$-1\r\n"),
        ("GET cleared", "$1\r\nw\r\n"),
        ("GET persisted", "$1\r\nv\r\n"),
        ("GET incremented", "$-1\r\n"),
        ("GET appended", "$-1\r\n"),
        ("GET psetex", "$-1\r\n"),
        ("GET getex", "$-1\r\n"),
        ("GET getset", "$1\r\nw\r\n"),
        ("GET far", "$1\r\nv\r\n"),
    ] {
        check(&mut raw, line, reply);
    }
}

#[test]
fn every_command_checks_its_arity() {
    let server = Server::start();
    let mut raw = server.raw();
    for line in [
        "GET",
        "SET k",
        "SETNX k",
        "SETEX k 1",
        "PSETEX k 1",
        "GETSET k",
        "GETDEL",
        "GETEX",
        "MGET",
        "MSET",
        "MSET a",
        "MSETNX",
        "MSETNX a",
        "INCR",
        "DECR a b",
        "INCRBY a",
        "DECRBY a",
        "INCRBYFLOAT a",
        "APPEND a",
        "STRLEN",
        "GETRANGE a 1",
        "SUBSTR a",
        "SETRANGE a 1",
        "LCS a",
    ] {
        let name = line.split(' ').next().unwrap().to_ascii_lowercase();
        check(
            &mut raw,
            line,
            &format!("-ERR wrong number of arguments for '{name}' command\r\n"),
        );
    }
}

//! Generic key commands end to end, with keys on both cores (`--threads 2`): replies and
//! error texts byte for byte as Redis 7.0.15 sends them, multi-core RENAME/COPY, SCAN
//! under concurrent growth, KEYS patterns, and lazy and active expiry.

mod common;
use common::{Raw, Server};
use holdfast_server::shard::slot::key_core;
use redis::{Commands, Connection};
use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// `n` distinct keys starting with `prefix` that live on `core` (of two).
fn keys_on(core: usize, prefix: &str, n: usize) -> Vec<String> {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|key| key_core(key.as_bytes(), 2) == core)
        .take(n)
        .collect()
}

fn key_on(core: usize, prefix: &str) -> String {
    keys_on(core, prefix, 1).remove(0)
}

fn request(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
    out
}

/// Sends one command and asserts the exact reply bytes.
fn expect(raw: &mut Raw, args: &[&str], reply: &str) {
    raw.roundtrip(&request(args), reply.as_bytes());
}

fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con).unwrap()
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[test]
fn del_unlink_exists_touch_count_keys_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let (a, b) = (key_on(0, "k"), key_on(1, "k"));
    let _: () = con.mset(&[(&a, "1"), (&b, "2")]).unwrap();
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &a, &b, &a, "nokey"]), 3);
    assert_eq!(query::<i64>(&mut con, &["TOUCH", &a, &b, "nokey", &b]), 3);
    assert_eq!(query::<i64>(&mut con, &["DEL", &a, "nokey", &a]), 1);
    assert_eq!(query::<i64>(&mut con, &["UNLINK", &b, &a]), 1);
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &a, &b]), 0);
    let mut raw = server.raw();
    expect(
        &mut raw,
        &["DEL"],
        "-ERR wrong number of arguments for 'del' command\r\n",
    );
    expect(
        &mut raw,
        &["UNLINK"],
        "-ERR wrong number of arguments for 'unlink' command\r\n",
    );
}

#[test]
fn type_replies_with_a_status() {
    let server = Server::start();
    let mut raw = server.raw();
    let key = key_on(1, "t");
    expect(&mut raw, &["SET", &key, "v"], "+OK\r\n");
    expect(&mut raw, &["TYPE", &key], "+string\r\n");
    expect(&mut raw, &["TYPE", "nokey"], "+none\r\n");
    expect(
        &mut raw,
        &["TYPE", &key, "x"],
        "-ERR wrong number of arguments for 'type' command\r\n",
    );
}

#[test]
fn expire_options_and_errors_match_redis() {
    let server = Server::start();
    let mut raw = server.raw();
    let key = key_on(0, "e");
    expect(&mut raw, &["SET", &key, "v"], "+OK\r\n");
    let incompatible = "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n";
    expect(&mut raw, &["EXPIRE", &key, "10", "nx", "xx"], incompatible);
    expect(&mut raw, &["EXPIRE", &key, "10", "NX", "gt"], incompatible);
    expect(&mut raw, &["PEXPIRE", &key, "10", "nx", "LT"], incompatible);
    expect(
        &mut raw,
        &["EXPIRE", &key, "10", "gt", "lt"],
        "-ERR GT and LT options at the same time are not compatible\r\n",
    );
    // Options are checked before the time is parsed.
    expect(
        &mut raw,
        &["EXPIRE", &key, "abc", "foo"],
        "-ERR Unsupported option foo\r\n",
    );
    expect(
        &mut raw,
        &["EXPIRE", &key, "abc"],
        "-ERR value is not an integer or out of range\r\n",
    );
    for (command, amount) in [
        ("EXPIRE", "9223372036854776"),
        ("EXPIRE", "9223372036854775"),
        ("EXPIRE", "-9223372036854775808"),
        ("PEXPIRE", "9223372036854775807"),
        ("EXPIREAT", "9223372036854775807"),
    ] {
        let reply = format!(
            "-ERR invalid expire time in '{}' command\r\n",
            command.to_lowercase()
        );
        expect(&mut raw, &[command, &key, amount], &reply);
    }
    expect(
        &mut raw,
        &["EXPIRE", &key],
        "-ERR wrong number of arguments for 'expire' command\r\n",
    );
    // The key is untouched by all of the above.
    expect(&mut raw, &["TTL", &key], ":-1\r\n");
    expect(&mut raw, &["PEXPIRE", "nokey", "100"], ":0\r\n");
}

#[test]
fn expire_conditions_and_past_times() {
    let server = Server::start();
    let mut con = server.client();
    let key = key_on(1, "c");
    let _: () = con.set(&key, "v").unwrap();
    let ttl = |con: &mut Connection| query::<i64>(con, &["TTL", &key]);
    assert_eq!(query::<i64>(&mut con, &["EXPIRE", &key, "100", "XX"]), 0);
    assert_eq!(query::<i64>(&mut con, &["EXPIRE", &key, "100", "GT"]), 0);
    assert_eq!(ttl(&mut con), -1);
    assert_eq!(query::<i64>(&mut con, &["EXPIRE", &key, "100", "LT"]), 1);
    assert_eq!(ttl(&mut con), 100);
    assert_eq!(query::<i64>(&mut con, &["EXPIRE", &key, "200", "NX"]), 0);
    assert_eq!(query::<i64>(&mut con, &["EXPIRE", &key, "50", "GT"]), 0);
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRE", &key, "500", "xx", "GT"]),
        1
    );
    assert_eq!(ttl(&mut con), 500);
    assert_eq!(query::<i64>(&mut con, &["EXPIRE", &key, "1000", "LT"]), 0);
    assert_eq!(query::<i64>(&mut con, &["EXPIRE", &key, "300", "lt"]), 1);
    assert_eq!(ttl(&mut con), 300);
    assert_eq!(query::<i64>(&mut con, &["PERSIST", &key]), 1);
    assert_eq!(query::<i64>(&mut con, &["PERSIST", &key]), 0);
    assert_eq!(query::<i64>(&mut con, &["PERSIST", "nokey"]), 0);
    // A time in the past deletes the key at once, whatever the unit.
    for past in [
        vec!["EXPIRE", &key, "-1"],
        vec!["PEXPIRE", &key, "0"],
        vec!["EXPIREAT", &key, "1"],
        vec!["PEXPIREAT", &key, "1000"],
    ] {
        let _: () = con.set(&key, "v").unwrap();
        assert_eq!(query::<i64>(&mut con, &past), 1, "{past:?}");
        assert_eq!(query::<i64>(&mut con, &["EXISTS", &key]), 0, "{past:?}");
    }
    // GT with a past time fails (no TTL counts as infinite); LT with one deletes.
    let _: () = con.set(&key, "v").unwrap();
    assert_eq!(query::<i64>(&mut con, &["EXPIRE", &key, "-1", "GT"]), 0);
    assert_eq!(query::<i64>(&mut con, &["EXPIRE", &key, "-1", "LT"]), 1);
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &key]), 0);
}

#[test]
fn ttl_family_reports_absolute_expiry() {
    let server = Server::start();
    let mut con = server.client();
    let key = key_on(0, "ttl");
    let _: () = con.set(&key, "v").unwrap();
    for command in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(query::<i64>(&mut con, &[command, "nokey"]), -2, "{command}");
        assert_eq!(query::<i64>(&mut con, &[command, &key]), -1, "{command}");
    }
    let at_ms = now_ms() + 100_000_400;
    let at = at_ms.to_string();
    assert_eq!(query::<i64>(&mut con, &["PEXPIREAT", &key, &at]), 1);
    assert_eq!(query::<i64>(&mut con, &["PEXPIRETIME", &key]), at_ms);
    // Seconds are rounded to the nearest, as Redis does.
    assert_eq!(
        query::<i64>(&mut con, &["EXPIRETIME", &key]),
        (at_ms + 500) / 1000
    );
    let pttl: i64 = query(&mut con, &["PTTL", &key]);
    assert!((100_000_000..=100_000_400).contains(&pttl), "{pttl}");
    assert_eq!(query::<i64>(&mut con, &["TTL", &key]), 100_000);
    assert_eq!(query::<i64>(&mut con, &["EXPIREAT", &key, "4000000000"]), 1);
    assert_eq!(
        query::<i64>(&mut con, &["PEXPIRETIME", &key]),
        4_000_000_000_000
    );
    // PEXPIREAT accepts the largest time there is.
    assert_eq!(
        query::<i64>(&mut con, &["PEXPIREAT", &key, "9223372036854775807"]),
        1
    );
    assert_eq!(query::<i64>(&mut con, &["PEXPIRETIME", &key]), i64::MAX);
}

#[test]
fn rename_moves_value_and_ttl_across_cores() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    let (a, b) = (key_on(0, "r"), key_on(1, "r"));
    let b2 = keys_on(1, "r", 2).remove(1);
    expect(&mut raw, &["RENAME", "nokey", &b], "-ERR no such key\r\n");
    expect(
        &mut raw,
        &["RENAME", "nokey", "nokey"],
        "-ERR no such key\r\n",
    );
    expect(&mut raw, &["RENAMENX", "nokey", &b], "-ERR no such key\r\n");
    let _: () = con.set(&a, "va").unwrap();
    expect(&mut raw, &["RENAME", &a, &a], "+OK\r\n");
    expect(&mut raw, &["RENAMENX", &a, &a], ":0\r\n");
    let at = (now_ms() + 1_000_000).to_string();
    assert_eq!(query::<i64>(&mut con, &["PEXPIREAT", &a, &at]), 1);
    // Core 0 -> core 1, the TTL travels with the key.
    expect(&mut raw, &["RENAME", &a, &b], "+OK\r\n");
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &a]), 0);
    assert_eq!(con.get::<_, String>(&b).unwrap(), "va");
    assert_eq!(query::<String>(&mut con, &["PEXPIRETIME", &b]), at);
    // Core 1 -> core 0 over an existing key: replaced, and its TTL goes too.
    let _: () = con.set(&a, "old").unwrap();
    expect(&mut raw, &["RENAME", &b, &a], "+OK\r\n");
    assert_eq!(con.get::<_, String>(&a).unwrap(), "va");
    assert_eq!(query::<String>(&mut con, &["PEXPIRETIME", &a]), at);
    assert_eq!(query::<i64>(&mut con, &["PERSIST", &a]), 1);
    let _: () = con.set(&b, "vb").unwrap();
    expect(&mut raw, &["RENAME", &b, &a], "+OK\r\n");
    assert_eq!(query::<i64>(&mut con, &["PTTL", &a]), -1);
    // RENAMENX across cores refuses an existing destination and changes nothing.
    let _: () = con.set(&b, "vb").unwrap();
    expect(&mut raw, &["RENAMENX", &b, &a], ":0\r\n");
    assert_eq!(con.get::<_, String>(&a).unwrap(), "vb");
    assert_eq!(con.get::<_, String>(&b).unwrap(), "vb");
    expect(&mut raw, &["RENAMENX", &a, &b2], ":1\r\n");
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &a, &b, &b2]), 2);
    expect(&mut raw, &["RENAMENX", &b2, &a], ":1\r\n");
    assert_eq!(con.get::<_, String>(&a).unwrap(), "vb");
    expect(
        &mut raw,
        &["RENAME", &a, &b, "x"],
        "-ERR wrong number of arguments for 'rename' command\r\n",
    );
}

/// No client sees a cross-core RENAME half done: one key hops between the cores while a
/// reader checks that exactly one of the two names exists, in DBSIZE, KEYS and EXISTS.
#[test]
fn rename_across_cores_is_atomic() {
    let server = Server::start();
    let (a, b) = (key_on(0, "hop"), key_on(1, "hop"));
    let mut writer = server.client();
    let _: () = writer.set(&a, "v").unwrap();
    let url = server.url();
    let (ra, rb) = (a.clone(), b.clone());
    let reader = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        for _ in 0..500 {
            assert_eq!(query::<i64>(&mut con, &["EXISTS", &ra, &rb]), 1);
            assert_eq!(query::<i64>(&mut con, &["DBSIZE"]), 1);
            assert_eq!(query::<Vec<String>>(&mut con, &["KEYS", "hop*"]).len(), 1);
        }
    });
    for round in 0..3000 {
        let (from, to) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let _: () = query(&mut writer, &["RENAME", from, to]);
    }
    reader.join().unwrap();
}

#[test]
fn copy_across_cores_and_databases() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    let (src, dst) = (key_on(0, "cp"), key_on(1, "cp"));
    let at = (now_ms() + 1_000_000).to_string();
    let _: () = con.set(&src, "v").unwrap();
    assert_eq!(query::<i64>(&mut con, &["PEXPIREAT", &src, &at]), 1);
    expect(
        &mut raw,
        &["COPY", &src, &src],
        "-ERR source and destination objects are the same\r\n",
    );
    expect(
        &mut raw,
        &["COPY", &src, &src, "DB", "0"],
        "-ERR source and destination objects are the same\r\n",
    );
    expect(
        &mut raw,
        &["COPY", &src, &dst, "db", "16"],
        "-ERR DB index is out of range\r\n",
    );
    expect(
        &mut raw,
        &["COPY", &src, &dst, "db", "-1"],
        "-ERR DB index is out of range\r\n",
    );
    expect(
        &mut raw,
        &["COPY", &src, &dst, "db", "abc"],
        "-ERR value is not an integer or out of range\r\n",
    );
    expect(
        &mut raw,
        &["COPY", &src, &dst, "db", "4294967296"],
        "-ERR value is out of range, value must between -2147483648 and 2147483647\r\n",
    );
    expect(
        &mut raw,
        &["COPY", &src, &dst, "foo"],
        "-ERR syntax error\r\n",
    );
    expect(
        &mut raw,
        &["COPY", &src, &dst, "db"],
        "-ERR syntax error\r\n",
    );
    expect(&mut raw, &["COPY", "nokey", &dst], ":0\r\n");
    // Core 0 -> core 1 keeps the value and the absolute expiry; the source stays.
    expect(&mut raw, &["COPY", &src, &dst], ":1\r\n");
    assert_eq!(con.get::<_, String>(&dst).unwrap(), "v");
    assert_eq!(query::<String>(&mut con, &["PEXPIRETIME", &dst]), at);
    assert_eq!(con.get::<_, String>(&src).unwrap(), "v");
    // An existing destination needs REPLACE.
    let _: () = con.set(&dst, "other").unwrap();
    expect(&mut raw, &["COPY", &src, &dst], ":0\r\n");
    assert_eq!(con.get::<_, String>(&dst).unwrap(), "other");
    expect(
        &mut raw,
        &["COPY", &src, &dst, "REPLACE", "replace"],
        ":1\r\n",
    );
    assert_eq!(con.get::<_, String>(&dst).unwrap(), "v");
    // Into another database: same name allowed, on another core too.
    expect(&mut raw, &["COPY", &src, &src, "DB", "3"], ":1\r\n");
    expect(
        &mut raw,
        &["COPY", &dst, &src, "DB", "4", "REPLACE"],
        ":1\r\n",
    );
    expect(&mut raw, &["SELECT", "3"], "+OK\r\n");
    expect(&mut raw, &["GET", &src], "$1\r\nv\r\n");
    expect(&mut raw, &["PEXPIRETIME", &src], &format!(":{at}\r\n"));
    expect(&mut raw, &["SELECT", "4"], "+OK\r\n");
    expect(&mut raw, &["GET", &src], "$1\r\nv\r\n");
    expect(&mut raw, &["DBSIZE"], ":1\r\n");
}

#[test]
fn move_between_databases() {
    let server = Server::start();
    let mut raw = server.raw();
    let key = key_on(1, "mv");
    expect(&mut raw, &["SET", &key, "v"], "+OK\r\n");
    expect(&mut raw, &["PEXPIREAT", &key, "99999999999999"], ":1\r\n");
    expect(
        &mut raw,
        &["MOVE", &key, "0"],
        "-ERR source and destination objects are the same\r\n",
    );
    expect(
        &mut raw,
        &["MOVE", &key, "16"],
        "-ERR DB index is out of range\r\n",
    );
    expect(
        &mut raw,
        &["MOVE", &key, "abc"],
        "-ERR value is not an integer or out of range\r\n",
    );
    expect(&mut raw, &["MOVE", "nokey", "1"], ":0\r\n");
    expect(&mut raw, &["MOVE", &key, "1"], ":1\r\n");
    expect(&mut raw, &["EXISTS", &key], ":0\r\n");
    expect(&mut raw, &["SET", &key, "again"], "+OK\r\n");
    expect(&mut raw, &["MOVE", &key, "1"], ":0\r\n");
    expect(&mut raw, &["SELECT", "1"], "+OK\r\n");
    expect(&mut raw, &["GET", &key], "$1\r\nv\r\n");
    expect(&mut raw, &["PEXPIRETIME", &key], ":99999999999999\r\n");
}

#[test]
fn keys_matches_patterns_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let names = [
        "hello",
        "hallo",
        "hxllo",
        "hllo",
        "heeeello",
        "h*llo",
        "user:1:name",
        "user:22:name",
        "user:1:mail",
        "Hello",
    ];
    let cores: HashSet<usize> = names.iter().map(|k| key_core(k.as_bytes(), 2)).collect();
    assert_eq!(cores.len(), 2, "the names must span both cores");
    for name in names {
        let _: () = con.set(name, "v").unwrap();
    }
    let keys = |con: &mut Connection, pattern: &str| {
        let mut found: Vec<String> = query(con, &["KEYS", pattern]);
        found.sort();
        found
    };
    let mut all: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    all.sort();
    assert_eq!(keys(&mut con, "*"), all);
    assert_eq!(
        keys(&mut con, "h?llo"),
        ["h*llo", "hallo", "hello", "hxllo"]
    );
    assert_eq!(
        keys(&mut con, "h*llo"),
        ["h*llo", "hallo", "heeeello", "hello", "hllo", "hxllo"]
    );
    assert_eq!(keys(&mut con, "h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(keys(&mut con, "h[^e]llo"), ["h*llo", "hallo", "hxllo"]);
    assert_eq!(keys(&mut con, "h[a-b]llo"), ["hallo"]);
    assert_eq!(keys(&mut con, "h\\*llo"), ["h*llo"]);
    assert_eq!(
        keys(&mut con, "user:*:name"),
        ["user:1:name", "user:22:name"]
    );
    assert_eq!(keys(&mut con, "nomatch*"), Vec::<String>::new());
    // Expired keys are not listed, even before anything removed them.
    let _: () = query(&mut con, &["SET", "hello", "v", "PX", "1"]);
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(keys(&mut con, "h?llo"), ["h*llo", "hallo", "hxllo"]);
    let mut raw = server.raw();
    expect(&mut raw, &["KEYS", "Hel*"], "*1\r\n$5\r\nHello\r\n");
    expect(
        &mut raw,
        &["KEYS"],
        "-ERR wrong number of arguments for 'keys' command\r\n",
    );
}

/// Every key present for the whole scan is returned at least once, while other keys are
/// added between the calls (growing and rehashing the tables of both cores).
#[test]
fn scan_returns_every_key_while_keys_are_added() {
    let server = Server::start();
    let mut con = server.client();
    let initial: Vec<String> = (0..3000).map(|i| format!("initial:{i}")).collect();
    let pairs: Vec<(String, i64)> = initial.iter().cloned().zip(0..).collect();
    let _: () = con.mset(&pairs).unwrap();
    let mut seen = HashSet::new();
    let (mut cursor, mut calls, mut added) = (0u64, 0, 0);
    loop {
        let (next, batch): (u64, Vec<String>) =
            query(&mut con, &["SCAN", &cursor.to_string(), "COUNT", "20"]);
        assert!(batch.len() <= 20, "one call visits at most COUNT entries");
        seen.extend(batch);
        calls += 1;
        let more: Vec<(String, i64)> = (added..added + 60)
            .map(|i| (format!("added:{i}"), i))
            .collect();
        let _: () = con.mset(&more).unwrap();
        added += 60;
        cursor = next;
        if cursor == 0 {
            break;
        }
        assert!(calls < 10_000, "SCAN does not end");
    }
    let missed: Vec<&String> = initial.iter().filter(|k| !seen.contains(*k)).collect();
    assert!(
        missed.is_empty(),
        "SCAN missed {} keys: {:?}",
        missed.len(),
        &missed[..missed.len().min(5)]
    );
    // Every key returned existed at some point: only initial and added keys.
    assert!(seen
        .iter()
        .all(|k| k.starts_with("initial:") || k.starts_with("added:")));
}

#[test]
fn scan_filters_and_cursor_errors() {
    let server = Server::start();
    let mut con = server.client();
    let names: Vec<String> = (0..200).map(|i| format!("s:{i}")).collect();
    for name in &names {
        let _: () = con.set(name, "v").unwrap();
    }
    let _: () = con.set("other", "v").unwrap();
    let full_scan = |con: &mut Connection, extra: &[&str]| {
        let (mut cursor, mut found) = ("0".to_string(), Vec::new());
        loop {
            let mut args = vec!["SCAN", cursor.as_str()];
            args.extend_from_slice(extra);
            let (next, batch): (String, Vec<String>) = query(con, &args);
            found.extend(batch);
            if next == "0" {
                break;
            }
            cursor = next;
        }
        found.sort();
        found.dedup();
        found
    };
    let mut expected = names.clone();
    expected.sort();
    assert_eq!(
        full_scan(&mut con, &["MATCH", "s:*", "COUNT", "7"]),
        expected
    );
    assert_eq!(full_scan(&mut con, &["TYPE", "STRING"]).len(), 201);
    assert_eq!(full_scan(&mut con, &["TYPE", "list"]), Vec::<String>::new());
    assert_eq!(full_scan(&mut con, &["MATCH", "other"]), ["other"]);
    // A large COUNT returns everything in one call.
    let (next, batch): (String, Vec<String>) = query(&mut con, &["SCAN", "0", "COUNT", "100000"]);
    assert_eq!((next.as_str(), batch.len()), ("0", 201));
    let mut raw = server.raw();
    for cursor in ["abc", " 0", "0 ", "+", "-", "18446744073709551616"] {
        expect(&mut raw, &["SCAN", cursor], "-ERR invalid cursor\r\n");
    }
    expect(
        &mut raw,
        &["SCAN", "abc", "COUNT", "0"],
        "-ERR invalid cursor\r\n",
    );
    for options in [
        &["COUNT", "0"][..],
        &["COUNT", "-1"],
        &["COUNT"],
        &["MATCH"],
        &["TYPE"],
        &["foo"],
        &["COUNT", "0", "MATCH"],
    ] {
        let mut args = vec!["SCAN", "0"];
        args.extend_from_slice(options);
        expect(&mut raw, &args, "-ERR syntax error\r\n");
    }
    expect(
        &mut raw,
        &["SCAN", "0", "COUNT", "abc"],
        "-ERR value is not an integer or out of range\r\n",
    );
    // A cursor past the last core ends the scan.
    expect(
        &mut raw,
        &["SCAN", "18446744073709551615"],
        "*2\r\n$1\r\n0\r\n*0\r\n",
    );
    expect(&mut raw, &["SELECT", "9"], "+OK\r\n");
    expect(&mut raw, &["SCAN", ""], "*2\r\n$1\r\n0\r\n*0\r\n");
    expect(
        &mut raw,
        &["SCAN", "-0", "MATCH", "*"],
        "*2\r\n$1\r\n0\r\n*0\r\n",
    );
}

#[test]
fn randomkey_draws_from_both_cores_and_never_an_expired_key() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    expect(&mut raw, &["RANDOMKEY"], "$-1\r\n");
    let (zero, one) = (keys_on(0, "rk", 50), keys_on(1, "rk", 50));
    for key in zero.iter().chain(&one) {
        let _: () = con.set(key, "v").unwrap();
    }
    let mut cores_seen = HashSet::new();
    for _ in 0..200 {
        let key: String = query(&mut con, &["RANDOMKEY"]);
        assert!(zero.contains(&key) || one.contains(&key), "{key}");
        cores_seen.insert(key_core(key.as_bytes(), 2));
    }
    assert_eq!(cores_seen.len(), 2, "both cores are drawn from");
    // Weighted by size: core 0 holds 1 key of 1001, so it is drawn rarely.
    let _: () = query(&mut con, &["FLUSHALL"]);
    let lone = key_on(0, "lone");
    let _: () = con.set(&lone, "v").unwrap();
    let many: Vec<(String, i64)> = keys_on(1, "many", 1000).into_iter().zip(0..).collect();
    let _: () = con.mset(&many).unwrap();
    let lone_draws = (0..500)
        .filter(|_| query::<String>(&mut con, &["RANDOMKEY"]) == lone)
        .count();
    assert!(lone_draws < 50, "core 0 drawn {lone_draws} times of 500");
    // Only one key is live: the rest expired and must never be returned.
    let _: () = query(&mut con, &["FLUSHALL"]);
    let survivor = key_on(1, "survivor");
    let _: () = con.set(&survivor, "v").unwrap();
    for key in keys_on(0, "doomed", 500)
        .iter()
        .chain(&keys_on(1, "doomed", 500))
    {
        let _: () = query(&mut con, &["SET", key, "v", "PX", "20"]);
    }
    std::thread::sleep(Duration::from_millis(30));
    for _ in 0..50 {
        assert_eq!(query::<String>(&mut con, &["RANDOMKEY"]), survivor);
    }
    expect(
        &mut raw,
        &["RANDOMKEY", "x"],
        "-ERR wrong number of arguments for 'randomkey' command\r\n",
    );
}

#[test]
fn object_subcommands_match_redis() {
    let server = Server::start();
    let mut raw = server.raw();
    let (s, n) = (key_on(0, "obj"), key_on(1, "obj"));
    expect(&mut raw, &["SET", &s, "hello"], "+OK\r\n");
    expect(&mut raw, &["OBJECT", "ENCODING", &s], "$6\r\nembstr\r\n");
    expect(&mut raw, &["OBJECT", "refcount", &s], ":1\r\n");
    expect(&mut raw, &["SET", &s, &"x".repeat(45)], "+OK\r\n");
    expect(&mut raw, &["OBJECT", "encoding", &s], "$3\r\nraw\r\n");
    expect(&mut raw, &["SET", &n, "9999"], "+OK\r\n");
    expect(&mut raw, &["OBJECT", "encoding", &n], "$3\r\nint\r\n");
    expect(&mut raw, &["OBJECT", "refcount", &n], ":2147483647\r\n");
    expect(&mut raw, &["SET", &n, "10000"], "+OK\r\n");
    expect(&mut raw, &["OBJECT", "refcount", &n], ":1\r\n");
    expect(&mut raw, &["OBJECT", "encoding", "nokey"], "$-1\r\n");
    expect(&mut raw, &["OBJECT", "idletime", "nokey"], "$-1\r\n");
    expect(&mut raw, &["OBJECT", "freq", "nokey"], "$-1\r\n");
    expect(&mut raw, &["OBJECT", "FREQ", &n], "-ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.\r\n");
    expect(
        &mut raw,
        &["OBJECT"],
        "-ERR wrong number of arguments for 'object' command\r\n",
    );
    expect(
        &mut raw,
        &["OBJECT", "foo"],
        "-ERR unknown subcommand 'foo'. Try OBJECT HELP.\r\n",
    );
    expect(
        &mut raw,
        &["OBJECT", "ENCODING"],
        "-ERR wrong number of arguments for 'object|encoding' command\r\n",
    );
    expect(
        &mut raw,
        &["OBJECT", "help", "x"],
        "-ERR wrong number of arguments for 'object|help' command\r\n",
    );
    let help = [
        "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
        "HELP",
        "    Prints this help.",
    ];
    let mut reply = format!("*{}\r\n", help.len());
    for line in help {
        reply.push_str(&format!("+{line}\r\n"));
    }
    expect(&mut raw, &["OBJECT", "HELP"], &reply);
}

/// IDLETIME grows while nobody reads the key; OBJECT itself does not touch it, a read does.
#[test]
fn object_idletime_counts_from_the_last_access() {
    let server = Server::start();
    let mut con = server.client();
    let key = key_on(1, "idle");
    let _: () = con.set(&key, "v").unwrap();
    // The clock is in whole seconds: a tick may fall between two commands.
    let idle_now = |con: &mut Connection| query::<i64>(con, &["OBJECT", "IDLETIME", &key]);
    assert!(idle_now(&mut con) <= 1);
    std::thread::sleep(Duration::from_millis(2300));
    // TYPE, TTL, EXISTS and OBJECT look without touching.
    let _: String = query(&mut con, &["TYPE", &key]);
    let _: i64 = query(&mut con, &["TTL", &key]);
    let _: i64 = query(&mut con, &["EXISTS", &key]);
    let idle = idle_now(&mut con);
    assert!((2..=3).contains(&idle), "idle {idle}");
    assert!((idle..=idle + 1).contains(&idle_now(&mut con)));
    let _: String = con.get(&key).unwrap();
    assert!(idle_now(&mut con) <= 1);
}

#[test]
fn swapdb_dbsize_and_flushes_span_both_cores() {
    let server = Server::start();
    let mut raw = server.raw();
    let keys: Vec<String> = keys_on(0, "f", 3)
        .into_iter()
        .chain(keys_on(1, "f", 4))
        .collect();
    for key in &keys {
        expect(&mut raw, &["SET", key, "v"], "+OK\r\n");
    }
    expect(&mut raw, &["DBSIZE"], ":7\r\n");
    expect(
        &mut raw,
        &["SWAPDB", "0", "16"],
        "-ERR DB index is out of range\r\n",
    );
    expect(
        &mut raw,
        &["SWAPDB", "0", "-1"],
        "-ERR DB index is out of range\r\n",
    );
    expect(
        &mut raw,
        &["SWAPDB", "a", "1"],
        "-ERR invalid first DB index\r\n",
    );
    expect(
        &mut raw,
        &["SWAPDB", "1", "a"],
        "-ERR invalid second DB index\r\n",
    );
    expect(
        &mut raw,
        &["SWAPDB", "4294967296", "1"],
        "-ERR invalid first DB index\r\n",
    );
    expect(&mut raw, &["SWAPDB", "0", "0"], "+OK\r\n");
    expect(&mut raw, &["SWAPDB", "0", "5"], "+OK\r\n");
    expect(&mut raw, &["DBSIZE"], ":0\r\n");
    expect(&mut raw, &["SELECT", "5"], "+OK\r\n");
    expect(&mut raw, &["DBSIZE"], ":7\r\n");
    expect(&mut raw, &["GET", &keys[6]], "$1\r\nv\r\n");
    expect(&mut raw, &["SELECT", "0"], "+OK\r\n");
    expect(&mut raw, &["SET", &keys[0], "db0"], "+OK\r\n");
    // FLUSHDB empties only the selected database, on every core.
    expect(&mut raw, &["FLUSHDB", "foo"], "-ERR syntax error\r\n");
    expect(&mut raw, &["FLUSHDB", "sync", "x"], "-ERR syntax error\r\n");
    expect(&mut raw, &["SELECT", "5"], "+OK\r\n");
    expect(&mut raw, &["FLUSHDB", "ASYNC"], "+OK\r\n");
    expect(&mut raw, &["DBSIZE"], ":0\r\n");
    expect(&mut raw, &["SELECT", "0"], "+OK\r\n");
    expect(&mut raw, &["DBSIZE"], ":1\r\n");
    for (db, key) in [("2", &keys[1]), ("3", &keys[5])] {
        expect(&mut raw, &["SELECT", db], "+OK\r\n");
        expect(&mut raw, &["SET", key, "v"], "+OK\r\n");
    }
    expect(&mut raw, &["FLUSHALL", "foo"], "-ERR syntax error\r\n");
    expect(&mut raw, &["FLUSHALL", "SYNC"], "+OK\r\n");
    for db in ["0", "2", "3"] {
        expect(&mut raw, &["SELECT", db], "+OK\r\n");
        expect(&mut raw, &["DBSIZE"], ":0\r\n");
    }
    expect(&mut raw, &["SET", &keys[0], "v"], "+OK\r\n");
    expect(&mut raw, &["FLUSHALL"], "+OK\r\n");
    expect(&mut raw, &["DBSIZE"], ":0\r\n");
    expect(
        &mut raw,
        &["DBSIZE", "x"],
        "-ERR wrong number of arguments for 'dbsize' command\r\n",
    );
}

/// A large ASYNC flush returns at once and leaves the databases empty and usable.
#[test]
fn flushall_async_of_a_large_keyspace() {
    let server = Server::start();
    let mut con = server.client();
    for chunk in 0..20 {
        let pairs: Vec<(String, i64)> =
            (0..5000).map(|i| (format!("big:{chunk}:{i}"), i)).collect();
        let _: () = con.mset(&pairs).unwrap();
    }
    assert_eq!(query::<i64>(&mut con, &["DBSIZE"]), 100_000);
    let _: () = query(&mut con, &["FLUSHALL", "ASYNC"]);
    assert_eq!(query::<i64>(&mut con, &["DBSIZE"]), 0);
    let _: () = con.set("after", "v").unwrap();
    assert_eq!(query::<Vec<String>>(&mut con, &["KEYS", "*"]), ["after"]);
}

/// Keys with a 100 ms TTL that nobody reads leave DBSIZE within a second (active expiry);
/// before that a read already misses them once their time passed (lazy expiry).
#[test]
fn expired_keys_go_lazily_and_actively() {
    let server = Server::start();
    let mut con = server.client();
    let keys: Vec<String> = keys_on(0, "px", 20)
        .into_iter()
        .chain(keys_on(1, "px", 20))
        .collect();
    let _: () = con.set("stays", "v").unwrap();
    // One pipeline, so every key gets its TTL at about the same time.
    let started = Instant::now();
    let mut pipe = redis::pipe();
    for key in &keys {
        pipe.cmd("SET")
            .arg(key)
            .arg("v")
            .arg("PX")
            .arg(100)
            .ignore();
    }
    pipe.cmd("DBSIZE");
    let (size,): (i64,) = pipe.query(&mut con).unwrap();
    if started.elapsed() < Duration::from_millis(100) {
        assert_eq!(size, 41);
    }
    while query::<i64>(&mut con, &["DBSIZE"]) > 1 {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "active expiry left keys behind"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(query::<i64>(&mut con, &["EXISTS", "stays"]), 1);
    // Lazy: a key read after its time is gone even if the cycle has not reached it.
    let (lazy0, lazy1) = (key_on(0, "lazy"), key_on(1, "lazy"));
    for key in [&lazy0, &lazy1] {
        let _: () = query(&mut con, &["SET", key, "v", "PX", "1"]);
    }
    std::thread::sleep(Duration::from_millis(3));
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &lazy0, &lazy1]), 0);
    assert_eq!(query::<i64>(&mut con, &["TTL", &lazy0]), -2);
    assert_eq!(query::<Option<String>>(&mut con, &["GET", &lazy1]), None);
}

#[test]
fn resp3_reply_types() {
    let server = Server::start();
    let mut raw = server.raw();
    let key = key_on(1, "r3");
    raw.send(&request(&["HELLO", "3"]));
    // HELLO's map ends with its (empty) modules array.
    let mut hello = Vec::new();
    while !hello.ends_with(b"$7\r\nmodules\r\n*0\r\n") {
        let byte = raw.read_exactly(1);
        assert_eq!(byte.len(), 1, "HELLO reply cut short: {hello:?}");
        hello.extend(byte);
    }
    assert!(hello.starts_with(b"%7\r\n"));
    expect(&mut raw, &["OBJECT", "ENCODING", "nokey"], "_\r\n");
    expect(&mut raw, &["RANDOMKEY"], "_\r\n");
    expect(&mut raw, &["TYPE", "nokey"], "+none\r\n");
    expect(&mut raw, &["SET", &key, "v"], "+OK\r\n");
    expect(
        &mut raw,
        &["RANDOMKEY"],
        &format!("${}\r\n{key}\r\n", key.len()),
    );
    expect(
        &mut raw,
        &["KEYS", "*"],
        &format!("*1\r\n${}\r\n{key}\r\n", key.len()),
    );
    expect(
        &mut raw,
        &["SCAN", "0", "COUNT", "100"],
        &format!("*2\r\n$1\r\n0\r\n*1\r\n${}\r\n{key}\r\n", key.len()),
    );
    expect(&mut raw, &["TTL", &key], ":-1\r\n");
    expect(&mut raw, &["RENAMENX", &key, &key], ":0\r\n");
}

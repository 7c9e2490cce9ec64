//! Streams end to end with keys on both cores (`--threads 2`): XADD's automatic IDs,
//! XREAD / XREADGROUP BLOCK woken by an XADD from a connection on any core (a reader
//! blocked on keys of both cores too), first blocked first served, `$` resolved when the
//! reader blocks, timeouts, CLIENT UNBLOCK, the errors a blocked XREADGROUP gets when its
//! group or stream goes away, no blocking inside MULTI, and group state (PEL, consumers,
//! counters) surviving a SIGKILL and restart whether reads were served at once or later.

mod common;
use common::{Server, TempDir};
use holdfast_server::shard::slot::key_core;
use redis::{Connection, Value};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn key_on(core: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|key| key_core(key.as_bytes(), 2) == core)
        .unwrap()
}

/// Runs a blocking command on a connection of its own; the handle yields its reply.
fn blocked(server: &Server, args: &[&str]) -> JoinHandle<redis::RedisResult<Value>> {
    let mut con = server.client();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    thread::spawn(move || {
        let mut cmd = redis::cmd(&args[0]);
        for arg in &args[1..] {
            cmd.arg(arg);
        }
        cmd.query(&mut con)
    })
}

/// Waits until `n` clients are blocked in `command` (CLIENT LIST's cmd= field), and a
/// little more for their registration to reach the keys' cores.
fn wait_blocked(con: &mut Connection, command: &str, n: usize) {
    let started = Instant::now();
    loop {
        let list: String = query(con, &["CLIENT", "LIST"]);
        let found = list
            .lines()
            .filter(|line| line.contains(&format!("cmd={command} ")))
            .count();
        if found >= n {
            thread::sleep(Duration::from_millis(100));
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{n} clients never blocked in {command}: {list}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

/// `[key, [[id, [field, value]]...]]` for one stream of an XREAD reply.
fn stream_reply(key: &str, entries: &[(&str, &str, &str)]) -> Value {
    let entries = entries
        .iter()
        .map(|(id, field, value)| {
            Value::Array(vec![bulk(id), Value::Array(vec![bulk(field), bulk(value)])])
        })
        .collect();
    Value::Array(vec![bulk(key), Value::Array(entries)])
}

#[test]
fn xadd_star_takes_the_clock_and_stays_above_the_last_id() {
    let server = Server::start();
    let mut con = server.client();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let id: String = query(&mut con, &["XADD", "auto", "*", "f", "v"]);
    let (ms, seq) = id.split_once('-').unwrap();
    let ms: u64 = ms.parse().unwrap();
    assert!(ms >= before && ms < before + 5_000, "{id} vs {before}");
    assert_eq!(seq, "0");
    // A last ID in the future: `*` continues its sequence instead of going back.
    let future = format!("{}-5", ms + 1_000_000);
    query::<String>(&mut con, &["XADD", "ahead", &future, "f", "v"]);
    let next: String = query(&mut con, &["XADD", "ahead", "*", "f", "v"]);
    assert_eq!(next, format!("{}-6", ms + 1_000_000));
    assert_eq!(
        query::<String>(&mut con, &["OBJECT", "ENCODING", "auto"]),
        "stream"
    );
    assert_eq!(query::<String>(&mut con, &["TYPE", "auto"]), "stream");
}

#[test]
fn an_xadd_from_any_core_wakes_a_reader_blocked_on_either_core() {
    let server = Server::start();
    let mut con = server.client();
    let (k0, k1) = (key_on(0, "wake:"), key_on(1, "wake:"));
    for key in [&k0, &k1] {
        // Several writing connections: whichever core each landed on, both the local
        // and the remote path serve the reader.
        for round in 1..=3 {
            let reader = blocked(&server, &["XREAD", "BLOCK", "0", "STREAMS", key, "$"]);
            wait_blocked(&mut con, "xread", 1);
            let id = format!("{round}-1");
            query::<String>(&mut server.client(), &["XADD", key, &id, "f", "v"]);
            let reply = reader.join().unwrap().unwrap();
            assert_eq!(
                reply,
                Value::Array(vec![stream_reply(key, &[(&id, "f", "v")])])
            );
        }
    }
    // A reader blocked on keys of both cores is served by an XADD to either.
    for (key, id) in [(&k1, "10-1"), (&k0, "10-1")] {
        let reader = blocked(
            &server,
            &["XREAD", "BLOCK", "0", "STREAMS", &k0, &k1, "$", "$"],
        );
        wait_blocked(&mut con, "xread", 1);
        query::<String>(&mut server.client(), &["XADD", key, id, "g", "w"]);
        let reply = reader.join().unwrap().unwrap();
        assert_eq!(
            reply,
            Value::Array(vec![stream_reply(key, &[(id, "g", "w")])])
        );
        query::<i64>(&mut con, &["DEL", &k0, &k1]);
    }
}

#[test]
fn dollar_is_resolved_when_the_reader_blocks() {
    let server = Server::start();
    let mut con = server.client();
    let key = key_on(1, "dollar:");
    query::<String>(&mut con, &["XADD", &key, "1-1", "old", "1"]);
    let reader = blocked(&server, &["XREAD", "BLOCK", "0", "STREAMS", &key, "$"]);
    wait_blocked(&mut con, "xread", 1);
    query::<String>(&mut con, &["XADD", &key, "2-1", "new", "2"]);
    let reply = reader.join().unwrap().unwrap();
    assert_eq!(
        reply,
        Value::Array(vec![stream_reply(&key, &[("2-1", "new", "2")])])
    );
}

#[test]
fn readers_of_a_group_are_served_first_blocked_first() {
    let server = Server::start();
    let mut con = server.client();
    for core in 0..2 {
        let key = key_on(core, "fifo:");
        query::<String>(&mut con, &["XGROUP", "CREATE", &key, "g", "$", "MKSTREAM"]);
        let mut readers = Vec::new();
        for (n, name) in ["c1", "c2", "c3"].iter().enumerate() {
            let args = [
                "XREADGROUP",
                "GROUP",
                "g",
                name,
                "COUNT",
                "1",
                "BLOCK",
                "0",
                "STREAMS",
                &key,
                ">",
            ];
            readers.push(blocked(&server, &args));
            wait_blocked(&mut con, "xreadgroup", n + 1);
        }
        for (n, reader) in readers.into_iter().enumerate() {
            let id = format!("{}-1", n + 1);
            query::<String>(
                &mut server.client(),
                &["XADD", &key, &id, "n", &n.to_string()],
            );
            let reply = reader.join().unwrap().unwrap();
            let want = Value::Array(vec![stream_reply(&key, &[(&id, "n", &n.to_string())])]);
            assert_eq!(reply, want, "reader {n} on core {core}");
        }
        // Each delivered entry is pending for the consumer that got it.
        let pending: Vec<Vec<Value>> = query(&mut con, &["XPENDING", &key, "g", "-", "+", "10"]);
        let owners: Vec<Value> = pending.iter().map(|entry| entry[1].clone()).collect();
        assert_eq!(owners, vec![bulk("c1"), bulk("c2"), bulk("c3")]);
    }
}

#[test]
fn timeouts_answer_null_after_the_time_and_not_before() {
    let server = Server::start();
    let mut con = server.client();
    let key = key_on(0, "slow:");
    query::<String>(&mut con, &["XGROUP", "CREATE", &key, "g", "$", "MKSTREAM"]);
    for args in [
        vec!["XREAD", "BLOCK", "300", "STREAMS", &key, "$"],
        vec![
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "300",
            "STREAMS",
            &key,
            ">",
        ],
    ] {
        let started = Instant::now();
        let reply: Value = query(&mut con, &args);
        let took = started.elapsed();
        assert_eq!(reply, Value::Nil, "{args:?}");
        assert!(took >= Duration::from_millis(290), "{args:?} took {took:?}");
        assert!(took < Duration::from_secs(3), "{args:?} took {took:?}");
    }
}

#[test]
fn client_unblock_ends_a_read_with_null_or_an_error() {
    let server = Server::start();
    let mut con = server.client();
    let key = key_on(1, "unblock:");
    for (reason, want_error) in [("TIMEOUT", false), ("ERROR", true)] {
        let mut reader_con = server.client();
        let id: i64 = query(&mut reader_con, &["CLIENT", "ID"]);
        let reader = thread::spawn(move || {
            redis::cmd("XREAD")
                .arg("BLOCK")
                .arg("0")
                .arg("STREAMS")
                .arg(key_on(1, "unblock:"))
                .arg("$")
                .query::<Value>(&mut reader_con)
        });
        wait_blocked(&mut con, "xread", 1);
        let done: i64 = query(&mut con, &["CLIENT", "UNBLOCK", &id.to_string(), reason]);
        assert_eq!(done, 1);
        match reader.join().unwrap() {
            Ok(value) => {
                assert!(!want_error);
                assert_eq!(value, Value::Nil);
            }
            Err(error) => {
                assert!(want_error);
                assert!(
                    error
                        .to_string()
                        .contains("client unblocked via CLIENT UNBLOCK"),
                    "{error}"
                );
            }
        }
    }
    assert_eq!(query::<i64>(&mut con, &["XLEN", &key]), 0);
}

#[test]
fn a_blocked_group_reader_fails_when_its_group_or_stream_goes() {
    let server = Server::start();
    let mut con = server.client();
    for core in 0..2 {
        let key = key_on(core, "gone:");
        let read = [
            "XREADGROUP",
            "GROUP",
            "g",
            "c",
            "BLOCK",
            "0",
            "STREAMS",
            &key,
            ">",
        ];
        query::<String>(&mut con, &["XGROUP", "CREATE", &key, "g", "$", "MKSTREAM"]);
        let reader = blocked(&server, &read);
        wait_blocked(&mut con, "xreadgroup", 1);
        query::<i64>(&mut server.client(), &["XGROUP", "DESTROY", &key, "g"]);
        let error = reader.join().unwrap().unwrap_err();
        assert_eq!(error.code(), Some("NOGROUP"), "{error}");
        assert!(error
            .to_string()
            .contains("the consumer group this client was blocked on no longer exists"));

        query::<String>(&mut con, &["XGROUP", "CREATE", &key, "g", "$"]);
        let reader = blocked(&server, &read);
        wait_blocked(&mut con, "xreadgroup", 1);
        // SET replaces the stream in place on the key's own core (a single-shard write).
        query::<String>(&mut server.client(), &["SET", &key, "now a string"]);
        let error = reader.join().unwrap().unwrap_err();
        assert_eq!(error.code(), Some("UNBLOCKED"), "{error}");
        assert!(error
            .to_string()
            .contains("the stream key no longer exists"));
        query::<i64>(&mut con, &["DEL", &key]);

        // DEL runs on the multi-core path: the reader is answered when it ends.
        query::<String>(&mut con, &["XGROUP", "CREATE", &key, "g", "$", "MKSTREAM"]);
        let reader = blocked(&server, &read);
        wait_blocked(&mut con, "xreadgroup", 1);
        query::<i64>(&mut server.client(), &["DEL", &key]);
        let error = reader.join().unwrap().unwrap_err();
        assert_eq!(error.code(), Some("UNBLOCKED"), "{error}");
        // A plain XREAD keeps waiting through a DEL, and takes what comes next.
        let reader = blocked(&server, &["XREAD", "BLOCK", "0", "STREAMS", &key, "$"]);
        wait_blocked(&mut con, "xread", 1);
        query::<i64>(&mut con, &["DEL", &key]);
        query::<String>(&mut con, &["XADD", &key, "1-1", "f", "v"]);
        let reply = reader.join().unwrap().unwrap();
        assert_eq!(
            reply,
            Value::Array(vec![stream_reply(&key, &[("1-1", "f", "v")])])
        );
        query::<i64>(&mut con, &["DEL", &key]);
    }
}

#[test]
fn a_group_reader_blocked_on_both_cores_fails_when_a_group_goes() {
    let server = Server::start();
    let mut con = server.client();
    let (k0, k1) = (key_on(0, "both:"), key_on(1, "both:"));
    for key in [&k0, &k1] {
        query::<String>(&mut con, &["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]);
    }
    let read = [
        "XREADGROUP",
        "GROUP",
        "g",
        "c",
        "BLOCK",
        "0",
        "STREAMS",
        &k0,
        &k1,
        ">",
        ">",
    ];
    let reader = blocked(&server, &read);
    wait_blocked(&mut con, "xreadgroup", 1);
    query::<i64>(&mut con, &["XGROUP", "DESTROY", &k1, "g"]);
    let error = reader.join().unwrap().unwrap_err();
    assert_eq!(error.code(), Some("NOGROUP"), "{error}");
    // With both groups there, an XADD to either serves it.
    query::<String>(&mut con, &["XGROUP", "CREATE", &k1, "g", "$"]);
    let reader = blocked(&server, &read);
    wait_blocked(&mut con, "xreadgroup", 1);
    query::<String>(&mut con, &["XADD", &k1, "5-1", "f", "v"]);
    let reply = reader.join().unwrap().unwrap();
    assert_eq!(
        reply,
        Value::Array(vec![stream_reply(&k1, &[("5-1", "f", "v")])])
    );
    let pending: Vec<Value> = query(&mut con, &["XPENDING", &k1, "g"]);
    assert_eq!(pending[0], Value::Int(1));
}

#[test]
fn inside_multi_a_read_answers_at_once() {
    let server = Server::start();
    let mut con = server.client();
    let key = key_on(0, "multi:");
    query::<String>(&mut con, &["XGROUP", "CREATE", &key, "g", "$", "MKSTREAM"]);
    let started = Instant::now();
    let replies: Vec<Value> = redis::pipe()
        .atomic()
        .cmd("XREAD")
        .arg("BLOCK")
        .arg("0")
        .arg("STREAMS")
        .arg(&key)
        .arg("$")
        .cmd("XREADGROUP")
        .arg("GROUP")
        .arg("g")
        .arg("c")
        .arg("BLOCK")
        .arg("0")
        .arg("STREAMS")
        .arg(&key)
        .arg(">")
        .cmd("XADD")
        .arg(&key)
        .arg("1-1")
        .arg("f")
        .arg("v")
        .cmd("XREAD")
        .arg("BLOCK")
        .arg("0")
        .arg("STREAMS")
        .arg(&key)
        .arg("0")
        .query(&mut con)
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(replies[0], Value::Nil);
    assert_eq!(replies[1], Value::Nil);
    assert_eq!(
        replies[3],
        Value::Array(vec![stream_reply(&key, &[("1-1", "f", "v")])])
    );
}

/// XINFO STREAM FULL of every key, for comparing a server with itself after a restart.
fn full_info(con: &mut Connection, keys: &[String]) -> Vec<Value> {
    keys.iter()
        .map(|key| query(con, &["XINFO", "STREAM", key, "FULL", "COUNT", "0"]))
        .collect()
}

#[test]
fn group_state_survives_a_restart_whether_served_at_once_or_later() {
    let dir = TempDir::new("streams-restart");
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let (k0, k1) = (key_on(0, "durable:"), key_on(1, "durable:"));
    let keys = vec![k0.clone(), k1.clone()];
    for key in &keys {
        query::<String>(&mut con, &["XGROUP", "CREATE", key, "g", "$", "MKSTREAM"]);
        query::<String>(&mut con, &["XGROUP", "CREATE", key, "noack", "0"]);
        for _ in 0..5 {
            query::<String>(&mut con, &["XADD", key, "MAXLEN", "~", "3", "*", "f", "v"]);
        }
        query::<String>(&mut con, &["XADD", key, "*", "f", "v"]);
    }
    // Served at once, across cores: deliveries, a NOACK read, a history read.
    let two = &[
        "XREADGROUP",
        "GROUP",
        "g",
        "alice",
        "COUNT",
        "2",
        "STREAMS",
        &k0,
        &k1,
        ">",
        ">",
    ];
    query::<Value>(&mut con, two);
    query::<Value>(
        &mut con,
        &[
            "XREADGROUP",
            "GROUP",
            "noack",
            "bob",
            "NOACK",
            "STREAMS",
            &k0,
            &k1,
            ">",
            ">",
        ],
    );
    query::<Value>(
        &mut con,
        &[
            "XREADGROUP",
            "GROUP",
            "g",
            "alice",
            "STREAMS",
            &k0,
            &k1,
            "0",
            "0",
        ],
    );
    // Served later: a reader blocked on each core, woken by XADD.
    for key in &keys {
        let read = [
            "XREADGROUP",
            "GROUP",
            "g",
            "carol",
            "BLOCK",
            "0",
            "STREAMS",
            key,
            ">",
        ];
        // Drain what is there first, so the next read blocks.
        query::<Value>(
            &mut con,
            &["XREADGROUP", "GROUP", "g", "dave", "STREAMS", key, ">"],
        );
        let reader = blocked(&server, &read);
        wait_blocked(&mut con, "xreadgroup", 1);
        query::<String>(&mut con, &["XADD", key, "*", "late", "1"]);
        assert!(matches!(reader.join().unwrap().unwrap(), Value::Array(_)));
    }
    query::<Value>(
        &mut con,
        &["XAUTOCLAIM", &k0, "g", "erin", "0", "0", "JUSTID"],
    );
    query::<Value>(
        &mut con,
        &["XAUTOCLAIM", &k1, "g", "erin", "0", "0", "COUNT", "1"],
    );
    // Approximate trims are logged as the exact trims they amounted to, the emptying
    // one included.
    let trimmed = key_on(0, "durable-trim:");
    query::<String>(&mut con, &["CONFIG", "SET", "stream-node-max-entries", "2"]);
    for ms in 1..=6 {
        query::<String>(&mut con, &["XADD", &trimmed, &format!("{ms}-1"), "f", "v"]);
    }
    assert_eq!(
        query::<i64>(&mut con, &["XTRIM", &trimmed, "MINID", "~", "5"]),
        4
    );
    query::<String>(
        &mut con,
        &["XADD", &trimmed, "MINID", "~", "100", "7-1", "f", "v"],
    );
    assert_eq!(query::<i64>(&mut con, &["XLEN", &trimmed]), 0);
    query::<String>(
        &mut con,
        &["CONFIG", "SET", "stream-node-max-entries", "100"],
    );
    let keys = [keys, vec![trimmed]].concat();
    let before = full_info(&mut con, &keys);
    let digest: String = query(&mut con, &["DEBUG", "DIGEST"]);
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    assert_eq!(full_info(&mut con, &keys), before);
    assert_eq!(query::<String>(&mut con, &["DEBUG", "DIGEST"]), digest);
}

/// XGROUP's row carries no flags of its own, as Redis's container (COMMAND INFO shows
/// none, no keys, `@slow`); its subcommands do, and decide whether a call is a write.
#[test]
fn xgroup_flags_are_its_subcommands_and_decide_what_is_logged() {
    let server = Server::start();
    let mut con = server.client();
    let info: Vec<Value> = query(&mut con, &["COMMAND", "INFO", "xgroup"]);
    let Value::Array(row) = &info[0] else {
        panic!("COMMAND INFO xgroup: {info:?}")
    };
    let text = |value: &Value| match value {
        Value::BulkString(bytes) => String::from_utf8_lossy(bytes).into_owned(),
        Value::SimpleString(text) => text.clone(),
        other => panic!("not text: {other:?}"),
    };
    let texts = |value: &Value| match value {
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>(),
        other => panic!("not an array: {other:?}"),
    };
    assert_eq!(texts(&row[2]), Vec::<String>::new(), "container flags");
    assert_eq!(row[3..6], [Value::Int(0), Value::Int(0), Value::Int(0)]);
    assert_eq!(texts(&row[6]), ["@slow"]);
    let Value::Array(subs) = &row[9] else {
        panic!("subcommands: {:?}", row[9])
    };
    let flags_of = |name: &str| {
        subs.iter()
            .find_map(|sub| match sub {
                Value::Array(fields) if text(&fields[0]) == name => Some(texts(&fields[2])),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(flags_of("xgroup|create"), ["write", "denyoom"]);
    assert_eq!(flags_of("xgroup|help"), ["loading", "stale"]);
}

/// Every XGROUP subcommand that writes is logged as a write: the groups it made come
/// back after a restart.
#[test]
fn xgroup_writes_survive_a_restart() {
    let dir = TempDir::new("xgroup-restart");
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let key = key_on(1, "xg:");
    let _: Value = query(&mut con, &["XGROUP", "CREATE", &key, "g1", "$", "MKSTREAM"]);
    let _: Value = query(&mut con, &["XGROUP", "CREATE", &key, "g2", "0"]);
    let _: Value = query(&mut con, &["XGROUP", "CREATECONSUMER", &key, "g1", "alice"]);
    let _: Value = query(&mut con, &["XGROUP", "SETID", &key, "g1", "5-0"]);
    let _: Value = query(&mut con, &["XGROUP", "DESTROY", &key, "g2"]);
    let before: Value = query(&mut con, &["XINFO", "GROUPS", &key]);
    drop(con);
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let after: Value = query(&mut con, &["XINFO", "GROUPS", &key]);
    assert_eq!(after, before);
}

/// MOVE and an EXPIRE already past delete the key as any delete does: an XREADGROUP
/// blocked on the stream fails with Redis's -UNBLOCKED at once (on either core).
#[test]
fn move_and_a_past_expire_unblock_xreadgroup_like_a_delete() {
    let server = Server::start();
    let mut con = server.client();
    let unblocked = b"-UNBLOCKED the stream key no longer exists\r\n";
    for core in [0, 1] {
        let key = key_on(core, "gone:");
        let deletes: [&[&str]; 3] = [
            &["MOVE", &key, "1"],
            &["EXPIRE", &key, "-1"],
            &["PEXPIREAT", &key, "1"],
        ];
        for delete in deletes {
            let _: () = query(&mut con, &["FLUSHALL"]);
            let _: () = query(&mut con, &["XGROUP", "CREATE", &key, "g", "$", "MKSTREAM"]);
            let mut blocked = server.raw();
            let request = format!(
                "*9\r\n$10\r\nXREADGROUP\r\n$5\r\nGROUP\r\n$1\r\ng\r\n$1\r\nc\r\n$5\r\nBLOCK\r\n$1\r\n0\r\n$7\r\nSTREAMS\r\n${}\r\n{key}\r\n$1\r\n>\r\n",
                key.len()
            );
            blocked.send(request.as_bytes());
            wait_blocked(&mut con, "xreadgroup", 1);
            let removed: i64 = query(&mut con, delete);
            assert_eq!(removed, 1, "{delete:?}");
            let got = blocked.read_exactly(unblocked.len());
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(unblocked),
                "{delete:?}"
            );
        }
    }
}

//! Blocking list commands end to end with keys on both cores (`--threads 2`): a blocked
//! client is woken by a push from a connection on any core (the key's own core serves it,
//! or a client blocked on keys of both cores retries); timeouts; first blocked, first
//! served; CLIENT UNBLOCK; a client that disconnects stops waiting; a served pop is
//! durable like any write (it survives a SIGKILL and restart).

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

fn bulks(values: &[&str]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| Value::BulkString(v.as_bytes().to_vec()))
            .collect(),
    )
}

#[test]
fn a_push_from_any_core_wakes_a_client_blocked_on_either_core() {
    let server = Server::start();
    let mut con = server.client();
    for core in 0..2 {
        let key = key_on(core, "wake:");
        // Several pushing connections: whichever core each landed on, both the local
        // and the cross-core push paths are taken over the two keys.
        for pusher in 0..3 {
            let waiter = blocked(&server, &["BLPOP", &key, "0"]);
            wait_blocked(&mut con, "blpop", 1);
            let mut push = server.client();
            let value = format!("v{pusher}");
            let _: i64 = query(&mut push, &["RPUSH", &key, &value]);
            assert_eq!(waiter.join().unwrap().unwrap(), bulks(&[&key, &value]));
            let len: i64 = query(&mut con, &["LLEN", &key]);
            assert_eq!(len, 0, "the served element must be gone");
        }
    }
    // Keys on both cores: the waiter is woken and pops atomically over the cores.
    let (a, b) = (key_on(0, "both:"), key_on(1, "both:"));
    let waiter = blocked(&server, &["BRPOP", &a, &b, "0"]);
    wait_blocked(&mut con, "brpop", 1);
    let _: i64 = query(&mut con, &["RPUSH", &b, "x", "y"]);
    assert_eq!(waiter.join().unwrap().unwrap(), bulks(&[&b, "y"]));
    let rest: Vec<String> = query(&mut con, &["LRANGE", &b, "0", "-1"]);
    assert_eq!(rest, ["x"]);
    // BLMOVE across cores, and BLMPOP with a count.
    let waiter = blocked(&server, &["BLMOVE", &a, &b, "LEFT", "LEFT", "0"]);
    wait_blocked(&mut con, "blmove", 1);
    let _: i64 = query(&mut con, &["LPUSH", &a, "moved"]);
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        Value::BulkString(b"moved".to_vec())
    );
    let dst: Vec<String> = query(&mut con, &["LRANGE", &b, "0", "-1"]);
    assert_eq!(dst, ["moved", "x"]);
    let waiter = blocked(
        &server,
        &["BLMPOP", "0", "2", &a, "other", "RIGHT", "COUNT", "5"],
    );
    wait_blocked(&mut con, "blmpop", 1);
    let _: i64 = query(&mut con, &["RPUSH", &a, "1", "2", "3"]);
    let reply = waiter.join().unwrap().unwrap();
    assert_eq!(
        reply,
        Value::Array(vec![
            Value::BulkString(a.as_bytes().to_vec()),
            bulks(&["3", "2", "1"])
        ])
    );
}

#[test]
fn timeouts_answer_null_after_the_time_and_not_before() {
    let server = Server::start();
    let mut con = server.client();
    let started = Instant::now();
    let reply: Value = query(&mut con, &["BLPOP", "none:a", "none:b", "0.3"]);
    let took = started.elapsed();
    assert_eq!(reply, Value::Nil);
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let reply: Value = query(
        &mut con,
        &["BLMOVE", "none:a", "none:b", "LEFT", "RIGHT", "0.1"],
    );
    assert_eq!(reply, Value::Nil);
    let reply: Value = query(&mut con, &["BLMPOP", "0.1", "1", "none:a", "LEFT"]);
    assert_eq!(reply, Value::Nil);
    // The connection goes on normally after a timeout.
    let _: i64 = query(&mut con, &["RPUSH", "none:a", "x"]);
    let reply: Value = query(&mut con, &["BLPOP", "none:a", "0.1"]);
    assert_eq!(reply, bulks(&["none:a", "x"]));
    let err = redis::cmd("BLPOP")
        .arg("k")
        .arg("-1")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("timeout is negative"), "{err}");
}

#[test]
fn clients_blocked_on_a_key_are_served_first_blocked_first() {
    let server = Server::start();
    let mut con = server.client();
    for core in 0..2 {
        let key = key_on(core, "fifo:");
        let mut waiters = Vec::new();
        for n in 1..=3 {
            waiters.push(blocked(&server, &["BLPOP", &key, "0"]));
            wait_blocked(&mut con, "blpop", n);
        }
        let _: i64 = query(&mut con, &["RPUSH", &key, "first", "second", "third"]);
        let got: Vec<Value> = waiters
            .into_iter()
            .map(|w| w.join().unwrap().unwrap())
            .collect();
        assert_eq!(
            got,
            [
                bulks(&[&key, "first"]),
                bulks(&[&key, "second"]),
                bulks(&[&key, "third"])
            ]
        );
    }
}

#[test]
fn client_unblock_ends_a_wait_with_the_timeout_reply_or_an_error() {
    let server = Server::start();
    let mut con = server.client();
    for (reason, expected_error) in [("TIMEOUT", false), ("ERROR", true)] {
        let mut waiter_con = server.client();
        let id: i64 = query(&mut waiter_con, &["CLIENT", "ID"]);
        let waiter = thread::spawn(move || {
            redis::cmd("BLPOP")
                .arg("unblock:k")
                .arg("0")
                .query::<Value>(&mut waiter_con)
        });
        wait_blocked(&mut con, "blpop", 1);
        let unblocked: i64 = query(&mut con, &["CLIENT", "UNBLOCK", &id.to_string(), reason]);
        assert_eq!(unblocked, 1);
        match waiter.join().unwrap() {
            Ok(reply) => {
                assert!(!expected_error);
                assert_eq!(reply, Value::Nil);
            }
            Err(err) => {
                assert!(expected_error, "{err}");
                assert!(
                    err.to_string()
                        .contains("client unblocked via CLIENT UNBLOCK"),
                    "{err}"
                );
            }
        }
        let again: i64 = query(&mut con, &["CLIENT", "UNBLOCK", &id.to_string()]);
        assert_eq!(again, 0, "no longer blocked");
    }
}

#[test]
fn a_client_that_disconnects_stops_waiting() {
    let server = Server::start();
    let mut con = server.client();
    for core in 0..2 {
        let key = key_on(core, "gone:");
        let mut raw = server.raw();
        raw.send(format!("BLPOP {key} 0\r\n").as_bytes());
        wait_blocked(&mut con, "blpop", 1);
        drop(raw);
        // The server notices within its liveness check; the push must then stay put.
        thread::sleep(Duration::from_millis(400));
        let _: i64 = query(&mut con, &["RPUSH", &key, "kept"]);
        let kept: Vec<String> = query(&mut con, &["LRANGE", &key, "0", "-1"]);
        assert_eq!(kept, ["kept"]);
    }
}

#[test]
fn a_served_pop_survives_a_restart() {
    let dir = TempDir::new("blocking-restart");
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let (a, b) = (key_on(0, "dur:"), key_on(1, "dur:"));
    let waiter = blocked(&server, &["BLPOP", &a, "0"]);
    wait_blocked(&mut con, "blpop", 1);
    let _: i64 = query(&mut con, &["RPUSH", &a, "one", "two"]);
    assert_eq!(waiter.join().unwrap().unwrap(), bulks(&[&a, "one"]));
    let waiter = blocked(&server, &["BRPOPLPUSH", &b, &a, "0"]);
    wait_blocked(&mut con, "brpoplpush", 1);
    let _: i64 = query(&mut con, &["RPUSH", &b, "x", "y"]);
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        Value::BulkString(b"y".to_vec())
    );
    // Both keys on one core: served on the shard right after the push.
    let (src, same_core) = (format!("{{{a}}}src"), format!("{{{a}}}dst"));
    let waiter = blocked(&server, &["BLMOVE", &src, &same_core, "RIGHT", "LEFT", "0"]);
    wait_blocked(&mut con, "blmove", 1);
    let _: i64 = query(&mut con, &["RPUSH", &src, "z"]);
    assert_eq!(
        waiter.join().unwrap().unwrap(),
        Value::BulkString(b"z".to_vec())
    );
    let digest: String = query(&mut con, &["DEBUG", "DIGEST-TTL"]);
    let before: Vec<Vec<String>> = [&a, &b, &same_core]
        .iter()
        .map(|k| query(&mut con, &["LRANGE", k, "0", "-1"]))
        .collect();
    assert_eq!(before, [vec!["y", "two"], vec!["x"], vec!["z"]]);
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let after: Vec<Vec<String>> = [&a, &b, &same_core]
        .iter()
        .map(|k| query(&mut con, &["LRANGE", k, "0", "-1"]))
        .collect();
    assert_eq!(after, before);
    assert_eq!(query::<String>(&mut con, &["DEBUG", "DIGEST-TTL"]), digest);
}

#[test]
fn concurrent_blockers_and_pushers_on_both_cores_see_every_element_once() {
    let server = Server::start();
    let (a, b) = (key_on(0, "race:"), key_on(1, "race:"));
    let per_pusher = 150;
    let pushers = 3;
    // Consumers blocked on one key (served on its shard) and on both (woken, retrying),
    // with timeouts short enough that some waits end while a push is being served.
    let consumers: Vec<_> = (0..4)
        .map(|n| {
            let mut con = server.client();
            let keys: Vec<String> = match n % 3 {
                0 => vec![a.clone()],
                1 => vec![b.clone()],
                _ => vec![a.clone(), b.clone()],
            };
            thread::spawn(move || {
                let mut got = Vec::new();
                let mut idle = 0;
                while idle < 5 {
                    let mut cmd = redis::cmd(if n % 2 == 0 { "BLPOP" } else { "BRPOP" });
                    keys.iter().for_each(|k| {
                        cmd.arg(k);
                    });
                    match cmd
                        .arg("0.05")
                        .query::<Option<(String, String)>>(&mut con)
                        .unwrap()
                    {
                        Some((_, value)) => {
                            got.push(value);
                            idle = 0;
                        }
                        None => idle += 1,
                    }
                }
                got
            })
        })
        .collect();
    let producers: Vec<_> = (0..pushers)
        .map(|p| {
            let mut con = server.client();
            let (a, b) = (a.clone(), b.clone());
            thread::spawn(move || {
                for i in 0..per_pusher {
                    let key = if i % 2 == 0 { &a } else { &b };
                    let _: i64 = query(&mut con, &["RPUSH", key, &format!("p{p}:{i}")]);
                }
            })
        })
        .collect();
    producers.into_iter().for_each(|p| p.join().unwrap());
    let mut received: Vec<String> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    let mut con = server.client();
    received.extend(query::<Vec<String>>(&mut con, &["LRANGE", &a, "0", "-1"]));
    received.extend(query::<Vec<String>>(&mut con, &["LRANGE", &b, "0", "-1"]));
    received.sort();
    let mut expected: Vec<String> = (0..pushers)
        .flat_map(|p| (0..per_pusher).map(move |i| format!("p{p}:{i}")))
        .collect();
    expected.sort();
    assert_eq!(
        received, expected,
        "every element popped once or still in its list"
    );
}

//! Blocking sorted-set pops (BZPOPMIN, BZPOPMAX, BZMPOP) end to end with keys on both
//! cores, and the waking gaps: every command that creates a list or sorted set under a
//! key a client waits for (RENAME, RENAMENX, COPY, MOVE, SWAPDB, SORT ... STORE, LMOVE,
//! ZUNIONSTORE, ZRANGESTORE, ZINCRBY, EXEC, EVAL) wakes it, with the key on either core.
//! A served pop is durable like any write (it survives a SIGKILL and restart).

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

/// Runs a blocking command on a connection of its own (in database `db`); the handle
/// yields its reply.
fn blocked_in(server: &Server, db: usize, args: &[&str]) -> JoinHandle<redis::RedisResult<Value>> {
    let mut con = server.client();
    let _: () = query(&mut con, &["SELECT", &db.to_string()]);
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    thread::spawn(move || {
        let mut cmd = redis::cmd(&args[0]);
        for arg in &args[1..] {
            cmd.arg(arg);
        }
        cmd.query(&mut con)
    })
}

fn blocked(server: &Server, args: &[&str]) -> JoinHandle<redis::RedisResult<Value>> {
    blocked_in(server, 0, args)
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

/// The reply of a blocked command, which must come within a few seconds.
fn reply_of(waiter: JoinHandle<redis::RedisResult<Value>>) -> Value {
    let started = Instant::now();
    while !waiter.is_finished() {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the blocked client was never woken"
        );
        thread::sleep(Duration::from_millis(10));
    }
    waiter.join().unwrap().unwrap()
}

fn bulks(values: &[&str]) -> Value {
    Value::Array(
        values
            .iter()
            .map(|v| Value::BulkString(v.as_bytes().to_vec()))
            .collect(),
    )
}

/// BZMPOP's reply: the key and its `[member, score]` pairs.
fn mpop_reply(key: &str, pairs: &[(&str, &str)]) -> Value {
    let pairs = pairs.iter().map(|(m, s)| bulks(&[m, s])).collect();
    Value::Array(vec![
        Value::BulkString(key.as_bytes().to_vec()),
        Value::Array(pairs),
    ])
}

#[test]
fn a_zadd_from_any_core_wakes_a_client_blocked_on_either_core() {
    let server = Server::start();
    let mut con = server.client();
    for core in 0..2 {
        let key = key_on(core, "zwake:");
        for (n, pop) in ["BZPOPMIN", "BZPOPMAX"].iter().enumerate() {
            let waiter = blocked(&server, &[pop, &key, "0"]);
            wait_blocked(&mut con, &pop.to_lowercase(), 1);
            // Several connections: whichever core each landed on, local and shipped ZADDs.
            let mut adder = server.client();
            let _: i64 = query(&mut adder, &["ZADD", &key, "1", "low", "2", "high"]);
            let expected = [bulks(&[&key, "low", "1"]), bulks(&[&key, "high", "2"])];
            assert_eq!(reply_of(waiter), expected[n]);
            let left: Vec<String> = query(&mut con, &["ZRANGE", &key, "0", "-1"]);
            assert_eq!(left.len(), 1, "exactly one member was popped");
            let _: i64 = query(&mut con, &["DEL", &key]);
        }
    }
    // Keys on both cores: the waiter is woken and pops atomically over the cores.
    let (a, b) = (key_on(0, "zboth:"), key_on(1, "zboth:"));
    let waiter = blocked(&server, &["BZPOPMIN", &a, &b, "0"]);
    wait_blocked(&mut con, "bzpopmin", 1);
    let _: i64 = query(&mut con, &["ZADD", &b, "5", "x", "7", "y"]);
    assert_eq!(reply_of(waiter), bulks(&[&b, "x", "5"]));
    let waiter = blocked(&server, &["BZMPOP", "0", "2", &a, &b, "MAX", "COUNT", "5"]);
    // b still holds y: served at once.
    assert_eq!(reply_of(waiter), mpop_reply(&b, &[("y", "7")]));
    let waiter = blocked(&server, &["BZMPOP", "0", "2", &b, &a, "MIN", "COUNT", "2"]);
    wait_blocked(&mut con, "bzmpop", 1);
    let _: i64 = query(&mut con, &["ZADD", &a, "3", "c", "1", "a", "2", "b"]);
    assert_eq!(reply_of(waiter), mpop_reply(&a, &[("a", "1"), ("b", "2")]));
    let left: Vec<String> = query(&mut con, &["ZRANGE", &a, "0", "-1"]);
    assert_eq!(left, ["c"]);
}

#[test]
fn a_push_racing_with_the_block_is_never_missed() {
    // The ZADD lands anywhere from before the attempt to after the registration; with
    // the attempt and the registration not atomic it could fall in between, and the
    // waiter would sleep through its timeout with the member there.
    let server = Server::start();
    let mut adder = server.client();
    for round in 0..120 {
        let key = key_on(round % 2, &format!("zrace{round}:"));
        let waiter = blocked(&server, &["BZPOPMIN", &key, "2"]);
        let _: i64 = query(&mut adder, &["ZADD", &key, "1", "m"]);
        let reply = waiter.join().unwrap().unwrap();
        assert_eq!(reply, bulks(&[&key, "m", "1"]), "round {round}: missed");
        let list_key = format!("{key}:l");
        let waiter = blocked(&server, &["BLPOP", &list_key, "2"]);
        let _: i64 = query(&mut adder, &["RPUSH", &list_key, "v"]);
        let reply = waiter.join().unwrap().unwrap();
        assert_eq!(reply, bulks(&[&list_key, "v"]), "round {round}: missed");
    }
}

#[test]
fn resp3_replies_carry_doubles() {
    let server = Server::start();
    let mut con = server.client();
    let key = key_on(1, "z3:");
    let mut waiter_con = server.client();
    let _: Value = query(&mut waiter_con, &["HELLO", "3"]);
    let waiter_key = key.clone();
    let waiter = thread::spawn(move || {
        redis::cmd("BZPOPMIN")
            .arg(&waiter_key)
            .arg("0")
            .query::<Value>(&mut waiter_con)
    });
    wait_blocked(&mut con, "bzpopmin", 1);
    let _: i64 = query(&mut con, &["ZADD", &key, "2.5", "m"]);
    assert_eq!(
        reply_of(waiter),
        Value::Array(vec![
            Value::BulkString(key.as_bytes().to_vec()),
            Value::BulkString(b"m".to_vec()),
            Value::Double(2.5),
        ])
    );
}

#[test]
fn timeouts_unblock_and_fifo_order() {
    let server = Server::start();
    let mut con = server.client();
    let started = Instant::now();
    let reply: Value = query(&mut con, &["BZPOPMIN", "znone:a", "znone:b", "0.3"]);
    assert_eq!(reply, Value::Nil);
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3));
    let reply: Value = query(&mut con, &["BZMPOP", "0.1", "1", "znone:a", "MIN"]);
    assert_eq!(reply, Value::Nil);
    // CLIENT UNBLOCK: the timeout reply, or the UNBLOCKED error.
    for (reason, error) in [("TIMEOUT", false), ("ERROR", true)] {
        let mut waiter_con = server.client();
        let id: i64 = query(&mut waiter_con, &["CLIENT", "ID"]);
        let waiter = thread::spawn(move || {
            redis::cmd("BZPOPMAX")
                .arg("zunblock:k")
                .arg("0")
                .query::<Value>(&mut waiter_con)
        });
        wait_blocked(&mut con, "bzpopmax", 1);
        let n: i64 = query(&mut con, &["CLIENT", "UNBLOCK", &id.to_string(), reason]);
        assert_eq!(n, 1);
        match waiter.join().unwrap() {
            Ok(reply) => assert!(!error && reply == Value::Nil, "{reply:?}"),
            Err(e) => assert!(error && e.to_string().contains("UNBLOCKED"), "{e}"),
        }
    }
    // First blocked, first served, on each core.
    for core in 0..2 {
        let key = key_on(core, "zfifo:");
        let mut waiters = Vec::new();
        for n in 1..=3 {
            waiters.push(blocked(&server, &["BZPOPMIN", &key, "0"]));
            wait_blocked(&mut con, "bzpopmin", n);
        }
        let _: i64 = query(&mut con, &["ZADD", &key, "1", "a", "2", "b", "3", "c"]);
        let got: Vec<Value> = waiters.into_iter().map(reply_of).collect();
        assert_eq!(
            got,
            [
                bulks(&[&key, "a", "1"]),
                bulks(&[&key, "b", "2"]),
                bulks(&[&key, "c", "3"])
            ]
        );
    }
}

#[test]
fn a_pop_that_cannot_block_answers_at_once_in_multi_and_scripts() {
    let server = Server::start();
    let mut con = server.client();
    let replies: Value = redis::pipe()
        .atomic()
        .cmd("BZPOPMIN")
        .arg("zmulti:none")
        .arg("0")
        .cmd("BZMPOP")
        .arg("0")
        .arg("1")
        .arg("zmulti:none")
        .arg("MIN")
        .query(&mut con)
        .unwrap();
    assert_eq!(replies, Value::Array(vec![Value::Nil, Value::Nil]));
    // BZMPOP is allowed in scripts (BZPOPMIN is noscript, as in Redis).
    let reply: Value = query(
        &mut con,
        &[
            "EVAL",
            "return redis.call('BZMPOP', 0, 1, KEYS[1], 'MIN')",
            "1",
            "zmulti:none",
        ],
    );
    assert_eq!(reply, Value::Nil);
}

/// Runs `create` (commands on a connection in database `db`) while a client waits in
/// `wait` (database 0) for `key`; it must be woken with `expected`.
fn woken_by(server: &Server, wait: &[&str], db: usize, create: &[&[&str]], expected: Value) {
    let mut con = server.client();
    let waiter = blocked(server, wait);
    wait_blocked(&mut con, &wait[0].to_lowercase(), 1);
    let _: () = query(&mut con, &["SELECT", &db.to_string()]);
    for command in create {
        let _: Value = query(&mut con, command);
    }
    assert_eq!(reply_of(waiter), expected, "woken by {create:?}");
}

#[test]
fn every_command_that_creates_a_list_or_sorted_set_wakes_its_waiters() {
    let server = Server::start();
    let mut con = server.client();
    for (wait_core, other_core) in [(0, 1), (1, 0), (0, 0), (1, 1)] {
        let tag = format!("{wait_core}{other_core}");
        let key = key_on(wait_core, &format!("gap{tag}:"));
        let src = key_on(other_core, &format!("src{tag}:"));
        let other = key_on(1 - other_core, &format!("oth{tag}:"));
        let k = key.as_str();
        let s = src.as_str();
        // RENAME / RENAMENX of a list or sorted set into the key.
        woken_by(
            &server,
            &["BLPOP", k, "0"],
            0,
            &[&["RPUSH", s, "v1", "v2"], &["RENAME", s, k]],
            bulks(&[k, "v1"]),
        );
        let _: i64 = query(&mut con, &["DEL", k]);
        woken_by(
            &server,
            &["BZPOPMIN", k, "0"],
            0,
            &[&["ZADD", s, "1", "m"], &["RENAMENX", s, k]],
            bulks(&[k, "m", "1"]),
        );
        // COPY.
        woken_by(
            &server,
            &["BZPOPMAX", k, "0"],
            0,
            &[&["ZADD", s, "4", "n"], &["COPY", s, k]],
            bulks(&[k, "n", "4"]),
        );
        woken_by(
            &server,
            &["BRPOP", k, "0"],
            0,
            &[&["DEL", s], &["RPUSH", s, "c"], &["COPY", s, k]],
            bulks(&[k, "c"]),
        );
        // MOVE from database 1, and SWAPDB.
        woken_by(
            &server,
            &["BZPOPMIN", k, "0"],
            1,
            &[&["ZADD", k, "2", "moved"], &["MOVE", k, "0"]],
            bulks(&[k, "moved", "2"]),
        );
        woken_by(
            &server,
            &["BLPOP", k, "0"],
            1,
            &[&["RPUSH", k, "swapped"], &["SWAPDB", "0", "1"]],
            bulks(&[k, "swapped"]),
        );
        let _: () = query(&mut con, &["SWAPDB", "0", "1"]);
        // SORT ... STORE, with and without patterns naming keys on both cores.
        let _: i64 = query(&mut con, &["DEL", s]);
        let _: i64 = query(&mut con, &["RPUSH", s, "3", "1", "2"]);
        woken_by(
            &server,
            &["BLPOP", k, "0"],
            0,
            &[&["SORT", s, "STORE", k]],
            bulks(&[k, "1"]),
        );
        let _: i64 = query(&mut con, &["DEL", k]);
        woken_by(
            &server,
            &["BRPOP", k, "0"],
            0,
            &[&["SORT", s, "BY", "w_*", "GET", "#", "STORE", k]],
            bulks(&[k, "3"]),
        );
        let _: i64 = query(&mut con, &["DEL", k]);
        // LMOVE into the key; ZUNIONSTORE / ZRANGESTORE / ZINCRBY creating it.
        woken_by(
            &server,
            &["BLPOP", k, "0"],
            0,
            &[&["LMOVE", s, k, "LEFT", "RIGHT"]],
            bulks(&[k, "3"]),
        );
        // A BLMOVE that finds its source full moves at once, waking the key's waiter.
        woken_by(
            &server,
            &["BLPOP", k, "0"],
            0,
            &[&["BLMOVE", s, k, "LEFT", "RIGHT", "0"]],
            bulks(&[k, "1"]),
        );
        let _: i64 = query(&mut con, &["DEL", s]);
        woken_by(
            &server,
            &["BZPOPMIN", k, "0"],
            0,
            &[
                &["ZADD", s, "1", "a"],
                &["ZADD", &other, "2", "b"],
                &["ZUNIONSTORE", k, "2", s, &other],
            ],
            bulks(&[k, "a", "1"]),
        );
        let _: i64 = query(&mut con, &["DEL", k]);
        woken_by(
            &server,
            &["BZPOPMAX", k, "0"],
            0,
            &[&["ZRANGESTORE", k, s, "0", "-1"]],
            bulks(&[k, "a", "1"]),
        );
        woken_by(
            &server,
            &["BZMPOP", "0", "1", k, "MIN"],
            0,
            &[&["ZINCRBY", k, "1.5", "inc"]],
            mpop_reply(k, &[("inc", "1.5")]),
        );
        // A transaction and a script creating it.
        woken_by(
            &server,
            &["BZPOPMIN", k, "0"],
            0,
            &[
                &["MULTI"],
                &["ZADD", k, "9", "tx"],
                &["ZADD", s, "1", "z"],
                &["EXEC"],
            ],
            bulks(&[k, "tx", "9"]),
        );
        let _: i64 = query(&mut con, &["DEL", s, k, &other]);
        woken_by(
            &server,
            &["BLPOP", k, "0"],
            0,
            &[&["EVAL", "return redis.call('RPUSH', KEYS[1], 'lua')", "1", k]],
            bulks(&[k, "lua"]),
        );
    }
}

#[test]
fn served_pops_survive_a_restart() {
    let dir = TempDir::new("blocking-zsets-restart");
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let (a, b) = (key_on(0, "zdur:"), key_on(1, "zdur:"));
    // Served on the key's shard after the ZADD.
    let waiter = blocked(&server, &["BZPOPMIN", &a, "0"]);
    wait_blocked(&mut con, "bzpopmin", 1);
    let _: i64 = query(
        &mut con,
        &["ZADD", &a, "1", "one", "2", "two", "3", "three"],
    );
    assert_eq!(reply_of(waiter), bulks(&[&a, "one", "1"]));
    // Woken across cores and popped in a multi-core operation.
    let waiter = blocked(
        &server,
        &["BZMPOP", "0", "2", &b, "zdur:none", "MAX", "COUNT", "2"],
    );
    wait_blocked(&mut con, "bzmpop", 1);
    let _: i64 = query(&mut con, &["ZADD", &b, "1", "x", "2", "y", "3", "z"]);
    assert_eq!(reply_of(waiter), mpop_reply(&b, &[("z", "3"), ("y", "2")]));
    // Popped until empty: the key is gone.
    let waiter = blocked(&server, &["BZPOPMAX", &b, "0"]);
    assert_eq!(reply_of(waiter), bulks(&[&b, "x", "1"]));
    let _: i64 = query(&mut con, &["ZADD", &b, "5", "again"]);
    // SORT ... STORE across cores.
    let _: i64 = query(&mut con, &["RPUSH", "zdur:l", "b", "a", "c"]);
    let _: i64 = query(&mut con, &["SORT", "zdur:l", "ALPHA", "STORE", &a]);
    let digest: String = query(&mut con, &["DEBUG", "DIGEST-TTL"]);
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    assert_eq!(query::<String>(&mut con, &["DEBUG", "DIGEST-TTL"]), digest);
    let list: Vec<String> = query(&mut con, &["LRANGE", &a, "0", "-1"]);
    assert_eq!(list, ["a", "b", "c"]);
    let zset: Vec<String> = query(&mut con, &["ZRANGE", &b, "0", "-1", "WITHSCORES"]);
    assert_eq!(zset, ["again", "5"]);
}

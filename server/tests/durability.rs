//! Real-process tests of what the durable server promises, and of the DEBUG DIGEST
//! family they rely on to compare whole keyspaces.
//!
//! - `digest_*`: DEBUG DIGEST and DIGEST-VALUE reply what redis-server replies for the
//!   same data; DIGEST-TTL tells expiry times apart; logically expired keys do not count.

mod common;

use common::{RedisServer, Server};
use redis::Connection;
use std::time::Duration;

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
/// them, empty, binary and long values, TTLs, keys on both cores, three databases.
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
    for db in ["1", "15"] {
        let _: () = query(con, &["SELECT", db]);
        let _: () = query(con, &["MSET", "a", "1", "b", db, "{b}c", "3"]);
    }
    let _: () = query(con, &["SELECT", "0"]);
}

#[test]
fn digest_and_digest_value_match_redis_server() {
    let Some(redis) = RedisServer::start(&["--enable-debug-command", "yes"]) else {
        eprintln!("skipped: redis-server is not installed, nothing to compare with");
        return;
    };
    let ours = Server::start();
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{}/", redis.port))
        .unwrap()
        .get_connection()
        .unwrap();
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
    ];
    let with_missing = [&keys[..], &["key:7", "missing"]].concat();
    let expected: Vec<String> = query(&mut theirs, &with_missing);
    let got: Vec<String> = query(&mut mine, &with_missing);
    assert_eq!(got, expected, "DEBUG DIGEST-VALUE");
    assert_eq!(got.last().unwrap(), &"0".repeat(40));

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

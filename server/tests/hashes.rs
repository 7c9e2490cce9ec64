//! Hash behaviour a reply-by-reply differential cannot pin down, end to end with keys on
//! both cores (`--threads 2`): HSCAN of a hash table visits every field present
//! throughout while fields come and go; HRANDFIELD's random picks come from the hash and
//! cover it; CONFIG SET of the encoding thresholds reaches both cores; a hash moves
//! between cores (RENAME, COPY) intact.

mod common;
use common::Server;
use holdfast_server::shard::slot::key_core;
use redis::Connection;
use std::collections::{HashMap, HashSet};

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

fn fill(con: &mut Connection, key: &str, fields: std::ops::Range<usize>) {
    for i in fields {
        let _: i64 = query(con, &["HSET", key, &format!("f{i}"), &i.to_string()]);
    }
}

#[test]
fn hscan_of_a_table_sees_every_field_present_throughout() {
    let server = Server::start();
    let mut con = server.client();
    let key = "scan:h";
    fill(&mut con, key, 0..2000);
    assert_eq!(
        query::<String>(&mut con, &["OBJECT", "ENCODING", key]),
        "hashtable"
    );
    let (mut cursor, mut seen, mut steps) = ("0".to_string(), HashSet::new(), 0);
    loop {
        let (next, pairs): (String, Vec<String>) =
            query(&mut con, &["HSCAN", key, &cursor, "COUNT", "50"]);
        assert!(
            pairs.len() <= 2 * 50 * 10,
            "a step returned {}",
            pairs.len()
        );
        for pair in pairs.chunks(2) {
            assert_eq!(
                pair[0][1..],
                pair[1],
                "field {} came with {}",
                pair[0],
                pair[1]
            );
            seen.insert(pair[0].clone());
        }
        // Fields come and go while the scan runs: the first 500 are deleted (some before
        // the scan reaches them), 1000 new ones grow the table.
        if steps < 100 {
            let _: i64 = query(&mut con, &["HDEL", key, &format!("f{}", steps * 5)]);
            fill(&mut con, key, 2000 + steps * 10..2010 + steps * 10);
        }
        steps += 1;
        cursor = next;
        if cursor == "0" {
            break;
        }
        assert!(steps < 10_000, "HSCAN does not finish");
    }
    for i in 500..2000 {
        assert!(seen.contains(&format!("f{i}")), "f{i} was never returned");
    }
}

#[test]
fn hrandfield_picks_come_from_the_hash_in_both_encodings() {
    let server = Server::start();
    let mut con = server.client();
    for (key, size) in [("rand:small", 10), ("rand:big", 1000)] {
        fill(&mut con, key, 0..size);
        let picked: Vec<String> = query(&mut con, &["HRANDFIELD", key, "-5000"]);
        assert_eq!(picked.len(), 5000);
        let distinct: HashSet<&String> = picked.iter().collect();
        assert!(picked
            .iter()
            .all(|f| f[1..].parse::<usize>().unwrap() < size));
        assert!(
            distinct.len() >= size.min(900),
            "{key}: 5000 picks of {size} fields found only {}",
            distinct.len()
        );
        let unique: Vec<String> = query(&mut con, &["HRANDFIELD", key, "7"]);
        assert_eq!(unique.iter().collect::<HashSet<_>>().len(), 7, "{unique:?}");
        let with_values: Vec<String> = query(&mut con, &["HRANDFIELD", key, "-20", "WITHVALUES"]);
        for pair in with_values.chunks(2) {
            assert_eq!(pair[0][1..], pair[1]);
        }
        let one: String = query(&mut con, &["HRANDFIELD", key]);
        assert!(one.starts_with('f'));
    }
}

#[test]
fn encoding_thresholds_follow_config_set_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = query(
        &mut con,
        &["CONFIG", "SET", "hash-max-listpack-entries", "4"],
    );
    for core in 0..2 {
        let key = key_on(core, "enc:");
        fill(&mut con, &key, 0..4);
        let encoding: String = query(&mut con, &["OBJECT", "ENCODING", &key]);
        assert_eq!(encoding, "listpack", "core {core}");
        fill(&mut con, &key, 4..5);
        let encoding: String = query(&mut con, &["OBJECT", "ENCODING", &key]);
        assert_eq!(encoding, "hashtable", "core {core}");
    }
}

#[test]
fn a_hash_moves_between_cores_intact() {
    let server = Server::start();
    let mut con = server.client();
    let (from, to, copy) = (key_on(0, "mv:a"), key_on(1, "mv:b"), key_on(0, "mv:c"));
    fill(&mut con, &from, 0..600);
    let _: i64 = query(&mut con, &["EXPIRE", &from, "1000"]);
    let before: HashMap<String, String> = query(&mut con, &["HGETALL", &from]);
    let _: () = query(&mut con, &["RENAME", &from, &to]);
    let _: i64 = query(&mut con, &["COPY", &to, &copy]);
    for key in [&to, &copy] {
        let after: HashMap<String, String> = query(&mut con, &["HGETALL", key]);
        assert_eq!(after, before, "{key}");
        let ttl: i64 = query(&mut con, &["TTL", key]);
        assert!(ttl > 990, "{key}: TTL {ttl}");
        let encoding: String = query(&mut con, &["OBJECT", "ENCODING", key]);
        assert_eq!(encoding, "hashtable", "{key}");
    }
}

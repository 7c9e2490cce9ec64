//! MEMORY through the real binary: USAGE grows with the value and samples aggregates,
//! STATS reports Redis's fields with keys counted on every core, DOCTOR / MALLOC-STATS /
//! PURGE answer, and INFO memory shows the maxmemory settings.

mod common;

use common::Server;
use redis::Connection;
use std::collections::HashMap;

fn usage(con: &mut Connection, key: &str, samples: Option<u64>) -> Option<i64> {
    let mut cmd = redis::cmd("MEMORY");
    cmd.arg("USAGE").arg(key);
    if let Some(samples) = samples {
        cmd.arg("SAMPLES").arg(samples);
    }
    cmd.query(con).unwrap()
}

#[test]
fn usage_grows_with_the_value_on_either_core() {
    let server = Server::start();
    let mut con = server.client();
    // Keys spread over both cores.
    for i in 0..10 {
        let small = format!("small{i}");
        let big = format!("big{i}");
        let _: () = redis::cmd("SET")
            .arg(&small)
            .arg("v")
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("SET")
            .arg(&big)
            .arg(vec![b'x'; 100_000])
            .query(&mut con)
            .unwrap();
        let small_bytes = usage(&mut con, &small, None).unwrap();
        let big_bytes = usage(&mut con, &big, None).unwrap();
        assert!(small_bytes > 0 && small_bytes < 1000, "{small_bytes}");
        assert!((100_000..110_000).contains(&big_bytes), "{big_bytes}");
    }
    assert_eq!(usage(&mut con, "nokey", None), None);
}

#[test]
fn usage_of_aggregates_scales_with_their_length_and_samples() {
    let server = Server::start();
    let mut con = server.client();
    for (kind, add) in [
        ("list", "RPUSH"),
        ("set", "SADD"),
        ("hash", "HSET"),
        ("zset", "ZADD"),
    ] {
        let mut sizes = Vec::new();
        for len in [10, 1000] {
            let key = format!("{kind}{len}");
            let mut cmd = redis::cmd(add);
            cmd.arg(&key);
            for i in 0..len {
                match kind {
                    "hash" => cmd.arg(format!("field{i}")).arg("value"),
                    "zset" => cmd.arg(i).arg(format!("member{i}")),
                    _ => cmd.arg(format!("element{i}")),
                };
            }
            let _: i64 = cmd.query(&mut con).unwrap();
            sizes.push(usage(&mut con, &key, None).unwrap());
        }
        assert!(sizes[1] > sizes[0] * 20, "{kind}: {sizes:?}");
        // Every element priced, or five of them: the same order of size.
        let all = usage(&mut con, &format!("{kind}1000"), Some(0)).unwrap();
        assert!(
            all > sizes[1] / 2 && all < sizes[1] * 2,
            "{kind}: {all} vs {}",
            sizes[1]
        );
    }
}

fn stats(con: &mut Connection) -> HashMap<String, redis::Value> {
    let reply: Vec<redis::Value> = redis::cmd("MEMORY").arg("STATS").query(con).unwrap();
    reply
        .chunks(2)
        .map(|pair| match &pair[0] {
            redis::Value::BulkString(name) => {
                (String::from_utf8_lossy(name).into_owned(), pair[1].clone())
            }
            other => panic!("field name {other:?}"),
        })
        .collect()
}

fn int(value: &redis::Value) -> i64 {
    match value {
        redis::Value::Int(n) => *n,
        other => panic!("not an integer: {other:?}"),
    }
}

#[test]
fn stats_has_redis_fields_and_counts_keys_of_every_core() {
    let server = Server::start();
    let mut con = server.client();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut con)
            .unwrap();
    }
    let _: () = redis::cmd("SELECT").arg(3).query(&mut con).unwrap();
    let _: () = redis::cmd("SET")
        .arg("in3")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let fields = stats(&mut con);
    for name in [
        "peak.allocated",
        "total.allocated",
        "startup.allocated",
        "replication.backlog",
        "clients.slaves",
        "clients.normal",
        "cluster.links",
        "aof.buffer",
        "lua.caches",
        "functions.caches",
        "overhead.total",
        "keys.count",
        "keys.bytes-per-key",
        "dataset.bytes",
        "dataset.percentage",
        "peak.percentage",
        "allocator.allocated",
        "allocator.active",
        "allocator.resident",
        "allocator-fragmentation.ratio",
        "allocator-fragmentation.bytes",
        "allocator-rss.ratio",
        "allocator-rss.bytes",
        "rss-overhead.ratio",
        "rss-overhead.bytes",
        "fragmentation",
        "fragmentation.bytes",
        "db.0",
        "db.3",
    ] {
        assert!(fields.contains_key(name), "MEMORY STATS has no {name}");
    }
    assert_eq!(fields.len(), 29);
    assert_eq!(int(&fields["keys.count"]), 101);
    assert!(int(&fields["peak.allocated"]) >= int(&fields["total.allocated"]));
    assert!(!fields.contains_key("db.1"));
}

#[test]
fn doctor_malloc_stats_and_purge_answer() {
    let server = Server::start();
    let mut con = server.client();
    let doctor: String = redis::cmd("MEMORY").arg("DOCTOR").query(&mut con).unwrap();
    assert!(
        doctor.starts_with("Hi Sam, this instance is empty"),
        "{doctor}"
    );
    let malloc: String = redis::cmd("MEMORY")
        .arg("MALLOC-STATS")
        .query(&mut con)
        .unwrap();
    assert!(
        malloc.contains("jemalloc statistics"),
        "{}",
        &malloc[..malloc.len().min(200)]
    );
    let _: () = redis::cmd("MEMORY").arg("PURGE").query(&mut con).unwrap();
}

#[test]
fn info_memory_shows_the_limit_and_policy() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("1gb")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory-policy")
        .arg("volatile-ttl")
        .query(&mut con)
        .unwrap();
    let info: String = redis::cmd("INFO").arg("memory").query(&mut con).unwrap();
    assert!(info.contains("maxmemory:1073741824\r\n"), "{info}");
    assert!(info.contains("maxmemory_human:1.00G\r\n"), "{info}");
    assert!(info.contains("maxmemory_policy:volatile-ttl\r\n"), "{info}");
}

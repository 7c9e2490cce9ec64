//! HyperLogLog end to end, against the real redis-server where bytes matter: values built
//! by PFADD are byte-equal on both servers, a raw value copied either way (GET there, SET
//! here) counts the same, sparse values turn dense at the same point, PFMERGE and
//! PFCOUNT of several keys work with keys on both cores, and the cached cardinality
//! PFCOUNT writes into a value survives a restart.

mod common;
use common::{RedisServer, Server, TempDir};
use holdfast_server::shard::slot::key_core;
use redis::Connection;

fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&[u8]]) -> T {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con).unwrap_or_else(|e| {
        panic!(
            "{:?} failed: {e}",
            args.iter()
                .map(|a| String::from_utf8_lossy(a))
                .collect::<Vec<_>>()
        )
    })
}

fn key_on(core: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|key| key_core(key.as_bytes(), 2) == core)
        .unwrap()
}

fn redis_server() -> (RedisServer, Connection) {
    let redis = RedisServer::start(&[]).expect("redis-server is installed");
    let con = redis.client();
    (redis, con)
}

/// PFADD of `n` elements (named from `tag`) in batches of 500.
fn pfadd(con: &mut Connection, key: &str, tag: &str, n: usize) {
    let elements: Vec<String> = (0..n).map(|i| format!("{tag}:{i}")).collect();
    let mut pipe = redis::pipe();
    for batch in elements.chunks(500) {
        pipe.cmd("PFADD").arg(key).arg(batch).ignore();
    }
    if n == 0 {
        pipe.cmd("PFADD").arg(key).ignore();
    }
    let _: () = pipe.query(con).unwrap();
}

fn get(con: &mut Connection, key: &str) -> Vec<u8> {
    query(con, &[b"GET", key.as_bytes()])
}

fn encoding(con: &mut Connection, key: &str) -> String {
    query(con, &[b"PFDEBUG", b"ENCODING", key.as_bytes()])
}

#[test]
fn values_are_byte_equal_with_redis_and_count_the_same_both_ways() {
    let (_redis, mut theirs) = redis_server();
    let server = Server::start();
    let mut mine = server.client();
    for (round, n) in [0usize, 1, 7, 90, 400, 1500, 2500, 8000, 60000]
        .into_iter()
        .enumerate()
    {
        let key = format!("hll:{round}");
        pfadd(&mut theirs, &key, &key, n);
        pfadd(&mut mine, &key, &key, n);
        let built = get(&mut theirs, &key);
        assert_eq!(get(&mut mine, &key), built, "PFADD of {n} elements");
        assert_eq!(encoding(&mut mine, &key), encoding(&mut theirs, &key));
        // Copy the raw bytes both ways, before and after a count fills the cache.
        for counted in [false, true] {
            let (from_redis, from_us) = (get(&mut theirs, &key), get(&mut mine, &key));
            let copy = format!("copy:{round}");
            let _: () = query(&mut mine, &[b"SET", copy.as_bytes(), &from_redis]);
            let _: () = query(&mut theirs, &[b"SET", copy.as_bytes(), &from_us]);
            let here: i64 = query(&mut mine, &[b"PFCOUNT", copy.as_bytes()]);
            let there: i64 = query(&mut theirs, &[b"PFCOUNT", copy.as_bytes()]);
            assert_eq!(here, there, "{n} elements, counted before: {counted}");
            assert_eq!(get(&mut mine, &copy), get(&mut theirs, &copy));
            let _: i64 = query(&mut mine, &[b"PFCOUNT", key.as_bytes()]);
            let _: i64 = query(&mut theirs, &[b"PFCOUNT", key.as_bytes()]);
        }
        assert_eq!(get(&mut mine, &key), get(&mut theirs, &key), "cached count");
    }
}

#[test]
fn sparse_values_turn_dense_where_redis_does() {
    let (_redis, mut theirs) = redis_server();
    let server = Server::start();
    let mut mine = server.client();
    for limit in ["3000", "200", "0"] {
        for con in [&mut theirs, &mut mine] {
            let _: () = query(
                con,
                &[b"CONFIG", b"SET", b"hll-sparse-max-bytes", limit.as_bytes()],
            );
        }
        let key = format!("grow:{limit}");
        let mut became_dense = None;
        for step in 0..60 {
            for con in [&mut theirs, &mut mine] {
                pfadd(con, &key, &format!("{key}:{step}"), 50);
            }
            assert_eq!(get(&mut mine, &key), get(&mut theirs, &key), "step {step}");
            let here = encoding(&mut mine, &key);
            assert_eq!(here, encoding(&mut theirs, &key));
            if here == "dense" && became_dense.is_none() {
                became_dense = Some(step);
            }
        }
        // The default limit keeps ~1000 elements sparse; a smaller one promotes sooner.
        let step = became_dense.expect("the value became dense");
        match limit {
            "3000" => assert!(step >= 10, "dense at step {step}"),
            _ => assert!(step <= 3, "dense at step {step}"),
        }
    }
}

#[test]
fn merge_and_count_keys_on_both_cores() {
    let (_redis, mut theirs) = redis_server();
    let server = Server::start();
    let mut mine = server.client();
    let (a, b) = (key_on(0, "a:"), key_on(1, "b:"));
    let (c, dense) = (key_on(0, "c:"), key_on(1, "dense:"));
    for con in [&mut theirs, &mut mine] {
        pfadd(con, &a, "a", 300);
        pfadd(con, &b, "b", 500);
        pfadd(con, &c, "a", 100);
        pfadd(con, &dense, "d", 5000);
    }
    let keys = [&a, &b, &c, &dense];
    let mut union = vec![b"PFCOUNT".to_vec()];
    union.extend(keys.iter().map(|k| k.as_bytes().to_vec()));
    let union: Vec<&[u8]> = union.iter().map(Vec::as_slice).collect();
    let here: i64 = query(&mut mine, &union);
    let there: i64 = query(&mut theirs, &union);
    assert_eq!(here, there);
    // A union read leaves every value (and its cache) alone.
    for key in keys {
        assert_eq!(get(&mut mine, key), get(&mut theirs, key));
    }
    // Destinations on each core, sparse and dense sources, an existing destination.
    for dst in [key_on(0, "dst:"), key_on(1, "dst:")] {
        for sources in [vec![&a, &b], vec![&b, &c, &dense], vec![&a]] {
            let mut args = vec![b"PFMERGE".to_vec(), dst.as_bytes().to_vec()];
            args.extend(sources.iter().map(|k| k.as_bytes().to_vec()));
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let _: () = query(&mut mine, &args);
            let _: () = query(&mut theirs, &args);
            assert_eq!(get(&mut mine, &dst), get(&mut theirs, &dst), "{args:?}");
        }
        let here: i64 = query(&mut mine, &[b"PFCOUNT", dst.as_bytes()]);
        let there: i64 = query(&mut theirs, &[b"PFCOUNT", dst.as_bytes()]);
        assert_eq!(here, there);
    }
    // A bad source on the other core fails the whole merge; nothing is written.
    let _: () = query(&mut mine, &[b"SET", b.as_bytes(), b"not an hll"]);
    let fresh = key_on(0, "fresh:");
    let err = redis::cmd("PFMERGE")
        .arg(&fresh)
        .arg(&a)
        .arg(&b)
        .query::<()>(&mut mine)
        .unwrap_err();
    assert_eq!(err.code(), Some("WRONGTYPE"));
    let exists: i64 = query(&mut mine, &[b"EXISTS", fresh.as_bytes()]);
    assert_eq!(exists, 0);
}

#[test]
fn counts_and_merges_survive_a_restart_byte_for_byte() {
    let dir = TempDir::new("hll-replay");
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let (a, b, dst) = (key_on(0, "a:"), key_on(1, "b:"), key_on(1, "dst:"));
    pfadd(&mut con, &a, "a", 200);
    pfadd(&mut con, &b, "b", 4000);
    let _: i64 = query(&mut con, &[b"EXPIRE", a.as_bytes(), b"100000"]);
    // The count writes the cache into the value: the log must carry that change.
    let _: i64 = query(&mut con, &[b"PFCOUNT", a.as_bytes()]);
    let _: () = query(
        &mut con,
        &[b"PFMERGE", dst.as_bytes(), a.as_bytes(), b.as_bytes()],
    );
    let _: i64 = query(&mut con, &[b"PFCOUNT", dst.as_bytes()]);
    let before: Vec<Vec<u8>> = [&a, &b, &dst].map(|k| get(&mut con, k)).to_vec();
    assert!(holdfast_server::shard::hll::cached(&before[0]).is_some());
    drop(con);
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let after: Vec<Vec<u8>> = [&a, &b, &dst].map(|k| get(&mut con, k)).to_vec();
    assert_eq!(after, before);
    let ttl: i64 = query(&mut con, &[b"TTL", a.as_bytes()]);
    assert!(ttl > 99000, "PFCOUNT's rewrite kept the TTL: {ttl}");
}

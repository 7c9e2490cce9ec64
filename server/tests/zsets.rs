//! Sorted set behaviour a reply-by-reply differential cannot pin down, end to end with
//! keys on both cores (`--threads 2`): the multi-key commands (ZUNIONSTORE, ZINTERSTORE,
//! ZDIFFSTORE, ZRANGESTORE, ZMPOP, ZINTERCARD) with their keys split over the cores,
//! ZMPOP under concurrent clients; ZSCAN of a skiplist while members come and go;
//! ZRANDMEMBER's picks; CONFIG SET of the thresholds on both cores; a set moved between
//! cores; rank and range answers on a large set against a model.

mod common;
use common::Server;
use holdfast_server::shard::slot::key_core;
use redis::Connection;
use std::collections::{BTreeMap, HashSet};

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

/// Adds members `m{i}` with score `i` for every i in `range`, in one pipeline.
fn fill(con: &mut Connection, key: &str, range: std::ops::Range<usize>) {
    let mut pipe = redis::pipe();
    for i in range {
        pipe.cmd("ZADD")
            .arg(key)
            .arg(i)
            .arg(format!("m{i}"))
            .ignore();
    }
    let _: () = pipe.query(con).unwrap();
}

fn members(con: &mut Connection, key: &str) -> Vec<(String, f64)> {
    query(con, &["ZRANGE", key, "0", "-1", "WITHSCORES"])
}

#[test]
fn set_operations_combine_sets_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let (a, b, dst) = (key_on(0, "a:"), key_on(1, "b:"), key_on(1, "dst:"));
    let _: i64 = query(&mut con, &["ZADD", &a, "1", "x", "2", "y", "3", "z"]);
    let _: i64 = query(&mut con, &["ZADD", &b, "10", "y", "20", "z", "30", "w"]);
    let n: i64 = query(
        &mut con,
        &["ZUNIONSTORE", &dst, "2", &a, &b, "WEIGHTS", "1", "2"],
    );
    assert_eq!(n, 4);
    let want = [("x", 1.0), ("y", 22.0), ("z", 43.0), ("w", 60.0)].map(|(m, s)| (m.to_string(), s));
    assert_eq!(members(&mut con, &dst), want);
    let n: i64 = query(
        &mut con,
        &["ZINTERSTORE", &dst, "2", &a, &b, "AGGREGATE", "MIN"],
    );
    assert_eq!(n, 2);
    assert_eq!(
        members(&mut con, &dst),
        [("y".to_string(), 2.0), ("z".to_string(), 3.0)]
    );
    let n: i64 = query(&mut con, &["ZDIFFSTORE", &dst, "2", &a, &b]);
    assert_eq!(n, 1);
    assert_eq!(members(&mut con, &dst), [("x".to_string(), 1.0)]);
    let n: i64 = query(&mut con, &["ZINTERCARD", "2", &a, &b]);
    assert_eq!(n, 2);
    // The destination may be one of the sources, on either core.
    let n: i64 = query(&mut con, &["ZUNIONSTORE", &a, "2", &a, &b]);
    assert_eq!(n, 4);
    // An empty result deletes the destination; a WRONGTYPE source leaves it alone.
    let n: i64 = query(&mut con, &["ZINTERSTORE", &dst, "2", &a, "missing"]);
    assert_eq!(n, 0);
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &dst]), 0);
    let text = key_on(0, "str:");
    let _: () = query(&mut con, &["SET", &text, "v"]);
    let _: i64 = query(&mut con, &["ZADD", &dst, "1", "kept"]);
    let err = redis::cmd("ZUNIONSTORE")
        .arg(&dst)
        .arg(2)
        .arg(&b)
        .arg(&text)
        .query::<i64>(&mut con);
    assert!(err.unwrap_err().to_string().contains("WRONGTYPE"));
    assert_eq!(members(&mut con, &dst), [("kept".to_string(), 1.0)]);
}

#[test]
fn zrangestore_and_zmpop_cross_cores() {
    let server = Server::start();
    let mut con = server.client();
    let (src, dst) = (key_on(0, "src:"), key_on(1, "dst:"));
    fill(&mut con, &src, 0..300);
    let n: i64 = query(
        &mut con,
        &[
            "ZRANGESTORE",
            &dst,
            &src,
            "20",
            "(10",
            "BYSCORE",
            "REV",
            "LIMIT",
            "1",
            "3",
        ],
    );
    assert_eq!(n, 3);
    let want: Vec<(String, f64)> = [19, 18, 17]
        .iter()
        .rev()
        .map(|&i| (format!("m{i}"), i as f64))
        .collect();
    assert_eq!(members(&mut con, &dst), want);
    assert_eq!(
        query::<String>(&mut con, &["OBJECT", "ENCODING", &dst]),
        "listpack"
    );
    let n: i64 = query(&mut con, &["ZRANGESTORE", &dst, &src, "0", "-1"]);
    assert_eq!(n, 300);
    assert_eq!(
        query::<String>(&mut con, &["OBJECT", "ENCODING", &dst]),
        "skiplist"
    );

    // ZMPOP takes from the first key that exists, in argument order, whatever its core.
    let (empty, full) = (key_on(1, "e:"), key_on(0, "f:"));
    let _: i64 = query(&mut con, &["ZADD", &full, "1", "a", "2", "b", "3", "c"]);
    let (key, popped): (String, Vec<(String, f64)>) = query(
        &mut con,
        &["ZMPOP", "2", &empty, &full, "MAX", "COUNT", "2"],
    );
    assert_eq!(key, full);
    assert_eq!(popped, [("c".to_string(), 3.0), ("b".to_string(), 2.0)]);
    let _: i64 = query(&mut con, &["ZADD", &empty, "5", "e"]);
    let (key, popped): (String, Vec<(String, f64)>) = query(
        &mut con,
        &["ZMPOP", "2", &full, &empty, "MIN", "COUNT", "9"],
    );
    assert_eq!(
        (key.as_str(), popped),
        (full.as_str(), vec![("a".to_string(), 1.0)])
    );
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &full]), 0);
}

/// Two clients pop from two sets on different cores with ZMPOP, naming the keys in
/// opposite orders: every element is popped exactly once and none is lost.
#[test]
fn concurrent_pops_take_every_element_once() {
    let server = Server::start();
    let mut con = server.client();
    let (a, b) = (key_on(0, "pa:"), key_on(1, "pb:"));
    fill(&mut con, &a, 0..2000);
    fill(&mut con, &b, 2000..4000);
    let popper = |url: String, a: String, b: String| {
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            let mut got = Vec::new();
            loop {
                let popped: Option<(String, Vec<(String, f64)>)> =
                    query(&mut con, &["ZMPOP", "2", &a, &b, "MIN", "COUNT", "7"]);
                match popped {
                    Some((_, elements)) => got.extend(elements.into_iter().map(|(m, _)| m)),
                    None => return got,
                }
            }
        })
    };
    let one = popper(server.url(), a.clone(), b.clone());
    let two = popper(server.url(), b.clone(), a.clone());
    let mut seen: Vec<String> = one.join().unwrap();
    seen.extend(two.join().unwrap());
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!(distinct.len(), seen.len(), "an element was popped twice");
    assert_eq!(seen.len(), 4000);
}

#[test]
fn zscan_of_a_skiplist_sees_every_member_present_throughout() {
    let server = Server::start();
    let mut con = server.client();
    let key = "scan:z";
    fill(&mut con, key, 0..2000);
    let _: i64 = query(&mut con, &["ZADD", key, "1.1", "frac"]);
    assert_eq!(
        query::<String>(&mut con, &["OBJECT", "ENCODING", key]),
        "skiplist"
    );
    let (mut cursor, mut seen, mut steps) = ("0".to_string(), HashSet::new(), 0);
    loop {
        let (next, pairs): (String, Vec<String>) =
            query(&mut con, &["ZSCAN", key, &cursor, "COUNT", "50"]);
        for pair in pairs.chunks(2) {
            if pair[0] == "frac" {
                assert_eq!(pair[1], "1.1000000000000001");
            } else {
                assert_eq!(
                    pair[0][1..],
                    pair[1],
                    "member {} came with {}",
                    pair[0],
                    pair[1]
                );
            }
            seen.insert(pair[0].clone());
        }
        if steps < 100 {
            let _: i64 = query(&mut con, &["ZREM", key, &format!("m{}", steps * 5)]);
            fill(&mut con, key, 2000 + steps * 10..2010 + steps * 10);
        }
        steps += 1;
        cursor = next;
        if cursor == "0" {
            break;
        }
        assert!(steps < 10_000, "ZSCAN does not finish");
    }
    for i in 500..2000 {
        assert!(seen.contains(&format!("m{i}")), "m{i} was never returned");
    }
}

#[test]
fn zrandmember_picks_come_from_the_set_in_both_encodings() {
    let server = Server::start();
    let mut con = server.client();
    for (key, size) in [("rand:small", 10), ("rand:big", 1000)] {
        fill(&mut con, key, 0..size);
        let picked: Vec<String> = query(&mut con, &["ZRANDMEMBER", key, "-5000"]);
        assert_eq!(picked.len(), 5000);
        assert!(picked
            .iter()
            .all(|m| m[1..].parse::<usize>().unwrap() < size));
        let distinct: HashSet<&String> = picked.iter().collect();
        assert!(
            distinct.len() >= size.min(900),
            "{key}: only {} distinct",
            distinct.len()
        );
        let unique: Vec<String> = query(&mut con, &["ZRANDMEMBER", key, "7"]);
        assert_eq!(unique.iter().collect::<HashSet<_>>().len(), 7, "{unique:?}");
        let with_scores: Vec<(String, f64)> =
            query(&mut con, &["ZRANDMEMBER", key, "-20", "WITHSCORES"]);
        for (member, score) in with_scores {
            assert_eq!(member[1..].parse::<f64>().unwrap(), score);
        }
    }
}

#[test]
fn encoding_thresholds_follow_config_set_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = query(
        &mut con,
        &["CONFIG", "SET", "zset-max-listpack-entries", "4"],
    );
    let _: () = query(
        &mut con,
        &["CONFIG", "SET", "zset-max-listpack-value", "10"],
    );
    for core in 0..2 {
        let key = key_on(core, "enc:");
        fill(&mut con, &key, 0..4);
        assert_eq!(
            query::<String>(&mut con, &["OBJECT", "ENCODING", &key]),
            "listpack",
            "core {core}"
        );
        fill(&mut con, &key, 4..5);
        assert_eq!(
            query::<String>(&mut con, &["OBJECT", "ENCODING", &key]),
            "skiplist",
            "core {core}"
        );
        let long = key_on(core, "long:");
        let _: i64 = query(&mut con, &["ZADD", &long, "1", "0123456789"]);
        assert_eq!(
            query::<String>(&mut con, &["OBJECT", "ENCODING", &long]),
            "listpack"
        );
        let _: i64 = query(&mut con, &["ZADD", &long, "1", "0123456789a"]);
        assert_eq!(
            query::<String>(&mut con, &["OBJECT", "ENCODING", &long]),
            "skiplist"
        );
    }
}

#[test]
fn a_zset_moves_between_cores_intact() {
    let server = Server::start();
    let mut con = server.client();
    let (from, to, copy) = (key_on(0, "mv:a"), key_on(1, "mv:b"), key_on(0, "mv:c"));
    fill(&mut con, &from, 0..600);
    let _: i64 = query(&mut con, &["EXPIRE", &from, "1000"]);
    let before = members(&mut con, &from);
    let _: () = query(&mut con, &["RENAME", &from, &to]);
    let _: i64 = query(&mut con, &["COPY", &to, &copy]);
    for key in [&to, &copy] {
        assert_eq!(members(&mut con, key), before, "{key}");
        let ttl: i64 = query(&mut con, &["TTL", key]);
        assert!(ttl > 990, "{key}: TTL {ttl}");
        assert_eq!(
            query::<String>(&mut con, &["OBJECT", "ENCODING", key]),
            "skiplist"
        );
    }
}

/// A large skiplist answers ranks, scores and ranges as a sorted model does, after
/// rescoring and removals.
#[test]
fn a_large_set_answers_like_a_sorted_model() {
    let server = Server::start();
    let mut con = server.client();
    let key = key_on(1, "big:");
    let mut model: BTreeMap<String, i64> = BTreeMap::new();
    let mut pipe = redis::pipe();
    for i in 0..20_000i64 {
        let (member, score) = (format!("m{i:05}"), (i * 7919) % 10_007);
        pipe.cmd("ZADD").arg(&key).arg(score).arg(&member).ignore();
        model.insert(member, score);
    }
    for i in (0..20_000i64).step_by(3) {
        let member = format!("m{i:05}");
        pipe.cmd("ZREM").arg(&key).arg(&member).ignore();
        model.remove(&member);
    }
    for i in (1..20_000i64).step_by(7) {
        let member = format!("m{i:05}");
        pipe.cmd("ZINCRBY").arg(&key).arg(-5).arg(&member).ignore();
        if let Some(score) = model.get_mut(&member) {
            *score -= 5;
        } else {
            model.insert(member, -5);
        }
    }
    let _: () = pipe.query(&mut con).unwrap();
    let mut order: Vec<(i64, String)> = model.iter().map(|(m, &s)| (s, m.clone())).collect();
    order.sort();
    assert_eq!(query::<usize>(&mut con, &["ZCARD", &key]), order.len());
    for rank in (0..order.len()).step_by(997) {
        let (score, member) = &order[rank];
        assert_eq!(query::<usize>(&mut con, &["ZRANK", &key, member]), rank);
        assert_eq!(
            query::<usize>(&mut con, &["ZREVRANK", &key, member]),
            order.len() - 1 - rank
        );
        let at: Vec<String> = query(
            &mut con,
            &["ZRANGE", &key, &rank.to_string(), &rank.to_string()],
        );
        assert_eq!(at, std::slice::from_ref(member));
        let count: usize = query(&mut con, &["ZCOUNT", &key, "-inf", &format!("({score}")]);
        assert_eq!(count, order.iter().filter(|(s, _)| s < score).count());
    }
    let page: Vec<String> = query(
        &mut con,
        &[
            "ZRANGE", &key, "5000", "(100", "BYSCORE", "REV", "LIMIT", "3", "4",
        ],
    );
    let want: Vec<String> = order
        .iter()
        .rev()
        .filter(|(s, _)| *s > 100 && *s <= 5000)
        .skip(3)
        .take(4)
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(page, want);
    let removed: usize = query(&mut con, &["ZREMRANGEBYRANK", &key, "100", "-100"]);
    // -100 is the 100th from the end, inclusive: 99 stay above the range.
    assert_eq!(removed, order.len() - 199);
    let left: Vec<String> = query(&mut con, &["ZRANGE", &key, "0", "-1"]);
    let want: Vec<String> = order[..100]
        .iter()
        .chain(&order[order.len() - 99..])
        .map(|(_, m)| m.clone())
        .collect();
    assert_eq!(left, want);
}

/// One client moves a whole set back and forth between two keys on different cores with
/// ZUNIONSTORE and ZDIFFSTORE (each step atomic: the union of the two keys is always the
/// full set); another reads ZUNION and ZINTERCARD of the pair meanwhile. A read that
/// took one core's state before a move and the other's after it would miss elements.
#[test]
fn cross_core_reads_never_see_half_a_move() {
    let server = Server::start();
    let mut con = server.client();
    let (x, y) = (key_on(0, "mx:"), key_on(1, "my:"));
    fill(&mut con, &y, 0..100);
    let mover = {
        let (url, x, y) = (server.url(), x.clone(), y.clone());
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            // Pipelined, so the moves follow each other closely.
            let mut pipe = redis::pipe();
            for _ in 0..50 {
                pipe.cmd("ZUNIONSTORE")
                    .arg(&x)
                    .arg(2)
                    .arg(&x)
                    .arg(&y)
                    .ignore();
                pipe.cmd("ZDIFFSTORE")
                    .arg(&y)
                    .arg(2)
                    .arg(&y)
                    .arg(&x)
                    .ignore();
                pipe.cmd("ZUNIONSTORE")
                    .arg(&y)
                    .arg(2)
                    .arg(&y)
                    .arg(&x)
                    .ignore();
                pipe.cmd("ZDIFFSTORE")
                    .arg(&x)
                    .arg(2)
                    .arg(&x)
                    .arg(&y)
                    .ignore();
            }
            for _ in 0..20 {
                let _: () = pipe.query(&mut con).unwrap();
            }
        })
    };
    let mut reads = 0;
    while !mover.is_finished() {
        let union: Vec<String> = query(&mut con, &["ZUNION", "2", &x, &y]);
        assert_eq!(union.len(), 100, "read {reads} saw half a move");
        let both: usize = query(&mut con, &["ZINTERCARD", "2", &x, &y]);
        assert!(both == 0 || both == 100, "read {reads}: {both} in both");
        reads += 1;
    }
    mover.join().unwrap();
    assert!(reads > 10, "only {reads} reads overlapped the moves");
}

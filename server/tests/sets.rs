//! Set behaviour a reply-by-reply differential cannot pin down, end to end with keys on
//! both cores (`--threads 2`): SMOVE and the STORE forms between cores, atomic as seen by
//! other clients; SSCAN of a table visits every member present throughout while members
//! come and go; SPOP and SRANDMEMBER picks come from the set and cover it; CONFIG SET of
//! set-max-intset-entries reaches both cores.

mod common;
use common::Server;
use holdfast_server::shard::slot::key_core;
use redis::Connection;
use std::collections::HashSet;

fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&str]) -> T {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn fails(con: &mut Connection, args: &[&str]) -> String {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    match cmd.query::<redis::Value>(con) {
        Ok(value) => panic!("{args:?} replied {value:?}, expected an error"),
        Err(e) => e.to_string(),
    }
}

fn key_on(core: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|key| key_core(key.as_bytes(), 2) == core)
        .unwrap()
}

fn add(con: &mut Connection, key: &str, members: impl IntoIterator<Item = String>) {
    let members: Vec<String> = members.into_iter().collect();
    let args: Vec<&str> = ["SADD", key]
        .into_iter()
        .chain(members.iter().map(String::as_str))
        .collect();
    let _: i64 = query(con, &args);
}

fn members(con: &mut Connection, key: &str) -> HashSet<String> {
    query(con, &["SMEMBERS", key])
}

fn strings(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn smove_between_cores_in_both_directions() {
    let server = Server::start();
    let mut con = server.client();
    let (a, b) = (key_on(0, "mv:a"), key_on(1, "mv:b"));
    add(&mut con, &a, ["1", "2", "x"].map(String::from));
    let _: i64 = query(&mut con, &["EXPIRE", &a, "1000"]);
    assert_eq!(query::<i64>(&mut con, &["SMOVE", &a, &b, "1"]), 1);
    assert_eq!(query::<i64>(&mut con, &["SMOVE", &a, &b, "1"]), 0);
    assert_eq!(query::<i64>(&mut con, &["SMOVE", &b, &a, "1"]), 1);
    assert_eq!(query::<i64>(&mut con, &["SMOVE", &a, &b, "x"]), 1);
    assert_eq!(members(&mut con, &a), strings(&["1", "2"]));
    assert_eq!(members(&mut con, &b), strings(&["x"]));
    // The source keeps its TTL; a created destination is the set SADD would make.
    assert!(query::<i64>(&mut con, &["TTL", &a]) > 990);
    let encoding: String = query(&mut con, &["OBJECT", "ENCODING", &b]);
    assert_eq!(encoding, "hashtable");
    // A destination of another type on the other core leaves the source alone.
    let s = key_on(1, "mv:str");
    let _: () = query(&mut con, &["SET", &s, "v"]);
    let error = fails(&mut con, &["SMOVE", &a, &s, "1"]);
    assert!(error.contains("wrong kind of value"), "{error}");
    assert_eq!(members(&mut con, &a), strings(&["1", "2"]));
    // Moving the last member deletes the source.
    assert_eq!(query::<i64>(&mut con, &["SMOVE", &b, &a, "x"]), 1);
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &b]), 0);
    assert_eq!(members(&mut con, &a), strings(&["1", "2", "x"]));
}

#[test]
fn store_forms_read_and_write_keys_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let (a, b) = (key_on(0, "st:a"), key_on(1, "st:b"));
    add(&mut con, &a, (0..10).map(|i| i.to_string()));
    add(&mut con, &b, (5..15).map(|i| i.to_string()));
    for dst_core in 0..2 {
        let dst = key_on(dst_core, "st:dst");
        let _: () = query(&mut con, &["SET", &dst, "replaced"]);
        assert_eq!(query::<i64>(&mut con, &["SINTERSTORE", &dst, &a, &b]), 5);
        let inter: Vec<String> = query(&mut con, &["SMEMBERS", &dst]);
        assert_eq!(inter, ["5", "6", "7", "8", "9"], "an intset, in order");
        assert_eq!(query::<i64>(&mut con, &["SUNIONSTORE", &dst, &a, &b]), 15);
        assert_eq!(query::<i64>(&mut con, &["SDIFFSTORE", &dst, &b, &a]), 5);
        let diff: Vec<String> = query(&mut con, &["SMEMBERS", &dst]);
        assert_eq!(diff, ["10", "11", "12", "13", "14"]);
        assert_eq!(query::<i64>(&mut con, &["SINTERCARD", "2", &a, &b]), 5);
        let missing = key_on(1 - dst_core, "st:missing");
        assert_eq!(
            query::<i64>(&mut con, &["SINTERSTORE", &dst, &a, &missing]),
            0
        );
        assert_eq!(query::<i64>(&mut con, &["EXISTS", &dst]), 0);
    }
    // A source of another type on the other core fails the command and stores nothing.
    let dst = key_on(0, "st:dst");
    let s = key_on(1, "st:str");
    let _: () = query(&mut con, &["SET", &s, "v"]);
    let error = fails(&mut con, &["SUNIONSTORE", &dst, &a, &s]);
    assert!(error.contains("wrong kind of value"), "{error}");
    assert_eq!(query::<i64>(&mut con, &["EXISTS", &dst]), 0);
}

/// While one client moves members back and forth between two sets on different cores,
/// another never sees a member in both, in neither, or a store half done.
#[test]
fn moves_between_cores_are_atomic_to_other_clients() {
    let server = Server::start();
    let mut con = server.client();
    let (a, b) = (key_on(0, "at:a"), key_on(1, "at:b"));
    let (sum_on_0, sum_on_1) = (key_on(0, "at:sum"), key_on(1, "at:sum"));
    add(&mut con, &a, (0..50).map(|i| format!("m{i}")));
    add(&mut con, &b, (50..100).map(|i| format!("m{i}")));
    let mover = {
        let (a, b) = (a.clone(), b.clone());
        let mut con = server.client();
        std::thread::spawn(move || {
            for round in 0..600 {
                let member = format!("m{}", (round * 37) % 100);
                let (from, to) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
                let _: i64 = query(&mut con, &["SMOVE", from, to, &member]);
            }
        })
    };
    let mut checks = 0;
    while !mover.is_finished() || checks < 50 {
        let union: Vec<String> = query(&mut con, &["SUNION", &a, &b]);
        assert_eq!(union.len(), 100, "SUNION saw a member in neither set");
        assert_eq!(query::<i64>(&mut con, &["SINTERCARD", "2", &a, &b]), 0);
        let sum = if checks % 2 == 0 {
            &sum_on_0
        } else {
            &sum_on_1
        };
        assert_eq!(query::<i64>(&mut con, &["SUNIONSTORE", sum, &a, &b]), 100);
        assert_eq!(query::<i64>(&mut con, &["SCARD", sum]), 100);
        checks += 1;
    }
    mover.join().unwrap();
}

#[test]
fn sscan_of_a_table_sees_every_member_present_throughout() {
    let server = Server::start();
    let mut con = server.client();
    let key = "scan:s";
    add(&mut con, key, (0..2000).map(|i| format!("m{i}")));
    let encoding: String = query(&mut con, &["OBJECT", "ENCODING", key]);
    assert_eq!(encoding, "hashtable");
    let (mut cursor, mut seen, mut steps) = ("0".to_string(), HashSet::new(), 0);
    loop {
        let (next, found): (String, Vec<String>) =
            query(&mut con, &["SSCAN", key, &cursor, "COUNT", "50"]);
        assert!(found.len() <= 50 * 10, "a step returned {}", found.len());
        seen.extend(found);
        // Members come and go while the scan runs: the first 500 are removed (some before
        // the scan reaches them), 1000 new ones grow the table.
        if steps < 100 {
            let _: i64 = query(&mut con, &["SREM", key, &format!("m{}", steps * 5)]);
            add(
                &mut con,
                key,
                (2000 + steps * 10..2010 + steps * 10).map(|i| format!("m{i}")),
            );
        }
        steps += 1;
        cursor = next;
        if cursor == "0" {
            break;
        }
        assert!(steps < 10_000, "SSCAN does not finish");
    }
    for i in 500..2000 {
        assert!(seen.contains(&format!("m{i}")), "m{i} was never returned");
    }
}

#[test]
fn random_picks_come_from_the_set_in_both_encodings() {
    let server = Server::start();
    let mut con = server.client();
    for (key, size) in [("rand:ints", 10), ("rand:table", 1000)] {
        add(&mut con, key, (0..size).map(|i| i.to_string()));
        let picked: Vec<String> = query(&mut con, &["SRANDMEMBER", key, "-5000"]);
        assert_eq!(picked.len(), 5000);
        assert!(picked.iter().all(|m| m.parse::<usize>().unwrap() < size));
        let distinct: HashSet<&String> = picked.iter().collect();
        assert!(
            distinct.len() >= size.min(900),
            "{key}: 5000 picks of {size} members found only {}",
            distinct.len()
        );
        for count in ["3", "7", "9"] {
            let unique: Vec<String> = query(&mut con, &["SRANDMEMBER", key, count]);
            let n: usize = count.parse().unwrap();
            assert_eq!(unique.iter().collect::<HashSet<_>>().len(), n, "{unique:?}");
        }
        // SPOP: popped members are distinct, gone, and together with what is left make
        // up the set.
        let mut popped: Vec<String> = query(&mut con, &["SPOP", key, "4"]);
        popped.extend(query::<Vec<String>>(
            &mut con,
            &["SPOP", key, &(size / 2).to_string()],
        ));
        popped.push(query(&mut con, &["SPOP", key]));
        let popped_set: HashSet<String> = popped.iter().cloned().collect();
        assert_eq!(
            popped_set.len(),
            popped.len(),
            "{key}: SPOP repeated a member"
        );
        let left = members(&mut con, key);
        assert!(left.is_disjoint(&popped_set));
        assert_eq!(left.len() + popped.len(), size);
    }
}

#[test]
fn the_intset_threshold_follows_config_set_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = query(&mut con, &["CONFIG", "SET", "set-max-intset-entries", "4"]);
    for core in 0..2 {
        let key = key_on(core, "enc:");
        add(&mut con, &key, (0..4).map(|i| i.to_string()));
        let encoding: String = query(&mut con, &["OBJECT", "ENCODING", &key]);
        assert_eq!(encoding, "intset", "core {core}");
        add(&mut con, &key, ["4".to_string()]);
        let encoding: String = query(&mut con, &["OBJECT", "ENCODING", &key]);
        assert_eq!(encoding, "hashtable", "core {core}");
    }
}

fn stat(con: &mut Connection, field: &str) -> u64 {
    let info: String = query(con, &["INFO", "stats"]);
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO stats has no {field}"))
        .trim()
        .parse()
        .unwrap()
}

/// The STORE forms read their sources as reads: a hit per existing source and a miss per
/// missing one, as redis-server 7.0 counts them (SADD s1 a; SINTERSTORE d1 s1 nokey;
/// SUNIONSTORE d2 s1 nokey gives 2 hits and 2 misses there), whichever cores hold them.
#[test]
fn store_forms_count_their_sources_as_reads() {
    let server = Server::start();
    let mut con = server.client();
    for (src, missing, dst) in [(0, 1, 0), (1, 0, 1), (0, 0, 1)] {
        let (s1, nokey) = (key_on(src, "hit:s"), key_on(missing, "hit:none"));
        let dst = key_on(dst, "hit:d");
        let _: i64 = query(&mut con, &["SADD", &s1, "a"]);
        let _: () = query(&mut con, &["CONFIG", "RESETSTAT"]);
        let _: i64 = query(&mut con, &["SINTERSTORE", &dst, &s1, &nokey]);
        let _: i64 = query(&mut con, &["SUNIONSTORE", &dst, &s1, &nokey]);
        let _: i64 = query(&mut con, &["SDIFFSTORE", &dst, &s1, &nokey]);
        assert_eq!(stat(&mut con, "keyspace_hits"), 3, "{s1} {nokey} {dst}");
        assert_eq!(stat(&mut con, "keyspace_misses"), 3, "{s1} {nokey} {dst}");
        let _: i64 = query(&mut con, &["DEL", &s1, &dst]);
    }
}

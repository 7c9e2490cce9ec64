//! List behaviour a reply-by-reply differential cannot pin down, end to end with keys on
//! both cores (`--threads 2`): LMOVE and LMPOP between cores under concurrent clients
//! neither lose nor duplicate an element; long lists split into many small nodes (after
//! CONFIG SET list-max-listpack-size) read back and edit by index and range.

mod common;
use common::Server;
use holdfast_server::shard::slot::key_core;
use redis::Connection;
use std::collections::BTreeSet;
use std::thread;

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

#[test]
fn moves_between_cores_under_concurrency_keep_every_element_once() {
    let server = Server::start();
    let mut con = server.client();
    let (a, b) = (key_on(0, "mv:"), key_on(1, "mv:"));
    let elements: Vec<String> = (0..200).map(|i| format!("e{i}")).collect();
    for element in &elements {
        let _: i64 = query(&mut con, &["RPUSH", &a, element]);
    }
    let workers: Vec<_> = (0..4)
        .map(|worker| {
            let mut con = server.client();
            let (a, b) = (a.clone(), b.clone());
            thread::spawn(move || {
                for i in 0..300 {
                    let (src, dst) = if (i + worker) % 2 == 0 {
                        (&a, &b)
                    } else {
                        (&b, &a)
                    };
                    let _: Option<String> = match i % 3 {
                        0 => query(&mut con, &["LMOVE", src, dst, "LEFT", "RIGHT"]),
                        1 => query(&mut con, &["RPOPLPUSH", src, dst]),
                        _ => query(&mut con, &["LMOVE", src, src, "RIGHT", "LEFT"]),
                    };
                }
            })
        })
        .collect();
    workers.into_iter().for_each(|w| w.join().unwrap());
    let mut all: Vec<String> = query(&mut con, &["LRANGE", &a, "0", "-1"]);
    all.extend(query::<Vec<String>>(&mut con, &["LRANGE", &b, "0", "-1"]));
    assert_eq!(all.len(), elements.len());
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct, elements.iter().collect());
    // LMPOP over both cores drains them in argument order.
    let len_a: usize = query(&mut con, &["LLEN", &a]);
    let popped: (String, Vec<String>) =
        query(&mut con, &["LMPOP", "2", &a, &b, "LEFT", "COUNT", "1000"]);
    assert_eq!(popped.0, if len_a > 0 { a.clone() } else { b.clone() });
}

#[test]
fn long_lists_of_small_nodes_read_back_by_index_and_range_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = query(&mut con, &["CONFIG", "SET", "list-max-listpack-size", "3"]);
    for core in 0..2 {
        let key = key_on(core, "long:");
        for i in 0..1000 {
            let push = if i % 2 == 0 { "RPUSH" } else { "LPUSH" };
            let _: i64 = query(&mut con, &[push, &key, &i.to_string()]);
        }
        // LPUSHes of odd numbers descending, then RPUSHes of even numbers ascending.
        let expected: Vec<String> = (0..1000)
            .rev()
            .filter(|i| i % 2 == 1)
            .chain((0..1000).filter(|i| i % 2 == 0))
            .map(|i| i.to_string())
            .collect();
        let all: Vec<String> = query(&mut con, &["LRANGE", &key, "0", "-1"]);
        assert_eq!(all, expected);
        for index in [0, 1, 2, 499, 500, 501, 997, 999] {
            let got: String = query(&mut con, &["LINDEX", &key, &index.to_string()]);
            assert_eq!(got, expected[index]);
        }
        let middle: Vec<String> = query(&mut con, &["LRANGE", &key, "400", "409"]);
        assert_eq!(middle, expected[400..410]);
        let encoding: String = query(&mut con, &["OBJECT", "ENCODING", &key]);
        assert_eq!(encoding, "quicklist");
        let _: () = query(&mut con, &["LSET", &key, "500", "changed"]);
        let _: i64 = query(
            &mut con,
            &["LINSERT", &key, "BEFORE", "changed", "inserted"],
        );
        let around: Vec<String> = query(&mut con, &["LRANGE", &key, "499", "502"]);
        assert_eq!(
            around,
            [&expected[499][..], "inserted", "changed", &expected[501]]
        );
    }
}

//! BITOP with its keys on both cores (`--threads 2`), where the differential test cannot
//! choose which core a key lands on: sources on either core, the destination on either,
//! a source of another type on the other core failing the whole command.

mod common;
use common::Server;
use holdfast_server::shard::slot::key_core;
use redis::Connection;

fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[&[u8]]) -> T {
    let mut cmd = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    cmd.query(con).unwrap_or_else(|e| panic!("{e}"))
}

fn key_on(core: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|key| key_core(key.as_bytes(), 2) == core)
        .unwrap()
}

#[test]
fn bitop_reads_and_writes_keys_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    let (a, b) = (key_on(0, "bit:a"), key_on(1, "bit:b"));
    let _: () = query(&mut con, &[b"SET", a.as_bytes(), b"\xff\x0f\x55"]);
    let _: () = query(&mut con, &[b"SET", b.as_bytes(), b"\xf0\xf0"]);
    for dst_core in 0..2 {
        let dst = key_on(dst_core, "bit:dst");
        let cases: [(&[u8], &[u8]); 3] = [
            (b"AND", b"\xf0\x00\x00"),
            (b"OR", b"\xff\xff\x55"),
            (b"XOR", b"\x0f\xff\x55"),
        ];
        for (op, expected) in cases {
            let len: i64 = query(
                &mut con,
                &[b"BITOP", op, dst.as_bytes(), a.as_bytes(), b.as_bytes()],
            );
            assert_eq!(len, 3);
            let got: Vec<u8> = query(&mut con, &[b"GET", dst.as_bytes()]);
            assert_eq!(
                got,
                expected,
                "{} into core {dst_core}",
                String::from_utf8_lossy(op)
            );
        }
        // Every key on one core (NOT of the source into a key beside it).
        let beside = key_on(0, "bit:not");
        let _: i64 = query(
            &mut con,
            &[b"BITOP", b"NOT", beside.as_bytes(), a.as_bytes()],
        );
        let got: Vec<u8> = query(&mut con, &[b"GET", beside.as_bytes()]);
        assert_eq!(got, b"\x00\xf0\xaa");
    }
    let dst = key_on(0, "bit:dst");
    let set = key_on(1, "bit:set");
    let _: i64 = query(&mut con, &[b"SADD", set.as_bytes(), b"m"]);
    let mut cmd = redis::cmd("BITOP");
    cmd.arg("OR").arg(&dst).arg(&a).arg(&set);
    let error = cmd.query::<i64>(&mut con).unwrap_err().to_string();
    assert!(error.contains("wrong kind of value"), "{error}");
    let untouched: Vec<u8> = query(&mut con, &[b"GET", dst.as_bytes()]);
    assert_eq!(
        untouched, b"\x0f\xff\x55",
        "a failed BITOP changed its destination"
    );
}

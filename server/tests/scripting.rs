//! Scripts end to end with keys on both cores (`--threads 2`): what the reply-by-reply
//! differential (diff/scripting.txt) cannot show.
//!
//! - Atomicity: a read-modify-write script moving amounts between keys on different cores
//!   never shows a reader a torn sum.
//! - Reach: a key the script did not declare, on a core it does not hold, is refused;
//!   `allow-cross-slot-keys` holds every core.
//! - Durability: a script's writes, and function libraries, survive a SIGKILL whole (one
//!   record; DESIGN.md invariants 1 and 5).
//! - SCRIPT KILL and -BUSY from a connection on the other core while a script loops.
//! - FUNCTION DUMP/RESTORE payloads move between redis-server and Holdfast both ways.

mod common;
use common::{RedisServer, Server, TempDir};
use holdfast_server::shard::slot::key_core;
use redis::Connection;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn key_on(core: usize, prefix: &str) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .find(|key| key_core(key.as_bytes(), 2) == core)
        .unwrap()
}

/// Moves ARGV[1] from KEYS[1] to KEYS[2] if KEYS[1] has enough: read, decide, write.
const TRANSFER: &str = "
local from = tonumber(redis.call('get', KEYS[1]))
local amount = tonumber(ARGV[1])
if from < amount then return 0 end
redis.call('set', KEYS[1], from - amount)
redis.call('incrby', KEYS[2], amount)
return 1";

/// EVAL of `body` with `keys` and `args` (the redis crate's Script needs a feature we do
/// not build).
fn eval<T: redis::FromRedisValue>(
    con: &mut redis::Connection,
    body: &str,
    keys: &[&str],
    args: &[i64],
) -> T {
    redis::cmd("EVAL")
        .arg(body)
        .arg(keys.len())
        .arg(keys)
        .arg(args)
        .query(con)
        .unwrap_or_else(|e| panic!("EVAL failed: {e}"))
}

const SUM: &str =
    "return tonumber(redis.call('get', KEYS[1])) + tonumber(redis.call('get', KEYS[2]))";

#[test]
fn a_script_across_cores_is_atomic() {
    let server = Server::start();
    let (a, b) = (key_on(0, "acct:"), key_on(1, "acct:"));
    let mut con = server.client();
    let _: () = redis::cmd("MSET")
        .arg(&a)
        .arg(500)
        .arg(&b)
        .arg(500)
        .query(&mut con)
        .unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let sums = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..3)
        .map(|i| {
            let (url, a, b) = (server.url(), a.clone(), b.clone());
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                for n in 0..100 {
                    let (from, to) = if (n + i) % 2 == 0 { (&a, &b) } else { (&b, &a) };
                    let _: i64 = eval(&mut con, TRANSFER, &[from, to], &[7]);
                }
            })
        })
        .collect();
    let reader = {
        let (url, a, b, stop, sums) = (
            server.url(),
            a.clone(),
            b.clone(),
            stop.clone(),
            sums.clone(),
        );
        std::thread::spawn(move || {
            let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
            // Scripts run one at a time, so the reader also reads through MGET, which
            // would see between the steps of a script that did not hold its cores.
            let mut through_script = false;
            while !stop.load(Ordering::Relaxed) {
                through_script = !through_script;
                let sum: i64 = if through_script {
                    eval(&mut con, SUM, &[&a, &b], &[])
                } else {
                    let values: Vec<i64> =
                        redis::cmd("MGET").arg(&a).arg(&b).query(&mut con).unwrap();
                    values.iter().sum()
                };
                assert_eq!(sum, 1000, "a reader saw half of a script's transfer");
                sums.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    writers.into_iter().for_each(|w| w.join().unwrap());
    stop.store(true, Ordering::Relaxed);
    reader.join().unwrap();
    let values: Vec<i64> = redis::cmd("MGET").arg(&a).arg(&b).query(&mut con).unwrap();
    assert_eq!(values.iter().sum::<i64>(), 1000);
    assert!(sums.load(Ordering::Relaxed) > 10, "the reader barely ran");
}

#[test]
fn undeclared_keys_are_refused_unless_the_script_holds_every_core() {
    let server = Server::start();
    let mut con = server.client();
    let (declared, elsewhere) = (key_on(0, "own:"), key_on(1, "other:"));
    let err = redis::cmd("EVAL")
        .arg("return redis.call('get', ARGV[1])")
        .arg(1)
        .arg(&declared)
        .arg(&elsewhere)
        .query::<Option<String>>(&mut con)
        .unwrap_err();
    assert!(
        err.to_string().contains("non local key"),
        "an undeclared key on an unheld core was reached: {err}"
    );
    let body = "#!lua flags=allow-cross-slot-keys\nredis.call('set', ARGV[1], 'x'); return redis.call('get', ARGV[1])";
    let value: String = redis::cmd("EVAL")
        .arg(body)
        .arg(0)
        .arg(&elsewhere)
        .query(&mut con)
        .unwrap();
    assert_eq!(value, "x");
}

#[test]
fn a_script_s_writes_survive_a_kill_whole() {
    let dir = TempDir::new("script-kill");
    let server = Server::start_durable(&dir.path);
    let (a, b) = (key_on(0, "d:"), key_on(1, "d:"));
    let mut con = server.client();
    let _: () = redis::cmd("MSET")
        .arg(&a)
        .arg(1)
        .arg(&b)
        .arg(1)
        .query(&mut con)
        .unwrap();
    let body =
        "for i = 1, 50 do redis.call('incr', KEYS[1]) redis.call('incr', KEYS[2]) end return 1";
    for _ in 0..20 {
        let _: i64 = eval(&mut con, body, &[&a, &b], &[]);
    }
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let values: Vec<i64> = redis::cmd("MGET").arg(&a).arg(&b).query(&mut con).unwrap();
    assert_eq!(values, vec![1001, 1001], "a restart lost or split a script");
}

/// Sends one command on a raw connection; its reply, or None if none came within `wait`.
fn ask(port: u16, command: &str, wait: Duration) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(wait)).ok()?;
    stream.write_all(format!("{command}\r\n").as_bytes()).ok()?;
    let mut reply = [0u8; 512];
    let n = stream.read(&mut reply).ok()?;
    Some(String::from_utf8_lossy(&reply[..n]).into_owned())
}

#[test]
fn script_kill_and_busy_from_the_other_core() {
    let server = Server::start();
    let port = server.port;
    let mut con = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("busy-reply-threshold")
        .arg(100)
        .query(&mut con)
        .unwrap();
    let looping = std::thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .write_all(b"EVAL \"while true do end\" 0\r\n")
            .unwrap();
        let mut reply = [0u8; 512];
        let n = stream.read(&mut reply).unwrap();
        String::from_utf8_lossy(&reply[..n]).into_owned()
    });
    std::thread::sleep(Duration::from_millis(300));
    // Connections land on either core; one on the free core answers.
    let busy = (0..16).find_map(|_| {
        ask(port, "GET anything", Duration::from_millis(300)).filter(|r| r.starts_with("-BUSY"))
    });
    assert!(
        busy.is_some(),
        "no connection got -BUSY while a script looped"
    );
    let killed = (0..16).find_map(|_| {
        ask(port, "SCRIPT KILL", Duration::from_millis(300)).filter(|r| r.starts_with("+OK"))
    });
    assert!(
        killed.is_some(),
        "SCRIPT KILL was not answered from the other core"
    );
    let reply = looping.join().unwrap();
    assert!(
        reply.starts_with("-ERR Script killed by user with SCRIPT KILL"),
        "{reply}"
    );
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(pong, "PONG");
}

#[test]
fn function_libraries_survive_a_kill_and_their_deletion_too() {
    let dir = TempDir::new("functions-kill");
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    for (name, body) in [("keep", "return 'kept'"), ("drop", "return 'dropped'")] {
        let code = format!(
            "#!lua name={name}\nredis.register_function('{name}_fn', function(keys, args) {body} end)"
        );
        let loaded: String = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(code)
            .query(&mut con)
            .unwrap();
        assert_eq!(loaded, name);
    }
    let _: () = redis::cmd("FUNCTION")
        .arg("DELETE")
        .arg("drop")
        .query(&mut con)
        .unwrap();
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let kept: String = redis::cmd("FCALL")
        .arg("keep_fn")
        .arg(0)
        .query(&mut con)
        .unwrap();
    assert_eq!(kept, "kept");
    let err = redis::cmd("FCALL")
        .arg("drop_fn")
        .arg(0)
        .query::<String>(&mut con)
        .unwrap_err();
    assert!(err.to_string().contains("Function not found"), "{err}");
}

fn function_cmd<T: redis::FromRedisValue>(con: &mut Connection, args: &[&[u8]]) -> T {
    let mut cmd = redis::cmd("FUNCTION");
    args.iter().for_each(|a| {
        cmd.arg(*a);
    });
    cmd.query(con).unwrap()
}

/// FUNCTION DUMP and RESTORE speak Redis's payload: a dump from redis-server restores here
/// and one from here restores there, and a restored library survives a kill.
#[test]
fn function_dumps_move_between_redis_and_holdfast() {
    let Some(redis) = RedisServer::start(&[]) else {
        eprintln!("skipped: redis-server is not installed");
        return;
    };
    let mut theirs = redis.client();
    let dir = TempDir::new("functions-dump");
    let server = Server::start_durable(&dir.path);
    let mut ours = server.client();

    // Long enough for LZF to compress, with repeats.
    let big = format!(
        "#!lua name=big\n{}",
        (0..40)
            .map(|i| format!(
                "redis.register_function('big{i}', function(keys, args) return {i} end)\n"
            ))
            .collect::<String>()
    );
    let _: String = function_cmd(&mut theirs, &[b"LOAD", big.as_bytes()]);
    let from_redis: Vec<u8> = function_cmd(&mut theirs, &[b"DUMP"]);
    let ok: String = function_cmd(&mut ours, &[b"RESTORE", &from_redis]);
    assert_eq!(ok, "OK");
    let err = redis::cmd("FUNCTION")
        .arg("RESTORE")
        .arg(&from_redis)
        .query::<String>(&mut ours)
        .unwrap_err();
    assert!(
        err.to_string().contains("Library big already exists"),
        "{err}"
    );
    let _: String = function_cmd(&mut ours, &[b"RESTORE", &from_redis, b"REPLACE"]);

    let small = b"#!lua name=small\nredis.register_function('tiny', function() return 'tiny' end)";
    let _: String = function_cmd(&mut ours, &[b"LOAD", small]);
    let from_us: Vec<u8> = function_cmd(&mut ours, &[b"DUMP"]);
    let _: String = function_cmd(&mut theirs, &[b"RESTORE", &from_us, b"FLUSH"]);
    let code_of = |con: &mut Connection| -> Vec<Vec<u8>> {
        let listed: Vec<redis::Value> = function_cmd(con, &[b"LIST", b"WITHCODE"]);
        let mut codes: Vec<Vec<u8>> = listed
            .iter()
            .map(|library| match library {
                redis::Value::Array(fields) => match &fields[7] {
                    redis::Value::BulkString(code) => code.clone(),
                    other => panic!("library_code: {other:?}"),
                },
                other => panic!("library: {other:?}"),
            })
            .collect();
        codes.sort();
        codes
    };
    assert_eq!(code_of(&mut theirs), code_of(&mut ours));
    assert_eq!(code_of(&mut ours).len(), 2);

    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut ours = server.client();
    let tiny: String = redis::cmd("FCALL")
        .arg("tiny")
        .arg(0)
        .query(&mut ours)
        .unwrap();
    let big7: i64 = redis::cmd("FCALL")
        .arg("big7")
        .arg(0)
        .query(&mut ours)
        .unwrap();
    assert_eq!((tiny.as_str(), big7), ("tiny", 7));
}

/// OBJECT and MEMORY USAGE name their key behind a subcommand, where the command table's
/// key positions do not see it: from a script that does not hold its core they are
/// refused like any undeclared key (they used to take the server down).
#[test]
fn subcommand_keys_on_an_unheld_core_are_refused_not_fatal() {
    let server = Server::start();
    let mut con = server.client();
    let (declared, elsewhere) = (key_on(0, "own:"), key_on(1, "other:"));
    let _: () = redis::cmd("SET")
        .arg(&elsewhere)
        .arg("v")
        .query(&mut con)
        .unwrap();
    for call in [
        "redis.pcall('object', 'encoding', ARGV[1])",
        "redis.pcall('memory', 'usage', ARGV[1])",
    ] {
        let err = redis::cmd("EVAL")
            .arg(format!("return {call}"))
            .arg(1)
            .arg(&declared)
            .arg(&elsewhere)
            .query::<Option<String>>(&mut con)
            .unwrap_err();
        assert!(err.to_string().contains("non local key"), "{call}: {err}");
    }
    let encoding: String = redis::cmd("EVAL")
        .arg("return redis.call('object', 'encoding', KEYS[1])")
        .arg(1)
        .arg(&elsewhere)
        .query(&mut con)
        .unwrap();
    assert_eq!(encoding, "embstr");
}

//! SORT end to end with `--threads 2`: BY and GET patterns whose keys spread over both
//! cores (random cases checked against a real redis-server), atomicity against writers on
//! both cores, STORE into a key of the other core, scripts, and COMMAND INFO.

mod common;
use common::{RedisServer, Server};
use holdfast_server::shard::slot::key_core;
use redis::{Connection, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

fn query<T: redis::FromRedisValue>(con: &mut Connection, args: &[String]) -> T {
    let mut cmd = redis::cmd(&args[0]);
    for arg in &args[1..] {
        cmd.arg(arg);
    }
    cmd.query(con)
        .unwrap_or_else(|e| panic!("{args:?} failed: {e}"))
}

fn words(text: &str) -> Vec<String> {
    text.split(' ').map(str::to_string).collect()
}

/// A small deterministic generator (the seed is printed, so a failure replays).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Commands that fill a source of each type, weights (strings) and hashes for its
/// elements; elements are numbers so numeric sorts succeed, hash values are unique so no
/// two elements tie under ALPHA BY (whose tie order Redis leaves to qsort).
fn setup(rng: &mut Rng) -> Vec<Vec<String>> {
    let mut commands = vec![words("FLUSHALL")];
    let elements: Vec<String> = (0..12).map(|i| format!("{}", i * 7 % 12)).collect();
    let mut push = vec!["RPUSH".to_string(), "src:list".to_string()];
    push.extend(elements.iter().cloned());
    push.extend(["3".to_string(), "3".to_string()]);
    commands.push(push);
    let mut sadd = words("SADD src:set");
    sadd.extend(elements.iter().map(|e| format!("{e}5")));
    commands.push(sadd);
    let mut zadd = words("ZADD src:zset");
    for (i, e) in elements.iter().enumerate() {
        zadd.extend([format!("{}", (i * 5) % 7), e.clone()]);
    }
    commands.push(zadd);
    for i in 0..130 {
        let weight = format!("{:03}", (i * 37) % 130);
        // Some weights missing (they sort as 0); every hash present, since ALPHA BY
        // leaves the order of missing values to qsort.
        if rng.below(4) != 0 {
            commands.push(vec!["SET".into(), format!("w_{i}"), weight.clone()]);
        }
        commands.push(vec![
            "HSET".into(),
            format!("h_{i}"),
            "f".into(),
            format!("v{weight}"),
        ]);
    }
    commands
}

/// A random SORT over one of the sources.
fn random_sort(rng: &mut Rng) -> Vec<String> {
    let sources = ["src:list", "src:set", "src:zset"];
    let mut args = vec!["SORT".to_string(), sources[rng.below(3)].to_string()];
    let by = rng.below(4);
    match by {
        0 => args.extend(words("BY w_*")),
        1 => args.extend(words("BY h_*->f ALPHA")),
        2 if args[1] != "src:set" => args.extend(words("BY nosort")),
        _ => {}
    }
    for _ in 0..rng.below(3) {
        let get = ["#", "w_*", "h_*->f", "h_*->g", "fixed"][rng.below(5)];
        args.extend(["GET".to_string(), get.to_string()]);
    }
    if rng.below(2) == 0 {
        args.push("DESC".into());
    }
    if rng.below(2) == 0 {
        args.extend([
            "LIMIT".into(),
            (rng.below(16) as i64 - 2).to_string(),
            (rng.below(8) as i64 - 1).to_string(),
        ]);
    }
    if rng.below(3) == 0 {
        args.extend(words("STORE dst"));
    }
    args
}

#[test]
fn random_sorts_with_patterns_on_both_cores_match_redis() {
    let Some(redis_server) = RedisServer::start(&[]) else {
        println!("redis-server is not installed: nothing to compare with");
        return;
    };
    let server = Server::start();
    let mut ours = server.client();
    let mut theirs = redis::Client::open(format!("redis://127.0.0.1:{}", redis_server.port))
        .unwrap()
        .get_connection()
        .unwrap();
    let seed = std::env::var("SORT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_5047);
    println!("SORT_SEED={seed}");
    let mut rng = Rng(seed);
    for _ in 0..3 {
        for command in setup(&mut rng) {
            let _: Value = query(&mut ours, &command);
            let _: Value = query(&mut theirs, &command);
        }
        for _ in 0..150 {
            let sort = random_sort(&mut rng);
            let expected: redis::RedisResult<Value> =
                redis::cmd("SORT").arg(&sort[1..]).query(&mut theirs);
            let got: redis::RedisResult<Value> =
                redis::cmd("SORT").arg(&sort[1..]).query(&mut ours);
            assert_eq!(
                format!("{got:?}"),
                format!("{expected:?}"),
                "{}",
                sort.join(" ")
            );
            if sort.contains(&"STORE".to_string()) {
                let range = words("LRANGE dst 0 -1");
                let stored: Vec<String> = query(&mut ours, &range);
                let expected: Vec<String> = query(&mut theirs, &range);
                assert_eq!(stored, expected, "{}", sort.join(" "));
            }
        }
    }
}

#[test]
fn a_sort_never_sees_half_of_a_write_on_both_cores() {
    let server = Server::start();
    let mut con = server.client();
    // Weights on both cores, always written together by one MSET (atomic over cores).
    let keys: Vec<String> = (0..8).map(|i| format!("aw_{i}")).collect();
    assert!(keys.iter().any(|k| key_core(k.as_bytes(), 2) == 0));
    assert!(keys.iter().any(|k| key_core(k.as_bytes(), 2) == 1));
    let mut push = words("RPUSH atom:l");
    push.extend((0..8).map(|i| i.to_string()));
    let _: i64 = query(&mut con, &push);
    let stop = Arc::new(AtomicBool::new(false));
    let mut writer = server.client();
    let (writer_stop, writer_keys) = (stop.clone(), keys.clone());
    let writing = thread::spawn(move || {
        let mut round = 0u64;
        while !writer_stop.load(Ordering::Relaxed) {
            let mut mset = vec!["MSET".to_string()];
            for key in &writer_keys {
                mset.extend([key.clone(), round.to_string()]);
            }
            let _: () = query(&mut writer, &mset);
            round += 1;
        }
        round
    });
    for _ in 0..300 {
        let got: Vec<Option<String>> = query(&mut con, &words("SORT atom:l BY nosort GET aw_*"));
        assert!(
            got.windows(2).all(|w| w[0] == w[1]),
            "SORT saw a write on one core only: {got:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writing.join().unwrap() > 0, "the writer never ran");
}

#[test]
fn store_replaces_a_key_on_the_other_core_and_an_empty_result_deletes_it() {
    let server = Server::start();
    let mut con = server.client();
    let src = "st:src";
    let dst = (0..)
        .map(|i| format!("st:dst{i}"))
        .find(|k| key_core(k.as_bytes(), 2) != key_core(src.as_bytes(), 2))
        .unwrap();
    let _: i64 = query(&mut con, &words("RPUSH st:src c a b"));
    let _: () = query(&mut con, &["SET".into(), dst.clone(), "old".into()]);
    let n: i64 = query(
        &mut con,
        &[
            "SORT".into(),
            src.into(),
            "ALPHA".into(),
            "STORE".into(),
            dst.clone(),
        ],
    );
    assert_eq!(n, 3);
    let stored: Vec<String> = query(
        &mut con,
        &["LRANGE".into(), dst.clone(), "0".into(), "-1".into()],
    );
    assert_eq!(stored, ["a", "b", "c"]);
    let n: i64 = query(
        &mut con,
        &["SORT".into(), "st:none".into(), "STORE".into(), dst.clone()],
    );
    assert_eq!(n, 0);
    let exists: i64 = query(&mut con, &["EXISTS".into(), dst.clone()]);
    assert_eq!(exists, 0);
}

#[test]
fn scripts_sort_their_declared_keys_and_refuse_patterns_beyond_their_cores() {
    let server = Server::start();
    let mut con = server.client();
    let _: i64 = query(&mut con, &words("RPUSH sc:l 2 1 3"));
    let script = "return redis.call('SORT', KEYS[1])";
    let sorted: Vec<String> = query(
        &mut con,
        &["EVAL".into(), script.into(), "1".into(), "sc:l".into()],
    );
    assert_eq!(sorted, ["1", "2", "3"]);
    // A BY pattern forms keys of any core; a script holds only its keys' cores.
    let script = "return redis.pcall('SORT', KEYS[1], 'BY', 'w_*')";
    let reply: redis::RedisResult<Value> = redis::cmd("EVAL")
        .arg(script)
        .arg(1)
        .arg("sc:l")
        .query(&mut con);
    let err = reply.unwrap_err().to_string();
    assert!(err.contains("non local key"), "{err}");
}

#[test]
fn command_info_marks_sort_movablekeys() {
    let server = Server::start();
    let mut con = server.client();
    let info: Value = query(&mut con, &words("COMMAND INFO sort sort_ro bzmpop"));
    let text = format!("{info:?}");
    assert_eq!(text.matches("movablekeys").count(), 3, "{text}");
    let keys: Vec<String> = query(
        &mut con,
        &words("COMMAND GETKEYS SORT a BY x GET y STORE d"),
    );
    assert_eq!(keys, ["a", "d"]);
}

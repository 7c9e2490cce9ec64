//! `maxmemory` through the real binary: noeviction's -OOM (and the commands still allowed
//! at the limit), each eviction policy removing the kind of keys it should, OBJECT FREQ /
//! IDLETIME under LRU and LFU, CLIENT NO-TOUCH, and evictions replaying to the same
//! dataset after a restart (they are logged as DEL effects).

mod common;

use common::{Server, TempDir};
use redis::Connection;

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";

/// A server without a log: the policy tests set maxmemory a few MB above what the server
/// uses, and a log's buffers growing under a loaded machine would eat that headroom (the
/// durable path has its own test below).
fn start_unlogged() -> Server {
    Server::start_with(&["--threads", "2", "--durability", "none"])
}

fn info_field(con: &mut Connection, section: &str, field: &str) -> u64 {
    let info: String = redis::cmd("INFO").arg(section).query(con).unwrap();
    info.lines()
        .find_map(|line| line.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("INFO {section} has no {field}"))
        .trim()
        .parse()
        .unwrap()
}

fn config_set(con: &mut Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .unwrap();
}

/// Sets maxmemory `headroom` bytes above what the server uses now.
fn limit_above_current(con: &mut Connection, headroom: u64) -> u64 {
    let limit = info_field(con, "memory", "used_memory") + headroom;
    config_set(con, "maxmemory", &limit.to_string());
    limit
}

/// Writes `count` keys `{prefix}{i}` of `size` bytes (with a TTL when `ttl_s` > 0),
/// pipelined; returns the replies' errors, if any.
fn fill(con: &mut Connection, prefix: &str, count: usize, size: usize, ttl_s: u64) -> Vec<String> {
    let value = vec![b'x'; size];
    let mut errors = Vec::new();
    for chunk in (0..count).collect::<Vec<_>>().chunks(100) {
        let mut pipe = redis::pipe();
        for i in chunk {
            let cmd = pipe.cmd("SET").arg(format!("{prefix}{i}")).arg(&value[..]);
            if ttl_s > 0 {
                cmd.arg("EX").arg(ttl_s);
            }
        }
        let replies: Vec<redis::Value> = pipe.query(con).unwrap_or_else(|e| {
            errors.push(e.to_string());
            Vec::new()
        });
        for reply in replies {
            if let redis::Value::ServerError(e) = reply {
                errors.push(format!("{e:?}"));
            }
        }
    }
    errors
}

fn count_existing(con: &mut Connection, prefix: &str, count: usize) -> usize {
    (0..count)
        .filter(|i| {
            redis::cmd("EXISTS")
                .arg(format!("{prefix}{i}"))
                .query::<i64>(con)
                .unwrap()
                == 1
        })
        .count()
}

fn error_of(result: redis::RedisResult<redis::Value>) -> String {
    match result {
        Err(e) => e.to_string(),
        Ok(value) => panic!("expected an error, got {value:?}"),
    }
}

#[test]
fn noeviction_refuses_denyoom_writes_with_redis_text_and_allows_reads_and_deletes() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let _: () = redis::cmd("SET").arg("b").arg("2").query(&mut con).unwrap();
    config_set(&mut con, "maxmemory", "1");
    let oom = format!("-{OOM}\r\n");
    let mut raw = server.raw();
    raw.roundtrip(b"SET c 3\r\n", oom.as_bytes());
    // Pipelined writes, on either core, get the same refusal.
    raw.roundtrip(
        b"RPUSH l x\r\nSET {a}x 1\r\n",
        format!("{oom}{oom}").as_bytes(),
    );
    // Reads and deletes still run (they are not denyoom).
    let a: String = redis::cmd("GET").arg("a").query(&mut con).unwrap();
    assert_eq!(a, "1");
    let deleted: i64 = redis::cmd("DEL").arg("b").query(&mut con).unwrap();
    assert_eq!(deleted, 1);
    // Inside MULTI, even a command that is not denyoom is refused while over the limit.
    raw.roundtrip(b"MULTI\r\n", b"+OK\r\n");
    raw.roundtrip(b"GET a\r\n", oom.as_bytes());
    raw.roundtrip(
        b"EXEC\r\n",
        b"-EXECABORT Transaction discarded because of previous errors.\r\n",
    );
    assert_eq!(info_field(&mut con, "stats", "evicted_keys"), 0);
    config_set(&mut con, "maxmemory", "0");
    let _: () = redis::cmd("SET").arg("c").arg("3").query(&mut con).unwrap();
}

#[test]
fn allkeys_policies_evict_to_stay_under_the_limit() {
    let server = start_unlogged();
    let mut con = server.client();
    for policy in ["allkeys-lru", "allkeys-lfu", "allkeys-random"] {
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        config_set(&mut con, "maxmemory", "0");
        config_set(&mut con, "maxmemory-policy", policy);
        let limit = limit_above_current(&mut con, 3 << 20);
        let errors = fill(&mut con, "k", 7000, 1000, 0);
        assert!(errors.is_empty(), "{policy}: {errors:?}");
        let keys: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
        assert!(keys < 7000 && keys > 1000, "{policy}: {keys} keys left");
        let evicted = info_field(&mut con, "stats", "evicted_keys");
        assert!(evicted > 0, "{policy}");
        let used = info_field(&mut con, "memory", "used_memory");
        assert!(
            used < limit + (2 << 20),
            "{policy}: used {used} > limit {limit}"
        );
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut con)
            .unwrap();
    }
}

#[test]
fn volatile_policies_evict_only_keys_with_a_ttl_then_refuse() {
    let server = start_unlogged();
    let mut con = server.client();
    for policy in [
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let _: () = redis::cmd("FLUSHALL").query(&mut con).unwrap();
        config_set(&mut con, "maxmemory", "0");
        config_set(&mut con, "maxmemory-policy", policy);
        assert!(fill(&mut con, "keep", 1000, 1000, 0).is_empty());
        limit_above_current(&mut con, 2 << 20);
        let errors = fill(&mut con, "vol", 5000, 1000, 1000);
        // Once no volatile key is left the writes are refused, never a persistent key
        // evicted.
        let persistent = count_existing(&mut con, "keep", 1000);
        assert_eq!(persistent, 1000, "{policy}");
        assert!(
            info_field(&mut con, "stats", "evicted_keys") > 0,
            "{policy}"
        );
        let errors_after = fill(&mut con, "more", 3000, 1000, 0);
        assert!(
            errors_after
                .iter()
                .chain(&errors)
                .any(|e| e.contains("OOM")),
            "{policy}: persistent writes past the limit must get -OOM"
        );
        let _: () = redis::cmd("CONFIG")
            .arg("RESETSTAT")
            .query(&mut con)
            .unwrap();
    }
}

#[test]
fn volatile_ttl_evicts_the_soonest_expiring_first() {
    let server = start_unlogged();
    let mut con = server.client();
    config_set(&mut con, "maxmemory-policy", "volatile-ttl");
    config_set(&mut con, "maxmemory-samples", "10");
    assert!(fill(&mut con, "late", 1500, 1000, 100_000).is_empty());
    limit_above_current(&mut con, 2 << 20);
    assert!(fill(&mut con, "soon", 3000, 1000, 1000).is_empty());
    let late = count_existing(&mut con, "late", 1500);
    assert!(late > 1400, "only {late} of the long-lived keys survived");
}

/// Also a regression test for the used-memory estimate (process.rs): the 6,000 reads
/// of 1 KB values before the limit is set move 6 MB from the owning cores to the
/// connection's; counted twice, the first writes under the limit evicted every hot key.
#[test]
fn allkeys_lfu_keeps_frequently_read_keys() {
    let server = start_unlogged();
    let mut con = server.client();
    config_set(&mut con, "maxmemory-policy", "allkeys-lfu");
    assert!(fill(&mut con, "hot", 200, 1000, 0).is_empty());
    for _ in 0..30 {
        let mut pipe = redis::pipe();
        for i in 0..200 {
            pipe.cmd("GET").arg(format!("hot{i}")).ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    let freq: i64 = redis::cmd("OBJECT")
        .arg("FREQ")
        .arg("hot0")
        .query(&mut con)
        .unwrap();
    assert!(
        freq > 5,
        "30 reads should raise the counter above its start: {freq}"
    );
    limit_above_current(&mut con, 2 << 20);
    assert!(fill(&mut con, "cold", 5000, 1000, 0).is_empty());
    let hot = count_existing(&mut con, "hot", 200);
    assert!(hot >= 190, "only {hot} of 200 hot keys survived");
    assert!(count_existing(&mut con, "cold", 5000) < 4000);
}

#[test]
fn object_freq_and_idletime_follow_the_policy() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("SET").arg("k").arg("v").query(&mut con).unwrap();
    let err = error_of(redis::cmd("OBJECT").arg("FREQ").arg("k").query(&mut con));
    assert!(
        err.contains("An LFU maxmemory policy is not selected, access frequency not tracked."),
        "{err}"
    );
    let idle: i64 = redis::cmd("OBJECT")
        .arg("IDLETIME")
        .arg("k")
        .query(&mut con)
        .unwrap();
    assert!((0..5).contains(&idle));
    config_set(&mut con, "maxmemory-policy", "allkeys-lfu");
    let err = error_of(
        redis::cmd("OBJECT")
            .arg("IDLETIME")
            .arg("k")
            .query(&mut con),
    );
    assert!(
        err.contains("An LFU maxmemory policy is selected, idle time not tracked."),
        "{err}"
    );
    let _: () = redis::cmd("SET").arg("n").arg("v").query(&mut con).unwrap();
    let freq: i64 = redis::cmd("OBJECT")
        .arg("FREQ")
        .arg("n")
        .query(&mut con)
        .unwrap();
    assert_eq!(freq, 5, "a new key starts at LFU_INIT_VAL");
    let missing: Option<i64> = redis::cmd("OBJECT")
        .arg("FREQ")
        .arg("nokey")
        .query(&mut con)
        .unwrap();
    assert_eq!(missing, None);
}

#[test]
fn client_no_touch_leaves_the_counters_alone_and_touch_still_counts() {
    let server = Server::start();
    let mut con = server.client();
    config_set(&mut con, "maxmemory-policy", "allkeys-lfu");
    config_set(&mut con, "lfu-log-factor", "0");
    // Keys on both cores: the flag travels with commands shipped to the other core.
    let keys: Vec<String> = (0..8).map(|i| format!("nt{i}")).collect();
    for key in &keys {
        let _: () = redis::cmd("SET").arg(key).arg("v").query(&mut con).unwrap();
    }
    let freq = |con: &mut Connection, key: &str| -> i64 {
        redis::cmd("OBJECT")
            .arg("FREQ")
            .arg(key)
            .query(con)
            .unwrap()
    };
    let _: () = redis::cmd("CLIENT")
        .arg("NO-TOUCH")
        .arg("ON")
        .query(&mut con)
        .unwrap();
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains(" flags=T "), "{info}");
    for key in &keys {
        let _: Option<String> = redis::cmd("GET").arg(key).query(&mut con).unwrap();
        assert_eq!(freq(&mut con, key), 5, "{key}");
    }
    // With lfu-log-factor 0 every counted access adds one.
    let _: i64 = redis::cmd("TOUCH").arg(&keys[0]).query(&mut con).unwrap();
    assert_eq!(freq(&mut con, &keys[0]), 6);
    let _: () = redis::cmd("CLIENT")
        .arg("NO-TOUCH")
        .arg("OFF")
        .query(&mut con)
        .unwrap();
    for key in &keys[1..] {
        let _: Option<String> = redis::cmd("GET").arg(key).query(&mut con).unwrap();
        assert_eq!(freq(&mut con, key), 6, "{key}");
    }
}

#[test]
fn client_no_evict_is_accepted_and_shown() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("CLIENT")
        .arg("NO-EVICT")
        .arg("on")
        .query(&mut con)
        .unwrap();
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains(" flags=e "), "{info}");
    let err = error_of(
        redis::cmd("CLIENT")
            .arg("NO-EVICT")
            .arg("maybe")
            .query(&mut con),
    );
    assert!(err.contains("syntax error"), "{err}");
    let _: () = redis::cmd("CLIENT")
        .arg("NO-EVICT")
        .arg("OFF")
        .query(&mut con)
        .unwrap();
    let info: String = redis::cmd("CLIENT").arg("INFO").query(&mut con).unwrap();
    assert!(info.contains(" flags=N "), "{info}");
}

#[test]
fn evictions_replay_to_the_same_dataset_after_a_restart() {
    let dir = TempDir::new("eviction-replay");
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    config_set(&mut con, "maxmemory-policy", "allkeys-random");
    limit_above_current(&mut con, 3 << 20);
    assert!(fill(&mut con, "k", 6000, 1000, 0).is_empty());
    assert!(info_field(&mut con, "stats", "evicted_keys") > 0);
    config_set(&mut con, "maxmemory", "0");
    let before: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut con).unwrap();
    let keys_before: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    drop(con);
    server.kill();
    let server = Server::start_durable(&dir.path);
    let mut con = server.client();
    let after: String = redis::cmd("DEBUG").arg("DIGEST").query(&mut con).unwrap();
    let keys_after: u64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!((keys_after, after), (keys_before, before));
}

#[test]
fn lookups_without_touch_leave_counters_and_watches_alone() {
    let server = Server::start();
    let mut con = server.client();
    config_set(&mut con, "maxmemory-policy", "allkeys-lfu");
    config_set(&mut con, "lfu-log-factor", "0");
    let mut watcher = server.raw();
    for key in ["w0", "w1", "w2", "w3"] {
        let _: () = redis::cmd("SET").arg(key).arg("v").query(&mut con).unwrap();
        watcher.roundtrip(format!("WATCH {key}\r\n").as_bytes(), b"+OK\r\n");
        for probe in ["TYPE", "EXISTS", "TTL", "PTTL", "EXPIRETIME"] {
            let _: redis::Value = redis::cmd(probe).arg(key).query(&mut con).unwrap();
        }
        let _: redis::Value = redis::cmd("OBJECT")
            .arg("ENCODING")
            .arg(key)
            .query(&mut con)
            .unwrap();
        let freq: i64 = redis::cmd("OBJECT")
            .arg("FREQ")
            .arg(key)
            .query(&mut con)
            .unwrap();
        assert_eq!(freq, 5, "{key}: only lookups that touch count");
        // Looking at a watched key is not a change to it.
        watcher.roundtrip(b"MULTI\r\n", b"+OK\r\n");
        watcher.roundtrip(b"PING\r\n", b"+QUEUED\r\n");
        watcher.roundtrip(b"EXEC\r\n", b"*1\r\n+PONG\r\n");
    }
}

/// EXEC of a transaction that queued a denyoom command is refused past maxmemory as
/// redis-server 7.0 refuses it: EXECABORT naming the OOM, the transaction and its watches
/// discarded. A transaction of reads still runs.
#[test]
fn exec_with_a_denyoom_command_is_refused_past_maxmemory() {
    let server = Server::start();
    let mut con = server.client();
    let mut raw = server.raw();
    let abort = format!("-EXECABORT Transaction discarded because of: {OOM}\r\n");
    for key in ["{a}x", "{b}x"] {
        raw.roundtrip(format!("WATCH {key}\r\n").as_bytes(), b"+OK\r\n");
        raw.roundtrip(b"MULTI\r\n", b"+OK\r\n");
        raw.roundtrip(format!("SET {key} 1\r\n").as_bytes(), b"+QUEUED\r\n");
        raw.roundtrip(format!("GET {key}\r\n").as_bytes(), b"+QUEUED\r\n");
        config_set(&mut con, "maxmemory", "1");
        raw.roundtrip(b"EXEC\r\n", abort.as_bytes());
        raw.roundtrip(b"EXEC\r\n", b"-ERR EXEC without MULTI\r\n");
        config_set(&mut con, "maxmemory", "0");
        let exists: i64 = redis::cmd("EXISTS").arg(key).query(&mut con).unwrap();
        assert_eq!(exists, 0, "the refused transaction ran");
        // The abort dropped the watch: a change of the key no longer aborts EXEC.
        let _: () = redis::cmd("SET").arg(key).arg("2").query(&mut con).unwrap();
        raw.roundtrip(b"MULTI\r\n", b"+OK\r\n");
        raw.roundtrip(b"EXEC\r\n", b"*0\r\n");
        // Reads only: EXEC runs although the server is over the limit.
        raw.roundtrip(b"MULTI\r\n", b"+OK\r\n");
        raw.roundtrip(format!("GET {key}\r\n").as_bytes(), b"+QUEUED\r\n");
        config_set(&mut con, "maxmemory", "1");
        raw.roundtrip(b"EXEC\r\n", b"*1\r\n$1\r\n2\r\n");
        config_set(&mut con, "maxmemory", "0");
    }
    let info: String = redis::cmd("INFO")
        .arg("errorstats")
        .query(&mut con)
        .unwrap();
    assert!(info.contains("errorstat_EXECABORT:count=2"), "{info}");
}

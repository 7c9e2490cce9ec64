//! LATENCY through the real binary: events past `latency-monitor-threshold` from either
//! core, merged; RESET; HISTOGRAM's RESP3 map shape and counts summed over cores; INFO
//! latencystats with the configured percentiles; `latency-tracking no` keeps nothing;
//! DOCTOR against redis-server; the `log-commit` event of writes waiting for the log.

mod common;

use common::{RedisServer, Server};
use redis::Connection;

fn config_set(con: &mut Connection, name: &str, value: &str) {
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg(name)
        .arg(value)
        .query(con)
        .unwrap();
}

/// A script busy for about `ms` milliseconds: a slow `command` event.
fn slow_command(con: &mut Connection, ms: u64) {
    let script = "local deadline = tonumber(ARGV[1]) local t = redis.call('TIME') \
        local start = t[1] * 1000 + t[2] / 1000 local i = 0 \
        while true do i = i + 1 if i % 1000 == 0 then local now = redis.call('TIME') \
        if now[1] * 1000 + now[2] / 1000 - start > deadline then return i end end end";
    let _: i64 = redis::cmd("EVAL")
        .arg(script)
        .arg(0)
        .arg(ms)
        .query(con)
        .unwrap();
}

#[test]
fn events_past_the_threshold_are_kept_and_reset() {
    let server = Server::start();
    let mut con = server.client();
    let latest: Vec<redis::Value> = redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    assert!(latest.is_empty());
    config_set(&mut con, "latency-monitor-threshold", "20");
    slow_command(&mut con, 60);
    let latest: Vec<(String, i64, i64, i64)> =
        redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    let command = latest
        .iter()
        .find(|e| e.0 == "command")
        .expect("a command event");
    assert!(command.2 >= 60 && command.3 >= command.2, "{command:?}");
    let history: Vec<(i64, i64)> = redis::cmd("LATENCY")
        .arg("HISTORY")
        .arg("command")
        .query(&mut con)
        .unwrap();
    assert_eq!(history.len(), 1);
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(&mut con).unwrap();
    assert!(doctor.contains("1. command: 1 latency spikes"), "{doctor}");
    let graph: String = redis::cmd("LATENCY")
        .arg("GRAPH")
        .arg("command")
        .query(&mut con)
        .unwrap();
    assert!(graph.starts_with("command - high "), "{graph}");
    let reset: i64 = redis::cmd("LATENCY")
        .arg("RESET")
        .arg("command")
        .query(&mut con)
        .unwrap();
    assert_eq!(reset, 1);
    let history: Vec<(i64, i64)> = redis::cmd("LATENCY")
        .arg("HISTORY")
        .arg("command")
        .query(&mut con)
        .unwrap();
    assert!(history.is_empty());
    // Below the threshold nothing is recorded.
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let history: Vec<(i64, i64)> = redis::cmd("LATENCY")
        .arg("HISTORY")
        .arg("fast-command")
        .query(&mut con)
        .unwrap();
    assert!(history.is_empty());
}

#[test]
fn histogram_counts_calls_on_both_cores_in_resp3_maps() {
    let server = Server::start();
    let mut con = server.client();
    for i in 0..50 {
        let _: () = redis::cmd("SET")
            .arg(format!("k{i}"))
            .arg("v")
            .query(&mut con)
            .unwrap();
    }
    let reply: redis::Value = redis::cmd("LATENCY")
        .arg("HISTOGRAM")
        .arg("set")
        .arg("nosuch")
        .query(&mut con)
        .unwrap();
    let redis::Value::Array(items) = reply else {
        panic!("{reply:?}")
    };
    assert_eq!(items.len(), 2, "{items:?}");
    assert_eq!(items[0], redis::Value::BulkString(b"set".to_vec()));
    let redis::Value::Array(body) = &items[1] else {
        panic!("{items:?}")
    };
    assert_eq!(body[0], redis::Value::BulkString(b"calls".to_vec()));
    assert_eq!(body[1], redis::Value::Int(50));
    let redis::Value::Array(points) = &body[3] else {
        panic!("{body:?}")
    };
    // (usec, cumulative calls) pairs ending at every call.
    assert_eq!(points.last(), Some(&redis::Value::Int(50)));
    // RESP3: a map of maps. (The reply's length is not known in advance: read until the
    // connection goes quiet.)
    let mut resp3 = server.raw();
    resp3.send(b"HELLO 3\r\nLATENCY HISTOGRAM set\r\n");
    let reply = String::from_utf8_lossy(&resp3.read_exactly(1 << 16)).into_owned();
    let shape = "%1\r\n$3\r\nset\r\n%2\r\n$5\r\ncalls\r\n:50\r\n$14\r\nhistogram_usec\r\n%";
    assert!(reply.contains(shape), "{reply:?}");
}

#[test]
fn info_latencystats_uses_the_configured_percentiles() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    config_set(&mut con, "latency-tracking-info-percentiles", "50 99.9");
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    let line = info
        .lines()
        .find(|l| l.starts_with("latency_percentiles_usec_set:"))
        .expect(&info);
    let values = line.split(':').nth(1).unwrap();
    let names: Vec<&str> = values
        .split(',')
        .map(|p| p.split('=').next().unwrap())
        .collect();
    assert_eq!(names, ["p50", "p99.9"]);
    config_set(&mut con, "latency-tracking", "no");
    let _: () = redis::cmd("CONFIG")
        .arg("RESETSTAT")
        .query(&mut con)
        .unwrap();
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let info: String = redis::cmd("INFO")
        .arg("latencystats")
        .query(&mut con)
        .unwrap();
    assert!(!info.contains("latency_percentiles_usec_set"), "{info}");
}

/// LATENCY DOCTOR against redis-server: after the same slow script under the same
/// settings, both give the same report, numbers aside: the event's line, and the advice
/// for a disabled, a too-high and a fitting slow log. The huge-pages advice depends on
/// each process's memory, not on the events, so it is left out of the comparison.
#[test]
fn doctor_gives_redis_advice() {
    let Some(redis) = RedisServer::start(&[]) else {
        eprintln!("skipped: redis-server is not installed, nothing to compare with");
        return;
    };
    let ours = Server::start();
    let mut theirs = redis.client();
    let mut ours = ours.client();
    let shape = |report: String| -> String {
        let lines = report
            .lines()
            .filter(|l| !l.contains("anonymous huge pages"));
        let text: String = lines.map(|l| format!("{l}\n")).collect();
        let digits = text.replace(|c: char| c.is_ascii_digit(), "9");
        // One number, however many digits it has.
        let mut shaped = String::new();
        for c in digits.chars() {
            if !(c == '9' && shaped.ends_with('9')) {
                shaped.push(c);
            }
        }
        shaped
    };
    for con in [&mut ours, &mut theirs] {
        let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(con).unwrap();
        assert!(doctor.starts_with("I'm sorry, Dave"), "{doctor}");
        config_set(con, "latency-monitor-threshold", "20");
    }
    let mut reports = Vec::new();
    for slowlog in ["-1", "100000", "10000"] {
        let mut pair = Vec::new();
        for con in [&mut ours, &mut theirs] {
            config_set(con, "slowlog-log-slower-than", slowlog);
            slow_command(con, 40);
            let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(con).unwrap();
            pair.push(shape(doctor));
        }
        assert_eq!(pair[0], pair[1], "slowlog-log-slower-than {slowlog}");
        reports.push(pair.remove(0));
    }
    assert!(
        reports[0].contains("Try to enable the Slow Log"),
        "{}",
        reports[0]
    );
    assert!(reports[1].contains("Your current Slow Log configuration"));
    assert!(reports[2].contains("- Check your Slow Log"));
    assert!(!reports[2].contains("Your current Slow Log configuration"));
}

/// A write that waits for the log past the threshold is a `log-commit` event (writes held
/// back with DEBUG HOLD-COMMITS for 200 ms here), and DOCTOR points at the disk.
#[test]
fn writes_waiting_for_the_log_are_a_log_commit_event() {
    if common::durability_mode() == "none" {
        eprintln!("skipped: there is no log to wait for with durability none");
        return;
    }
    let server = Server::start();
    let mut con = server.client();
    config_set(&mut con, "latency-monitor-threshold", "100");
    let _: () = redis::cmd("SET").arg("a").arg("1").query(&mut con).unwrap();
    let latest: Vec<(String, i64, i64, i64)> =
        redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    assert!(latest.iter().all(|e| e.0 != "log-commit"), "{latest:?}");
    let _: () = redis::cmd("DEBUG")
        .arg("HOLD-COMMITS")
        .arg("1")
        .query(&mut con)
        .unwrap();
    let mut writer = server.raw();
    writer.send(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _: () = redis::cmd("DEBUG")
        .arg("HOLD-COMMITS")
        .arg("0")
        .query(&mut con)
        .unwrap();
    writer.roundtrip(b"", b"+OK\r\n");
    let latest: Vec<(String, i64, i64, i64)> =
        redis::cmd("LATENCY").arg("LATEST").query(&mut con).unwrap();
    let commit = latest
        .iter()
        .find(|e| e.0 == "log-commit")
        .unwrap_or_else(|| panic!("no log-commit event: {latest:?}"));
    assert!(commit.2 >= 200, "{commit:?}");
    let doctor: String = redis::cmd("LATENCY").arg("DOCTOR").query(&mut con).unwrap();
    assert!(doctor.contains("log-commit: 1 latency spikes"), "{doctor}");
    assert!(
        doctor.contains("- Try to lower the disk contention."),
        "{doctor}"
    );
}

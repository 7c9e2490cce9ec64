//! Restart recovery through the real binary: the log replays into memory, large values
//! that span several log records come back whole, and a log the server cannot trust
//! (corruption inside the acknowledged prefix, a newer engine version) stops it with a
//! message naming the problem (DESIGN.md invariants 5 and 6).

mod common;

use common::{free_port, temp_dir, Server};
use redis::Commands;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn start_on(dir: &Path) -> Server {
    Server::start_with(&[
        "--threads",
        "2",
        "--durability",
        "local",
        "--dir",
        dir.to_str().unwrap(),
    ])
}

/// Runs the server on `dir` expecting it to refuse to start; returns its stderr.
fn refused_start(dir: &Path) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast-server"))
        .args(["--port", &free_port().to_string(), "--threads", "2"])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on a log it must refuse");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "a refused start exits non-zero");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    stderr
}

fn segment_of(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "seg"))
        .expect("a segment file")
}

#[test]
fn a_restart_replays_every_acknowledged_write_including_values_larger_than_a_record() {
    let dir = temp_dir("replay");
    let big: Vec<u8> = (0..3 << 20).map(|i| (i % 251) as u8).collect();
    {
        let server = start_on(&dir);
        let mut con = server.client();
        let _: () = con.set("big", &big).unwrap();
        let _: () = con.set("small", "v").unwrap();
        let _: i64 = con.incr("counter", 5).unwrap();
        let _: () = redis::cmd("MSET")
            .arg(&["a", "1", "b", "2", "c", "3", "d", "4"])
            .query(&mut con)
            .unwrap();
        let _: () = redis::cmd("EXPIRE")
            .arg("small")
            .arg(1000)
            .query(&mut con)
            .unwrap();
        let _: i64 = con.del("c").unwrap();
        // Dropping the server SIGKILLs it: nothing but the log survives.
    }
    let server = start_on(&dir);
    let mut con = server.client();
    let back: Vec<u8> = con.get("big").unwrap();
    assert!(back == big, "the 3 MiB value came back whole");
    let small: String = con.get("small").unwrap();
    assert_eq!(small, "v");
    let ttl: i64 = con.ttl("small").unwrap();
    assert!((990..=1000).contains(&ttl), "the TTL is absolute: {ttl}");
    let counter: i64 = con.get("counter").unwrap();
    assert_eq!(counter, 5);
    let values: Vec<Option<String>> = con.mget(&["a", "b", "c", "d"]).unwrap();
    assert_eq!(
        values,
        [Some("1".into()), Some("2".into()), None, Some("4".into())]
    );
    let dbsize: i64 = redis::cmd("DBSIZE").query(&mut con).unwrap();
    assert_eq!(dbsize, 6);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn corruption_inside_the_acknowledged_prefix_stops_the_server_with_file_and_offset() {
    let dir = temp_dir("corrupt");
    {
        let server = start_on(&dir);
        let mut con = server.client();
        for i in 0..50 {
            let _: () = con.set(format!("k{i}"), "value").unwrap();
        }
    }
    let segment = segment_of(&dir);
    let mut bytes = std::fs::read(&segment).unwrap();
    // Inside the first record's payload: acknowledged data, followed by more records.
    bytes[40] ^= 0x40;
    std::fs::write(&segment, &bytes).unwrap();
    let stderr = refused_start(&dir);
    let name = segment.file_name().unwrap().to_string_lossy().to_string();
    assert!(
        stderr.contains("corrupt") && stderr.contains(&name) && stderr.contains("offset"),
        "the refusal names the damage: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_log_from_a_newer_engine_is_refused() {
    let dir = temp_dir("newer");
    {
        let server = start_on(&dir);
        let _: () = server.client().set("k", "v").unwrap();
    }
    let log_dir = dir.clone();
    glommio::LocalExecutorBuilder::default()
        .spawn(move || async move {
            use holdfast_log::storage::dma::DmaStorage;
            use holdfast_log::{Epoch, Log, LogConfig};
            let storage = DmaStorage::open(&log_dir).await.unwrap();
            let log = Log::open(storage, LogConfig::default()).await.unwrap();
            let flusher = log.clone();
            let flushing = glommio::spawn_local(async move { flusher.flusher().await });
            let future_version = u16::MAX;
            log.append(Epoch(1), future_version, 1, b"from the future")
                .await
                .unwrap()
                .await
                .unwrap();
            log.close();
            flushing.await.unwrap();
        })
        .unwrap()
        .join()
        .unwrap();
    let stderr = refused_start(&dir);
    assert!(
        stderr.contains("engine version 65535") && stderr.contains("newer"),
        "the refusal says why: {stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failed_log_fails_held_replies_shows_nothing_uncommitted_and_the_restart_recovers() {
    let dir = temp_dir("fail");
    let server = start_on(&dir);
    let mut admin = server.raw();
    admin.roundtrip(b"SET committed yes\r\n", b"+OK\r\n");
    admin.roundtrip(b"DEBUG HOLD-COMMITS 1\r\n", b"+OK\r\n");
    let mut writer = server.raw();
    writer.send(b"SET held value\r\n");
    // Let the SET execute first: a GET that ran before it would rightly answer nil.
    std::thread::sleep(Duration::from_millis(200));
    let mut reader = server.raw();
    reader.send(b"GET held\r\n");
    std::thread::sleep(Duration::from_millis(100));
    admin.roundtrip(b"DEBUG FAIL-LOG\r\n", b"+OK\r\n");
    for (who, con) in [("the write", &mut writer), ("the dirty read", &mut reader)] {
        let reply = String::from_utf8_lossy(&con.read_exactly(400)).to_string();
        assert!(
            reply.starts_with("-IOERR the transaction log failed"),
            "{who} got {reply:?}, not the log failure"
        );
    }
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(!status.success(), "a node whose log failed stops");
    let server = start_on(&dir);
    let mut con = server.client();
    let committed: Option<String> = con.get("committed").unwrap();
    assert_eq!(committed.as_deref(), Some("yes"));
    let held: Option<String> = con.get("held").unwrap();
    assert_eq!(
        held, None,
        "a write whose record never became durable is gone"
    );
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wait_and_waitaof_answer_for_the_durability_mode() {
    let dir = temp_dir("wait");
    let local = start_on(&dir);
    let mut raw = local.raw();
    raw.roundtrip(b"SET k v\r\n", b"+OK\r\n");
    // Every acknowledged write is fsynced locally; there are no replicas.
    raw.roundtrip(b"WAITAOF 1 0 0\r\n", b"*2\r\n:1\r\n:0\r\n");
    raw.roundtrip(b"WAIT 0 0\r\n", b":0\r\n");
    let started = Instant::now();
    raw.roundtrip(b"WAIT 1 150\r\n", b":0\r\n");
    assert!(
        started.elapsed() >= Duration::from_millis(150),
        "WAIT for a replica that does not exist waits out its timeout"
    );
    raw.roundtrip(b"WAIT 0 -1\r\n", b"-ERR timeout is negative\r\n");
    drop(local);
    let none = Server::start_with(&["--threads", "2", "--durability", "none"]);
    let mut raw = none.raw();
    raw.roundtrip(
        b"WAITAOF 1 0 0\r\n",
        b"-ERR WAITAOF cannot be used when numlocal is set but appendonly is disabled.\r\n",
    );
    raw.roundtrip(b"WAITAOF 0 0 0\r\n", b"*2\r\n:0\r\n:0\r\n");
    drop(none);
    let _ = std::fs::remove_dir_all(&dir);
}

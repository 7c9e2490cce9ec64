//! The server end to end through a real client: cross-core routing and atomic multi-key
//! commands over two cores.

mod common;
use common::Server;
use redis::Commands;

#[test]
fn get_set_across_cores_and_pipelines() {
    let server = Server::start();
    let mut con = server.client();
    for i in 0..200 {
        let _: () = con.set(format!("key:{i}"), i).unwrap();
    }
    for i in 0..200 {
        let v: i64 = con.get(format!("key:{i}")).unwrap();
        assert_eq!(v, i);
    }
    // A pipeline mixing keys of both cores: replies in request order.
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.set(format!("p:{i}"), i).ignore().get(format!("p:{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(values, (0..500).collect::<Vec<_>>());
}

#[test]
fn multi_key_commands_span_cores() {
    let server = Server::start();
    let mut con = server.client();
    let keys: Vec<String> = (0..50).map(|i| format!("m:{i}")).collect();
    let pairs: Vec<(String, i64)> = keys.iter().cloned().zip(0..).collect();
    let _: () = con.mset(&pairs).unwrap();
    let values: Vec<Option<i64>> = con.mget(&keys).unwrap();
    assert_eq!(values, (0..50).map(Some).collect::<Vec<_>>());
    let n: i64 = con.exists(&keys).unwrap();
    assert_eq!(n, 50);
    let n: i64 = con.del(&keys).unwrap();
    assert_eq!(n, 50);
}

/// No client can observe half of an MSET that spans cores: a reader repeatedly MGETs
/// the same keys while a writer MSETs them all to one value after another.
#[test]
fn mset_is_atomic_across_cores() {
    let server = Server::start();
    let keys: Vec<String> = (0..16).map(|i| format!("atomic:{i}")).collect();
    let mut writer = server.client();
    let init: Vec<(String, i64)> = keys.iter().map(|k| (k.clone(), 0)).collect();
    let _: () = writer.mset(&init).unwrap();
    let reader_keys = keys.clone();
    let url = server.url();
    let reader = std::thread::spawn(move || {
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        for _ in 0..2000 {
            let values: Vec<i64> = con.mget(&reader_keys).unwrap();
            assert!(
                values.iter().all(|v| *v == values[0]),
                "torn MSET observed: {values:?}"
            );
        }
    });
    for round in 1..2000 {
        let pairs: Vec<(String, i64)> = keys.iter().map(|k| (k.clone(), round)).collect();
        let _: () = writer.mset(&pairs).unwrap();
    }
    reader.join().unwrap();
}

/// INFO keyspace's avg_ttl is estimated by the active expiry cycle, as Redis does: with
/// only 100-second TTLs in the database it settles just under 100000 ms.
#[test]
fn info_keyspace_estimates_avg_ttl() {
    let server = Server::start();
    let mut con = server.client();
    for i in 0..100 {
        let _: () = redis::cmd("SET")
            .arg(format!("t:{i}"))
            .arg("v")
            .arg("EX")
            .arg(100)
            .query(&mut con)
            .unwrap();
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let info: String = redis::cmd("INFO").arg("keyspace").query(&mut con).unwrap();
        let line = info
            .lines()
            .find(|l| l.starts_with("db0:"))
            .expect("db0 line");
        let avg_ttl: u64 = line.rsplit("avg_ttl=").next().unwrap().parse().unwrap();
        assert!(line.starts_with("db0:keys=100,expires=100,"), "{line}");
        if avg_ttl > 0 {
            assert!((90_000..=100_000).contains(&avg_ttl), "{line}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "avg_ttl never estimated: {line}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// `timeout N` closes connections idle for more than N seconds, and only those.
#[test]
fn idle_clients_are_closed_after_timeout() {
    let server = Server::start();
    let mut admin = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("timeout")
        .arg(1)
        .query(&mut admin)
        .unwrap();
    let mut idle = server.raw();
    idle.roundtrip(b"PING\r\n", b"+PONG\r\n");
    let started = std::time::Instant::now();
    while started.elapsed() < std::time::Duration::from_millis(2600) {
        let _: String = redis::cmd("PING").query(&mut admin).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(idle.is_closed(), "the idle connection is still open");
    let _: String = redis::cmd("PING").query(&mut admin).unwrap();
}

/// A client whose unparsed input grows past client-query-buffer-limit is closed, as Redis
/// closes it; everyone else goes on.
#[test]
fn query_buffer_limit_closes_only_the_offender() {
    let server = Server::start();
    let mut admin = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-query-buffer-limit")
        .arg("1mb")
        .query(&mut admin)
        .unwrap();
    let mut greedy = server.raw();
    greedy.send(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4000000\r\n");
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..32 {
        if std::io::Write::write_all(&mut greedy.stream, &chunk).is_err() {
            break;
        }
    }
    assert!(
        greedy.is_closed(),
        "a 2 MiB incomplete request stayed open under a 1 MiB limit"
    );
    let _: String = redis::cmd("PING").query(&mut admin).unwrap();
    let exists: i64 = redis::cmd("EXISTS").arg("k").query(&mut admin).unwrap();
    assert_eq!(exists, 0);
}

/// The experimental network ring (`--net io-uring`) serves the same traffic: pipelines
/// across cores, replies larger than one send, CLIENT KILL, QUIT.
#[test]
fn the_io_uring_network_path_serves_pipelines_big_replies_and_kills() {
    let server = Server::start_with(&["--threads", "2", "--net", "io-uring"]);
    let mut con = server.client();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.set(format!("r:{i}"), i).ignore().get(format!("r:{i}"));
    }
    let values: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(values, (0..500).collect::<Vec<_>>());
    let big = vec![b'z'; 4 << 20];
    let _: () = con.set("big", &big).unwrap();
    let back: Vec<u8> = con.get("big").unwrap();
    assert_eq!(back, big);
    let mut victim = server.raw();
    victim.roundtrip(b"CLIENT SETNAME victim\r\n", b"+OK\r\n");
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("SKIPME")
        .arg("yes")
        .query(&mut con)
        .unwrap();
    assert!(killed >= 1);
    assert!(victim.is_closed(), "CLIENT KILL left the connection open");
    let mut quitter = server.raw();
    quitter.roundtrip(b"QUIT\r\n", b"+OK\r\n");
    assert!(quitter.is_closed());
    let _: String = redis::cmd("PING").query(&mut con).unwrap();
}

/// CLIENT PAUSE WRITE holds writes (scripts, PUBLISH) from every connection until it ends or
/// CLIENT UNPAUSE, while reads go on; ALL holds reads too.
#[test]
fn client_pause_holds_writes_or_everything() {
    use std::time::{Duration, Instant};
    let server = Server::start();
    let mut admin = server.client();
    let mut other = server.client();
    let timed = |con: &mut redis::Connection, cmd: &mut redis::Cmd| {
        let started = Instant::now();
        let _: redis::Value = cmd.query(con).unwrap();
        started.elapsed()
    };
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(400)
        .arg("WRITE")
        .query(&mut admin)
        .unwrap();
    assert!(timed(&mut other, redis::cmd("GET").arg("k")) < Duration::from_millis(200));
    let write = timed(&mut other, redis::cmd("SET").arg("k").arg("v"));
    assert!(
        write >= Duration::from_millis(300),
        "a write ran during the pause: {write:?}"
    );
    // Commands Redis may propagate are held like writes (PUBLISH, PFCOUNT).
    for (name, arg) in [("PUBLISH", "ch"), ("PFCOUNT", "hll")] {
        let _: () = redis::cmd("CLIENT")
            .arg("PAUSE")
            .arg(400)
            .arg("WRITE")
            .query(&mut admin)
            .unwrap();
        let held = timed(&mut other, redis::cmd(name).arg(arg).arg("m"));
        assert!(
            held >= Duration::from_millis(300),
            "{name} ran during a WRITE pause: {held:?}"
        );
    }
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(5000)
        .arg("WRITE")
        .query(&mut admin)
        .unwrap();
    let url = server.url();
    let unpauser = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
        let _: () = redis::cmd("CLIENT").arg("UNPAUSE").query(&mut con).unwrap();
    });
    let write = timed(&mut other, redis::cmd("EVAL").arg("return 1").arg(0));
    assert!(
        write < Duration::from_millis(3000),
        "UNPAUSE did not end the pause: {write:?}"
    );
    unpauser.join().unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(400)
        .query(&mut admin)
        .unwrap();
    let read = timed(&mut other, redis::cmd("GET").arg("k"));
    assert!(
        read >= Duration::from_millis(300),
        "a read ran during an ALL pause: {read:?}"
    );
}

/// Started with a soft limit of 256 open files, as some systems start processes with a
/// low one, the server raises it toward `maxclients` (Redis's adjustOpenFilesLimit, two
/// descriptors per client here) and takes 400 subscribers, each holding two.
#[test]
fn a_low_open_files_limit_is_raised_for_maxclients() {
    use std::os::unix::process::CommandExt;
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    assert_eq!(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut hard) },
        0
    );
    if hard.rlim_max < 1200 {
        eprintln!(
            "skipped: the hard open files limit ({}) leaves no room",
            hard.rlim_max
        );
        return;
    }
    let server = Server::start_adjusted(&["--threads", "2"], |command| {
        // SAFETY: setrlimit is async-signal-safe, as code between fork and exec must be.
        unsafe {
            command.pre_exec(|| {
                let mut low = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut low);
                low.rlim_cur = 256;
                if libc::setrlimit(libc::RLIMIT_NOFILE, &low) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", server.pid())).unwrap();
    let soft: u64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .expect("a soft open files limit");
    // maxclients 10000: two descriptors each, 32 reserved and 16 per core.
    let wanted = (2 * 10_000 + 32 + 2 * 16).min(hard.rlim_max);
    assert_eq!(soft, wanted, "{limits}");
    let mut clients: Vec<_> = (0..400).map(|_| server.raw()).collect();
    for client in &mut clients {
        client.roundtrip(
            b"*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n",
            b"*3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n",
        );
    }
    // Each subscriber's second handle is made as it next reads.
    for client in &mut clients {
        client.roundtrip(b"*1\r\n$4\r\nPING\r\n", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n");
    }
}

/// Under a hard open files limit of 300, `maxclients` is lowered at start to what fits
/// (300 less 32 reserved and 16 per core), and CONFIG SET refuses more with Redis's text
/// (redis-server 7.0.15 under `prlimit --nofile=300:300` says the same, with its own
/// count: "... try with 268"), keeping the old value.
#[test]
fn maxclients_fits_the_hard_open_files_limit() {
    use std::os::unix::process::CommandExt;
    let server = Server::start_adjusted(&["--threads", "2"], |command| {
        // SAFETY: setrlimit is async-signal-safe, as code between fork and exec must be.
        unsafe {
            command.pre_exec(|| {
                let low = libc::rlimit {
                    rlim_cur: 300,
                    rlim_max: 300,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &low) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    });
    let mut con = server.client();
    let get = |con: &mut redis::Connection| -> Vec<String> {
        redis::cmd("CONFIG")
            .arg("GET")
            .arg("maxclients")
            .query(con)
            .unwrap()
    };
    assert_eq!(get(&mut con), ["maxclients", "236"]);
    let refused: redis::RedisResult<()> = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("10000")
        .query(&mut con);
    let text = refused.unwrap_err().to_string();
    assert!(
        text.contains("CONFIG SET failed (possibly related to argument 'maxclients') - The operating system is not able to handle the specified number of clients, try with 236"),
        "{text}"
    );
    assert_eq!(get(&mut con), ["maxclients", "236"]);
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxclients")
        .arg("100")
        .query(&mut con)
        .unwrap();
    assert_eq!(get(&mut con), ["maxclients", "100"]);
}

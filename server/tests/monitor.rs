//! MONITOR with connections on both cores (`--threads 2`), compared with redis-server:
//!
//! - the same commands give the same lines (time and client address aside, whose shape
//!   is checked): Redis's quoting and escaping, AUTH and HELLO AUTH redacted, admin
//!   commands and refused commands hidden, queued commands shown at EXEC, EVAL before the
//!   `[db lua]` lines of the commands its script calls, SELECT with its new database;
//! - every monitor, on either core, gets every connection's commands, in the order each
//!   connection ran them;
//! - a monitor that stops reading is disconnected at its output limit instead of growing
//!   the server's memory (DESIGN.md invariant 7: one bad client costs nothing but itself).

mod common;
use common::{RedisServer, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// A connection that sent MONITOR, read line by line.
struct Monitor {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Monitor {
    fn start(port: u16) -> Monitor {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let mut monitor = Monitor {
            stream,
            buf: Vec::new(),
        };
        monitor.stream.write_all(b"MONITOR\r\n").unwrap();
        assert_eq!(monitor.line(Duration::from_secs(5)).as_deref(), Some("+OK"));
        monitor
    }

    /// The next line within `wait`.
    fn line(&mut self, wait: Duration) -> Option<String> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Some(line);
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(_) => {}
            }
        }
    }

    /// Lines until none came for `quiet`.
    fn drain(&mut self, quiet: Duration) -> Vec<String> {
        std::iter::from_fn(|| self.line(quiet)).collect()
    }
}

/// `+<seconds>.<6 digits> [<db> <source>] <args>` with the time checked and dropped, and
/// a client address checked to be `addr` and replaced by `client`.
fn normalized(line: &str, addr: &str) -> String {
    let rest = line
        .strip_prefix('+')
        .expect("a monitor line starts with +");
    let (time, rest) = rest.split_once(' ').unwrap();
    let (seconds, micros) = time.split_once('.').unwrap();
    assert!(seconds.parse::<u64>().unwrap() > 1_600_000_000, "{line}");
    assert!(micros.len() == 6 && micros.parse::<u32>().is_ok(), "{line}");
    let rest = rest.strip_prefix('[').unwrap();
    let (source, args) = rest.split_once("] ").unwrap();
    let (db, source) = source.split_once(' ').unwrap();
    let source = match source {
        "lua" => "lua",
        other => {
            assert_eq!(other, addr, "{line}");
            "client"
        }
    };
    format!("[{db} {source}] {args}")
}

/// Requests whose MONITOR output is compared: escaping, redaction, hidden commands,
/// transactions, scripts, databases.
const REQUESTS: &[&[u8]] = &[
    b"PING\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$5\r\nx\"y\\z\r\n",
    b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$8\r\n\x01\n\t\xff\r\x07\x08 \r\n",
    b"SELECT 2\r\n",
    b"GET a\r\n",
    b"SELECT 0\r\n",
    b"AUTH secret\r\n",
    b"HELLO 2 AUTH user pass SETNAME n\r\n",
    b"HELLO 2\r\n",
    b"CONFIG GET port\r\n",
    b"SLOWLOG LEN\r\n",
    b"NOSUCHCOMMAND x\r\n",
    b"GET\r\n",
    b"LPUSH a x\r\n",
    b"MULTI\r\n",
    b"SET k 1\r\n",
    b"INCR k\r\n",
    b"EXEC\r\n",
    b"EVAL \"redis.call('set', KEYS[1], ARGV[1]); return redis.call('get', KEYS[1])\" 1 s v\r\n",
    b"CLIENT ID\r\n",
    b"DEL a b k s\r\n",
];

/// What a monitor shows for REQUESTS sent on one connection.
fn monitor_lines(port: u16) -> Vec<String> {
    let mut monitor = Monitor::start(port);
    let mut client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let addr = client.local_addr().unwrap().to_string();
    let mut sink = [0u8; 4096];
    for request in REQUESTS {
        client.write_all(request).unwrap();
        // One reply at a time, so each command runs before the next is sent.
        let _ = client.read(&mut sink);
    }
    monitor
        .drain(Duration::from_millis(300))
        .iter()
        .map(|line| normalized(line, &addr))
        .collect()
}

#[test]
fn lines_are_what_redis_shows() {
    let Some(redis) = RedisServer::start(&[]) else {
        eprintln!("redis-server is not installed: nothing to compare with");
        return;
    };
    let expected = monitor_lines(redis.port);
    let server = Server::start();
    let got = monitor_lines(server.port);
    assert_eq!(got, expected);
    assert!(expected.len() >= 15, "too few lines: {expected:?}");
}

#[test]
fn every_monitor_sees_each_connection_in_order() {
    const CLIENTS: usize = 3;
    const COMMANDS: usize = 200;
    let server = Server::start();
    let mut monitors: Vec<_> = (0..4).map(|_| Monitor::start(server.port)).collect();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| {
            let url = server.url();
            std::thread::spawn(move || {
                let mut con = redis::Client::open(url).unwrap().get_connection().unwrap();
                for seq in 0..COMMANDS {
                    // Keys spread over both cores, so commands run on either.
                    let _: () = redis::cmd("SET")
                        .arg(format!("key:{seq}"))
                        .arg(format!("{id}:{seq}"))
                        .query(&mut con)
                        .unwrap();
                }
            })
        })
        .collect();
    clients.into_iter().for_each(|c| c.join().unwrap());
    for monitor in &mut monitors {
        let mut next = [0usize; CLIENTS];
        let deadline = Instant::now() + Duration::from_secs(20);
        while next.iter().sum::<usize>() < CLIENTS * COMMANDS && Instant::now() < deadline {
            let Some(line) = monitor.line(Duration::from_secs(1)) else {
                continue;
            };
            // The client library's own handshake (CLIENT SETINFO...) is not counted.
            if !line.contains("\"SET\" \"key:") {
                continue;
            }
            let value = line.rsplit(' ').next().unwrap().trim_matches('"');
            let (id, seq) = value.split_once(':').unwrap();
            let (id, seq): (usize, usize) = (id.parse().unwrap(), seq.parse().unwrap());
            assert_eq!(seq, next[id], "client {id}'s commands out of order: {line}");
            next[id] += 1;
        }
        assert_eq!(next, [COMMANDS; CLIENTS], "a monitor missed commands");
    }
}

#[test]
fn a_monitor_that_does_not_read_is_disconnected() {
    let server = Server::start();
    let mut con = server.client();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg("normal 1mb 0 0")
        .query(&mut con)
        .unwrap();
    let mut slow = Monitor::start(server.port);
    let big = "x".repeat(100_000);
    for i in 0..300 {
        let _: () = redis::cmd("SET")
            .arg(format!("big:{i}"))
            .arg(&big)
            .query(&mut con)
            .unwrap();
    }
    // 30 MB of lines were fed: far past the limit and what socket buffers hold.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut closed = false;
    let mut received = 0usize;
    while Instant::now() < deadline {
        let mut chunk = [0u8; 65536];
        match slow.stream.read(&mut chunk) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(n) => received += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                closed = true;
                break;
            }
            Err(_) => {}
        }
    }
    assert!(closed, "the slow monitor is still connected");
    assert!(
        received < 30_000_000,
        "it received everything: {received} bytes"
    );
    let pong: String = redis::cmd("PING").query(&mut con).unwrap();
    assert_eq!(
        pong, "PONG",
        "the server serves others after cutting the monitor off"
    );
}

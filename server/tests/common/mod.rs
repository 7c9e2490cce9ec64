//! Starting the real `holdfast-server` binary for integration tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub port: u16,
    child: Child,
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Server {
    /// Starts the server with `--threads 2` (keys spread over two cores).
    pub fn start() -> Server {
        Server::start_with(&["--threads", "2"])
    }

    pub fn start_with(extra: &[&str]) -> Server {
        Server::launch(&[&["--durability", "none"], extra].concat())
    }

    /// Starts the server on the data directory `dir` with `--durability MODE --threads 2`,
    /// and returns once it accepts clients, which for a durable server is after it
    /// replayed the log. MODE is `local` unless `HOLDFAST_TEST_DURABILITY` names another
    /// (`none` shows that the durability tests fail without a log).
    pub fn start_durable(dir: &std::path::Path) -> Server {
        let mode = durability_mode();
        let dir = dir.to_str().expect("a UTF-8 temporary path");
        let mut server = Server::launch(&["--durability", &mode, "--dir", dir, "--threads", "2"]);
        server.wait_loaded();
        server
    }

    /// Waits until the log is replayed: until then the server accepts connections but
    /// answers commands that touch data (PING too, as in Redis) with -LOADING.
    fn wait_loaded(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut raw = self.raw();
        loop {
            raw.send(b"PING\r\n");
            let mut line = Vec::new();
            let mut byte = [0u8; 1];
            while !line.ends_with(b"\r\n") {
                match raw.stream.read(&mut byte) {
                    Ok(1) => line.push(byte[0]),
                    failed => {
                        std::thread::sleep(Duration::from_millis(100));
                        panic!(
                            "PING while loading: {failed:?}, holdfast-server {:?}",
                            self.child.try_wait()
                        );
                    }
                }
            }
            if line == b"+PONG\r\n" {
                return;
            }
            assert!(
                line.starts_with(b"-LOADING"),
                "PING while loading replied {:?}",
                String::from_utf8_lossy(&line)
            );
            assert!(
                Instant::now() < deadline,
                "holdfast-server still loading after 60 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn launch(args: &[&str]) -> Server {
        let port = free_port();
        let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast-server"))
            .args(["--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start holdfast-server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("holdfast-server {args:?} exited before listening: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "holdfast-server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Server { port, child }
    }

    /// SIGKILL: the process gets no chance to flush or close anything, as in a crash.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL holdfast-server");
        self.child.wait().expect("reap holdfast-server");
    }

    /// Waits for the process to exit on its own (after SHUTDOWN), up to `timeout`.
    pub fn wait_exit(mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("poll holdfast-server") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "holdfast-server did not exit within {timeout:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(self.url())
            .unwrap()
            .get_connection()
            .unwrap()
    }

    pub fn raw(&self) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        Raw { stream }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The durability mode `start_durable` asks for: `local`, or `HOLDFAST_TEST_DURABILITY`.
pub fn durability_mode() -> String {
    std::env::var("HOLDFAST_TEST_DURABILITY").unwrap_or_else(|_| "local".into())
}

/// A fresh, empty directory under the system's temporary directory, removed on drop.
pub struct TempDir {
    pub path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("holdfast-test-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create a temporary data directory");
        TempDir { path }
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// A raw TCP connection for protocol-level tests.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads until `expected_len` bytes arrived (or the timeout), returning what came.
    pub fn read_exactly(&mut self, expected_len: usize) -> Vec<u8> {
        let mut out = vec![0u8; expected_len];
        let mut got = 0;
        while got < expected_len {
            match self.stream.read(&mut out[got..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        out.truncate(got);
        out
    }

    /// Sends `request` and expects exactly `reply` back.
    pub fn roundtrip(&mut self, request: &[u8], reply: &[u8]) {
        self.send(request);
        let got = self.read_exactly(reply.len());
        assert_eq!(
            String::from_utf8_lossy(&got),
            String::from_utf8_lossy(reply),
            "reply to {:?}",
            String::from_utf8_lossy(request)
        );
    }

    /// True when the server closed the connection.
    pub fn is_closed(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(self.stream.read(&mut byte), Ok(0))
    }
}

/// A redis-server of our own on a free port, without persistence: the reference the
/// differential and protocol tests compare with.
pub struct RedisServer {
    pub port: u16,
    child: Child,
}

impl RedisServer {
    /// None when redis-server cannot be started (not installed).
    pub fn start(extra: &[&str]) -> Option<RedisServer> {
        let port = free_port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .ok()?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Some(RedisServer { port, child })
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! Starting the real `holdfast-server` binary for integration tests.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub port: u16,
    child: Child,
    /// The log directory (removed on drop), unless the test chose its own durability.
    dir: Option<std::path::PathBuf>,
}

/// A fresh, empty directory for one server's log.
pub fn temp_dir(what: &str) -> std::path::PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir().join(format!(
        "holdfast-test-{what}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
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

    /// Starts the server with `extra` flags. Unless they name a durability, it runs with
    /// the default, `local`, in a temporary log directory: every integration test then
    /// exercises the durable path (records, reply ring, watermark).
    pub fn start_with(extra: &[&str]) -> Server {
        let dir = (!extra.contains(&"--durability")).then(|| temp_dir("server"));
        let dir_arg = dir
            .as_ref()
            .map(|d| d.to_str().expect("a UTF-8 path").to_owned());
        let mut args: Vec<&str> = extra.to_vec();
        if let Some(dir_arg) = &dir_arg {
            args.extend(["--dir", dir_arg]);
        }
        Server::launch(&args, dir)
    }

    /// Starts the server on the data directory `dir` (which the caller keeps, to restart
    /// on it) with `--durability MODE --threads 2`. MODE is `local` unless
    /// `HOLDFAST_TEST_DURABILITY` names another (`none` shows that the durability tests
    /// fail without a log).
    pub fn start_durable(dir: &std::path::Path) -> Server {
        let mode = durability_mode();
        let dir = dir.to_str().expect("a UTF-8 temporary path");
        Server::launch(
            &["--durability", &mode, "--dir", dir, "--threads", "2"],
            None,
        )
    }

    fn launch(args: &[&str], dir: Option<std::path::PathBuf>) -> Server {
        Self::launch_adjusted(args, dir, |_| {})
    }

    /// Starts the server with `--durability none` and `extra` flags, its command adjusted
    /// first (a limit set before exec, say).
    pub fn start_adjusted(extra: &[&str], adjust: impl FnOnce(&mut Command)) -> Server {
        let mut args = vec!["--durability", "none"];
        args.extend_from_slice(extra);
        Self::launch_adjusted(&args, None, adjust)
    }

    fn launch_adjusted(
        args: &[&str],
        dir: Option<std::path::PathBuf>,
        adjust: impl FnOnce(&mut Command),
    ) -> Server {
        let port = free_port();
        let mut command = Command::new(env!("CARGO_BIN_EXE_holdfast-server"));
        command
            .args(["--port", &port.to_string()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        adjust(&mut command);
        let child = command.spawn().expect("start holdfast-server");
        let mut server = Server { port, child, dir };
        server.wait_ready();
        server
    }

    /// Waits until the server accepts connections and has finished replaying its log
    /// (until then it answers PING, as Redis does, with -LOADING).
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("holdfast-server exited before it was ready: {status}");
            }
            assert!(
                Instant::now() < deadline,
                "holdfast-server did not become ready"
            );
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut reply = [0u8; 64];
                if stream.write_all(b"PING\r\n").is_ok() {
                    if let Ok(n) = stream.read(&mut reply) {
                        if reply[..n].starts_with(b"+PONG") {
                            return;
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
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
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// The durability mode `start_durable` asks for: `local`, or `HOLDFAST_TEST_DURABILITY`.
pub fn durability_mode() -> String {
    std::env::var("HOLDFAST_TEST_DURABILITY").unwrap_or_else(|_| "local".into())
}

/// A data directory that outlives the servers started on it (restarts replay it), and is
/// removed when the test ends.
pub struct TempDir {
    pub path: std::path::PathBuf,
}

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        TempDir {
            path: temp_dir(what),
        }
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

    pub fn client(&self) -> redis::Connection {
        redis::Client::open(format!("redis://127.0.0.1:{}/", self.port))
            .unwrap()
            .get_connection()
            .unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

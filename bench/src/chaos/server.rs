//! The server under attack: one `holdfast-server` (or `redis-server`, to check the harness
//! itself and workloads Holdfast cannot run yet) on a fixed port and data directory,
//! which the nemesis kills and restarts (same --dir, so the restart replays the log),
//! and pauses and resumes.

use super::error::Error;
use crate::command_line::CommandLine;
use crate::resp::{Connection, Reply};
use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// How long a start or restart (including the log replay) may take before it is a failure.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the server may take to exit after SIGTERM at the end of the run.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct ServerUnderTest {
    pub command: CommandLine,
    pub port: u16,
    /// Where the server's stdout and stderr go, appended over restarts.
    log_path: PathBuf,
    child: Option<Child>,
    paused: bool,
}

impl ServerUnderTest {
    /// The server `command` listening on `port`, its output in `run_dir/server.log`.
    pub fn new(command: CommandLine, port: u16, run_dir: &Path) -> ServerUnderTest {
        ServerUnderTest {
            command,
            port,
            log_path: run_dir.join("server.log"),
            child: None,
            paused: false,
        }
    }

    /// holdfast-server `bin` with its log in `data_dir`; `durability` is the
    /// `--durability` mode, `threads` the core count.
    pub fn holdfast(
        bin: &Path,
        durability: &str,
        threads: usize,
        port: u16,
        data_dir: &Path,
    ) -> CommandLine {
        CommandLine::new(bin).args([
            "--durability".to_string(),
            durability.to_string(),
            "--dir".to_string(),
            data_dir.display().to_string(),
            "--port".to_string(),
            port.to_string(),
            "--threads".to_string(),
            threads.to_string(),
        ])
    }

    /// redis-server `bin` with its AOF in `data_dir`: `local` durability is
    /// `appendfsync always` (a write is fsynced before its reply), `none` no AOF at all.
    pub fn redis(bin: &Path, durability: &str, port: u16, data_dir: &Path) -> CommandLine {
        let aof = if durability == "none" { "no" } else { "yes" };
        CommandLine::new(bin).args([
            "--port".to_string(),
            port.to_string(),
            "--bind".to_string(),
            "127.0.0.1".to_string(),
            "--dir".to_string(),
            data_dir.display().to_string(),
            "--save".to_string(),
            String::new(),
            "--appendonly".to_string(),
            aof.to_string(),
            "--appendfsync".to_string(),
            "always".to_string(),
        ])
    }

    /// Starts the server (again) and returns once it answers PING with PONG, that is,
    /// once its log replay has finished (until then it answers -LOADING).
    pub fn start(&mut self) -> Result<(), Error> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(Error::io(format!("opening {}", self.log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(Error::io("duplicating the log file"))?;
        let child = self
            .command
            .to_command()
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(Error::io(format!("starting {}", self.command)))?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                self.child = None;
                return Err(self.failure(format!("exited during start-up ({status})")));
            }
            if self.answers_ping() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.failure(format!("not ready within {READY_TIMEOUT:?}")));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        Connection::connect(self.port, Duration::from_secs(1))
            .and_then(|mut conn| conn.call(&[b"PING"]))
            .is_ok_and(|reply| reply == Reply::Simple("PONG".to_string()))
    }

    fn signal(&self, signal: libc::c_int) {
        if let Some(child) = &self.child {
            // SAFETY: kill only sends a signal to our own child, which we have not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, signal) };
        }
    }

    /// SIGKILL, as a crash: nothing is flushed or closed.
    pub fn kill(&mut self) -> Result<(), Error> {
        self.signal(libc::SIGKILL);
        self.paused = false;
        if let Some(mut child) = self.child.take() {
            child
                .wait()
                .map_err(Error::io("reaping the killed server"))?;
        }
        Ok(())
    }

    /// SIGSTOP: the process holds its sockets but runs nothing until [`Self::resume`].
    pub fn pause(&mut self) {
        self.signal(libc::SIGSTOP);
        self.paused = true;
    }

    pub fn resume(&mut self) {
        self.signal(libc::SIGCONT);
        self.paused = false;
    }

    /// Whether the process is running and not paused: what the final reads need.
    pub fn check_alive(&mut self) -> Result<(), Error> {
        if self.paused {
            self.resume();
        }
        match self.child.as_mut().map(Child::try_wait) {
            Some(Ok(None)) => Ok(()),
            Some(Ok(Some(status))) => {
                self.child = None;
                Err(self.failure(format!("exited on its own ({status})")))
            }
            Some(Err(e)) => Err(Error::io("checking on the server")(e)),
            None => Err(self.failure("is not running".to_string())),
        }
    }

    /// SIGTERM, then SIGKILL if it does not exit in time.
    pub fn stop(&mut self) {
        self.resume();
        self.signal(libc::SIGTERM);
        let Some(mut child) = self.child.take() else {
            return;
        };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// An error naming the command, with the end of the server's output.
    pub fn failure(&self, detail: String) -> Error {
        let log = fs::read_to_string(&self.log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Error::Server(format!(
            "the server {detail}\n  command: {}\n  log tail:\n    {}",
            self.command,
            tail.join("\n    ")
        ))
    }

    /// Where the server's output is.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

impl Drop for ServerUnderTest {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Creates `dir` (and its parents) for a run's files, with the server's `data/` inside:
/// `--durability none` does not create its --dir (as Redis's `dir`, it must exist).
pub fn create_dir(dir: &Path) -> Result<(), Error> {
    let data = dir.join("data");
    fs::create_dir_all(&data).map_err(Error::io(format!("creating {}", data.display())))?;
    File::create(dir.join("server.log"))
        .map(drop)
        .map_err(Error::io(format!(
            "creating {}",
            dir.join("server.log").display()
        )))
}

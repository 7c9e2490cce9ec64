//! The servers under comparison: the kinds of server `compare` knows (one table row
//! each), finding the programs, starting one pinned server at a time in its own scratch
//! directory on its own port, and stopping it again.
//!
//! A kind is an engine (redis-server or holdfast-server) and the flags that choose its
//! persistence; everything else about how a server starts (port, bind, pinning, threads)
//! is the same for every kind of an engine, so kinds differ in durability alone.

use super::error::Error;
use super::generators::Client;
use super::options::CompareArgs;
use crate::command_line::{cpu_list, CommandLine};
use crate::resp::{Connection, Reply};
use std::fmt;
use std::fs::{self, File};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// How long a server may take to answer PING after it is started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a server may take to exit after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// What `apt-get` installs both redis-server and redis-benchmark from.
const REDIS_PACKAGES: &str = "apt-get install redis-server redis-tools";
/// In a kind's flags, replaced by the server's own scratch directory.
const DIR: &str = "{dir}";

/// The program a kind of server runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Redis,
    Holdfast,
}

/// A kind of server `compare` can start: an engine and its persistence flags.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Kind {
    /// The `--servers` spelling.
    pub name: &'static str,
    /// The name in report tables and chart legends.
    pub title: &'static str,
    pub engine: Engine,
    /// Flags after the common ones; [`DIR`] stands for the scratch directory.
    pub flags: &'static [&'static str],
    /// Whether acknowledged writes survive a crash of the process (fsync before the
    /// reply, or within a second for `everysec`): such kinds need a real disk.
    pub persists: bool,
    /// What `--help` says about it.
    pub help: &'static str,
}

/// Every kind, in the default order of a round. Adding one (e.g. Holdfast's
/// `--durability quorum`) is one row here.
pub const KINDS: [Kind; 5] = [
    Kind {
        name: "holdfast-none",
        title: "Holdfast none",
        engine: Engine::Holdfast,
        flags: &["--durability", "none"],
        persists: false,
        help: "holdfast-server --durability none: in memory only",
    },
    Kind {
        name: "holdfast-local",
        title: "Holdfast local",
        engine: Engine::Holdfast,
        flags: &["--durability", "local", "--dir", DIR],
        persists: true,
        help: "holdfast-server --durability local: acknowledged after the local log's fdatasync",
    },
    Kind {
        name: "redis",
        title: "Redis",
        engine: Engine::Redis,
        flags: &["--save", "", "--appendonly", "no"],
        persists: false,
        help: "redis-server without persistence (no RDB, no AOF)",
    },
    Kind {
        name: "redis-everysec",
        title: "Redis AOF everysec",
        engine: Engine::Redis,
        flags: &[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--dir",
            DIR,
        ],
        persists: true,
        help: "redis-server --appendonly yes --appendfsync everysec: AOF fsynced once a second",
    },
    Kind {
        name: "redis-always",
        title: "Redis AOF always",
        engine: Engine::Redis,
        flags: &[
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            DIR,
        ],
        persists: true,
        help: "redis-server --appendonly yes --appendfsync always: AOF fsynced before each reply",
    },
];

/// Older spellings still accepted by `--servers`: `holdfast` was the only Holdfast kind
/// before durability modes.
const ALIASES: [(&str, &str); 1] = [("holdfast", "holdfast-none")];

impl Kind {
    /// The kind named `name` (or one of its aliases).
    pub fn named(name: &str) -> Option<Kind> {
        let name = ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map_or(name, |(_, kind)| kind);
        KINDS.iter().copied().find(|k| k.name == name)
    }

    /// The name used in report tables.
    pub fn title(self) -> &'static str {
        self.title
    }
}

impl clap::ValueEnum for Kind {
    fn value_variants<'a>() -> &'a [Self] {
        &KINDS
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        let aliases = ALIASES
            .iter()
            .filter(|(_, kind)| *kind == self.name)
            .map(|(alias, _)| *alias);
        Some(
            clap::builder::PossibleValue::new(self.name)
                .help(self.help)
                .aliases(aliases),
        )
    }
}

/// The command-line spelling (`--servers redis,holdfast-none`).
impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// The programs a comparison runs, resolved to paths before anything starts.
#[derive(Clone, Debug)]
pub struct Tools {
    pub redis_server: PathBuf,
    pub redis_benchmark: PathBuf,
    pub taskset: PathBuf,
    pub holdfast: PathBuf,
    /// Where each server's scratch directory is made (`--data-dir`).
    pub data_dir: PathBuf,
    /// The generators beside redis-benchmark that were asked for and found, with paths.
    pub generators: Vec<(Client, PathBuf)>,
    /// One line per generator asked for but not found, for stderr and the report.
    pub skipped: Vec<String>,
}

impl Tools {
    /// Finds every program the comparison needs, or says how to install the first
    /// missing one. holdfast-server is only required when it is being compared.
    pub fn find(args: &CompareArgs) -> Result<Tools, Error> {
        let missing = |tool: &Path, install| Error::MissingTool {
            tool: tool.display().to_string(),
            install,
        };
        let redis_server =
            which(&args.redis_server).ok_or_else(|| missing(&args.redis_server, REDIS_PACKAGES))?;
        let redis_benchmark = which(&args.redis_benchmark)
            .ok_or_else(|| missing(&args.redis_benchmark, REDIS_PACKAGES))?;
        let taskset = which(Path::new("taskset"))
            .ok_or_else(|| missing(Path::new("taskset"), "apt-get install util-linux"))?;
        let holdfast = args.servers.iter().any(|k| k.engine == Engine::Holdfast);
        if holdfast && !args.holdfast_bin.is_file() {
            return Err(Error::MissingHoldfast(args.holdfast_bin.clone()));
        }
        let (generators, skipped) = generators(args)?;
        Ok(Tools {
            redis_server,
            redis_benchmark,
            taskset,
            holdfast: args.holdfast_bin.clone(),
            data_dir: args.data_dir.clone().unwrap_or_else(std::env::temp_dir),
            generators,
            skipped,
        })
    }

    /// The first line `PROGRAM --version` prints, for the report.
    pub fn version(&self, engine: Engine) -> String {
        Command::new(self.program(engine))
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .ok()
            .and_then(|out| {
                let text = String::from_utf8_lossy(&out.stdout);
                text.lines().next().map(str::to_string)
            })
            .unwrap_or_else(|| "unknown (--version failed)".to_string())
    }
}

impl Tools {
    /// The server program of `engine`.
    pub fn program(&self, engine: Engine) -> &Path {
        match engine {
            Engine::Redis => &self.redis_server,
            Engine::Holdfast => &self.holdfast,
        }
    }
}

/// holdfast-bench is this very program; memtier_benchmark is optional, and a missing one
/// is a skip line, not an error.
type Generators = (Vec<(Client, PathBuf)>, Vec<String>);

/// The generators of `--clients` beside redis-benchmark, and skip lines for the missing.
fn generators(args: &CompareArgs) -> Result<Generators, Error> {
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    for &client in &args.clients {
        if found.iter().any(|(c, _)| *c == client) {
            continue;
        }
        match client {
            Client::RedisBenchmark => {}
            Client::HoldfastBench => found.push((
                client,
                std::env::current_exe()
                    .map_err(Error::io("finding this program (holdfast-bench) to run it"))?,
            )),
            Client::Memtier => match which(&args.memtier_benchmark) {
                Some(path) => found.push((client, path)),
                None => skipped.push(format!(
                    "memtier_benchmark skipped: {} is not installed (not found on PATH); \
                     build it from https://github.com/RedisLabs/memtier_benchmark or give \
                     --memtier-benchmark PATH",
                    args.memtier_benchmark.display()
                )),
            },
        }
    }
    Ok((found, skipped))
}

/// `program` itself when it names a path, else the first executable of that name on PATH.
fn which(program: &Path) -> Option<PathBuf> {
    let executable = |path: &Path| {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 {
        return executable(program).then(|| program.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

/// Where a server runs: the CPUs it is pinned to and (Holdfast only) its thread count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub cpus: Vec<usize>,
    pub threads: usize,
}

/// The exact command that starts `kind` on `port` with its data in `dir`, pinned with
/// taskset. Redis is single-threaded, so `placement.threads` only applies to Holdfast.
pub fn server_command(
    kind: Kind,
    tools: &Tools,
    placement: &Placement,
    port: u16,
    dir: &Path,
) -> CommandLine {
    let port = port.to_string();
    let program = CommandLine::new(tools.program(kind.engine));
    let common = match kind.engine {
        Engine::Redis => program.args(["--port", &port, "--bind", "127.0.0.1"]),
        Engine::Holdfast => program.args([
            "--threads".to_string(),
            placement.threads.to_string(),
            "--cpus".to_string(),
            cpu_list(&placement.cpus),
            "--port".to_string(),
            port,
        ]),
    };
    let dir = dir.display().to_string();
    let flags = kind.flags.iter().map(|&flag| {
        if flag == DIR {
            dir.clone()
        } else {
            flag.to_string()
        }
    });
    common
        .args(flags)
        .pinned(&tools.taskset, Some(&placement.cpus))
}

/// Whether `dir` is on tmpfs, where fsync returns at once and persistence costs nothing.
pub fn on_tmpfs(dir: &Path) -> bool {
    let Ok(path) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // SAFETY: statfs reads the NUL-terminated path and writes only into the struct we pass.
    let (result, stat) = unsafe {
        let mut stat: libc::statfs = std::mem::zeroed();
        (libc::statfs(path.as_ptr(), &mut stat), stat)
    };
    result == 0 && stat.f_type == libc::TMPFS_MAGIC
}

/// A directory of its own for one server run, removed when dropped.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn create(kind: Kind, parent: &Path) -> Result<ScratchDir, Error> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "holdfast-bench-{}-{kind}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let path = parent.join(name);
        fs::create_dir_all(&path).map_err(Error::io(format!("creating {}", path.display())))?;
        Ok(ScratchDir(path))
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16, Error> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(Error::io("finding a free port"))
}

/// A started server; stopped (SIGTERM, then SIGKILL) by [`RunningServer::stop`] or on drop.
pub struct RunningServer {
    pub kind: Kind,
    pub port: u16,
    pub command: CommandLine,
    child: Child,
    stopped: bool,
    dir: ScratchDir,
}

impl RunningServer {
    /// Starts `kind` and returns once it answers PING.
    pub fn start(kind: Kind, tools: &Tools, placement: &Placement) -> Result<RunningServer, Error> {
        let dir = ScratchDir::create(kind, &tools.data_dir)?;
        let port = free_port()?;
        let command = server_command(kind, tools, placement, port, &dir.0);
        let log_path = dir.0.join("server.log");
        let log = File::create(&log_path)
            .map_err(Error::io(format!("creating {}", log_path.display())))?;
        let log_err = log
            .try_clone()
            .map_err(Error::io("duplicating the log file"))?;
        let child = command
            .to_command()
            .current_dir(&dir.0)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(Error::io(format!("starting {command}")))?;
        let mut server = RunningServer {
            kind,
            port,
            command,
            child,
            stopped: false,
            dir,
        };
        server.wait_ready()?;
        Ok(server)
    }

    /// The server's own pid: taskset execs the server, so it is the child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn wait_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.stopped = true;
                return Err(self.failure(format!("exited during start-up ({status})")));
            }
            if self.answers_ping() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.failure(format!(
                    "did not answer PING on port {} within {START_TIMEOUT:?}",
                    self.port
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn answers_ping(&self) -> bool {
        Connection::connect(self.port, Duration::from_secs(1))
            .and_then(|mut conn| conn.call(&[b"PING"]))
            .is_ok_and(|reply| reply == Reply::Simple("PONG".to_string()))
    }

    /// An error naming the server and command, with the end of its log.
    pub fn failure(&self, detail: String) -> Error {
        let log = fs::read_to_string(self.dir.0.join("server.log")).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        Error::Server {
            server: self.kind.title().to_string(),
            detail: format!(
                "{detail}\n  command: {}\n  log tail:\n    {}",
                self.command,
                tail.join("\n    ")
            ),
        }
    }

    /// Asks the server to exit (SIGTERM) and waits; kills it if it does not.
    pub fn stop(mut self) -> Result<(), Error> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), Error> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        // SAFETY: kill only sends a signal to our own child, which we have not reaped.
        unsafe { libc::kill(self.child.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(Error::io("waiting for a server to exit")(e)),
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        Err(self.failure(format!(
            "did not exit within {STOP_TIMEOUT:?} of SIGTERM; killed"
        )))
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Tools {
        Tools {
            redis_server: "/usr/bin/redis-server".into(),
            redis_benchmark: "/usr/bin/redis-benchmark".into(),
            taskset: "/usr/bin/taskset".into(),
            holdfast: "/w/target/release/holdfast-server".into(),
            data_dir: "/tmp".into(),
            generators: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn command_of(name: &str, placement: &Placement) -> String {
        let kind = Kind::named(name).unwrap();
        server_command(kind, &tools(), placement, 7000, Path::new("/d/x")).to_string()
    }

    fn one_cpu() -> Placement {
        Placement {
            cpus: vec![1],
            threads: 1,
        }
    }

    #[test]
    fn redis_kinds_differ_in_persistence_alone() {
        let common = "/usr/bin/taskset -c 1 /usr/bin/redis-server --port 7000 --bind 127.0.0.1";
        assert_eq!(
            command_of("redis", &one_cpu()),
            format!("{common} --save '' --appendonly no")
        );
        for fsync in ["everysec", "always"] {
            assert_eq!(
                command_of(&format!("redis-{fsync}"), &one_cpu()),
                format!("{common} --save '' --appendonly yes --appendfsync {fsync} --dir /d/x")
            );
        }
    }

    #[test]
    fn holdfast_kinds_run_pinned_with_their_threads_cpus_and_durability() {
        let placement = Placement {
            cpus: vec![0, 1],
            threads: 2,
        };
        let common = "/usr/bin/taskset -c 0,1 /w/target/release/holdfast-server --threads 2 \
                      --cpus 0,1 --port 7000";
        assert_eq!(
            command_of("holdfast-none", &placement),
            format!("{common} --durability none")
        );
        assert_eq!(
            command_of("holdfast-local", &placement),
            format!("{common} --durability local --dir /d/x")
        );
    }

    #[test]
    fn kinds_have_distinct_names_and_titles_and_parse_by_name() {
        use clap::ValueEnum;
        for (i, kind) in KINDS.iter().enumerate() {
            assert_eq!(Kind::from_str(kind.name, false), Ok(*kind));
            for other in &KINDS[i + 1..] {
                assert_ne!(kind.name, other.name);
                assert_ne!(kind.title, other.title);
            }
            let persists_on_disk = kind.flags.contains(&DIR);
            assert_eq!(kind.persists, persists_on_disk, "{}", kind.name);
        }
        assert_eq!(Kind::named("holdfast"), Kind::named("holdfast-none"));
        assert_eq!(Kind::from_str("holdfast", false), Ok(KINDS[0]));
        assert!(Kind::named("redis-never").is_none());
    }

    #[test]
    fn tmpfs_is_recognised() {
        assert!(!on_tmpfs(Path::new("/proc")));
        if Path::new("/dev/shm").is_dir() {
            assert!(on_tmpfs(Path::new("/dev/shm")));
        }
    }

    #[test]
    fn which_finds_programs_on_path_and_refuses_missing_ones() {
        assert!(which(Path::new("sh")).is_some());
        assert!(which(Path::new("/bin/sh")).is_some());
        assert!(which(Path::new("no-such-program-holdfast-bench")).is_none());
        assert!(which(Path::new("/nonexistent/redis-server")).is_none());
    }
}

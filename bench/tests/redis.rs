//! The harness against real Redis 7, a server whose consistency is known: what it
//! guarantees must pass, and what it does not guarantee must be caught.
//!
//! - A replica's reads, with the replication link through the fault proxy delayed by
//!   300 ms: the linearizability checker must reject the history (stale reads), and the
//!   sequential-consistency checker must accept it (a replica applies the primary's
//!   stream in order, so every reader session sees states of one order, moving forward).
//! - The list-append workload (Holdfast has no lists yet) under kills, pauses and
//!   partitions of a redis-server with `appendfsync always`: must pass; the same attack
//!   on a redis-server without persistence must fail.
//!
//! Each test prints why and passes when redis-server is not installed.

use holdfast_bench::chaos::workload::{perform, Clock};
use holdfast_bench::check::history::{Kind, Op, Outcome};
use holdfast_bench::check::{check_history, check_history_as, render, Consistency};
use holdfast_bench::proxy::control::Command;
use holdfast_bench::proxy::Proxy;
use holdfast_bench::resp::{Connection, Reply};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command as Process, Output, Stdio};
use std::time::{Duration, Instant};

const REDIS: &str = "/usr/bin/redis-server";

fn redis_missing() -> bool {
    let missing = !Path::new(REDIS).is_file();
    if missing {
        eprintln!("skipped: {REDIS} is not installed (apt-get install redis-server)");
    }
    missing
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A redis-server child, shut down when dropped.
struct Redis {
    child: Child,
    port: u16,
}

impl Redis {
    /// Starts redis-server with its files (a replica's sync RDB) in a scratch directory.
    fn start(extra: &[&str]) -> Redis {
        let port = free_port();
        let dir = scratch(&format!("redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let child = Process::new(REDIS)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .arg("--dir")
            .arg(&dir)
            .args(["--save", "", "--appendonly", "no"])
            .args(extra)
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let redis = Redis { child, port };
        redis.wait_for(|info| info.contains("role:"), "start");
        redis
    }

    fn info(&self) -> Option<String> {
        let mut conn = Connection::connect(self.port, Duration::from_secs(1)).ok()?;
        match conn.call(&[b"INFO", b"replication"]).ok()? {
            Reply::Bulk(Some(text)) => Some(String::from_utf8_lossy(&text).into_owned()),
            _ => None,
        }
    }

    fn wait_for(&self, ready: impl Fn(&str) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.info().is_some_and(|info| ready(&info)) {
            assert!(Instant::now() < deadline, "redis-server did not {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One client session: `kind` on random keys of `keys` against `port` until `until`.
fn session(
    port: u16,
    process: u32,
    kind: Kind,
    keys: usize,
    clock: Clock,
    until: Instant,
) -> Vec<Op> {
    let mut rng = fastrand::Rng::with_seed(u64::from(process));
    let mut conn = Connection::connect(port, Duration::from_secs(5)).unwrap();
    let mut ops = Vec::new();
    while Instant::now() < until {
        let key = format!("replica:{}", rng.usize(0..keys));
        let input = (kind == Kind::Write).then(|| format!("{process}:{}", ops.len()));
        let op = perform(&mut conn, clock, process, key, kind, input);
        assert_eq!(op.outcome, Outcome::Ok, "{op:?}");
        ops.push(op);
        std::thread::sleep(Duration::from_millis(rng.u64(2..10)));
    }
    ops
}

#[test]
fn replica_reads_under_a_delayed_link_are_sequentially_consistent_but_not_linearizable() {
    if redis_missing() {
        return;
    }
    let primary = Redis::start(&[]);
    let upstream = SocketAddr::from(([127, 0, 0, 1], primary.port));
    let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), upstream, 1).unwrap();
    let replica = Redis::start(&["--replicaof", "127.0.0.1", &proxy.addr().port().to_string()]);
    replica.wait_for(|info| info.contains("master_link_status:up"), "sync");
    // From now on the primary's stream reaches the replica 300 ms late.
    proxy.apply(&"delay down 300".parse::<Command>().unwrap());
    let clock = Clock(Instant::now());
    let until = Instant::now() + Duration::from_secs(3);
    let history: Vec<Op> = std::thread::scope(|scope| {
        let writers = (0..3)
            .map(|p| scope.spawn(move || session(primary.port, p, Kind::Write, 4, clock, until)));
        let readers = (10..14)
            .map(|p| scope.spawn(move || session(replica.port, p, Kind::Read, 4, clock, until)));
        let sessions: Vec<_> = writers.chain(readers).collect();
        sessions
            .into_iter()
            .flat_map(|s| s.join().unwrap())
            .collect()
    });
    let mut history = history;
    history.sort_by_key(|op| (op.invoke_ns, op.process));
    assert!(history.len() > 500, "{} operations", history.len());
    let linearizable = check_history(&history, 2_000_000);
    let text = render(&linearizable, &history, 1);
    assert!(
        !linearizable.violations.is_empty(),
        "stale replica reads must fail:\n{text}"
    );
    assert!(text.contains("NOT LINEARIZABLE: key replica:"), "{text}");
    eprintln!("{text}");
    let sequential = check_history_as(&history, 2_000_000, Consistency::Sequential);
    let text = render(&sequential, &history, 3);
    assert!(
        sequential.passed(),
        "replica reads must be sequentially consistent:\n{text}"
    );
    eprintln!("{text}");
}

fn bench(args: &[&str]) -> Output {
    Process::new(env!("CARGO_BIN_EXE_holdfast-bench"))
        .args(args)
        .output()
        .expect("run holdfast-bench")
}

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("holdfast-redis-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn chaos_on_redis(out: &Path, durability: &str, nemesis: &str) -> Output {
    bench(&[
        "chaos",
        "--redis-bin",
        REDIS,
        "--durability",
        durability,
        "--workload",
        "list-append",
        "--nemesis",
        nemesis,
        "--duration",
        "8",
        "--seed",
        "9",
        "--out",
        out.to_str().unwrap(),
    ])
}

fn text(output: &Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn list_appends_on_redis_with_an_fsynced_aof_pass_kills_pauses_and_partitions() {
    if redis_missing() {
        return;
    }
    let out = scratch("aof");
    let output = chaos_on_redis(&out, "local", "kill,pause,partition");
    assert!(output.status.success(), "{}", text(&output));
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(report.contains("--appendfsync always"), "{report}");
    assert!(report.contains("| append (RPUSH) |") && report.contains("| read-list (LRANGE) |"));
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn list_appends_on_redis_without_persistence_fail_on_a_kill() {
    if redis_missing() {
        return;
    }
    let out = scratch("none");
    let output = chaos_on_redis(&out, "none", "kill");
    assert!(!output.status.success(), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("NOT LINEARIZABLE: key chaos:list:"),
        "{}",
        text(&output)
    );
    assert!(
        stdout.contains("LOST WRITE: key chaos:list:"),
        "{}",
        text(&output)
    );
    let _ = std::fs::remove_dir_all(&out);
}

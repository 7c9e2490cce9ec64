//! `holdfast-bench chaos`: a real holdfast-server under a recorded workload while a
//! nemesis kills, restarts and pauses it, partitions, delays and loses its traffic, and
//! cuts its disk's power; then the history is checked.
//!
//! ```text
//!                 ┌── fault proxy ◄── workload clients (threads) ──► history (JSON lines)
//! server ◄────────┤  (network faults)                                     │
//! (--dir, on a    └── nemesis: SIGKILL+restart, SIGSTOP/CONT, power loss  │
//!  loop image for                                                         ▼
//!  power loss)        final read of every key ───────────────────► check ──► report
//! ```
//!
//! - [`server`]: the holdfast-server process, started, killed, restarted and paused.
//! - [`disk`]: the server's --dir on an ext4 loop-device image, for power loss (root).
//! - [`workload`]: register, counter, list-append and compare-and-set clients that
//!   record each operation.
//! - [`nemesis`]: the seeded fault schedule: process, network (through
//!   [`crate::proxy`]) and disk faults.
//! - [`report`]: the Markdown report.
//!
//! Everything the run writes goes to one directory (`--out`, else a new one under the
//! system temporary directory): `history.jsonl`, `report.md`, `server.log` and the
//! server's `data/`. The data directory is removed when the run passes and kept for a
//! post-mortem when it fails.

pub mod disk;
pub mod error;
pub mod nemesis;
pub mod report;
pub mod server;
pub mod workload;

use crate::check::{self, history, STATES_MAX_DEFAULT};
use crate::proxy::Proxy;
use disk::LoopDisk;
use error::Error;
use nemesis::Fault;
use server::ServerUnderTest;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};
use workload::{Client, Clock, Workload};

/// holdfast-server beside this program: `cargo build` puts both in the same directory.
pub fn default_holdfast_bin() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("holdfast-server")))
        .unwrap_or_else(|| PathBuf::from("holdfast-server"))
}

/// Runs a workload against a holdfast-server it starts itself, while killing and
/// pausing it at seeded random times; checks the recorded history (linearizability per
/// key, lost writes), writes a report, and exits non-zero when a check fails.
#[derive(clap::Args, Debug)]
pub struct ChaosArgs {
    /// How long the workload and the nemesis run, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 20)]
    pub duration: u64,
    /// Seed of the fault schedule and the clients' choices; printed, so a run can be
    /// repeated. Default: from the clock.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Faults to inject, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "kill,pause")]
    pub nemesis: Vec<Fault>,
    /// Workloads to run, comma-separated; clients are shared out among them.
    /// `list-append` is not in the default: over a long run with kills, its keys gather
    /// so many appends of unknown outcome that the search stops undecided (see
    /// bench/RESULTS.md); runs of a minute or less check in well under a second.
    #[arg(long, value_delimiter = ',', default_value = "register,counter,cas")]
    pub workload: Vec<Workload>,
    /// The holdfast-server program. Default: the one beside holdfast-bench.
    #[arg(long, value_name = "PATH", default_value_os_t = default_holdfast_bin(), hide_default_value = true)]
    pub holdfast_bin: PathBuf,
    /// Attack this redis-server instead of holdfast-server (AOF with appendfsync always,
    /// or none with `--durability none`): checks the harness against a known server.
    #[arg(long, value_name = "PATH")]
    pub redis_bin: Option<PathBuf>,
    /// The server's --durability mode. `none` loses data on every kill: a run that
    /// shows the checks can fail.
    #[arg(long, default_value = "local")]
    pub durability: String,
    /// The server's --threads.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 16)]
    pub clients: u32,
    /// Operations per second, all clients together, at most.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Keys per workload.
    #[arg(long, default_value_t = 100)]
    pub keys: usize,
    /// How long a reply may take before the operation counts as unknown, in ms.
    #[arg(long, default_value_t = 1000)]
    pub timeout_ms: u64,
    /// Where to write history.jsonl, report.md and server.log. Default: a new directory
    /// under the system temporary directory.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Memo entries one key's search may use before it is reported undecided.
    #[arg(long, default_value_t = STATES_MAX_DEFAULT)]
    pub states_max: usize,
}

impl ChaosArgs {
    fn validate(&self) -> Result<(), Error> {
        let usage = |m: &str| Err(Error::Usage(m.to_string()));
        if self.workload.is_empty() || self.clients == 0 || self.rate == 0 || self.keys == 0 {
            return usage("--workload, --clients, --rate and --keys must not be empty or 0");
        }
        if self.redis_bin.is_none() && !self.holdfast_bin.is_file() {
            return Err(Error::Usage(format!(
                "holdfast-server not found at {}; build it with `cargo build -p \
                 holdfast-server` or pass --holdfast-bin PATH",
                self.holdfast_bin.display()
            )));
        }
        Ok(())
    }
}

/// Failures of each kind printed on the terminal; the report has them all.
const FAILURES_PRINTED_MAX: usize = 3;

/// Runs the chaos test; says whether every check passed.
pub fn run(args: &ChaosArgs, invocation: &str) -> Result<bool, Error> {
    args.validate()?;
    let seed = args.seed.unwrap_or_else(seed_from_clock);
    eprintln!("chaos: seed {seed}");
    let run_dir = args.out.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("holdfast-chaos-{seed}-{}", std::process::id()))
    });
    server::create_dir(&run_dir)?;
    let (faults, mut notes) = usable_faults(&args.nemesis);
    let mut disk = if faults.contains(&Fault::PowerLoss) {
        Some(LoopDisk::create(&run_dir)?)
    } else {
        None
    };
    let data_dir = match &disk {
        Some(disk) => disk.mount_point().join("data"),
        None => run_dir.join("data"),
    };
    let port = free_port()?;
    let command = match &args.redis_bin {
        Some(redis) => ServerUnderTest::redis(redis, &args.durability, port, &data_dir),
        None => ServerUnderTest::holdfast(
            &args.holdfast_bin,
            &args.durability,
            args.threads,
            port,
            &data_dir,
        ),
    };
    // redis-server wants its --dir to exist; holdfast-server makes it.
    std::fs::create_dir_all(&data_dir)
        .map_err(Error::io(format!("creating {}", data_dir.display())))?;
    let mut server = ServerUnderTest::new(command, port, &run_dir);
    server.start()?;
    let proxy = if faults.iter().any(|f| f.is_network()) {
        let upstream = SocketAddr::from(([127, 0, 0, 1], port));
        let proxy = Proxy::start(SocketAddr::from(([127, 0, 0, 1], 0)), upstream, seed)
            .map_err(Error::io("starting the fault proxy"))?;
        notes.push(format!(
            "clients connect through the fault proxy at {} (server at {upstream})",
            proxy.addr()
        ));
        Some(proxy)
    } else {
        None
    };
    if let Some(disk) = &disk {
        notes.push(format!(
            "the server's --dir is on an ext4 loop-device image mounted at {}",
            disk.mount_point().display()
        ));
    }
    let mut target = nemesis::Target {
        server: &mut server,
        proxy: proxy.as_ref(),
        disk: disk.as_mut(),
    };
    let (history, injected) = attack(args, &faults, seed, &mut target)?;
    drop(proxy);
    server.stop();
    let history_path = run_dir.join("history.jsonl");
    write_history(&history_path, &history)?;
    let verdicts = check::check_history(&history, args.states_max);
    let report = report::render(&report::Run {
        invocation,
        seed,
        server_command: server.command.to_string(),
        duration_s: args.duration,
        notes: &notes,
        history: &history,
        faults: &injected,
        check: &verdicts,
    });
    let report_path = run_dir.join("report.md");
    std::fs::write(&report_path, &report)
        .map_err(Error::io(format!("writing {}", report_path.display())))?;
    print!(
        "{}",
        check::render(&verdicts, &history, FAILURES_PRINTED_MAX)
    );
    eprintln!(
        "chaos: seed {seed}, {} faults; history {}, report {}, server log {}",
        injected.len(),
        history_path.display(),
        report_path.display(),
        server.log_path().display()
    );
    if verdicts.passed() {
        let _ = std::fs::remove_dir_all(run_dir.join("data"));
        if let Some(disk) = disk.take() {
            disk.remove()?;
        }
    }
    Ok(verdicts.passed())
}

/// The faults that can run here, and a note for each skipped one (also printed): power
/// loss needs root and losetup, and is the only fault ever skipped.
fn usable_faults(requested: &[Fault]) -> (Vec<Fault>, Vec<String>) {
    let mut faults = requested.to_vec();
    let mut notes = Vec::new();
    if faults.contains(&Fault::PowerLoss) {
        if let Some(why) = disk::unavailable() {
            let note = format!("power-loss skipped: {why}");
            eprintln!("chaos: {note}");
            notes.push(note);
            faults.retain(|&f| f != Fault::PowerLoss);
        }
    }
    (faults, notes)
}

/// The workload under the nemesis, then a final read of every key.
fn attack(
    args: &ChaosArgs,
    faults: &[Fault],
    seed: u64,
    target: &mut nemesis::Target,
) -> Result<(Vec<history::Op>, Vec<nemesis::Injected>), Error> {
    let client_port = target.proxy.map_or(target.server.port, |p| p.addr().port());
    let clients = clients(args, seed, client_port);
    let clock = Clock(Instant::now());
    let deadline = clock.0 + Duration::from_secs(args.duration);
    let stop = AtomicBool::new(false);
    let (mut history, injected) = std::thread::scope(|scope| {
        let running: Vec<_> = clients
            .iter()
            .map(|client| scope.spawn(|| client.run(clock, deadline, &stop)))
            .collect();
        let injected = nemesis::run(target, faults, seed, clock, deadline);
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let history: Vec<history::Op> = running
            .into_iter()
            .flat_map(|client| client.join().expect("a workload client panicked"))
            .collect();
        (history, injected)
    });
    let injected = injected?;
    target.server.check_alive()?;
    history.extend(final_reads(args, target.server, clock)?);
    history.sort_by_key(|op| (op.invoke_ns, op.process));
    Ok((history, injected))
}

/// The clients, shared out among the workloads, each with its own seed and share of
/// the rate.
fn clients(args: &ChaosArgs, seed: u64, port: u16) -> Vec<Client> {
    let interval = Duration::from_secs(1) * args.clients / args.rate;
    (0..args.clients)
        .map(|process| Client {
            process,
            workload: args.workload[process as usize % args.workload.len()],
            keys: args.keys,
            seed: seed ^ u64::from(process).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            interval,
            timeout: Duration::from_millis(args.timeout_ms),
            port,
        })
        .collect()
}

/// How long the final reads may keep retrying a server that does not answer.
const FINAL_READS_TIMEOUT: Duration = Duration::from_secs(30);

/// One GET of every key of every workload, after the faults, by a process of its own
/// (numbered after the clients). An attempt that fails is recorded and retried.
fn final_reads(
    args: &ChaosArgs,
    server: &ServerUnderTest,
    clock: Clock,
) -> Result<Vec<history::Op>, Error> {
    let process = args.clients;
    let deadline = Instant::now() + FINAL_READS_TIMEOUT;
    let mut ops = Vec::new();
    let keys = args
        .workload
        .iter()
        .flat_map(|&w| (0..args.keys).map(move |n| (w, w.key(n))));
    for (workload, key) in keys {
        loop {
            if Instant::now() > deadline {
                return Err(server.failure(format!(
                    "did not answer the final reads within {FINAL_READS_TIMEOUT:?}"
                )));
            }
            let timeout = Duration::from_millis(args.timeout_ms);
            let op = match crate::resp::Connection::connect(server.port, timeout) {
                Ok(mut conn) => workload::perform(
                    &mut conn,
                    clock,
                    process,
                    key.clone(),
                    workload.read(),
                    None,
                ),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    continue;
                }
            };
            let done = op.outcome == history::Outcome::Ok;
            ops.push(op);
            if done {
                break;
            }
        }
    }
    Ok(ops)
}

fn write_history(path: &Path, ops: &[history::Op]) -> Result<(), Error> {
    let file =
        std::fs::File::create(path).map_err(Error::io(format!("creating {}", path.display())))?;
    history::write(std::io::BufWriter::new(file), ops)
        .map_err(Error::io(format!("writing {}", path.display())))
}

fn seed_from_clock() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// A port nobody listens on right now; the server keeps it over restarts.
fn free_port() -> Result<u16, Error> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .map_err(Error::io("finding a free port"))
}

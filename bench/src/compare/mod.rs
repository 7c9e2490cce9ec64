//! `holdfast-bench compare`: kinds of server (Holdfast in each durability mode, Redis
//! with and without AOF) on one machine, under the workloads of the MemoryDB paper,
//! reported as Markdown with ratios against a baseline kind, and charted.
//!
//! ```text
//! options ─► servers::Tools::find ─► for each setup (one core each; --both-cores):
//!              size requests (calibration run, unless -n)
//!              for round in 1..=R: for kind in --servers:            (A/B/C/A/B/C)
//!                  servers::RunningServer::start (fresh, pinned, own port and dir)
//!                  prefill: memory::load_named, both generators' key names (unmeasured)
//!                  for -P in pipelines:
//!                    for test in [SET, GET]: cpu::ServerCpu ─► redis_benchmark::run
//!                    for generator in --clients (holdfast-bench, memtier):
//!                      for mix in [SET, GET, 80/20]: cpu::ServerCpu ─► generators::run
//!                  every run ─► Sample
//!          ─► memory::measure (fresh server, N keys, INFO + VmRSS) per kind
//!          ─► charts::write (holdfast-bench's spectra and timelines, SVG + PNG)
//!          ─► report::render (medians, ratios to the baseline, commands, machine)
//! ```
//!
//! One server runs at a time, so no two compete for a CPU.

pub mod charts;
pub mod cpu;
pub mod error;
pub mod generators;
pub mod memory;
pub mod options;
pub mod redis_benchmark;
pub mod report;
pub mod servers;

pub use error::Error;
pub use options::CompareArgs;

use crate::command_line::{cpu_list, CommandLine};
use crate::procfs::{self, Machine};
use crate::run::report::RunReport;
use generators::{Client, Figures};
use memory::Memory;
use redis_benchmark::Workload;
use servers::{Engine, Kind, Placement, RunningServer, Tools};
use std::collections::BTreeMap;
use std::path::PathBuf;

/// redis-benchmark `-t` name and the name it prints in its CSV, in the order run. Run
/// as separate invocations (equivalent to `-t set,get`: redis-benchmark runs its tests
/// one after another on fresh connections) so each test gets its own CPU figures.
pub const TESTS: [(&str, &str); 2] = [("set", "SET"), ("get", "GET")];
/// Calibration requests per unit of pipeline depth: about a second per test at the
/// rates a single core reaches.
const CALIBRATION_REQUESTS_PER_DEPTH: u64 = 50_000;
/// Sized request counts are rounded up to a multiple of this, for readable commands.
const REQUESTS_QUANTUM: u64 = 10_000;

/// Where the servers and the client run for one table of the report.
#[derive(Clone, Debug)]
pub struct Setup {
    pub title: String,
    /// A short name for file names: "one-core", "both-cores".
    pub slug: &'static str,
    pub redis: Placement,
    pub holdfast: Placement,
    /// CPUs the load generators are pinned to; `None` leaves them to the scheduler.
    pub client_cpus: Option<Vec<usize>>,
}

impl Setup {
    pub fn placement(&self, kind: Kind) -> &Placement {
        match kind.engine {
            Engine::Redis => &self.redis,
            Engine::Holdfast => &self.holdfast,
        }
    }
}

/// One generator's run of one test against one server in one round.
#[derive(Clone, Debug)]
pub struct Sample {
    pub kind: Kind,
    pub client: Client,
    pub pipeline: u32,
    /// "SET", "GET" (as redis-benchmark prints them) or "80/20" ([`generators::MIXES`]).
    pub test: &'static str,
    pub round: u32,
    /// What the generator reported, and its own CPU use.
    pub figures: Figures,
    pub server_cpu_secs_per_million: f64,
    /// The server's CPU time over the test's wall time (above 1.0 with several threads).
    pub server_core_fraction: f64,
    /// holdfast-bench's whole report: the latency spectrum and timeline the charts draw.
    pub run: Option<Box<RunReport>>,
}

/// Everything measured for one setup.
#[derive(Clone, Debug)]
pub struct Table {
    pub setup: Setup,
    /// Requests per test (-n) for each pipeline depth.
    pub requests: BTreeMap<u32, u64>,
    /// Whether `requests` came from a calibration run rather than -n.
    pub calibrated: bool,
    /// Every generator's runs, redis-benchmark's included.
    pub samples: Vec<Sample>,
    /// The exact commands of the first round.
    pub commands: Vec<CommandLine>,
}

/// A chart written next to the report: what it shows and its files (relative to the
/// report, SVG then PNG).
#[derive(Clone, Debug)]
pub struct Chart {
    pub setup: String,
    pub what: String,
    pub files: Vec<PathBuf>,
}

/// A finished comparison, ready to render.
#[derive(Debug)]
pub struct Report {
    pub unix_secs: u64,
    pub machine: Machine,
    pub invocation: String,
    /// `--version` of each engine compared.
    pub versions: Vec<(Engine, String)>,
    pub servers: Vec<Kind>,
    /// The kind ratios are taken against; `None` with one kind only.
    pub baseline: Option<Kind>,
    pub pipelines: Vec<u32>,
    pub repeat: u32,
    pub target_secs: f64,
    pub tables: Vec<Table>,
    pub memory: Option<Vec<Memory>>,
    pub value_bytes: usize,
    /// The generators run beside redis-benchmark, in order.
    pub generators: Vec<Client>,
    /// Generators asked for but not installed: one line each.
    pub skipped: Vec<String>,
    /// Where the persisting kinds kept their data, and whether that is tmpfs.
    pub data_dir: (PathBuf, bool),
    /// Charts written by [`charts::write`], linked from the report.
    pub charts: Vec<Chart>,
}

/// Runs the whole comparison; progress goes to stderr.
pub fn run(args: &CompareArgs, invocation: String) -> Result<Report, Error> {
    let servers = distinct(&args.servers);
    let baseline = validate(args, &servers)?;
    let tools = Tools::find(args)?;
    tools.skipped.iter().for_each(|line| eprintln!("{line}"));
    let tmpfs = servers::on_tmpfs(&tools.data_dir);
    if tmpfs && servers.iter().any(|k| k.persists) {
        eprintln!("{}", report::tmpfs_warning(&tools.data_dir));
    }
    let mut tables = Vec::new();
    for setup in setups(args) {
        eprintln!("== {}", setup.title);
        tables.push(run_setup(args, &servers, &tools, setup)?);
    }
    let memory = if args.skip_memory {
        None
    } else {
        Some(measure_memory(args, &servers, &tools)?)
    };
    Ok(Report {
        unix_secs: now_unix_secs(),
        machine: procfs::machine(),
        invocation,
        versions: engines(&servers)
            .into_iter()
            .map(|e| (e, tools.version(e)))
            .collect(),
        servers,
        baseline,
        pipelines: args.pipelines.clone(),
        repeat: args.repeat,
        target_secs: args.target_secs,
        tables,
        memory,
        value_bytes: redis_benchmark::VALUE_BYTES,
        generators: tools.generators.iter().map(|&(c, _)| c).collect(),
        skipped: tools.skipped.clone(),
        data_dir: (tools.data_dir.clone(), tmpfs),
        charts: Vec::new(),
    })
}

/// `kinds` without repeats, in their first order (`--servers redis,holdfast-none` runs
/// Redis first in every round).
fn distinct(kinds: &[Kind]) -> Vec<Kind> {
    let mut seen = Vec::new();
    for &kind in kinds {
        if !seen.contains(&kind) {
            seen.push(kind);
        }
    }
    seen
}

/// The engines of `kinds`, each once, in first order.
fn engines(kinds: &[Kind]) -> Vec<Engine> {
    let mut seen = Vec::new();
    for kind in kinds {
        if !seen.contains(&kind.engine) {
            seen.push(kind.engine);
        }
    }
    seen
}

/// Checks the flags; returns the baseline (none when only one kind is measured).
fn validate(args: &CompareArgs, servers: &[Kind]) -> Result<Option<Kind>, Error> {
    if !args.target_secs.is_finite() || args.target_secs <= 0.0 {
        return Err(Error::Usage(
            "--target-secs must be a number above zero".into(),
        ));
    }
    if args.both_cores && args.server_cpu == args.client_cpu {
        return Err(Error::Usage(format!(
            "--both-cores runs Holdfast on --server-cpu and --client-cpu, which are both {}; \
             give two different CPUs",
            args.server_cpu
        )));
    }
    if !args.clients.contains(&Client::RedisBenchmark) {
        return Err(Error::Usage(
            "--clients must include redis-benchmark: the request sizing is its figures".into(),
        ));
    }
    if args.memory_keys == 0 && !args.skip_memory {
        return Err(Error::Usage(
            "--memory-keys must be above zero (or use --skip-memory)".into(),
        ));
    }
    match servers {
        [_] => Ok(None),
        _ if servers.contains(&args.baseline) => Ok(Some(args.baseline)),
        _ => Err(Error::Usage(format!(
            "--baseline {} is not one of --servers {}; ratios need a baseline that ran",
            args.baseline,
            servers.iter().map(|k| k.name).collect::<Vec<_>>().join(",")
        ))),
    }
}

/// The setups to run: one core each, then (with --both-cores) Holdfast on both.
pub fn setups(args: &CompareArgs) -> Vec<Setup> {
    let one_core = Placement {
        cpus: vec![args.server_cpu],
        threads: 1,
    };
    let mut setups = vec![Setup {
        title: format!(
            "One core each: server on CPU {}, load generators on CPU {}",
            args.server_cpu, args.client_cpu
        ),
        slug: "one-core",
        redis: one_core.clone(),
        holdfast: one_core.clone(),
        client_cpus: Some(vec![args.client_cpu]),
    }];
    if args.both_cores {
        let mut both = vec![args.server_cpu, args.client_cpu];
        both.sort_unstable();
        let client = match &args.both_cores_client_cpus {
            Some(cpus) => format!("load generators on CPUs {}", cpu_list(cpus)),
            None => "load generators unpinned".to_string(),
        };
        setups.push(Setup {
            title: format!(
                "Both cores: Holdfast --threads 2 on CPUs {}, Redis on CPU {}, {client}",
                cpu_list(&both),
                args.server_cpu
            ),
            slug: "both-cores",
            redis: one_core,
            holdfast: Placement {
                cpus: both,
                threads: 2,
            },
            client_cpus: args.both_cores_client_cpus.clone(),
        });
    }
    setups
}

fn run_setup(
    args: &CompareArgs,
    servers: &[Kind],
    tools: &Tools,
    setup: Setup,
) -> Result<Table, Error> {
    let (requests, calibrated) = match args.requests {
        Some(n) => (args.pipelines.iter().map(|&p| (p, n)).collect(), false),
        None => (calibrate(args, servers, tools, &setup)?, true),
    };
    let mut table = Table {
        setup,
        requests,
        calibrated,
        samples: Vec::new(),
        commands: Vec::new(),
    };
    for round in 1..=args.repeat {
        for &kind in servers {
            run_round(args, tools, &mut table, kind, round)?;
        }
    }
    Ok(table)
}

/// Requests per test for each pipeline depth, so the fastest server's tests last about
/// `--target-secs`: a short SET+GET run on each server, the best rate kept.
fn calibrate(
    args: &CompareArgs,
    servers: &[Kind],
    tools: &Tools,
    setup: &Setup,
) -> Result<BTreeMap<u32, u64>, Error> {
    let mut best_rps: BTreeMap<u32, f64> = BTreeMap::new();
    for &kind in servers {
        let server = RunningServer::start(kind, tools, setup.placement(kind))?;
        prefill(args, &server)?;
        for &pipeline in &args.pipelines {
            let workload = Workload {
                tests: "set,get",
                pipeline,
                requests: CALIBRATION_REQUESTS_PER_DEPTH * u64::from(pipeline),
            };
            let command = redis_benchmark::command(
                tools,
                setup.client_cpus.as_deref(),
                server.port,
                workload,
            );
            let run = redis_benchmark::run(&command)?;
            let rps = run.rows.iter().map(|r| r.rps).fold(0.0, f64::max);
            eprintln!(
                "calibration: {} -P {pipeline}: {rps:.0} ops/s",
                kind.title()
            );
            let best = best_rps.entry(pipeline).or_insert(0.0);
            *best = best.max(rps);
        }
        server.stop()?;
    }
    Ok(best_rps
        .into_iter()
        .map(|(pipeline, rps)| (pipeline, requests_for(rps, args.target_secs)))
        .collect())
}

/// Requests that take `secs` at `rps`, rounded up to a multiple of [`REQUESTS_QUANTUM`].
pub fn requests_for(rps: f64, secs: f64) -> u64 {
    let exact = (rps * secs).max(1.0) as u64;
    exact.div_ceil(REQUESTS_QUANTUM) * REQUESTS_QUANTUM
}

/// One fresh server of `kind`: every pipeline depth, test and generator, then stop it.
fn run_round(
    args: &CompareArgs,
    tools: &Tools,
    table: &mut Table,
    kind: Kind,
    round: u32,
) -> Result<(), Error> {
    let server = RunningServer::start(kind, tools, table.setup.placement(kind))?;
    if round == 1 {
        table.commands.push(server.command.clone());
    }
    prefill(args, &server)?;
    for &pipeline in &args.pipelines {
        for (flag, test) in TESTS {
            let workload = Workload {
                tests: flag,
                pipeline,
                requests: table.requests[&pipeline],
            };
            let command = redis_benchmark::command(
                tools,
                table.setup.client_cpus.as_deref(),
                server.port,
                workload,
            );
            let sample = measure(&server, &command, workload, test, round)?;
            progress(args, &sample);
            if round == 1 {
                table.commands.push(command);
            }
            table.samples.push(sample);
        }
        for (client, program) in &tools.generators {
            run_generator(tools, table, &server, (*client, program), pipeline, round)
                .map(|samples| samples.iter().for_each(|s| progress(args, s)))?;
        }
    }
    server.stop()
}

/// Loads every key the generators draw from into `server` (unless --no-prefill), so
/// GETs hit: redis-benchmark's `key:%012d` below [`redis_benchmark::KEYSPACE`] and the
/// memtier-style generators' `memtier-1..=KEYSPACE`.
fn prefill(args: &CompareArgs, server: &RunningServer) -> Result<(), Error> {
    if args.no_prefill {
        return Ok(());
    }
    let started = std::time::Instant::now();
    for name in [memory::key, memory::memtier_key] {
        memory::load_named(
            server.port,
            redis_benchmark::KEYSPACE,
            redis_benchmark::VALUE_BYTES,
            name,
        )
        .map_err(|detail| Error::Load {
            server: server.kind.title().to_string(),
            detail,
        })?;
    }
    eprintln!(
        "prefill: {} keys twice into {} in {:.1} s",
        redis_benchmark::KEYSPACE,
        server.kind.title(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// One line on stderr per finished sample.
fn progress(args: &CompareArgs, sample: &Sample) {
    let f = &sample.figures;
    eprintln!(
        "round {}/{}: {} {} -P {} by {}: {:.0} ops/s, p50 {:.3} ms, p99 {:.3} ms, \
         server {:.2} CPU s/M ops ({:.0}% of a core), client {:.0}% of a core{}",
        sample.round,
        args.repeat,
        sample.kind.title(),
        sample.test,
        sample.pipeline,
        sample.client.title(),
        f.rps,
        f.p50_ms,
        f.p99_ms,
        sample.server_cpu_secs_per_million,
        sample.server_core_fraction * 100.0,
        f.client_core_fraction * 100.0,
        if f.client_core_fraction > cpu::CLIENT_SATURATED_FRACTION {
            " (client saturated)"
        } else {
            ""
        }
    );
}

/// Runs one generator's mixes at one depth against `server`, as many requests as
/// redis-benchmark sends at that depth; returns the samples it added.
fn run_generator<'t>(
    tools: &Tools,
    table: &'t mut Table,
    server: &RunningServer,
    (client, program): (Client, &std::path::Path),
    pipeline: u32,
    round: u32,
) -> Result<&'t [Sample], Error> {
    let json = generators::json_path(client);
    let first = table.samples.len();
    for (test, ratio) in generators::MIXES {
        let workload = generators::Workload {
            ratio,
            pipeline,
            requests: table.requests[&pipeline],
        };
        let command = generators::command(
            client,
            program,
            (&tools.taskset, table.setup.client_cpus.as_deref()),
            server.port,
            workload,
            &json,
        );
        let server_cpu = cpu::ServerCpu::start(server.pid()).map_err(proc_failure(server))?;
        let measured = generators::run(client, &command, &json)?;
        let server_cpu_secs = server_cpu.finish().map_err(proc_failure(server))?;
        if round == 1 {
            table.commands.push(command);
        }
        // The generator's own measured phase is the wall time its ops/s is over.
        let wall_secs = generators::requests_sent(workload) as f64 / measured.figures.rps;
        table.samples.push(Sample {
            kind: server.kind,
            client,
            pipeline,
            test,
            round,
            figures: measured.figures,
            server_cpu_secs_per_million: cpu::secs_per_million_ops(
                server_cpu_secs,
                generators::requests_sent(workload),
            ),
            server_core_fraction: cpu::core_fraction(server_cpu_secs, wall_secs),
            run: measured.run,
        });
    }
    Ok(&table.samples[first..])
}

fn proc_failure(server: &RunningServer) -> impl Fn(std::io::Error) -> Error + '_ {
    move |e| server.failure(format!("reading /proc/PID/stat: {e}"))
}

/// Runs one redis-benchmark test against `server`, measuring both sides' CPU.
fn measure(
    server: &RunningServer,
    command: &CommandLine,
    workload: Workload<'_>,
    test: &'static str,
    round: u32,
) -> Result<Sample, Error> {
    let server_cpu = cpu::ServerCpu::start(server.pid()).map_err(proc_failure(server))?;
    let run = redis_benchmark::run(command)?;
    let server_cpu_secs = server_cpu.finish().map_err(proc_failure(server))?;
    let row = match run.rows.as_slice() {
        [row] if row.test == test => row,
        rows => {
            return Err(Error::Benchmark {
                command: command.to_string(),
                detail: format!("expected one {test} result, got {rows:?}"),
            })
        }
    };
    Ok(Sample {
        kind: server.kind,
        client: Client::RedisBenchmark,
        pipeline: workload.pipeline,
        test,
        round,
        figures: Figures {
            rps: row.rps,
            p50_ms: row.p50_ms,
            p99_ms: row.p99_ms,
            client_core_fraction: cpu::core_fraction(run.client_cpu_secs, run.wall_secs),
        },
        server_cpu_secs_per_million: cpu::secs_per_million_ops(server_cpu_secs, workload.requests),
        server_core_fraction: cpu::core_fraction(server_cpu_secs, run.wall_secs),
        run: None,
    })
}

fn measure_memory(
    args: &CompareArgs,
    servers: &[Kind],
    tools: &Tools,
) -> Result<Vec<Memory>, Error> {
    let placement = Placement {
        cpus: vec![args.server_cpu],
        threads: 1,
    };
    servers
        .iter()
        .map(|&kind| {
            eprintln!(
                "memory: loading {} keys into {}",
                args.memory_keys,
                kind.title()
            );
            memory::measure(
                kind,
                tools,
                &placement,
                args.memory_keys,
                redis_benchmark::VALUE_BYTES,
            )
        })
        .collect()
}

fn now_unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: CompareArgs,
    }

    fn parse(flags: &[&str]) -> CompareArgs {
        Cli::parse_from(std::iter::once("compare").chain(flags.iter().copied())).args
    }

    #[test]
    fn requests_last_the_target_time_rounded_up() {
        assert_eq!(requests_for(61_234.0, 6.0), 370_000);
        assert_eq!(requests_for(100_000.0, 6.0), 600_000);
        assert_eq!(requests_for(0.0, 6.0), REQUESTS_QUANTUM);
    }

    #[test]
    fn defaults_are_the_paper_setup() {
        let args = parse(&[]);
        assert_eq!((args.server_cpu, args.client_cpu, args.repeat), (1, 0, 5));
        assert_eq!(args.pipelines, vec![1, 16]);
        let names: Vec<&str> = args.servers.iter().map(|k| k.name).collect();
        assert_eq!(
            names,
            [
                "holdfast-none",
                "holdfast-local",
                "redis",
                "redis-everysec",
                "redis-always"
            ]
        );
        assert_eq!(args.baseline.name, "redis");
        assert_eq!(
            validate(&args, &args.servers).unwrap(),
            Kind::named("redis")
        );
        assert_eq!(
            args.clients,
            vec![
                Client::RedisBenchmark,
                Client::HoldfastBench,
                Client::Memtier
            ]
        );
        let setups = setups(&args);
        assert_eq!(setups.len(), 1);
        assert_eq!(setups[0].holdfast.cpus, vec![1]);
        assert_eq!(setups[0].client_cpus, Some(vec![0]));
    }

    #[test]
    fn both_cores_runs_holdfast_on_two_threads() {
        let args = parse(&["--both-cores"]);
        let both = &setups(&args)[1];
        assert_eq!(
            both.holdfast,
            Placement {
                cpus: vec![0, 1],
                threads: 2
            }
        );
        assert_eq!(both.redis.cpus, vec![1]);
        assert_eq!(both.client_cpus, None);
        let pinned = parse(&["--both-cores", "--both-cores-client-cpus", "0,1"]);
        assert_eq!(setups(&pinned)[1].client_cpus, Some(vec![0, 1]));
    }

    #[test]
    fn both_cores_needs_two_cpus() {
        let args = parse(&["--both-cores", "--server-cpu", "0", "--client-cpu", "0"]);
        assert!(matches!(
            validate(&args, &args.servers),
            Err(Error::Usage(_))
        ));
    }

    #[test]
    fn redis_benchmark_is_always_a_client() {
        let args = parse(&["--clients", "holdfast-bench"]);
        assert!(matches!(
            validate(&args, &args.servers),
            Err(Error::Usage(_))
        ));
        let args = parse(&["--clients", "redis-benchmark"]);
        assert!(validate(&args, &args.servers).is_ok());
    }

    #[test]
    fn the_baseline_must_have_run_unless_one_kind_did() {
        let args = parse(&["--servers", "holdfast-none,holdfast-local"]);
        let error = validate(&args, &args.servers).unwrap_err().to_string();
        assert!(error.contains("--baseline redis is not one of"), "{error}");
        let args = parse(&[
            "--servers",
            "holdfast-none,holdfast-local",
            "--baseline",
            "holdfast-none",
        ]);
        assert_eq!(
            validate(&args, &args.servers).unwrap(),
            Kind::named("holdfast-none")
        );
        let alone = parse(&["--servers", "holdfast-local"]);
        assert_eq!(validate(&alone, &alone.servers).unwrap(), None);
    }

    #[test]
    fn servers_keep_their_first_order_and_engines_come_once() {
        let args = parse(&["--servers", "redis-always,holdfast,redis,holdfast-none"]);
        let kinds = distinct(&args.servers);
        let names: Vec<&str> = kinds.iter().map(|k| k.name).collect();
        assert_eq!(names, ["redis-always", "holdfast-none", "redis"]);
        assert_eq!(engines(&kinds), [Engine::Redis, Engine::Holdfast]);
    }
}

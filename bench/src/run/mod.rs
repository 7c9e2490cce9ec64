//! `holdfast-bench run`: a memtier_benchmark-style load generator, with memtier's flag
//! names, plus open-loop pacing (`--rate`) measured from intended send times.
//!
//! ```text
//! options ─► Plan ─► [prefill: every key SET once, unmeasured]
//!                 ─► per thread (-t): worker::run over -c × connection::Connection
//!                        fill (workload: template, keys: key, data) ─► write
//!                        ppoll ─► read ─► reply::scan ─► record::Record per template
//!   main thread: warm-up ─► Measure ─► progress line + timeline each second ─► Stop
//!                        ─► merge records per command type ─► report (table, JSON, CSV, .hgrm)
//! ```

pub mod cluster;
pub mod connection;
pub mod durability;
pub mod keys;
pub mod options;
pub mod record;
pub mod reply;
pub mod report;
pub mod worker;
pub mod workload;

pub use options::RunArgs;

use connection::Connection;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use keys::{Cursor, KeySpace, Pattern};
use record::Record;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};
use worker::Counters;
use workload::{DataSize, Mix, Template};

/// How often the progress line and the throughput timeline are updated.
const TICK: Duration = Duration::from_secs(1);
/// How often the main thread looks at the workers between ticks.
const CHECK_EVERY: Duration = Duration::from_millis(10);
/// Prefill writes at least this deep a pipeline: it is unmeasured, so only speed matters.
const PREFILL_PIPELINE_MIN: usize = 32;
/// A thread busier than this fraction of one core is probably what limits the run.
pub const SATURATED_CORE_FRACTION: f64 = 0.9;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Protocol {
    Resp2,
    Resp3,
}

/// When the measured phase ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    After(Duration),
    /// Requests per connection, as memtier's -n.
    Requests(u64),
    /// Each connection's slice of the key range once: prefill.
    EachKeyOnce,
}

/// Everything a run needs, validated.
#[derive(Clone, Debug)]
pub struct Plan {
    pub host: String,
    pub port: u16,
    pub protocol: Protocol,
    pub threads: usize,
    /// Connections per thread.
    pub clients: usize,
    pub pipeline: usize,
    pub mix: Mix,
    pub keys: KeySpace,
    pub key_prefix: Vec<u8>,
    pub data_size: DataSize,
    /// Value bytes; every value is a prefix of this.
    pub data: Vec<u8>,
    pub stop: Stop,
    /// Requests per second over all connections: open loop when set.
    pub rate: Option<f64>,
    pub warmup: Duration,
    pub prefill: bool,
    pub seed: u64,
    /// Follow Redis Cluster redirections (`-MOVED`, `-ASK`), one link per node.
    pub cluster: bool,
}

impl Plan {
    pub fn connections(&self) -> usize {
        self.threads * self.clients
    }

    fn budget(&self, cursor: &Cursor) -> Option<u64> {
        match self.stop {
            Stop::After(_) => None,
            Stop::Requests(n) => Some(n),
            Stop::EachKeyOnce => Some(cursor.slice_len()),
        }
    }

    fn rate_per_connection(&self) -> Option<f64> {
        self.rate.map(|r| r / self.connections() as f64)
    }

    /// Value bytes from a seeded generator: printable, not one repeated byte, so a
    /// server that compresses values is not flattered.
    pub fn make_data(size: usize, seed: u64) -> Vec<u8> {
        let mut rng = fastrand::Rng::with_seed(seed);
        (0..size).map(|_| rng.alphanumeric() as u8).collect()
    }

    /// The plan prefill runs: `SET` of every key once, spread over the connections.
    fn prefill_plan(&self) -> Plan {
        let set = Template::parse("SET __key__ __data__", 1, Pattern::Parallel)
            .expect("a fixed, non-empty template");
        Plan {
            mix: Mix::new(vec![set]).expect("one template of weight 1"),
            stop: Stop::EachKeyOnce,
            rate: None,
            warmup: Duration::ZERO,
            prefill: false,
            pipeline: self.pipeline.max(PREFILL_PIPELINE_MIN),
            ..self.clone()
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Warmup = 0,
    Measure = 1,
    Stop = 2,
}

/// The phase every worker reads each pass; only the main thread writes it.
#[derive(Debug)]
pub struct PhaseCell(AtomicU8);

impl PhaseCell {
    fn new(phase: Phase) -> PhaseCell {
        PhaseCell(AtomicU8::new(phase as u8))
    }

    fn set(&self, phase: Phase) {
        self.0.store(phase as u8, Ordering::Release);
    }

    pub fn get(&self) -> Phase {
        match self.0.load(Ordering::Acquire) {
            0 => Phase::Warmup,
            1 => Phase::Measure,
            _ => Phase::Stop,
        }
    }
}

#[derive(Debug)]
pub enum Error {
    Options(String),
    Connect(String, io::Error),
    Connection(io::Error),
    Write(PathBuf, io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Options(message) => f.write_str(message),
            Error::Connect(address, e) => write!(
                f,
                "cannot connect to {address}: {e} (is the server running? see -s and -p)"
            ),
            Error::Connection(e) => write!(f, "connection failed during the run: {e}"),
            Error::Write(path, e) => write!(f, "writing {}: {e}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

/// One second of the measured phase.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Second {
    /// Seconds since the measured phase began, at the end of this second.
    pub elapsed_secs: f64,
    pub ops_per_sec: f64,
    pub avg_latency_ms: f64,
}

/// The generator's own CPU use over the measured phase.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct GeneratorCpu {
    /// Per thread: CPU time over wall time (1.0 is one core, saturated).
    pub thread_core_fractions: Vec<f64>,
    /// All threads' CPU time per second of the run.
    pub total_cores: f64,
}

impl GeneratorCpu {
    pub fn saturated(&self) -> bool {
        self.thread_core_fractions
            .iter()
            .any(|&f| f > SATURATED_CORE_FRACTION)
    }
}

/// A finished run.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub duration: Duration,
    /// Per command type in first-seen order, then "Totals".
    pub types: Vec<(String, Record)>,
    pub timeline: Vec<Second>,
    pub cpu: GeneratorCpu,
}

/// Runs `plan`: prefill, warm-up, then the measured phase.
pub fn run(plan: &Plan) -> Result<Outcome, Error> {
    if plan.prefill {
        let keys = plan.keys.count();
        eprintln!("prefill: SET of {keys} keys");
        measure(&plan.prefill_plan(), "PREFILL")?;
    }
    measure(plan, "RUN")
}

fn open_all(plan: &Plan) -> Result<Vec<Vec<Connection>>, Error> {
    let of = plan.connections() as u64;
    let address = format!("{}:{}", plan.host, plan.port);
    (0..plan.threads)
        .map(|thread| {
            (0..plan.clients)
                .map(|client| {
                    let index = (thread * plan.clients + client) as u64;
                    Connection::open(plan, index, of)
                        .map_err(|e| Error::Connect(address.clone(), e))
                })
                .collect()
        })
        .collect()
}

fn measure(plan: &Plan, title: &str) -> Result<Outcome, Error> {
    let per_thread = open_all(plan)?;
    let counters: Vec<Counters> = (0..plan.threads).map(|_| Counters::default()).collect();
    let phase = PhaseCell::new(Phase::Warmup);
    let progress = Progress::new(title);
    let (start, timeline, outcomes) = std::thread::scope(|scope| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .zip(&counters)
            .map(|(connections, counters)| {
                let phase = &phase;
                scope.spawn(move || {
                    let outcome = worker::run(plan, phase, counters, connections);
                    counters.finished.store(true, Ordering::Release);
                    outcome
                })
            })
            .collect();
        let (start, timeline) = supervise(plan, &phase, &counters, &progress);
        let outcomes: Vec<_> = handles
            .into_iter()
            .map(|h| h.join().expect("a worker thread panicked"))
            .collect();
        (start, timeline, outcomes)
    });
    progress.finish();
    let outcomes = outcomes
        .into_iter()
        .collect::<io::Result<Vec<_>>>()
        .map_err(Error::Connection)?;
    Ok(summarise(plan, start, timeline, outcomes))
}

/// The main thread's part: warm up, start measuring, tick, and stop.
fn supervise(
    plan: &Plan,
    phase: &PhaseCell,
    counters: &[Counters],
    progress: &Progress,
) -> (Instant, Vec<Second>) {
    let warmup_end = Instant::now() + plan.warmup;
    while Instant::now() < warmup_end && !all_finished(counters) {
        progress.warmup(warmup_end);
        std::thread::sleep(CHECK_EVERY);
    }
    let start = Instant::now();
    phase.set(Phase::Measure);
    let mut timeline = Vec::new();
    let mut last = (start, 0u64, 0u64);
    loop {
        std::thread::sleep(CHECK_EVERY);
        let now = Instant::now();
        let done = match plan.stop {
            Stop::After(limit) => now - start >= limit,
            Stop::Requests(_) | Stop::EachKeyOnce => false,
        } || all_finished(counters);
        if now - last.0 >= TICK || done {
            let (ops, latency_sum_us) = totals(counters);
            let (second, span) = tick(&mut last, start, now, ops, latency_sum_us);
            progress.update(plan, start, now, ops, latency_sum_us, &second);
            // A final partial second would misstate the rate: keep only whole ones.
            if span >= TICK.mul_f64(0.99) {
                timeline.push(second);
            }
        }
        if done {
            break;
        }
    }
    phase.set(Phase::Stop);
    (start, timeline)
}

/// The second since `last`, and how long it really was.
fn tick(
    last: &mut (Instant, u64, u64),
    start: Instant,
    now: Instant,
    ops: u64,
    latency_sum_us: u64,
) -> (Second, Duration) {
    let span = now - last.0;
    let secs = span.as_secs_f64().max(1e-9);
    let d_ops = ops - last.1;
    let d_latency = latency_sum_us - last.2;
    *last = (now, ops, latency_sum_us);
    let second = Second {
        elapsed_secs: (now - start).as_secs_f64(),
        ops_per_sec: d_ops as f64 / secs,
        avg_latency_ms: if d_ops == 0 {
            0.0
        } else {
            d_latency as f64 / d_ops as f64 / 1000.0
        },
    };
    (second, span)
}

fn totals(counters: &[Counters]) -> (u64, u64) {
    counters.iter().fold((0, 0), |(o, l), c| {
        (
            o + c.ops.load(Ordering::Relaxed),
            l + c.latency_sum_us.load(Ordering::Relaxed),
        )
    })
}

fn all_finished(counters: &[Counters]) -> bool {
    counters.iter().all(|c| c.finished.load(Ordering::Acquire))
}

fn summarise(
    plan: &Plan,
    start: Instant,
    timeline: Vec<Second>,
    outcomes: Vec<worker::Outcome>,
) -> Outcome {
    let end = outcomes.iter().map(|o| o.end).max().unwrap_or(start);
    let duration = end.saturating_duration_since(start);
    let mut types: Vec<(String, Record)> = Vec::new();
    let mut all = Record::new();
    for outcome in &outcomes {
        for (template, record) in plan.mix.templates.iter().zip(&outcome.records) {
            all.merge(record);
            match types.iter_mut().find(|(name, _)| *name == template.name) {
                Some((_, merged)) => merged.merge(record),
                None => types.push((template.name.clone(), record.clone())),
            }
        }
    }
    types.push(("Totals".to_string(), all));
    let thread_core_fractions: Vec<f64> = outcomes
        .iter()
        .map(|o| o.cpu.as_secs_f64() / o.wall.as_secs_f64().max(1e-9))
        .collect();
    let cpu_secs: f64 = outcomes.iter().map(|o| o.cpu.as_secs_f64()).sum();
    Outcome {
        duration,
        types,
        timeline,
        cpu: GeneratorCpu {
            thread_core_fractions,
            total_cores: cpu_secs / duration.as_secs_f64().max(1e-9),
        },
    }
}

/// The live line on stderr, like memtier's; hidden when stderr is not a terminal.
struct Progress {
    bar: ProgressBar,
    title: String,
}

impl Progress {
    fn new(title: &str) -> Progress {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(4));
        bar.set_style(ProgressStyle::with_template("{msg}").expect("a valid template"));
        Progress {
            bar,
            title: title.to_string(),
        }
    }

    fn warmup(&self, end: Instant) {
        let left = end.saturating_duration_since(Instant::now()).as_secs();
        self.bar
            .set_message(format!("[WARMUP {left} secs left] {}", self.title));
    }

    fn update(
        &self,
        plan: &Plan,
        start: Instant,
        now: Instant,
        ops: u64,
        latency_sum_us: u64,
        second: &Second,
    ) {
        let elapsed = (now - start).as_secs_f64();
        let done = match plan.stop {
            Stop::After(limit) => format!("{:>3.0}%", 100.0 * elapsed / limit.as_secs_f64()),
            Stop::Requests(n) => format!(
                "{:>3.0}%",
                100.0 * ops as f64 / (n as f64 * plan.connections() as f64)
            ),
            Stop::EachKeyOnce => format!("{:>3.0}%", 100.0 * ops as f64 / plan.keys.count() as f64),
        };
        let avg_latency_ms = if ops == 0 {
            0.0
        } else {
            latency_sum_us as f64 / ops as f64 / 1000.0
        };
        self.bar.set_message(format!(
            "[{} {done}, {:>4.0} secs] {} threads: {ops:>11} ops, {:>9.0} (avg: {:>9.0}) ops/sec, {:.3} (avg: {:.3}) msec latency",
            self.title,
            elapsed,
            plan.threads,
            second.ops_per_sec,
            ops as f64 / elapsed.max(1e-9),
            second.avg_latency_ms,
            avg_latency_ms,
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// `holdfast-bench run` from its flags: runs, prints the table to stdout, and writes
/// the JSON, CSV and `.hgrm` files asked for.
pub fn execute(args: &RunArgs) -> Result<report::RunReport, Error> {
    let plan = args.plan()?;
    let outcome = run(&plan)?;
    let mut configuration = report::configuration(&plan);
    let durability = args
        .durability_label
        .clone()
        .unwrap_or_else(|| durability::probe(&plan.host, plan.port));
    configuration.insert("durability".into(), durability.clone());
    let label = args.run_label.clone().unwrap_or_else(|| {
        format!(
            "{} -t {} -c {} --pipeline {}{} [durability {durability}]",
            configuration["server"],
            plan.threads,
            plan.clients,
            plan.pipeline,
            plan.rate.map_or(String::new(), |r| format!(" --rate {r}"))
        )
    });
    let percentiles = &args.print_percentiles;
    let run_report = report::RunReport::new(
        label,
        configuration,
        &outcome,
        percentiles,
        &report::read_types(&plan),
    );
    print!("{}", report::table(&run_report, percentiles));
    if let Some(path) = &args.json_out_file {
        let json = serde_json::to_string_pretty(&run_report).expect("plain data serialises");
        report::write(path, &json)?;
    }
    if let Some(path) = &args.csv_out_file {
        report::write(path, &report::csv(&run_report, percentiles))?;
    }
    if let Some(prefix) = &args.hdr_file_prefix {
        report::write_hgrm(prefix, &outcome)?;
    }
    Ok(run_report)
}

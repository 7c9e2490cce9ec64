//! The flags of `holdfast-bench compare`.

use super::generators::Client;
use super::servers::Kind;
use std::path::{Path, PathBuf};

/// Where `cargo build --release -p holdfast-server` puts the server in this workspace
/// (the parent of this crate's folder).
fn default_holdfast_bin() -> PathBuf {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    crate_dir
        .parent()
        .unwrap_or(crate_dir)
        .join("target/release/holdfast-server")
}

/// Compares kinds of server (Holdfast in each durability mode, Redis with and without
/// AOF) on one machine: throughput, latency, CPU per operation and memory, under the
/// MemoryDB paper's workloads, with ratios against a baseline kind.
#[derive(Clone, Debug, clap::Args)]
pub struct CompareArgs {
    /// The holdfast-server binary [default: target/release/holdfast-server in this workspace].
    #[arg(long, value_name = "PATH", default_value_os_t = default_holdfast_bin(), hide_default_value = true)]
    pub holdfast_bin: PathBuf,

    /// The redis-server program (a path, or a name looked up on PATH).
    #[arg(long, value_name = "PATH", default_value = "redis-server")]
    pub redis_server: PathBuf,

    /// The redis-benchmark program (a path, or a name looked up on PATH).
    #[arg(long, value_name = "PATH", default_value = "redis-benchmark")]
    pub redis_benchmark: PathBuf,

    /// CPU the server under test is pinned to (taskset -c, and Holdfast's --cpus).
    #[arg(long, value_name = "CPU", default_value_t = 1)]
    pub server_cpu: usize,

    /// CPU redis-benchmark is pinned to.
    #[arg(long, value_name = "CPU", default_value_t = 0)]
    pub client_cpu: usize,

    /// Rounds; each round runs every server once, in turn (A/B/A/B), and the report
    /// shows the median over rounds.
    #[arg(long, value_name = "R", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,

    /// Requests per test (redis-benchmark -n) [default: sized from a short calibration
    /// run so each test lasts about --target-secs].
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,

    /// Seconds each test should last when --requests is not given.
    #[arg(long, value_name = "SECS", default_value_t = 6.0)]
    pub target_secs: f64,

    /// Pipeline depths to test (redis-benchmark -P).
    #[arg(long, value_name = "P,...", value_delimiter = ',', default_value = "1,16", value_parser = clap::value_parser!(u32).range(1..))]
    pub pipelines: Vec<u32>,

    /// Kinds of server to measure, in the order each round runs them (A/B/C...): each
    /// is started fresh, pinned alike, with its data in its own directory under
    /// --data-dir. `holdfast` is accepted for holdfast-none.
    #[arg(
        long,
        value_name = "KIND,...",
        value_delimiter = ',',
        value_enum,
        default_value = "holdfast-none,holdfast-local,redis,redis-everysec,redis-always"
    )]
    pub servers: Vec<Kind>,

    /// The kind every ratio is taken against (its own rows show 1.00); must be one of
    /// --servers when there are several.
    #[arg(long, value_name = "KIND", value_enum, default_value = "redis")]
    pub baseline: Kind,

    /// Folder where each server's scratch directory (AOF, Holdfast's log) is made
    /// [default: the system's temporary folder]. Put it on the disk whose fsync you
    /// mean to measure: on tmpfs fsync costs nothing, and the report warns.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,

    /// Load generators to run against every server, each pinned to the client CPU:
    /// redis-benchmark (always: its figures are the main tables), holdfast-bench (this
    /// program's `run`) and memtier (memtier_benchmark, skipped with a note when it is
    /// not installed). Their figures are tabulated side by side with their own CPU use.
    #[arg(
        long,
        value_name = "NAME,...",
        value_delimiter = ',',
        value_enum,
        default_value = "redis-benchmark,holdfast-bench,memtier"
    )]
    pub clients: Vec<Client>,

    /// The memtier_benchmark program (a path, or a name looked up on PATH).
    #[arg(long, value_name = "PATH", default_value = "memtier_benchmark")]
    pub memtier_benchmark: PathBuf,

    /// Also run Holdfast with --threads 2 over the server and client CPUs (Redis stays
    /// single-threaded on the server CPU), reported as its own table.
    #[arg(long)]
    pub both_cores: bool,

    /// CPUs redis-benchmark is pinned to in the --both-cores table [default: unpinned].
    #[arg(long, value_name = "CPU,...", value_delimiter = ',')]
    pub both_cores_client_cpus: Option<Vec<usize>>,

    /// Do not load the keyspace into each fresh server before its tests. By default
    /// every server starts with the million keys both redis-benchmark (`key:%012d`) and
    /// the memtier-style generators (`memtier-N`) draw from, so reads hit, as in the
    /// MemoryDB paper's read-only workload, instead of measuring misses.
    #[arg(long)]
    pub no_prefill: bool,

    /// Keys loaded into a fresh server of each kind for the memory measurement.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub memory_keys: u64,

    /// Skip the memory measurement.
    #[arg(long)]
    pub skip_memory: bool,

    /// Also write the Markdown report to FILE, and the charts (SVG and PNG) into
    /// FILE's name without extension plus `-plots/`, linked from the report.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,

    /// Folder for the charts instead of the one next to --out.
    #[arg(long, value_name = "DIR")]
    pub plots_dir: Option<PathBuf>,
}

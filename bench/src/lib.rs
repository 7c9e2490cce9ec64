//! holdfast-bench: measuring Holdfast, and measuring it against Redis.
//!
//! Modules, from the subcommand down to what it reads:
//!
//! - [`compare`]: `holdfast-bench compare`, kinds of server (Holdfast in each durability
//!   mode, Redis with and without AOF) under redis-benchmark, `holdfast-bench run` and
//!   memtier_benchmark (throughput, latency, CPU per operation, memory), reported as
//!   Markdown with ratios to a baseline kind, and charted. Its own module map shows the
//!   flow.
//! - [`run`]: `holdfast-bench run`, the memtier-style load generator (closed and open
//!   loop), reported as memtier's table, JSON, CSV and `.hgrm`.
//! - [`chaos`]: `holdfast-bench chaos`, a holdfast-server (or redis-server) it starts
//!   itself under recorded register, counter and list-append workloads while a seeded
//!   nemesis kills, restarts and pauses it, partitions, delays and loses its traffic
//!   through [`proxy`], and cuts its disk's power; the history then goes to [`check`].
//!   Its own module map shows the flow.
//! - [`check`]: `holdfast-bench check`, a recorded history checked per key for
//!   linearizability (the Porcupine search) or sequential consistency, and for lost
//!   writes, with the smallest failing sub-history of each failing key.
//! - [`lab`]: `holdfast-bench lab up|down`, a topology of real processes (today one
//!   node, optionally behind the proxy and in its own network namespace) for hands-on
//!   fault injection.
//! - [`proxy`]: the TCP fault proxy (delay, loss, drop, partition, cut, pause per
//!   direction), driven by `chaos` or over its text control port (`holdfast-bench proxy`).
//! - [`plot`]: latency spectra and throughput over time, several runs on one chart, as
//!   SVG and PNG: `holdfast-bench plot` from the JSON of runs, and `compare`'s charts.
//! - [`command_line`]: the commands the harness runs, printable exactly as run.
//! - [`resp`]: a minimal blocking RESP client (requests, replies, pipelined streams).
//! - [`procfs`]: CPU time and RSS of a process, and the machine, from /proc.
//! - [`stats`]: medians and ratios over repeated rounds.
//!
//! ```text
//! compare ──► command_line ──► redis-server / holdfast-server / redis-benchmark
//!    │──────► resp ──────────► the server under test (PING, bulk load, INFO)
//!    │──────► procfs ────────► /proc/PID/{stat,status}, /proc/cpuinfo
//!    └──────► stats
//!
//! chaos ──► holdfast-server (kill, restart, pause, power loss) ◄── proxy ◄── workload
//!    │                                                                        clients
//!    └────► check ◄── history (JSON lines) ◄─────────────────────────────────────┘
//!
//! lab ──► holdfast-server [in a netns] ◄── holdfast-bench proxy ◄── a person, a script
//! ```

pub mod chaos;
pub mod check;
pub mod command_line;
pub mod compare;
pub mod lab;
pub mod log_bench;
pub mod plot;
pub mod procfs;
pub mod proxy;
pub mod resp;
pub mod run;
pub mod stats;

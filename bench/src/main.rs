//! `holdfast-bench`: parses the command line and runs one subcommand.

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use holdfast_bench::{chaos, check, compare, lab, log_bench, plot, proxy, run};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "holdfast-bench",
    version,
    about = "Benchmarks for Holdfast: comparisons with Redis, load generation, checkers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compare Holdfast in each durability mode with Redis with and without AOF: ops/s,
    /// p50/p99 latency, CPU per operation and memory under the MemoryDB paper's workloads;
    /// prints a Markdown report with ratios to a baseline, and writes charts beside --out.
    Compare(Box<compare::CompareArgs>),
    /// Generate load like memtier_benchmark (same flags), with open-loop pacing (--rate);
    /// prints memtier's "ALL STATS" table, writes JSON, CSV and .hgrm files.
    Run(Box<run::RunArgs>),
    /// Plot latency percentile spectra and throughput over time of one or more runs
    /// (their --json-out-file) as SVG and PNG, one line per run.
    Plot(plot::PlotArgs),
    /// Benchmark the transaction log's group commit against a raw O_DIRECT write +
    /// fdatasync probe of the same disk: records/s, MB/s, time-to-durable percentiles.
    Log(log_bench::LogBenchArgs),
    /// Check a recorded history (JSON lines) per key for linearizability (or sequential
    /// consistency) and for lost writes; prints the smallest failing sub-history of each
    /// failing key, and exits non-zero when any check fails.
    Check(check::CheckArgs),
    /// Start a holdfast-server, run a recorded workload while killing, pausing,
    /// partitioning, delaying and power-cutting it at seeded random times, then check the
    /// history; writes a report and exits non-zero when a check fails.
    Chaos(Box<chaos::ChaosArgs>),
    /// Run a TCP fault proxy in front of a server: delay, loss, drop, partition, cut and
    /// pause per direction, set over a text control port; serves until killed.
    Proxy(proxy::ProxyArgs),
    /// Start (`up`) or stop (`down`) a topology of real processes to attack by hand: one
    /// holdfast-server today, optionally behind the fault proxy and in its own network
    /// namespace; prints how to reach each piece.
    Lab(lab::LabArgs),
}

/// Errors are printed as their chain of causes, one line each, never as a backtrace:
/// they say what to do (install a tool, build the server), not where the code was.
fn main() -> ExitCode {
    let invocation = std::env::args().collect::<Vec<_>>().join(" ");
    // From the matches, not Cli::parse(): `run` reads the order of its repeated flags.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    let outcome = match cli.command {
        Command::Compare(args) => run_compare(&args, invocation),
        Command::Run(mut args) => {
            if let Some(("run", run_matches)) = matches.subcommand() {
                args.bind_command_options(run_matches);
            }
            run::execute(&args).map(drop).map_err(Into::into)
        }
        Command::Plot(args) => plot::plot(&args)
            .map(|written| {
                written
                    .iter()
                    .for_each(|p| eprintln!("wrote {}", p.display()))
            })
            .map_err(Into::into),
        Command::Log(args) => log_bench::run(&args).map_err(|e| anyhow::anyhow!(e)),
        Command::Check(args) => check::run(&args)
            .map_err(Into::into)
            .and_then(|passed| verdict(passed, "the history failed its checks")),
        Command::Chaos(args) => chaos::run(&args, &invocation)
            .map_err(Into::into)
            .and_then(|passed| verdict(passed, "the chaos run failed its checks")),
        Command::Proxy(args) => proxy::run(&args).context("running the proxy"),
        Command::Lab(args) => lab::run(&args).map_err(Into::into),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("holdfast-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// A run that completed but whose checks failed is an error too: the exit status is what
/// CI reads.
fn verdict(passed: bool, failure: &str) -> anyhow::Result<()> {
    if passed {
        Ok(())
    } else {
        Err(anyhow::anyhow!("{failure}"))
    }
}

fn run_compare(args: &compare::CompareArgs, invocation: String) -> anyhow::Result<()> {
    let mut report = compare::run(args, invocation)?;
    let charts_at = match (&args.plots_dir, &args.out) {
        (Some(dir), _) => Some((dir.clone(), dir.clone())),
        (None, Some(out)) => Some(compare::charts::dir_beside(out)),
        (None, None) => None,
    };
    if let Some((dir, link)) = charts_at {
        report.charts = compare::charts::write(&report, &dir, &link)?;
        eprintln!(
            "{} charts written to {}",
            report.charts.len(),
            dir.display()
        );
    }
    let markdown = compare::report::render(&report);
    print!("{markdown}");
    if let Some(path) = &args.out {
        std::fs::write(path, &markdown)
            .with_context(|| format!("writing the report to {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}

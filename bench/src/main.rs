//! `holdfast-bench`: parses the command line and runs one subcommand.

use anyhow::Context;
use clap::{Parser, Subcommand};
use holdfast_bench::compare;
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
    /// Compare Holdfast with Redis: ops/s, p50/p99 latency, CPU per operation and memory
    /// under redis-benchmark (the MemoryDB paper's workload); prints a Markdown report.
    Compare(compare::CompareArgs),
}

/// Errors are printed as their chain of causes, one line each, never as a backtrace:
/// they say what to do (install a tool, build the server), not where the code was.
fn main() -> ExitCode {
    let invocation = std::env::args().collect::<Vec<_>>().join(" ");
    let outcome = match Cli::parse().command {
        Command::Compare(args) => run_compare(&args, invocation),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("holdfast-bench: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn run_compare(args: &compare::CompareArgs, invocation: String) -> anyhow::Result<()> {
    let report = compare::run(args, invocation)?;
    let markdown = compare::report::render(&report);
    print!("{markdown}");
    if let Some(path) = &args.out {
        std::fs::write(path, &markdown)
            .with_context(|| format!("writing the report to {}", path.display()))?;
        eprintln!("report written to {}", path.display());
    }
    Ok(())
}

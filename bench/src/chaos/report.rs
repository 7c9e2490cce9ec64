//! The chaos run's report, as Markdown: what ran, the history's summary, the faults
//! injected with their times, the checkers' verdicts, and latency percentiles.

use super::nemesis::Injected;
use crate::check::history::{Kind, Op, Outcome};
use crate::check::{self, Report};
use std::fmt::Write as _;

/// What the report describes.
pub struct Run<'a> {
    /// The chaos command as invoked.
    pub invocation: &'a str,
    pub seed: u64,
    pub server_command: String,
    pub duration_s: u64,
    /// How the topology was set up, and faults skipped and why.
    pub notes: &'a [String],
    pub history: &'a [Op],
    pub faults: &'a [Injected],
    pub check: &'a Report,
}

const KINDS: [(Kind, &str); 5] = [
    (Kind::Write, "write (SET)"),
    (Kind::Read, "read (GET)"),
    (Kind::Incr, "incr (INCR)"),
    (Kind::Append, "append (RPUSH)"),
    (Kind::ReadList, "read-list (LRANGE)"),
];

pub fn render(run: &Run) -> String {
    let mut out = String::new();
    let verdict = if run.check.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(out, "# holdfast-bench chaos: {verdict}\n");
    let _ = writeln!(out, "- seed: {}", run.seed);
    let _ = writeln!(out, "- command: `{}`", run.invocation);
    let _ = writeln!(out, "- server: `{}`", run.server_command);
    let _ = writeln!(out, "- duration: {} s", run.duration_s);
    for note in run.notes {
        let _ = writeln!(out, "- {note}");
    }
    let _ = writeln!(out);
    history_summary(&mut out, run.history);
    faults(&mut out, run.faults);
    let _ = writeln!(out, "## Verdicts\n\n```text");
    out.push_str(&check::render(run.check, run.history, usize::MAX));
    let _ = writeln!(out, "```\n");
    latency(&mut out, run.history);
    out
}

fn history_summary(out: &mut String, history: &[Op]) {
    let _ = writeln!(out, "## History\n");
    let _ = writeln!(
        out,
        "| operation | ok | fail | unknown |\n|---|---:|---:|---:|"
    );
    for (kind, name) in KINDS {
        let count = |outcome| {
            history
                .iter()
                .filter(|op| op.kind == kind && op.outcome == outcome)
                .count()
        };
        let (ok, fail, unknown) = (
            count(Outcome::Ok),
            count(Outcome::Fail),
            count(Outcome::Unknown),
        );
        if ok + fail + unknown > 0 {
            let _ = writeln!(out, "| {name} | {ok} | {fail} | {unknown} |");
        }
    }
    let _ = writeln!(out);
}

fn faults(out: &mut String, faults: &[Injected]) {
    let _ = writeln!(out, "## Faults injected: {}\n", faults.len());
    if faults.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "| # | fault | start (s) | end (s) | detail |\n|---:|---|---:|---:|---|"
    );
    for (i, fault) in faults.iter().enumerate() {
        let _ = writeln!(
            out,
            "| {} | {:?} | {:.3} | {:.3} | {} |",
            i + 1,
            fault.fault,
            fault.start_ns as f64 / 1e9,
            fault.end_ns as f64 / 1e9,
            fault.detail
        );
    }
    let _ = writeln!(out);
}

/// Percentiles of the ok operations' latencies (complete - invoke), per kind.
fn latency(out: &mut String, history: &[Op]) {
    let _ = writeln!(
        out,
        "## Latency of ok operations (ms)\n\n| operation | count | p50 | p90 | p99 | p99.9 | max |\n\
         |---|---:|---:|---:|---:|---:|---:|"
    );
    for (kind, name) in KINDS {
        let mut latencies: Vec<u64> = history
            .iter()
            .filter(|op| op.kind == kind && op.outcome == Outcome::Ok)
            .map(|op| op.complete_ns - op.invoke_ns)
            .collect();
        if latencies.is_empty() {
            continue;
        }
        latencies.sort_unstable();
        let ms = |q: f64| percentile(&latencies, q) as f64 / 1e6;
        let _ = writeln!(
            out,
            "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |",
            latencies.len(),
            ms(0.5),
            ms(0.9),
            ms(0.99),
            ms(0.999),
            ms(1.0)
        );
    }
}

/// The nearest-rank percentile `q` (0..=1) of `sorted`, which must not be empty.
pub fn percentile(sorted: &[u64], q: f64) -> u64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&sorted, 0.5), 50);
        assert_eq!(percentile(&sorted, 0.99), 99);
        assert_eq!(percentile(&sorted, 0.999), 100);
        assert_eq!(percentile(&sorted, 1.0), 100);
        assert_eq!(percentile(&sorted, 0.0), 1);
        assert_eq!(percentile(&[7], 0.5), 7);
    }
}

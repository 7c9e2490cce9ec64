//! `holdfast-bench check HISTORY`: a recorded history of operations on a key-value store,
//! checked for linearizability and for lost writes.
//!
//! ```text
//! history (JSON lines) ──► split by key ──► model::compile ──► search (Porcupine)
//!                                 │                               │ violation
//!                                 │                               ▼
//!                                 │                           minimise ──► smallest
//!                                 └──► lost_writes                          failing
//!                                                                           sub-history
//! ```
//!
//! - [`history`]: the format, one operation per line, with outcome ok | fail | unknown.
//! - [`model`]: the register (SET/GET), counter (INCR/GET) and list (RPUSH/LRANGE)
//!   specifications.
//! - [`search`]: linearizability of one key: Wing–Gong search with a hashed memo.
//! - [`sequential`]: sequential consistency of one key (session order, no real time),
//!   for replica reads: the same search over a different choice of next operation.
//! - [`minimise`]: the shortest failing prefix of a failing key, without needless reads.
//! - [`lost_writes`]: acknowledged writes missing from the final state; values read that
//!   nobody wrote.
//!
//! Linearizability is compositional (P-compositionality): a history is linearizable when
//! each key's sub-history is, so keys are checked one by one, in parallel, which keeps
//! each search small however long the whole history is.

pub mod history;
pub mod lost_writes;
pub mod minimise;
pub mod model;
pub mod search;
pub mod sequential;

use history::{Op, Outcome};
use lost_writes::LostWrites;
use model::{CasRegister, Compiled, Counter, List, Model, Register, Timed};
use search::Verdict;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Memo entries one key's search may use before it is reported undecided: about 40
/// bytes each in the hash set, so ~80 MB per checking thread at most.
pub const STATES_MAX_DEFAULT: usize = 2_000_000;

/// Checks a recorded history for linearizability (per key) and lost writes; exits
/// non-zero when either fails or a key could not be decided.
#[derive(clap::Args, Debug)]
pub struct CheckArgs {
    /// The history: one JSON operation per line, as `holdfast-bench chaos` writes it.
    pub history: PathBuf,
    /// Memo entries one key's search may use before the key is reported undecided.
    #[arg(long, default_value_t = STATES_MAX_DEFAULT)]
    pub states_max: usize,
    /// The consistency model: `linearizable` (reads from the primary) or `sequential`
    /// (reads from replicas: each client session in order, no real time across them).
    #[arg(long, value_enum, default_value_t = Consistency::Linearizable)]
    pub consistency: Consistency,
}

/// What each key's history is checked for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Consistency {
    /// One order consistent with real time (Wing–Gong / Porcupine).
    #[default]
    Linearizable,
    /// One order consistent with each session's order (per key).
    Sequential,
}

impl Consistency {
    fn name(self) -> &'static str {
        match self {
            Consistency::Linearizable => "linearizability",
            Consistency::Sequential => "sequential consistency",
        }
    }

    fn violation(self) -> &'static str {
        match self {
            Consistency::Linearizable => "NOT LINEARIZABLE",
            Consistency::Sequential => "NOT SEQUENTIALLY CONSISTENT",
        }
    }
}

/// A key that failed, with the smallest failing sub-history found (history indices).
#[derive(Debug, Clone)]
pub struct Violation {
    pub key: String,
    pub smallest: Vec<usize>,
}

/// Everything the checkers found in one history.
#[derive(Debug, Default)]
pub struct Report {
    pub consistency: Consistency,
    pub ops: usize,
    pub keys: usize,
    pub outcomes: [usize; 3],
    pub consistent_keys: usize,
    pub violations: Vec<Violation>,
    /// Keys whose search reached the memo bound, with the entries it used.
    pub undecided: Vec<(String, usize)>,
    /// Keys no model covers, and why.
    pub unchecked: Vec<(String, String)>,
    pub lost: LostWrites,
    pub elapsed: Duration,
}

impl Report {
    /// Every key linearizable, every write accounted for.
    pub fn passed(&self) -> bool {
        self.violations.is_empty()
            && self.undecided.is_empty()
            && self.unchecked.is_empty()
            && self.lost.findings.is_empty()
    }
}

/// Reads and checks the history of `args`, prints the report, and says whether it passed.
pub fn run(args: &CheckArgs) -> Result<bool, history::Error> {
    let file = std::fs::File::open(&args.history).map_err(history::Error::Io)?;
    let history = history::read(std::io::BufReader::new(file))?;
    let report = check_history_as(&history, args.states_max, args.consistency);
    print!("{}", render(&report, &history, usize::MAX));
    Ok(report.passed())
}

/// The indices of each key's operations, keys in name order.
pub fn split_by_key(history: &[Op]) -> Vec<(String, Vec<usize>)> {
    let mut by_key: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, op) in history.iter().enumerate() {
        by_key.entry(&op.key).or_default().push(i);
    }
    let mut keys: Vec<(String, Vec<usize>)> = by_key
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    keys.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    keys
}

/// Checks `history` for linearizability and lost writes.
pub fn check_history(history: &[Op], states_max: usize) -> Report {
    check_history_as(history, states_max, Consistency::Linearizable)
}

/// Runs both checkers over `history`, the keys spread over the machine's cores.
pub fn check_history_as(history: &[Op], states_max: usize, consistency: Consistency) -> Report {
    let started = Instant::now();
    let by_key = split_by_key(history);
    let mut report = Report {
        consistency,
        ops: history.len(),
        keys: by_key.len(),
        // A replica's last read may lag: under sequential consistency none is final.
        lost: lost_writes::check(history, &by_key, consistency == Consistency::Linearizable),
        ..Report::default()
    };
    for op in history {
        report.outcomes[op.outcome as usize] += 1;
    }
    let results = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads.min(by_key.len()) {
            scope.spawn(|| {
                while let Some((key, indices)) = by_key.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let result = check_key(history, indices, states_max, consistency);
                    results.lock().unwrap().push((key.clone(), result));
                }
            });
        }
    });
    let mut results = results.into_inner().unwrap();
    results.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, result) in results {
        match result {
            KeyResult::Consistent => report.consistent_keys += 1,
            KeyResult::Violation(smallest) => report.violations.push(Violation { key, smallest }),
            KeyResult::Undecided(states) => report.undecided.push((key, states)),
            KeyResult::Unchecked(why) => report.unchecked.push((key, why)),
        }
    }
    report.elapsed = started.elapsed();
    report
}

enum KeyResult {
    Consistent,
    Violation(Vec<usize>),
    Undecided(usize),
    Unchecked(String),
}

fn check_key(
    history: &[Op],
    indices: &[usize],
    states_max: usize,
    consistency: Consistency,
) -> KeyResult {
    let checker = Checker {
        history,
        states_max,
        consistency,
    };
    match model::compile(history, indices) {
        Ok(Compiled::Register(ops)) => checker.check(&Register, &ops),
        Ok(Compiled::CasRegister(ops)) => checker.check(&CasRegister, &ops),
        Ok(Compiled::Counter(ops)) => checker.check(&Counter, &ops),
        Ok(Compiled::List(ops)) => checker.check(&List, &ops),
        Err(why) => KeyResult::Unchecked(why),
    }
}

/// One key's check under the chosen consistency model.
struct Checker<'a> {
    history: &'a [Op],
    states_max: usize,
    consistency: Consistency,
}

impl Checker<'_> {
    fn check<M: Model>(&self, model: &M, ops: &[Timed<M::Op>]) -> KeyResult {
        let verdict = |ops: &[Timed<M::Op>]| match self.consistency {
            Consistency::Linearizable => search::check(model, ops, self.states_max),
            Consistency::Sequential => {
                let sessions: Vec<u32> =
                    ops.iter().map(|t| self.history[t.source].process).collect();
                sequential::check(model, ops, &sessions, self.states_max)
            }
        };
        match verdict(ops) {
            Verdict::Consistent => KeyResult::Consistent,
            Verdict::Violation => KeyResult::Violation(match self.consistency {
                Consistency::Linearizable => {
                    minimise::smallest_failing(model, ops, self.states_max)
                }
                Consistency::Sequential => {
                    minimise::smallest_failing_reads_only::<M>(ops, &|ops| {
                        verdict(ops) == Verdict::Violation
                    })
                }
            }),
            Verdict::Undecided { states } => KeyResult::Undecided(states),
        }
    }
}

/// One operation as a report line: process, what it did, outcome, interval in ms.
pub fn describe(op: &Op) -> String {
    let value = |v: &Option<String>| {
        v.as_deref()
            .map_or("null".to_string(), |v| format!("{v:?}"))
    };
    let what = match op.kind {
        history::Kind::Write => format!("write {}", value(&op.input)),
        history::Kind::Read => format!("read -> {}", value(&op.output)),
        history::Kind::Incr => format!("incr -> {}", value(&op.output)),
        history::Kind::Append => {
            format!("append {} -> {}", value(&op.input), value(&op.output))
        }
        history::Kind::ReadList => match &op.elements {
            Some(elements) => format!("read-list -> {elements:?}"),
            None => "read-list -> null".to_string(),
        },
        history::Kind::Cas => format!(
            "cas {} -> {} -> {}",
            value(&op.expected),
            value(&op.input),
            value(&op.output)
        ),
    };
    let ms = |ns: u64| ns as f64 / 1e6;
    let outcome = match op.outcome {
        Outcome::Ok => "ok",
        Outcome::Fail => "fail",
        Outcome::Unknown => "unknown",
    };
    format!(
        "p{} {what} {outcome} [{:.3} ms, {:.3} ms]",
        op.process,
        ms(op.invoke_ns),
        ms(op.complete_ns)
    )
}

/// The report as text: summary, then the failures with their operations, at most
/// `failures_max` of each kind (the rest counted).
pub fn render(report: &Report, history: &[Op], failures_max: usize) -> String {
    let mut out = String::new();
    let [ok, fail, unknown] = report.outcomes;
    let _ = writeln!(
        out,
        "history: {} operations on {} keys ({ok} ok, {fail} failed, {unknown} unknown)",
        report.ops, report.keys
    );
    let _ = writeln!(
        out,
        "{}: {} keys pass, {} do not, {} undecided, {} unchecked ({:.2} s)",
        report.consistency.name(),
        report.consistent_keys,
        report.violations.len(),
        report.undecided.len(),
        report.unchecked.len(),
        report.elapsed.as_secs_f64()
    );
    let _ = writeln!(
        out,
        "lost writes: {} keys with a final read, {} without; {} findings",
        report.lost.keys_with_final_read,
        report.lost.keys_without_final_read,
        report.lost.findings.len()
    );
    for violation in report.violations.iter().take(failures_max) {
        let _ = writeln!(
            out,
            "{}: key {}; smallest failing sub-history ({} operations):",
            report.consistency.violation(),
            violation.key,
            violation.smallest.len()
        );
        for &i in &violation.smallest {
            let _ = writeln!(out, "  {}", describe(&history[i]));
        }
    }
    for (key, states) in &report.undecided {
        let _ = writeln!(
            out,
            "UNDECIDED: key {key}: the search reached {states} memo entries; raise --states-max"
        );
    }
    for (key, why) in &report.unchecked {
        let _ = writeln!(out, "UNCHECKED: key {key}: {why}");
    }
    for finding in report.lost.findings.iter().take(failures_max) {
        let _ = writeln!(out, "LOST WRITE: key {}: {}", finding.key, finding.detail);
        for &i in &finding.ops {
            let _ = writeln!(out, "  {}", describe(&history[i]));
        }
    }
    let untold = report.violations.len().saturating_sub(failures_max)
        + report.lost.findings.len().saturating_sub(failures_max);
    if untold > 0 {
        let _ = writeln!(out, "... and {untold} more failures (see the full report)");
    }
    let verdict = if report.passed() { "PASS" } else { "FAIL" };
    let _ = writeln!(out, "verdict: {verdict}");
    out
}

#[cfg(test)]
mod tests {
    use super::history::Kind;
    use super::*;

    fn op(process: u32, key: &str, kind: Kind, value: &str, from: u64, to: u64) -> Op {
        let value = Some(value.to_string());
        let (input, output) = match kind {
            Kind::Write => (value, None),
            _ => (None, value),
        };
        Op {
            process,
            key: key.into(),
            kind,
            input,
            output,
            elements: None,
            expected: None,
            invoke_ns: from,
            complete_ns: to,
            outcome: Outcome::Ok,
        }
    }

    fn cas(
        process: u32,
        expected: Option<&str>,
        new: &str,
        swapped: &str,
        from: u64,
        to: u64,
    ) -> Op {
        Op {
            input: Some(new.to_string()),
            output: Some(swapped.to_string()),
            expected: expected.map(str::to_string),
            ..op(process, "c", Kind::Cas, "", from, to)
        }
    }

    #[test]
    fn compare_and_set_is_checked_and_a_lost_update_is_caught() {
        // Two clients swap in turn, each expecting what the other set: fine.
        let good = vec![
            cas(1, None, "a", "1", 0, 1),
            op(2, "c", Kind::Read, "a", 2, 3),
            cas(2, Some("a"), "b", "1", 4, 5),
            cas(1, Some("a"), "c", "0", 6, 7),
            op(1, "c", Kind::Read, "b", 8, 9),
        ];
        let report = check_history(&good, 1000);
        assert!(report.passed(), "{}", render(&report, &good, usize::MAX));
        // Both swaps from "a" answered 1: one of them overwrote the other unseen.
        let lost_update = vec![
            cas(1, None, "a", "1", 0, 1),
            cas(1, Some("a"), "b", "1", 2, 5),
            cas(2, Some("a"), "c", "1", 3, 6),
        ];
        let report = check_history(&lost_update, 1000);
        assert!(!report.passed(), "a lost update passed the check");
    }

    #[test]
    fn keys_are_checked_apart_and_the_failing_one_is_named() {
        // Interleaved in time, both keys' histories are fine on their own except the
        // stale read of b; read across keys they would not be.
        let history = vec![
            op(1, "a", Kind::Write, "1", 0, 1),
            op(2, "b", Kind::Write, "1", 0, 1),
            op(1, "a", Kind::Read, "1", 2, 3),
            op(2, "b", Kind::Write, "2", 2, 3),
            op(1, "a", Kind::Write, "2", 4, 5),
            op(2, "b", Kind::Read, "1", 4, 5),
            op(1, "a", Kind::Read, "2", 6, 7),
        ];
        let report = check_history(&history, 1000);
        assert_eq!(report.keys, 2);
        assert_eq!(report.consistent_keys, 1);
        assert_eq!(report.violations.len(), 1);
        assert_eq!(report.violations[0].key, "b");
        assert_eq!(report.violations[0].smallest, [1, 3, 5]);
        assert!(!report.passed());
        let text = render(&report, &history, usize::MAX);
        assert!(text.contains("NOT LINEARIZABLE: key b"), "{text}");
        assert!(
            text.contains("p2 read -> \"1\" ok [0.000 ms, 0.000 ms]"),
            "{text}"
        );
        assert!(text.ends_with("verdict: FAIL\n"));
    }

    #[test]
    fn a_stale_read_passes_sequential_consistency_and_a_session_going_back_does_not() {
        // p1 writes 1 then 2; p2 later reads 1 (a lagging replica), then 2.
        let mut history = vec![
            op(1, "k", Kind::Write, "1", 0, 1),
            op(1, "k", Kind::Write, "2", 2, 3),
            op(2, "k", Kind::Read, "1", 4, 5),
            op(2, "k", Kind::Read, "2", 6, 7),
        ];
        let linearizable = check_history(&history, 1000);
        assert_eq!(linearizable.violations.len(), 1);
        let sequential = check_history_as(&history, 1000, Consistency::Sequential);
        assert_eq!(sequential.consistent_keys, 1);
        assert!(sequential.passed());
        // p2 now reads 2, then 1: its view went back in time.
        history[2].output = Some("2".into());
        history[3].output = Some("1".into());
        let sequential = check_history_as(&history, 1000, Consistency::Sequential);
        assert_eq!(sequential.violations.len(), 1);
        assert_eq!(sequential.violations[0].smallest, [0, 1, 2, 3]);
        let text = render(&sequential, &history, usize::MAX);
        assert!(
            text.contains("NOT SEQUENTIALLY CONSISTENT: key k; smallest failing sub-history (4"),
            "{text}"
        );
        assert!(
            text.contains("sequential consistency: 0 keys pass, 1 do not"),
            "{text}"
        );
    }

    #[test]
    fn a_mixed_key_is_reported_unchecked_not_passed() {
        let history = vec![
            op(1, "m", Kind::Write, "1", 0, 1),
            op(1, "m", Kind::Incr, "2", 2, 3),
        ];
        let report = check_history(&history, 1000);
        assert_eq!(report.unchecked.len(), 1);
        assert!(!report.passed());
    }
}

//! The checker on generated histories: tens of thousands of operations over many keys
//! (registers, counters and lists) from many concurrent clients, linearizable by
//! construction, must pass within seconds; the same history with one read made stale
//! must fail and name its key, and so must one with a list read missing an append.
//!
//! A history is made by giving each operation an interval on its client's timeline and
//! a linearization point inside it, then applying the operations to per-key state in
//! linearization-point order: that order is a witness, so the history is linearizable.
//! Some writes and increments are recorded as unknown; half of those never took effect.

use holdfast_bench::check::history::{Kind, Op, Outcome};
use holdfast_bench::check::{check_history, render, STATES_MAX_DEFAULT};
use std::collections::HashMap;
use std::time::{Duration, Instant};

const CLIENTS: u32 = 40;
const OPS: usize = 40_000;
const REGISTER_KEYS: usize = 150;
const COUNTER_KEYS: usize = 50;
const LIST_KEYS: usize = 50;

/// One planned operation: client, key, kind, interval and linearization point.
struct Planned {
    op: Op,
    at_ns: u64,
    takes_effect: bool,
}

fn plan(rng: &mut fastrand::Rng) -> Vec<Planned> {
    let mut free_at = vec![0u64; CLIENTS as usize];
    (0..OPS)
        .map(|i| {
            let process = rng.u32(0..CLIENTS);
            let invoke_ns = free_at[process as usize] + rng.u64(0..20_000);
            let complete_ns = invoke_ns + rng.u64(1_000..200_000);
            free_at[process as usize] = complete_ns;
            let family = rng.usize(0..REGISTER_KEYS + COUNTER_KEYS + LIST_KEYS);
            let (key, kind) = match (family, rng.bool()) {
                (f, true) if f < REGISTER_KEYS => (format!("reg:{f}"), Kind::Write),
                (f, false) if f < REGISTER_KEYS => (format!("reg:{f}"), Kind::Read),
                (f, update) if f < REGISTER_KEYS + COUNTER_KEYS => {
                    let kind = if update { Kind::Incr } else { Kind::Read };
                    (format!("ctr:{}", f - REGISTER_KEYS), kind)
                }
                (f, update) => {
                    let kind = if update { Kind::Append } else { Kind::ReadList };
                    (format!("list:{}", f - REGISTER_KEYS - COUNTER_KEYS), kind)
                }
            };
            let unknown = !matches!(kind, Kind::Read | Kind::ReadList) && rng.u32(0..100) == 0;
            Planned {
                op: Op {
                    process,
                    key,
                    kind,
                    input: matches!(kind, Kind::Write | Kind::Append)
                        .then(|| format!("{process}:{i}")),
                    output: None,
                    elements: None,
                    expected: None,
                    invoke_ns,
                    complete_ns,
                    outcome: if unknown {
                        Outcome::Unknown
                    } else {
                        Outcome::Ok
                    },
                },
                at_ns: rng.u64(invoke_ns..=complete_ns),
                takes_effect: !unknown || rng.bool(),
            }
        })
        .collect()
}

/// Applies the operations in linearization-point order, filling in their outputs.
fn linearizable_history(seed: u64) -> Vec<Op> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut planned = plan(&mut rng);
    let mut order: Vec<usize> = (0..planned.len()).collect();
    order.sort_by_key(|&i| planned[i].at_ns);
    let mut values: HashMap<String, String> = HashMap::new();
    let mut counts: HashMap<String, i64> = HashMap::new();
    let mut lists: HashMap<String, Vec<String>> = HashMap::new();
    for i in order {
        let Planned {
            op, takes_effect, ..
        } = &mut planned[i];
        if !*takes_effect {
            continue;
        }
        match op.kind {
            Kind::Write => {
                values.insert(op.key.clone(), op.input.clone().unwrap());
            }
            Kind::Incr => {
                let count = counts.entry(op.key.clone()).or_default();
                *count += 1;
                op.output = (op.outcome == Outcome::Ok).then(|| count.to_string());
            }
            Kind::Read if op.key.starts_with("ctr:") => {
                op.output = counts.get(&op.key).map(i64::to_string);
            }
            Kind::Read => op.output = values.get(&op.key).cloned(),
            Kind::Append => {
                let list = lists.entry(op.key.clone()).or_default();
                list.push(op.input.clone().unwrap());
                op.output = (op.outcome == Outcome::Ok).then(|| list.len().to_string());
            }
            Kind::ReadList => {
                op.elements = Some(lists.get(&op.key).cloned().unwrap_or_default());
            }
            // This generator plans no compare-and-set (the unit tests in check/ do).
            Kind::Cas => unreachable!("no compare-and-set is planned"),
        }
    }
    planned.into_iter().map(|p| p.op).collect()
}

#[test]
fn a_large_linearizable_history_passes_within_seconds() {
    let history = linearizable_history(7);
    let started = Instant::now();
    let report = check_history(&history, STATES_MAX_DEFAULT);
    let elapsed = started.elapsed();
    let text = render(&report, &history, usize::MAX);
    assert!(report.passed(), "{text}");
    assert_eq!(report.ops, OPS);
    assert_eq!(report.keys, REGISTER_KEYS + COUNTER_KEYS + LIST_KEYS);
    assert!(
        report.outcomes[2] > 100,
        "the history has unknown operations"
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    eprintln!("{text}checked {OPS} operations in {elapsed:?}");
}

#[test]
fn the_same_history_with_one_stale_read_fails_on_that_key() {
    let mut history = linearizable_history(7);
    // A read of a register that saw a value some earlier write had, where a later write
    // had completed before the read began.
    let stale = stale_read(&history).expect("the history has a read to make stale");
    let (index, old_value) = stale;
    history[index].output = Some(old_value);
    let report = check_history(&history, STATES_MAX_DEFAULT);
    assert!(!report.passed());
    assert_eq!(
        report.violations.len(),
        1,
        "{}",
        render(&report, &history, usize::MAX)
    );
    let violation = &report.violations[0];
    assert_eq!(violation.key, history[index].key);
    assert!(violation.smallest.contains(&index));
    assert!(
        violation.smallest.len() < 100,
        "{} ops",
        violation.smallest.len()
    );
}

/// A read at index i and a value it may not return: one written by an acknowledged
/// write that completed before another acknowledged write that completed before the
/// read was invoked.
fn stale_read(history: &[Op]) -> Option<(usize, String)> {
    let acked_write = |op: &&Op| op.kind == Kind::Write && op.outcome == Outcome::Ok;
    history.iter().enumerate().find_map(|(i, read)| {
        if read.kind != Kind::Read || !read.key.starts_with("reg:") {
            return None;
        }
        let writes: Vec<&Op> = history
            .iter()
            .filter(acked_write)
            .filter(|w| w.key == read.key && w.complete_ns < read.invoke_ns)
            .collect();
        let newer = writes.iter().max_by_key(|w| w.invoke_ns)?;
        let older = writes.iter().find(|w| w.complete_ns < newer.invoke_ns)?;
        Some((i, older.input.clone()?))
    })
}

#[test]
fn the_same_history_with_an_append_missing_from_a_list_read_fails() {
    let mut history = linearizable_history(7);
    let (index, read) = history
        .iter()
        .enumerate()
        .find(|(_, op)| op.kind == Kind::ReadList && op.elements.as_ref().unwrap().len() > 2)
        .expect("the history reads a list of three");
    let key = read.key.clone();
    // The second element vanishes: the first and third were appended around it.
    history[index].elements.as_mut().unwrap().remove(1);
    let report = check_history(&history, STATES_MAX_DEFAULT);
    let text = render(&report, &history, usize::MAX);
    assert_eq!(report.violations.len(), 1, "{text}");
    assert_eq!(report.violations[0].key, key);
    assert!(report.violations[0].smallest.contains(&index), "{text}");
}

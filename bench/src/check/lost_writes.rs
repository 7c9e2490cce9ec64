//! The lost-write check: cheap, separate from the linearizability search, and readable
//! in one line per finding.
//!
//! - Every acknowledged write is in the key's final state, or was overwritten: the final
//!   read of a register must not return a value whose write completed before an
//!   acknowledged write started (that write came later and must have won), nor null
//!   after any acknowledged write; the final count of a counter must be at least its
//!   acknowledged INCRs.
//! - Every value read was written by someone: a register's value by a write invoked
//!   before the read completed; a counter's count by that many INCRs invoked before it.
//!   A final count above acknowledged plus unknown INCRs is flagged too.
//! - Lists: every acknowledged RPUSH is in the final list; every element read was pushed
//!   by an RPUSH invoked before the read completed, and appears once.
//!
//! A key's final read is a read invoked after every other operation on the key had
//! completed (the workloads make one per key once the faults are healed); a key without
//! one gets only the second check.

use super::history::{Kind, Op, Outcome};

/// What the check found for a history.
#[derive(Debug, Default)]
pub struct LostWrites {
    pub keys_with_final_read: usize,
    pub keys_without_final_read: usize,
    pub findings: Vec<Finding>,
}

/// One anomaly, with the history indices of the operations it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub key: String,
    pub detail: String,
    pub ops: Vec<usize>,
}

/// Checks each key (`by_key` maps a key to the indices of its operations, in history
/// order). Without `final_reads` no read is taken as a key's final state: reads from a
/// replica may lag behind any write, so only the second check applies to them.
pub fn check(history: &[Op], by_key: &[(String, Vec<usize>)], final_reads: bool) -> LostWrites {
    let mut result = LostWrites::default();
    for (key, indices) in by_key {
        let ops: Vec<(usize, &Op)> = indices.iter().map(|&i| (i, &history[i])).collect();
        let is_counter = ops.iter().any(|(_, op)| op.kind == Kind::Incr);
        let is_list = ops
            .iter()
            .any(|(_, op)| matches!(op.kind, Kind::Append | Kind::ReadList));
        let final_read = final_reads.then(|| final_read(&ops)).flatten();
        match final_read {
            Some(_) => result.keys_with_final_read += 1,
            None => result.keys_without_final_read += 1,
        }
        let found = if is_counter {
            check_counter(&ops, final_read)
        } else if is_list {
            check_list(&ops, final_read)
        } else {
            check_register(&ops, final_read)
        };
        result
            .findings
            .extend(found.into_iter().map(|(detail, ops)| Finding {
                key: key.clone(),
                detail,
                ops,
            }));
    }
    result
}

type Found = Vec<(String, Vec<usize>)>;

/// The last ok read invoked after every other operation of the key completed.
fn final_read<'a>(ops: &[(usize, &'a Op)]) -> Option<(usize, &'a Op)> {
    let (index, read) = ops
        .iter()
        .filter(|(_, op)| matches!(op.kind, Kind::Read | Kind::ReadList))
        .filter(|(_, op)| op.outcome == Outcome::Ok)
        .max_by_key(|(i, op)| (op.invoke_ns, *i))?;
    let quiet = ops
        .iter()
        .filter(|(i, _)| i != index)
        .all(|(_, op)| op.complete_ns < read.invoke_ns);
    quiet.then_some((*index, *read))
}

/// A register operation that wrote its input or may have: a SET not known to have
/// failed, a compare-and-set that answered it set, or whose answer is unknown.
fn writes_value(op: &Op) -> bool {
    match (op.kind, op.outcome) {
        (_, Outcome::Fail) => false,
        (Kind::Write, _) => true,
        (Kind::Cas, Outcome::Unknown) => true,
        (Kind::Cas, Outcome::Ok) => op.output.as_deref() == Some("1"),
        _ => false,
    }
}

fn check_register(ops: &[(usize, &Op)], final_read: Option<(usize, &Op)>) -> Found {
    let writes: Vec<(usize, &Op)> = ops
        .iter()
        .copied()
        .filter(|(_, op)| writes_value(op))
        .collect();
    let writers_of = |value: &str, read: &Op| -> Vec<(usize, &Op)> {
        writes
            .iter()
            .copied()
            .filter(|(_, w)| w.input.as_deref() == Some(value) && w.invoke_ns < read.complete_ns)
            .collect()
    };
    let mut found = Found::new();
    for &(index, read) in ops {
        let Some(value) = read.output.as_deref() else {
            continue;
        };
        if read.kind == Kind::Read
            && read.outcome == Outcome::Ok
            && writers_of(value, read).is_empty()
        {
            found.push((
                format!("read {value:?}, which no write had written"),
                vec![index],
            ));
        }
    }
    let Some((final_index, final_op)) = final_read else {
        return found;
    };
    let acknowledged = writes.iter().filter(|(_, w)| w.outcome == Outcome::Ok);
    let Some(value) = final_op.output.as_deref() else {
        found.extend(acknowledged.map(|&(i, w)| {
            let input = w.input.as_deref().unwrap_or_default();
            (
                format!("acknowledged write of {input:?} lost: the final read is null"),
                vec![i, final_index],
            )
        }));
        return found;
    };
    // The latest-completing write of the final value is the most lenient explanation.
    let Some(&(writer_index, writer)) = writers_of(value, final_op)
        .iter()
        .max_by_key(|(_, w)| effective_completion(w))
    else {
        return found;
    };
    for &(i, w) in acknowledged {
        if i != writer_index && effective_completion(writer) < w.invoke_ns {
            let input = w.input.as_deref().unwrap_or_default();
            found.push((
                format!(
                    "acknowledged write of {input:?} lost: the final read returned {value:?}, \
                     written before it"
                ),
                vec![i, writer_index, final_index],
            ));
        }
    }
    found
}

/// When an operation is known to have completed by: never, for an unknown outcome.
fn effective_completion(op: &Op) -> u64 {
    match op.outcome {
        Outcome::Unknown => u64::MAX,
        _ => op.complete_ns,
    }
}

fn check_counter(ops: &[(usize, &Op)], final_read: Option<(usize, &Op)>) -> Found {
    let incrs = |outcome| {
        ops.iter()
            .filter(|(_, op)| op.kind == Kind::Incr && op.outcome == outcome)
            .count() as i64
    };
    let (acknowledged, unknown) = (incrs(Outcome::Ok), incrs(Outcome::Unknown));
    let count_of = |op: &Op| op.output.as_deref().map_or(Ok(0), str::parse::<i64>);
    let mut found = Found::new();
    for &(index, read) in ops.iter().filter(|(_, op)| op.outcome == Outcome::Ok) {
        let invoked_before = ops
            .iter()
            .filter(|(_, op)| op.kind == Kind::Incr && op.outcome != Outcome::Fail)
            .filter(|(_, op)| op.invoke_ns < read.complete_ns)
            .count() as i64;
        match count_of(read) {
            Ok(count) if count <= invoked_before => {}
            Ok(count) => found.push((
                format!("saw {count}, but only {invoked_before} INCRs had been invoked"),
                vec![index],
            )),
            Err(_) => found.push(("read a value that is no count".into(), vec![index])),
        }
    }
    let Some((final_index, final_op)) = final_read else {
        return found;
    };
    let Ok(count) = count_of(final_op) else {
        return found;
    };
    if count < acknowledged {
        found.push((
            format!(
                "{} acknowledged INCRs lost: {acknowledged} acknowledged, final count {count}",
                acknowledged - count
            ),
            vec![final_index],
        ));
    }
    if count > acknowledged + unknown {
        found.push((
            format!(
                "final count {count} exceeds the {acknowledged} acknowledged and {unknown} \
                 unknown INCRs"
            ),
            vec![final_index],
        ));
    }
    found
}

fn check_list(ops: &[(usize, &Op)], final_read: Option<(usize, &Op)>) -> Found {
    let appends: Vec<(usize, &Op)> = ops
        .iter()
        .copied()
        .filter(|(_, op)| op.kind == Kind::Append && op.outcome != Outcome::Fail)
        .collect();
    let mut found = Found::new();
    let reads = ops
        .iter()
        .filter(|(_, op)| op.kind == Kind::ReadList && op.outcome == Outcome::Ok);
    for &(index, read) in reads {
        let elements = read.elements.as_deref().unwrap_or_default();
        let mut seen = std::collections::HashSet::new();
        for value in elements {
            if !seen.insert(value) {
                found.push((format!("read {value:?} twice in one list"), vec![index]));
            }
            let pushed = appends.iter().any(|(_, a)| {
                a.input.as_deref() == Some(value.as_str()) && a.invoke_ns < read.complete_ns
            });
            if !pushed {
                found.push((
                    format!("read {value:?}, which no RPUSH had pushed"),
                    vec![index],
                ));
            }
        }
    }
    let Some((final_index, final_op)) = final_read else {
        return found;
    };
    let present: std::collections::HashSet<&str> = final_op
        .elements
        .iter()
        .flatten()
        .map(String::as_str)
        .collect();
    for &(i, append) in appends.iter().filter(|(_, a)| a.outcome == Outcome::Ok) {
        let value = append.input.as_deref().unwrap_or_default();
        if !present.contains(value) {
            found.push((
                format!("acknowledged RPUSH of {value:?} lost: not in the final list"),
                vec![i, final_index],
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: Kind, value: Option<&str>, from: u64, to: u64, outcome: Outcome) -> Op {
        let (input, output) = match kind {
            Kind::Write | Kind::Append => (value, None),
            _ => (None, value),
        };
        Op {
            process: 0,
            key: "k".into(),
            kind,
            input: input.map(str::to_string),
            output: output.map(str::to_string),
            elements: None,
            expected: None,
            invoke_ns: from,
            complete_ns: to,
            outcome,
        }
    }

    fn run(history: &[Op]) -> LostWrites {
        let indices = (0..history.len()).collect();
        check(history, &[("k".to_string(), indices)], true)
    }

    use Kind::{Append, Incr, Read, ReadList, Write};

    fn list_read(elements: &[&str], from: u64, to: u64) -> Op {
        let mut read = op(ReadList, None, from, to, Acked);
        read.elements = Some(elements.iter().map(|e| e.to_string()).collect());
        read
    }

    #[test]
    fn list_appends_must_survive_and_reads_must_hold_only_pushed_values() {
        let fine = [
            op(Append, Some("a"), 0, 1, Acked),
            op(Append, Some("b"), 2, 3, Unknown),
            list_read(&["a"], 4, 5),
            list_read(&["a"], 10, 11),
        ];
        let result = run(&fine);
        assert_eq!(result.findings, []);
        assert_eq!(result.keys_with_final_read, 1);
        let lost = [
            op(Append, Some("a"), 0, 1, Acked),
            op(Append, Some("b"), 2, 3, Acked),
            list_read(&["a", "a", "ghost"], 10, 11),
        ];
        let details: Vec<String> = run(&lost).findings.into_iter().map(|f| f.detail).collect();
        assert_eq!(
            details,
            [
                "read \"a\" twice in one list",
                "read \"ghost\", which no RPUSH had pushed",
                "acknowledged RPUSH of \"b\" lost: not in the final list",
            ]
        );
    }
    use Outcome::{Ok as Acked, Unknown};

    #[test]
    fn overwritten_and_final_writes_are_not_lost() {
        let history = [
            op(Write, Some("a"), 0, 1, Acked),
            op(Write, Some("b"), 2, 3, Acked),
            op(Write, Some("c"), 4, 5, Unknown),
            op(Read, Some("b"), 10, 11, Acked),
        ];
        let result = run(&history);
        assert_eq!(result.findings, []);
        assert_eq!(result.keys_with_final_read, 1);
    }

    #[test]
    fn a_final_value_older_than_an_acknowledged_write_is_a_loss() {
        let history = [
            op(Write, Some("a"), 0, 1, Acked),
            op(Write, Some("b"), 2, 3, Acked),
            op(Read, Some("a"), 10, 11, Acked),
        ];
        let result = run(&history);
        assert_eq!(result.findings.len(), 1, "{:?}", result.findings);
        assert_eq!(result.findings[0].ops, [1, 0, 2]);
        assert!(result.findings[0].detail.contains("\"b\" lost"));
    }

    #[test]
    fn a_null_final_read_loses_every_acknowledged_write() {
        let history = [
            op(Write, Some("a"), 0, 1, Acked),
            op(Write, Some("b"), 2, 3, Unknown),
            op(Read, None, 10, 11, Acked),
        ];
        let result = run(&history);
        assert_eq!(result.findings.len(), 1);
        assert!(result.findings[0].detail.contains("final read is null"));
    }

    #[test]
    fn a_value_nobody_wrote_is_flagged_and_a_key_without_final_read_counted() {
        let history = [
            op(Write, Some("a"), 0, 10, Acked),
            op(Read, Some("z"), 1, 2, Acked),
            // A value written only after the read completed does not explain it either.
            op(Read, Some("late"), 3, 4, Acked),
            op(Write, Some("late"), 5, 20, Acked),
        ];
        let result = run(&history);
        assert_eq!(result.keys_without_final_read, 1);
        let flagged: Vec<_> = result.findings.iter().map(|f| f.ops.clone()).collect();
        assert_eq!(flagged, [vec![1], vec![2]]);
    }

    #[test]
    fn counters_lose_increments_below_the_acknowledged_count() {
        let incr = |n: &str, from, outcome| op(Incr, Some(n), from, from + 1, outcome);
        let good = [
            incr("1", 0, Acked),
            incr("2", 2, Acked),
            incr("3", 4, Unknown),
            op(Read, Some("3"), 10, 11, Acked),
        ];
        assert_eq!(run(&good).findings, []);
        let lost = [
            incr("1", 0, Acked),
            incr("2", 2, Acked),
            op(Read, Some("1"), 10, 11, Acked),
        ];
        let findings = run(&lost).findings;
        assert_eq!(findings.len(), 1);
        assert!(findings[0].detail.starts_with("1 acknowledged INCRs lost"));
        let invented = [incr("1", 0, Acked), op(Read, Some("5"), 10, 11, Acked)];
        assert_eq!(
            run(&invented).findings.len(),
            2,
            "read check and final check"
        );
    }
}

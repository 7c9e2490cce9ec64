//! The smallest failing sub-history of a key that failed, for the report: small enough to
//! read, and failing on its own, so it is a proof and not a hint.
//!
//! Two reductions for linearizability (only the second for sequential consistency, where
//! a read may see a write invoked after it, so a time prefix proves nothing), each of
//! which keeps a failure a real one:
//!
//! 1. The shortest failing prefix in time: the history as it stood at time T, where an
//!    operation still running at T is of unknown outcome (a read still running is
//!    dropped). Linearizability is closed under such prefixes (restricting a valid
//!    linearization to them leaves one), so if the prefix at T fails, the whole history
//!    does, and a binary search over completion times finds the earliest T.
//! 2. Then reads are dropped, latest first, while the rest still fails: a read only adds
//!    a constraint, so a history that fails without it fails with it too. Writes are
//!    never dropped: without one, a read of its value would fail for a new reason.

use super::model::{Model, Timed, PENDING};
use super::search::{check, Verdict};

/// At most this many searches to drop reads; each runs on the already short prefix.
const READ_DROPS_MAX: usize = 400;

/// The history of `ops` as it stood at `time_ns`.
fn prefix<O: Clone>(ops: &[Timed<O>], time_ns: u64, is_read: fn(&O) -> bool) -> Vec<Timed<O>> {
    ops.iter()
        .filter(|t| t.invoke_ns <= time_ns)
        .filter(|t| t.complete_ns <= time_ns || !is_read(&t.op))
        .map(|t| Timed {
            complete_ns: if t.complete_ns <= time_ns {
                t.complete_ns
            } else {
                PENDING
            },
            ..t.clone()
        })
        .collect()
}

fn fails<M: Model>(model: &M, ops: &[Timed<M::Op>], states_max: usize) -> bool {
    check(model, ops, states_max) == Verdict::Violation
}

/// The shortest prefix of `ops` (which must fail) that fails.
fn shortest_failing_prefix<M: Model>(
    model: &M,
    ops: &[Timed<M::Op>],
    states_max: usize,
) -> Vec<Timed<M::Op>> {
    let mut times: Vec<u64> = ops
        .iter()
        .map(|t| t.complete_ns)
        .filter(|&c| c != PENDING)
        .collect();
    times.sort_unstable();
    times.dedup();
    // partition_point needs "passes" then "fails": prefixes fail from some time on.
    let first_failing =
        times.partition_point(|&time| !fails(model, &prefix(ops, time, M::is_read), states_max));
    match times.get(first_failing) {
        Some(&time) => prefix(ops, time, M::is_read),
        None => ops.to_vec(),
    }
}

/// Whether a sub-history still fails.
pub type Fails<'a, O> = dyn Fn(&[Timed<O>]) -> bool + 'a;

/// Drops reads from `ops` (which fail by `fails`), latest first, keeping each drop that
/// still fails.
fn drop_reads<M: Model>(mut ops: Vec<Timed<M::Op>>, fails: &Fails<M::Op>) -> Vec<Timed<M::Op>> {
    let mut position = ops.len();
    let mut tries = 0;
    while position > 0 && tries < READ_DROPS_MAX {
        position -= 1;
        if !M::is_read(&ops[position].op) {
            continue;
        }
        tries += 1;
        let dropped = ops.remove(position);
        if !fails(&ops) {
            ops.insert(position, dropped);
        }
    }
    ops
}

/// The smallest failing sub-history found for `ops`, which must fail: the indices of
/// its operations in the history, in time order of invocation.
pub fn smallest_failing<M: Model>(
    model: &M,
    ops: &[Timed<M::Op>],
    states_max: usize,
) -> Vec<usize> {
    let shortest = shortest_failing_prefix(model, ops, states_max);
    let reduced = drop_reads::<M>(shortest, &|ops| fails(model, ops, states_max));
    sources(reduced)
}

/// The smallest failing sub-history found for `ops` under a check without real time
/// (sequential consistency), which must fail by `fails`. Only reads are dropped: a time
/// prefix is no proof there, since a read may see a write invoked after it.
pub fn smallest_failing_reads_only<M: Model>(
    ops: &[Timed<M::Op>],
    fails: &Fails<M::Op>,
) -> Vec<usize> {
    sources(drop_reads::<M>(ops.to_vec(), fails))
}

fn sources<O>(mut ops: Vec<Timed<O>>) -> Vec<usize> {
    ops.sort_by_key(|t| (t.invoke_ns, t.source));
    ops.iter().map(|t| t.source).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::model::{Register, RegisterOp};

    fn at(op: RegisterOp, invoke_ns: u64, complete_ns: u64, source: usize) -> Timed<RegisterOp> {
        Timed {
            op,
            invoke_ns,
            complete_ns,
            source,
        }
    }

    #[test]
    fn finds_the_stale_read_amid_many_good_operations() {
        // 100 rounds of write i then read i, except that the read of round 40 sees 38.
        let mut ops = Vec::new();
        for i in 0..100u32 {
            let t = u64::from(i) * 10;
            let seen = if i == 40 { 38 } else { i };
            ops.push(at(RegisterOp::Write(i), t, t + 2, ops.len()));
            ops.push(at(RegisterOp::Read(Some(seen)), t + 3, t + 5, ops.len()));
        }
        assert_eq!(check(&Register, &ops, 1_000_000), Verdict::Violation);
        let smallest = smallest_failing(&Register, &ops, 1_000_000);
        // Every write up to round 40 stays (writes are never dropped); of the reads only
        // the stale one is needed.
        let reads: Vec<usize> = smallest.iter().copied().filter(|s| s % 2 == 1).collect();
        assert_eq!(reads, [81]);
        assert_eq!(smallest.len(), 41 + 1);
        assert_eq!(smallest.last(), Some(&81));
        let sub: Vec<_> = smallest.iter().map(|&s| ops[s].clone()).collect();
        assert_eq!(check(&Register, &sub, 1_000_000), Verdict::Violation);
    }

    #[test]
    fn an_operation_running_at_the_cut_becomes_unknown() {
        // The write of 2 is still running when the read of 2 completes; the failure is
        // the read of 1 at the end, which the cut before it must not cause on its own.
        let ops = vec![
            at(RegisterOp::Write(1), 0, 1, 0),
            at(RegisterOp::Write(2), 2, 50, 1),
            at(RegisterOp::Read(Some(2)), 3, 4, 2),
            at(RegisterOp::Read(Some(1)), 60, 61, 3),
        ];
        let at_4 = prefix(&ops, 4, |op| matches!(op, RegisterOp::Read(_)));
        assert_eq!(at_4.len(), 3);
        assert_eq!(at_4[1].complete_ns, PENDING);
        assert_eq!(check(&Register, &at_4, 1000), Verdict::Consistent);
        // The read of 2 is not needed: the write of 2 completed before the read of 1.
        assert_eq!(smallest_failing(&Register, &ops, 1000), [0, 1, 3]);
    }
}

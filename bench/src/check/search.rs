//! Linearizability of one key's operations: the Wing–Gong search as Porcupine runs it.
//!
//! The operations become a time-ordered list of call and return events (a call before a
//! return at the same instant, so touching operations count as concurrent). The search
//! walks the list: at a call it tries to linearize that operation next (the model must
//! accept its output), removing its call and return from the list and starting over from
//! the head; reaching a return means the operation it ends cannot be linearized after
//! anything still pending, so it backtracks to the last choice. The list emptied is a
//! linearization; backtracking past the first choice is a proof there is none.
//!
//! The memo is what makes this fast: a (set of linearized operations, model state) pair
//! reached once needs no second visit. It is kept as hashes only: the set as the XOR of
//! one random 128-bit number per operation (Zobrist hashing, updated in O(1) per step),
//! the state as a 64-bit hash, so an entry costs 24 bytes whatever the history's length.
//! A collision could only prune a branch wrongly with probability about n²/2¹⁹²; the
//! number of entries is bounded, and a search that reaches the bound is reported
//! undecided, never passed.

use super::model::{Model, Timed, PENDING};
use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

/// What the search concluded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// An order exists: a linearization (or, from [`super::sequential`], a total order
    /// that keeps each session's order).
    Consistent,
    /// No order of the operations is allowed by both real time and the model.
    Violation,
    /// The memo reached its bound before the search ended.
    Undecided { states: usize },
}

/// The end of the event list.
const NIL: usize = usize::MAX;

/// The events of `ops` in time order, as a doubly linked list that can drop an
/// operation's call and return and put them back (dancing links).
struct Events {
    /// (time, is_return, operation) in time order.
    events: Vec<(u64, bool, usize)>,
    /// The position of each operation's return event.
    return_of: Vec<usize>,
    next: Vec<usize>,
    prev: Vec<usize>,
}

impl Events {
    fn new<O>(ops: &[Timed<O>]) -> Events {
        let mut events: Vec<(u64, bool, usize)> = ops
            .iter()
            .enumerate()
            .flat_map(|(i, t)| [(t.invoke_ns, false, i), (t.complete_ns, true, i)])
            .collect();
        events.sort_unstable();
        let mut return_of = vec![0; ops.len()];
        for (position, &(_, is_return, op)) in events.iter().enumerate() {
            if is_return {
                return_of[op] = position;
            }
        }
        let len = events.len();
        // Positions 0..len are the events in order; position `len` is the head sentinel.
        let mut next: Vec<usize> = (1..=len).map(|n| if n == len { NIL } else { n }).collect();
        next.push(if len == 0 { NIL } else { 0 });
        let prev = (0..=len)
            .map(|p| if p == 0 { len } else { p - 1 })
            .collect();
        Events {
            events,
            return_of,
            next,
            prev,
        }
    }

    fn head(&self) -> usize {
        self.events.len()
    }

    fn first(&self) -> usize {
        self.next[self.head()]
    }

    fn unlink(&mut self, p: usize) {
        let (prev, next) = (self.prev[p], self.next[p]);
        self.next[prev] = next;
        if next != NIL {
            self.prev[next] = prev;
        }
    }

    fn relink(&mut self, p: usize) {
        let (prev, next) = (self.prev[p], self.next[p]);
        self.next[prev] = p;
        if next != NIL {
            self.prev[next] = p;
        }
    }

    /// Removes the call at `call` and its return.
    fn lift(&mut self, call: usize) {
        let ret = self.return_of[self.events[call].2];
        self.unlink(call);
        self.unlink(ret);
    }

    /// Undoes the last [`Events::lift`], which must have been of `call`.
    fn unlift(&mut self, call: usize) {
        let ret = self.return_of[self.events[call].2];
        self.relink(ret);
        self.relink(call);
    }
}

/// A fixed pseudo-random 128-bit number per operation (splitmix64, twice).
pub(super) fn zobrist(op: usize) -> u128 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let op = op as u64;
    (u128::from(mix(2 * op)) << 64) | u128::from(mix(2 * op + 1))
}

pub(super) fn state_hash<S: Hash>(state: &S) -> u64 {
    let mut hasher = DefaultHasher::new();
    state.hash(&mut hasher);
    hasher.finish()
}

/// A choice to undo: the call linearized, and the state and set hash before it.
struct Choice<S> {
    call: usize,
    state: S,
    linearized: u128,
}

/// For each operation of unknown outcome, the one it must not be linearized before: the
/// latest earlier-invoked unknown operation that is the same model operation.
///
/// Identical unknown operations (the INCRs of a counter whose replies were lost) are
/// interchangeable, except that a later-invoked one can go in fewer places. Any
/// linearization that uses the later one where the earlier one is still unused stays
/// valid with the two swapped, so only linearizations that use them in invocation order
/// need searching. Without this, every subset of a counter's lost INCRs is a separate
/// memo entry, and a key with a few dozen of them exhausts the memo.
fn identical_predecessors<O: PartialEq>(ops: &[Timed<O>]) -> Vec<Option<usize>> {
    let mut pending: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].complete_ns == PENDING)
        .collect();
    pending.sort_by_key(|&i| (ops[i].invoke_ns, i));
    let mut before = vec![None; ops.len()];
    for (n, &i) in pending.iter().enumerate() {
        before[i] = pending[..n]
            .iter()
            .rev()
            .copied()
            .find(|&j| ops[j].op == ops[i].op);
    }
    before
}

/// Whether `ops` (one key's operations) are linearizable under `model`, visiting at most
/// `states_max` distinct (linearized set, state) pairs.
pub fn check<M: Model>(model: &M, ops: &[Timed<M::Op>], states_max: usize) -> Verdict {
    let identical_before = identical_predecessors(ops);
    let mut done = vec![false; ops.len()];
    let mut events = Events::new(ops);
    let mut memo: HashSet<(u128, u64)> = HashSet::new();
    let mut stack: Vec<Choice<M::State>> = Vec::new();
    let mut state = model.init();
    let mut linearized: u128 = 0;
    let mut entry = events.first();
    while events.first() != NIL {
        debug_assert_ne!(entry, NIL, "the list always ends with a return");
        let (_, is_return, op) = events.events[entry];
        if is_return {
            let Some(choice) = stack.pop() else {
                return Verdict::Violation;
            };
            done[events.events[choice.call].2] = false;
            events.unlift(choice.call);
            (state, linearized) = (choice.state, choice.linearized);
            entry = events.next[choice.call];
            continue;
        }
        if identical_before[op].is_some_and(|earlier| !done[earlier]) {
            entry = events.next[entry];
            continue;
        }
        // Linearize `op` next if the model allows it and that leads somewhere new.
        let unvisited = |next: &M::State| memo.insert((linearized ^ zobrist(op), state_hash(next)));
        let Some(next) = model.step(&state, &ops[op].op).filter(unvisited) else {
            entry = events.next[entry];
            continue;
        };
        if memo.len() > states_max {
            return Verdict::Undecided { states: memo.len() };
        }
        stack.push(Choice {
            call: entry,
            state: std::mem::replace(&mut state, next),
            linearized,
        });
        linearized ^= zobrist(op);
        done[op] = true;
        events.lift(entry);
        entry = events.first();
    }
    Verdict::Consistent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::model::{Counter, CounterOp, Register, RegisterOp, PENDING};

    const STATES: usize = 1_000_000;

    fn at<O>(op: O, invoke_ns: u64, complete_ns: u64) -> Timed<O> {
        Timed {
            op,
            invoke_ns,
            complete_ns,
            source: 0,
        }
    }

    fn write(v: u32, from: u64, to: u64) -> Timed<RegisterOp> {
        at(RegisterOp::Write(v), from, to)
    }

    fn read(v: Option<u32>, from: u64, to: u64) -> Timed<RegisterOp> {
        at(RegisterOp::Read(v), from, to)
    }

    fn register(ops: &[Timed<RegisterOp>]) -> Verdict {
        check(&Register, ops, STATES)
    }

    #[test]
    fn no_operations_are_linearizable() {
        assert_eq!(register(&[]), Verdict::Consistent);
    }

    #[test]
    fn sequential_reads_of_the_latest_write_pass() {
        let ops = [
            read(None, 0, 1),
            write(1, 2, 3),
            read(Some(1), 4, 5),
            write(2, 6, 7),
            read(Some(2), 8, 9),
        ];
        assert_eq!(register(&ops), Verdict::Consistent);
    }

    #[test]
    fn a_stale_read_fails() {
        let ops = [write(1, 0, 1), write(2, 2, 3), read(Some(1), 4, 5)];
        assert_eq!(register(&ops), Verdict::Violation);
    }

    #[test]
    fn a_lost_write_fails() {
        // The write was acknowledged, then a later read finds the key missing.
        let ops = [write(1, 0, 1), read(None, 2, 3)];
        assert_eq!(register(&ops), Verdict::Violation);
    }

    #[test]
    fn a_read_of_a_value_never_written_fails() {
        let ops = [write(1, 0, 1), read(Some(7), 0, 5)];
        assert_eq!(register(&ops), Verdict::Violation);
    }

    #[test]
    fn a_write_visible_before_it_was_invoked_fails() {
        let ops = [read(Some(1), 0, 1), write(1, 2, 3)];
        assert_eq!(register(&ops), Verdict::Violation);
    }

    #[test]
    fn concurrent_operations_pass_when_one_order_explains_them() {
        // The write overlaps both reads: the first read is before it, the second after.
        let ops = [write(1, 0, 10), read(None, 1, 2), read(Some(1), 3, 4)];
        assert_eq!(register(&ops), Verdict::Consistent);
        // Two overlapping writes, then reads that only the order 2-then-1 explains.
        let ops = [write(1, 0, 10), write(2, 0, 10), read(Some(1), 11, 12)];
        assert_eq!(register(&ops), Verdict::Consistent);
    }

    #[test]
    fn concurrent_operations_fail_when_reads_need_two_orders() {
        // After both writes completed, one read sees 1 and a later read sees 2: the
        // writes cannot have happened in both orders.
        let ops = [
            write(1, 0, 10),
            write(2, 0, 10),
            read(Some(1), 11, 12),
            read(Some(2), 13, 14),
        ];
        assert_eq!(register(&ops), Verdict::Violation);
        // Reads concurrent with each other seeing 1 then 2 then 1 again.
        let ops = [
            write(1, 0, 1),
            write(2, 2, 20),
            read(Some(2), 3, 4),
            read(Some(1), 5, 6),
        ];
        assert_eq!(register(&ops), Verdict::Violation);
    }

    #[test]
    fn an_unknown_write_may_take_effect_late() {
        let ops = [
            write(1, 0, PENDING),
            read(None, 5, 6),
            read(Some(1), 100, 101),
        ];
        assert_eq!(register(&ops), Verdict::Consistent);
    }

    #[test]
    fn an_unknown_write_may_never_take_effect() {
        let ops = [write(1, 0, 1), write(2, 2, PENDING), read(Some(1), 10, 11)];
        assert_eq!(register(&ops), Verdict::Consistent);
    }

    #[test]
    fn an_unknown_write_cannot_take_effect_before_it_was_invoked() {
        let ops = [read(Some(1), 0, 1), write(1, 2, PENDING)];
        assert_eq!(register(&ops), Verdict::Violation);
        // Nor undo its effect once seen: after reading 2, the older 1 cannot come back.
        let ops = [
            write(1, 0, 1),
            write(2, 2, PENDING),
            read(Some(2), 3, 4),
            read(Some(1), 5, 6),
        ];
        assert_eq!(register(&ops), Verdict::Violation);
    }

    #[test]
    fn counters_pass_with_overlapping_increments_and_fail_on_a_lost_one() {
        let incr = |n, from, to| at(CounterOp::Incr(n), from, to);
        let get = |n, from, to| at(CounterOp::Read(Some(n)), from, to);
        let ops = [incr(Some(2), 0, 10), incr(Some(1), 1, 9), get(2, 11, 12)];
        assert_eq!(check(&Counter, &ops, STATES), Verdict::Consistent);
        let lost = [incr(Some(1), 0, 1), incr(Some(2), 2, 3), get(1, 4, 5)];
        assert_eq!(check(&Counter, &lost, STATES), Verdict::Violation);
        let unknown = [incr(Some(1), 0, 1), incr(None, 2, PENDING), get(1, 4, 5)];
        assert_eq!(check(&Counter, &unknown, STATES), Verdict::Consistent);
        let seen = [incr(None, 0, PENDING), get(1, 4, 5), get(0, 6, 7)];
        assert_eq!(check(&Counter, &seen, STATES), Verdict::Violation);
    }

    #[test]
    fn the_memo_bound_makes_a_large_search_undecided_not_passed() {
        // Overlapping writes whose reads need a deep search.
        let mut ops: Vec<_> = (0..20).map(|i| write(i, i.into(), 1000)).collect();
        ops.push(read(Some(25), 1001, 1002));
        assert!(matches!(
            check(&Register, &ops, 50),
            Verdict::Undecided { .. }
        ));
    }

    #[test]
    fn many_lost_increments_are_searched_as_one_pile() {
        // 60 INCRs of unknown outcome, interleaved with reads that need some of them: the
        // subsets of identical lost INCRs would be 2^60 memo entries; in invocation order
        // they are a few hundred.
        let mut ops = Vec::new();
        for i in 0..60u64 {
            ops.push(at(CounterOp::Incr(None), i * 10, PENDING));
            ops.push(at(
                CounterOp::Read(Some(i as i64 / 2)),
                i * 10 + 1,
                i * 10 + 2,
            ));
        }
        assert_eq!(check(&Counter, &ops, 10_000), Verdict::Consistent);
        // A read above everything invoked before it still fails.
        ops.push(at(CounterOp::Read(Some(61)), 2000, 2001));
        assert_eq!(check(&Counter, &ops, 10_000), Verdict::Violation);
    }
}

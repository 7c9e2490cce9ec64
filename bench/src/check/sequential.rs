//! Sequential consistency of one key's operations, for reads from replicas: one total
//! order of the operations that the model accepts and that keeps each client session's
//! operations in the order the session issued them, with no real-time constraint across
//! sessions (a replica may serve a read from the past, as long as each session's view
//! only moves forward and every view is one the primary's order passed through).
//!
//! The search is the same depth-first one as [`super::search`], with the same hashed
//! memo of (operations ordered so far, model state): at each step any session's next
//! operation may come next. Without real time to prune it the choice is much wider, so
//! a read the state allows is placed at once without branching (see [`choices`] for
//! why that loses no order) and the rest are tried earliest-invoked first. A session is a history `process`. An operation of unknown
//! outcome may take effect at any point after its session's earlier operations, or
//! never, and constrains nothing after it (the client went on without knowing), so it
//! hangs off its session instead of sitting in it.
//!
//! Sequential consistency is not compositional: checking each key alone (as
//! [`super::check_history`] does) checks per-key sequential consistency, which is
//! weaker than one order over all keys. It is what can be checked in bounded memory,
//! and it catches what replica reads get wrong most often: a session seeing a key go
//! back in time, or a value no order of the writes explains.

use super::model::{Model, Timed, PENDING};
use super::search::{state_hash, zobrist, Verdict};
use std::collections::HashSet;

/// Each operation's place in its session.
struct Sessions {
    /// The known-outcome operations of each session, in the order it issued them.
    chains: Vec<Vec<usize>>,
    /// Operations of unknown outcome, with the operation that must precede each one.
    pending: Vec<(usize, Option<usize>)>,
}

impl Sessions {
    fn new<O>(ops: &[Timed<O>], sessions: &[u32]) -> Sessions {
        let mut order: Vec<usize> = (0..ops.len()).collect();
        order.sort_by_key(|&i| (sessions[i], ops[i].invoke_ns, i));
        let mut chains: Vec<Vec<usize>> = Vec::new();
        let mut pending = Vec::new();
        let mut current: Option<u32> = None;
        for i in order {
            if current != Some(sessions[i]) {
                current = Some(sessions[i]);
                chains.push(Vec::new());
            }
            let chain = chains.last_mut().expect("pushed above");
            if ops[i].complete_ns == PENDING {
                pending.push((i, chain.last().copied()));
            } else {
                chain.push(i);
            }
        }
        Sessions { chains, pending }
    }
}

/// Whether `ops` (one key's operations, `sessions[i]` the session of `ops[i]`) are
/// sequentially consistent under `model`, visiting at most `states_max` distinct
/// (ordered set, state) pairs.
pub fn check<M: Model>(
    model: &M,
    ops: &[Timed<M::Op>],
    sessions: &[u32],
    states_max: usize,
) -> Verdict {
    assert_eq!(ops.len(), sessions.len(), "one session per operation");
    let sessions = Sessions::new(ops, sessions);
    let mut search = Search {
        done: vec![false; ops.len()],
        next_in_chain: vec![0; sessions.chains.len()],
        session_of: session_of(&sessions, ops.len()),
        required_left: ops.len() - sessions.pending.len(),
        sessions,
    };
    let mut memo: HashSet<(u128, u64)> = HashSet::new();
    let mut state = model.init();
    let mut ordered: u128 = 0;
    // Each level: the candidates for the next place and how many have been tried; and
    // what was placed to reach it, with the state and set hash before.
    let mut levels: Vec<(Vec<usize>, usize)> = vec![(choices(model, &state, ops, &search), 0)];
    let mut placed: Vec<(usize, M::State, u128)> = Vec::new();
    while search.required_left > 0 {
        let Some((candidates, tried)) = levels.last_mut() else {
            return Verdict::Violation;
        };
        let Some(&op) = candidates.get(*tried) else {
            levels.pop();
            let Some((op, before, ordered_before)) = placed.pop() else {
                return Verdict::Violation;
            };
            search.unplace(op);
            (state, ordered) = (before, ordered_before);
            continue;
        };
        *tried += 1;
        let Some(next) = model.step(&state, &ops[op].op) else {
            continue;
        };
        if !memo.insert((ordered ^ zobrist(op), state_hash(&next))) {
            continue;
        }
        if memo.len() > states_max {
            return Verdict::Undecided { states: memo.len() };
        }
        placed.push((op, std::mem::replace(&mut state, next), ordered));
        ordered ^= zobrist(op);
        search.place(op);
        levels.push((choices(model, &state, ops, &search), 0));
    }
    Verdict::Consistent
}

/// The operations to try next, in the order to try them.
///
/// - A session whose next read can never be allowed again (its value went by) ends the
///   branch: no choice.
/// - A read that the state allows, and that is next in its session, is the only choice:
///   any order that places it later can place it now instead (a read changes no state,
///   and what follows it in its session follows it either way), so trying the others
///   would only search the same orders again.
/// - Of identical operations of unknown outcome that could both come next (two lost
///   INCRs), only one is tried: they constrain nothing after them, so either leaves the
///   same choices.
/// - The rest are tried operations of known outcome before those of unknown outcome
///   (which may never have happened), each earliest-invoked first, as the server's
///   order is usually close to real time. (Trying first the write a blocked read saw
///   was measured worse: on a lagging replica it jumps ahead of writes other readers
///   still need.) Operations the model refuses now are left out.
fn choices<M: Model>(
    model: &M,
    state: &M::State,
    ops: &[Timed<M::Op>],
    search: &Search,
) -> Vec<usize> {
    let candidates = search.candidates();
    let allowed = |state: &M::State, c: usize| model.step(state, &ops[c].op).is_some();
    let reads: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&c| M::is_read(&ops[c].op))
        .collect();
    if let Some(&read) = reads.iter().find(|&&r| allowed(state, r)) {
        return vec![read];
    }
    let unordered = |op: &M::Op| (0..ops.len()).any(|i| !search.done[i] && ops[i].op == *op);
    if reads
        .iter()
        .any(|&r| model.never_allowed(state, &ops[r].op, &unordered))
    {
        return Vec::new();
    }
    let mut scored: Vec<(bool, u64, usize)> = Vec::new();
    for &c in &candidates {
        let pending = ops[c].complete_ns == PENDING;
        let twin = |&(_, _, other): &(bool, u64, usize)| {
            pending && ops[other].complete_ns == PENDING && ops[other].op == ops[c].op
        };
        if M::is_read(&ops[c].op) || scored.iter().any(twin) || !allowed(state, c) {
            continue;
        }
        scored.push((pending, ops[c].invoke_ns, c));
    }
    scored.sort_unstable();
    scored.into_iter().map(|(_, _, c)| c).collect()
}

/// The session index of each known-outcome operation (`usize::MAX` for pending ones).
fn session_of(sessions: &Sessions, len: usize) -> Vec<usize> {
    let mut of = vec![usize::MAX; len];
    for (s, chain) in sessions.chains.iter().enumerate() {
        for &op in chain {
            of[op] = s;
        }
    }
    of
}

/// Which operations are ordered so far.
struct Search {
    sessions: Sessions,
    done: Vec<bool>,
    /// Per session, how many of its chain are ordered.
    next_in_chain: Vec<usize>,
    session_of: Vec<usize>,
    required_left: usize,
}

impl Search {
    /// The operations that may come next: each session's next one, and each pending
    /// operation whose predecessor is ordered.
    fn candidates(&self) -> Vec<usize> {
        let chained = self
            .sessions
            .chains
            .iter()
            .zip(&self.next_in_chain)
            .filter_map(|(chain, &next)| chain.get(next).copied());
        let pending = self
            .sessions
            .pending
            .iter()
            .filter(|&&(op, after)| !self.done[op] && after.is_none_or(|a| self.done[a]))
            .map(|&(op, _)| op);
        chained.chain(pending).collect()
    }

    fn place(&mut self, op: usize) {
        self.done[op] = true;
        if let Some(&s) = self.session_of.get(op).filter(|&&s| s != usize::MAX) {
            self.next_in_chain[s] += 1;
            self.required_left -= 1;
        }
    }

    fn unplace(&mut self, op: usize) {
        self.done[op] = false;
        if let Some(&s) = self.session_of.get(op).filter(|&&s| s != usize::MAX) {
            self.next_in_chain[s] -= 1;
            self.required_left += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::model::{List, ListOp, Register, RegisterOp};
    use crate::check::search;

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

    #[test]
    fn a_stale_read_is_sequentially_consistent_but_not_linearizable() {
        // Session 0 writes 1 then 2; session 1 later reads 1, as from a lagging replica.
        let ops = [write(1, 0, 1), write(2, 2, 3), read(Some(1), 10, 11)];
        assert_eq!(search::check(&Register, &ops, STATES), Verdict::Violation);
        assert_eq!(
            check(&Register, &ops, &[0, 0, 1], STATES),
            Verdict::Consistent
        );
        // Even a read of a write not yet invoked: real time does not bind sessions.
        let ops = [read(Some(1), 0, 1), write(1, 5, 6)];
        assert_eq!(check(&Register, &ops, &[1, 0], STATES), Verdict::Consistent);
    }

    #[test]
    fn a_session_that_goes_back_in_time_fails() {
        // Session 1 reads 2 and then 1: its view moved backwards.
        let ops = [
            write(1, 0, 1),
            write(2, 2, 3),
            read(Some(2), 10, 11),
            read(Some(1), 12, 13),
        ];
        assert_eq!(
            check(&Register, &ops, &[0, 0, 1, 1], STATES),
            Verdict::Violation
        );
        // The same reads from two sessions are fine: each saw a state that existed.
        assert_eq!(
            check(&Register, &ops, &[0, 0, 1, 2], STATES),
            Verdict::Consistent
        );
    }

    #[test]
    fn a_session_must_see_its_own_writes() {
        // Session 0 writes 1 then reads null: its own write went missing.
        let ops = [write(1, 0, 1), read(None, 2, 3)];
        assert_eq!(check(&Register, &ops, &[0, 0], STATES), Verdict::Violation);
        assert_eq!(check(&Register, &ops, &[0, 1], STATES), Verdict::Consistent);
    }

    #[test]
    fn two_sessions_must_agree_on_one_order_of_the_writes() {
        // Writes 1 and 2 from two sessions; one reader sees 1 then 2, another 2 then 1.
        let ops = [
            write(1, 0, 1),
            write(2, 0, 1),
            read(Some(1), 2, 3),
            read(Some(2), 4, 5),
            read(Some(2), 2, 3),
            read(Some(1), 4, 5),
        ];
        let sessions = [0, 1, 2, 2, 3, 3];
        assert_eq!(
            check(&Register, &ops, &sessions, STATES),
            Verdict::Violation
        );
    }

    #[test]
    fn an_unknown_write_may_land_anywhere_after_its_session_or_never() {
        // Session 0: write 1 (known), write 2 (unknown), write 3 (known). A reader sees
        // 3 then 2: the unknown write landed after write 3.
        let ops = [
            write(1, 0, 1),
            write(2, 2, PENDING),
            write(3, 4, 5),
            read(Some(3), 6, 7),
            read(Some(2), 8, 9),
        ];
        let sessions = [0, 0, 0, 1, 1];
        assert_eq!(
            check(&Register, &ops, &sessions, STATES),
            Verdict::Consistent
        );
        // But not before write 1, which its session issued first.
        let ops = [
            write(1, 0, 1),
            write(2, 2, PENDING),
            read(Some(2), 6, 7),
            read(Some(1), 8, 9),
        ];
        assert_eq!(
            check(&Register, &ops, &[0, 0, 1, 1], STATES),
            Verdict::Violation
        );
    }

    #[test]
    fn list_reads_from_a_lagging_replica_are_prefixes_in_order() {
        let append = |value, length, from, to| at(ListOp::Append { value, length }, from, to);
        let read = |values: &[u32], from, to| at(ListOp::Read(values.to_vec()), from, to);
        let ops = [
            append(0, Some(1), 0, 1),
            append(1, Some(2), 2, 3),
            read(&[0], 10, 11),
            read(&[0, 1], 12, 13),
        ];
        assert_eq!(
            check(&List, &ops, &[0, 0, 1, 1], STATES),
            Verdict::Consistent
        );
        assert_eq!(search::check(&List, &ops, STATES), Verdict::Violation);
        let backwards = [
            ops[0].clone(),
            ops[1].clone(),
            ops[3].clone(),
            ops[2].clone(),
        ];
        let backwards: Vec<_> = backwards
            .into_iter()
            .enumerate()
            .map(|(i, mut t)| {
                (t.invoke_ns, t.complete_ns) = (i as u64 * 2, i as u64 * 2 + 1);
                t
            })
            .collect();
        assert_eq!(
            check(&List, &backwards, &[0, 0, 1, 1], STATES),
            Verdict::Violation
        );
    }
}

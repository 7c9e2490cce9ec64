//! The sequential specifications a key's operations are checked against, and compiling
//! a key's recorded operations into a model's compact form.
//!
//! - [`Register`]: SET and GET; [`CasRegister`] adds compare-and-set (set the new value
//!   if the current one is the expected one, answering whether it did).
//!   The state is the value (interned to a number per key, so
//!   states hash and compare cheaply); a read of a value nobody wrote gets a number no
//!   write has, so no state ever explains it.
//! - [`Counter`]: INCR (answering the new value) and GET. The state is the count; GET of
//!   a count of zero answers null, as GET of a missing key does.
//! - [`List`]: RPUSH of unique values (answering the new length) and LRANGE 0 -1. The
//!   state is the list of value numbers; a read must return exactly the list as it
//!   stands, so every read is a prefix of the one order all appends took, and the order
//!   must agree with real time like every other linearizable operation.
//!
//! Compiling drops what carries no information: failed operations (they did not take
//! effect) and reads of unknown outcome (they returned nothing). An unknown write or
//! incr keeps its place but never completes ([`PENDING`]), so it may be linearized at
//! any point after its invoke, or last of all, which is the same as never.

use super::history::{Kind, Op, Outcome};
use std::collections::HashMap;
use std::hash::Hash;

/// The completion time of an operation whose outcome is unknown: after everything.
pub const PENDING: u64 = u64::MAX;

/// A sequential object: where it starts and what each operation does to it.
pub trait Model {
    type Op: Clone + PartialEq + std::fmt::Debug;
    type State: Clone + Hash + Eq;
    fn init(&self) -> Self::State;
    /// The state after `op`, or `None` when `op`'s recorded output is impossible from
    /// `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;
    /// Whether `op` only observes: removing it can only make a history easier to
    /// linearize, which is what lets the minimiser drop it.
    fn is_read(op: &Self::Op) -> bool;
    /// Whether `read`, refused in `state`, is refused whatever follows, given
    /// `unordered`, which says whether an operation is still to be ordered. Only the
    /// sequential search asks: it has no real time to cut off an order that let a read's
    /// value go by. Saying false is always safe.
    fn never_allowed(
        &self,
        _state: &Self::State,
        _read: &Self::Op,
        _unordered: &dyn Fn(&Self::Op) -> bool,
    ) -> bool {
        false
    }
}

/// One operation of a key in a model's form, with its interval and where it came from.
#[derive(Clone, Debug)]
pub struct Timed<O> {
    pub op: O,
    pub invoke_ns: u64,
    /// [`PENDING`] when the outcome is unknown.
    pub complete_ns: u64,
    /// Its index in the history.
    pub source: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// SET of the value numbered so.
    Write(u32),
    /// GET that answered the value numbered so, or null.
    Read(Option<u32>),
    /// Compare-and-set of `new` over `expected` (None: the key absent); `swapped` is what
    /// it answered, None when its outcome is unknown (it then either did or did not run).
    Cas {
        expected: Option<u32>,
        new: u32,
        swapped: Option<bool>,
    },
}

/// The register's step, shared by both register models.
fn register_step(state: &Option<u32>, op: &RegisterOp) -> Option<Option<u32>> {
    match *op {
        RegisterOp::Write(value) => Some(Some(value)),
        RegisterOp::Read(seen) => (seen == *state).then_some(*state),
        RegisterOp::Cas {
            expected,
            new,
            swapped,
        } => {
            let matches = expected == *state;
            match swapped {
                Some(true) => matches.then_some(Some(new)),
                Some(false) => (!matches).then_some(*state),
                None if matches => Some(Some(new)),
                None => Some(*state),
            }
        }
    }
}

pub struct Register;

impl Model for Register {
    type Op = RegisterOp;
    type State = Option<u32>;

    fn init(&self) -> Option<u32> {
        None
    }

    fn step(&self, state: &Option<u32>, op: &RegisterOp) -> Option<Option<u32>> {
        register_step(state, op)
    }

    fn is_read(op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_))
    }

    /// No write makes a key missing again, and a value comes back only if a write of
    /// it is still to come.
    fn never_allowed(
        &self,
        _state: &Option<u32>,
        read: &RegisterOp,
        unordered: &dyn Fn(&RegisterOp) -> bool,
    ) -> bool {
        match read {
            RegisterOp::Read(Some(value)) => !unordered(&RegisterOp::Write(*value)),
            RegisterOp::Read(None) => true,
            RegisterOp::Write(_) | RegisterOp::Cas { .. } => false,
        }
    }
}

/// A register with compare-and-set. Its reads get no early refusal (`never_allowed`): a
/// value may come back through a compare-and-set, which the plain register's rule does
/// not know.
pub struct CasRegister;

impl Model for CasRegister {
    type Op = RegisterOp;
    type State = Option<u32>;

    fn init(&self) -> Option<u32> {
        None
    }

    fn step(&self, state: &Option<u32>, op: &RegisterOp) -> Option<Option<u32>> {
        register_step(state, op)
    }

    fn is_read(op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterOp {
    /// INCR that answered this new value, or `None` when its outcome is unknown.
    Incr(Option<i64>),
    /// GET that answered this count (0 for null), or something that is no count.
    Read(Option<i64>),
}

pub struct Counter;

impl Model for Counter {
    type Op = CounterOp;
    type State = i64;

    fn init(&self) -> i64 {
        0
    }

    fn step(&self, count: &i64, op: &CounterOp) -> Option<i64> {
        let next = count.checked_add(1)?;
        match op {
            CounterOp::Incr(None) => Some(next),
            CounterOp::Incr(Some(seen)) => (*seen == next).then_some(next),
            CounterOp::Read(seen) => (*seen == Some(*count)).then_some(*count),
        }
    }

    fn is_read(op: &CounterOp) -> bool {
        matches!(op, CounterOp::Read(_))
    }

    /// A count only grows.
    fn never_allowed(&self, count: &i64, read: &CounterOp, _: &dyn Fn(&CounterOp) -> bool) -> bool {
        matches!(read, CounterOp::Read(Some(seen)) if seen < count)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListOp {
    /// RPUSH of the value numbered so, answering this new length (`None`: unknown).
    Append { value: u32, length: Option<usize> },
    /// LRANGE 0 -1 that answered these values.
    Read(Vec<u32>),
}

pub struct List;

impl Model for List {
    type Op = ListOp;
    type State = Vec<u32>;

    fn init(&self) -> Vec<u32> {
        Vec::new()
    }

    fn step(&self, list: &Vec<u32>, op: &ListOp) -> Option<Vec<u32>> {
        match op {
            ListOp::Append { value, length } => {
                if length.is_some_and(|length| length != list.len() + 1) {
                    return None;
                }
                let mut next = list.clone();
                next.push(*value);
                Some(next)
            }
            ListOp::Read(seen) => (seen == list).then(|| list.clone()),
        }
    }

    fn is_read(op: &ListOp) -> bool {
        matches!(op, ListOp::Read(_))
    }

    /// A list only grows at its end.
    fn never_allowed(&self, list: &Vec<u32>, read: &ListOp, _: &dyn Fn(&ListOp) -> bool) -> bool {
        matches!(read, ListOp::Read(seen) if !seen.starts_with(list))
    }
}

/// A key's operations in the form of the model they are checked against.
#[derive(Debug)]
pub enum Compiled {
    Register(Vec<Timed<RegisterOp>>),
    CasRegister(Vec<Timed<RegisterOp>>),
    Counter(Vec<Timed<CounterOp>>),
    List(Vec<Timed<ListOp>>),
}

/// Values numbered in order of first appearance; a value nobody wrote still gets a
/// number, one no write has.
#[derive(Default)]
struct Numbers(HashMap<String, u32>);

impl Numbers {
    fn of(&mut self, value: &str) -> u32 {
        let next = self.0.len() as u32;
        *self.0.entry(value.to_string()).or_insert(next)
    }
}

/// Compiles the operations `indices` of `history` (all on one key): a key with any
/// `incr` is a counter, one with any `append` or `read-list` a list, else a register; a
/// key with operations of two of those is refused.
pub fn compile(history: &[Op], indices: &[usize]) -> Result<Compiled, String> {
    let has = |kinds: &[Kind]| indices.iter().any(|&i| kinds.contains(&history[i].kind));
    let register = has(&[Kind::Write, Kind::Cas]);
    let counter = has(&[Kind::Incr]);
    let list = has(&[Kind::Append, Kind::ReadList]);
    if usize::from(register) + usize::from(counter) + usize::from(list) > 1
        || (list && has(&[Kind::Read]))
    {
        return Err(
            "the key mixes register, counter and list operations: no model \
                    covers that"
                .into(),
        );
    }
    let mut numbers = Numbers::default();
    if counter {
        Ok(Compiled::Counter(compile_with(
            history, indices, counter_op,
        )))
    } else if list {
        let list_op = |op: &Op| list_op(&mut numbers, op);
        Ok(Compiled::List(compile_with(history, indices, list_op)))
    } else {
        let register_op = |op: &Op| match op.kind {
            Kind::Write => RegisterOp::Write(numbers.of(op.input.as_deref().unwrap_or(""))),
            Kind::Cas => RegisterOp::Cas {
                expected: op.expected.as_deref().map(|v| numbers.of(v)),
                new: numbers.of(op.input.as_deref().unwrap_or("")),
                swapped: match op.outcome {
                    Outcome::Unknown => None,
                    _ => Some(op.output.as_deref() == Some("1")),
                },
            },
            _ => RegisterOp::Read(op.output.as_deref().map(|v| numbers.of(v))),
        };
        let compiled = compile_with(history, indices, register_op);
        Ok(match has(&[Kind::Cas]) {
            true => Compiled::CasRegister(compiled),
            false => Compiled::Register(compiled),
        })
    }
}

fn list_op(numbers: &mut Numbers, op: &Op) -> ListOp {
    match op.kind {
        Kind::Append => ListOp::Append {
            value: numbers.of(op.input.as_deref().unwrap_or("")),
            // A length that is no number is impossible: no list is usize::MAX long.
            length: (op.outcome == Outcome::Ok).then(|| {
                op.output
                    .as_deref()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(usize::MAX)
            }),
        },
        _ => ListOp::Read(
            op.elements
                .iter()
                .flatten()
                .map(|value| numbers.of(value))
                .collect(),
        ),
    }
}

fn counter_op(op: &Op) -> CounterOp {
    // A value that is no integer is impossible for a counter: -1 is never a count.
    let parsed = |text: Option<&str>| text.map(|t| t.parse::<i64>().unwrap_or(-1));
    match (op.kind, op.outcome) {
        (Kind::Incr, Outcome::Unknown) => CounterOp::Incr(None),
        (Kind::Incr, _) => CounterOp::Incr(parsed(op.output.as_deref())),
        _ => CounterOp::Read(Some(parsed(op.output.as_deref()).unwrap_or(0))),
    }
}

fn compile_with<O>(
    history: &[Op],
    indices: &[usize],
    mut convert: impl FnMut(&Op) -> O,
) -> Vec<Timed<O>> {
    let informative = |op: &Op| match op.outcome {
        Outcome::Ok => true,
        Outcome::Fail => false,
        Outcome::Unknown => !matches!(op.kind, Kind::Read | Kind::ReadList),
    };
    indices
        .iter()
        .filter(|&&i| informative(&history[i]))
        .map(|&i| {
            let op = &history[i];
            Timed {
                op: convert(op),
                invoke_ns: op.invoke_ns,
                complete_ns: match op.outcome {
                    Outcome::Unknown => PENDING,
                    _ => op.complete_ns,
                },
                source: i,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(kind: Kind, value: Option<&str>, outcome: Outcome) -> Op {
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
            invoke_ns: 1,
            complete_ns: 2,
            outcome,
        }
    }

    #[test]
    fn register_reads_only_the_current_value() {
        let s = Register.init();
        assert_eq!(Register.step(&s, &RegisterOp::Read(None)), Some(None));
        assert_eq!(Register.step(&s, &RegisterOp::Read(Some(0))), None);
        let s = Register.step(&s, &RegisterOp::Write(3)).unwrap();
        assert_eq!(Register.step(&s, &RegisterOp::Read(Some(3))), Some(Some(3)));
        assert_eq!(Register.step(&s, &RegisterOp::Read(None)), None);
    }

    #[test]
    fn counter_incr_answers_the_next_count_and_null_reads_as_zero() {
        assert_eq!(Counter.step(&0, &CounterOp::Incr(Some(1))), Some(1));
        assert_eq!(Counter.step(&0, &CounterOp::Incr(Some(2))), None);
        assert_eq!(Counter.step(&4, &CounterOp::Incr(None)), Some(5));
        assert_eq!(Counter.step(&0, &CounterOp::Read(Some(0))), Some(0));
        assert_eq!(Counter.step(&2, &CounterOp::Read(Some(1))), None);
    }

    #[test]
    fn list_reads_only_the_appended_order_and_appends_answer_the_next_length() {
        let append = |value, length| ListOp::Append { value, length };
        let s = List.init();
        assert_eq!(List.step(&s, &ListOp::Read(vec![])), Some(vec![]));
        let s = List.step(&s, &append(4, Some(1))).unwrap();
        assert_eq!(
            List.step(&s, &append(5, Some(1))),
            None,
            "length 2 expected"
        );
        let s = List.step(&s, &append(5, None)).unwrap();
        assert_eq!(s, [4, 5]);
        assert_eq!(List.step(&s, &ListOp::Read(vec![4, 5])), Some(vec![4, 5]));
        assert_eq!(
            List.step(&s, &ListOp::Read(vec![5, 4])),
            None,
            "wrong order"
        );
        assert_eq!(List.step(&s, &ListOp::Read(vec![4])), None, "a lost append");
        assert!(List::is_read(&ListOp::Read(vec![])));
        assert!(!List::is_read(&append(1, None)));
    }

    #[test]
    fn compiling_a_list_key_numbers_values_and_keeps_lengths() {
        let mut append = op(Kind::Append, Some("x"), Outcome::Ok);
        append.output = Some("1".into());
        let unknown = op(Kind::Append, Some("y"), Outcome::Unknown);
        let mut read = op(Kind::ReadList, None, Outcome::Ok);
        read.elements = Some(vec!["x".into(), "ghost".into()]);
        let history = vec![append, unknown, read, op(Kind::Read, None, Outcome::Ok)];
        let Compiled::List(ops) = compile(&history, &[0, 1, 2]).unwrap() else {
            panic!("appends make a list");
        };
        let kinds: Vec<ListOp> = ops.iter().map(|t| t.op.clone()).collect();
        assert_eq!(
            kinds,
            [
                ListOp::Append {
                    value: 0,
                    length: Some(1)
                },
                ListOp::Append {
                    value: 1,
                    length: None
                },
                ListOp::Read(vec![0, 2]),
            ]
        );
        assert_eq!(ops[1].complete_ns, PENDING);
        assert!(compile(&history, &[0, 3]).is_err(), "GET on a list key");
    }

    #[test]
    fn reads_whose_state_went_by_are_never_allowed_again() {
        let pending_write_of = |v| move |op: &RegisterOp| *op == RegisterOp::Write(v);
        let read = |v| RegisterOp::Read(Some(v));
        assert!(Register.never_allowed(&Some(1), &RegisterOp::Read(None), &|_| true));
        assert!(Register.never_allowed(&Some(1), &read(2), &pending_write_of(3)));
        assert!(!Register.never_allowed(&Some(1), &read(2), &pending_write_of(2)));
        let get = |n| CounterOp::Read(Some(n));
        assert!(Counter.never_allowed(&5, &get(3), &|_| true));
        assert!(!Counter.never_allowed(&2, &get(3), &|_| false));
        let list = |values: &[u32]| ListOp::Read(values.to_vec());
        assert!(List.never_allowed(&vec![0, 2], &list(&[0, 1]), &|_| true));
        assert!(!List.never_allowed(&vec![0], &list(&[0, 1]), &|_| false));
    }

    #[test]
    fn compiling_drops_failures_and_unknown_reads_and_leaves_unknown_writes_pending() {
        let history = vec![
            op(Kind::Write, Some("a"), Outcome::Ok),
            op(Kind::Write, Some("b"), Outcome::Fail),
            op(Kind::Read, Some("a"), Outcome::Unknown),
            op(Kind::Write, Some("c"), Outcome::Unknown),
            op(Kind::Read, Some("zz"), Outcome::Ok),
        ];
        let Compiled::Register(ops) = compile(&history, &[0, 1, 2, 3, 4]).unwrap() else {
            panic!("writes make a register");
        };
        let kept: Vec<usize> = ops.iter().map(|t| t.source).collect();
        assert_eq!(kept, [0, 3, 4]);
        assert_eq!(ops[1].complete_ns, PENDING);
        assert_eq!(ops[0].complete_ns, 2);
        // "zz" was never written: its number is one no write has.
        assert_eq!(ops[2].op, RegisterOp::Read(Some(2)));
    }

    #[test]
    fn compiling_picks_the_counter_for_incr_keys_and_refuses_mixed_keys() {
        let history = vec![
            op(Kind::Incr, Some("1"), Outcome::Ok),
            op(Kind::Read, None, Outcome::Ok),
            op(Kind::Read, Some("junk"), Outcome::Ok),
            op(Kind::Write, Some("x"), Outcome::Ok),
        ];
        let Compiled::Counter(ops) = compile(&history, &[0, 1, 2]).unwrap() else {
            panic!("incr makes a counter");
        };
        let kinds: Vec<CounterOp> = ops.iter().map(|t| t.op).collect();
        assert_eq!(
            kinds,
            [
                CounterOp::Incr(Some(1)),
                CounterOp::Read(Some(0)),
                CounterOp::Read(Some(-1))
            ]
        );
        assert!(compile(&history, &[0, 3]).is_err());
    }
}

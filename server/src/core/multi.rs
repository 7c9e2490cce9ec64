//! The multi-core execution path: an operation whose keys live on several cores holds
//! every core it touches, in ascending core order, runs its steps, then releases them.
//!
//! Holding means the shard runs nothing else: messages for it are deferred and local
//! commands wait; or, for an operation that named its keys (`lock_keys_only`: EXEC of
//! single-key commands), that nothing else touches those keys (core/hold.rs). Taking
//! holds in one global order makes deadlock impossible, and since
//! every hold is kept until the operation ends (two-phase locking), no client can observe
//! half of it. MGET/MSET/DEL/RENAME use it today; MULTI/EXEC and scripts reuse it, and the
//! durable path gives the whole operation one LSN while the holds are in place.
//!
//! An operation on a single core takes no hold at all: it runs as one step.
//!
//! Durability: every step records the changes it makes as physical ops (shard/effect.rs).
//! An operation gets one LSN for all of them, taken while it still holds every core (so
//! no later write on those cores can be ordered before it), and one record; the release
//! message carries the LSN so each core marks the keys the operation wrote as dirty
//! before it runs anything else. A single-core operation logs inside its only step. The
//! session's dependency cell learns the LSN and everything the steps read.
//!
//! ```text
//! coordinator              core 0                  core 1
//!   run(0, step) ------>   hold, step, keep
//!   run(1, step) ------------------------------>  hold, step, keep
//!   finish()     ------>   release  ---------->   release
//! ```

use super::mesh::{Msg, TxId, TxOp};
use super::{Core, Global};
use crate::command::session::Session;
use crate::command::Status;
use crate::shard::notify::Event;
use crate::shard::Shard;
use futures::channel::oneshot;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;

pub struct MultiCore {
    core: Rc<Core>,
    tx: TxId,
    /// The cores the operation may touch, ascending and unique.
    cores: Vec<usize>,
    /// Cores currently held, ascending.
    held: Vec<usize>,
    /// The ops the steps recorded so far: one record when the operation ends. Shared with
    /// the operations a transaction runs inside itself (see `Scope`).
    ops: Rc<RefCell<Vec<u8>>>,
    /// What the reply of the command running this operation depends on.
    dep: Rc<Cell<u64>>,
    /// Hold even a single core: a transaction runs several steps on it, which must not
    /// interleave with other commands.
    always_hold: bool,
    /// Runs inside a transaction (EXEC) that already holds every core it may touch: no
    /// hold of its own, no record of its own, no release.
    nested: bool,
    /// The keyspace events the steps raised, in execution order; delivered when the
    /// operation ends (see `Drop`), after `sort_events` if the command asked. Shared with
    /// the operations a transaction runs inside itself, like `ops`, so a script's or
    /// EXEC's events keep the order of its commands.
    events: Rc<RefCell<Vec<Event>>>,
    /// Where this operation's own events start in `events` (not 0 when nested).
    events_from: usize,
    /// The client running the operation, for CLIENT TRACKING (NOLOOP, remembered reads).
    caller: crate::shard::tracking::Caller,
    /// Per core, the only keys the operation touches there: its holds lock those keys
    /// instead of whole shards (None: whole shards). See `lock_keys_only`.
    locks: Option<Vec<Vec<Vec<u8>>>>,
}

/// A transaction in progress on a connection: what an operation started by one of its
/// commands (MSET inside MULTI) joins instead of taking holds of its own, which would wait
/// for the transaction's own holds forever.
#[derive(Clone)]
pub struct Scope {
    tx: TxId,
    cores: Vec<usize>,
    ops: Rc<RefCell<Vec<u8>>>,
    events: Rc<RefCell<Vec<Event>>>,
}

impl Scope {
    /// Whether the transaction holds `core` (a script holds only its keys' cores).
    pub fn holds(&self, core: usize) -> bool {
        self.cores.contains(&core)
    }
}

/// What a step sends back besides its result.
struct StepDone<R> {
    result: R,
    ops: Vec<u8>,
    dep: u64,
    /// The keyspace events the step raised, delivered by the coordinating core so the
    /// operation's events keep their execution order across cores (core/notify.rs).
    events: Vec<Event>,
}

impl MultiCore {
    /// Refuses, with Redis's text, an operation on `core` from inside a script that does
    /// not hold it; for handlers whose key the command table cannot name (OBJECT's and
    /// MEMORY USAGE's sit behind a subcommand), which the script's own check misses.
    pub fn check_reach(session: &Session, core: usize) -> Result<(), Status> {
        match &session.exec {
            Some(scope) if !scope.cores.contains(&core) => Err(Status::err(
                "ERR Script attempted to access a non local key in a cluster node script",
            )),
            _ => Ok(()),
        }
    }

    pub fn new(session: &Session, cores: impl IntoIterator<Item = usize>) -> Self {
        let mut cores: Vec<usize> = cores.into_iter().collect();
        cores.sort_unstable();
        cores.dedup();
        let core = &session.core;
        let caller = super::tracking::operation_caller(core, &session.info);
        if let Some(scope) = &session.exec {
            assert!(
                cores.iter().all(|c| scope.cores.contains(c)),
                "an operation inside a transaction touches a core the transaction does not hold"
            );
            return MultiCore {
                core: core.clone(),
                tx: scope.tx,
                cores,
                held: Vec::new(),
                ops: scope.ops.clone(),
                dep: session.dep.clone(),
                always_hold: true,
                nested: true,
                events_from: scope.events.borrow().len(),
                events: scope.events.clone(),
                caller,
                locks: None,
            };
        }
        MultiCore {
            core: core.clone(),
            tx: core.new_tx(),
            cores,
            held: Vec::new(),
            ops: Rc::default(),
            dep: session.dep.clone(),
            always_hold: false,
            nested: false,
            events: Rc::default(),
            events_from: 0,
            caller,
            locks: None,
        }
    }

    /// The operation touches no key but these (grouped by owning core, indexed by core):
    /// each hold it takes locks them only, and single-shard commands on other keys of its
    /// cores go on meanwhile. The caller vouches that every step stays within them.
    pub fn lock_keys_only(&mut self, keys: Vec<Vec<Vec<u8>>>) {
        assert!(
            self.held.is_empty(),
            "keys are locked before the first hold"
        );
        self.locks = Some(keys);
    }

    /// What the hold on `core` locks: its keys, or None for the whole shard.
    fn locks_on(&mut self, core: usize) -> Option<Vec<Vec<u8>>> {
        let locks = self.locks.as_mut()?;
        Some(std::mem::take(&mut locks[core]))
    }

    /// A transaction (EXEC) over `cores`: every core is held, even a single one, until
    /// `finish`, and the operations its commands start join it (`scope`).
    pub fn transaction(session: &Session, cores: impl IntoIterator<Item = usize>) -> Self {
        let mut operation = Self::new(session, cores);
        operation.always_hold = true;
        operation
    }

    /// What the commands of this transaction run inside (`Session::exec`).
    pub fn scope(&self) -> Scope {
        Scope {
            tx: self.tx,
            cores: self.cores.clone(),
            ops: self.ops.clone(),
            events: self.events.clone(),
        }
    }

    /// Takes the hold of every core of the operation now, in ascending order.
    pub async fn hold_all(&mut self) {
        for core in self.cores.clone() {
            if !self.held.contains(&core) {
                self.step(core, None::<fn(&mut Shard)>).await;
            }
        }
    }

    /// An operation over every core (FLUSHALL, SWAPDB, KEYS, DBSIZE).
    pub fn all(session: &Session) -> Self {
        let cores = session.core.cores;
        Self::new(session, 0..cores)
    }

    fn single(&self) -> bool {
        self.cores.len() == 1 && !self.always_hold
    }

    /// Runs `step` on `target`'s shard. Unless the operation has a single core, `target`
    /// and every lower core of the operation are held from here until `finish`.
    pub async fn run<R: Send + 'static>(
        &mut self,
        target: usize,
        step: impl FnOnce(&mut Shard) -> R + Send + 'static,
    ) -> R {
        assert!(
            self.cores.contains(&target),
            "core {target} is not part of this operation"
        );
        if !self.single() {
            let lower: Vec<usize> = self
                .cores
                .iter()
                .copied()
                .filter(|&c| c < target && !self.held.contains(&c))
                .collect();
            for core in lower {
                self.step(core, None::<fn(&mut Shard)>).await;
            }
        }
        self.step(target, Some(step))
            .await
            .expect("a step with work returns its result")
    }

    async fn step<R: Send + 'static>(
        &mut self,
        target: usize,
        step: Option<impl FnOnce(&mut Shard) -> R + Send + 'static>,
    ) -> Option<R> {
        let keep = !self.single();
        let global = self.core.global.clone();
        let caller = self.caller;
        let step = step.map(|step| {
            move |shard: &mut Shard| {
                shard.tracking.caller = caller;
                journaled(shard, step, keep, &global)
            }
        });
        let taking = keep && !self.held.contains(&target);
        let keys = if taking { self.locks_on(target) } else { None };
        let done = if target == self.core.id {
            if keep {
                self.core.acquire(self.tx, keys).await;
                self.mark_held(target);
            } else {
                self.core.wait_unheld().await;
            }
            let mut shard = self.core.shard.borrow_mut();
            let done = step.map(|step| step(&mut shard));
            if keep {
                self.core.collect_written(self.tx, &mut shard.journal);
            }
            super::tracking::deliver_from(&self.core, &mut shard);
            drop(shard);
            self.core.ship_if_logged();
            done
        } else {
            let (tx, rx) = oneshot::channel();
            let job: Box<dyn FnOnce(&mut Shard) + Send> = Box::new(move |shard| {
                let _ = tx.send(step.map(|step| step(shard)));
            });
            self.core
                .send(
                    target,
                    Msg::Tx {
                        tx: self.tx,
                        op: TxOp {
                            job: Some(job),
                            keep,
                            lsn: None,
                            keys,
                        },
                    },
                )
                .await;
            if keep {
                self.mark_held(target);
            }
            rx.await.expect("a core dropped a multi-core step")
        };
        done.map(|done| {
            self.events.borrow_mut().extend(done.events);
            self.ops.borrow_mut().extend_from_slice(&done.ops);
            self.dep.set(self.dep.get().max(done.dep));
            done.result
        })
    }

    /// Keyspace events a step handed back in its result (EXEC's grouped steps, which put
    /// them back in queue order).
    pub fn add_events(&mut self, events: Vec<Event>) {
        self.events.borrow_mut().extend(events);
    }

    /// Orders the events raised so far by `rank` of their key (stable), for a command that
    /// ran its keys grouped by core but whose events Redis raises in argument order
    /// (MSET, DEL).
    pub fn sort_events(&mut self, rank: impl Fn(&[u8]) -> usize) {
        self.events.borrow_mut()[self.events_from..].sort_by_key(|event| rank(&event.key));
    }

    fn mark_held(&mut self, core: usize) {
        if let Err(at) = self.held.binary_search(&core) {
            self.held.insert(at, core);
        }
    }

    /// Logs what the steps changed as one record, while every core is still held, and
    /// takes the LSN the release hands to each core.
    fn log(&mut self) -> Option<u64> {
        let ops = std::mem::take(&mut *self.ops.borrow_mut());
        if ops.is_empty() {
            return None;
        }
        let global = &self.core.global;
        let lsn = self
            .core
            .shard
            .borrow_mut()
            .journal
            .log_ops(|n| global.take_lsns(n), &ops);
        self.core.wake_shipper();
        self.dep.set(self.dep.get().max(lsn));
        Some(lsn)
    }

    /// Logs the operation and releases every held core.
    pub async fn finish(mut self) {
        if self.nested {
            // The transaction logs and releases; its commands' ops are in its buffer.
            self.held.clear();
            return;
        }
        let lsn = self.log();
        let held = std::mem::take(&mut self.held);
        release(&self.core, self.tx, held, lsn).await;
    }
}

/// Runs a step with its changes recorded. A step of a single-core operation (no hold)
/// gets its LSN here, in the same synchronous run that made the change.
fn journaled<R>(
    shard: &mut Shard,
    step: impl FnOnce(&mut Shard) -> R,
    held: bool,
    global: &Arc<Global>,
) -> StepDone<R> {
    shard.journal.begin();
    shard.journal.start_recording();
    let result = step(shard);
    shard.settle_watches(true);
    let mut ops = shard.journal.stop_recording();
    let mut dep = shard.journal.dep();
    if !held {
        let lsn = (!ops.is_empty()).then(|| {
            shard
                .journal
                .log_ops(|n| global.take_lsns(n), &std::mem::take(&mut ops))
        });
        if let Some(lsn) = lsn {
            dep = dep.max(lsn);
        }
        shard.journal.mark_held(lsn);
        serve_waiters(shard, global);
    }
    StepDone {
        result,
        ops,
        dep,
        events: shard.take_events(),
    }
}

/// A step that holds nothing is over like a single-shard command: clients blocked on keys
/// it gave data to, deleted or replaced (a DEL of a stream a blocked XREADGROUP reads)
/// are served now, as core/exec.rs serves them after a write, each logged after it.
fn serve_waiters(shard: &mut Shard, global: &Arc<Global>) {
    if shard.blocked.has_ready() {
        crate::shard::blocking::serve_ready(shard, |n| global.take_lsns(n));
    }
}

async fn release(core: &Rc<Core>, tx: TxId, held: Vec<usize>, lsn: Option<u64>) {
    for target in held {
        if target == core.id {
            core.release(tx, lsn);
        } else {
            core.send(
                target,
                Msg::Tx {
                    tx,
                    op: TxOp {
                        job: None,
                        keep: false,
                        lsn,
                        keys: None,
                    },
                },
            )
            .await;
        }
    }
}

impl Drop for MultiCore {
    /// An operation abandoned mid-way (its task was dropped) must not leave cores held,
    /// nor changes unlogged.
    fn drop(&mut self) {
        // Abandoned while holding: log what the steps did first, so its events (pushed
        // next) wait for that record (core/notify.rs).
        let release_held = (!self.held.is_empty() && !self.nested)
            .then(|| (self.log(), std::mem::take(&mut self.held)));
        // Finished or abandoned, what the steps did raises its events (a nested
        // operation's are the transaction's to deliver).
        if !self.nested {
            let events = std::mem::take(&mut *self.events.borrow_mut());
            self.core.notifier.push(&self.core.global, events);
        }
        if let Some((lsn, held)) = release_held {
            let (core, tx) = (self.core.clone(), self.tx);
            glommio::spawn_local(async move { release(&core, tx, held, lsn).await }).detach();
        }
    }
}

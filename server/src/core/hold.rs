//! The holds multi-core operations take on this core's shard, and what waits for them.
//!
//! ```text
//! holder            locks            beside it may run
//! whole shard       everything       nothing (MSET, SORT, scripts, FLUSHALL ...)
//! keys k1..kn       those names      other keyed holders with disjoint keys, and
//!                   (any database)   single-shard commands naming other keys
//! ```
//!
//! A transaction of single-key commands (EXEC) names its keys up front, so two of them on
//! disjoint keys hold the same core at once. One holder at a time serialized every
//! cross-core transaction for a round trip each: at 5% MULTI the connections queued
//! behind each other and GET/SET beside them lost a third of their throughput.
//!
//! No deadlock: an operation takes its cores in ascending order and waits only on a
//! core it does not hold yet, so it never waits while holding a higher core than the
//! one it waits for.
//!
//! Order and fairness:
//! - A batch of another core's commands waits behind that core's deferred batches (a
//!   connection's commands keep their order); a new hold waits behind deferred holds
//!   (first come, first held: a whole-shard hold is not starved by keyed ones).
//! - When a hold ends, the core's own waiting tasks (commands of its connections,
//!   operations coordinated here) and the deferred messages take turns: the local tasks
//!   are woken and run before any deferred message may take a hold (`local_turn`); after
//!   them at least one deferred message goes (`remote_next`). Without the turns, a stream
//!   of holds from the other core was drained first at every release and a local EXEC
//!   could wait for tens of seconds.
//! - A local task that needs the whole shard (`wait_unheld`) stops new holds until it ran.
//!
//! Durability: the keys a holder's steps wrote are kept with the holder and marked dirty
//! with its LSN at its release (shard/journal.rs), whatever else ran or released meanwhile.

use super::mesh::{BatchMsg, Msg, TxId, TxOp};
use super::{exec, tracking, Core};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::{Poll, Waker};

/// Keys a holder locked on a shard, by name in every database (MOVE and COPY ... DB reach
/// the same name in another one, so a name locks all of them).
#[derive(Default)]
pub struct KeyLocks(hashbrown::HashSet<Vec<u8>, ahash::RandomState>);

impl KeyLocks {
    pub fn new(keys: impl IntoIterator<Item = Vec<u8>>) -> Self {
        KeyLocks(keys.into_iter().collect())
    }

    /// Whether `key` is locked (by name).
    pub fn locks(&self, key: &[u8]) -> bool {
        self.0.contains(key)
    }

    /// Whether a command on `keys` may run beside the holder: it names at least one key
    /// (a keyless command may reach any key: SCAN, RANDOMKEY, FLUSHDB) and none is locked.
    pub fn admit<'a>(&self, keys: impl IntoIterator<Item = &'a [u8]>) -> bool {
        let mut any = false;
        for key in keys {
            if self.locks(key) {
                return false;
            }
            any = true;
        }
        any
    }
}

struct Holder {
    tx: TxId,
    /// None: the whole shard.
    keys: Option<KeyLocks>,
    /// Key hashes and databases its steps wrote here, marked at release.
    written: Vec<u64>,
    written_dbs: Vec<usize>,
}

#[derive(Default)]
pub(super) struct Hold {
    holders: RefCell<Vec<Holder>>,
    /// Messages that could not run when they arrived, in arrival order.
    deferred: RefCell<VecDeque<Msg>>,
    /// How many of `deferred` are batches, per sending core.
    deferred_batches: RefCell<Vec<u32>>,
    /// How many of `deferred` are new holds.
    deferred_holds: Cell<usize>,
    /// Local tasks waiting for a hold to end.
    waiters: RefCell<Vec<Waker>>,
    /// Local tasks waiting for the whole shard: no new hold is granted meanwhile.
    exclusive_waiters: Cell<usize>,
    /// A hold ended since the local waiters were last woken.
    released: Cell<bool>,
    /// Wakes the task that hands on what an ended whole-shard wait kept waiting.
    regrant: super::signal::Signal,
    draining: Cell<bool>,
    /// Local waiters were woken and have not all run yet: new holds wait behind them.
    local_turn: Cell<bool>,
    /// The last turn was local: a deferred message goes before the next local one.
    remote_next: Cell<bool>,
}

impl Core {
    /// Starts the task that grants what waited behind a whole-shard waiter (`Exclusive`).
    pub fn spawn_granter(self: &Rc<Self>) {
        let core = self.clone();
        glommio::spawn_local(async move {
            loop {
                core.hold.regrant.wait().await;
                core.hold.released.set(true);
                core.grant();
            }
        })
        .detach();
    }

    pub fn is_held(&self) -> bool {
        !self.hold.holders.borrow().is_empty()
    }

    /// Whether every holder (if any) holds keys only: commands on other keys, eviction of
    /// other keys, may run beside them.
    pub fn holds_keys_only(&self) -> bool {
        self.hold.holders.borrow().iter().all(|h| h.keys.is_some())
    }

    /// Whether a holder locked `key`: a single-shard command on it would not be admitted.
    pub fn is_locked(&self, key: &[u8]) -> bool {
        !self.admits(&[key])
    }

    /// Whether a single-shard command on `keys` may run now: nothing holds the shard, or
    /// every holder locked only keys and none of these.
    pub fn admits(&self, keys: &[&[u8]]) -> bool {
        self.hold
            .holders
            .borrow()
            .iter()
            .all(|holder| match &holder.keys {
                Some(locks) => locks.admit(keys.iter().copied()),
                None => false,
            })
    }

    /// Whether every command of a batch from another core is admitted.
    fn admits_batch(&self, msg: &BatchMsg) -> bool {
        if !self.is_held() {
            return true;
        }
        let table = crate::command::table();
        let batch = &msg.batch;
        let mut keys = Vec::new();
        batch.reqs.iter().all(|req| {
            let ranges = &batch.ranges[req.args.0 as usize..req.args.1 as usize];
            let args = crate::command::Args::new(&batch.data, ranges);
            keys.clear();
            keys.extend(
                table
                    .get(req.cmd)
                    .keys
                    .positions(args.len())
                    .map(|at| args.get(at)),
            );
            self.admits(&keys)
        })
    }

    /// Whether a new hold of `keys` (None: the whole shard) fits beside the current ones.
    fn may_hold(&self, keys: Option<&[Vec<u8>]>) -> bool {
        let holders = self.hold.holders.borrow();
        match keys {
            None => holders.is_empty(),
            Some(keys) => {
                let keys = keys.iter().map(Vec::as_slice);
                holders.iter().all(|holder| {
                    holder
                        .keys
                        .as_ref()
                        .is_some_and(|locks| keys.clone().all(|k| !locks.locks(k)))
                })
            }
        }
    }

    fn holds(&self, tx: TxId) -> bool {
        self.hold.holders.borrow().iter().any(|h| h.tx == tx)
    }

    fn add_holder(&self, tx: TxId, keys: Option<Vec<Vec<u8>>>) {
        self.hold.holders.borrow_mut().push(Holder {
            tx,
            keys: keys.map(KeyLocks::new),
            written: Vec::new(),
            written_dbs: Vec::new(),
        });
    }

    /// After a step of `tx` ran here: what it wrote waits with the holder for its LSN.
    pub fn collect_written(&self, tx: TxId, journal: &mut crate::shard::journal::Journal) {
        let mut holders = self.hold.holders.borrow_mut();
        let holder = holders
            .iter_mut()
            .find(|h| h.tx == tx)
            .expect("a step runs under its operation's hold");
        journal.take_held(&mut holder.written, &mut holder.written_dbs);
    }

    pub(super) fn handle_batch(self: &Rc<Self>, batch: BatchMsg) {
        let behind = self
            .hold
            .deferred_batches
            .borrow()
            .get(batch.from)
            .is_some_and(|&n| n > 0);
        if behind || !self.admits_batch(&batch) {
            self.defer(Msg::Batch(batch));
        } else {
            exec::execute_batch(self, batch);
        }
    }

    pub(super) fn handle_tx(self: &Rc<Self>, tx: TxId, op: TxOp) {
        if !self.holds(tx) {
            let hold = &self.hold;
            let wait = hold.local_turn.get()
                || hold.exclusive_waiters.get() > 0
                || hold.deferred_holds.get() > 0
                || !self.may_hold(op.keys.as_deref());
            if wait {
                self.defer(Msg::Tx { tx, op });
                return;
            }
        }
        self.run_tx(tx, op);
    }

    /// Runs a step of `tx` (taking its hold first if it is new here: the caller checked
    /// that it may), and releases when it is the last.
    fn run_tx(self: &Rc<Self>, tx: TxId, op: TxOp) {
        if !self.holds(tx) {
            self.add_holder(tx, op.keys);
        }
        if let Some(job) = op.job {
            let mut shard = self.shard.borrow_mut();
            job(&mut shard);
            self.collect_written(tx, &mut shard.journal);
            tracking::deliver_from(self, &mut shard);
            drop(shard);
            self.ship_if_logged();
        }
        if !op.keep {
            self.release(tx, op.lsn);
        }
    }

    /// Waits until no multi-core operation holds this shard; no new hold is granted
    /// meanwhile.
    pub async fn wait_unheld(self: &Rc<Self>) {
        if !self.is_held() {
            return;
        }
        let _exclusive = Exclusive::new(self);
        self.wait_until(|core| !core.is_held()).await;
    }

    /// Waits until a single-shard command on `keys` may run (`admits`).
    pub async fn wait_admitted(&self, keys: &[&[u8]]) {
        self.wait_until(|core| core.admits(keys)).await;
    }

    /// Re-checks `ready` each time a hold ends.
    async fn wait_until(&self, ready: impl Fn(&Core) -> bool) {
        futures::future::poll_fn(|cx| {
            if ready(self) {
                Poll::Ready(())
            } else {
                self.hold.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// Takes the hold for `tx` on this core's own shard: of the whole shard, or of `keys`
    /// only.
    pub async fn acquire(self: &Rc<Self>, tx: TxId, keys: Option<Vec<Vec<u8>>>) {
        if self.holds(tx) {
            return;
        }
        if keys.is_none() {
            let _exclusive = Exclusive::new(self);
            self.wait_until(|core| !core.is_held()).await;
        } else {
            self.wait_until(|core| {
                core.hold.exclusive_waiters.get() == 0 && core.may_hold(keys.as_deref())
            })
            .await;
        }
        self.add_holder(tx, keys);
    }

    /// Ends `tx`'s hold: the keys it wrote here get `lsn` (None: it wrote nothing), then
    /// what waited for it runs.
    pub fn release(self: &Rc<Self>, tx: TxId, lsn: Option<u64>) {
        let holder = {
            let mut holders = self.hold.holders.borrow_mut();
            let at = holders
                .iter()
                .position(|h| h.tx == tx)
                .expect("release by a transaction that does not hold the shard");
            holders.swap_remove(at)
        };
        if let Some(lsn) = lsn {
            let mut shard = self.shard.borrow_mut();
            shard
                .journal
                .mark_written(lsn, &holder.written, &holder.written_dbs);
        }
        if !self.is_held() {
            self.serve_blocked();
        }
        // BCAST invalidations waited for the operation's end (core/tracking.rs).
        tracking::deliver_from(self, &mut self.shard.borrow_mut());
        self.hold.released.set(true);
        self.grant();
    }

    fn defer(&self, msg: Msg) {
        let hold = &self.hold;
        match &msg {
            Msg::Batch(batch) => {
                let mut counts = hold.deferred_batches.borrow_mut();
                if counts.len() <= batch.from {
                    counts.resize(batch.from + 1, 0);
                }
                counts[batch.from] += 1;
            }
            Msg::Tx { .. } => hold.deferred_holds.set(hold.deferred_holds.get() + 1),
            _ => {}
        }
        hold.deferred.borrow_mut().push_back(msg);
    }

    /// The first deferred message, if it may run now.
    fn pop_runnable(&self) -> Option<Msg> {
        let hold = &self.hold;
        let runnable = match hold.deferred.borrow().front()? {
            Msg::Batch(batch) => self.admits_batch(batch),
            Msg::Tx { op, .. } => {
                hold.exclusive_waiters.get() == 0 && self.may_hold(op.keys.as_deref())
            }
            _ => true,
        };
        if !runnable {
            return None;
        }
        let msg = hold.deferred.borrow_mut().pop_front()?;
        match &msg {
            Msg::Batch(batch) => hold.deferred_batches.borrow_mut()[batch.from] -= 1,
            Msg::Tx { .. } => hold.deferred_holds.set(hold.deferred_holds.get() - 1),
            _ => {}
        }
        Some(msg)
    }

    /// Hands what a released hold frees on: deferred messages and local waiters in turns.
    fn grant(self: &Rc<Self>) {
        let hold = &self.hold;
        if hold.local_turn.get() || hold.draining.replace(true) {
            return;
        }
        loop {
            let waiting = hold.released.get() && !hold.waiters.borrow().is_empty();
            if hold.remote_next.get() || !waiting {
                if let Some(msg) = self.pop_runnable() {
                    hold.remote_next.set(false);
                    match msg {
                        Msg::Batch(batch) => exec::execute_batch(self, batch),
                        Msg::Tx { tx, op } => self.run_tx(tx, op),
                        other => self.handle(other),
                    }
                    continue;
                }
            }
            if !waiting {
                break;
            }
            // The local waiters' turn: wake them, and let the deferred messages go on
            // only after they have run (a task queued behind them resumes the grant).
            hold.released.set(false);
            hold.local_turn.set(true);
            hold.remote_next.set(true);
            for waker in hold.waiters.borrow_mut().drain(..) {
                waker.wake();
            }
            let core = self.clone();
            glommio::spawn_local(async move {
                futures::future::poll_fn(crate::net::ring::yield_once()).await;
                core.hold.local_turn.set(false);
                core.grant();
            })
            .detach();
            break;
        }
        hold.draining.set(false);
    }

    /// A multi-core operation that just released this shard (RENAME, SORT ... STORE,
    /// SWAPDB, EXEC...) gave data to keys clients are blocked on: they are served now,
    /// before anything else runs here, as after a single-shard write (core/exec.rs). Only
    /// once no hold is left: a served BLMOVE or BLPOP may reach a held key.
    fn serve_blocked(&self) {
        let mut shard = self.shard.borrow_mut();
        if !shard.blocked.has_ready() {
            return;
        }
        if crate::shard::blocking::serve_ready(&mut shard, |n| self.global.take_lsns(n)) {
            drop(shard);
            self.wake_shipper();
        }
    }
}

/// A local task waiting for the whole shard: while one is, no new hold is granted, so
/// the keyed holds drain and it is not starved by them. Dropped (waited, or abandoned),
/// the holds it kept waiting are granted by the granter task (`spawn_granter`): the
/// waiter runs its synchronous work on the free shard first, and a drop while the
/// executor shuts down only raises a signal.
struct Exclusive(Rc<Core>);

impl Exclusive {
    fn new(core: &Rc<Core>) -> Self {
        let waiters = &core.hold.exclusive_waiters;
        waiters.set(waiters.get() + 1);
        Exclusive(core.clone())
    }
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        let waiters = &self.0.hold.exclusive_waiters;
        waiters.set(waiters.get() - 1);
        if waiters.get() == 0 {
            self.0.hold.regrant.raise();
        }
    }
}

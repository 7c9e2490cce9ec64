//! Clients blocked on keys of this shard (BLPOP, BLMOVE, BLMPOP, BZPOPMIN, BZPOPMAX,
//! BZMPOP; later XREAD BLOCK): who waits for which key, in blocking order, and serving
//! them when a write gives a key data (a push, or any list or sorted set stored under the
//! key: `value_stored`, `dbs_swapped`).
//!
//! ```text
//! blocked command (connection core)                 shard owning the keys
//!   register(waiter) --------------------------->  queues[(db, key)] += id (FIFO)
//!                                                   a push: key_pushed -> ready
//!                                                   serve_ready (right after the write)
//!   <------ Wakeup::Served { reply, lsn } -------     waiter on this shard only: served
//!   <------ Wakeup::Retry -----------------------     waiter spanning cores: woken
//! ```
//!
//! The registry knows nothing of data types: a waiter carries a `Serve` object (the
//! command layer's) that tries to serve it from one key. A waiter whose keys all live on
//! this shard is served here, in the order clients blocked, before any other command runs
//! on the shard, exactly like Redis's handleClientsBlockedOnKeys. What it did is recorded
//! as deterministic single-key commands (`LPOP k`, `RPOP a` + `LPUSH b v`), logged as one
//! record whose LSN the reply waits for.
//!
//! A waiter whose keys span cores is only woken (`Retry`): its connection removes it
//! everywhere and runs the command again, atomically over the cores, then blocks again if
//! someone else was faster (losing its place in the queues).

use super::value::Value;
use super::Ctx;
use super::Shard;
use ahash::AHashMap as HashMap;
use futures::channel::mpsc::UnboundedSender;
use std::collections::VecDeque;

/// A blocked client: its connection's id (a client blocks on one command at a time).
pub type WaiterId = u64;

/// What a data type does to serve a waiter from one of its keys.
pub trait Serve: Send {
    /// Serves the waiter from `key` if it can (the key holds data of the right type, a
    /// destination accepts it...): the reply bytes in the waiter's protocol. Any change
    /// goes through `Ctx` and records deterministic CMD ops (the shard is recording).
    fn serve(&self, ctx: &mut Ctx, key: &[u8]) -> Option<Vec<u8>>;
}

/// How a blocked client's wait ends, sent to its connection's core.
#[derive(Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// Served here: the reply, which may be sent once `lsn` is durable (0: no log).
    Served { reply: Vec<u8>, lsn: u64 },
    /// One of its keys got data, but it spans cores: run the command again.
    Retry,
    /// CLIENT UNBLOCK: end the wait (with the timeout reply, or with an error).
    Unblocked { error: bool },
}

pub struct Waiter {
    pub db: usize,
    /// Its keys on this shard, in the command's order.
    pub keys: Vec<Vec<u8>>,
    /// All its keys are on this shard: it is served here rather than woken.
    pub local: bool,
    /// Taken out while it runs (it needs the shard the registry lives in).
    pub serve: Option<Box<dyn Serve>>,
    pub wake: UnboundedSender<Wakeup>,
}

#[derive(Default)]
pub struct Blocked {
    /// (db, key) -> the waiters blocked on it, first blocked first.
    queues: HashMap<(usize, Vec<u8>), VecDeque<WaiterId>>,
    waiters: HashMap<WaiterId, Waiter>,
    /// Keys with waiters that received data since the last `serve_ready`.
    ready: Vec<(usize, Vec<u8>)>,
    /// The blocked clients whose connection runs on this core (wherever their keys
    /// are), for CLIENT UNBLOCK.
    clients: HashMap<WaiterId, UnboundedSender<Wakeup>>,
}

impl Blocked {
    pub fn register(&mut self, id: WaiterId, waiter: Waiter) {
        for key in &waiter.keys {
            let queue = self.queues.entry((waiter.db, key.clone())).or_default();
            queue.push_back(id);
        }
        self.waiters.insert(id, waiter);
    }

    /// Removes a waiter (served, woken, timed out, unblocked, disconnected); None when it
    /// is not here (already served or woken).
    pub fn remove(&mut self, id: WaiterId) -> Option<Waiter> {
        let waiter = self.waiters.remove(&id)?;
        for key in &waiter.keys {
            let slot = (waiter.db, key.clone());
            if let Some(queue) = self.queues.get_mut(&slot) {
                queue.retain(|&waiting| waiting != id);
                if queue.is_empty() {
                    self.queues.remove(&slot);
                }
            }
        }
        Some(waiter)
    }

    /// Number of waiters blocked here.
    pub fn len(&self) -> usize {
        self.waiters.len()
    }

    pub fn is_empty(&self) -> bool {
        self.waiters.is_empty()
    }

    pub fn has_ready(&self) -> bool {
        !self.ready.is_empty()
    }

    /// A write gave `key` data: if someone waits for it, it is served after the write.
    fn mark_ready(&mut self, db: usize, key: &[u8]) {
        if self.queues.is_empty() {
            return;
        }
        let slot = (db, key.to_vec());
        if self.queues.contains_key(&slot) && !self.ready.contains(&slot) {
            self.ready.push(slot);
        }
    }

    /// A client of this core is blocked: CLIENT UNBLOCK reaches it through `wake`.
    pub fn watch_client(&mut self, id: WaiterId, wake: UnboundedSender<Wakeup>) {
        self.clients.insert(id, wake);
    }

    pub fn unwatch_client(&mut self, id: WaiterId) {
        self.clients.remove(&id);
    }

    /// Clients of this core blocked right now (INFO clients' blocked_clients, summed over
    /// the cores).
    pub fn blocked_clients(&self) -> usize {
        self.clients.len()
    }

    /// CLIENT UNBLOCK on this core: whether client `id` is blocked here.
    pub fn unblock_client(&self, id: WaiterId, error: bool) -> bool {
        self.clients
            .get(&id)
            .is_some_and(|wake| wake.unbounded_send(Wakeup::Unblocked { error }).is_ok())
    }

    fn first_waiting(&self, slot: &(usize, Vec<u8>)) -> Option<WaiterId> {
        self.queues
            .get(slot)
            .and_then(|queue| queue.front().copied())
    }
}

/// Called by every command that adds data to a key (pushes, LINSERT, LMOVE's
/// destination): the key's waiters are served once the command is done. Costs one
/// emptiness check when nobody is blocked (always so during replay).
pub fn key_pushed(ctx: &mut Ctx, key: &[u8]) {
    let db = ctx.db;
    ctx.shard.blocked.mark_ready(db, key);
}

/// Redis's signalKeyAsReady from dbAdd, for an entry placed whole (`Ctx::put_entry`:
/// RENAME, MOVE, SMOVE's put-back): a list or sorted set under `key` may serve its
/// waiters once the command (or multi-core operation) is done. (`Ctx::set` marks every
/// replaced key itself.) Costs one emptiness check when nobody is blocked.
pub fn value_stored(shard: &mut Shard, db: usize, key: &[u8], value: &Value) {
    if matches!(value, Value::List(_) | Value::Zset(_)) {
        shard.blocked.mark_ready(db, key);
    }
}

/// SWAPDB swapped databases `a` and `b`: every key waited for in either may have data
/// now (Redis's scanDatabaseForReadyKeys); serving finds out.
pub fn dbs_swapped(shard: &mut Shard, a: usize, b: usize) {
    let blocked = &mut shard.blocked;
    for slot in blocked.queues.keys() {
        if (slot.0 == a || slot.0 == b) && !blocked.ready.contains(slot) {
            blocked.ready.push(slot.clone());
        }
    }
}

/// Serves the waiters of every ready key, first blocked first, until a key has nothing
/// left for the next one. Each served waiter's changes are logged as one record (through
/// `take_lsns`, as a multi-core step is) and its reply sent with that LSN. Returns whether
/// anything was logged (the caller ships it).
pub fn serve_ready(shard: &mut Shard, mut take_lsns: impl FnMut(u64) -> u64) -> bool {
    let mut logged = false;
    // Serving may push (BLMOVE into a key someone else waits for): loop until quiet.
    while let Some(slot) = shard.blocked.ready.pop() {
        while let Some(id) = shard.blocked.first_waiting(&slot) {
            let local = shard.blocked.waiters.get(&id).is_some_and(|w| w.local);
            if !local {
                let waiter = shard.blocked.remove(id).expect("queued waiters exist");
                let _ = waiter.wake.unbounded_send(Wakeup::Retry);
                continue;
            }
            match serve_one(shard, id, &slot, &mut take_lsns) {
                Some(lsn) => logged |= lsn != 0,
                None => break,
            }
        }
    }
    logged
}

/// Tries to serve waiter `id` from the key in `slot`: Some(LSN of what it logged, 0 for
/// nothing) when served, None when the key cannot serve it (it stays blocked).
fn serve_one(
    shard: &mut Shard,
    id: WaiterId,
    (db, key): &(usize, Vec<u8>),
    take_lsns: &mut impl FnMut(u64) -> u64,
) -> Option<u64> {
    let waiter = shard
        .blocked
        .waiters
        .get_mut(&id)
        .expect("queued waiters exist");
    let serve = waiter.serve.take().expect("not running");
    shard.journal.begin();
    shard.journal.start_recording();
    let reply = serve.serve(&mut Ctx::new(shard, *db), key);
    // The pop changed the key: a WATCH on it aborts the watcher's EXEC.
    shard.settle_watches(reply.is_some());
    let ops = shard.journal.stop_recording();
    let lsn = (!ops.is_empty()).then(|| shard.journal.log_ops(&mut *take_lsns, &ops));
    shard.journal.mark_held(lsn);
    let dep = shard.journal.dep().max(lsn.unwrap_or(0));
    let Some(reply) = reply else {
        let waiter = shard.blocked.waiters.get_mut(&id).expect("still queued");
        waiter.serve = Some(serve);
        return None;
    };
    let waiter = shard.blocked.remove(id).expect("still queued");
    let _ = waiter
        .wake
        .unbounded_send(Wakeup::Served { reply, lsn: dep });
    Some(lsn.unwrap_or(0))
}

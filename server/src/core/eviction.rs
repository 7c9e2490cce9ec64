//! Enforcing `maxmemory` on one core: when the process uses more than the limit, this
//! core evicts keys of its own shard (shard/evict.rs chooses them), as one logged record
//! of DEL effects, like the active expiry cycle, so replay and replicas drop the same keys.
//!
//! Redis evicts from one keyspace; here each core evicts from its own shard its share of
//! the excess, in proportion to the keys it holds (`share`). A core freeing the whole
//! excess alone would empty its own shard, hot keys included, for writes that landed on
//! another core. (The memory each thread holds is no guide: the log core and the
//! connections' buffers weigh on it too.) Eviction runs:
//!
//! ```text
//! before a denyoom command, on the core that executes it (core/exec.rs)
//! before a multi-core or connection command, on the connection's core (dispatch.rs)
//! from the cron, every core, `hz` times a second
//! ```
//!
//! Each runs as often as writes land on its shard, so shards shrink in step. The -OOM
//! decision (dispatch.rs) reads the candidate counts every core publishes here.

use super::stopwatch::Stopwatch;
use super::Core;
use crate::shard::evict::{self, Outcome, Policy};
use crate::shard::Shard;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Whether the process is over `maxmemory` after this core evicted its share now.
/// `Done`: under the limit (or no limit), or this core freed its share; `Running`: the
/// time limit ran out, or the shard cannot be touched now; `Failed`: still over and
/// nothing left here that the policy may evict.
pub fn perform(core: &Core) -> Outcome {
    perform_on(core, &mut core.shard.borrow_mut())
}

/// `perform` on the shard the caller already borrowed.
pub fn perform_on(core: &Core, shard: &mut Shard) -> Outcome {
    let config = shard.evict.config;
    publish_candidates(core.id, shard);
    if config.maxmemory_bytes == 0 {
        return Outcome::Done;
    }
    let used = crate::process::used_memory(core.id);
    if used <= config.maxmemory_bytes {
        return Outcome::Done;
    }
    if config.policy == Policy::NoEviction {
        return Outcome::Failed;
    }
    // Evicting while an operation holds the whole shard would interleave writes with it
    // (beside transactions that hold keys only, their keys are passed over), and during
    // replay the deletes would be logged before LSNs are known; paused writes keep the
    // dataset still, as Redis does not evict while clients are paused.
    if !core.holds_keys_only() || core.global.commit.is_loading() || super::pause::writes_paused() {
        return Outcome::Running;
    }
    let share = share(core.id, used - config.maxmemory_bytes).max(1);
    let started = Stopwatch::start();
    shard.journal.clean(core.global.commit.watermark());
    shard.journal.begin();
    shard.journal.start_recording();
    let before = crate::process::thread_net_bytes();
    let (outcome, keys) = evict::evict(
        shard,
        share,
        |_| (before - crate::process::thread_net_bytes()).max(0) as u64,
        || started.elapsed().as_micros() as u64,
        |key| core.is_locked(key),
    );
    let ops = shard.journal.stop_recording();
    shard.journal.mark_held(None);
    if !ops.is_empty() {
        shard.journal.log_ops(|n| core.global.take_lsns(n), &ops);
        core.wake_shipper();
    }
    // The `evicted` events and tracking invalidations go out now, ahead of whatever the
    // command that triggered eviction raises (as Redis evicts before running it).
    core.notifier.take_from(&core.global, shard);
    super::tracking::deliver_from(core, shard);
    if keys > 0 {
        core.latency_event("eviction-cycle", started.elapsed());
    }
    outcome
}

/// Slots for the cores' published key counts (a core index past it shares the last).
const CORE_SLOTS: usize = 256;
/// Each core's keys, and its keys the policy may evict (all, or those with a TTL).
static SHARD_KEYS: [AtomicU64; CORE_SLOTS] = [const { AtomicU64::new(0) }; CORE_SLOTS];
static CANDIDATES: [AtomicU64; CORE_SLOTS] = [const { AtomicU64::new(0) }; CORE_SLOTS];

fn publish_candidates(id: usize, shard: &Shard) {
    let keys: usize = shard.dbs.iter().map(|db| db.len()).sum();
    let candidates = match shard.evict.config.policy {
        Policy::NoEviction => 0,
        p if p.volatile_only() => shard.dbs.iter().map(|db| db.volatile_len()).sum(),
        _ => keys,
    };
    SHARD_KEYS[id.min(CORE_SLOTS - 1)].store(keys as u64, Relaxed);
    CANDIDATES[id.min(CORE_SLOTS - 1)].store(candidates as u64, Relaxed);
}

/// The part of `excess` bytes core `id` frees: in proportion to its keys among every
/// core's (as each last published them).
fn share(id: usize, excess: u64) -> u64 {
    let keys = SHARD_KEYS[id.min(CORE_SLOTS - 1)].load(Relaxed);
    let total: u64 = SHARD_KEYS.iter().map(|n| n.load(Relaxed)).sum();
    match total {
        0 => excess,
        total => (excess as u128 * keys as u128 / total as u128) as u64,
    }
}

/// Whether no core has a key the policy may evict (as each last published its count):
/// a denyoom command over the limit is then refused with -OOM.
pub fn nothing_to_evict() -> bool {
    CANDIDATES.iter().all(|n| n.load(Relaxed) == 0)
}

//! Enforcing `maxmemory` on one core: when the process uses more than the limit, this
//! core evicts keys of its own shard (shard/evict.rs chooses them), as one logged record
//! of DEL effects, like the active expiry cycle, so replay and replicas drop the same keys.
//!
//! Called before commands while a limit is set (Redis's performEvictions in
//! processCommand) and from the cron, so a core whose connections only read still frees
//! memory its shard holds.

use super::stopwatch::Stopwatch;
use super::Core;
use crate::shard::evict::{self, Outcome, Policy};

/// Whether the process is over `maxmemory` after this core evicted what it could now.
/// `Done`: under the limit (or no limit); `Running`: still over, eviction goes on later
/// (the time limit ran out, or the shard cannot be touched now); `Failed`: still over and
/// nothing left here that the policy may evict.
pub fn perform(core: &Core) -> Outcome {
    let config = core.shard.borrow().evict.config;
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
    // Evicting while a multi-core operation holds the shard would interleave writes with
    // it, and during replay the deletes would be logged before LSNs are known; paused
    // writes keep the dataset still, as Redis does not evict while clients are paused.
    if core.is_held() || core.global.commit.is_loading() || super::pause::writes_paused() {
        return Outcome::Running;
    }
    let started = Stopwatch::start();
    let mut shard = core.shard.borrow_mut();
    shard.journal.clean(core.global.commit.watermark());
    shard.journal.begin();
    shard.journal.start_recording();
    let before = crate::process::thread_net_bytes();
    let (outcome, keys) = evict::evict(
        &mut shard,
        used - config.maxmemory_bytes,
        |_| (before - crate::process::thread_net_bytes()).max(0) as u64,
        || started.elapsed().as_micros() as u64,
    );
    let ops = shard.journal.stop_recording();
    shard.journal.mark_held(None);
    if !ops.is_empty() {
        shard.journal.log_ops(|n| core.global.take_lsns(n), &ops);
        core.wake_shipper();
    }
    drop(shard);
    if keys > 0 {
        core.latency_event("eviction-cycle", started.elapsed());
    }
    outcome
}

/// Eviction before a command: this core first; when it has nothing left to evict and the
/// process is still over, every other core evicts its share (keys may all live there).
pub async fn before_command(core: &std::rc::Rc<Core>) -> Outcome {
    let outcome = perform(core);
    if outcome != Outcome::Failed || core.shard.borrow().evict.config.policy == Policy::NoEviction {
        return outcome;
    }
    let mut last = outcome;
    for dest in (0..core.cores).filter(|&dest| dest != core.id) {
        last = core.call(dest, perform).await;
        if last != Outcome::Failed {
            break;
        }
    }
    last
}

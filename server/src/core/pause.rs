//! CLIENT PAUSE: for a while, commands wait before they run, every command (ALL) or
//! those that may write (WRITE: write commands, EVAL/EVALSHA/FCALL and EXEC), as Redis
//! does to let a failover or an upgrade see a dataset that stands still. The active
//! expiry cycle waits too (a key expiring is a write).
//!
//! The state is one deadline and one mode for the whole server, read on every command:
//! two relaxed atomic loads while no pause is on.

use crate::command::flags;
use crate::shard::unix_ms;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// Unix ms the pause ends at (0: none).
static UNTIL_MS: AtomicU64 = AtomicU64::new(0);
/// The pause holds every command, not only writes.
static ALL: AtomicBool = AtomicBool::new(false);

/// Starts (or extends) a pause: the later end and the stricter mode of the old and new.
pub fn pause(timeout_ms: u64, all: bool) {
    let until = unix_ms().saturating_add(timeout_ms);
    if UNTIL_MS.load(Ordering::Acquire) <= unix_ms() {
        ALL.store(all, Ordering::Release);
    } else if all {
        ALL.store(true, Ordering::Release);
    }
    UNTIL_MS.fetch_max(until, Ordering::AcqRel);
}

pub fn unpause() {
    UNTIL_MS.store(0, Ordering::Release);
    ALL.store(false, Ordering::Release);
}

/// Whether writes are paused now (the active expiry cycle asks).
pub fn writes_paused() -> bool {
    UNTIL_MS.load(Ordering::Acquire) > unix_ms()
}

/// Whether a command may write, for a WRITE pause: Redis holds the commands it may
/// propagate (PUBLISH, PFCOUNT) as well as writes.
fn may_write(name: &str, command_flags: u32) -> bool {
    command_flags & (flags::WRITE | flags::MAY_REPLICATE) != 0
        || matches!(name, "eval" | "evalsha" | "fcall" | "exec")
}

/// Waits while a pause covers this command.
pub async fn wait(name: &str, command_flags: u32) {
    loop {
        let until = UNTIL_MS.load(Ordering::Acquire);
        let now = unix_ms();
        if until <= now || !(ALL.load(Ordering::Acquire) || may_write(name, command_flags)) {
            return;
        }
        // Wake at least every 10 ms: CLIENT UNPAUSE ends it early.
        let nap = (until - now).min(10);
        glommio::timer::sleep(Duration::from_millis(nap)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_scripts_may_write_reads_do_not() {
        assert!(may_write("set", flags::WRITE));
        assert!(may_write("eval", 0));
        assert!(may_write("exec", 0));
        assert!(!may_write("get", flags::READONLY));
        assert!(may_write("publish", flags::PUBSUB | flags::MAY_REPLICATE));
        assert!(!may_write("pubsub", flags::PUBSUB));
    }
}

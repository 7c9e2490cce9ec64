//! WATCH on one shard: which connections watch which of its keys, and marking them dirty
//! when a key changes, so that their EXEC aborts (optimistic locking, as Redis's multi.c).
//!
//! A connection on any core watches a key on the core that owns the key; its `WatchFlag`
//! is shared between cores (an atomic), and EXEC reads it while it holds every core it
//! watches, so no change can slip between the check and the transaction.
//!
//! A command notes the watched keys it is about to change (`note`) and they are touched
//! only when it succeeds (`fire`): a command that fails (WRONGTYPE, not an integer) changed
//! nothing and aborts nobody. A command that succeeds without changing anything (SETNX of
//! an existing key) does touch its key, which Redis would not: EXEC then aborts when it
//! could have run, which is safe (the client retries), never the other way round.
//!
//! When no key of the shard is watched, the write path pays one `is_empty` test.

use crate::limits::DATABASES;
use ahash::AHashMap as HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// One connection's WATCH state, as the cores owning its keys see it.
#[derive(Debug, Default)]
pub struct WatchFlag {
    dirty: AtomicBool,
}

impl WatchFlag {
    pub fn is_dirty(&self) -> bool {
        self.dirty.load(Ordering::Acquire)
    }

    fn mark(&self) {
        self.dirty.store(true, Ordering::Release);
    }
}

struct Watcher {
    flag: Arc<WatchFlag>,
    /// The key had expired (but was not yet removed) when WATCH ran: its removal is no
    /// change, since the key was logically gone already (Redis's `wk->expired`).
    stale: bool,
}

pub struct Watches {
    /// Per database: key -> the connections watching it.
    dbs: Vec<HashMap<Box<[u8]>, Vec<Watcher>>>,
    /// Watched keys the running command may change: touched if it succeeds.
    pending: Vec<(usize, Box<[u8]>)>,
    watched: usize,
}

impl Default for Watches {
    fn default() -> Self {
        Watches {
            dbs: (0..DATABASES).map(|_| HashMap::new()).collect(),
            pending: Vec::new(),
            watched: 0,
        }
    }
}

impl Watches {
    pub fn is_empty(&self) -> bool {
        self.watched == 0
    }

    /// `flag`'s connection watches `key` in `db`; `stale`: the key is present but already
    /// expired. Watching a key twice is once.
    pub fn watch(&mut self, db: usize, key: &[u8], flag: &Arc<WatchFlag>, stale: bool) {
        let watchers = self.dbs[db].entry(key.into()).or_default();
        if watchers.iter().any(|w| Arc::ptr_eq(&w.flag, flag)) {
            return;
        }
        watchers.push(Watcher {
            flag: flag.clone(),
            stale,
        });
        self.watched += 1;
    }

    /// `flag`'s connection stops watching `key` in `db` (UNWATCH, EXEC, DISCARD, close).
    pub fn unwatch(&mut self, db: usize, key: &[u8], flag: &Arc<WatchFlag>) {
        let Some(watchers) = self.dbs[db].get_mut(key) else {
            return;
        };
        let before = watchers.len();
        watchers.retain(|w| !Arc::ptr_eq(&w.flag, flag));
        self.watched -= before - watchers.len();
        if watchers.is_empty() {
            self.dbs[db].remove(key);
        }
    }

    /// The running command is about to change `key` (if it succeeds).
    pub fn note(&mut self, db: usize, key: &[u8]) {
        if self.dbs[db].contains_key(key) {
            self.pending.push((db, key.into()));
        }
    }

    /// The running command succeeded: touch what it noted. `present(db, key)`: whether
    /// the key is in the table now.
    pub fn fire(&mut self, present: impl Fn(usize, &[u8]) -> bool) {
        for (db, key) in std::mem::take(&mut self.pending) {
            let present = present(db, &key);
            self.touch(db, &key, present);
        }
    }

    /// The running command failed: it changed nothing.
    pub fn forget(&mut self) {
        self.pending.clear();
    }

    /// `key` changed (or was removed, `present == false`).
    pub fn touch(&mut self, db: usize, key: &[u8], present: bool) {
        let Some(watchers) = self.dbs[db].get_mut(key) else {
            return;
        };
        for watcher in watchers {
            if watcher.stale && !present {
                // The expired key is gone now: logically no change, and from here on a
                // new key under this name is a change like any other.
                watcher.stale = false;
            } else {
                watcher.flag.mark();
            }
        }
    }

    /// Database `db` is being emptied or swapped (FLUSHDB, FLUSHALL, SWAPDB): every watched
    /// key there that exists (`present`) changes.
    pub fn touch_db(&mut self, db: usize, present: impl Fn(&[u8]) -> bool) {
        for (key, watchers) in &mut self.dbs[db] {
            if present(key) {
                watchers.iter().for_each(|w| w.flag.mark());
            }
        }
    }

    /// Whether `flag`'s watch of `key` was taken on an already expired key.
    pub fn is_stale(&self, db: usize, key: &[u8], flag: &Arc<WatchFlag>) -> bool {
        self.dbs[db].get(key).is_some_and(|watchers| {
            watchers
                .iter()
                .any(|w| Arc::ptr_eq(&w.flag, flag) && w.stale)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_marks_every_watcher_of_the_key_and_only_them() {
        let mut watches = Watches::default();
        let (a, b, c) = (Arc::default(), Arc::default(), Arc::default());
        watches.watch(0, b"k", &a, false);
        watches.watch(0, b"k", &b, false);
        watches.watch(1, b"k", &c, false);
        watches.note(0, b"k");
        watches.note(0, b"other");
        watches.fire(|_, _| true);
        assert!(a.is_dirty() && b.is_dirty());
        assert!(!c.is_dirty(), "same key in another database");
    }

    #[test]
    fn a_failed_command_touches_nothing() {
        let mut watches = Watches::default();
        let flag = Arc::default();
        watches.watch(0, b"k", &flag, false);
        watches.note(0, b"k");
        watches.forget();
        watches.fire(|_, _| true);
        assert!(!flag.is_dirty());
    }

    #[test]
    fn removing_a_key_that_was_expired_at_watch_is_no_change() {
        let mut watches = Watches::default();
        let flag = Arc::default();
        watches.watch(0, b"k", &flag, true);
        watches.touch(0, b"k", false);
        assert!(!flag.is_dirty());
        watches.touch(0, b"k", true);
        assert!(flag.is_dirty(), "a new key under the name is a change");
    }

    #[test]
    fn unwatch_forgets_and_counts() {
        let mut watches = Watches::default();
        let flag = Arc::default();
        watches.watch(2, b"k", &flag, false);
        watches.watch(2, b"k", &flag, false);
        assert!(!watches.is_empty());
        watches.unwatch(2, b"k", &flag);
        assert!(watches.is_empty());
        watches.touch(2, b"k", true);
        assert!(!flag.is_dirty());
    }

    #[test]
    fn emptying_a_database_touches_only_keys_that_exist() {
        let mut watches = Watches::default();
        let (here, absent) = (Arc::default(), Arc::default());
        watches.watch(0, b"here", &here, false);
        watches.watch(0, b"absent", &absent, false);
        watches.touch_db(0, |key| key == b"here");
        assert!(here.is_dirty());
        assert!(!absent.is_dirty());
    }
}

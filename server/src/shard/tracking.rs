//! CLIENT TRACKING on one shard: which clients read which of its keys (default mode), which
//! key prefixes clients watch (BCAST), and the invalidations its writes owe them.
//!
//! A key is remembered here, on the shard owning it, in the same synchronous run as the
//! read, so no write can slip between the read and the remembering (the value a client
//! caches is always one a later change invalidates). As Redis's tracking table, entries
//! are keyed by the key's name whatever the database, a client is forgotten for a key
//! once it has been told about it, and entries of clients that stopped tracking or left
//! stay until the key changes (their invalidation is then dropped where the client lived).
//!
//! Writes note the keys they may change (`note`, next to WATCH's), and when the command
//! succeeds each noted key becomes `Note`s for the clients to tell (`settle`). The shard
//! knows nothing of connections: its core takes the notes (`take_notes`) and delivers them
//! where each client lives (core/tracking.rs), which decides NOLOOP, redirection and the
//! protocol, since only the client's own core knows its current mode.
//!
//! When no client tracks anything here, the write path pays one `is_empty` test.

use ahash::AHashMap as HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Keys remembered on every shard of this process, for `tracking-table-max-keys`, which
/// Redis applies to its one table.
static TOTAL_KEYS: AtomicUsize = AtomicUsize::new(0);

/// Who runs the current command on this shard, as tracking needs to know.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Caller {
    /// Client ID (0: no client, the cron's expiry).
    pub id: u64,
    /// The core the client's connection lives on.
    pub core: u16,
    /// Whether the keys a read-only command names are remembered for this client: it
    /// tracks in default mode and OPTIN/OPTOUT with CLIENT CACHING allow this command.
    pub remember: bool,
    /// The command is read-only: what it looked up for writing (a probe without touching
    /// the access time, as EXISTS does) changed nothing.
    pub read_only: bool,
}

/// A tracking client, where its connection lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reader {
    pub id: u64,
    pub core: u16,
}

/// One invalidation owed to one client.
#[derive(Debug, PartialEq, Eq)]
pub struct Note {
    pub target: Reader,
    /// The keys (None: the whole keyspace, after FLUSHDB/FLUSHALL).
    pub keys: Option<Vec<Vec<u8>>>,
    /// The change was made by the target itself (what NOLOOP filters out).
    pub by_target: bool,
    /// Owed through a BCAST prefix (dropped if the client has left BCAST mode since),
    /// otherwise through a key it read (dropped if it has entered BCAST mode since).
    pub bcast: bool,
}

/// A prefix some clients watch in BCAST mode.
struct Prefix {
    prefix: Vec<u8>,
    clients: Vec<Reader>,
}

#[derive(Default)]
pub struct Tracking {
    /// Key name -> the clients that read it since it last changed.
    keys: HashMap<Box<[u8]>, Vec<Reader>>,
    /// Client entries in `keys` (INFO tracking_total_items).
    items: usize,
    /// BCAST registrations, the same on every shard (any shard's key may match).
    prefixes: Vec<Prefix>,
    /// Keys the running command may change: invalidated if it succeeds.
    pending: Vec<Box<[u8]>>,
    /// Invalidations to deliver once the command (or step) is over.
    notes: Vec<Note>,
    /// A database was emptied: every tracking client gets a null invalidation.
    flushed: bool,
    pub caller: Caller,
}

impl Tracking {
    /// Nothing remembered and no prefix watched: writes have nothing to do here.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.prefixes.is_empty()
    }

    /// The running command's client read `key` (a read-only command naming it).
    pub fn remember(&mut self, key: &[u8]) {
        let caller = self.caller;
        if !caller.remember {
            return;
        }
        let reader = Reader {
            id: caller.id,
            core: caller.core,
        };
        let readers = match self.keys.get_mut(key) {
            Some(readers) => readers,
            None => {
                TOTAL_KEYS.fetch_add(1, Ordering::Relaxed);
                self.keys.entry(key.into()).or_default()
            }
        };
        if !readers.contains(&reader) {
            readers.push(reader);
            self.items += 1;
        }
    }

    /// The running command is about to change `key` (if it succeeds).
    pub fn note(&mut self, key: &[u8]) {
        if self.keys.contains_key(key) || self.matching_prefix(key).is_some() {
            self.pending.push(key.into());
        }
    }

    /// How many keys the running command noted so far (see `unnote`).
    pub fn noted(&self) -> usize {
        self.pending.len()
    }

    /// Forgets the keys noted after the first `noted`: they were only probed.
    pub fn unnote(&mut self, noted: usize) {
        self.pending.truncate(noted);
    }

    /// The running command ended: invalidate what it noted if it succeeded.
    pub fn settle(&mut self, succeeded: bool) {
        let pending = std::mem::take(&mut self.pending);
        if succeeded && !self.caller.read_only {
            pending.iter().for_each(|key| self.invalidate(key));
        }
    }

    /// `key` changed (a write, an expiry): every client that read it, and every BCAST
    /// client whose prefix it matches, is owed an invalidation.
    pub fn invalidate(&mut self, key: &[u8]) {
        let caller = self.caller.id;
        if let Some(readers) = self.keys.remove(key) {
            TOTAL_KEYS.fetch_sub(1, Ordering::Relaxed);
            self.items -= readers.len();
            for target in readers {
                self.notes.push(Note {
                    target,
                    keys: Some(vec![key.to_vec()]),
                    by_target: target.id == caller,
                    bcast: false,
                });
            }
        }
        for prefix in &self.prefixes {
            if !key.starts_with(&prefix.prefix) {
                continue;
            }
            for &target in &prefix.clients {
                push_bcast(&mut self.notes, target, key, target.id == caller);
            }
        }
    }

    fn matching_prefix(&self, key: &[u8]) -> Option<&Prefix> {
        self.prefixes.iter().find(|p| key.starts_with(&p.prefix))
    }

    /// A database was emptied (FLUSHDB, FLUSHALL): as Redis, the whole table goes and
    /// every tracking client is told once, with a null.
    pub fn flush(&mut self) {
        TOTAL_KEYS.fetch_sub(self.keys.len(), Ordering::Relaxed);
        self.keys.clear();
        self.items = 0;
        self.pending.clear();
        self.flushed = true;
    }

    /// The invalidations owed, and whether a flush owes every tracking client a null.
    /// `keep_bcast`: a multi-core operation still holds the shard, and BCAST keys wait
    /// for its end, to go out together as Redis sends a whole transaction's.
    pub fn take_notes(&mut self, keep_bcast: bool) -> (Vec<Note>, bool) {
        let mut notes = std::mem::take(&mut self.notes);
        if keep_bcast {
            let (bcast, now) = notes.into_iter().partition(|note| note.bcast);
            self.notes = bcast;
            notes = now;
        }
        (notes, std::mem::replace(&mut self.flushed, false))
    }

    pub fn has_notes(&self) -> bool {
        !self.notes.is_empty() || self.flushed
    }

    /// `client` watches `prefix` in BCAST mode.
    pub fn add_prefix(&mut self, prefix: &[u8], client: Reader) {
        match self.prefixes.iter_mut().find(|p| p.prefix == prefix) {
            Some(p) if !p.clients.contains(&client) => p.clients.push(client),
            Some(_) => {}
            None => self.prefixes.push(Prefix {
                prefix: prefix.to_vec(),
                clients: vec![client],
            }),
        }
    }

    /// `client` left BCAST mode (CLIENT TRACKING OFF, closed): its prefixes go, and a
    /// prefix nobody watches any more with them.
    pub fn remove_client_prefixes(&mut self, client: u64) {
        for prefix in &mut self.prefixes {
            prefix.clients.retain(|c| c.id != client);
        }
        self.prefixes.retain(|p| !p.clients.is_empty());
    }

    /// Past `tracking-table-max-keys` (0: no limit), keys are dropped from the table with
    /// an invalidation to their readers, as Redis's trackingLimitUsedSlots does, until the
    /// whole process is back under the limit or this shard has nothing left.
    pub fn enforce_limit(&mut self, max_keys: u64) {
        if max_keys == 0 {
            return;
        }
        while TOTAL_KEYS.load(Ordering::Relaxed) as u64 > max_keys {
            let Some(key) = self.keys.keys().next().cloned() else {
                return;
            };
            let caller = std::mem::take(&mut self.caller);
            self.invalidate_readers_only(&key);
            self.caller = caller;
        }
    }

    /// Evicts `key`'s entry: its readers are told, BCAST clients are not (nothing changed).
    fn invalidate_readers_only(&mut self, key: &[u8]) {
        if let Some(readers) = self.keys.remove(key) {
            TOTAL_KEYS.fetch_sub(1, Ordering::Relaxed);
            self.items -= readers.len();
            for target in readers {
                self.notes.push(Note {
                    target,
                    keys: Some(vec![key.to_vec()]),
                    by_target: false,
                    bcast: false,
                });
            }
        }
    }

    /// INFO: (tracking_total_keys, tracking_total_items, tracking_total_prefixes) of this
    /// shard.
    pub fn counts(&self) -> (usize, usize, usize) {
        (self.keys.len(), self.items, self.prefixes.len())
    }
}

/// Adds `key` to what `target` is owed through BCAST by this command: one message with
/// every key of the command, as Redis sends each prefix's keys together.
fn push_bcast(notes: &mut Vec<Note>, target: Reader, key: &[u8], by_target: bool) {
    let existing = notes
        .iter_mut()
        .find(|n| n.bcast && n.target == target && n.by_target == by_target);
    match existing {
        Some(Note {
            keys: Some(keys), ..
        }) => keys.push(key.to_vec()),
        _ => notes.push(Note {
            target,
            keys: Some(vec![key.to_vec()]),
            by_target,
            bcast: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(caller: Caller) -> Tracking {
        Tracking {
            caller,
            ..Tracking::default()
        }
    }

    fn reader(id: u64) -> Caller {
        Caller {
            id,
            core: 0,
            remember: true,
            read_only: false,
        }
    }

    #[test]
    fn a_change_tells_each_reader_once_and_forgets_them() {
        let mut t = table(reader(1));
        t.remember(b"k");
        t.remember(b"k");
        t.caller = reader(2);
        t.remember(b"k");
        assert_eq!(t.counts(), (1, 2, 0));
        t.caller = reader(3);
        t.note(b"k");
        t.note(b"other");
        t.settle(true);
        let (notes, flushed) = t.take_notes(false);
        assert!(!flushed);
        let ids: Vec<u64> = notes.iter().map(|n| n.target.id).collect();
        assert_eq!(ids, vec![1, 2]);
        assert!(notes.iter().all(|n| n.keys == Some(vec![b"k".to_vec()])));
        assert!(t.is_empty(), "readers are forgotten once told");
        t.invalidate(b"k");
        assert!(t.take_notes(false).0.is_empty());
    }

    #[test]
    fn a_failed_command_and_an_unremembering_caller_change_nothing() {
        let mut t = table(Caller {
            remember: false,
            ..reader(1)
        });
        t.remember(b"k");
        assert!(t.is_empty());
        t.caller = reader(1);
        t.remember(b"k");
        t.note(b"k");
        t.settle(false);
        assert!(t.take_notes(false).0.is_empty());
        assert_eq!(t.counts().0, 1);
    }

    #[test]
    fn bcast_prefixes_collect_a_commands_keys_in_one_note() {
        let mut t = Tracking::default();
        t.add_prefix(b"user:", Reader { id: 7, core: 1 });
        t.caller = reader(9);
        for key in [&b"user:1"[..], b"user:2", b"item:1"] {
            t.note(key);
        }
        t.settle(true);
        assert!(
            t.take_notes(true).0.is_empty(),
            "kept while the shard is held"
        );
        let (notes, _) = t.take_notes(false);
        assert_eq!(notes.len(), 1);
        assert_eq!(
            notes[0].keys,
            Some(vec![b"user:1".to_vec(), b"user:2".to_vec()])
        );
        assert!(notes[0].bcast && !notes[0].by_target);
        t.remove_client_prefixes(7);
        assert!(t.is_empty());
    }

    #[test]
    fn the_writers_own_change_is_marked_for_noloop() {
        let mut t = table(reader(4));
        t.remember(b"k");
        t.note(b"k");
        t.settle(true);
        assert!(t.take_notes(false).0[0].by_target);
    }

    #[test]
    fn a_flush_empties_the_table_and_owes_everyone_a_null() {
        let mut t = table(reader(1));
        t.remember(b"a");
        t.flush();
        assert_eq!(t.counts(), (0, 0, 0));
        let (notes, flushed) = t.take_notes(false);
        assert!(notes.is_empty() && flushed);
        assert!(!t.has_notes());
    }
}

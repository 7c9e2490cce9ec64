//! The keyspace of one core: its databases, and the context handlers act through.
//!
//! A shard is owned by exactly one core and touched only by it; other cores reach it by
//! sending messages (see `core`). Nothing here knows about connections or the network.
//!
//! ```text
//! Ctx (one command's view: shard + selected db + its clock)
//!   -> Db (segmented hash table, lazy expiry)  -> Entry { key, Value, expiry }
//! ```

pub mod blocking;
pub mod db;
pub mod effect;
pub mod evict;
pub mod expire;
pub mod hash;
pub mod hll;
pub mod journal;
pub mod key;
pub mod list;
pub mod notify;
pub mod set;
pub mod slot;
pub mod stream;
pub mod tracking;
pub mod value;
pub mod watch;
pub mod zset;

use crate::limits::DATABASES;
use db::Db;
use journal::Journal;
use std::time::{Instant, SystemTime, UNIX_EPOCH};
use value::{Entry, Value};

/// Counters INFO stats reports, kept per shard and summed across cores.
#[derive(Clone, Copy, Debug, Default)]
pub struct ShardStats {
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub expired_keys: u64,
    pub expired_stale_perc: f64,
    pub expire_cycle_cpu_ms: u64,
    /// Keys removed under maxmemory (evict.rs).
    pub evicted_keys: u64,
}

pub struct Shard {
    pub dbs: Vec<Db>,
    pub stats: ShardStats,
    started: Instant,
    /// Seconds since start, refreshed by the cron (see `tick_clock`).
    pub clock_s: u32,
    /// Where the active expiry cycle continues, per database.
    pub expire_cursor: Vec<Option<db::Cursor>>,
    /// Running estimate of the remaining TTL of volatile keys, per database (INFO
    /// keyspace avg_ttl), from what the active expiry cycle samples, as Redis estimates it.
    pub avg_ttl_ms: Vec<u64>,
    rng_state: u64,
    /// Dirty keys, the running command's dependency, records to ship (see journal.rs).
    pub journal: Journal,
    /// The newest time a command here used: the clock never goes back within a shard, so
    /// an expiry decided once stays decided for every later command (and its replay).
    last_now_ms: u64,
    /// Whether this shard records ops that apply to every core (FLUSHDB, SWAPDB): one
    /// shard does, so a multi-core flush logs them once.
    records_keyless: bool,
    /// The hash encoding thresholds, read from the configuration at first use and replaced
    /// by CONFIG SET (command/config.rs), so HSET never takes the configuration lock.
    pub hash_limits: Option<hash::HashLimits>,
    /// Keys of this shard that connections WATCH (see watch.rs).
    pub watches: watch::Watches,
    /// The list node size (`list-max-listpack-size`), cached like `hash_limits`.
    pub list_fill: Option<list::Fill>,
    /// Clients blocked on this shard's keys (BLPOP and the like).
    pub blocked: blocking::Blocked,
    /// The set encoding threshold, kept the same way as `hash_limits`.
    pub set_limits: Option<set::SetLimits>,
    /// The sorted set encoding thresholds, cached the same way.
    pub zset_limits: Option<zset::ZsetLimits>,
    /// `hll-sparse-max-bytes`, cached the same way (command/hll.rs).
    pub hll_sparse_max_bytes: Option<u64>,
    /// The stream block limits, cached the same way.
    pub stream_limits: Option<stream::StreamLimits>,
    /// maxmemory settings, the eviction pool and access-tracking state (evict.rs).
    pub evict: evict::EvictState,
    /// `notify-keyspace-events` as `notify::effective` reduces it (0: off, the default),
    /// set at start and by CONFIG SET on every core.
    pub notify_flags: u32,
    /// Keyspace events raised and not yet handed to the core for delivery (notify.rs).
    pub events: Vec<notify::Event>,
    /// Which clients read which keys here, for CLIENT TRACKING (see tracking.rs).
    pub tracking: tracking::Tracking,
}

impl Shard {
    pub fn new(seed: u64) -> Self {
        Shard {
            dbs: (0..DATABASES).map(|_| Db::new()).collect(),
            stats: ShardStats::default(),
            started: Instant::now(),
            clock_s: 0,
            expire_cursor: vec![None; DATABASES],
            avg_ttl_ms: vec![0; DATABASES],
            rng_state: seed | 1,
            journal: Journal::new(false),
            last_now_ms: 0,
            records_keyless: true,
            hash_limits: None,
            watches: watch::Watches::default(),
            list_fill: None,
            blocked: blocking::Blocked::default(),
            set_limits: None,
            zset_limits: None,
            hll_sparse_max_bytes: None,
            stream_limits: None,
            evict: evict::EvictState::default(),
            notify_flags: 0,
            events: Vec::new(),
            tracking: tracking::Tracking::default(),
        }
    }

    /// A shard whose writes are logged (any durability but `none`). `records_keyless`:
    /// this shard logs the ops every core applies (exactly one shard of a server does).
    pub fn journaled(seed: u64, records_keyless: bool) -> Self {
        Shard {
            journal: Journal::new(true),
            records_keyless,
            ..Shard::new(seed)
        }
    }

    /// Unix milliseconds, never less than a time this shard already used.
    pub fn now_ms(&mut self) -> u64 {
        self.last_now_ms = self.last_now_ms.max(unix_ms());
        self.last_now_ms
    }

    /// A time the log says this shard already used (replay): its clock never goes below
    /// it, so a key that had expired before a restart cannot reappear after it even if the
    /// wall clock now reads earlier.
    pub fn observe_time(&mut self, now_ms: u64) {
        self.last_now_ms = self.last_now_ms.max(now_ms);
    }

    /// Empties databases `dbs`, logging it; returns the tables taken out (the caller
    /// decides where they are freed).
    pub fn flush_dbs(&mut self, dbs: std::ops::Range<usize>) -> Vec<Db> {
        let mut old = Vec::new();
        for index in dbs {
            let db = &self.dbs[index];
            self.watches
                .touch_db(index, |key| db.raw_get(key).is_some());
            self.tracking.flush();
            self.journal.write_db(index);
            if self.journal.recording() && self.records_keyless {
                effect::flushdb(self.journal.ops(), index);
            }
            self.expire_cursor[index] = None;
            if !self.dbs[index].is_empty() {
                old.push(std::mem::take(&mut self.dbs[index]));
            }
        }
        old
    }

    /// SWAPDB on this shard, logged.
    pub fn swap_dbs(&mut self, a: usize, b: usize) {
        let (db_a, db_b) = (&self.dbs[a], &self.dbs[b]);
        let in_either = |key: &[u8]| db_a.raw_get(key).is_some() || db_b.raw_get(key).is_some();
        self.watches.touch_db(a, in_either);
        self.watches.touch_db(b, in_either);
        self.journal.write_db(a);
        self.journal.write_db(b);
        if self.journal.recording() && self.records_keyless {
            effect::swapdb(self.journal.ops(), a, b);
        }
        self.dbs.swap(a, b);
        self.expire_cursor.swap(a, b);
        blocking::dbs_swapped(self, a, b);
    }

    /// The running command (or multi-core step) ended: touch the watched keys it changed
    /// if it succeeded, forget them if it failed.
    pub fn settle_watches(&mut self, succeeded: bool) {
        if !self.tracking.is_empty() {
            self.tracking.settle(succeeded);
        }
        if self.watches.is_empty() {
            return;
        }
        if succeeded {
            let dbs = &self.dbs;
            self.watches.fire(|db, key| dbs[db].raw_get(key).is_some());
        } else {
            self.watches.forget();
        }
    }

    /// Refreshes the coarse seconds clock (OBJECT IDLETIME's), from the core's cron, as
    /// Redis refreshes its LRU clock, so reads never call the clock for it.
    pub fn tick_clock(&mut self) {
        self.clock_s = self.started.elapsed().as_secs() as u32;
    }

    /// The access bits a new key starts with under the current policy (evict.rs).
    pub fn fresh_lru(&self) -> u32 {
        evict::fresh_bits(self.evict.config.policy, self.clock_s)
    }

    /// An access to `entry` (Redis's lookupKey without LOOKUP_NOTOUCH): refreshes its LRU
    /// clock or counts it in its LFU counter. A CLIENT NO-TOUCH client leaves it alone.
    fn touch_entry(evict: &evict::EvictState, clock_s: u32, rng: &mut u64, entry: &mut Entry) {
        if evict.no_touch {
            return;
        }
        if evict.config.policy.is_lfu() {
            let mut forked = Rng(*rng);
            entry.lru = evict::touched_bits(entry.lru, &evict.config, clock_s, &mut forked);
            *rng = forked.0;
        } else {
            entry.lru = evict::lru_clock(clock_s);
        }
    }

    /// A random number in `0..n` (xorshift; RANDOMKEY and sampling need no crypto).
    pub fn random(&mut self, n: usize) -> usize {
        let mut rng = Rng(self.rng_state);
        let value = rng.below(n);
        self.rng_state = rng.0;
        value
    }

    /// A generator seeded from this shard's, for sampling a value that lives in the shard
    /// (the sampler cannot borrow the shard while the value is borrowed).
    pub fn fork_rng(&mut self) -> Rng {
        // Mixed, not the next output as is: that would make each fork replay the shard's
        // own sequence one step on, and successive forks each other's (random probing that
        // then removes, SPOP, went quadratic).
        Rng(splitmix64(self.random(usize::MAX) as u64) | 1)
    }

    /// Folds one active-expiry sample into the running estimates: Redis's avg_ttl (each
    /// sample weighs 1/50) and expired_stale_perc (5% the newest sample).
    pub fn note_sample(&mut self, db: usize, live: u64, ttl_sum_ms: u64, expired: u64) {
        if let Some(avg) = ttl_sum_ms.checked_div(live) {
            let previous = self.avg_ttl_ms[db];
            self.avg_ttl_ms[db] = if previous == 0 {
                avg
            } else {
                previous / 50 * 49 + avg / 50
            };
        }
        if self.dbs[db].volatile_len() == expired as usize {
            self.avg_ttl_ms[db] = 0;
        }
        let total = live + expired;
        if total > 0 {
            let current = expired as f64 / total as f64;
            self.stats.expired_stale_perc = current * 0.05 + self.stats.expired_stale_perc * 0.95;
        }
    }
}

/// SplitMix64's finaliser: a seed that shares no sequence with its source.
fn splitmix64(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Xorshift64: the shard's random source (never zero).
pub struct Rng(u64);

impl Rng {
    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x % n.max(1) as u64) as usize
    }
}

pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One command's view of a shard: the selected database and a clock read at most once.
///
/// Every key access goes through here, which is what lets the journal know what a reply
/// depends on (reads) and which keys a write dirties.
pub struct Ctx<'a> {
    pub shard: &'a mut Shard,
    pub db: usize,
    now_ms: u64,
    /// Log replay: the command already ran once, so it raises no keyspace events.
    replaying: bool,
}

impl<'a> Ctx<'a> {
    pub fn new(shard: &'a mut Shard, db: usize) -> Self {
        Ctx {
            shard,
            db,
            now_ms: 0,
            replaying: false,
        }
    }

    /// Replay of a logged command: the clock is the one the command used when it ran.
    pub fn replaying(shard: &'a mut Shard, db: usize, now_ms: u64) -> Self {
        Ctx {
            shard,
            db,
            // 0 would mean "not read yet"; a command that never read the clock cannot
            // depend on its value, so any fixed value does.
            now_ms: now_ms.max(1),
            replaying: true,
        }
    }

    /// The command's time in Unix milliseconds, read once per command as Redis does, so a
    /// command sees one consistent instant.
    pub fn now_ms(&mut self) -> u64 {
        if self.now_ms == 0 {
            self.now_ms = self.shard.now_ms();
        }
        self.now_ms
    }

    pub fn db(&mut self) -> &mut Db {
        &mut self.shard.dbs[self.db]
    }

    /// A live entry for a write (no hit/miss accounting); expired entries are removed.
    pub fn lookup_write(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.live(key, false, true)
    }

    /// A live entry for a read: counts keyspace hits and misses and refreshes its access
    /// time (from the shard's coarse clock, so a read costs no clock call).
    pub fn lookup_read(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.live(key, true, true)
    }

    /// A live entry looked at without counting an access (Redis's LOOKUP_NOTOUCH: TYPE,
    /// EXISTS, TTL, OBJECT); otherwise a read: hits and misses are counted, the reply
    /// depends on the key's last write, and a WATCH of the key is not disturbed.
    pub fn lookup_untouched(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.live(key, true, false)
    }

    fn live(&mut self, key: &[u8], read: bool, touch: bool) -> Option<&mut Entry> {
        let shard = &mut *self.shard;
        if read {
            shard.journal.read(self.db, key);
        } else {
            shard.journal.write(self.db, key);
            if !shard.watches.is_empty() {
                shard.watches.note(self.db, key);
            }
            if !shard.tracking.is_empty() {
                shard.tracking.note(key);
            }
        }
        let now_ms = &mut self.now_ms;
        let last_now_ms = &mut shard.last_now_ms;
        let result = shard.dbs[self.db].get_live(key, || {
            if *now_ms == 0 {
                *last_now_ms = (*last_now_ms).max(unix_ms());
                *now_ms = *last_now_ms;
            }
            *now_ms
        });
        match result {
            Ok(entry) => {
                if read {
                    shard.stats.keyspace_hits += 1;
                }
                if touch {
                    Shard::touch_entry(&shard.evict, shard.clock_s, &mut shard.rng_state, entry);
                }
                Some(entry)
            }
            Err(expired) => {
                let quiet = self.replaying;
                if expired.is_some() {
                    shard.stats.expired_keys += 1;
                    shard.watches.touch(self.db, key, false);
                    if !quiet {
                        let (flags, class) = (shard.notify_flags, notify::class::EXPIRED);
                        notify::record(&mut shard.events, flags, self.db, class, "expired", key);
                    }
                    if !shard.tracking.is_empty() {
                        shard.tracking.invalidate(key);
                    }
                }
                if read {
                    shard.stats.keyspace_misses += 1;
                    if !quiet {
                        let (flags, class) = (shard.notify_flags, notify::class::KEY_MISS);
                        notify::record(&mut shard.events, flags, self.db, class, "keymiss", key);
                    }
                }
                None
            }
        }
    }

    /// Logs this command as `args` instead of its own arguments. A write whose outcome is
    /// not a function of its arguments, keyspace and clock (SPOP's random pick, XADD's `*`
    /// ID, a blocked pop served later) names what it did as a deterministic command, the
    /// way Redis rewrites such commands for its replicas (SPOP becomes SREM). Replay and
    /// replicas then reach the same state. Only the last call counts.
    pub fn log_as(&mut self, args: Vec<Vec<u8>>) {
        if self.shard.journal.enabled() {
            self.shard.journal.rewrite(args);
        }
    }

    /// `key` is being deleted or replaced whole: clients blocked on it are looked at after
    /// the command, as Redis's signalDeletedKeyAsReady (and, for a list or sorted set
    /// stored, signalKeyAsReady) does: a blocked XREADGROUP then fails with -UNBLOCKED, a
    /// pop finds its data, others stay blocked. One emptiness check when none waits.
    fn note_replaced(&mut self, key: &[u8]) {
        blocking::key_pushed(self, key);
    }

    /// Raises keyspace event `event` of `class` on `key` (see notify.rs for how commands
    /// use it). Costs one flag test while notifications are off.
    #[inline]
    pub fn notify(&mut self, class: u32, event: &'static str, key: &[u8]) {
        if self.shard.notify_flags & class != 0 && !self.replaying {
            self.shard.notify(self.db, class, event, key);
        }
    }

    /// Raises `new` (class n) if `key` is absent: a handler calls it before it creates
    /// the key, as Redis's dbAdd does. `set` calls it itself.
    #[inline]
    pub fn notify_new(&mut self, key: &[u8]) {
        if self.shard.notify_flags & notify::class::NEW != 0
            && self.shard.dbs[self.db].raw_get(key).is_none()
        {
            self.notify(notify::class::NEW, "new", key);
        }
    }

    /// `key` is about to change: its watchers are touched if the command succeeds.
    fn note_watched(&mut self, key: &[u8]) {
        if !self.shard.watches.is_empty() {
            self.shard.watches.note(self.db, key);
        }
        if !self.shard.tracking.is_empty() {
            self.shard.tracking.note(key);
        }
    }

    pub fn exists(&mut self, key: &[u8]) -> bool {
        let noted = self.shard.tracking.noted();
        let exists = self.lookup_write(key).is_some();
        // A probe changes nothing: readers tracking the key keep their copy (a write
        // that follows notes the key again where it changes it).
        self.shard.tracking.unnote(noted);
        exists
    }

    /// Stores a value, replacing whatever the key held (and its TTL unless `expire_at_ms`
    /// says otherwise).
    pub fn set(&mut self, key: &[u8], value: Value, expire_at_ms: u64) {
        self.note_watched(key);
        self.note_replaced(key);
        self.notify_new(key);
        let journal = &mut self.shard.journal;
        journal.write(self.db, key);
        if journal.recording() {
            effect::put(journal.ops(), self.db, key, &value, expire_at_ms);
        }
        let lru = self.shard.fresh_lru();
        self.shard.dbs[self.db].insert(key, value, expire_at_ms, lru);
    }

    pub fn delete(&mut self, key: &[u8]) -> bool {
        self.take(key).is_some()
    }

    /// Removes a live key and returns its entry (RENAME moves it elsewhere).
    pub fn take(&mut self, key: &[u8]) -> Option<Entry> {
        let noted = self.shard.tracking.noted();
        if self.lookup_write(key).is_none() {
            // Nothing to remove (DEL of a missing key): tracking readers keep their copy.
            self.shard.tracking.unnote(noted);
            return None;
        }
        self.note_replaced(key);
        let journal = &mut self.shard.journal;
        if journal.recording() {
            effect::del(journal.ops(), self.db, key);
        }
        self.shard.dbs[self.db].remove(key)
    }

    /// Sets the expiry of a live key to `expire_at_ms` (0: none, PERSIST), as a write:
    /// its watchers, the readers tracking it and the journal see the key change, and a
    /// recording gets the key's new state. False (nothing done) when the key is missing.
    pub fn set_expiry(&mut self, key: &[u8], expire_at_ms: u64) -> bool {
        let noted = self.shard.tracking.noted();
        if self.lookup_write(key).is_none() {
            // Nothing changed: tracking readers keep their copy (as `take` does).
            self.shard.tracking.unnote(noted);
            return false;
        }
        let shard = &mut *self.shard;
        let db = &mut shard.dbs[self.db];
        if shard.journal.recording() {
            if let Some(entry) = db.raw_get(key) {
                effect::put(
                    shard.journal.ops(),
                    self.db,
                    key,
                    &entry.value,
                    expire_at_ms,
                );
            }
        }
        db.set_expire(key, expire_at_ms);
        true
    }

    /// Places `entry` under its key, replacing what the key held; the entry keeps its
    /// value, expiry and access time. Raises no `new`: the caller knows whether the entry
    /// is a key put back (SMOVE) or one arriving (RENAME raises it in Redis's order).
    pub fn put_entry(&mut self, entry: Entry) {
        self.note_watched(&entry.key);
        let journal = &mut self.shard.journal;
        journal.write(self.db, &entry.key);
        if journal.recording() {
            effect::put(
                journal.ops(),
                self.db,
                &entry.key,
                &entry.value,
                entry.expire_at_ms,
            );
        }
        blocking::value_stored(self.shard, self.db, &entry.key, &entry.value);
        let db = &mut self.shard.dbs[self.db];
        db.remove(&entry.key);
        db.insert_entry(entry);
    }
}

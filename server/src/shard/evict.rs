//! Eviction under `maxmemory`: the per-key access bits (LRU clock or LFU counter), the
//! eviction pool, and the one function that removes a shard's keys until enough memory
//! is freed, as Redis's evict.c does it.
//!
//! Each entry keeps 24 bits of access history in `Entry::lru`, exactly as Redis keeps
//! them in its object header, so switching policy at run time reads old bits the way
//! Redis does (its error texts warn about it):
//!
//! ```text
//! LRU policies:  lru = seconds clock (24 bits, wraps after ~194 days)
//! LFU policies:  lru = [ minutes clock: 16 bits | log counter: 8 bits ]
//! ```
//!
//! The clocks are the shard's coarse seconds clock (`Shard::clock_s`, refreshed by the
//! cron), so an access costs no clock call. Only differences of the clocks mean anything.

use super::{Rng, Shard};

pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// A new key's LFU counter: a key that has just been written is not the first evicted.
pub const LFU_INIT_VAL: u8 = 5;
/// Redis's EVPOOL_SIZE.
const POOL_SIZE: usize = 16;
/// Keys freed between two looks at the clock (Redis checks its time limit every 16).
const KEYS_PER_TIME_CHECK: usize = 16;
/// Sampling rounds before giving up on finding a candidate.
const CHOOSE_ROUNDS_MAX: usize = 16;

/// `maxmemory-policy`, numbered as the configuration table numbers its names.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Policy {
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    #[default]
    NoEviction,
}

impl Policy {
    pub fn from_config(value: u32) -> Policy {
        match value {
            0 => Policy::VolatileLru,
            1 => Policy::VolatileLfu,
            2 => Policy::VolatileRandom,
            3 => Policy::VolatileTtl,
            4 => Policy::AllkeysLru,
            5 => Policy::AllkeysLfu,
            6 => Policy::AllkeysRandom,
            _ => Policy::NoEviction,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::VolatileLru => "volatile-lru",
            Policy::VolatileLfu => "volatile-lfu",
            Policy::VolatileRandom => "volatile-random",
            Policy::VolatileTtl => "volatile-ttl",
            Policy::AllkeysLru => "allkeys-lru",
            Policy::AllkeysLfu => "allkeys-lfu",
            Policy::AllkeysRandom => "allkeys-random",
            Policy::NoEviction => "noeviction",
        }
    }

    pub fn is_lfu(self) -> bool {
        matches!(self, Policy::VolatileLfu | Policy::AllkeysLfu)
    }

    /// Only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(
            self,
            Policy::VolatileLru
                | Policy::VolatileLfu
                | Policy::VolatileRandom
                | Policy::VolatileTtl
        )
    }

    fn random(self) -> bool {
        matches!(self, Policy::VolatileRandom | Policy::AllkeysRandom)
    }
}

/// The eviction settings a shard reads, copied from `Settings` at start and by CONFIG SET.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvictConfig {
    pub maxmemory_bytes: u64,
    pub policy: Policy,
    pub samples: usize,
    pub tenacity: u64,
    pub lfu_log_factor: u64,
    pub lfu_decay_time_min: u64,
}

impl Default for EvictConfig {
    fn default() -> Self {
        EvictConfig::from_settings(&crate::config::Settings::default())
    }
}

impl EvictConfig {
    pub fn from_settings(settings: &crate::config::Settings) -> Self {
        EvictConfig {
            maxmemory_bytes: settings.maxmemory_bytes,
            policy: Policy::from_config(settings.maxmemory_policy),
            samples: settings.maxmemory_samples.clamp(1, 1 << 16) as usize,
            tenacity: settings.maxmemory_eviction_tenacity,
            lfu_log_factor: settings.lfu_log_factor,
            lfu_decay_time_min: settings.lfu_decay_time,
        }
    }

    /// Redis's evictionTimeLimitUs: how long one call may keep evicting before it yields
    /// (the rest is left to the next command or cron tick); None: no limit (tenacity 100).
    pub fn time_limit_us(&self) -> Option<u64> {
        match self.tenacity {
            0..=10 => Some(50 * self.tenacity),
            11..=99 => Some((500.0 * 1.15f64.powi(self.tenacity as i32 - 10)) as u64),
            _ => None,
        }
    }
}

/// One candidate of the eviction pool: a sampled key and how evictable it is.
#[derive(Clone, Debug)]
struct Candidate {
    /// Higher is evicted first: idle ms (LRU), 255 - frequency (LFU), or how soon the TTL
    /// ends (TTL).
    idle: u64,
    db: usize,
    key: Vec<u8>,
}

/// What a shard keeps for eviction and access tracking.
#[derive(Debug, Default)]
pub struct EvictState {
    pub config: EvictConfig,
    /// The running command's client asked for CLIENT NO-TOUCH: its reads leave the access
    /// bits alone (set around one command by `core::exec`).
    pub no_touch: bool,
    /// The best candidates sampled so far, ascending by `idle` (Redis's EvictionPoolLRU,
    /// kept between calls so good candidates found earlier are not forgotten).
    pool: Vec<Candidate>,
    /// The database random policies evict from next (round robin, as Redis's next_db).
    next_db: usize,
}

// ---------------------------------------------------------------------------------------
// Access bits

/// The LRU clock now: the shard's seconds clock in 24 bits.
pub fn lru_clock(clock_s: u32) -> u32 {
    clock_s & LRU_CLOCK_MAX
}

/// Redis's LFUGetTimeInMinutes: 16 bits of minutes.
fn lfu_minutes(clock_s: u32) -> u32 {
    (clock_s / 60) & 0xffff
}

/// The bits a new key starts with under `policy`.
pub fn fresh_bits(policy: Policy, clock_s: u32) -> u32 {
    if policy.is_lfu() {
        (lfu_minutes(clock_s) << 8) | LFU_INIT_VAL as u32
    } else {
        lru_clock(clock_s)
    }
}

/// Redis's estimateObjectIdleTime, in milliseconds (the LRU clock may have wrapped).
pub fn idle_ms(bits: u32, clock_s: u32) -> u64 {
    let now = lru_clock(clock_s);
    let seconds = if now >= bits {
        now - bits
    } else {
        (LRU_CLOCK_MAX - bits) + now
    };
    seconds as u64 * 1000
}

/// Redis's LFUDecrAndReturn: the counter less one per `lfu-decay-time` minutes idle.
pub fn lfu_frequency(bits: u32, clock_s: u32, decay_time_min: u64) -> u8 {
    let last = bits >> 8;
    let counter = (bits & 0xff) as u64;
    let now = lfu_minutes(clock_s);
    let elapsed = if now >= last {
        now - last
    } else {
        65535 - last + now
    } as u64;
    let periods = elapsed.checked_div(decay_time_min).unwrap_or(0);
    counter.saturating_sub(periods) as u8
}

/// Redis's LFULogIncr: the counter grows with probability 1 / ((counter - 5) * factor + 1).
fn lfu_log_incr(counter: u8, log_factor: u64, rng: &mut Rng) -> u8 {
    if counter == 255 {
        return counter;
    }
    let r = rng.below(1 << 30) as f64 / (1u64 << 30) as f64;
    let base = counter.saturating_sub(LFU_INIT_VAL) as f64;
    let p = 1.0 / (base * log_factor as f64 + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// The bits after one access (Redis's lookupKey: updateLFU or LRU_CLOCK).
pub fn touched_bits(bits: u32, config: &EvictConfig, clock_s: u32, rng: &mut Rng) -> u32 {
    if !config.policy.is_lfu() {
        return lru_clock(clock_s);
    }
    let counter = lfu_frequency(bits, clock_s, config.lfu_decay_time_min);
    let counter = lfu_log_incr(counter, config.lfu_log_factor, rng);
    (lfu_minutes(clock_s) << 8) | counter as u32
}

// ---------------------------------------------------------------------------------------
// Choosing and removing keys

/// How `entry` ranks for eviction under `config` (higher goes first).
fn score(entry: &super::value::Entry, config: &EvictConfig, clock_s: u32) -> u64 {
    match config.policy {
        Policy::VolatileTtl => u64::MAX - entry.expire_at_ms,
        p if p.is_lfu() => {
            255 - lfu_frequency(entry.lru, clock_s, config.lfu_decay_time_min) as u64
        }
        _ => idle_ms(entry.lru, clock_s),
    }
}

/// Samples `maxmemory-samples` keys of every database into the pool (Redis's
/// evictionPoolPopulate): a sampled key enters when the pool has room or it ranks above
/// the pool's least evictable candidate.
fn populate_pool(shard: &mut Shard) {
    let config = shard.evict.config;
    let clock_s = shard.clock_s;
    let volatile_only = config.policy.volatile_only();
    for db in 0..shard.dbs.len() {
        let mut rng = shard.fork_rng();
        let mut sampled = Vec::with_capacity(config.samples);
        shard.dbs[db].sample(config.samples, volatile_only, &mut rng, |entry| {
            sampled.push((score(entry, &config, clock_s), entry.key.to_vec()));
        });
        for (idle, key) in sampled {
            insert_candidate(&mut shard.evict.pool, Candidate { idle, db, key });
        }
    }
}

fn insert_candidate(pool: &mut Vec<Candidate>, candidate: Candidate) {
    if pool
        .iter()
        .any(|c| c.db == candidate.db && c.key == candidate.key)
    {
        return;
    }
    let at = pool.partition_point(|c| c.idle < candidate.idle);
    if pool.len() < POOL_SIZE {
        pool.insert(at, candidate);
    } else if at > 0 {
        // Full: the least evictable (first) leaves to make room.
        pool.remove(0);
        pool.insert(at - 1, candidate);
    }
}

/// The next key to evict, best first (None: nothing this policy may evict).
fn choose(shard: &mut Shard) -> Option<(usize, Vec<u8>)> {
    let policy = shard.evict.config.policy;
    if policy == Policy::NoEviction {
        return None;
    }
    if policy.random() {
        return choose_random(shard, policy);
    }
    // A few rounds: candidates in the pool may be gone (deleted or expired since), and a
    // sample of sparse volatile keys may find none.
    for _ in 0..CHOOSE_ROUNDS_MAX {
        populate_pool(shard);
        while let Some(candidate) = shard.evict.pool.pop() {
            let db = &shard.dbs[candidate.db];
            if let Some(entry) = db.raw_get(&candidate.key) {
                if !policy.volatile_only() || entry.expire_at_ms != 0 {
                    return Some((candidate.db, candidate.key));
                }
            }
        }
        if shard.dbs.iter().all(|db| candidates_in(db, policy) == 0) {
            return None;
        }
    }
    None
}

fn candidates_in(db: &super::db::Db, policy: Policy) -> usize {
    if policy.volatile_only() {
        db.volatile_len()
    } else {
        db.len()
    }
}

/// A random key of the next database that has one, round robin.
fn choose_random(shard: &mut Shard, policy: Policy) -> Option<(usize, Vec<u8>)> {
    let dbs = shard.dbs.len();
    for _ in 0..dbs {
        let db = shard.evict.next_db % dbs;
        shard.evict.next_db = (db + 1) % dbs;
        if candidates_in(&shard.dbs[db], policy) == 0 {
            continue;
        }
        // A sample walks a bounded run of buckets and may find no volatile key in it.
        for _ in 0..CHOOSE_ROUNDS_MAX {
            let mut rng = shard.fork_rng();
            let mut found = None;
            shard.dbs[db].sample(1, policy.volatile_only(), &mut rng, |entry| {
                found = Some(entry.key.to_vec());
            });
            if let Some(key) = found {
                return Some((db, key));
            }
        }
    }
    None
}

/// Removes one evicted key, logged as a DEL effect when the shard records (the caller
/// opened the recording), so replay and replicas drop the same key. Every eviction goes
/// through here: the place for the `evicted` keyspace notification.
pub fn evict_key(shard: &mut Shard, db: usize, key: &[u8]) -> bool {
    if shard.dbs[db].remove(key).is_none() {
        return false;
    }
    shard.watches.touch(db, key, false);
    if shard.journal.recording() {
        super::effect::del(shard.journal.ops(), db, key);
    }
    shard.stats.evicted_keys += 1;
    // Redis's performEvictions: signalModifiedKey with no client, then `evicted`.
    if !shard.tracking.is_empty() {
        // No client caused this change: NOLOOP spares nobody.
        shard.tracking.caller = Default::default();
        shard.tracking.invalidate(key);
    }
    shard.notify(db, super::notify::class::EVICTED, "evicted", key);
    true
}

/// Candidates a round passes over because a transaction holds them before it gives up.
const LOCKED_SKIPS_MAX: usize = 64;

/// How a round of eviction ended (Redis's EVICT_OK / EVICT_RUNNING / EVICT_FAIL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing (more) to free.
    Done,
    /// The time limit ran out with memory still to free.
    Running,
    /// Nothing this policy may evict is left here.
    Failed,
}

/// Evicts this shard's keys until `freed()` reaches `to_free_bytes`, or the time limit
/// `maxmemory-eviction-tenacity` sets runs out, or no key is left that the policy may
/// evict. `freed` reports the bytes freed so far (the allocator's count, as Redis
/// measures each deletion). Returns the outcome and the keys evicted.
/// `locked`: keys a transaction holds (core/hold.rs), which are passed over; after
/// `LOCKED_SKIPS_MAX` of them in one round the rest is left to the next.
pub fn evict(
    shard: &mut Shard,
    to_free_bytes: u64,
    mut freed: impl FnMut(&Shard) -> u64,
    mut elapsed_us: impl FnMut() -> u64,
    locked: impl Fn(&[u8]) -> bool,
) -> (Outcome, usize) {
    let limit_us = shard.evict.config.time_limit_us();
    let (mut keys, mut skipped) = (0, 0);
    while freed(shard) < to_free_bytes {
        let Some((db, key)) = choose(shard) else {
            return (Outcome::Failed, keys);
        };
        if locked(&key) {
            skipped += 1;
            if skipped == LOCKED_SKIPS_MAX {
                return (Outcome::Running, keys);
            }
            continue;
        }
        if evict_key(shard, db, &key) {
            keys += 1;
        }
        if keys % KEYS_PER_TIME_CHECK == 0 && limit_us.is_some_and(|limit| elapsed_us() > limit) {
            return (Outcome::Running, keys);
        }
    }
    (Outcome::Done, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shard::value::Value;

    fn shard_with(policy: Policy) -> Shard {
        let mut shard = Shard::new(7);
        shard.evict.config.policy = policy;
        shard
    }

    fn put(shard: &mut Shard, key: &str, expire_at_ms: u64, lru: u32) {
        shard.dbs[0].insert(key.as_bytes(), Value::Str(b"v".to_vec()), expire_at_ms, lru);
    }

    /// Evicts `n` keys, each counted as 1 byte freed.
    fn evict_n(shard: &mut Shard, n: u64) -> (Outcome, usize) {
        let before = shard.dbs[0].len() as u64;
        evict(
            shard,
            n,
            |s| before - s.dbs[0].len() as u64,
            || 0,
            |_| false,
        )
    }

    #[test]
    fn keys_a_transaction_holds_are_passed_over() {
        for policy in [Policy::AllkeysLru, Policy::AllkeysRandom] {
            let mut shard = shard_with(policy);
            for i in 0..20 {
                put(&mut shard, &format!("k{i}"), 0, 0);
            }
            let locked = |key: &[u8]| key.starts_with(b"k1");
            let before = shard.dbs[0].len() as u64;
            let (outcome, keys) = evict(
                &mut shard,
                100,
                |s| before - s.dbs[0].len() as u64,
                || 0,
                locked,
            );
            // k1 and k10..k19 stay; the other nine go, then only locked keys are left.
            assert_eq!((outcome, keys), (Outcome::Running, 9), "{policy:?}");
            assert!((0..20)
                .map(|i| format!("k{i}"))
                .filter(|k| locked(k.as_bytes()))
                .all(|k| shard.dbs[0].raw_get(k.as_bytes()).is_some()));
        }
    }

    #[test]
    fn lru_evicts_the_longest_idle_keys() {
        let mut shard = shard_with(Policy::AllkeysLru);
        shard.clock_s = 10_000;
        for i in 0..100 {
            // Keys old0..old9 idle for hours, the rest were just touched.
            let (name, lru) = if i < 10 {
                (format!("old{i}"), 10)
            } else {
                (format!("new{i}"), 9_990)
            };
            put(&mut shard, &name, 0, lru);
        }
        shard.evict.config.samples = 100;
        let (outcome, keys) = evict_n(&mut shard, 10);
        assert_eq!((outcome, keys), (Outcome::Done, 10));
        for i in 0..10 {
            assert!(shard.dbs[0].raw_get(format!("old{i}").as_bytes()).is_none());
        }
    }

    #[test]
    fn volatile_policies_spare_keys_without_ttl() {
        for policy in [
            Policy::VolatileLru,
            Policy::VolatileLfu,
            Policy::VolatileRandom,
            Policy::VolatileTtl,
        ] {
            let mut shard = shard_with(policy);
            for i in 0..50 {
                put(&mut shard, &format!("p{i}"), 0, 0);
                put(&mut shard, &format!("v{i}"), 1_000_000 + i, 0);
            }
            let (outcome, keys) = evict_n(&mut shard, 100);
            assert_eq!((outcome, keys), (Outcome::Failed, 50), "{policy:?}");
            assert_eq!(shard.dbs[0].len(), 50);
            assert_eq!(shard.dbs[0].volatile_len(), 0);
            assert_eq!(shard.stats.evicted_keys, 50);
        }
    }

    #[test]
    fn ttl_evicts_the_soonest_expiring_first() {
        let mut shard = shard_with(Policy::VolatileTtl);
        shard.evict.config.samples = 64;
        for i in 0..40u64 {
            put(&mut shard, &format!("v{i}"), 1_000_000 + i * 1000, 0);
        }
        evict_n(&mut shard, 5);
        for i in 0..5 {
            assert!(shard.dbs[0].raw_get(format!("v{i}").as_bytes()).is_none());
        }
        assert_eq!(shard.dbs[0].len(), 35);
    }

    #[test]
    fn noeviction_evicts_nothing() {
        let mut shard = shard_with(Policy::NoEviction);
        put(&mut shard, "a", 0, 0);
        assert_eq!(evict_n(&mut shard, 1), (Outcome::Failed, 0));
    }

    #[test]
    fn lfu_counter_grows_logarithmically_and_decays() {
        let config = EvictConfig {
            policy: Policy::AllkeysLfu,
            ..EvictConfig::default()
        };
        let mut rng = Rng(12345);
        let mut bits = fresh_bits(Policy::AllkeysLfu, 0);
        assert_eq!(lfu_frequency(bits, 0, 1), LFU_INIT_VAL);
        for _ in 0..1000 {
            bits = touched_bits(bits, &config, 0, &mut rng);
        }
        let after_1000 = lfu_frequency(bits, 0, 1);
        // Redis's table for lfu-log-factor 10: about 18 after 1000 hits.
        assert!((12..=25).contains(&after_1000), "{after_1000}");
        // Ten idle minutes with a decay time of one minute take ten off.
        assert_eq!(lfu_frequency(bits, 600, 1), after_1000 - 10);
        assert_eq!(lfu_frequency(bits, 600, 0), after_1000);
    }

    #[test]
    fn idle_time_survives_the_clock_wrapping() {
        assert_eq!(idle_ms(100, 160), 60_000);
        assert_eq!(idle_ms(LRU_CLOCK_MAX - 5, 4), 9_000);
    }

    #[test]
    fn tenacity_sets_redis_time_limits() {
        let limit = |tenacity| {
            EvictConfig {
                tenacity,
                ..EvictConfig::default()
            }
            .time_limit_us()
        };
        assert_eq!(limit(0), Some(0));
        assert_eq!(limit(10), Some(500));
        assert_eq!(limit(11), Some(575));
        assert_eq!(limit(100), None);
    }
}

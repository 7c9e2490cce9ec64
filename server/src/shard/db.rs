//! One logical database on one core: a segmented hash table of entries with lazy expiry.
//!
//! The table is split into `DB_SEGMENTS` hashbrown tables chosen by the top bits of the
//! key's hash. Each segment grows on its own, so an insert never rehashes more than
//! 1/256th of the keyspace: a whole-table rehash near 1M keys stalls a core for ~40 ms
//! (PERF-NOTES.md), which would be everyone's p99.9.
//!
//! SCAN cursors address (segment, bucket index, segment generation). An entry stays in its
//! bucket until the table is rehashed, and hashbrown rehashes only on an insert that finds
//! no room (`capacity() == len()`), so the segment bumps its generation exactly then, and
//! a cursor from an older generation restarts that segment: SCAN may return a key twice,
//! never miss one that was there throughout.

use super::value::{Entry, Value};
use crate::limits::DB_SEGMENTS;
use hashbrown::HashTable;

const SEGMENT_SHIFT: u32 = 32;
const _: () = assert!(DB_SEGMENTS.trailing_zeros() <= 57 - SEGMENT_SHIFT);

#[derive(Default)]
struct Segment {
    table: HashTable<Entry>,
    /// Entries with an expiry: the active expiry cycle skips segments without any.
    volatile: usize,
    /// Bumped whenever the table is about to rehash (iteration order changes).
    generation: u16,
}

pub struct Db {
    segments: Box<[Segment]>,
    hasher: ahash::RandomState,
    len: usize,
    volatile: usize,
}

/// A position for SCAN and the active expiry cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub segment: usize,
    pub offset: usize,
    pub generation: u16,
}

impl Default for Db {
    fn default() -> Self {
        Db::new()
    }
}

impl Db {
    pub fn new() -> Self {
        Db {
            segments: (0..DB_SEGMENTS).map(|_| Segment::default()).collect(),
            // Fixed keys: every core and every restart hashes alike, which keeps SCAN
            // cursors meaningful between cores and debugging reproducible.
            hasher: ahash::RandomState::with_seeds(0x686f6c64, 0x66617374, 0x6b657973, 0x73686172),
            len: 0,
            volatile: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile
    }

    /// The key's hash and segment. The segment comes from bits 32.. of the hash: hashbrown
    /// takes the bucket from the low bits and the 7-bit tag it compares before the key from
    /// the top bits, so a segment chosen from either end would make every key in it share
    /// those bits (measured: with the top bits, a third of GET's time went to memcmp).
    fn locate(&self, key: &[u8]) -> (u64, usize) {
        let hash = self.hasher.hash_one(key);
        (hash, ((hash >> SEGMENT_SHIFT) as usize) & (DB_SEGMENTS - 1))
    }

    /// The live entry for `key`. An entry past its expiry is removed on the way and
    /// returned as `Err(Some(entry))` so the caller can account for (and later log) the
    /// expiry; `Err(None)` means absent. `now_ms` is asked only for entries with a TTL.
    pub fn get_live(
        &mut self,
        key: &[u8],
        now_ms: impl FnOnce() -> u64,
    ) -> Result<&mut Entry, Option<Entry>> {
        let (hash, seg_index) = self.locate(key);
        let segment = &mut self.segments[seg_index];
        let Ok(found) = segment.table.find_entry(hash, |e| &*e.key == key) else {
            return Err(None);
        };
        let expire_at_ms = found.get().expire_at_ms;
        if expire_at_ms == 0 || expire_at_ms > now_ms() {
            return Ok(found.into_mut());
        }
        let (entry, _) = found.remove();
        segment.volatile -= 1;
        self.volatile -= 1;
        self.len -= 1;
        Err(Some(entry))
    }

    /// The entry for `key` ignoring expiry (the caller decides what an expired entry means).
    pub fn raw_get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let (hash, seg) = self.locate(key);
        self.segments[seg].table.find_mut(hash, |e| &*e.key == key)
    }

    pub fn raw_get(&self, key: &[u8]) -> Option<&Entry> {
        let (hash, seg) = self.locate(key);
        self.segments[seg].table.find(hash, |e| &*e.key == key)
    }

    /// Inserts or replaces the value for `key` (with its expiry and the access bits `lru`
    /// a new value starts with, see evict.rs); returns the previous value.
    pub fn insert(
        &mut self,
        key: &[u8],
        value: Value,
        expire_at_ms: u64,
        lru: u32,
    ) -> Option<Value> {
        let (hash, seg_index) = self.locate(key);
        let segment = &mut self.segments[seg_index];
        if let Some(entry) = segment.table.find_mut(hash, |e| &*e.key == key) {
            let delta = (expire_at_ms != 0) as isize - (entry.expire_at_ms != 0) as isize;
            let old_value = std::mem::replace(&mut entry.value, value);
            entry.expire_at_ms = expire_at_ms;
            entry.lru = lru;
            entry.edited_in_place = false;
            segment.volatile = (segment.volatile as isize + delta) as usize;
            self.volatile = (self.volatile as isize + delta) as usize;
            return Some(old_value);
        }
        self.insert_new(
            hash,
            seg_index,
            Entry::new(key.into(), value, expire_at_ms, lru),
        );
        None
    }

    /// Inserts an entry whose key is known to be absent.
    pub fn insert_entry(&mut self, entry: Entry) {
        let (hash, seg_index) = self.locate(&entry.key);
        debug_assert!(self.segments[seg_index]
            .table
            .find(hash, |e| e.key == entry.key)
            .is_none());
        self.insert_new(hash, seg_index, entry);
    }

    fn insert_new(&mut self, hash: u64, seg_index: usize, entry: Entry) {
        let segment = &mut self.segments[seg_index];
        if segment.table.capacity() == segment.table.len() {
            // This insert rehashes the segment: iteration order changes (see module doc).
            segment.generation = segment.generation.wrapping_add(1);
        }
        if entry.expire_at_ms != 0 {
            segment.volatile += 1;
            self.volatile += 1;
        }
        let hasher = &self.hasher;
        segment
            .table
            .insert_unique(hash, entry, |e| hasher.hash_one(&*e.key));
        self.len += 1;
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let (hash, seg_index) = self.locate(key);
        let segment = &mut self.segments[seg_index];
        let found = segment.table.find_entry(hash, |e| &*e.key == key).ok()?;
        let (entry, _) = found.remove();
        if entry.expire_at_ms != 0 {
            segment.volatile -= 1;
            self.volatile -= 1;
        }
        self.len -= 1;
        Some(entry)
    }

    /// Sets or clears a key's expiry, keeping the volatile counts right.
    pub fn set_expire(&mut self, key: &[u8], expire_at_ms: u64) -> bool {
        let (hash, seg_index) = self.locate(key);
        let segment = &mut self.segments[seg_index];
        let Some(entry) = segment.table.find_mut(hash, |e| &*e.key == key) else {
            return false;
        };
        let delta = (expire_at_ms != 0) as isize - (entry.expire_at_ms != 0) as isize;
        entry.expire_at_ms = expire_at_ms;
        segment.volatile = (segment.volatile as isize + delta) as usize;
        self.volatile = (self.volatile as isize + delta) as usize;
        true
    }

    pub fn clear(&mut self) {
        for segment in self.segments.iter_mut() {
            *segment = Segment::default();
        }
        self.len = 0;
        self.volatile = 0;
    }

    /// Visits entries from `cursor` until `visit` returns false or `budget` buckets have
    /// been examined; returns the cursor to continue from (`None` when the table is done).
    /// Segments without volatile keys are skipped when `volatile_only`.
    pub fn walk(
        &self,
        cursor: Cursor,
        mut budget: usize,
        volatile_only: bool,
        mut visit: impl FnMut(&Entry) -> bool,
    ) -> Option<Cursor> {
        let mut cursor = cursor;
        while cursor.segment < self.segments.len() {
            let segment = &self.segments[cursor.segment];
            if cursor.generation != segment.generation {
                cursor.offset = 0;
                cursor.generation = segment.generation;
            }
            let buckets = if segment.table.is_empty() || (volatile_only && segment.volatile == 0) {
                0
            } else {
                segment.table.num_buckets()
            };
            while cursor.offset < buckets {
                if budget == 0 {
                    return Some(cursor);
                }
                if let Some(entry) = segment.table.get_bucket(cursor.offset) {
                    if !visit(entry) {
                        return Some(cursor);
                    }
                }
                cursor.offset += 1;
                budget -= 1;
            }
            cursor.segment += 1;
            cursor.offset = 0;
            cursor.generation = self
                .segments
                .get(cursor.segment)
                .map_or(0, |s| s.generation);
            if budget == 0 {
                return (cursor.segment < self.segments.len()).then_some(cursor);
            }
        }
        None
    }

    /// Up to `count` entries from a random place, for eviction (Redis's dictGetSomeKeys):
    /// a segment chosen by weight (its volatile keys when `volatile_only`), then
    /// consecutive buckets from a random one, on into the next segments; at most ten
    /// buckets per wanted entry are looked at (segments without candidates are passed
    /// over free), so a sparse table costs a bounded walk.
    pub fn sample(
        &self,
        count: usize,
        volatile_only: bool,
        rng: &mut super::Rng,
        mut visit: impl FnMut(&Entry),
    ) {
        let weight = |s: &Segment| {
            if volatile_only {
                s.volatile
            } else {
                s.table.len()
            }
        };
        let total = if volatile_only {
            self.volatile
        } else {
            self.len
        };
        if total == 0 || count == 0 {
            return;
        }
        let mut index = rng.below(total);
        let Some(mut seg) = self.segments.iter().position(|s| {
            let found = index < weight(s);
            if !found {
                index -= weight(s);
            }
            found
        }) else {
            return;
        };
        let mut bucket = rng.below(self.segments[seg].table.num_buckets());
        let (mut found, mut steps) = (0, count.saturating_mul(10));
        while steps > 0 {
            let segment = &self.segments[seg];
            if weight(segment) == 0 || bucket >= segment.table.num_buckets() {
                seg = (seg + 1) % self.segments.len();
                bucket = 0;
                continue;
            }
            if let Some(entry) = segment.table.get_bucket(bucket) {
                if !volatile_only || entry.expire_at_ms != 0 {
                    visit(entry);
                    found += 1;
                    if found == count {
                        return;
                    }
                }
            }
            bucket += 1;
            steps -= 1;
        }
    }

    /// A random entry, for RANDOMKEY: a segment chosen by weight, then random buckets
    /// until a full one (as Redis probes random buckets). `random(n)` returns 0..n.
    pub fn random_entry(&self, mut random: impl FnMut(usize) -> usize) -> Option<&Entry> {
        if self.len == 0 {
            return None;
        }
        let mut index = random(self.len);
        let segment = self.segments.iter().find(|s| {
            let found = index < s.table.len();
            if !found {
                index -= s.table.len();
            }
            found
        })?;
        let buckets = segment.table.num_buckets();
        for _ in 0..buckets * 4 {
            if let Some(entry) = segment.table.get_bucket(random(buckets)) {
                return Some(entry);
            }
        }
        segment.table.iter().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Value {
        Value::Str(v.as_bytes().to_vec())
    }

    #[test]
    fn insert_get_remove_and_counts() {
        let mut db = Db::new();
        assert!(db.insert(b"a", s("1"), 0, 0).is_none());
        assert!(db.insert(b"b", s("2"), 5, 0).is_none());
        assert_eq!((db.len(), db.volatile_len()), (2, 1));
        let old = db.insert(b"b", s("3"), 0, 0).unwrap();
        assert_eq!(old, s("2"));
        assert_eq!((db.len(), db.volatile_len()), (2, 0));
        assert!(db.set_expire(b"a", 10));
        assert_eq!(db.volatile_len(), 1);
        assert_eq!(db.remove(b"a").unwrap().value, s("1"));
        assert_eq!((db.len(), db.volatile_len()), (1, 0));
        assert!(db.remove(b"a").is_none());
    }

    #[test]
    fn walk_sees_every_key_that_stays_despite_removals() {
        let mut db = Db::new();
        for i in 0..3000 {
            db.insert(format!("k{i}").as_bytes(), s("v"), 0, 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = Some(Cursor::default());
        let mut victim = 1000;
        while let Some(c) = cursor {
            cursor = db.walk(c, 23, false, |e| {
                seen.insert(e.key.to_vec());
                true
            });
            db.remove(format!("k{victim}").as_bytes());
            victim += 1;
        }
        for i in (0..1000).chain(victim..3000) {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
        }
    }

    #[test]
    fn walk_sees_every_key_that_stays_despite_growth() {
        let mut db = Db::new();
        for i in 0..5000 {
            db.insert(format!("k{i}").as_bytes(), s("v"), 0, 0);
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = Some(Cursor::default());
        let mut next_new = 5000;
        while let Some(c) = cursor {
            cursor = db.walk(c, 37, false, |e| {
                seen.insert(e.key.to_vec());
                true
            });
            // Grow the table between calls, forcing segment rehashes.
            for _ in 0..50 {
                db.insert(format!("k{next_new}").as_bytes(), s("v"), 0, 0);
                next_new += 1;
            }
        }
        for i in 0..5000 {
            assert!(seen.contains(format!("k{i}").as_bytes()), "missed k{i}");
        }
    }
}

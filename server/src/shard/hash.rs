//! The hash value: field → value, kept as a compact pair list while small and as a hash
//! table past Redis's thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`).
//!
//! ```text
//! Pairs  Vec<(field, value)>, insertion order   OBJECT ENCODING "listpack"
//!   -- more entries than the limit, or a field/value longer than the limit -->
//! Table  hashbrown table of pairs                 OBJECT ENCODING "hashtable"
//! ```
//!
//! As in Redis, a hash never converts back: deleting fields from a table leaves a table.
//! Small hashes are searched linearly, which at a few hundred short entries costs about
//! what hashing does, with no table beside the two byte strings of each pair.
//!
//! A table is addressed by bucket, as `shard::db` addresses the keyspace: HSCAN's cursor
//! is (generation, bucket), stable under deletes (hashbrown never moves an entry except
//! when an insert rehashes, which bumps the generation and restarts older cursors: a
//! field may come twice, none present throughout is missed), and HRANDFIELD probes
//! random buckets as Redis does instead of walking the table.

use super::Rng;
use crate::config::{ConfigStore, Settings};
use ahash::RandomState;
use hashbrown::HashTable;
use std::sync::Mutex;

type Pair = (Vec<u8>, Vec<u8>);

/// HSCAN cursors keep the bucket in the low bits and the table generation above them.
const CURSOR_BUCKET_BITS: u32 = 48;

/// When a pair list must become a table (read from the configuration on each shard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashLimits {
    pub entries: usize,
    pub value_bytes: usize,
}

impl HashLimits {
    pub fn from_settings(settings: &Settings) -> HashLimits {
        HashLimits {
            entries: usize::try_from(settings.hash_max_listpack_entries).unwrap_or(usize::MAX),
            value_bytes: usize::try_from(settings.hash_max_listpack_value).unwrap_or(usize::MAX),
        }
    }

    /// The configured limits, or the defaults before a configuration is loaded (unit tests).
    pub fn configured(config: &Mutex<Option<ConfigStore>>) -> HashLimits {
        let guard = config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let settings = guard.as_ref().map(ConfigStore::settings);
        HashLimits::from_settings(&settings.unwrap_or_default())
    }
}

#[derive(Clone, Debug)]
pub enum Hash {
    Pairs(Vec<Pair>),
    Table(Table),
}

#[derive(Clone, Debug)]
pub struct Table {
    pairs: HashTable<Pair>,
    hasher: RandomState,
    /// Bumped whenever an insert is about to rehash (bucket order changes).
    generation: u16,
}

impl Table {
    fn with_capacity(capacity: usize) -> Table {
        Table {
            pairs: HashTable::with_capacity(capacity),
            // Fixed keys, as the keyspace's: iteration order is the same on every core and
            // after every restart.
            hasher: RandomState::with_seeds(0x686f6c64, 0x66617374, 0x68617368, 0x6669656c),
            generation: 0,
        }
    }

    fn get(&self, field: &[u8]) -> Option<&Pair> {
        let hash = self.hasher.hash_one(field);
        self.pairs.find(hash, |(f, _)| f == field)
    }

    fn insert(&mut self, field: &[u8], value: Vec<u8>) -> bool {
        let hash = self.hasher.hash_one(field);
        if let Some(pair) = self.pairs.find_mut(hash, |(f, _)| f == field) {
            pair.1 = value;
            return false;
        }
        if self.pairs.capacity() == self.pairs.len() {
            self.generation = self.generation.wrapping_add(1);
        }
        let hasher = &self.hasher;
        self.pairs
            .insert_unique(hash, (field.to_vec(), value), |(f, _)| hasher.hash_one(f));
        true
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let hash = self.hasher.hash_one(field);
        match self.pairs.find_entry(hash, |(f, _)| f == field) {
            Ok(found) => {
                found.remove();
                true
            }
            Err(_) => false,
        }
    }
}

impl PartialEq for Hash {
    /// Equal contents whatever the encoding and order.
    fn eq(&self, other: &Hash) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Pairs(Vec::new())
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Pairs(pairs) => pairs.len(),
            Hash::Table(table) => table.pairs.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's encoding name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Hash::Pairs(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Pairs(pairs) => pairs
                .iter()
                .find(|(f, _)| f == field)
                .map(|(_, v)| v.as_slice()),
            Hash::Table(table) => table.get(field).map(|(_, v)| v.as_slice()),
        }
    }

    /// Sets `field` to `value`; true when the field is new. Converts to a table first when
    /// the result would break `limits`.
    pub fn insert(&mut self, field: &[u8], value: Vec<u8>, limits: HashLimits) -> bool {
        if let Hash::Pairs(pairs) = self {
            let too_long = field.len() > limits.value_bytes || value.len() > limits.value_bytes;
            if let Some(slot) = pairs.iter_mut().find(|(f, _)| f == field) {
                if !too_long {
                    slot.1 = value;
                    return false;
                }
            } else if !too_long && pairs.len() < limits.entries {
                pairs.push((field.to_vec(), value));
                return true;
            }
            self.convert();
        }
        match self {
            Hash::Table(table) => table.insert(field, value),
            Hash::Pairs(_) => unreachable!("converted above"),
        }
    }

    /// Removes `field`; true when it was there. Pair lists keep their order, as listpack
    /// deletion does.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Pairs(pairs) => match pairs.iter().position(|(f, _)| f == field) {
                Some(at) => {
                    pairs.remove(at);
                    true
                }
                None => false,
            },
            Hash::Table(table) => table.remove(field),
        }
    }

    /// Every (field, value), in the encoding's order (insertion order for pair lists).
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Pairs(pairs) => Box::new(pairs.iter().map(|(f, v)| (&f[..], &v[..]))),
            Hash::Table(table) => Box::new(table.pairs.iter().map(|(f, v)| (&f[..], &v[..]))),
        }
    }

    /// One pair chosen at random: any index of a pair list, or random buckets of a table
    /// until a full one (Redis's probing; expected O(1) at hashbrown's load factor).
    pub fn random_pair(&self, rng: &mut Rng) -> Option<(&[u8], &[u8])> {
        let (field, value) = match self {
            Hash::Pairs(pairs) if pairs.is_empty() => return None,
            Hash::Pairs(pairs) => &pairs[rng.below(pairs.len())],
            Hash::Table(table) if table.pairs.is_empty() => return None,
            Hash::Table(table) => {
                let buckets = table.pairs.num_buckets();
                (0..buckets * 4)
                    .find_map(|_| table.pairs.get_bucket(rng.below(buckets)))
                    .or_else(|| table.pairs.iter().next())?
            }
        };
        Some((field, value))
    }

    /// HSCAN from `cursor`: a pair list visits everything and returns 0, as Redis does for
    /// a listpack; a table visits buckets until `count` pairs were seen or ten buckets per
    /// wanted pair were examined (Redis's bound), and returns the cursor to go on from
    /// (0 when done).
    pub fn scan<'h>(
        &'h self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'h [u8], &'h [u8]),
    ) -> u64 {
        let table = match self {
            Hash::Pairs(pairs) => {
                pairs.iter().for_each(|(f, v)| visit(f, v));
                return 0;
            }
            Hash::Table(table) => table,
        };
        let generation = (cursor >> CURSOR_BUCKET_BITS) as u16;
        let mut bucket = match generation == table.generation {
            true => (cursor & ((1 << CURSOR_BUCKET_BITS) - 1)) as usize,
            false => 0,
        };
        let buckets = table.pairs.num_buckets();
        let (mut seen, mut budget) = (0, count.saturating_mul(10));
        while bucket < buckets && seen < count && budget > 0 {
            if let Some((f, v)) = table.pairs.get_bucket(bucket) {
                visit(f, v);
                seen += 1;
            }
            bucket += 1;
            budget -= 1;
        }
        if bucket >= buckets {
            return 0;
        }
        // Never 0 while unfinished: generation 0 at bucket 0 would read as "done".
        ((table.generation as u64) << CURSOR_BUCKET_BITS | bucket as u64).max(1)
    }

    fn convert(&mut self) {
        if let Hash::Pairs(pairs) = self {
            let mut table = Table::with_capacity(pairs.len() + 1);
            for (field, value) in pairs.drain(..) {
                table.insert(&field, value);
            }
            *self = Hash::Table(table);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HashLimits = HashLimits {
        entries: 3,
        value_bytes: 4,
    };

    fn hash(pairs: &[(&str, &str)]) -> Hash {
        let mut hash = Hash::default();
        for (f, v) in pairs {
            hash.insert(f.as_bytes(), v.as_bytes().to_vec(), LIMITS);
        }
        hash
    }

    #[test]
    fn small_hashes_stay_pairs_in_insertion_order() {
        let mut h = hash(&[("b", "1"), ("a", "2"), ("c", "3")]);
        assert_eq!(h.encoding(), "listpack");
        let fields: Vec<&[u8]> = h.iter().map(|(f, _)| f).collect();
        assert_eq!(fields, [&b"b"[..], b"a", b"c"]);
        assert!(!h.insert(b"a", b"9".to_vec(), LIMITS));
        assert_eq!(h.get(b"a"), Some(&b"9"[..]));
        assert_eq!(h.encoding(), "listpack");
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        assert!(h.remove(b"c"));
        let mut rng = Rng(7);
        assert_eq!(h.random_pair(&mut rng), Some((&b"a"[..], &b"9"[..])));
    }

    #[test]
    fn too_many_entries_convert_to_a_table_for_good() {
        let mut h = hash(&[("a", "1"), ("b", "2"), ("c", "3")]);
        assert!(h.insert(b"d", b"4".to_vec(), LIMITS));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h, hash(&[("d", "4"), ("c", "3"), ("b", "2"), ("a", "1")]));
        h.remove(b"a");
        h.remove(b"b");
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.len(), 2);
    }

    fn table(n: usize) -> Hash {
        let mut h = Hash::default();
        for i in 0..n {
            h.insert(format!("f{i}").as_bytes(), b"v".to_vec(), LIMITS);
        }
        h
    }

    /// Scans with COUNT 3, calling `between` after every step; returns what was seen.
    fn scan_all(h: &mut Hash, mut between: impl FnMut(&mut Hash)) -> Vec<Vec<u8>> {
        let (mut seen, mut cursor) = (Vec::new(), 0);
        loop {
            cursor = h.scan(cursor, 3, |f, _| seen.push(f.to_vec()));
            if cursor == 0 {
                return seen;
            }
            between(h);
        }
    }

    #[test]
    fn table_scan_survives_deletes_and_restarts_after_growth() {
        let mut h = table(50);
        let mut seen = scan_all(&mut h, |_| {});
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 50);
        // Deleting visited or unvisited fields never hides one present throughout.
        let mut h = table(50);
        let mut deleted = 0;
        let seen = scan_all(&mut h, |h| {
            h.remove(format!("f{deleted}").as_bytes());
            deleted += 1;
        });
        for i in deleted..50 {
            assert!(seen.contains(&format!("f{i}").into_bytes()), "f{i} missed");
        }
        // Growth rehashes: the old cursor restarts, nothing present throughout is lost.
        let mut h = table(50);
        let mut added = 0;
        let seen = scan_all(&mut h, |h| {
            h.insert(format!("new{added}").as_bytes(), b"v".to_vec(), LIMITS);
            added += 1;
        });
        for i in 0..50 {
            assert!(seen.contains(&format!("f{i}").into_bytes()), "f{i} missed");
        }
    }

    #[test]
    fn random_pairs_come_from_the_hash_and_cover_it() {
        let h = table(20);
        let mut rng = Rng(12345);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let (field, _) = h.random_pair(&mut rng).unwrap();
            assert!(h.get(field).is_some());
            seen.insert(field.to_vec());
        }
        assert_eq!(seen.len(), 20);
        assert_eq!(Hash::default().random_pair(&mut rng), None);
    }

    #[test]
    fn a_long_field_or_value_converts_even_when_replacing() {
        let mut h = hash(&[("a", "1")]);
        assert!(!h.insert(b"a", b"12345".to_vec(), LIMITS));
        assert_eq!(h.encoding(), "hashtable");
        assert_eq!(h.get(b"a"), Some(&b"12345"[..]));
        let mut h = hash(&[("a", "1")]);
        assert!(h.insert(b"long-field", b"1".to_vec(), LIMITS));
        assert_eq!(h.encoding(), "hashtable");
        let exact = hash(&[("abcd", "1234")]);
        assert_eq!(exact.encoding(), "listpack");
    }
}

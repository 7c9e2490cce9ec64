//! The hash value: field → value, kept as a compact pair list while small and as a hash
//! table past Redis's thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`).
//!
//! ```text
//! Pairs  Vec<(field, value)>, insertion order   OBJECT ENCODING "listpack"
//!   -- more entries than the limit, or a field/value longer than the limit -->
//! Table  ahash map                               OBJECT ENCODING "hashtable"
//! ```
//!
//! As in Redis, a hash never converts back: deleting fields from a table leaves a table.
//! Small hashes are scanned linearly, which at ≤ 128 short entries is faster than hashing
//! and costs no per-entry allocation beyond the two byte strings.

use crate::config::{ConfigStore, Settings};
use ahash::RandomState;
use hashbrown::HashMap;
use std::sync::Mutex;

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
    Pairs(Vec<(Vec<u8>, Vec<u8>)>),
    Table(HashMap<Vec<u8>, Vec<u8>, RandomState>),
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
            Hash::Table(table) => table.len(),
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
            Hash::Table(table) => table.get(field).map(Vec::as_slice),
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
            Hash::Table(table) => table.insert(field.to_vec(), value).is_none(),
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
            Hash::Table(table) => table.remove(field).is_some(),
        }
    }

    /// Every (field, value), in the encoding's order (insertion order for pair lists).
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Pairs(pairs) => Box::new(pairs.iter().map(|(f, v)| (&f[..], &v[..]))),
            Hash::Table(table) => Box::new(table.iter().map(|(f, v)| (&f[..], &v[..]))),
        }
    }

    /// The `index`th pair in iteration order (HRANDFIELD's pick). O(1) for pair lists; a
    /// walk for tables, whose buckets are not addressable through hashbrown's safe API.
    pub fn nth(&self, index: usize) -> Option<(&[u8], &[u8])> {
        match self {
            Hash::Pairs(pairs) => pairs.get(index).map(|(f, v)| (&f[..], &v[..])),
            Hash::Table(_) => self.iter().nth(index),
        }
    }

    fn convert(&mut self) {
        if let Hash::Pairs(pairs) = self {
            let mut table = HashMap::with_capacity_and_hasher(pairs.len() + 1, RandomState::new());
            table.extend(pairs.drain(..));
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
        assert_eq!(h.nth(0), Some((&b"a"[..], &b"9"[..])));
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

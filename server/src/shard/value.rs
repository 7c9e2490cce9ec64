//! Values stored in the keyspace and the entry that wraps each one.
//!
//! Strings and hashes exist today; the data-type issue adds lists, sets, sorted sets and
//! streams as further variants, each with its compact encoding.

use super::hash::Hash;
use super::key::Key;
use super::list::List;
use super::set::Set;
use super::stream::Stream;
use super::zset::Zset;

/// A stored value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Str(Vec<u8>),
    Hash(Hash),
    List(List),
    Set(Set),
    Zset(Zset),
    Stream(Box<Stream>),
}

impl Value {
    /// The name TYPE reports.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Zset(_) => "zset",
            Value::Stream(_) => "stream",
        }
    }

    /// The name OBJECT ENCODING reports, computed the way Redis chooses it for strings:
    /// integers that fit in a long are `int`, strings up to 44 bytes `embstr`, longer `raw`;
    /// other types name their current encoding.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) if s.len() <= 20 && parse_i64_strict(s).is_some() => "int",
            Value::Str(s) if s.len() <= 44 => "embstr",
            Value::Str(_) => "raw",
            Value::Hash(hash) => hash.encoding(),
            Value::List(list) => list.encoding(),
            Value::Set(set) => set.encoding(),
            Value::Zset(zset) => zset.encoding(),
            Value::Stream(_) => "stream",
        }
    }
}

/// One key's slot in a database table: the key, its value, its absolute expiry and its
/// access history (OBJECT IDLETIME / FREQ and eviction).
#[derive(Debug)]
pub struct Entry {
    pub key: Key,
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 means no expiry.
    pub expire_at_ms: u64,
    /// 24 bits of access history, as Redis's object header keeps them: the LRU clock of
    /// the last access, or the LFU minutes and counter (see shard/evict.rs).
    pub lru: u32,
    /// The string was edited in place (APPEND to an existing key, SETRANGE): Redis keeps
    /// such a string as `raw` whatever its length, and OBJECT ENCODING says so. Any
    /// replacement of the value clears it.
    pub edited_in_place: bool,
}

impl Entry {
    pub fn new(key: Key, value: Value, expire_at_ms: u64, lru: u32) -> Self {
        Entry {
            key,
            value,
            expire_at_ms,
            lru,
            edited_in_place: false,
        }
    }

    /// The name OBJECT ENCODING reports for this entry's value.
    pub fn encoding(&self) -> &'static str {
        match &self.value {
            Value::Str(_) if self.edited_in_place => "raw",
            value => value.encoding(),
        }
    }
}

/// Redis's string2ll: the canonical decimal form of an i64 (no '+', no leading zeros, no
/// spaces), so that "007" stays a string and is not an integer.
pub fn parse_i64_strict(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s.len() == 1 && s[0] == b'0' {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        let d = (d - b'0') as i64;
        v = if neg {
            v.checked_mul(10)?.checked_sub(d)?
        } else {
            v.checked_mul(10)?.checked_add(d)?
        };
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers_like_string2ll() {
        assert_eq!(parse_i64_strict(b"0"), Some(0));
        assert_eq!(parse_i64_strict(b"-12"), Some(-12));
        assert_eq!(parse_i64_strict(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64_strict(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64_strict(b"9223372036854775808"), None);
        for bad in [&b"007"[..], b"+1", b" 1", b"1 ", b"-0", b"", b"-", b"1.0"] {
            assert_eq!(
                parse_i64_strict(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn string_encodings() {
        assert_eq!(Value::Str(b"123".to_vec()).encoding(), "int");
        assert_eq!(Value::Str(b"0123".to_vec()).encoding(), "embstr");
        assert_eq!(Value::Str(vec![b'a'; 45]).encoding(), "raw");
    }
}

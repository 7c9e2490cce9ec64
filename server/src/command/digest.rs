//! DEBUG DIGEST, DEBUG DIGEST-VALUE and DEBUG DIGEST-TTL: a SHA1 fingerprint of the whole
//! keyspace (or of single values), computed exactly as Redis 7.0's debug.c does, so a
//! test can compare two servers, or one server before and after a restart, in one reply.
//!
//! Redis's recipe (computeDatasetDigest / xorObjectDigest), with two primitives on a
//! 20-byte digest `d`:
//!
//! ```text
//! xor(d, bytes):  d ^= SHA1(bytes)                  order-independent
//! mix(d, bytes):  d = SHA1(d ^ SHA1(bytes))          order-dependent
//!
//! value digest v = 0; mix(v, htonl(type)); mix(v, string bytes);
//!                 if the key has a TTL: xor(v, "!!expire!!")
//! key digest   k = 0; mix(k, key); then the value digest steps on k
//! dataset      D = 0; for each database j with keys, ascending:
//!                 mix(D, htonl(j)); for each key: xor(D, k)
//! ```
//!
//! Because keys are folded in with `xor`, the order of keys does not matter, which lets
//! every core fold its own keys per database and the connection's core combine them.
//!
//! DIGEST-TTL is ours: the same recipe, but a key with a TTL mixes its absolute expiry
//! (8-byte big-endian Unix ms) where Redis only marks that a TTL exists, so a restart that
//! restores a different expiry shows up as a different digest.
//!
//! Per type, Redis's recipe (`mix_value`): a hash field gets an element digest `e = 0;
//! mix(e, field); mix(e, value)` folded in with `xor(v, e)` (so field order does not
//! matter); list elements are `mix`ed in order; set members `xor`ed; sorted set members
//! like hash fields with the score as `%.17g` prints it (Redis 7.0; 7.2 uses fpconv);
//! stream entries `mix`ed in order, ID then fields and values (`mix_stream`).

use super::session::Session;
use super::string::by_core;
use super::Status;
use crate::core::multi::MultiCore;
use crate::shard::db::Cursor;
use crate::shard::value::{Entry, Value};
use crate::shard::Shard;
use sha1_smol::Sha1;

/// Redis's type codes (server.h OBJ_STRING, OBJ_LIST, ...), mixed into every value digest.
const OBJ_STRING: u32 = 0;
const OBJ_LIST: u32 = 1;
const OBJ_HASH: u32 = 4;
const OBJ_SET: u32 = 2;
const OBJ_ZSET: u32 = 3;
const OBJ_STREAM: u32 = 6;

/// A 20-byte SHA1-sized digest, all zeros to start with (Redis's `memset(digest,0,20)`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Digest(pub [u8; 20]);

impl Digest {
    /// Redis's xorDigest: XOR the SHA1 of `bytes` into the digest.
    pub fn xor(&mut self, bytes: &[u8]) {
        let hash = Sha1::from(bytes).digest().bytes();
        self.0.iter_mut().zip(hash).for_each(|(d, h)| *d ^= h);
    }

    /// Redis's mixDigest: XOR in the SHA1 of `bytes`, then replace the digest by its own
    /// SHA1, so what was mixed before changes what every later step produces.
    pub fn mix(&mut self, bytes: &[u8]) {
        self.xor(bytes);
        self.0 = Sha1::from(self.0).digest().bytes();
    }

    /// XOR another digest in as it is (combining what different cores folded).
    pub fn merge(&mut self, other: &Digest) {
        self.0.iter_mut().zip(other.0).for_each(|(d, o)| *d ^= o);
    }

    /// 40 lower-case hex characters, as Redis prints digests.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a key's TTL contributes to its digest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ttl {
    /// Redis's DEBUG DIGEST: only that a TTL exists.
    Marker,
    /// DEBUG DIGEST-TTL: the absolute expiry time itself.
    Absolute,
}

/// Redis's xorObjectDigest: folds the value's type, content and TTL into `digest`.
pub fn mix_value(digest: &mut Digest, value: &Value, expire_at_ms: u64, ttl: Ttl) {
    match value {
        Value::Str(bytes) => {
            digest.mix(&OBJ_STRING.to_be_bytes());
            digest.mix(bytes);
        }
        Value::Hash(hash) => {
            digest.mix(&OBJ_HASH.to_be_bytes());
            for (field, value) in hash.iter() {
                let mut element = Digest::default();
                element.mix(field);
                element.mix(value);
                digest.xor(&element.0);
            }
        }
        Value::List(list) => {
            digest.mix(&OBJ_LIST.to_be_bytes());
            list.iter().for_each(|element| digest.mix(element));
        }
        Value::Set(set) => {
            // Each member's bytes XORed in (integers as their decimal text): any order.
            digest.mix(&OBJ_SET.to_be_bytes());
            for member in set.iter() {
                member.with_bytes(|bytes| digest.xor(bytes));
            }
        }
        Value::Zset(zset) => mix_zset(digest, zset),
        Value::Stream(stream) => mix_stream(digest, stream),
    }
    if expire_at_ms != 0 {
        match ttl {
            Ttl::Marker => digest.xor(b"!!expire!!"),
            Ttl::Absolute => digest.mix(&expire_at_ms.to_be_bytes()),
        }
    }
}

/// A sorted set: each member's element digest `mix(member); mix(score as %.17g)` (Redis
/// 7.0 prints the score with snprintf in both encodings; 7.2 moved to fpconv), XORed in.
fn mix_zset(digest: &mut Digest, zset: &crate::shard::zset::Zset) {
    digest.mix(&OBJ_ZSET.to_be_bytes());
    for (member, score) in zset.iter() {
        let mut element = Digest::default();
        element.mix(member);
        element.mix(crate::resp::reply::format_double(score).as_bytes());
        digest.xor(&element.0);
    }
}

/// A stream, as Redis 7.0's debug.c walks it: each live entry's ID as "ms.seq" (its
/// `%U.%U`), then every field and value, all `mix`ed in order. Groups are not part of it.
fn mix_stream(digest: &mut Digest, stream: &crate::shard::stream::Stream) {
    use crate::shard::stream::StreamId;
    digest.mix(&OBJ_STREAM.to_be_bytes());
    stream.walk(StreamId::MIN, StreamId::MAX, false, |entry| {
        digest.mix(format!("{}.{}", entry.id.ms, entry.id.seq).as_bytes());
        for (field, value) in entry.fields() {
            digest.mix(field);
            digest.mix(value);
        }
        true
    });
}

/// One key's digest within the dataset digest: its name, then its value.
fn key_digest(entry: &Entry, ttl: Ttl) -> Digest {
    let mut digest = Digest::default();
    digest.mix(&entry.key);
    mix_value(&mut digest, &entry.value, entry.expire_at_ms, ttl);
    digest
}

/// One database's keys on one core: how many are live, and their key digests folded
/// with `xor` (so cores can be combined in any order).
#[derive(Clone, Copy, Debug, Default)]
pub struct DbDigest {
    pub live_keys: usize,
    pub keys: Digest,
}

impl DbDigest {
    fn merge(&mut self, other: &DbDigest) {
        self.live_keys += other.live_keys;
        self.keys.merge(&other.keys);
    }
}

/// Folds every live key of every database of one shard. A key past its expiry that no
/// one has removed yet is logically absent (the same test as `Db::get_live`), so it does
/// not count: otherwise the digest would depend on when active expiry last ran.
pub fn shard_digests(shard: &Shard, now_ms: u64, ttl: Ttl) -> Vec<DbDigest> {
    shard
        .dbs
        .iter()
        .map(|db| {
            let mut folded = DbDigest::default();
            db.walk(Cursor::default(), usize::MAX, false, |entry| {
                if entry.expire_at_ms == 0 || entry.expire_at_ms > now_ms {
                    folded.live_keys += 1;
                    folded.keys.xor(&key_digest(entry, ttl).0);
                }
                true
            });
            folded
        })
        .collect()
}

/// Redis's computeDatasetDigest from every core's per-database folds: each database with
/// live keys mixes in its number (so the same data in another database differs), then
/// XORs in its keys.
pub fn combine(per_core: &[Vec<DbDigest>]) -> Digest {
    let databases = per_core.iter().map(Vec::len).max().unwrap_or(0);
    let mut dataset = Digest::default();
    for db in 0..databases {
        let mut folded = DbDigest::default();
        for core in per_core {
            if let Some(part) = core.get(db) {
                folded.merge(part);
            }
        }
        if folded.live_keys > 0 {
            dataset.mix(&(db as u32).to_be_bytes());
            dataset.merge(&folded.keys);
        }
    }
    dataset
}

/// DEBUG DIGEST / DIGEST-TTL: every core held at once (one consistent cut of the whole
/// keyspace, like Redis computing it without yielding). Each shard judges expiry by its
/// own clock, which never goes back, so a key it already treated as expired stays out.
pub async fn dataset(s: &mut Session, ttl: Ttl) -> Result<(), Status> {
    let mut op = MultiCore::all(s);
    let mut per_core = Vec::with_capacity(s.core.cores);
    for core in 0..s.core.cores {
        let digests = op.run(core, move |shard| {
            // The digest reveals every key: its reply waits for every write it covers.
            shard.journal.read_all();
            let now_ms = shard.now_ms();
            shard_digests(shard, now_ms, ttl)
        });
        per_core.push(digests.await);
    }
    op.finish().await;
    s.reply().simple(&combine(&per_core).hex());
    Ok(())
}

/// DEBUG DIGEST-VALUE key [key ...]: each key's value digest (without its name), in the
/// selected database. Like Redis, it reads the entry as stored, even one whose TTL has
/// passed but that is still in memory ("a debug command should work on logically expired
/// keys"); a missing key digests to zeros.
pub async fn values(s: &mut Session, argv: Vec<Vec<u8>>) -> Result<(), Status> {
    let groups = by_core(&argv, 2, 1, s.core.cores);
    let mut op = MultiCore::new(s, groups.keys().copied());
    let mut digests = vec![Digest::default(); argv.len()];
    for (core, positions) in groups {
        let keys: Vec<Vec<u8>> = positions.iter().map(|&p| argv[p].clone()).collect();
        let db = s.db;
        let found = op
            .run(core, move |shard| {
                keys.iter()
                    .map(|key| {
                        shard.journal.read(db, key);
                        let mut digest = Digest::default();
                        if let Some(entry) = shard.dbs[db].raw_get(key) {
                            mix_value(&mut digest, &entry.value, entry.expire_at_ms, Ttl::Marker);
                        }
                        digest
                    })
                    .collect::<Vec<_>>()
            })
            .await;
        for (position, digest) in positions.into_iter().zip(found) {
            digests[position] = digest;
        }
    }
    op.finish().await;
    let mut r = s.reply();
    r.array(argv.len() - 2);
    for digest in &digests[2..] {
        r.simple(&digest.hex());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str, expire_at_ms: u64) -> Entry {
        Entry::new(
            key.as_bytes().into(),
            Value::Str(value.as_bytes().to_vec()),
            expire_at_ms,
            0,
        )
    }

    fn value_hex(value: &str, expire_at_ms: u64, ttl: Ttl) -> String {
        let mut digest = Digest::default();
        mix_value(
            &mut digest,
            &Value::Str(value.as_bytes().to_vec()),
            expire_at_ms,
            ttl,
        );
        digest.hex()
    }

    /// One database's worth of keys, as a single core's fold.
    fn fold(entries: &[Entry], ttl: Ttl) -> DbDigest {
        let mut folded = DbDigest::default();
        for entry in entries {
            folded.live_keys += 1;
            folded.keys.xor(&key_digest(entry, ttl).0);
        }
        folded
    }

    // The expected digests below are what redis-server 7.0.15 replied for the same data
    // (SET a 1; SET 007 x; SET n 12345; PEXPIRE n 100000000; then SET a 1 in database 1).

    #[test]
    fn value_digests_match_redis() {
        assert_eq!(
            value_hex("1", 0, Ttl::Marker),
            "b4fc66738120fba0b5aa500ab5c2bf89cea1c5da"
        );
        assert_eq!(
            value_hex("x", 0, Ttl::Marker),
            "e1c099d36d86ec50b7f83540e7e59065055be33d"
        );
        assert_eq!(
            value_hex("12345", 1, Ttl::Marker),
            "074a6e8892a0b0b4fcf085794cb69322c36c9d00"
        );
    }

    #[test]
    fn hash_digests_match_redis_in_either_encoding_and_order() {
        use crate::shard::hash::{Hash, HashLimits};
        let expected = "6c8f22b3bf510fdcfd6122dd0f908a80e88243bf"; // HSET h a 1 b 2
        for (limits, pairs) in [(1, [("a", "1"), ("b", "2")]), (8, [("b", "2"), ("a", "1")])] {
            let limits = HashLimits {
                entries: limits,
                value_bytes: 64,
            };
            let mut hash = Hash::default();
            for (field, value) in pairs {
                hash.insert(field.as_bytes(), value.as_bytes().to_vec(), limits);
            }
            let mut digest = Digest::default();
            mix_value(&mut digest, &Value::Hash(hash), 0, Ttl::Marker);
            assert_eq!(digest.hex(), expected);
        }
    }

    #[test]
    fn set_digests_match_redis_in_either_encoding() {
        use crate::shard::set::{Set, SetLimits};
        // What redis-server 7.0.15 answered to DEBUG DIGEST-VALUE after SADD s 1 2 3,
        // SADD t b a, SADD u 1 x: an intset, and tables with and without an integer.
        let cases = [
            (
                &["3", "1", "2"][..],
                "2a462a3f51a1db89738ebbeef0c47ce1bbc85246",
            ),
            (&["a", "b"][..], "dd99329063ca0f1f28df2ac68d94b82fd95501c6"),
            (&["x", "1"][..], "96257d5cc29f1c46ff96a88360b5c99de66ae13f"),
        ];
        for (members, expected) in cases {
            for limit in [0, 512] {
                let mut set = Set::default();
                for member in members {
                    set.insert(
                        member.as_bytes(),
                        SetLimits {
                            intset_entries: limit,
                        },
                    );
                }
                let mut digest = Digest::default();
                mix_value(&mut digest, &Value::Set(set), 0, Ttl::Marker);
                assert_eq!(digest.hex(), expected, "{members:?} with limit {limit}");
            }
        }
    }

    #[test]
    fn zset_digests_match_redis_in_either_encoding() {
        use crate::shard::zset::{Zset, ZsetLimits};
        // ZADD z 1.5 a 2 b 1.1 c, as a listpack and as a skiplist.
        let expected = "4d0054c22dd3d2ff41415964b2ec269b3c90c5e2";
        for entries in [0, 128] {
            let limits = ZsetLimits {
                entries,
                value_bytes: 64,
            };
            let zset = Zset::build([(&b"a"[..], 1.5), (b"b", 2.0), (b"c", 1.1)], limits);
            let mut digest = Digest::default();
            mix_value(&mut digest, &Value::Zset(zset), 0, Ttl::Marker);
            assert_eq!(digest.hex(), expected);
        }
    }

    #[test]
    fn dataset_digest_matches_redis_however_keys_are_split_over_cores() {
        assert_eq!(combine(&[]).hex(), "0".repeat(40));
        let one = [entry("a", "1", 0)];
        assert_eq!(
            combine(&[vec![fold(&one, Ttl::Marker)]]).hex(),
            "943d800368fb9c0e951138f1bc0e313ac769d91f"
        );
        let three = [
            entry("a", "1", 0),
            entry("007", "x", 0),
            entry("n", "12345", 9),
        ];
        let expected = "49b87550d39cc9b7cbdbee179ba45474a62f21ab";
        let whole = vec![fold(&three, Ttl::Marker)];
        assert_eq!(combine(&[whole]).hex(), expected);
        let split = [
            vec![fold(&three[1..], Ttl::Marker)],
            vec![fold(&three[..1], Ttl::Marker)],
        ];
        assert_eq!(combine(&split).hex(), expected);
        let db1 = fold(&one, Ttl::Marker);
        let two_dbs = [
            vec![fold(&three[..2], Ttl::Marker), db1],
            vec![fold(&three[2..], Ttl::Marker)],
        ];
        assert_eq!(
            combine(&two_dbs).hex(),
            "aef5103e2514e47f9471cf10cf05a40150e0ec05"
        );
    }

    #[test]
    fn the_database_number_counts_and_empty_databases_do_not() {
        let keys = [entry("a", "1", 0)];
        let in_db0 = combine(&[vec![fold(&keys, Ttl::Marker), DbDigest::default()]]);
        let in_db1 = combine(&[vec![DbDigest::default(), fold(&keys, Ttl::Marker)]]);
        assert_ne!(in_db0, in_db1);
        assert_eq!(in_db0, combine(&[vec![fold(&keys, Ttl::Marker)]]));
    }

    #[test]
    fn digest_ttl_tells_expiry_times_apart_where_redis_only_marks_a_ttl() {
        assert_eq!(
            value_hex("v", 1_000, Ttl::Marker),
            value_hex("v", 2_000, Ttl::Marker)
        );
        assert_ne!(
            value_hex("v", 1_000, Ttl::Absolute),
            value_hex("v", 2_000, Ttl::Absolute)
        );
        assert_ne!(
            value_hex("v", 0, Ttl::Absolute),
            value_hex("v", 1_000, Ttl::Absolute)
        );
    }

    #[test]
    fn keys_past_their_expiry_are_left_out() {
        let mut shard = Shard::new(1);
        shard.dbs[0].insert(b"stays", Value::Str(b"1".to_vec()), 0, 0);
        shard.dbs[0].insert(b"lasts", Value::Str(b"2".to_vec()), 5_000, 0);
        let with_both = combine(&[shard_digests(&shard, 1_000, Ttl::Marker)]);
        shard.dbs[0].insert(b"gone", Value::Str(b"3".to_vec()), 1_000, 0);
        assert_eq!(
            combine(&[shard_digests(&shard, 1_000, Ttl::Marker)]),
            with_both
        );
        assert_ne!(
            combine(&[shard_digests(&shard, 999, Ttl::Marker)]),
            with_both
        );
    }
}

//! Effect records: the deterministic description of what a write did to the keyspace, as
//! the log stores it and replay applies it (DESIGN.md, "Writes, LSNs and the reply ring").
//!
//! A record's payload is a sequence of *ops*. Every op with a key touches only the core
//! owning that key (its hash slot), so replay can send each op to its core whatever the
//! core count of the replaying node; an op without a key applies on every core.
//!
//! ```text
//! op      := tag u8, db u8, body                       (integers little-endian)
//! CMD  0  := now_ms u64, argc u32, argc × (len u32, bytes)
//!            a single-shard command, replayed by its own handler with the clock set to
//!            now_ms: every such handler is a function of (keyspace, arguments, clock)
//! DEL  1  := len u32, key
//! PUT  2  := len u32, key, expire_at_ms u64, type u8, len u32, value
//!            install a whole value, replacing the key; by type:
//!              0 string: the bytes
//!              1 hash:   count u32, count × (field len u32, field, value len u32, value)
//!                        (the value's len is the whole block's; encoding as Redis would
//!                        choose it from the replaying server's limits)
//!              2 list:   count u32, count × (len u32, element), head to tail (the
//!                        value's len is the whole block's; nodes as the replaying
//!                        server's list-max-listpack-size makes them)
//!              3 set:    count u32, count × (member len u32, member)
//!                        (the value's len is the whole block's; integers as decimal text;
//!                        rebuilt as an intset or table by the replaying server's limit)
//!              4 sorted set: count u32, count × (member len u32, member, score f64),
//!                        in ascending order (encoding chosen from the replaying
//!                        server's limits, as for a hash)
//!              5 stream: Stream::write_put's form (shard/stream.rs): the live
//!                        entries, IDs and counters, groups with PEL and consumers
//!                        (blocks packed by the replaying server's limits)
//! FLUSHDB 3 :=                                         (every core)
//! SWAPDB  4 := other_db u8                             (every core)
//! FUNCTIONS 5 := count u32, count × (len u32, code)    (every core; db unused)
//!            the whole function library set after FUNCTION LOAD/DELETE/FLUSH
//! ```
//!
//! Single-shard commands log themselves (CMD): their arguments are already the smallest
//! deterministic description, and the clock they read is recorded with them, so a
//! relative expiry (`EXPIRE k 10`, `SET k v EX 10`) replays to the same absolute time.
//! Multi-core operations, active expiry and moves between cores log physical ops
//! (PUT/DEL/...), recorded by the shard methods that make the change (`Ctx::set`,
//! `Ctx::delete`, ...) while a recording is open.

use super::hash::{Hash, HashLimits};
use super::list::{End, Fill, List};
use super::set::{Set, SetLimits};
use super::value::Value;
use super::zset::{Zset, ZsetLimits};

pub const CMD: u8 = 0;
pub const DEL: u8 = 1;
pub const PUT: u8 = 2;
pub const FLUSHDB: u8 = 3;
pub const SWAPDB: u8 = 4;
pub const FUNCTIONS: u8 = 5;

/// The `type` byte of PUT.
const TYPE_STRING: u8 = 0;
const TYPE_HASH: u8 = 1;
const TYPE_LIST: u8 = 2;
const TYPE_SET: u8 = 3;
const TYPE_ZSET: u8 = 4;
const TYPE_STREAM: u8 = 5;

/// Appends a CMD op.
pub fn cmd<'a>(out: &mut Vec<u8>, db: usize, now_ms: u64, args: impl Iterator<Item = &'a [u8]>) {
    out.push(CMD);
    out.push(db as u8);
    out.extend_from_slice(&now_ms.to_le_bytes());
    let argc_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    let mut argc = 0u32;
    for arg in args {
        put_bytes(out, arg);
        argc += 1;
    }
    out[argc_at..argc_at + 4].copy_from_slice(&argc.to_le_bytes());
}

pub fn del(out: &mut Vec<u8>, db: usize, key: &[u8]) {
    out.push(DEL);
    out.push(db as u8);
    put_bytes(out, key);
}

pub fn put(out: &mut Vec<u8>, db: usize, key: &[u8], value: &Value, expire_at_ms: u64) {
    out.push(PUT);
    out.push(db as u8);
    put_bytes(out, key);
    out.extend_from_slice(&expire_at_ms.to_le_bytes());
    match value {
        Value::Str(bytes) => {
            out.push(TYPE_STRING);
            put_bytes(out, bytes);
        }
        Value::Hash(hash) => {
            out.push(TYPE_HASH);
            let len_at = out.len();
            out.extend_from_slice(&0u32.to_le_bytes());
            out.extend_from_slice(&(hash.len() as u32).to_le_bytes());
            for (field, value) in hash.iter() {
                put_bytes(out, field);
                put_bytes(out, value);
            }
            let len = (out.len() - len_at - 4) as u32;
            out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
        }
        Value::List(list) => put_list(out, list),
        Value::Set(set) => put_set(out, set),
        Value::Zset(zset) => put_zset(out, zset),
        Value::Stream(stream) => put_stream(out, stream),
    }
}

/// A PUT's stream block (its form is `Stream::write_put`'s).
fn put_stream(out: &mut Vec<u8>, stream: &super::stream::Stream) {
    out.push(TYPE_STREAM);
    let len_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    stream.write_put(out);
    let len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
}

/// A PUT's stream block, packed by the configured block limits.
fn decode_stream(block: &[u8], at: usize) -> Result<Value, Malformed> {
    use super::stream::{Stream, StreamLimits};
    let limits = StreamLimits::configured(&crate::server::CONFIG);
    match Stream::read_put(block, limits) {
        Some(stream) => Ok(Value::Stream(Box::new(stream))),
        None => Err(Malformed {
            offset: at,
            what: "malformed stream",
        }),
    }
}

/// A PUT's list block: the element count, then every element head to tail.
fn put_list(out: &mut Vec<u8>, list: &List) {
    out.push(TYPE_LIST);
    let len_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(list.len() as u32).to_le_bytes());
    for element in list.iter() {
        put_bytes(out, element);
    }
    let len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
}

/// A PUT's set block (after the type byte).
fn put_set(out: &mut Vec<u8>, set: &Set) {
    out.push(TYPE_SET);
    let len_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(set.len() as u32).to_le_bytes());
    for member in set.iter() {
        member.with_bytes(|bytes| put_bytes(out, bytes));
    }
    let len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
}

/// A PUT's sorted set block (see the format above).
fn put_zset(out: &mut Vec<u8>, zset: &Zset) {
    out.push(TYPE_ZSET);
    let len_at = out.len();
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(zset.len() as u32).to_le_bytes());
    for (member, score) in zset.iter() {
        put_bytes(out, member);
        out.extend_from_slice(&score.to_le_bytes());
    }
    let len = (out.len() - len_at - 4) as u32;
    out[len_at..len_at + 4].copy_from_slice(&len.to_le_bytes());
}

pub fn flushdb(out: &mut Vec<u8>, db: usize) {
    out.push(FLUSHDB);
    out.push(db as u8);
}

pub fn swapdb(out: &mut Vec<u8>, a: usize, b: usize) {
    out.push(SWAPDB);
    out.push(a as u8);
    out.push(b as u8);
}

/// The function libraries (their source codes) as they are after a change.
pub fn functions<'a>(out: &mut Vec<u8>, libraries: impl ExactSizeIterator<Item = &'a [u8]>) {
    out.push(FUNCTIONS);
    out.push(0);
    out.extend_from_slice(&(libraries.len() as u32).to_le_bytes());
    for code in libraries {
        put_bytes(out, code);
    }
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// One decoded op, borrowing from the payload.
#[derive(Debug, PartialEq)]
pub enum Op<'a> {
    Cmd {
        db: usize,
        now_ms: u64,
        /// (start, end) of each argument in the payload.
        args: Vec<(u32, u32)>,
    },
    Del {
        db: usize,
        key: &'a [u8],
    },
    Put {
        db: usize,
        key: &'a [u8],
        expire_at_ms: u64,
        value: Value,
    },
    FlushDb {
        db: usize,
    },
    SwapDb {
        a: usize,
        b: usize,
    },
    Functions {
        libraries: Vec<&'a [u8]>,
    },
}

/// A payload that does not decode: the log verified its checksum, so this is a bug or a
/// record from an engine version this build does not know.
#[derive(Debug, PartialEq, Eq)]
pub struct Malformed {
    pub offset: usize,
    pub what: &'static str,
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "malformed effect at payload offset {}: {}",
            self.offset, self.what
        )
    }
}

/// A PUT's hash block: its pairs, in the encoding the configured limits choose.
fn decode_hash(block: &[u8], at: usize) -> Result<Hash, Malformed> {
    let mut pairs = Ops {
        payload: block,
        at: 0,
    };
    let malformed = |_| Malformed {
        offset: at,
        what: "malformed hash",
    };
    let count = pairs.u32("hash size").map_err(malformed)?;
    let limits = HashLimits::configured(&crate::server::CONFIG);
    let mut hash = Hash::default();
    for _ in 0..count {
        let field = pairs.bytes("hash field").map_err(malformed)?;
        let value = pairs.bytes("hash value").map_err(malformed)?;
        hash.insert(field, value.to_vec(), limits);
    }
    if pairs.at != block.len() || hash.len() != count as usize {
        return Err(Malformed {
            offset: at,
            what: "malformed hash",
        });
    }
    Ok(hash)
}

/// A PUT's list block: its elements in order, in nodes of the configured size.
fn decode_list(block: &[u8], at: usize) -> Result<List, Malformed> {
    let mut elements = Ops {
        payload: block,
        at: 0,
    };
    let malformed = |_| Malformed {
        offset: at,
        what: "malformed list",
    };
    let count = elements.u32("list size").map_err(malformed)?;
    let fill = Fill::configured(&crate::server::CONFIG);
    let mut list = List::default();
    for _ in 0..count {
        let element = elements.bytes("list element").map_err(malformed)?;
        list.push(End::Right, element, fill);
    }
    if elements.at != block.len() {
        return Err(Malformed {
            offset: at,
            what: "malformed list",
        });
    }
    Ok(list)
}

/// A PUT's set block: its members, in the encoding the configured limit chooses (built
/// as Redis's set algebra builds a result: an intset until a member or the size says not).
fn decode_set(block: &[u8], at: usize) -> Result<Set, Malformed> {
    let mut members = Ops {
        payload: block,
        at: 0,
    };
    let malformed = |_| Malformed {
        offset: at,
        what: "malformed set",
    };
    let count = members.u32("set size").map_err(malformed)?;
    let limits = SetLimits::configured(&crate::server::CONFIG);
    let mut set = Set::default();
    for _ in 0..count {
        set.insert(members.bytes("set member").map_err(malformed)?, limits);
    }
    if members.at != block.len() || set.len() != count as usize {
        return Err(Malformed {
            offset: at,
            what: "malformed set",
        });
    }
    Ok(set)
}

/// A PUT's sorted set block: its elements, in the encoding the configured limits choose.
fn decode_zset(block: &[u8], at: usize) -> Result<Zset, Malformed> {
    let mut elements = Ops {
        payload: block,
        at: 0,
    };
    let malformed = |_| Malformed {
        offset: at,
        what: "malformed sorted set",
    };
    let count = elements.u32("sorted set size").map_err(malformed)?;
    let limits = ZsetLimits::configured(&crate::server::CONFIG);
    let mut zset = Zset::default();
    for _ in 0..count {
        let member = elements.bytes("sorted set member").map_err(malformed)?;
        let score = f64::from_bits(elements.u64("sorted set score").map_err(malformed)?);
        if score.is_nan() {
            break;
        }
        zset.insert(member, score, limits);
    }
    if elements.at != block.len() || zset.len() != count as usize {
        return Err(Malformed {
            offset: at,
            what: "malformed sorted set",
        });
    }
    Ok(zset)
}

/// Iterates the ops of one payload.
pub struct Ops<'a> {
    payload: &'a [u8],
    at: usize,
}

pub fn ops(payload: &[u8]) -> Ops<'_> {
    Ops { payload, at: 0 }
}

impl<'a> Ops<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], Malformed> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.payload.len());
        let Some(end) = end else {
            return Err(Malformed {
                offset: self.at,
                what,
            });
        };
        let bytes = &self.payload[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, Malformed> {
        Ok(self.take(1, what)?[0])
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, Malformed> {
        Ok(u32::from_le_bytes(
            self.take(4, what)?.try_into().expect("4 bytes"),
        ))
    }

    fn u64(&mut self, what: &'static str) -> Result<u64, Malformed> {
        Ok(u64::from_le_bytes(
            self.take(8, what)?.try_into().expect("8 bytes"),
        ))
    }

    fn bytes(&mut self, what: &'static str) -> Result<&'a [u8], Malformed> {
        let len = self.u32(what)? as usize;
        self.take(len, what)
    }

    fn db(&mut self) -> Result<usize, Malformed> {
        let at = self.at;
        let db = self.u8("database")? as usize;
        if db >= crate::limits::DATABASES {
            return Err(Malformed {
                offset: at,
                what: "database index out of range",
            });
        }
        Ok(db)
    }

    fn op(&mut self) -> Result<Op<'a>, Malformed> {
        let at = self.at;
        let tag = self.u8("tag")?;
        let db = self.db()?;
        Ok(match tag {
            CMD => {
                let now_ms = self.u64("clock")?;
                let argc = self.u32("argument count")? as usize;
                if argc == 0 || argc > self.payload.len() {
                    return Err(Malformed {
                        offset: at,
                        what: "argument count",
                    });
                }
                let mut args = Vec::with_capacity(argc);
                for _ in 0..argc {
                    let arg = self.bytes("argument")?;
                    let end = self.at as u32;
                    args.push((end - arg.len() as u32, end));
                }
                Op::Cmd { db, now_ms, args }
            }
            DEL => Op::Del {
                db,
                key: self.bytes("key")?,
            },
            FUNCTIONS => {
                let count = self.u32("library count")? as usize;
                if count > self.payload.len() {
                    return Err(Malformed {
                        offset: at,
                        what: "library count",
                    });
                }
                let mut libraries = Vec::with_capacity(count);
                for _ in 0..count {
                    libraries.push(self.bytes("library code")?);
                }
                Op::Functions { libraries }
            }
            PUT => {
                let key = self.bytes("key")?;
                let expire_at_ms = self.u64("expiry")?;
                let value = match self.u8("type")? {
                    TYPE_STRING => Value::Str(self.bytes("value")?.to_vec()),
                    TYPE_HASH => Value::Hash(decode_hash(self.bytes("value")?, at)?),
                    TYPE_LIST => Value::List(decode_list(self.bytes("value")?, at)?),
                    TYPE_SET => Value::Set(decode_set(self.bytes("value")?, at)?),
                    TYPE_ZSET => Value::Zset(decode_zset(self.bytes("value")?, at)?),
                    TYPE_STREAM => decode_stream(self.bytes("value")?, at)?,
                    _ => {
                        return Err(Malformed {
                            offset: at,
                            what: "unknown value type",
                        })
                    }
                };
                Op::Put {
                    db,
                    key,
                    expire_at_ms,
                    value,
                }
            }
            FLUSHDB => Op::FlushDb { db },
            SWAPDB => Op::SwapDb {
                a: db,
                b: self.db()?,
            },
            _ => {
                return Err(Malformed {
                    offset: at,
                    what: "unknown op",
                })
            }
        })
    }
}

impl<'a> Ops<'a> {
    /// The next op together with its encoded bytes (replay forwards them to the op's core).
    pub fn next_with_raw(&mut self) -> Option<Result<(Op<'a>, &'a [u8]), Malformed>> {
        let start = self.at;
        let op = self.next()?;
        Some(op.map(|op| (op, &self.payload[start..self.at])))
    }
}

impl<'a> Iterator for Ops<'a> {
    type Item = Result<Op<'a>, Malformed>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.payload.len() {
            return None;
        }
        let op = self.op();
        if op.is_err() {
            // Stop after the first error: nothing after it can be trusted.
            self.at = self.payload.len();
        }
        Some(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_op_round_trips() {
        let mut out = Vec::new();
        cmd(
            &mut out,
            3,
            1_700_000_000_123,
            [&b"SET"[..], b"k", b"v"].into_iter(),
        );
        del(&mut out, 0, b"gone");
        put(&mut out, 15, b"key", &Value::Str(b"value".to_vec()), 42);
        flushdb(&mut out, 7);
        swapdb(&mut out, 1, 2);
        functions(&mut out, [&b"#!lua name=a"[..], b""].into_iter());
        let mut hash = Hash::default();
        let big = HashLimits {
            entries: 8,
            value_bytes: 64,
        };
        hash.insert(b"f", b"v".to_vec(), big);
        hash.insert(b"", b"empty field".to_vec(), big);
        put(&mut out, 2, b"h", &Value::Hash(hash.clone()), 0);
        let decoded: Vec<Op> = ops(&out).map(|op| op.unwrap()).collect();
        let Op::Cmd { db, now_ms, args } = &decoded[0] else {
            panic!("{:?}", decoded[0])
        };
        assert_eq!((*db, *now_ms), (3, 1_700_000_000_123));
        let words: Vec<&[u8]> = args
            .iter()
            .map(|&(s, e)| &out[s as usize..e as usize])
            .collect();
        assert_eq!(words, [&b"SET"[..], b"k", b"v"]);
        assert_eq!(
            decoded[1],
            Op::Del {
                db: 0,
                key: b"gone"
            }
        );
        assert_eq!(
            decoded[2],
            Op::Put {
                db: 15,
                key: b"key",
                expire_at_ms: 42,
                value: Value::Str(b"value".to_vec())
            }
        );
        assert_eq!(decoded[3], Op::FlushDb { db: 7 });
        assert_eq!(decoded[4], Op::SwapDb { a: 1, b: 2 });
        assert_eq!(
            decoded[5],
            Op::Functions {
                libraries: vec![&b"#!lua name=a"[..], b""]
            }
        );
        assert_eq!(
            decoded[6],
            Op::Put {
                db: 2,
                key: b"h",
                expire_at_ms: 0,
                value: Value::Hash(hash)
            }
        );
    }

    #[test]
    fn lists_round_trip_in_order() {
        let list: List = [&b"a"[..], b"", b"third", &[0xff; 300]]
            .into_iter()
            .collect();
        let mut out = Vec::new();
        put(&mut out, 4, b"l", &Value::List(list.clone()), 7);
        put(&mut out, 4, b"empty", &Value::List(List::default()), 0);
        let decoded: Vec<Op> = ops(&out).map(|op| op.unwrap()).collect();
        let expected = Op::Put {
            db: 4,
            key: b"l",
            expire_at_ms: 7,
            value: Value::List(list),
        };
        assert_eq!(decoded[0], expected);
        let Op::Put { value, .. } = &decoded[1] else {
            panic!("{:?}", decoded[1])
        };
        assert_eq!(value, &Value::List(List::default()));
        // A count larger than the block is malformed, not a panic.
        let mut bad = Vec::new();
        put(
            &mut bad,
            0,
            b"l",
            &Value::List([&b"x"[..]].into_iter().collect()),
            0,
        );
        let count_at = bad.len() - 4 - 1 - 4;
        bad[count_at] = 2;
        assert!(ops(&bad).next().unwrap().is_err());
    }

    #[test]
    fn truncated_and_unknown_input_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        put(&mut out, 1, b"key", &Value::Str(b"value".to_vec()), 0);
        for cut in 0..out.len() {
            let results: Vec<_> = ops(&out[..cut]).collect();
            if cut > 0 {
                assert!(results.last().unwrap().is_err(), "cut at {cut}");
            }
        }
        assert!(ops(&[9, 0]).next().unwrap().is_err());
        assert!(ops(&[DEL, 200, 0, 0, 0, 0]).next().unwrap().is_err());
        assert!(ops(&[CMD, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
            .next()
            .unwrap()
            .is_err());
    }

    #[test]
    fn sets_round_trip_in_either_encoding() {
        let limits = SetLimits {
            intset_entries: 512,
        };
        let mut ints = Set::default();
        for member in ["3", "-70000", "9223372036854775807"] {
            ints.insert(member.as_bytes(), limits);
        }
        let mut table = Set::for_first(b"x");
        for member in [&b"x"[..], b"", b"12", b"007"] {
            table.insert(member, limits);
        }
        let mut out = Vec::new();
        put(&mut out, 1, b"ints", &Value::Set(ints.clone()), 7);
        put(&mut out, 0, b"table", &Value::Set(table.clone()), 0);
        let decoded: Vec<Op> = ops(&out).map(|op| op.unwrap()).collect();
        let expected = [(1, &b"ints"[..], 7, ints), (0, b"table", 0, table)];
        for (op, (db, key, expire_at_ms, set)) in decoded.into_iter().zip(expected) {
            let encoding = set.encoding();
            let Op::Put {
                value: Value::Set(got),
                ..
            } = &op
            else {
                panic!("{op:?}")
            };
            assert_eq!(got.encoding(), encoding);
            assert_eq!(
                op,
                Op::Put {
                    db,
                    key,
                    expire_at_ms,
                    value: Value::Set(set)
                }
            );
        }
        // A count that disagrees with the members is malformed, not a smaller set.
        let mut bad = Vec::new();
        put(&mut bad, 0, b"s", &Value::Set(Set::for_first(b"a")), 0);
        // count u32, then the one member: len u32, "a".
        let count_at = bad.len() - 9;
        bad[count_at..count_at + 4].copy_from_slice(&2u32.to_le_bytes());
        assert!(ops(&bad).next().unwrap().is_err());
    }

    #[test]
    fn sorted_sets_round_trip_in_order_with_every_score() {
        let limits = ZsetLimits {
            entries: 2,
            value_bytes: 64,
        };
        let zset = Zset::build(
            [
                (&b"inf"[..], f64::INFINITY),
                (b"neg", f64::NEG_INFINITY),
                (b"", 5e-324),
                (b"frac", 1.1),
            ],
            limits,
        );
        let mut out = Vec::new();
        put(&mut out, 4, b"z", &Value::Zset(zset.clone()), 7);
        let decoded: Vec<Op> = ops(&out).map(|op| op.unwrap()).collect();
        let [Op::Put {
            value: Value::Zset(back),
            ..
        }] = &decoded[..]
        else {
            panic!("{decoded:?}")
        };
        assert_eq!(back, &zset);
        let scores: Vec<u64> = back.iter().map(|(_, s)| s.to_bits()).collect();
        let want: Vec<u64> = zset.iter().map(|(_, s)| s.to_bits()).collect();
        assert_eq!(scores, want);
        for cut in 1..out.len() {
            assert!(ops(&out[..cut]).last().unwrap().is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn streams_round_trip_with_their_groups() {
        use crate::shard::stream::{Group, Stream, StreamId, StreamLimits};
        let mut stream = Stream::default();
        for seq in 1..=3 {
            let id = StreamId::new(100, seq);
            stream.append(id, &[(b"f", b"v")], StreamLimits::default());
        }
        let mut group = Group::new(StreamId::new(100, 2), 2);
        group.consumer(b"c", 5);
        stream.groups.insert(b"g".to_vec(), group);
        let value = Value::Stream(Box::new(stream));
        let mut out = Vec::new();
        put(&mut out, 3, b"s", &value, 9);
        let decoded: Vec<Op> = ops(&out).map(Result::unwrap).collect();
        let [Op::Put {
            db: 3,
            key: b"s",
            expire_at_ms: 9,
            value: back,
        }] = &decoded[..]
        else {
            panic!("{decoded:?}")
        };
        assert_eq!(back, &value);
        for cut in 1..out.len() {
            assert!(ops(&out[..cut]).last().unwrap().is_err(), "cut at {cut}");
        }
    }
}

//! Hash commands, with Redis 7.0's replies and error texts. Every one names a single key,
//! so all run as `Handler::Shard` on the core owning it.
//!
//! ```text
//! write  HSET HMSET HSETNX HDEL HINCRBY HINCRBYFLOAT     (an emptied hash is deleted)
//! read   HGET HMGET HGETALL HKEYS HVALS HLEN HEXISTS HSTRLEN HSCAN HRANDFIELD
//! ```
//!
//! Writes are functions of the keyspace and their arguments (counters store their final
//! value), so the CMD effect logged for them replays to the same hash. HRANDFIELD is a
//! read; it draws from the shard's random source.

use super::args::{is, parse_i64, Args};
use super::glob::glob_match;
use super::keys::parse_scan_cursor;
use super::long_double::{self, Parsed};
use super::{flags::*, Handler, Spec, Status, ONE_KEY};
use crate::limits::SCAN_COUNT_DEFAULT;
use crate::resp::{Proto, Reply};
use crate::shard::hash::{Hash, HashLimits};
use crate::shard::notify::class;
use crate::shard::value::{parse_i64_strict, Value};
use crate::shard::{Ctx, Rng};

/// The hash stored in `value`, or WRONGTYPE.
fn hash_of(value: &Value) -> Result<&Hash, Status> {
    match value {
        Value::Hash(hash) => Ok(hash),
        _ => Err(Status::WrongType),
    }
}

fn hash_mut(value: &mut Value) -> Result<&mut Hash, Status> {
    match value {
        Value::Hash(hash) => Ok(hash),
        _ => Err(Status::WrongType),
    }
}

/// When a hash stops being a compact pair list: the shard's copy of the configuration,
/// read once and then kept current by CONFIG SET, so a write takes no lock.
fn limits(ctx: &mut Ctx) -> HashLimits {
    *ctx.shard
        .hash_limits
        .get_or_insert_with(|| HashLimits::configured(&crate::server::CONFIG))
}

/// The hash at `key` for a read (counts a hit or miss); None when the key is missing.
fn read<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c Hash>, Status> {
    ctx.lookup_read(key)
        .map(|entry| hash_of(&entry.value))
        .transpose()
}

/// The hash at `key` for a change, created empty when missing: callers create only when
/// they are about to add a field, so no empty hash is left behind.
fn write_or_create<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<&'c mut Hash, Status> {
    if ctx.lookup_write(key).is_none() {
        ctx.set(key, Value::Hash(Hash::default()), 0);
    }
    let entry = ctx.lookup_write(key).expect("present or just created");
    hash_mut(&mut entry.value)
}

/// Checks the key's type before anything is created (WRONGTYPE leaves the keyspace alone).
fn check_writable(ctx: &mut Ctx, key: &[u8]) -> Result<(), Status> {
    match ctx.lookup_write(key) {
        Some(entry) => hash_of(&entry.value).map(drop),
        None => Ok(()),
    }
}

// ---------------------------------------------------------------------------------------
// Writing: HSET HMSET HSETNX HDEL HINCRBY HINCRBYFLOAT

/// HSET and HMSET: field/value pairs, an odd count being an arity error as in Redis.
fn set_pairs(ctx: &mut Ctx, args: &mut Args) -> Result<i64, Status> {
    let key = args.required()?;
    if args.remaining() % 2 != 0 {
        let name = String::from_utf8_lossy(args.name()).to_ascii_lowercase();
        return Err(Status::WrongArity(name));
    }
    check_writable(ctx, key)?;
    let limits = limits(ctx);
    let hash = write_or_create(ctx, key)?;
    let mut added = 0;
    while let (Some(field), Some(value)) = (args.next(), args.next()) {
        added += hash.insert(field, value.to_vec(), limits) as i64;
    }
    ctx.notify(class::HASH, "hset", key);
    Ok(added)
}

fn hset(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let added = set_pairs(ctx, args)?;
    reply.int(added);
    Ok(())
}

fn hmset(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    set_pairs(ctx, args)?;
    reply.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let field = args.required()?;
    let value = args.required()?;
    check_writable(ctx, key)?;
    let limits = limits(ctx);
    if let Some(entry) = ctx.lookup_write(key) {
        if hash_of(&entry.value)?.get(field).is_some() {
            reply.int(0);
            return Ok(());
        }
    }
    write_or_create(ctx, key)?.insert(field, value.to_vec(), limits);
    ctx.notify(class::HASH, "hset", key);
    reply.int(1);
    Ok(())
}

fn hdel(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let Some(entry) = ctx.lookup_write(key) else {
        reply.int(0);
        return Ok(());
    };
    let hash = hash_mut(&mut entry.value)?;
    let deleted = args.rest().filter(|field| hash.remove(field)).count();
    let emptied = hash.is_empty();
    if deleted > 0 {
        ctx.notify(class::HASH, "hdel", key);
    }
    if emptied {
        ctx.delete(key);
        ctx.notify(class::GENERIC, "del", key);
    }
    reply.int(deleted as i64);
    Ok(())
}

/// Stores `value` under `field`, creating the hash if needed (the counters' last step).
fn store(ctx: &mut Ctx, key: &[u8], field: &[u8], value: Vec<u8>) -> Result<(), Status> {
    let limits = limits(ctx);
    write_or_create(ctx, key)?.insert(field, value, limits);
    Ok(())
}

/// The field's current value for a counter: None when the key or field is missing.
fn current<'c>(ctx: &'c mut Ctx, key: &[u8], field: &[u8]) -> Result<Option<&'c [u8]>, Status> {
    match ctx.lookup_write(key) {
        Some(entry) => Ok(hash_of(&entry.value)?.get(field)),
        None => Ok(None),
    }
}

/// HINCRBY: the increment is parsed before the key is looked at, as in Redis.
fn hincrby(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let field = args.required()?;
    let by = args.i64()?;
    let old = match current(ctx, key, field)? {
        Some(text) => {
            parse_i64_strict(text).ok_or(Status::err("ERR hash value is not an integer"))?
        }
        None => 0,
    };
    let new = old.checked_add(by).ok_or(Status::Overflow)?;
    store(ctx, key, field, new.to_string().into_bytes())?;
    ctx.notify(class::HASH, "hincrby", key);
    reply.int(new);
    Ok(())
}

/// HINCRBYFLOAT: the string INCRBYFLOAT's long double arithmetic and formatting, with the
/// hash's own error texts (an infinite increment is refused before the key is read).
fn hincrbyfloat(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let field = args.required()?;
    let by = match long_double::parse(args.required()?) {
        Some(Parsed::Finite(by)) => by,
        Some(Parsed::Infinite) => return Err(Status::err("ERR value is NaN or Infinity")),
        None => return Err(Status::NotFloat),
    };
    let old = match current(ctx, key, field)? {
        Some(text) => match long_double::parse(text) {
            Some(Parsed::Finite(old)) => Some(old),
            Some(Parsed::Infinite) => None,
            None => return Err(Status::err("ERR hash value is not a float")),
        },
        None => Some(long_double::LongDouble::ZERO),
    };
    let sum = old
        .and_then(|old| long_double::add(old, by))
        .ok_or(Status::err("ERR increment would produce NaN or Infinity"))?;
    let mut text = Vec::new();
    long_double::format_human(sum, &mut text);
    reply.bulk(&text);
    store(ctx, key, field, text)?;
    ctx.notify(class::HASH, "hincrbyfloat", key);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Reading: HGET HMGET HLEN HEXISTS HSTRLEN HGETALL HKEYS HVALS

fn hget(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let field = args.required()?;
    match read(ctx, key)?.and_then(|hash| hash.get(field)) {
        Some(value) => reply.bulk(value),
        None => reply.null(),
    }
    Ok(())
}

fn hmget(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let hash = read(ctx, key)?;
    reply.array(args.remaining());
    for field in args.rest() {
        match hash.and_then(|hash| hash.get(field)) {
            Some(value) => reply.bulk(value),
            None => reply.null(),
        }
    }
    Ok(())
}

fn hlen(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    reply.int(read(ctx, key)?.map_or(0, Hash::len) as i64);
    Ok(())
}

fn hexists(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let field = args.required()?;
    let found = read(ctx, key)?.and_then(|hash| hash.get(field)).is_some();
    reply.int(found as i64);
    Ok(())
}

fn hstrlen(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let field = args.required()?;
    let len = read(ctx, key)?
        .and_then(|hash| hash.get(field))
        .map_or(0, <[u8]>::len);
    reply.int(len as i64);
    Ok(())
}

/// HGETALL: a map in RESP3, a flat field/value array in RESP2.
fn hgetall(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let Some(hash) = read(ctx, key)? else {
        reply.map(0);
        return Ok(());
    };
    reply.map(hash.len());
    for (field, value) in hash.iter() {
        reply.bulk(field);
        reply.bulk(value);
    }
    Ok(())
}

fn hkeys(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    reply_column(ctx, args, reply, Side::Fields)
}

fn hvals(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    reply_column(ctx, args, reply, Side::Values)
}

#[derive(Clone, Copy)]
enum Side {
    Fields,
    Values,
}

/// HKEYS / HVALS: one side of every pair, as an array.
fn reply_column(
    ctx: &mut Ctx,
    args: &mut Args,
    reply: &mut Reply,
    side: Side,
) -> Result<(), Status> {
    let key = args.required()?;
    let Some(hash) = read(ctx, key)? else {
        reply.array(0);
        return Ok(());
    };
    reply.array(hash.len());
    for (field, value) in hash.iter() {
        reply.bulk(match side {
            Side::Fields => field,
            Side::Values => value,
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// HSCAN

/// HSCAN key cursor [MATCH pattern] [COUNT count]. The cursor is checked first, then the
/// key (a missing key answers an empty scan before the options are read), then the
/// options, as in Redis. A compact hash answers everything at once with cursor 0, as
/// Redis does for a listpack; a table is walked by bucket (see shard/hash.rs).
fn hscan(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let cursor = parse_scan_cursor(args.required()?)?;
    let Some(hash) = read(ctx, key)? else {
        reply_scan(reply, 0, &[]);
        return Ok(());
    };
    let (pattern, count) = scan_options(args)?;
    let mut found = Vec::new();
    let next = hash.scan(cursor, count, |field, value| {
        if pattern.is_none_or(|p| glob_match(p, field, false)) {
            found.push((field, value));
        }
    });
    reply_scan(reply, next, &found);
    Ok(())
}

/// MATCH and COUNT (COUNT below 1 is a syntax error, as in Redis).
fn scan_options<'a>(args: &mut Args<'a>) -> Result<(Option<&'a [u8]>, usize), Status> {
    let mut pattern = None;
    let mut count = SCAN_COUNT_DEFAULT;
    while let Some(option) = args.next() {
        let value = args.required()?;
        if is(option, "COUNT") {
            let n = parse_i64(value)?;
            if n < 1 {
                return Err(Status::Syntax);
            }
            count = usize::try_from(n).unwrap_or(usize::MAX);
        } else if is(option, "MATCH") {
            // "*" matches everything: no need to run the matcher.
            pattern = (value != b"*").then_some(value);
        } else {
            return Err(Status::Syntax);
        }
    }
    Ok((pattern, count))
}

fn reply_scan(reply: &mut Reply, next: u64, pairs: &[(&[u8], &[u8])]) {
    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(pairs.len() * 2);
    for (field, value) in pairs {
        reply.bulk(field);
        reply.bulk(value);
    }
}

// ---------------------------------------------------------------------------------------
// HRANDFIELD

/// HRANDFIELD key [count [WITHVALUES]]. Without a count: one field or null. With one,
/// Redis's cases: negative counts may repeat fields; a count at least the size returns
/// the whole hash in its order; otherwise distinct fields in random order.
fn hrandfield(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let Some(count) = args.next() else {
        if read(ctx, key)?.is_none() {
            reply.null();
            return Ok(());
        }
        let mut rng = ctx.shard.fork_rng();
        let (field, _) = read_again(ctx, key)
            .random_pair(&mut rng)
            .expect("never empty");
        reply.bulk(field);
        return Ok(());
    };
    let count = randfield_count(count)?;
    let with_values = match args.next() {
        None => false,
        Some(word) if is(word, "WITHVALUES") && args.remaining() == 0 => true,
        Some(_) => return Err(Status::Syntax),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Status::err("ERR value is out of range"));
    }
    if read(ctx, key)?.is_none() {
        reply.array(0);
        return Ok(());
    }
    let mut rng = ctx.shard.fork_rng();
    let hash = read_again(ctx, key);
    let wanted = count.unsigned_abs() as usize;
    let picks = if count < 0 || count == 1 {
        Picks::Repeating(wanted)
    } else if wanted >= hash.len() {
        Picks::All
    } else {
        Picks::Distinct(wanted)
    };
    reply_picks(reply, hash, picks, &mut rng, with_values);
    Ok(())
}

/// The hash just read (the type was checked), without counting a second hit.
fn read_again<'c>(ctx: &'c mut Ctx, key: &[u8]) -> &'c Hash {
    let entry = ctx.db().raw_get(key).expect("read just now");
    hash_of(&entry.value).expect("type checked just now")
}

/// Redis reads the count as a long in -LONG_MAX..=LONG_MAX.
fn randfield_count(arg: &[u8]) -> Result<i64, Status> {
    match parse_i64(arg)? {
        i64::MIN => Err(Status::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        n => Ok(n),
    }
}

/// Which pairs HRANDFIELD answers with.
#[derive(Clone, Copy)]
enum Picks {
    /// This many independent draws (fields may repeat): drawn as they are sent, so a huge
    /// count costs reply space but never a list of its size.
    Repeating(usize),
    /// The whole hash in its order.
    All,
    /// This many distinct fields (fewer than the hash has), in random order.
    Distinct(usize),
}

/// RESP2 flattens field/value pairs into one array; RESP3 nests each pair.
fn reply_picks(reply: &mut Reply, hash: &Hash, picks: Picks, rng: &mut Rng, with_values: bool) {
    let count = match picks {
        Picks::Repeating(n) | Picks::Distinct(n) => n,
        Picks::All => hash.len(),
    };
    let flat = with_values && reply.proto == Proto::Resp2;
    reply.array(if flat { count * 2 } else { count });
    let mut pair = |(field, value): (&[u8], &[u8])| {
        if with_values && !flat {
            reply.array(2);
        }
        reply.bulk(field);
        if with_values {
            reply.bulk(value);
        }
    };
    match picks {
        Picks::Repeating(n) => {
            for _ in 0..n {
                pair(hash.random_pair(rng).expect("never empty"));
            }
        }
        Picks::All => hash.iter().for_each(pair),
        Picks::Distinct(n) => {
            // A partial Fisher-Yates shuffle of every pair.
            let mut pairs: Vec<(&[u8], &[u8])> = hash.iter().collect();
            for i in 0..n {
                let j = i + rng.below(pairs.len() - i);
                pairs.swap(i, j);
            }
            pairs.into_iter().take(n).for_each(pair);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Table rows

const fn shard(
    name: &'static str,
    arity: i16,
    flags: u32,
    handler: super::ShardFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(
        name,
        arity,
        flags,
        ONE_KEY,
        Handler::Shard(handler),
        "hash",
        summary,
        since,
    )
}

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    shard("hset", -4, WRITE | DENYOOM | FAST, hset, "Set the string value of a hash field", "2.0.0"),
    shard("hsetnx", 4, WRITE | DENYOOM | FAST, hsetnx, "Set the value of a hash field, only if the field does not exist", "2.0.0"),
    shard("hget", 3, READONLY | FAST, hget, "Get the value of a hash field", "2.0.0"),
    shard("hmset", -4, WRITE | DENYOOM | FAST, hmset, "Set multiple hash fields to multiple values", "2.0.0"),
    shard("hmget", -3, READONLY | FAST, hmget, "Get the values of all the given hash fields", "2.0.0"),
    shard("hgetall", 2, READONLY, hgetall, "Get all the fields and values in a hash", "2.0.0"),
    shard("hdel", -3, WRITE | FAST, hdel, "Delete one or more hash fields", "2.0.0"),
    shard("hlen", 2, READONLY | FAST, hlen, "Get the number of fields in a hash", "2.0.0"),
    shard("hexists", 3, READONLY | FAST, hexists, "Determine if a hash field exists", "2.0.0"),
    shard("hincrby", 4, WRITE | DENYOOM | FAST, hincrby, "Increment the integer value of a hash field by the given number", "2.0.0"),
    shard("hincrbyfloat", 4, WRITE | DENYOOM | FAST, hincrbyfloat, "Increment the float value of a hash field by the given amount", "2.6.0"),
    shard("hkeys", 2, READONLY, hkeys, "Get all the fields in a hash", "2.0.0"),
    shard("hvals", 2, READONLY, hvals, "Get all the values in a hash", "2.0.0"),
    shard("hstrlen", 3, READONLY | FAST, hstrlen, "Get the length of the value of a hash field", "3.2.0"),
    shard("hscan", -3, READONLY, hscan, "Incrementally iterate hash fields and associated values", "2.8.0"),
    shard("hrandfield", -2, READONLY, hrandfield, "Get one or multiple random fields from a hash", "6.2.0"),
];

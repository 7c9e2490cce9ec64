//! Generic key commands: counting and deleting keys (DEL, UNLINK, EXISTS, TOUCH), types and
//! expiry (TYPE, the EXPIRE and TTL families, PERSIST), moving keys (RENAME, RENAMENX,
//! COPY, MOVE), introspection (OBJECT), and the whole keyspace (KEYS, SCAN, RANDOMKEY,
//! DBSIZE, SWAPDB, FLUSHDB, FLUSHALL).
//!
//! Where each shape of command runs:
//!
//! ```text
//! one key            Handler::Shard on the owning core: TYPE, EXPIRE.., TTL.., PERSIST, MOVE
//! keys on any cores  Handler::Multi, holding the cores of its keys (core::multi):
//!                    DEL, UNLINK, EXISTS, TOUCH, RENAME, RENAMENX, COPY; OBJECT (one key,
//!                    but it reads the eviction policy on the connection's core first)
//! every core, atomic Handler::Conn with MultiCore::all: KEYS, DBSIZE, SWAPDB, FLUSH*
//! every core, in turn Handler::Conn, one core at a time, where Redis promises no snapshot:
//!                    SCAN (the cursor names the core), RANDOMKEY
//! ```
//!
//! Expiry times are stored absolute (Unix ms), so a write's effect does not depend on when
//! it is replayed. A TTL in the past deletes the key, as in Redis.

use super::args::{is, parse_i64, Args};
use super::connection::reply_help;
use super::glob::glob_match;
use super::session::Session;
use super::string::by_core;
use super::Handler::{self, Conn, Multi, Shard as OnShard};
use super::{flags::*, unknown_subcommand, KeySpec, Spec, Status, ALL_KEYS, NO_KEYS, ONE_KEY};
use crate::core::multi::MultiCore;
use crate::limits::{DATABASES, DB_SEGMENTS, SCAN_COUNT_DEFAULT};
use crate::resp::Reply;
use crate::shard::db::{Cursor, Db};
use crate::shard::evict::{self, EvictConfig};
use crate::shard::notify::class;
use crate::shard::slot::key_core;
use crate::shard::value::{parse_i64_strict, Entry, Value};
use crate::shard::{unix_ms, Ctx, Shard};
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

const SAME_OBJECT: &str = "ERR source and destination objects are the same";
const DB_OUT_OF_RANGE: &str = "ERR DB index is out of range";

/// A live entry looked at without touching it (Redis's LOOKUP_NOTOUCH: EXISTS, TYPE, TTL,
/// OBJECT): a hit or miss is counted as for a read, the access bits are left alone.
fn peek<R>(ctx: &mut Ctx, key: &[u8], look: impl FnOnce(&Entry) -> R) -> Option<R> {
    ctx.lookup_untouched(key).map(|entry| look(entry))
}

fn is_expired(entry: &Entry, now_ms: u64) -> bool {
    entry.expire_at_ms != 0 && entry.expire_at_ms <= now_ms
}

/// Redis's getIntFromObjectOrReply: an integer that must fit in 32 bits.
fn parse_i32(arg: &[u8]) -> Result<i32, Status> {
    i32::try_from(parse_i64(arg)?).map_err(|_| {
        Status::err("ERR value is out of range, value must between -2147483648 and 2147483647")
    })
}

/// A database index argument (COPY DB, MOVE), checked like SELECT.
fn db_index(arg: &[u8]) -> Result<usize, Status> {
    in_range_db(parse_i32(arg)?)
}

fn in_range_db(index: i32) -> Result<usize, Status> {
    usize::try_from(index)
        .ok()
        .filter(|&index| index < DATABASES)
        .ok_or(Status::err(DB_OUT_OF_RANGE))
}

// ---------------------------------------------------------------------------------------
// DEL, UNLINK, EXISTS, TOUCH

/// Runs `per_key` on every key (on its core, all cores held together) and replies with
/// the number of keys it returned true for; a key named twice counts twice.
async fn count_keys(
    s: &mut Session,
    argv: Argv,
    per_key: fn(&mut Ctx, &[u8]) -> bool,
) -> Result<(), Status> {
    let groups = by_core(&argv, 1, 1, s.core.cores);
    let mut op = MultiCore::new(s, groups.keys().copied());
    let mut total = 0i64;
    for (core, positions) in groups {
        let keys: Vec<Vec<u8>> = positions.iter().map(|&p| argv[p].clone()).collect();
        let db = s.db;
        total += op
            .run(core, move |shard| {
                let mut ctx = Ctx::new(shard, db);
                keys.iter().filter(|key| per_key(&mut ctx, key)).count() as i64
            })
            .await;
    }
    op.sort_events(|key| argv.iter().skip(1).position(|k| k == key).unwrap_or(0));
    op.finish().await;
    s.reply().int(total);
    Ok(())
}

fn del(s: &mut Session, argv: Argv) -> Done<'_> {
    count_keys(s, argv, delete_notified).boxed_local()
}

/// UNLINK frees a value in the background in Redis; strings are freed at once either way,
/// so it is DEL until large collection values exist.
fn unlink(s: &mut Session, argv: Argv) -> Done<'_> {
    count_keys(s, argv, delete_notified).boxed_local()
}

/// Deletes a key for DEL/UNLINK, raising `del` when it existed.
fn delete_notified(ctx: &mut Ctx, key: &[u8]) -> bool {
    let deleted = ctx.delete(key);
    if deleted {
        ctx.notify(class::GENERIC, "del", key);
    }
    deleted
}

fn exists(s: &mut Session, argv: Argv) -> Done<'_> {
    count_keys(s, argv, |ctx, key| peek(ctx, key, |_| ()).is_some()).boxed_local()
}

fn touch(s: &mut Session, argv: Argv) -> Done<'_> {
    count_keys(s, argv, |ctx, key| ctx.lookup_read(key).is_some()).boxed_local()
}

// ---------------------------------------------------------------------------------------
// TYPE

fn type_(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let name = peek(ctx, key, |entry| entry.value.type_name()).unwrap_or("none");
    reply.simple(name);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT

/// The NX / XX / GT / LT options of the EXPIRE family.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Condition {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl Condition {
    /// Parses the options after the time, rejecting what Redis rejects, in its order.
    fn parse<'a>(options: impl Iterator<Item = &'a [u8]>) -> Result<Condition, Status> {
        let mut c = Condition::default();
        for option in options {
            if is(option, "NX") {
                c.nx = true;
            } else if is(option, "XX") {
                c.xx = true;
            } else if is(option, "GT") {
                c.gt = true;
            } else if is(option, "LT") {
                c.lt = true;
            } else {
                return Err(Status::Error(
                    format!("ERR Unsupported option {}", String::from_utf8_lossy(option)).into(),
                ));
            }
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(Status::err(
                "ERR NX and XX, GT or LT options at the same time are not compatible",
            ));
        }
        if c.gt && c.lt {
            return Err(Status::err(
                "ERR GT and LT options at the same time are not compatible",
            ));
        }
        Ok(c)
    }

    /// Whether the new expiry `when_ms` may replace `current_ms` (None: no expiry, which
    /// counts as an infinite TTL for GT and LT).
    fn allows(&self, current_ms: Option<i64>, when_ms: i64) -> bool {
        let fails_nx = self.nx && current_ms.is_some();
        let fails_xx = self.xx && current_ms.is_none();
        let fails_gt = self.gt && current_ms.is_none_or(|current| when_ms <= current);
        let fails_lt = self.lt && current_ms.is_some_and(|current| when_ms >= current);
        !(fails_nx || fails_xx || fails_gt || fails_lt)
    }
}

/// The absolute expiry in Unix ms for `amount` units of `unit_ms` after `base_ms`, or
/// Redis's "invalid expire time" when the conversion or the addition overflows.
fn absolute_expire_ms(
    amount: i64,
    unit_ms: i64,
    base_ms: i64,
    command: &'static str,
) -> Result<i64, Status> {
    amount
        .checked_mul(unit_ms)
        .and_then(|ms| ms.checked_add(base_ms))
        .ok_or(Status::InvalidExpire(command))
}

/// EXPIRE and friends: `unit_ms` is 1000 for seconds, `relative` adds the current time.
fn set_expiry(
    ctx: &mut Ctx,
    args: &mut Args,
    reply: &mut Reply,
    command: &'static str,
    unit_ms: i64,
    relative: bool,
) -> Result<(), Status> {
    let key = args.required()?;
    let amount = args.required()?;
    let condition = Condition::parse(args.rest())?;
    let amount = parse_i64(amount)?;
    let now_ms = ctx.now_ms() as i64;
    let base_ms = if relative { now_ms } else { 0 };
    let when_ms = absolute_expire_ms(amount, unit_ms, base_ms, command)?;
    let Some(entry) = ctx.lookup_write(key) else {
        reply.int(0);
        return Ok(());
    };
    let current_ms = (entry.expire_at_ms != 0).then_some(entry.expire_at_ms as i64);
    if !condition.allows(current_ms, when_ms) {
        reply.int(0);
        return Ok(());
    }
    if when_ms <= now_ms {
        // Already past: the key goes now (the effect is a DEL, as Redis propagates it);
        // a client blocked on it is looked at, as after any delete.
        ctx.delete(key);
        ctx.notify(class::GENERIC, "del", key);
    } else {
        ctx.set_expiry(key, when_ms as u64);
        ctx.notify(class::GENERIC, "expire", key);
    }
    reply.int(1);
    Ok(())
}

fn expire(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    set_expiry(ctx, args, reply, "expire", 1000, true)
}

fn pexpire(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    set_expiry(ctx, args, reply, "pexpire", 1, true)
}

fn expireat(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    set_expiry(ctx, args, reply, "expireat", 1000, false)
}

fn pexpireat(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    set_expiry(ctx, args, reply, "pexpireat", 1, false)
}

// ---------------------------------------------------------------------------------------
// TTL, PTTL, EXPIRETIME, PEXPIRETIME, PERSIST

/// -2 for a missing key, -1 without expiry, else the remaining time (`absolute`: the
/// expiry itself), in ms or in seconds rounded to nearest as Redis does.
fn report_expiry(
    ctx: &mut Ctx,
    args: &mut Args,
    reply: &mut Reply,
    millis: bool,
    absolute: bool,
) -> Result<(), Status> {
    let key = args.required()?;
    let Some(expire_at_ms) = peek(ctx, key, |entry| entry.expire_at_ms) else {
        reply.int(-2);
        return Ok(());
    };
    if expire_at_ms == 0 {
        reply.int(-1);
        return Ok(());
    }
    let ms = if absolute {
        expire_at_ms as i64
    } else {
        (expire_at_ms as i64 - ctx.now_ms() as i64).max(0)
    };
    reply.int(if millis { ms } else { (ms + 500) / 1000 });
    Ok(())
}

fn ttl(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    report_expiry(ctx, args, reply, false, false)
}

fn pttl(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    report_expiry(ctx, args, reply, true, false)
}

fn expiretime(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    report_expiry(ctx, args, reply, false, true)
}

fn pexpiretime(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    report_expiry(ctx, args, reply, true, true)
}

fn persist(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    // Only a key with an expiry changes: a lookup for writing of any other would disturb
    // its watchers, which Redis leaves alone. A volatile key already past its time is
    // removed by the lookup and not found.
    let volatile = ctx
        .db()
        .raw_get(key)
        .is_some_and(|entry| entry.expire_at_ms != 0)
        && ctx.set_expiry(key, 0);
    if volatile {
        ctx.notify(class::GENERIC, "persist", key);
    }
    reply.int(volatile as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// RENAME, RENAMENX

/// Moves `entry` in under `key`, replacing whatever `key` held. The entry keeps its value,
/// expiry and access time, as Redis moves the object itself.
fn place_entry(shard: &mut Shard, db: usize, key: &[u8], mut entry: Entry) {
    entry.key = key.into();
    let mut ctx = Ctx::new(shard, db);
    ctx.put_entry(entry);
    ctx.notify(class::GENERIC, "rename_to", key);
}

/// The events of the source's side of a rename, in Redis's order: the destination is
/// created (`new`, whether or not it existed: Redis deletes it, then adds) before the
/// source goes (`rename_from`); `place_entry` then raises `rename_to`.
fn notify_rename_from(ctx: &mut Ctx, src: &[u8], dst: &[u8]) {
    ctx.notify(class::NEW, "new", dst);
    ctx.notify(class::GENERIC, "rename_from", src);
}

/// Both keys on one core: the whole rename is one step. Ok(renamed).
fn rename_on_one_core(
    shard: &mut Shard,
    db: usize,
    src: &[u8],
    dst: &[u8],
    nx: bool,
) -> Result<bool, Status> {
    let mut ctx = Ctx::new(shard, db);
    if !ctx.exists(src) {
        return Err(Status::NoSuchKey);
    }
    if src == dst || (nx && ctx.exists(dst)) {
        return Ok(false);
    }
    let entry = ctx.take(src).expect("the source was just found");
    notify_rename_from(&mut ctx, src, dst);
    place_entry(shard, db, dst, entry);
    Ok(true)
}

/// Keys on two cores, both held until the operation finishes: RENAMENX first looks at the
/// destination, then the source entry is taken out and placed on the destination's core.
async fn rename_across_cores(
    op: &mut MultiCore,
    db: usize,
    (src_core, src): (usize, Vec<u8>),
    (dst_core, dst): (usize, Vec<u8>),
    nx: bool,
) -> Result<bool, Status> {
    let dst_taken = if nx {
        let dst = dst.clone();
        op.run(dst_core, move |shard| Ctx::new(shard, db).exists(&dst))
            .await
    } else {
        false
    };
    let dst_name = dst.clone();
    let taken = op
        .run(src_core, move |shard| {
            let mut ctx = Ctx::new(shard, db);
            if !ctx.exists(&src) {
                return Err(Status::NoSuchKey);
            }
            let taken = (!dst_taken).then(|| ctx.take(&src)).flatten();
            if taken.is_some() {
                notify_rename_from(&mut ctx, &src, &dst_name);
            }
            Ok(taken)
        })
        .await?;
    let Some(entry) = taken else {
        return Ok(false);
    };
    op.run(dst_core, move |shard| place_entry(shard, db, &dst, entry))
        .await;
    Ok(true)
}

async fn rename_generic(s: &mut Session, argv: Argv, nx: bool) -> Result<(), Status> {
    let db = s.db;
    let (src, dst) = (argv[1].clone(), argv[2].clone());
    let (src_core, dst_core) = (key_core(&src, s.core.cores), key_core(&dst, s.core.cores));
    let mut op = MultiCore::new(s, [src_core, dst_core]);
    let renamed = if src_core == dst_core {
        op.run(src_core, move |shard| {
            rename_on_one_core(shard, db, &src, &dst, nx)
        })
        .await
    } else {
        rename_across_cores(&mut op, db, (src_core, src), (dst_core, dst), nx).await
    };
    op.finish().await;
    let renamed = renamed?;
    if nx {
        s.reply().int(renamed as i64);
    } else {
        s.reply().ok();
    }
    Ok(())
}

fn rename(s: &mut Session, argv: Argv) -> Done<'_> {
    rename_generic(s, argv, false).boxed_local()
}

fn renamenx(s: &mut Session, argv: Argv) -> Done<'_> {
    rename_generic(s, argv, true).boxed_local()
}

// ---------------------------------------------------------------------------------------
// COPY, MOVE

/// COPY's options: the destination database and REPLACE.
fn copy_options(argv: &Argv, src_db: usize) -> Result<(usize, bool), Status> {
    let (mut dst_db, mut replace) = (src_db, false);
    let mut i = 3;
    while i < argv.len() {
        if is(&argv[i], "REPLACE") {
            replace = true;
        } else if is(&argv[i], "DB") && i + 1 < argv.len() {
            dst_db = db_index(&argv[i + 1])?;
            i += 1;
        } else {
            return Err(Status::Syntax);
        }
        i += 1;
    }
    Ok((dst_db, replace))
}

/// The source's value and absolute expiry, read as a read (it counts and touches).
fn copy_source(shard: &mut Shard, db: usize, key: &[u8]) -> Option<(Value, u64)> {
    Ctx::new(shard, db)
        .lookup_read(key)
        .map(|entry| (entry.value.clone(), entry.expire_at_ms))
}

/// Stores the copy unless the destination exists and REPLACE was not given.
fn copy_place(
    shard: &mut Shard,
    db: usize,
    key: &[u8],
    (value, expire_at_ms): (Value, u64),
    replace: bool,
) -> bool {
    let mut ctx = Ctx::new(shard, db);
    if ctx.exists(key) {
        if !replace {
            return false;
        }
        // Redis deletes the destination, then adds the copy: a new key either way.
        ctx.notify(class::NEW, "new", key);
    }
    ctx.set(key, value, expire_at_ms);
    ctx.notify(class::GENERIC, "copy_to", key);
    true
}

fn copy(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let src_db = s.db;
        let (dst_db, replace) = copy_options(&argv, src_db)?;
        let (src, dst) = (argv[1].clone(), argv[2].clone());
        if src_db == dst_db && src == dst {
            return Err(Status::err(SAME_OBJECT));
        }
        let (src_core, dst_core) = (key_core(&src, s.core.cores), key_core(&dst, s.core.cores));
        let mut op = MultiCore::new(s, [src_core, dst_core]);
        let copied = if src_core == dst_core {
            op.run(src_core, move |shard| {
                copy_source(shard, src_db, &src)
                    .is_some_and(|found| copy_place(shard, dst_db, &dst, found, replace))
            })
            .await
        } else {
            match op
                .run(src_core, move |shard| copy_source(shard, src_db, &src))
                .await
            {
                None => false,
                Some(found) => {
                    op.run(dst_core, move |shard| {
                        copy_place(shard, dst_db, &dst, found, replace)
                    })
                    .await
                }
            }
        };
        op.finish().await;
        s.reply().int(copied as i64);
        Ok(())
    }
    .boxed_local()
}

/// MOVE key db: both databases live on the key's core, so it is a single-shard command.
fn move_(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let dst_db = db_index(args.required()?)?;
    if dst_db == ctx.db {
        return Err(Status::err(SAME_OBJECT));
    }
    if !ctx.exists(key) || Ctx::new(&mut *ctx.shard, dst_db).exists(key) {
        reply.int(0);
        return Ok(());
    }
    // Both ends as writes: the source's readers are told (tracking), clients blocked on
    // it are looked at, and whoever waits on the destination is served.
    let entry = ctx.take(key).expect("the key was just found");
    Ctx::new(&mut *ctx.shard, dst_db).put_entry(entry);
    ctx.shard.notify(dst_db, class::NEW, "new", key);
    ctx.notify(class::GENERIC, "move_from", key);
    ctx.shard.notify(dst_db, class::GENERIC, "move_to", key);
    reply.int(1);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// OBJECT

const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

const LFU_NOT_SELECTED: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";
const LFU_SELECTED: &str = "ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// Redis keeps one shared object for each integer in 0..10000 (OBJ_SHARED_INTEGERS) and
/// reports INT_MAX references for it; every other value has one reference.
const SHARED_INTEGERS: i64 = 10_000;

/// What OBJECT reports about one entry, gathered on the key's core.
struct ObjectInfo {
    encoding: &'static str,
    refcount: i64,
    idle_s: u64,
    /// The LFU counter after decay, when an LFU policy is selected (None: an LRU one).
    freq: Option<u8>,
}

fn object_info(entry: &Entry, clock_s: u32, evict: &EvictConfig) -> ObjectInfo {
    let shared = match &entry.value {
        Value::Str(s) => parse_i64_strict(s).is_some_and(|n| (0..SHARED_INTEGERS).contains(&n)),
        Value::Hash(_) => false,
        Value::List(_) => false,
        Value::Set(_) => false,
        Value::Zset(_) => false,
        Value::Stream(_) => false,
    };
    ObjectInfo {
        encoding: entry.encoding(),
        refcount: if shared { i32::MAX as i64 } else { 1 },
        idle_s: evict::idle_ms(entry.lru, clock_s) / 1000,
        freq: evict
            .policy
            .is_lfu()
            .then(|| evict::lfu_frequency(entry.lru, clock_s, evict.lfu_decay_time_min)),
    }
}

fn object(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = argv[1].to_ascii_lowercase();
        let arity = |expected: usize| {
            if argv.len() == expected {
                Ok(())
            } else {
                Err(Status::WrongArity(format!(
                    "object|{}",
                    String::from_utf8_lossy(&sub)
                )))
            }
        };
        match sub.as_slice() {
            b"help" => {
                arity(2)?;
                reply_help(s, OBJECT_HELP);
                Ok(())
            }
            b"encoding" | b"refcount" | b"idletime" | b"freq" => {
                arity(3)?;
                object_key(s, &sub, argv[2].clone()).await
            }
            _ => Err(unknown_subcommand("object", &argv[1])),
        }
    }
    .boxed_local()
}

/// OBJECT ENCODING | REFCOUNT | IDLETIME | FREQ on one key, without touching it.
async fn object_key(s: &mut Session, sub: &[u8], key: Vec<u8>) -> Result<(), Status> {
    let db = s.db;
    let core = key_core(&key, s.core.cores);
    MultiCore::check_reach(s, core)?;
    let mut op = MultiCore::new(s, [core]);
    let info = op
        .run(core, move |shard| {
            let (clock_s, config) = (shard.clock_s, shard.evict.config);
            peek(&mut Ctx::new(shard, db), &key, |entry| {
                object_info(entry, clock_s, &config)
            })
        })
        .await;
    op.finish().await;
    let Some(info) = info else {
        s.reply().null();
        return Ok(());
    };
    match sub {
        b"encoding" => s.reply().bulk_str(info.encoding),
        b"refcount" => s.reply().int(info.refcount),
        b"idletime" if info.freq.is_some() => return Err(Status::err(LFU_SELECTED)),
        b"idletime" => s.reply().int(info.idle_s as i64),
        _ => match info.freq {
            Some(freq) => s.reply().int(freq as i64),
            None => return Err(Status::err(LFU_NOT_SELECTED)),
        },
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// KEYS, DBSIZE

/// The live keys of one database matching `pattern`.
fn matching_keys(db: &Db, pattern: &[u8], now_ms: u64) -> Vec<Vec<u8>> {
    let everything = pattern == b"*";
    let mut keys = Vec::new();
    db.walk(Cursor::default(), usize::MAX, false, |entry| {
        if !is_expired(entry, now_ms) && (everything || glob_match(pattern, &entry.key, false)) {
            keys.push(entry.key.to_vec());
        }
        true
    });
    keys
}

fn keys(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let db = s.db;
        let mut op = MultiCore::all(s);
        let mut found = Vec::new();
        for core in 0..s.core.cores {
            let pattern = argv[1].clone();
            found.extend(
                op.run(core, move |shard| {
                    shard.journal.read_all();
                    matching_keys(&shard.dbs[db], &pattern, unix_ms())
                })
                .await,
            );
        }
        op.finish().await;
        let mut r = s.reply();
        r.array(found.len());
        for key in &found {
            r.bulk(key);
        }
        Ok(())
    }
    .boxed_local()
}

/// DBSIZE counts keys whose TTL passed but that no one removed yet, as Redis does.
fn dbsize(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        let db = s.db;
        let mut op = MultiCore::all(s);
        let mut total = 0;
        for core in 0..s.core.cores {
            total += op
                .run(core, move |shard| {
                    shard.journal.read_all();
                    shard.dbs[db].len()
                })
                .await;
        }
        op.finish().await;
        s.reply().int(total as i64);
        Ok(())
    }
    .boxed_local()
}

// ---------------------------------------------------------------------------------------
// SCAN

/// SCAN's cursor: the core being walked and the position in that core's table (see the
/// module doc of shard/db.rs), packed into the u64 clients see:
///
/// ```text
/// bit 63..52 core | 51..36 segment generation | 35..28 segment | 27..0 bucket offset
/// ```
///
/// Cursor 0 is the start: core 0, segment 0, offset 0. Any u64 decodes to some position;
/// a forged one at worst repeats or skips keys, as with Redis.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ScanCursor {
    core: usize,
    at: Cursor,
}

const OFFSET_BITS: u32 = 28;
const SEGMENT_FIELD_BITS: u32 = 8;
const GENERATION_BITS: u32 = 16;
const CORE_SHIFT: u32 = OFFSET_BITS + SEGMENT_FIELD_BITS + GENERATION_BITS;
/// The most cores a cursor can name.
const SCAN_CORES_MAX: usize = 1 << (64 - CORE_SHIFT);
const _: () = assert!(DB_SEGMENTS <= 1 << SEGMENT_FIELD_BITS);
// A segment of 2^28 buckets would hold ~235M keys: 256 segments cover any memory.
const _: () = assert!(CORE_SHIFT + 12 == 64);

impl ScanCursor {
    fn encode(self) -> u64 {
        debug_assert!(self.core < SCAN_CORES_MAX);
        debug_assert!((self.at.offset as u64) < 1 << OFFSET_BITS);
        ((self.core as u64) << CORE_SHIFT)
            | ((self.at.generation as u64) << (OFFSET_BITS + SEGMENT_FIELD_BITS))
            | ((self.at.segment as u64) << OFFSET_BITS)
            | self.at.offset as u64
    }

    fn decode(raw: u64) -> ScanCursor {
        let field = |shift: u32, bits: u32| (raw >> shift) & ((1 << bits) - 1);
        ScanCursor {
            core: (raw >> CORE_SHIFT) as usize,
            at: Cursor {
                segment: field(OFFSET_BITS, SEGMENT_FIELD_BITS) as usize,
                offset: field(0, OFFSET_BITS) as usize,
                generation: field(OFFSET_BITS + SEGMENT_FIELD_BITS, GENERATION_BITS) as u16,
            },
        }
    }
}

/// Redis parses a cursor with strtoul: an optional sign (a minus wraps around), decimal
/// digits, nothing else; no leading space; "" is 0.
pub(super) fn parse_scan_cursor(arg: &[u8]) -> Result<u64, Status> {
    let invalid = || Status::err("ERR invalid cursor");
    if arg.is_empty() {
        return Ok(0);
    }
    let (negative, digits) = match arg[0] {
        b'-' => (true, &arg[1..]),
        b'+' => (false, &arg[1..]),
        _ => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(invalid());
    }
    let value = digits.iter().try_fold(0u64, |value, &digit| {
        value.checked_mul(10)?.checked_add((digit - b'0') as u64)
    });
    let value = value.ok_or_else(invalid)?;
    Ok(if negative {
        value.wrapping_neg()
    } else {
        value
    })
}

/// SCAN's MATCH, COUNT and TYPE.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ScanFilter {
    pattern: Option<Vec<u8>>,
    type_name: Option<Vec<u8>>,
    count: usize,
}

impl ScanFilter {
    fn parse(options: &[Vec<u8>]) -> Result<ScanFilter, Status> {
        let mut filter = ScanFilter {
            pattern: None,
            type_name: None,
            count: SCAN_COUNT_DEFAULT,
        };
        let mut pairs = options.chunks(2);
        for pair in &mut pairs {
            let [option, value] = pair else {
                return Err(Status::Syntax);
            };
            if is(option, "COUNT") {
                let count = parse_i64(value)?;
                if count < 1 {
                    return Err(Status::Syntax);
                }
                filter.count = usize::try_from(count).unwrap_or(usize::MAX);
            } else if is(option, "MATCH") {
                // "*" matches everything: no need to run the matcher.
                filter.pattern = (value.as_slice() != b"*").then(|| value.clone());
            } else if is(option, "TYPE") {
                filter.type_name = Some(value.clone());
            } else {
                return Err(Status::Syntax);
            }
        }
        Ok(filter)
    }

    fn accepts(&self, entry: &Entry) -> bool {
        let pattern_ok = self
            .pattern
            .as_ref()
            .is_none_or(|pattern| glob_match(pattern, &entry.key, false));
        let type_ok = self
            .type_name
            .as_ref()
            .is_none_or(|name| is(name, entry.value.type_name()));
        pattern_ok && type_ok
    }
}

/// One core's part of a SCAN call: the keys that pass the filter, how many entries were
/// visited, and where the walk stopped (None: this core is done).
struct ScanStep {
    keys: Vec<Vec<u8>>,
    visited: usize,
    next: Option<Cursor>,
}

/// Walks one core's table from `at`, visiting at most `want` entries and examining at most
/// ten buckets per wanted entry (Redis's bound). Expired entries it meets are not returned
/// but removed, as Redis's SCAN does with the expired keys it comes across.
fn scan_core(
    shard: &mut Shard,
    db: usize,
    at: Cursor,
    want: usize,
    filter: &ScanFilter,
) -> ScanStep {
    shard.journal.read_all();
    let now_ms = unix_ms();
    let (mut keys, mut expired, mut visited) = (Vec::new(), Vec::new(), 0);
    let next = shard.dbs[db].walk(at, want.saturating_mul(10), false, |entry| {
        if visited == want {
            return false;
        }
        visited += 1;
        if is_expired(entry, now_ms) {
            expired.push(entry.key.to_vec());
        } else if filter.accepts(entry) {
            keys.push(entry.key.to_vec());
        }
        true
    });
    let mut ctx = Ctx::new(shard, db);
    for key in expired {
        // Removing never moves other entries (no shrinking), so the cursor stays valid.
        ctx.lookup_write(&key);
    }
    ScanStep {
        keys,
        visited,
        next,
    }
}

/// SCAN walks the cores in order, each on its own (Redis promises no snapshot): a key
/// present for the whole scan is returned at least once, because keys never change core
/// and each core's walk survives table growth (see shard/db.rs).
fn scan(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let mut cursor = ScanCursor::decode(parse_scan_cursor(&argv[1])?);
        let filter = ScanFilter::parse(&argv[2..])?;
        let (db, cores) = (s.db, s.core.cores);
        let (mut keys, mut visited) = (Vec::new(), 0);
        let done = loop {
            if cursor.core >= cores {
                break true;
            }
            let (core, at, want) = (cursor.core, cursor.at, filter.count - visited);
            let step_filter = filter.clone();
            let mut op = MultiCore::new(s, [core]);
            let step = op
                .run(core, move |shard| {
                    scan_core(shard, db, at, want, &step_filter)
                })
                .await;
            op.finish().await;
            keys.extend(step.keys);
            visited += step.visited;
            match step.next {
                Some(at) => {
                    cursor.at = at;
                    break false;
                }
                None => {
                    cursor = ScanCursor {
                        core: core + 1,
                        at: Cursor::default(),
                    }
                }
            }
            if visited >= filter.count && cursor.core < cores {
                break false;
            }
        };
        let next = if done { 0 } else { cursor.encode() };
        debug_assert!(done || next != 0, "a SCAN call always moves forward");
        let mut r = s.reply();
        r.array(2);
        r.bulk_str(&next.to_string());
        r.array(keys.len());
        for key in &keys {
            r.bulk(key);
        }
        Ok(())
    }
    .boxed_local()
}

// ---------------------------------------------------------------------------------------
// RANDOMKEY

/// A random live key of one core's database; expired entries it draws are removed (lazy
/// expiry), so it ends with a live key or an empty database.
fn random_live_key(shard: &mut Shard, db: usize) -> Option<Vec<u8>> {
    shard.journal.read_all();
    let now_ms = unix_ms();
    let mut state = shard.random(usize::MAX) as u64 | 1;
    let mut random = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n.max(1) as u64) as usize
    };
    loop {
        let entry = shard.dbs[db].random_entry(&mut random)?;
        let (key, expired) = (entry.key.to_vec(), is_expired(entry, now_ms));
        if !expired {
            return Some(key);
        }
        Ctx::new(shard, db).lookup_write(&key);
    }
}

/// Picks a core with probability proportional to its database size, then a key there. A
/// core found empty (its keys had all expired) costs another draw with fresh sizes.
fn randomkey(s: &mut Session, _argv: Argv) -> Done<'_> {
    async move {
        let db = s.db;
        let mut key = None;
        for _ in 0..=2 * s.core.cores {
            let sizes = s
                .core
                .call_all(move |core| {
                    let shard = core.shard.borrow();
                    (shard.dbs[db].len(), shard.journal.last_lsn())
                })
                .await;
            // An empty answer reveals every core's state: it waits for their writes.
            s.depend(sizes.iter().map(|&(_, lsn)| lsn).max().unwrap_or(0));
            let sizes: Vec<usize> = sizes.into_iter().map(|(len, _)| len).collect();
            let total: usize = sizes.iter().sum();
            if total == 0 {
                break;
            }
            let mut pick = s.core.shard.borrow_mut().random(total);
            let core = sizes
                .iter()
                .position(|&size| {
                    let here = pick < size;
                    pick = pick.saturating_sub(size);
                    here
                })
                .expect("pick < total");
            let mut op = MultiCore::new(s, [core]);
            key = op.run(core, move |shard| random_live_key(shard, db)).await;
            op.finish().await;
            if key.is_some() {
                break;
            }
        }
        match key {
            Some(key) => s.reply().bulk(&key),
            None => s.reply().null(),
        }
        Ok(())
    }
    .boxed_local()
}

// ---------------------------------------------------------------------------------------
// SWAPDB, FLUSHDB, FLUSHALL

fn swapdb(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let first = parse_i32(&argv[1]).map_err(|_| Status::err("ERR invalid first DB index"))?;
        let second = parse_i32(&argv[2]).map_err(|_| Status::err("ERR invalid second DB index"))?;
        let (first, second) = (in_range_db(first)?, in_range_db(second)?);
        let mut op = MultiCore::all(s);
        for core in 0..s.core.cores {
            op.run(core, move |shard| shard.swap_dbs(first, second))
                .await;
        }
        op.finish().await;
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

/// FLUSHDB/FLUSHALL's optional SYNC or ASYNC; without one the flush is synchronous
/// (Redis's lazyfree-lazy-user-flush defaults to no). Ok(lazy).
fn flush_mode(argv: &Argv) -> Result<bool, Status> {
    match argv.get(1) {
        None => Ok(false),
        Some(mode) if argv.len() == 2 && is(mode, "SYNC") => Ok(false),
        Some(mode) if argv.len() == 2 && is(mode, "ASYNC") => Ok(true),
        Some(_) => Err(Status::Syntax),
    }
}

/// Empties databases `dbs` of one shard. ASYNC frees the old tables on a thread of their
/// own, as Redis's lazyfree thread does, so a large flush does not stall this core.
fn flush_shard(shard: &mut Shard, dbs: std::ops::Range<usize>, lazy: bool) {
    let old = shard.flush_dbs(dbs);
    if lazy && !old.is_empty() {
        // Should the thread not start, the closure and the tables are dropped right here.
        let _ = std::thread::Builder::new()
            .name("holdfast-lazyfree".into())
            .spawn(move || drop(old));
    }
}

async fn flush(s: &mut Session, argv: Argv, all: bool) -> Result<(), Status> {
    let lazy = flush_mode(&argv)?;
    let dbs = if all { 0..DATABASES } else { s.db..s.db + 1 };
    let mut op = MultiCore::all(s);
    for core in 0..s.core.cores {
        let dbs = dbs.clone();
        op.run(core, move |shard| flush_shard(shard, dbs, lazy))
            .await;
    }
    op.finish().await;
    s.reply().ok();
    Ok(())
}

fn flushdb(s: &mut Session, argv: Argv) -> Done<'_> {
    flush(s, argv, false).boxed_local()
}

fn flushall(s: &mut Session, argv: Argv) -> Done<'_> {
    flush(s, argv, true).boxed_local()
}

// ---------------------------------------------------------------------------------------
// Table rows: arity, flags, key positions, group, summary and since as Redis 7.0.15's
// COMMAND INFO and COMMAND DOCS report them.

const TWO_KEYS: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
};

#[allow(clippy::too_many_arguments)]
const fn row(
    name: &'static str,
    arity: i16,
    flags: u32,
    keys: KeySpec,
    handler: Handler,
    group: &'static str,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(name, arity, flags, keys, handler, group, summary, since)
}

/// The two COMMAND DOCS groups of this family: `G` generic, `S` server (DBSIZE, SWAPDB,
/// FLUSHDB, FLUSHALL).
const G: &str = "generic";
const S: &str = "server";

pub static COMMANDS: &[Spec] = &[
    row("del", -2, WRITE, ALL_KEYS, Multi(del), G, "Delete a key", "1.0.0"),
    row("unlink", -2, WRITE | FAST, ALL_KEYS, Multi(unlink), G, "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", "4.0.0"),
    row("exists", -2, READONLY | FAST, ALL_KEYS, Multi(exists), G, "Determine if a key exists", "1.0.0"),
    row("touch", -2, READONLY | FAST, ALL_KEYS, Multi(touch), G, "Alters the last access time of a key(s). Returns the number of existing keys specified.", "3.2.1"),
    row("type", 2, READONLY | FAST, ONE_KEY, OnShard(type_), G, "Determine the type stored at key", "1.0.0"),
    row("expire", -3, WRITE | FAST, ONE_KEY, OnShard(expire), G, "Set a key's time to live in seconds", "1.0.0"),
    row("pexpire", -3, WRITE | FAST, ONE_KEY, OnShard(pexpire), G, "Set a key's time to live in milliseconds", "2.6.0"),
    row("expireat", -3, WRITE | FAST, ONE_KEY, OnShard(expireat), G, "Set the expiration for a key as a UNIX timestamp", "1.2.0"),
    row("pexpireat", -3, WRITE | FAST, ONE_KEY, OnShard(pexpireat), G, "Set the expiration for a key as a UNIX timestamp specified in milliseconds", "2.6.0"),
    row("ttl", 2, READONLY | FAST, ONE_KEY, OnShard(ttl), G, "Get the time to live for a key in seconds", "1.0.0"),
    row("pttl", 2, READONLY | FAST, ONE_KEY, OnShard(pttl), G, "Get the time to live for a key in milliseconds", "2.6.0"),
    row("expiretime", 2, READONLY | FAST, ONE_KEY, OnShard(expiretime), G, "Get the expiration Unix timestamp for a key", "7.0.0"),
    row("pexpiretime", 2, READONLY | FAST, ONE_KEY, OnShard(pexpiretime), G, "Get the expiration Unix timestamp for a key in milliseconds", "7.0.0"),
    row("persist", 2, WRITE | FAST, ONE_KEY, OnShard(persist), G, "Remove the expiration from a key", "2.2.0"),
    row("rename", 3, WRITE, TWO_KEYS, Multi(rename), G, "Rename a key", "1.0.0"),
    row("renamenx", 3, WRITE | FAST, TWO_KEYS, Multi(renamenx), G, "Rename a key, only if the new key does not exist", "1.0.0"),
    row("copy", -3, WRITE | DENYOOM, TWO_KEYS, Multi(copy), G, "Copy a key", "6.2.0"),
    row("move", 3, WRITE | FAST, ONE_KEY, OnShard(move_), G, "Move a key to another database", "1.0.0"),
    row("keys", 2, READONLY, NO_KEYS, Conn(keys), G, "Find all keys matching the given pattern", "1.0.0"),
    row("scan", -2, READONLY, NO_KEYS, Conn(scan), G, "Incrementally iterate the keys space", "2.8.0"),
    row("randomkey", 1, READONLY, NO_KEYS, Conn(randomkey), G, "Return a random key from the keyspace", "1.0.0"),
    // The key of OBJECT's subcommands is its third argument; Redis's top-level row, which
    // COMMAND INFO shows, has no key positions.
    Spec {
        name: "object",
        arity: -2,
        flags: 0,
        keys: NO_KEYS,
        handler: Multi(object),
        group: G,
        summary: "A container for object introspection commands",
        since: "2.2.3",
        subcommands: &[
            ("help", 2, LOADING | STALE),
            ("freq", 3, READONLY),
            ("idletime", 3, READONLY),
            ("encoding", 3, READONLY),
            ("refcount", 3, READONLY),
        ],
    },
    row("swapdb", 3, WRITE | FAST, NO_KEYS, Conn(swapdb), S, "Swaps two Redis databases", "4.0.0"),
    row("dbsize", 1, READONLY | FAST, NO_KEYS, Conn(dbsize), S, "Return the number of keys in the selected database", "1.0.0"),
    row("flushdb", -1, WRITE, NO_KEYS, Conn(flushdb), S, "Remove all keys from the current database", "1.0.0"),
    row("flushall", -1, WRITE, NO_KEYS, Conn(flushall), S, "Remove all keys from all databases", "1.0.0"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn condition(list: &[&str]) -> Result<Condition, Status> {
        Condition::parse(opts(list).iter().map(Vec::as_slice))
    }

    #[test]
    fn expire_options_are_checked_like_redis() {
        assert_eq!(
            condition(&["nx", "XX"]).unwrap_err().text(),
            "ERR NX and XX, GT or LT options at the same time are not compatible"
        );
        assert_eq!(
            condition(&["gt", "lt"]).unwrap_err().text(),
            "ERR GT and LT options at the same time are not compatible"
        );
        assert_eq!(
            condition(&["xx", "foo"]).unwrap_err().text(),
            "ERR Unsupported option foo"
        );
        let xx_gt = condition(&["XX", "gt"]).unwrap();
        assert!(xx_gt.xx && xx_gt.gt && !xx_gt.nx && !xx_gt.lt);
        assert!(condition(&["nx", "NX"]).unwrap().nx);
    }

    #[test]
    fn expire_conditions_treat_no_ttl_as_infinite() {
        let c = |list: &[&str]| condition(list).unwrap();
        assert!(c(&["nx"]).allows(None, 5));
        assert!(!c(&["nx"]).allows(Some(1), 5));
        assert!(!c(&["xx"]).allows(None, 5));
        assert!(c(&["xx"]).allows(Some(1), 5));
        assert!(!c(&["gt"]).allows(None, 5));
        assert!(!c(&["gt"]).allows(Some(5), 5));
        assert!(c(&["gt"]).allows(Some(4), 5));
        assert!(c(&["lt"]).allows(None, 5));
        assert!(!c(&["lt"]).allows(Some(5), 5));
        assert!(c(&["lt"]).allows(Some(6), 5));
        assert!(c(&[]).allows(Some(6), 5));
    }

    #[test]
    fn expire_times_overflow_into_redis_error() {
        let now = 1_700_000_000_000;
        assert_eq!(
            absolute_expire_ms(10, 1000, now, "expire"),
            Ok(now + 10_000)
        );
        assert_eq!(absolute_expire_ms(-10, 1, now, "pexpire"), Ok(now - 10));
        for (amount, unit, base) in [
            (i64::MAX / 1000 + 1, 1000, 0),
            (i64::MAX / 1000, 1000, now),
            (i64::MIN / 1000 - 1, 1000, now),
            (i64::MAX, 1, now),
        ] {
            assert_eq!(
                absolute_expire_ms(amount, unit, base, "expire"),
                Err(Status::InvalidExpire("expire"))
            );
        }
        assert_eq!(
            absolute_expire_ms(i64::MAX, 1, 0, "pexpireat"),
            Ok(i64::MAX)
        );
    }

    #[test]
    fn scan_cursor_parses_like_strtoul() {
        assert_eq!(parse_scan_cursor(b""), Ok(0));
        assert_eq!(parse_scan_cursor(b"0"), Ok(0));
        assert_eq!(parse_scan_cursor(b"-0"), Ok(0));
        assert_eq!(parse_scan_cursor(b"+7"), Ok(7));
        assert_eq!(parse_scan_cursor(b"007"), Ok(7));
        assert_eq!(parse_scan_cursor(b"-1"), Ok(u64::MAX));
        assert_eq!(parse_scan_cursor(b"18446744073709551615"), Ok(u64::MAX));
        for bad in [
            &b"18446744073709551616"[..],
            b" 0",
            b"0 ",
            b"+",
            b"-",
            b"abc",
            b"1.5",
        ] {
            assert_eq!(
                parse_scan_cursor(bad).unwrap_err().text(),
                "ERR invalid cursor",
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn scan_cursor_round_trips_every_field() {
        let cursor = ScanCursor {
            core: SCAN_CORES_MAX - 1,
            at: Cursor {
                segment: DB_SEGMENTS - 1,
                offset: (1 << OFFSET_BITS) - 1,
                generation: u16::MAX,
            },
        };
        assert_eq!(cursor.encode(), u64::MAX);
        assert_eq!(ScanCursor::decode(u64::MAX), cursor);
        let cursor = ScanCursor {
            core: 1,
            at: Cursor {
                segment: 3,
                offset: 17,
                generation: 2,
            },
        };
        assert_eq!(ScanCursor::decode(cursor.encode()), cursor);
        assert_eq!(ScanCursor::decode(0), ScanCursor::default());
    }

    #[test]
    fn scan_options_like_redis() {
        let parse = |list: &[&str]| ScanFilter::parse(&opts(list));
        assert_eq!(parse(&[]).unwrap().count, SCAN_COUNT_DEFAULT);
        let f = parse(&["count", "5", "MATCH", "a*", "type", "STRING"]).unwrap();
        assert_eq!((f.count, f.pattern.as_deref()), (5, Some(&b"a*"[..])));
        assert_eq!(parse(&["match", "*"]).unwrap().pattern, None);
        assert_eq!(parse(&["count", "0"]), Err(Status::Syntax));
        assert_eq!(parse(&["count", "abc"]), Err(Status::NotInteger));
        assert_eq!(parse(&["count"]), Err(Status::Syntax));
        assert_eq!(parse(&["foo", "1"]), Err(Status::Syntax));
    }

    #[test]
    fn scan_core_resumes_without_missing_keys_and_drops_expired_ones() {
        let mut shard = Shard::new(7);
        for i in 0..500 {
            let expire = if i % 5 == 0 { 1 } else { 0 };
            shard.dbs[0].insert(
                format!("k{i}").as_bytes(),
                Value::Str(b"v".to_vec()),
                expire,
                0,
            );
        }
        let filter = ScanFilter::parse(&[]).unwrap();
        let mut seen = std::collections::HashSet::new();
        let mut at = Some(Cursor::default());
        while let Some(cursor) = at {
            let step = scan_core(&mut shard, 0, cursor, 7, &filter);
            assert!(step.visited <= 7);
            seen.extend(step.keys);
            at = step.next;
        }
        assert_eq!(seen.len(), 400);
        assert_eq!(shard.dbs[0].len(), 400);
        assert_eq!(shard.stats.expired_keys, 100);
    }

    #[test]
    fn random_live_key_never_returns_an_expired_entry() {
        let mut shard = Shard::new(3);
        for i in 0..300 {
            shard.dbs[2].insert(
                format!("gone{i}").as_bytes(),
                Value::Str(b"v".to_vec()),
                1,
                0,
            );
        }
        shard.dbs[2].insert(b"live", Value::Str(b"v".to_vec()), 0, 0);
        for _ in 0..20 {
            assert_eq!(
                random_live_key(&mut shard, 2).as_deref(),
                Some(&b"live"[..])
            );
        }
        shard.dbs[2].remove(b"live");
        assert_eq!(random_live_key(&mut shard, 2), None);
        assert!(shard.dbs[2].is_empty());
        assert_eq!(shard.stats.expired_keys, 300);
    }

    #[test]
    fn object_info_follows_redis_sharing_and_encoding() {
        let entry = |value: &str| {
            Entry::new(
                b"k".to_vec().into(),
                Value::Str(value.as_bytes().to_vec()),
                0,
                10,
            )
        };
        let lru = EvictConfig::default();
        let shared = object_info(&entry("9999"), 15, &lru);
        assert_eq!(
            (shared.encoding, shared.refcount, shared.idle_s, shared.freq),
            ("int", 2147483647, 5, None)
        );
        assert_eq!(object_info(&entry("10000"), 0, &lru).refcount, 1);
        assert_eq!(object_info(&entry("-1"), 0, &lru).refcount, 1);
        assert_eq!(object_info(&entry("hello"), 0, &lru).encoding, "embstr");
        let lfu = EvictConfig {
            policy: evict::Policy::AllkeysLfu,
            ..lru
        };
        // Bits 10: LFU minute 0, counter 10.
        assert_eq!(object_info(&entry("x"), 15, &lfu).freq, Some(10));
    }

    #[test]
    fn database_indices_like_redis() {
        assert_eq!(db_index(b"15"), Ok(15));
        assert_eq!(db_index(b"16").unwrap_err().text(), DB_OUT_OF_RANGE);
        assert_eq!(db_index(b"-1").unwrap_err().text(), DB_OUT_OF_RANGE);
        assert_eq!(db_index(b"x"), Err(Status::NotInteger));
        assert_eq!(
            db_index(b"4294967296").unwrap_err().text(),
            "ERR value is out of range, value must between -2147483648 and 2147483647"
        );
    }
}

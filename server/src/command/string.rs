//! String commands, with Redis 7.0's replies and error texts: GET/SET and their variants,
//! counters (INCR..., INCRBYFLOAT), APPEND/STRLEN/GETRANGE/SETRANGE, and the multi-key
//! MGET/MSET/MSETNX/LCS.
//!
//! ```text
//! one key  (Handler::Shard)  GET SET SETNX SETEX PSETEX GETSET GETDEL GETEX INCR DECR
//!                            INCRBY DECRBY INCRBYFLOAT APPEND STRLEN GETRANGE SUBSTR SETRANGE
//! any keys (Handler::Multi)  MGET MSET MSETNX LCS: every core they touch held together
//! ```
//!
//! Writes store their final result (the new integer, the formatted float, an absolute
//! expiry time), so the effect that will be logged for them is deterministic.

use super::args::{is, parse_i64, Args};
use super::long_double::{self, LongDouble, Parsed};
use super::session::Session;
use super::{flags::*, Handler, KeySpec, Spec, Status, ONE_KEY};
use crate::config::Settings;
use crate::core::multi::MultiCore;
use crate::resp::Reply;
use crate::shard::notify::class;
use crate::shard::value::{parse_i64_strict, Value};
use crate::shard::{slot::key_core, Ctx};
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::collections::BTreeMap;
use std::io::Write;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// The string stored in `value`, or WRONGTYPE for any other type.
fn string_of(value: &Value) -> Result<&[u8], Status> {
    match value {
        Value::Str(s) => Ok(s),
        _ => Err(Status::WrongType),
    }
}

/// The string stored in `value` for changing in place, or WRONGTYPE.
fn string_mut(value: &mut Value) -> Result<&mut Vec<u8>, Status> {
    match value {
        Value::Str(s) => Ok(s),
        _ => Err(Status::WrongType),
    }
}

/// Redis never lets proto-max-bulk-len go below 1 MiB, so a string up to that size needs
/// no look at the setting (which shard handlers can only read under the config lock).
const BULK_LEN_FLOOR_BYTES: u64 = 1 << 20;

/// Redis's checkStringLength: APPEND and SETRANGE may not grow a string past
/// proto-max-bulk-len.
fn check_string_length(total_bytes: u64) -> Result<(), Status> {
    if total_bytes <= BULK_LEN_FLOOR_BYTES || total_bytes <= proto_max_bulk_len() {
        return Ok(());
    }
    Err(Status::err(
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)",
    ))
}

fn proto_max_bulk_len() -> u64 {
    let configured = crate::server::CONFIG
        .lock()
        .ok()
        .and_then(|store| store.as_ref().map(|s| s.settings().proto_max_bulk_len));
    configured.unwrap_or_else(|| Settings::default().proto_max_bulk_len)
}

// ---------------------------------------------------------------------------------------
// Reading: GET, GETDEL, GETEX, GETSET, STRLEN, GETRANGE/SUBSTR

fn get(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    match ctx.lookup_read(key) {
        Some(entry) => reply.bulk(string_of(&entry.value)?),
        None => reply.null(),
    }
    Ok(())
}

fn getdel(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    match ctx.lookup_read(key) {
        Some(entry) => reply.bulk(string_of(&entry.value)?),
        None => {
            reply.null();
            return Ok(());
        }
    }
    // Looked up as a read (hits and misses count), removed as a write: watchers,
    // tracking readers, the journal's dirty keys and blocked clients see the delete.
    ctx.delete(key);
    ctx.notify(class::GENERIC, "del", key);
    Ok(())
}

/// GETEX: options are checked for syntax first; a missing key then replies null and a key
/// of another type WRONGTYPE before the expiry's number is looked at, as in Redis.
fn getex(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let options = Options::parse(args, Grammar::Getex)?;
    let now_ms = match options.expire {
        ExpireArg::Time { .. } => ctx.now_ms(),
        _ => 0,
    };
    let Some(entry) = ctx.lookup_read(key) else {
        reply.null();
        return Ok(());
    };
    let value = string_of(&entry.value)?;
    let change = options.expire.getex_change(now_ms)?;
    reply.bulk(value);
    match change {
        TtlChange::Keep => {}
        // Changes go through Ctx's write paths (the lookup above was a read), so WATCH,
        // tracking and the journal see them; a key without expiry is left untouched by
        // PERSIST, as Redis leaves it (no change: no watcher is disturbed).
        TtlChange::Persist => {
            if ctx.db().raw_get(key).is_some_and(|e| e.expire_at_ms != 0) {
                ctx.set_expiry(key, 0);
                ctx.notify(class::GENERIC, "persist", key);
            }
        }
        TtlChange::At(at_ms) if at_ms <= now_ms => {
            // An EXAT/PXAT already past deletes the key now, as Redis does.
            ctx.delete(key);
            ctx.notify(class::GENERIC, "del", key);
        }
        TtlChange::At(at_ms) => {
            ctx.set_expiry(key, at_ms);
            ctx.notify(class::GENERIC, "expire", key);
        }
    }
    Ok(())
}

fn getset(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let value = args.required()?;
    match ctx.lookup_read(key) {
        Some(entry) => reply.bulk(string_of(&entry.value)?),
        None => reply.null(),
    }
    ctx.set(key, Value::Str(value.to_vec()), 0);
    ctx.notify(class::STRING, "set", key);
    Ok(())
}

fn strlen(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let len = match ctx.lookup_read(key) {
        Some(entry) => string_of(&entry.value)?.len(),
        None => 0,
    };
    reply.int(len as i64);
    Ok(())
}

/// GETRANGE and its old name SUBSTR: both indexes are parsed before the key is read.
fn getrange(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let start = args.i64()?;
    let end = args.i64()?;
    match ctx.lookup_read(key) {
        Some(entry) => reply.bulk(substring(string_of(&entry.value)?, start, end)),
        None => reply.bulk(b""),
    }
    Ok(())
}

/// Redis's GETRANGE arithmetic, quirks included: negative indexes count from the end and
/// are clamped to 0 (so `-100 -50` of an 11-byte string is its first byte), but a pair of
/// negative indexes in the wrong order is empty.
fn substring(s: &[u8], start: i64, end: i64) -> &[u8] {
    let len = s.len() as i64;
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if start > end || len == 0 {
        return &[];
    }
    &s[start as usize..=end as usize]
}

// ---------------------------------------------------------------------------------------
// Writing: SET and its options, SETNX, SETEX, PSETEX, APPEND, SETRANGE

/// Whose option list is being read: SET takes NX XX GET KEEPTTL, GETEX takes PERSIST;
/// both take EX PX EXAT PXAT.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Grammar {
    Set,
    Getex,
}

/// An expiry option as written. Its number is checked only after the whole option list
/// parsed, because Redis reports a syntax error anywhere in the list first.
#[derive(Clone, Copy, PartialEq, Eq)]
enum ExpireArg<'a> {
    None,
    KeepTtl,
    Persist,
    /// EX/PX (relative) or EXAT/PXAT (absolute), with the unit in milliseconds.
    Time {
        amount: &'a [u8],
        unit_ms: i64,
        absolute: bool,
    },
}

/// What a command does to the key's expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TtlChange {
    Keep,
    Persist,
    /// Absolute Unix time in milliseconds.
    At(u64),
}

impl<'a> ExpireArg<'a> {
    /// Redis accepts repeating the same expiry option (the last one wins) but no mix of two.
    fn admits(&self, next: &ExpireArg) -> bool {
        match (self, next) {
            (ExpireArg::None, _) => true,
            (
                ExpireArg::Time {
                    unit_ms, absolute, ..
                },
                ExpireArg::Time {
                    unit_ms: u2,
                    absolute: a2,
                    ..
                },
            ) => unit_ms == u2 && absolute == a2,
            (current, next) => std::mem::discriminant(current) == std::mem::discriminant(next),
        }
    }

    /// The expiry SET, SETEX and PSETEX store: without an option, none (SET drops the old
    /// one); PERSIST is GETEX's only.
    fn set_change(&self, now_ms: u64, command: &'static str) -> Result<TtlChange, Status> {
        match *self {
            ExpireArg::None | ExpireArg::Persist => Ok(TtlChange::Persist),
            ExpireArg::KeepTtl => Ok(TtlChange::Keep),
            ExpireArg::Time {
                amount,
                unit_ms,
                absolute,
            } => expire_at_ms(amount, unit_ms, absolute, now_ms, command).map(TtlChange::At),
        }
    }

    fn getex_change(&self, now_ms: u64) -> Result<TtlChange, Status> {
        match self {
            ExpireArg::None => Ok(TtlChange::Keep),
            other => other.set_change(now_ms, "getex"),
        }
    }
}

/// Redis's getExpireMillisecondsOrReply: a positive amount whose absolute time in
/// milliseconds does not overflow.
fn expire_at_ms(
    amount: &[u8],
    unit_ms: i64,
    absolute: bool,
    now_ms: u64,
    command: &'static str,
) -> Result<u64, Status> {
    let amount = parse_i64(amount)?;
    let invalid = Status::InvalidExpire(command);
    if amount <= 0 || amount > i64::MAX / unit_ms {
        return Err(invalid);
    }
    let ms = amount * unit_ms;
    let at_ms = if absolute {
        ms
    } else {
        ms.checked_add(now_ms as i64).ok_or(invalid)?
    };
    Ok(at_ms as u64)
}

/// SET's and GETEX's options, as Redis's parseExtendedStringArgumentsOrReply reads them.
struct Options<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    expire: ExpireArg<'a>,
}

impl<'a> Options<'a> {
    const NONE: Options<'static> = Options {
        nx: false,
        xx: false,
        get: false,
        expire: ExpireArg::None,
    };

    fn parse(args: &mut Args<'a>, grammar: Grammar) -> Result<Options<'a>, Status> {
        let set = grammar == Grammar::Set;
        let mut o = Options::NONE;
        while let Some(option) = args.next() {
            if set && is(option, "NX") && !o.xx {
                o.nx = true;
            } else if set && is(option, "XX") && !o.nx {
                o.xx = true;
            } else if set && is(option, "GET") {
                o.get = true;
            } else if set && is(option, "KEEPTTL") && o.expire.admits(&ExpireArg::KeepTtl) {
                o.expire = ExpireArg::KeepTtl;
            } else if !set && is(option, "PERSIST") && o.expire.admits(&ExpireArg::Persist) {
                o.expire = ExpireArg::Persist;
            } else if let Some((unit_ms, absolute)) = time_option(option) {
                let expire = ExpireArg::Time {
                    amount: args.peek().unwrap_or_default(),
                    unit_ms,
                    absolute,
                };
                if !o.expire.admits(&expire) || args.next().is_none() {
                    return Err(Status::Syntax);
                }
                o.expire = expire;
            } else {
                return Err(Status::Syntax);
            }
        }
        Ok(o)
    }
}

/// EX, PX, EXAT, PXAT: (unit in milliseconds, absolute).
fn time_option(option: &[u8]) -> Option<(i64, bool)> {
    [
        ("EX", 1000, false),
        ("PX", 1, false),
        ("EXAT", 1000, true),
        ("PXAT", 1, true),
    ]
    .into_iter()
    .find(|(name, _, _)| is(option, name))
    .map(|(_, unit_ms, absolute)| (unit_ms, absolute))
}

/// Redis's setGenericCommand after option parsing: returns whether the key was written.
/// With GET the old value (or null) is already in the reply, WRONGTYPE before anything.
fn set_generic(
    ctx: &mut Ctx,
    key: &[u8],
    value: &[u8],
    options: &Options,
    ttl: TtlChange,
    reply: &mut Reply,
) -> Result<bool, Status> {
    // The old expiry, when the key exists; looked up only when something depends on it,
    // so a plain SET costs one hash lookup.
    let found = if options.get {
        match ctx.lookup_read(key) {
            Some(entry) => {
                reply.bulk(string_of(&entry.value)?);
                Some(entry.expire_at_ms)
            }
            None => {
                reply.null();
                None
            }
        }
    } else if options.nx || options.xx || ttl == TtlChange::Keep {
        ctx.lookup_write(key).map(|entry| entry.expire_at_ms)
    } else {
        None
    };
    if (options.nx && found.is_some()) || (options.xx && found.is_none()) {
        return Ok(false);
    }
    let expire_at_ms = match ttl {
        TtlChange::Keep => found.unwrap_or(0),
        TtlChange::Persist => 0,
        TtlChange::At(at_ms) => at_ms,
    };
    ctx.set(key, Value::Str(value.to_vec()), expire_at_ms);
    ctx.notify(class::STRING, "set", key);
    if let TtlChange::At(_) = ttl {
        ctx.notify(class::GENERIC, "expire", key);
    }
    Ok(true)
}

fn set(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let value = args.required()?;
    let options = Options::parse(args, Grammar::Set)?;
    let now_ms = match options.expire {
        ExpireArg::Time {
            absolute: false, ..
        } => ctx.now_ms(),
        _ => 0,
    };
    let ttl = options.expire.set_change(now_ms, "set")?;
    let written = set_generic(ctx, key, value, &options, ttl, reply)?;
    if !options.get {
        if written {
            reply.ok();
        } else {
            reply.null();
        }
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let value = args.required()?;
    let options = Options {
        nx: true,
        ..Options::NONE
    };
    let written = set_generic(ctx, key, value, &options, TtlChange::Persist, reply)?;
    reply.int(written as i64);
    Ok(())
}

fn setex(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    set_with_expiry(ctx, args, reply, 1000, "setex")
}

fn psetex(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    set_with_expiry(ctx, args, reply, 1, "psetex")
}

/// SETEX/PSETEX key amount value.
fn set_with_expiry(
    ctx: &mut Ctx,
    args: &mut Args,
    reply: &mut Reply,
    unit_ms: i64,
    command: &'static str,
) -> Result<(), Status> {
    let key = args.required()?;
    let amount = args.required()?;
    let value = args.required()?;
    let now_ms = ctx.now_ms();
    let at_ms = expire_at_ms(amount, unit_ms, false, now_ms, command)?;
    set_generic(ctx, key, value, &Options::NONE, TtlChange::At(at_ms), reply)?;
    reply.ok();
    Ok(())
}

/// APPEND keeps the key's expiry; a new key is created without one.
fn append(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let tail = args.required()?;
    let len = match ctx.lookup_write(key) {
        Some(entry) => {
            let s = string_mut(&mut entry.value)?;
            check_string_length(s.len() as u64 + tail.len() as u64)?;
            s.extend_from_slice(tail);
            let len = s.len();
            entry.edited_in_place = true;
            len
        }
        None => {
            ctx.set(key, Value::Str(tail.to_vec()), 0);
            tail.len()
        }
    };
    ctx.notify(class::STRING, "append", key);
    reply.int(len as i64);
    Ok(())
}

/// SETRANGE pads with zero bytes up to the offset and keeps the key's expiry. Writing
/// nothing changes nothing: a missing key stays missing, and no size check applies.
fn setrange(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let offset = args.i64()?;
    if offset < 0 {
        return Err(Status::err("ERR offset is out of range"));
    }
    let patch = args.required()?;
    let offset = offset as usize;
    // No overflow: offset < 2^63 and a patch is at most proto-max-bulk-len bytes.
    let total = offset as u64 + patch.len() as u64;
    let len = match ctx.lookup_write(key) {
        Some(entry) => {
            let s = string_mut(&mut entry.value)?;
            if !patch.is_empty() {
                check_string_length(total)?;
                if s.len() < total as usize {
                    s.resize(total as usize, 0);
                }
                s[offset..total as usize].copy_from_slice(patch);
                entry.edited_in_place = true;
            }
            string_mut(&mut entry.value)?.len()
        }
        None if patch.is_empty() => 0,
        None => {
            check_string_length(total)?;
            let mut s = vec![0; total as usize];
            s[offset..].copy_from_slice(patch);
            ctx.set(key, Value::Str(s), 0);
            // Redis builds this string in place too: it is raw from the start.
            if let Some(entry) = ctx.lookup_write(key) {
                entry.edited_in_place = true;
            }
            total as usize
        }
    };
    if !patch.is_empty() {
        ctx.notify(class::STRING, "setrange", key);
    }
    reply.int(len as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Counters: INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT

fn incr(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    incr_by(ctx, key, 1, reply)
}

fn decr(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    incr_by(ctx, key, -1, reply)
}

fn incrby(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let delta = args.i64()?;
    incr_by(ctx, key, delta, reply)
}

fn decrby(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let delta = args.i64()?;
    let negated = delta
        .checked_neg()
        .ok_or(Status::err("ERR decrement would overflow"))?;
    incr_by(ctx, key, negated, reply)
}

/// Adds `delta` to the integer at `key` (0 when missing), in place so the key keeps its
/// expiry and its buffer.
fn incr_by(ctx: &mut Ctx, key: &[u8], delta: i64, reply: &mut Reply) -> Result<(), Status> {
    let value = match ctx.lookup_write(key) {
        Some(entry) => {
            let s = string_mut(&mut entry.value)?;
            let old = parse_i64_strict(s).ok_or(Status::NotInteger)?;
            let new = old.checked_add(delta).ok_or(Status::Overflow)?;
            s.clear();
            let _ = write!(s, "{new}");
            // Redis stores the result as a new integer object.
            entry.edited_in_place = false;
            new
        }
        None => {
            ctx.set(key, Value::Str(delta.to_string().into_bytes()), 0);
            delta
        }
    };
    ctx.notify(class::STRING, "incrby", key);
    reply.int(value);
    Ok(())
}

/// INCRBYFLOAT stores (and replies) the sum as Redis formats a `long double`; see
/// `long_double`. The key keeps its expiry.
fn incrbyfloat(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let by = args.required()?;
    match ctx.lookup_write(key) {
        Some(entry) => {
            let s = string_mut(&mut entry.value)?;
            let sum = float_sum(long_double::parse(s), by)?;
            s.clear();
            long_double::format_human(sum, s);
            reply.bulk(s);
            // Redis stores the sum as a new string object.
            entry.edited_in_place = false;
        }
        None => {
            let sum = float_sum(Some(Parsed::Finite(LongDouble::ZERO)), by)?;
            let mut s = Vec::new();
            long_double::format_human(sum, &mut s);
            reply.bulk(&s);
            ctx.set(key, Value::Str(s), 0);
        }
    }
    ctx.notify(class::STRING, "incrbyfloat", key);
    Ok(())
}

/// The current value (already parsed; `None` if it was not a float) plus `by`.
fn float_sum(current: Option<Parsed>, by: &[u8]) -> Result<LongDouble, Status> {
    let current = current.ok_or(Status::NotFloat)?;
    let by = long_double::parse(by).ok_or(Status::NotFloat)?;
    let not_finite = || Status::err("ERR increment would produce NaN or Infinity");
    match (current, by) {
        (Parsed::Finite(a), Parsed::Finite(b)) => long_double::add(a, b).ok_or_else(not_finite),
        _ => Err(not_finite()),
    }
}

// ---------------------------------------------------------------------------------------
// Keys on any cores: MGET, MSET, MSETNX, LCS

/// Groups key positions (and the arguments that travel with each key) by owning core.
pub fn by_core(
    argv: &Argv,
    first: usize,
    step: usize,
    cores: usize,
) -> BTreeMap<usize, Vec<usize>> {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for position in (first..argv.len()).step_by(step) {
        groups
            .entry(key_core(&argv[position], cores))
            .or_default()
            .push(position);
    }
    groups
}

/// MGET: a key holding another type reads as null, as in Redis.
fn mget(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let groups = by_core(&argv, 1, 1, s.core.cores);
        let mut op = MultiCore::new(s, groups.keys().copied());
        let mut values: Vec<Option<Vec<u8>>> = vec![None; argv.len()];
        for (core, positions) in groups {
            let keys: Vec<Vec<u8>> = positions.iter().map(|&p| argv[p].clone()).collect();
            let db = s.db;
            let found = op
                .run(core, move |shard| {
                    let mut ctx = Ctx::new(shard, db);
                    keys.iter()
                        .map(|key| {
                            let entry = ctx.lookup_read(key)?;
                            string_of(&entry.value).ok().map(<[u8]>::to_vec)
                        })
                        .collect::<Vec<_>>()
                })
                .await;
            for (position, value) in positions.into_iter().zip(found) {
                values[position] = value;
            }
        }
        op.finish().await;
        let mut r = s.reply();
        r.array(argv.len() - 1);
        for value in &values[1..] {
            match value {
                Some(v) => r.bulk(v),
                None => r.null(),
            }
        }
        Ok(())
    }
    .boxed_local()
}

/// Key-value pairs of an MSET-like request, grouped by the core owning each key.
type PairsByCore = Vec<(usize, Vec<(Vec<u8>, Vec<u8>)>)>;

fn pairs_by_core(argv: &Argv, cores: usize) -> PairsByCore {
    by_core(argv, 1, 2, cores)
        .into_iter()
        .map(|(core, positions)| {
            let pairs = positions
                .iter()
                .map(|&p| (argv[p].clone(), argv[p + 1].clone()))
                .collect();
            (core, pairs)
        })
        .collect()
}

/// Where `key` first appears among MSET's keys: its events follow argument order, as in
/// Redis, though the keys are set core by core.
fn pair_rank(argv: &Argv, key: &[u8]) -> usize {
    argv[1..]
        .iter()
        .step_by(2)
        .position(|k| k == key)
        .unwrap_or(0)
}

fn set_pairs(ctx: &mut Ctx, pairs: Vec<(Vec<u8>, Vec<u8>)>) {
    for (key, value) in pairs {
        ctx.set(&key, Value::Str(value), 0);
        ctx.notify(class::STRING, "set", &key);
    }
}

fn mset(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        if argv.len() % 2 == 0 {
            return Err(Status::WrongArity("mset".into()));
        }
        let groups = pairs_by_core(&argv, s.core.cores);
        let mut op = MultiCore::new(s, groups.iter().map(|(core, _)| *core));
        let db = s.db;
        for (core, pairs) in groups {
            op.run(core, move |shard| {
                set_pairs(&mut Ctx::new(shard, db), pairs)
            })
            .await;
        }
        op.sort_events(|key| pair_rank(&argv, key));
        op.finish().await;
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

/// MSETNX: every core is checked, in ascending order and each held from its check on, so
/// no key can appear between the checks and the writes. The last core checks and writes
/// in one step (for a single core that is the whole command); the earlier ones are
/// written only once every check passed.
fn msetnx(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        if argv.len() % 2 == 0 {
            return Err(Status::WrongArity("msetnx".into()));
        }
        let mut groups = pairs_by_core(&argv, s.core.cores);
        let mut op = MultiCore::new(s, groups.iter().map(|(core, _)| *core));
        let db = s.db;
        let (last_core, last_pairs) = groups.pop().expect("arity guarantees one key");
        let mut checked = Vec::with_capacity(groups.len());
        let mut all_absent = true;
        for (core, pairs) in groups {
            let (absent, pairs) = op
                .run(core, move |shard| {
                    let absent = none_exist(&mut Ctx::new(shard, db), &pairs);
                    (absent, pairs)
                })
                .await;
            checked.push((core, pairs));
            if !absent {
                all_absent = false;
                break;
            }
        }
        if all_absent {
            all_absent = op
                .run(last_core, move |shard| {
                    let mut ctx = Ctx::new(shard, db);
                    let absent = none_exist(&mut ctx, &last_pairs);
                    if absent {
                        set_pairs(&mut ctx, last_pairs);
                    }
                    absent
                })
                .await;
        }
        if all_absent {
            for (core, pairs) in checked {
                op.run(core, move |shard| {
                    set_pairs(&mut Ctx::new(shard, db), pairs)
                })
                .await;
            }
        }
        op.sort_events(|key| pair_rank(&argv, key));
        op.finish().await;
        s.reply().int(all_absent as i64);
        Ok(())
    }
    .boxed_local()
}

fn none_exist(ctx: &mut Ctx, pairs: &[(Vec<u8>, Vec<u8>)]) -> bool {
    pairs.iter().all(|(key, _)| !ctx.exists(key))
}

/// LCS: both strings are read together (their cores held at once, so the pair is one
/// consistent state), then compared on this core with the cores already released.
fn lcs(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let (a, b) = read_pair(s, &argv[1], &argv[2]).await?;
        let options = LcsOptions::parse(&argv[3..])?;
        let limit_bytes = s.core.settings.borrow().proto_max_bulk_len;
        let mut table = LcsTable::new(&a, &b, limit_bytes)?;
        // The table is O(len(a) × len(b)): fill it in slices and let this core's other
        // connections run in between.
        let rows_per_slice = (LCS_CELLS_PER_SLICE / (b.len() + 1)).max(1);
        let mut row = 1;
        while row <= a.len() {
            let end = (row + rows_per_slice).min(a.len() + 1);
            table.fill_rows(&a, &b, row..end);
            row = end;
            glommio::yield_if_needed().await;
        }
        reply_lcs(&mut s.reply(), &table, &a, &b, &options);
        Ok(())
    }
    .boxed_local()
}

/// LCS table cells filled between chances for other work on the core.
const LCS_CELLS_PER_SLICE: usize = 1 << 20;

/// The strings at two keys (missing keys read as empty), read atomically across cores.
async fn read_pair(
    s: &mut Session,
    key_a: &[u8],
    key_b: &[u8],
) -> Result<(Vec<u8>, Vec<u8>), Status> {
    let cores = s.core.cores;
    let (core_a, core_b) = (key_core(key_a, cores), key_core(key_b, cores));
    let mut op = MultiCore::new(s, [core_a, core_b]);
    let db = s.db;
    let read = |key: &[u8]| {
        let key = key.to_vec();
        move |shard: &mut crate::shard::Shard| -> Result<Vec<u8>, ()> {
            match Ctx::new(shard, db).lookup_read(&key) {
                Some(entry) => string_of(&entry.value).map(<[u8]>::to_vec).map_err(|_| ()),
                None => Ok(Vec::new()),
            }
        }
    };
    let (a, b) = if core_a == core_b {
        let (read_a, read_b) = (read(key_a), read(key_b));
        op.run(core_a, move |shard| (read_a(shard), read_b(shard)))
            .await
    } else if core_a < core_b {
        let a = op.run(core_a, read(key_a)).await;
        (a, op.run(core_b, read(key_b)).await)
    } else {
        let b = op.run(core_b, read(key_b)).await;
        (op.run(core_a, read(key_a)).await, b)
    };
    op.finish().await;
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        _ => Err(Status::err(
            "ERR The specified keys must contain string values",
        )),
    }
}

/// LCS's options: LEN, IDX, MINMATCHLEN n, WITHMATCHLEN.
#[derive(Debug, Default, PartialEq, Eq)]
struct LcsOptions {
    len: bool,
    idx: bool,
    min_match_len: u64,
    with_match_len: bool,
}

impl LcsOptions {
    fn parse(options: &[Vec<u8>]) -> Result<LcsOptions, Status> {
        let mut o = LcsOptions::default();
        let mut i = 0;
        while i < options.len() {
            let option = &options[i];
            if is(option, "IDX") {
                o.idx = true;
            } else if is(option, "LEN") {
                o.len = true;
            } else if is(option, "WITHMATCHLEN") {
                o.with_match_len = true;
            } else if is(option, "MINMATCHLEN") && i + 1 < options.len() {
                i += 1;
                o.min_match_len = parse_i64(&options[i])?.max(0) as u64;
            } else {
                return Err(Status::Syntax);
            }
            i += 1;
        }
        if o.idx && o.len {
            return Err(Status::err(
                "ERR If you want both the length and indexes, please just use IDX.",
            ));
        }
        Ok(o)
    }
}

/// LCS's dynamic-programming table: cell (i, j) is the LCS length of a[..i] and b[..j].
struct LcsTable {
    width: usize,
    cells: Vec<u32>,
}

impl LcsTable {
    /// A zeroed table, refused as Redis refuses it: for strings too long to index with
    /// 32 bits, or a table larger than proto-max-bulk-len bytes.
    fn new(a: &[u8], b: &[u8], limit_bytes: u64) -> Result<LcsTable, Status> {
        if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
            return Err(Status::err("ERR String too long for LCS"));
        }
        let failed =
            || Status::err("ERR Insufficient memory, failed allocating transient memory for LCS");
        let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
        let bytes = cells.checked_mul(4).ok_or_else(failed)?;
        if bytes > limit_bytes {
            return Err(Status::err(
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len",
            ));
        }
        let mut table = Vec::new();
        table
            .try_reserve_exact(cells as usize)
            .map_err(|_| failed())?;
        table.resize(cells as usize, 0);
        Ok(LcsTable {
            width: b.len() + 1,
            cells: table,
        })
    }

    fn at(&self, i: usize, j: usize) -> u32 {
        self.cells[i * self.width + j]
    }

    /// Fills rows `rows` (each row i >= 1 needs row i - 1 done).
    fn fill_rows(&mut self, a: &[u8], b: &[u8], rows: std::ops::Range<usize>) {
        for i in rows {
            for j in 1..self.width {
                self.cells[i * self.width + j] = if a[i - 1] == b[j - 1] {
                    self.at(i - 1, j - 1) + 1
                } else {
                    self.at(i - 1, j).max(self.at(i, j - 1))
                };
            }
        }
    }

    fn len(&self) -> u32 {
        *self.cells.last().expect("a table has at least one cell")
    }
}

/// One matching range of LCS IDX: positions in a, in b, and its length.
#[derive(Debug, PartialEq, Eq)]
struct LcsRange {
    a: (u32, u32),
    b: (u32, u32),
    len: u32,
}

/// Walks the table back from the end as Redis does, collecting the common subsequence and
/// the ranges of contiguous matches (last range first) at least `min_len` long.
fn lcs_walk(table: &LcsTable, a: &[u8], b: &[u8], min_len: u64) -> (Vec<u8>, Vec<LcsRange>) {
    let mut idx = table.len() as usize;
    let mut common = vec![0u8; idx];
    let mut ranges = Vec::new();
    // `open` is the range being extended backwards: (a start, a end, b start, b end).
    let mut open: Option<(usize, usize, usize, usize)> = None;
    let (mut i, mut j) = (a.len(), b.len());
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            common[idx - 1] = a[i - 1];
            match &mut open {
                None => open = Some((i - 1, i - 1, j - 1, j - 1)),
                Some((a_start, _, b_start, _)) if *a_start == i && *b_start == j => {
                    *a_start -= 1;
                    *b_start -= 1;
                }
                Some(_) => emit = true,
            }
            if let Some((a_start, _, b_start, _)) = open {
                emit |= a_start == 0 || b_start == 0;
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if table.at(i - 1, j) > table.at(i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            emit = open.is_some();
        }
        if emit {
            let (a_start, a_end, b_start, b_end) = open.take().expect("emit needs a range");
            let len = (a_end - a_start + 1) as u32;
            if min_len == 0 || len as u64 >= min_len {
                ranges.push(LcsRange {
                    a: (a_start as u32, a_end as u32),
                    b: (b_start as u32, b_end as u32),
                    len,
                });
            }
        }
    }
    (common, ranges)
}

fn reply_lcs(r: &mut Reply, table: &LcsTable, a: &[u8], b: &[u8], options: &LcsOptions) {
    if options.len {
        r.int(table.len() as i64);
        return;
    }
    let (common, ranges) = lcs_walk(table, a, b, options.min_match_len);
    if !options.idx {
        r.bulk(&common);
        return;
    }
    r.map(2);
    r.bulk(b"matches");
    r.array(ranges.len());
    for range in &ranges {
        r.array(2 + options.with_match_len as usize);
        for (start, end) in [range.a, range.b] {
            r.array(2);
            r.int(start as i64);
            r.int(end as i64);
        }
        if options.with_match_len {
            r.int(range.len as i64);
        }
    }
    r.bulk(b"len");
    r.int(table.len() as i64);
}

// ---------------------------------------------------------------------------------------
// INCRBYFLOAT's number format

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
        "string",
        summary,
        since,
    )
}

const fn multi(
    name: &'static str,
    arity: i16,
    flags: u32,
    keys: KeySpec,
    handler: super::AsyncFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(
        name,
        arity,
        flags,
        keys,
        Handler::Multi(handler),
        "string",
        summary,
        since,
    )
}

/// Every key from the first, and (MSET, MSETNX) every other argument from the first.
const EACH_KEY: KeySpec = KeySpec {
    first: 1,
    last: -1,
    step: 1,
};
const EACH_PAIR: KeySpec = KeySpec {
    first: 1,
    last: -1,
    step: 2,
};
const TWO_KEYS: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
};

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    shard("get", 2, READONLY | FAST, get, "Get the value of a key", "1.0.0"),
    shard("set", -3, WRITE | DENYOOM, set, "Set the string value of a key", "1.0.0"),
    shard("setnx", 3, WRITE | DENYOOM | FAST, setnx, "Set the value of a key, only if the key does not exist", "1.0.0"),
    shard("setex", 4, WRITE | DENYOOM, setex, "Set the value and expiration of a key", "2.0.0"),
    shard("psetex", 4, WRITE | DENYOOM, psetex, "Set the value and expiration in milliseconds of a key", "2.6.0"),
    shard("getset", 3, WRITE | DENYOOM | FAST, getset, "Set the string value of a key and return its old value", "1.0.0"),
    shard("getdel", 2, WRITE | FAST, getdel, "Get the value of a key and delete the key", "6.2.0"),
    shard("getex", -2, WRITE | FAST, getex, "Get the value of a key and optionally set its expiration", "6.2.0"),
    shard("incr", 2, WRITE | DENYOOM | FAST, incr, "Increment the integer value of a key by one", "1.0.0"),
    shard("decr", 2, WRITE | DENYOOM | FAST, decr, "Decrement the integer value of a key by one", "1.0.0"),
    shard("incrby", 3, WRITE | DENYOOM | FAST, incrby, "Increment the integer value of a key by the given amount", "1.0.0"),
    shard("decrby", 3, WRITE | DENYOOM | FAST, decrby, "Decrement the integer value of a key by the given number", "1.0.0"),
    shard("incrbyfloat", 3, WRITE | DENYOOM | FAST, incrbyfloat, "Increment the float value of a key by the given amount", "2.6.0"),
    shard("append", 3, WRITE | DENYOOM | FAST, append, "Append a value to a key", "2.0.0"),
    shard("strlen", 2, READONLY | FAST, strlen, "Get the length of the value stored in a key", "2.2.0"),
    shard("getrange", 4, READONLY, getrange, "Get a substring of the string stored at a key", "2.4.0"),
    shard("substr", 4, READONLY, getrange, "Get a substring of the string stored at a key", "1.0.0"),
    shard("setrange", 4, WRITE | DENYOOM, setrange, "Overwrite part of a string at key starting at the specified offset", "2.2.0"),
    multi("mget", -2, READONLY | FAST, EACH_KEY, mget, "Get the values of all the given keys", "1.0.0"),
    multi("mset", -3, WRITE | DENYOOM, EACH_PAIR, mset, "Set multiple keys to multiple values", "1.0.1"),
    multi("msetnx", -3, WRITE | DENYOOM, EACH_PAIR, msetnx, "Set multiple keys to multiple values, only if none of the keys exist", "1.0.1"),
    multi("lcs", -3, READONLY, TWO_KEYS, lcs, "Find longest common substring", "7.0.0"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::table;
    use crate::resp::Proto;
    use crate::shard::{unix_ms, Shard};

    /// Runs one single-shard command as `execute_shard` does; returns the reply bytes.
    fn run(shard: &mut Shard, argv: &[&[u8]]) -> String {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for arg in argv {
            let start = buf.len() as u32;
            buf.extend_from_slice(arg);
            ranges.push((start, buf.len() as u32));
        }
        let (_, spec) = table().lookup(argv[0]).expect("a known command");
        let mut out = Vec::new();
        let mut reply = Reply::new(&mut out, Proto::Resp2);
        if !spec.arity_ok(argv.len()) {
            reply.error(&Status::WrongArity(spec.name.into()).text());
        } else {
            let Handler::Shard(handler) = spec.handler else {
                panic!("{} is not a single-shard command", spec.name);
            };
            let mut ctx = Ctx::new(shard, 0);
            if let Err(status) = handler(&mut ctx, &mut Args::new(&buf, &ranges), &mut reply) {
                reply.error(&status.text());
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Runs `line` split on spaces.
    fn cmd(shard: &mut Shard, line: &str) -> String {
        let argv: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        run(shard, &argv)
    }

    /// Runs each (request, reply) pair in order on one shard.
    fn script(pairs: &[(&str, &str)]) -> Shard {
        let mut shard = Shard::new(1);
        for (request, expected) in pairs {
            assert_eq!(cmd(&mut shard, request), *expected, "reply to {request}");
        }
        shard
    }

    fn expire_of(shard: &Shard, key: &str) -> Option<u64> {
        shard.dbs[0].raw_get(key.as_bytes()).map(|e| e.expire_at_ms)
    }

    const SYNTAX: &str = "-ERR syntax error\r\n";
    const NOT_INT: &str = "-ERR value is not an integer or out of range\r\n";
    const NOT_FLOAT: &str = "-ERR value is not a valid float\r\n";

    #[test]
    fn set_options_combine_as_in_redis() {
        script(&[
            ("SET k v ex 10 ex 20", "+OK\r\n"),
            ("SET k v ex 10 px 20", SYNTAX),
            ("SET k v ex abc foo", SYNTAX),
            ("SET k v ex abc", NOT_INT),
            ("SET k v ex 1.5", NOT_INT),
            ("SET k v ex +1", NOT_INT),
            (
                "SET k v ex 0",
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v px -1",
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v exat 0",
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            // Seconds that overflow once in milliseconds, or once now is added.
            (
                "SET k v ex 9223372036854776",
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v ex 9223372036854775",
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            (
                "SET k v px 9223372036854775807",
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            ("SET k v exat 9223372036854775", "+OK\r\n"),
            (
                "SET k v exat 9223372036854776",
                "-ERR invalid expire time in 'set' command\r\n",
            ),
            ("SET k v nx xx", SYNTAX),
            ("SET k v xx nx", SYNTAX),
            ("SET k v nx nx", "$-1\r\n"),
            ("SET k v get get", "$1\r\nv\r\n"),
            ("SET k v keepttl keepttl", "+OK\r\n"),
            ("SET k v keepttl ex 10", SYNTAX),
            ("SET k v ex 10 keepttl", SYNTAX),
            ("SET k v ex", SYNTAX),
            ("SET k v persist", SYNTAX),
            ("SET k x EX 5 nX GeT", "$1\r\nv\r\n"),
            ("SET k2 v nx get", "$-1\r\n"),
            ("GET k2", "$1\r\nv\r\n"),
            ("SET k3 v xx get", "$-1\r\n"),
            ("GET k3", "$-1\r\n"),
            ("SET k3 v xx", "$-1\r\n"),
            (
                "SET",
                "-ERR wrong number of arguments for 'set' command\r\n",
            ),
        ]);
    }

    #[test]
    fn set_stores_absolute_expiry_times() {
        let mut shard = Shard::new(1);
        let before = unix_ms();
        assert_eq!(cmd(&mut shard, "SET k v EX 100"), "+OK\r\n");
        let at = expire_of(&shard, "k").unwrap();
        assert!(at >= before + 100_000 && at <= unix_ms() + 100_000);
        // KEEPTTL keeps it, a plain SET and GETSET drop it.
        assert_eq!(cmd(&mut shard, "SET k w KEEPTTL"), "+OK\r\n");
        assert_eq!(expire_of(&shard, "k"), Some(at));
        assert_eq!(cmd(&mut shard, "SET k w"), "+OK\r\n");
        assert_eq!(expire_of(&shard, "k"), Some(0));
        assert_eq!(
            cmd(&mut shard, "SET k v PXAT 9223372036854775807"),
            "+OK\r\n"
        );
        assert_eq!(expire_of(&shard, "k"), Some(i64::MAX as u64));
        assert_eq!(cmd(&mut shard, "GETSET k x"), "$1\r\nv\r\n");
        assert_eq!(expire_of(&shard, "k"), Some(0));
        // An absolute time in the past sets the key, already expired.
        assert_eq!(cmd(&mut shard, "SET k v EXAT 1"), "+OK\r\n");
        assert_eq!(cmd(&mut shard, "GET k"), "$-1\r\n");
        assert_eq!(cmd(&mut shard, "SETEX k 10 v"), "+OK\r\n");
        let at = expire_of(&shard, "k").unwrap();
        assert!(at >= before + 10_000 && at <= unix_ms() + 10_000);
        assert_eq!(cmd(&mut shard, "PSETEX k 1500 v"), "+OK\r\n");
        let at = expire_of(&shard, "k").unwrap();
        assert!(at >= before + 1500 && at <= unix_ms() + 1500);
    }

    #[test]
    fn setnx_setex_psetex_getset_getdel() {
        script(&[
            ("SETNX k v", ":1\r\n"),
            ("SETNX k w", ":0\r\n"),
            ("GET k", "$1\r\nv\r\n"),
            (
                "SETEX k 0 v",
                "-ERR invalid expire time in 'setex' command\r\n",
            ),
            (
                "SETEX k -5 v",
                "-ERR invalid expire time in 'setex' command\r\n",
            ),
            ("SETEX k abc v", NOT_INT),
            (
                "SETEX k 9223372036854775 v",
                "-ERR invalid expire time in 'setex' command\r\n",
            ),
            (
                "PSETEX k 0 v",
                "-ERR invalid expire time in 'psetex' command\r\n",
            ),
            (
                "PSETEX k 9223372036854775807 v",
                "-ERR invalid expire time in 'psetex' command\r\n",
            ),
            (
                "SETEX k 10",
                "-ERR wrong number of arguments for 'setex' command\r\n",
            ),
            ("GETSET nokey v", "$-1\r\n"),
            ("GETSET nokey w", "$1\r\nv\r\n"),
            ("GETDEL gone", "$-1\r\n"),
            ("GETDEL k", "$1\r\nv\r\n"),
            ("GETDEL k", "$-1\r\n"),
            (
                "GETDEL a b",
                "-ERR wrong number of arguments for 'getdel' command\r\n",
            ),
        ]);
    }

    #[test]
    fn getex_checks_syntax_then_key_then_expiry() {
        let mut shard = script(&[
            ("GETEX nokey ex abc", "$-1\r\n"),
            ("GETEX nokey foo", SYNTAX),
            ("SET k v", "+OK\r\n"),
            (
                "GETEX k ex 0",
                "-ERR invalid expire time in 'getex' command\r\n",
            ),
            ("GETEX k ex abc", NOT_INT),
            ("GETEX k ex 10 px 10", SYNTAX),
            ("GETEX k persist ex 10", SYNTAX),
            ("GETEX k ex 10 persist", SYNTAX),
            ("GETEX k keepttl", SYNTAX),
            ("GETEX k nx", SYNTAX),
            ("GETEX k get", SYNTAX),
            ("GETEX k ex", SYNTAX),
            (
                "GETEX k ex 9223372036854775",
                "-ERR invalid expire time in 'getex' command\r\n",
            ),
            ("GETEX k", "$1\r\nv\r\n"),
            ("GETEX k ex 10 ex 20", "$1\r\nv\r\n"),
        ]);
        let at = expire_of(&shard, "k").unwrap();
        assert!(at > unix_ms() + 19_000 && at <= unix_ms() + 20_000);
        assert_eq!(cmd(&mut shard, "GETEX k"), "$1\r\nv\r\n");
        assert_eq!(expire_of(&shard, "k"), Some(at));
        assert_eq!(cmd(&mut shard, "GETEX k persist persist"), "$1\r\nv\r\n");
        assert_eq!(expire_of(&shard, "k"), Some(0));
        assert_eq!(
            cmd(&mut shard, "GETEX k pxat 9223372036854775807"),
            "$1\r\nv\r\n"
        );
        assert_eq!(expire_of(&shard, "k"), Some(i64::MAX as u64));
        // A time already past deletes the key, after replying its value.
        assert_eq!(cmd(&mut shard, "GETEX k exat 1"), "$1\r\nv\r\n");
        assert_eq!(shard.dbs[0].raw_get(b"k").map(|_| ()), None);
    }

    #[test]
    fn counters_parse_strictly_and_keep_the_expiry() {
        let mut shard = script(&[
            ("INCR n", ":1\r\n"),
            ("DECR m", ":-1\r\n"),
            ("INCRBY n 10", ":11\r\n"),
            ("INCRBY n abc", NOT_INT),
            ("INCRBY nokey 9223372036854775808", NOT_INT),
            ("DECRBY n 5", ":6\r\n"),
            (
                "DECRBY nokey -9223372036854775808",
                "-ERR decrement would overflow\r\n",
            ),
            ("DECRBY n 9223372036854775807", ":-9223372036854775801\r\n"),
            ("SET big 9223372036854775807", "+OK\r\n"),
            ("INCR big", "-ERR increment or decrement would overflow\r\n"),
            ("INCRBY big 0", ":9223372036854775807\r\n"),
            ("SET small -9223372036854775808", "+OK\r\n"),
            (
                "DECR small",
                "-ERR increment or decrement would overflow\r\n",
            ),
            ("INCRBY small 9223372036854775807", ":-1\r\n"),
            ("SET s 007", "+OK\r\n"),
            ("INCR s", NOT_INT),
            ("SET s +1", "+OK\r\n"),
            ("INCR s", NOT_INT),
            ("SET s 1.0", "+OK\r\n"),
            ("INCR s", NOT_INT),
            (
                "INCR n extra",
                "-ERR wrong number of arguments for 'incr' command\r\n",
            ),
            ("SET t 5 EX 100", "+OK\r\n"),
        ]);
        let at = expire_of(&shard, "t");
        assert_eq!(cmd(&mut shard, "INCR t"), ":6\r\n");
        assert_eq!(cmd(&mut shard, "INCRBYFLOAT t 1.5"), "$3\r\n7.5\r\n");
        assert_eq!(cmd(&mut shard, "GET t"), "$3\r\n7.5\r\n");
        assert_eq!(expire_of(&shard, "t"), at);
        assert_eq!(run(&mut shard, &[b"SET", b"s", b" 1"]), "+OK\r\n");
        assert_eq!(cmd(&mut shard, "INCR s"), NOT_INT);
        assert_eq!(run(&mut shard, &[b"SET", b"s", b""]), "+OK\r\n");
        assert_eq!(cmd(&mut shard, "DECR s"), NOT_INT);
    }

    #[test]
    fn incrbyfloat_replies_and_errors() {
        script(&[
            ("INCRBYFLOAT x 10.5", "$4\r\n10.5\r\n"),
            ("INCRBYFLOAT x 0.1", "$4\r\n10.6\r\n"),
            ("INCRBYFLOAT x -5", "$3\r\n5.6\r\n"),
            ("INCRBYFLOAT x 5.0e3", "$22\r\n5005.60000000000000009\r\n"),
            ("GET x", "$22\r\n5005.60000000000000009\r\n"),
            ("INCRBYFLOAT z abc", NOT_FLOAT),
            ("INCRBYFLOAT z nan", NOT_FLOAT),
            ("INCRBYFLOAT z 1e5000", NOT_FLOAT),
            ("INCRBYFLOAT z 1e-5000", NOT_FLOAT),
            ("INCRBYFLOAT z 1e", NOT_FLOAT),
            (
                "INCRBYFLOAT z inf",
                "-ERR increment would produce NaN or Infinity\r\n",
            ),
            (
                "INCRBYFLOAT z -Infinity",
                "-ERR increment would produce NaN or Infinity\r\n",
            ),
        ]);
        let mut shard = script(&[
            ("SET s abc", "+OK\r\n"),
            ("INCRBYFLOAT s 1", NOT_FLOAT),
            ("SET s inf", "+OK\r\n"),
            (
                "INCRBYFLOAT s 1",
                "-ERR increment would produce NaN or Infinity\r\n",
            ),
            ("SET s 1.18e4932", "+OK\r\n"),
            (
                "INCRBYFLOAT s 1.18e4932",
                "-ERR increment would produce NaN or Infinity\r\n",
            ),
            ("INCRBYFLOAT f 0x10", "$2\r\n16\r\n"),
            ("INCRBYFLOAT f -0x1p-2", "$5\r\n15.75\r\n"),
        ]);
        assert_eq!(run(&mut shard, &[b"SET", b"s", b"1\x002"]), "+OK\r\n");
        assert_eq!(cmd(&mut shard, "INCRBYFLOAT s 1"), NOT_FLOAT);
        assert_eq!(run(&mut shard, &[b"INCRBYFLOAT", b"s", b" 1"]), NOT_FLOAT);
        assert_eq!(run(&mut shard, &[b"INCRBYFLOAT", b"s", b""]), NOT_FLOAT);
        assert_eq!(cmd(&mut shard, "GET s"), "$3\r\n1\x002\r\n");
    }

    #[test]
    fn append_strlen_and_ranges() {
        let mut shard = script(&[
            ("APPEND a hello", ":5\r\n"),
            ("STRLEN a", ":5\r\n"),
            ("STRLEN nokey", ":0\r\n"),
            ("SET k Hello_World", "+OK\r\n"),
            ("GETRANGE k 0 3", "$4\r\nHell\r\n"),
            ("GETRANGE k -3 -1", "$3\r\nrld\r\n"),
            ("GETRANGE k 0 -1", "$11\r\nHello_World\r\n"),
            ("GETRANGE k 10 100", "$1\r\nd\r\n"),
            ("GETRANGE k -100 -50", "$1\r\nH\r\n"),
            ("GETRANGE k 0 -100", "$1\r\nH\r\n"),
            ("GETRANGE k -1 -5", "$0\r\n\r\n"),
            ("GETRANGE k -5 -100", "$0\r\n\r\n"),
            ("GETRANGE k 5 3", "$0\r\n\r\n"),
            ("GETRANGE k 11 11", "$0\r\n\r\n"),
            (
                "GETRANGE k -9223372036854775808 9223372036854775807",
                "$11\r\nHello_World\r\n",
            ),
            ("GETRANGE nokey 0 -1", "$0\r\n\r\n"),
            ("GETRANGE nokey a 1", NOT_INT),
            ("SUBSTR k 0 3", "$4\r\nHell\r\n"),
            (
                "SUBSTR k 0",
                "-ERR wrong number of arguments for 'substr' command\r\n",
            ),
            ("SETRANGE s 5 hi", ":7\r\n"),
            ("GET s", "$7\r\n\0\0\0\0\0hi\r\n"),
            ("SETRANGE s 1 XYZ", ":7\r\n"),
            ("GET s", "$7\r\n\0XYZ\0hi\r\n"),
            ("SETRANGE s -1 hi", "-ERR offset is out of range\r\n"),
            ("SETRANGE s abc hi", NOT_INT),
            ("SETRANGE s 9223372036854775808 x", NOT_INT),
            (
                "SETRANGE s 536870912 x",
                "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
            ),
            (
                "SETRANGE s 9223372036854775807 x",
                "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
            ),
            (
                "SETRANGE nokey2 536870912 x",
                "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n",
            ),
        ]);
        for (request, expected) in [
            (&[&b"APPEND"[..], b"a", b" world"][..], ":11\r\n"),
            (&[b"APPEND", b"a", b""], ":11\r\n"),
            (&[b"APPEND", b"e", b""], ":0\r\n"),
            (&[b"SET", b"em", b""], "+OK\r\n"),
            (&[b"GETRANGE", b"em", b"0", b"-1"], "$0\r\n\r\n"),
            (&[b"GETRANGE", b"em", b"-1", b"0"], "$0\r\n\r\n"),
            // Writing nothing changes nothing, whatever the offset.
            (&[b"SETRANGE", b"nokey", b"5", b""], ":0\r\n"),
            (&[b"SETRANGE", b"nokey", b"536870912", b""], ":0\r\n"),
            (&[b"SETRANGE", b"s", b"100", b""], ":7\r\n"),
        ] {
            assert_eq!(run(&mut shard, request), expected, "{request:?}");
        }
        assert!(
            shard.dbs[0].raw_get(b"e").is_some(),
            "APPEND of nothing creates the key"
        );
        assert!(shard.dbs[0].raw_get(b"nokey").is_none());
        assert_eq!(cmd(&mut shard, "GET a"), "$11\r\nhello world\r\n");
        // Both keep the key's expiry.
        assert_eq!(cmd(&mut shard, "SET t v EX 100"), "+OK\r\n");
        let at = expire_of(&shard, "t");
        assert_eq!(cmd(&mut shard, "SETRANGE t 0 w"), ":1\r\n");
        assert_eq!(cmd(&mut shard, "APPEND t x"), ":2\r\n");
        assert_eq!(expire_of(&shard, "t"), at);
    }

    #[test]
    fn append_refuses_to_outgrow_the_bulk_limit() {
        let mut shard = Shard::new(1);
        let limit = proto_max_bulk_len() as usize;
        let almost = vec![b'x'; limit];
        assert_eq!(run(&mut shard, &[b"SET", b"big", &almost]), "+OK\r\n");
        assert_eq!(
            cmd(&mut shard, "APPEND big y"),
            "-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
        );
        assert_eq!(cmd(&mut shard, "STRLEN big"), format!(":{limit}\r\n"));
    }

    /// The same sequence on redis-server 7.0.15 (plus an MGET and an LCS, 1 hit and 6
    /// misses between them) ends at keyspace_hits:9, keyspace_misses:12.
    #[test]
    fn reads_count_hits_and_misses_as_redis_does() {
        let mut shard = Shard::new(1);
        for line in [
            "SET a 1",
            "GET a",
            "GET nokey",
            "SET a 2 GET",
            "SET b 2 NX GET",
            "GETEX a",
            "GETEX nokey",
            "GETDEL b",
            "GETDEL b",
            "STRLEN a",
            "STRLEN nokey",
            "GETRANGE a 0 1",
            "GETRANGE nokey 0 1",
            "INCR a",
            "APPEND a x",
            "SETNX a 1",
            "GETSET a 5",
            "INCRBYFLOAT a 1",
            "SETRANGE a 1 x",
        ] {
            cmd(&mut shard, line);
        }
        let stats = shard.stats;
        assert_eq!((stats.keyspace_hits, stats.keyspace_misses), (7, 6));
    }

    fn walk(a: &str, b: &str, min_len: u64) -> (String, Vec<LcsRange>) {
        let (a, b) = (a.as_bytes(), b.as_bytes());
        let mut table = LcsTable::new(a, b, u64::MAX).unwrap();
        table.fill_rows(a, b, 1..a.len() + 1);
        let (common, ranges) = lcs_walk(&table, a, b, min_len);
        (String::from_utf8(common).unwrap(), ranges)
    }

    fn range(a: (u32, u32), b: (u32, u32), len: u32) -> LcsRange {
        LcsRange { a, b, len }
    }

    #[test]
    fn lcs_finds_redis_ranges() {
        let (common, ranges) = walk("ohmytext", "mynewtext", 0);
        assert_eq!(common, "mytext");
        assert_eq!(
            ranges,
            vec![range((4, 7), (5, 8), 4), range((2, 3), (0, 1), 2)]
        );
        assert_eq!(
            walk("ohmytext", "mynewtext", 4).1,
            vec![range((4, 7), (5, 8), 4)]
        );
        assert_eq!(walk("", "abc", 0), (String::new(), vec![]));
        assert_eq!(walk("abc", "xyz", 0), (String::new(), vec![]));
        let (common, ranges) = walk("abcabc", "abc", 0);
        assert_eq!(common, "abc");
        assert_eq!(ranges, vec![range((3, 5), (0, 2), 3)]);
    }

    #[test]
    fn lcs_options_and_limits() {
        let options = |list: &[&str]| {
            LcsOptions::parse(
                &list
                    .iter()
                    .map(|o| o.as_bytes().to_vec())
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            options(&["idx", "MINMATCHLEN", "-5", "withmatchlen"]),
            Ok(LcsOptions {
                idx: true,
                with_match_len: true,
                ..LcsOptions::default()
            })
        );
        assert_eq!(options(&["foo"]), Err(Status::Syntax));
        assert_eq!(options(&["minmatchlen"]), Err(Status::Syntax));
        assert_eq!(options(&["minmatchlen", "abc"]), Err(Status::NotInteger));
        let both = Status::err("ERR If you want both the length and indexes, please just use IDX.");
        assert_eq!(options(&["len", "idx"]), Err(both.clone()));
        assert_eq!(options(&["idx", "idx", "len"]), Err(both));
        // (511 + 1)^2 cells of 4 bytes fit in 1 MiB exactly; (599 + 1)^2 do not.
        assert!(LcsTable::new(&[0; 511], &[1; 511], 1 << 20).is_ok());
        assert_eq!(
            LcsTable::new(&[0; 599], &[1; 599], 1 << 20).err(),
            Some(Status::err(
                "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len"
            ))
        );
    }

    #[test]
    fn table_rows_match_redis_command_info() {
        let find = |name: &str| COMMANDS.iter().find(|s| s.name == name).unwrap();
        assert_eq!(COMMANDS.len(), 22);
        assert_eq!(
            find("mset").keys.positions(5).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(
            find("lcs").keys.positions(5).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert!(matches!(find("getex").handler, Handler::Shard(_)));
        assert!(matches!(find("msetnx").handler, Handler::Multi(_)));
        assert_eq!(
            (find("getex").arity, find("getex").flags),
            (-2, WRITE | FAST)
        );
    }
}

//! List commands, with Redis 7.0's replies and error texts.
//!
//! ```text
//! one key, Handler::Shard on the owning core
//!   write  LPUSH RPUSH LPUSHX RPUSHX LPOP RPOP LSET LINSERT LREM LTRIM
//!   read   LLEN LRANGE LINDEX LPOS
//! keys on any cores, Handler::Multi holding the cores of its keys (core::multi)
//!   write  LMOVE RPOPLPUSH LMPOP
//! ```
//!
//! Every single-key write is a function of the keyspace and its arguments, so the CMD
//! effect logged for it replays to the same list (an emptied list is deleted, as in
//! Redis). The multi-key commands record what they did as the single-key commands it
//! amounts to (`LMOVE a b RIGHT LEFT` as `RPOP a` then `LPUSH b v`; `LMPOP` as
//! `LPOP k count`, which is also how Redis propagates them), each op on the core owning
//! its key: O(1) records instead of whole-list PUTs.
//!
//! The blocking forms (BLPOP...) live in command/blocking.rs and reuse the pops here.

use super::args::{is, parse_i64, Args};
use super::session::Session;
use super::Handler::{self, Shard as OnShard};
use super::{flags::*, KeySpec, Spec, Status, NO_KEYS, ONE_KEY};
use crate::core::multi::MultiCore;
use crate::resp::Reply;
use crate::shard::effect;
use crate::shard::list::{End, Fill, List};
use crate::shard::notify::class;
use crate::shard::slot::key_core;
use crate::shard::value::{parse_i64_strict, Value};
use crate::shard::Ctx;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::collections::BTreeMap;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// The list stored in `value`, or WRONGTYPE.
pub fn list_of(value: &Value) -> Result<&List, Status> {
    match value {
        Value::List(list) => Ok(list),
        _ => Err(Status::WrongType),
    }
}

fn list_mut(value: &mut Value) -> Result<&mut List, Status> {
    match value {
        Value::List(list) => Ok(list),
        _ => Err(Status::WrongType),
    }
}

/// The node size: the shard's copy of `list-max-listpack-size`, read once and then kept
/// current by CONFIG SET, so a push takes no lock.
pub fn fill(ctx: &mut Ctx) -> Fill {
    *ctx.shard
        .list_fill
        .get_or_insert_with(|| Fill::configured(&crate::server::CONFIG))
}

/// The list at `key` for a read (counts a hit or miss); None when the key is missing.
fn read<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c List>, Status> {
    ctx.lookup_read(key)
        .map(|entry| list_of(&entry.value))
        .transpose()
}

/// The list at `key` for a change; None when the key is missing.
fn write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut List>, Status> {
    ctx.lookup_write(key)
        .map(|entry| list_mut(&mut entry.value))
        .transpose()
}

/// The list at `key` for a push, created empty when missing. The creation is not logged
/// as a value of its own: the push that follows (its CMD, or the CMD a multi-core step
/// records) recreates it on replay.
fn write_or_create<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<&'c mut List, Status> {
    if write(ctx, key)?.is_none() {
        let clock = ctx.shard.fresh_lru();
        ctx.notify_new(key);
        ctx.db().insert(key, Value::List(List::default()), 0, clock);
    }
    Ok(write(ctx, key)?.expect("present or just created"))
}

/// Deletes `key` if its list is now empty (Redis never keeps an empty list).
fn delete_if_empty(ctx: &mut Ctx, key: &[u8]) {
    let empty = matches!(
        ctx.db().raw_get(key).map(|entry| &entry.value),
        Some(Value::List(list)) if list.is_empty()
    );
    if empty {
        ctx.delete(key);
        ctx.notify(class::GENERIC, "del", key);
    }
}

/// The event name of a push or pop at `end`, as Redis names it.
fn event_name(end: End, pop: bool) -> &'static str {
    match (end, pop) {
        (End::Left, true) => "lpop",
        (End::Right, true) => "rpop",
        (End::Left, false) => "lpush",
        (End::Right, false) => "rpush",
    }
}

/// In a multi-core step, records `args` as a CMD op on this shard (a single-key list
/// command that replays to what the step just did to its key).
fn record(ctx: &mut Ctx, args: &[&[u8]]) {
    if !ctx.shard.journal.recording() {
        return;
    }
    let (db, now_ms) = (ctx.db, ctx.now_ms());
    effect::cmd(ctx.shard.journal.ops(), db, now_ms, args.iter().copied());
}

fn end_name(end: End, pop: bool) -> &'static [u8] {
    match (end, pop) {
        (End::Left, true) => b"LPOP",
        (End::Right, true) => b"RPOP",
        (End::Left, false) => b"LPUSH",
        (End::Right, false) => b"RPUSH",
    }
}

/// LEFT or RIGHT (Redis's getListPositionFromObjectOrReply).
pub fn parse_end(arg: &[u8]) -> Result<End, Status> {
    if is(arg, "LEFT") {
        Ok(End::Left)
    } else if is(arg, "RIGHT") {
        Ok(End::Right)
    } else {
        Err(Status::Syntax)
    }
}

/// Redis's getRangeLongFromObjectOrReply with a message: a non-integer and an integer
/// below `min` both get `message`.
fn at_least(arg: &[u8], min: i64, message: &'static str) -> Result<i64, Status> {
    parse_i64_strict(arg)
        .filter(|&n| n >= min)
        .ok_or(Status::err(message))
}

/// Redis's getPositiveLongFromObjectOrReply.
fn positive(arg: &[u8], message: &'static str) -> Result<i64, Status> {
    at_least(arg, 0, message)
}

const MUST_BE_POSITIVE: &str = "ERR value is out of range, must be positive";

// ---------------------------------------------------------------------------------------
// Pushing: LPUSH RPUSH LPUSHX RPUSHX

/// Pushes every remaining argument at `end`; with `only_existing` a missing key is left
/// alone. Returns the new length (0 when nothing was created).
fn push_all(
    ctx: &mut Ctx,
    args: &mut Args,
    end: End,
    only_existing: bool,
) -> Result<usize, Status> {
    let key = args.required()?;
    let fill = fill(ctx);
    // One lookup on the hot path: push into the list found, or build a new one aside.
    let len = if let Some(entry) = ctx.lookup_write(key) {
        let list = list_mut(&mut entry.value)?;
        args.rest().for_each(|value| list.push(end, value, fill));
        list.len()
    } else if only_existing {
        return Ok(0);
    } else {
        let mut list = List::default();
        args.rest().for_each(|value| list.push(end, value, fill));
        let len = list.len();
        let clock = ctx.shard.fresh_lru();
        ctx.notify_new(key);
        ctx.db().insert(key, Value::List(list), 0, clock);
        len
    };
    ctx.notify(class::LIST, event_name(end, false), key);
    crate::shard::blocking::key_pushed(ctx, key);
    Ok(len)
}

fn lpush(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    reply.int(push_all(ctx, args, End::Left, false)? as i64);
    Ok(())
}

fn rpush(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    reply.int(push_all(ctx, args, End::Right, false)? as i64);
    Ok(())
}

fn lpushx(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    reply.int(push_all(ctx, args, End::Left, true)? as i64);
    Ok(())
}

fn rpushx(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    reply.int(push_all(ctx, args, End::Right, true)? as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Popping: LPOP RPOP

/// Pops up to `count` elements at `end` of the list at `key` (which must hold a non-empty
/// list), deleting the key when it empties.
pub fn pop_some(ctx: &mut Ctx, key: &[u8], end: End, count: usize) -> Vec<Vec<u8>> {
    let list = write(ctx, key)
        .ok()
        .flatten()
        .expect("the caller checked for a list");
    let take = count.min(list.len());
    let popped = (0..take).map(|_| list.pop(end).expect("counted")).collect();
    ctx.notify(class::LIST, event_name(end, true), key);
    delete_if_empty(ctx, key);
    popped
}

/// LPOP/RPOP key [count]: the count is checked before the key, as in Redis; without a
/// count a bulk or null, with one an array (null array when the key is missing).
fn pop(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply, end: End) -> Result<(), Status> {
    let key = args.required()?;
    let count = args
        .next()
        .map(|arg| positive(arg, MUST_BE_POSITIVE))
        .transpose()?;
    if args.remaining() > 0 {
        let name = String::from_utf8_lossy(args.name()).to_ascii_lowercase();
        return Err(Status::WrongArity(name));
    }
    let Some(entry) = ctx.lookup_write(key) else {
        match count {
            Some(_) => reply.null_array(),
            None => reply.null(),
        }
        return Ok(());
    };
    // One lookup, and each element goes from its node straight into the reply.
    let list = list_mut(&mut entry.value)?;
    match count {
        None => {
            let popped = list.pop_with(end, |value| reply.bulk(value));
            debug_assert!(popped.is_some(), "stored lists are never empty");
        }
        Some(count) => {
            let count = (count as usize).min(list.len());
            reply.array(count);
            for _ in 0..count {
                list.pop_with(end, |value| reply.bulk(value));
            }
        }
    }
    let emptied = list.is_empty();
    if count != Some(0) {
        ctx.notify(class::LIST, event_name(end, true), key);
    }
    if emptied {
        ctx.delete(key);
        ctx.notify(class::GENERIC, "del", key);
    }
    Ok(())
}

fn lpop(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    pop(ctx, args, reply, End::Left)
}

fn rpop(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    pop(ctx, args, reply, End::Right)
}

// ---------------------------------------------------------------------------------------
// Reading: LLEN LINDEX LRANGE LPOS

fn llen(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    reply.int(read(ctx, key)?.map_or(0, List::len) as i64);
    Ok(())
}

/// A Redis index (negative counts from the tail) as a position, if in range.
fn position(index: i64, len: usize) -> Option<usize> {
    let index = if index < 0 {
        index.checked_add(len as i64)?
    } else {
        index
    };
    usize::try_from(index).ok().filter(|&i| i < len)
}

fn lindex(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let index = args.required()?;
    // The key is looked at before the index is parsed, as in Redis.
    let Some(list) = read(ctx, key)? else {
        reply.null();
        return Ok(());
    };
    let index = parse_i64(index)?;
    match Some(list).and_then(|list| list.get(position(index, list.len())?)) {
        Some(value) => reply.bulk(value),
        None => reply.null(),
    }
    Ok(())
}

/// Redis's range arithmetic (LRANGE, LTRIM): negative ends count from the tail, the start
/// is clamped at 0 and the stop at the last element. None when the range is empty.
fn range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (start + len).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { stop + len } else { stop };
    if start > stop || start >= len {
        return None;
    }
    Some((start as usize, stop.min(len - 1) as usize))
}

/// LRANGE: the indexes are parsed before the key is looked at, as in Redis.
fn lrange(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let start = parse_i64(args.required()?)?;
    let stop = parse_i64(args.required()?)?;
    let Some(list) = read(ctx, key)? else {
        reply.array(0);
        return Ok(());
    };
    let Some((start, stop)) = range(start, stop, list.len()) else {
        reply.array(0);
        return Ok(());
    };
    reply.array(stop - start + 1);
    list.iter_from(start)
        .take(stop - start + 1)
        .for_each(|value| reply.bulk(value));
    Ok(())
}

/// LPOS's options: rank (which match to start from, negative from the tail), count (None
/// without COUNT; 0 means every match) and maxlen (0: the whole list).
struct LposOptions {
    rank: i64,
    count: Option<usize>,
    maxlen: usize,
}

fn lpos_options(args: &mut Args) -> Result<LposOptions, Status> {
    let mut options = LposOptions {
        rank: 1,
        count: None,
        maxlen: 0,
    };
    while let Some(option) = args.next() {
        let value = args.required()?;
        if is(option, "RANK") {
            options.rank = parse_i64(value)?;
            if options.rank == 0 {
                return Err(Status::err(
                    "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                ));
            }
        } else if is(option, "COUNT") {
            options.count = Some(positive(value, "ERR COUNT can't be negative")? as usize);
        } else if is(option, "MAXLEN") {
            options.maxlen = positive(value, "ERR MAXLEN can't be negative")? as usize;
        } else {
            return Err(Status::Syntax);
        }
    }
    Ok(options)
}

/// LPOS key element [RANK rank] [COUNT num] [MAXLEN len]: without COUNT the first
/// matching index (after skipping rank-1 matches) or null; with COUNT an array.
fn lpos(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let element = args.required()?;
    let options = lpos_options(args)?;
    let Some(list) = read(ctx, key)? else {
        match options.count {
            Some(_) => reply.array(0),
            None => reply.null(),
        }
        return Ok(());
    };
    let found = lpos_matches(list, element, &options);
    match options.count {
        Some(_) => {
            reply.array(found.len());
            found.iter().for_each(|&index| reply.int(index as i64));
        }
        None => match found.first() {
            Some(&index) => reply.int(index as i64),
            None => reply.null(),
        },
    }
    Ok(())
}

/// The indexes LPOS answers with, in the order found.
fn lpos_matches(list: &List, element: &[u8], options: &LposOptions) -> Vec<usize> {
    let wanted = match options.count {
        None => 1,
        Some(0) => usize::MAX,
        Some(n) => n,
    };
    let maxlen = if options.maxlen == 0 {
        usize::MAX
    } else {
        options.maxlen
    };
    // Redis 7.0 negates the rank in a long: LONG_MIN stays negative and then counts as
    // "the first match from the tail".
    let mut skip = match options.rank {
        i64::MIN => 0,
        rank => rank.unsigned_abs() - 1,
    };
    let len = list.len();
    let candidates: Box<dyn Iterator<Item = (usize, &[u8])>> = if options.rank > 0 {
        Box::new(list.iter().enumerate())
    } else {
        Box::new(list.iter().rev().enumerate().map(|(i, v)| (len - 1 - i, v)))
    };
    let mut found = Vec::new();
    for (index, value) in candidates.take(maxlen) {
        if value != element {
            continue;
        }
        if skip > 0 {
            skip -= 1;
            continue;
        }
        found.push(index);
        if found.len() >= wanted {
            break;
        }
    }
    found
}

// ---------------------------------------------------------------------------------------
// Editing: LSET LINSERT LREM LTRIM

/// LSET: the key is looked at before the index is parsed, as in Redis.
fn lset(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let index = args.required()?;
    let value = args.required()?;
    let fill = fill(ctx);
    let list = write(ctx, key)?.ok_or(Status::NoSuchKey)?;
    let index = parse_i64(index)?;
    let at = position(index, list.len()).ok_or(Status::OutOfRange)?;
    list.set(at, value, fill);
    ctx.notify(class::LIST, "lset", key);
    reply.ok();
    Ok(())
}

/// LINSERT key BEFORE|AFTER pivot element: the new length, -1 without the pivot, 0
/// without the key.
fn linsert(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let side = args.required()?;
    let after = match () {
        _ if is(side, "AFTER") => true,
        _ if is(side, "BEFORE") => false,
        _ => return Err(Status::Syntax),
    };
    let pivot = args.required()?;
    let value = args.required()?;
    let fill = fill(ctx);
    let Some(list) = write(ctx, key)? else {
        reply.int(0);
        return Ok(());
    };
    let Some(at) = list.iter().position(|v| v == pivot) else {
        reply.int(-1);
        return Ok(());
    };
    list.insert(at + after as usize, value, fill);
    reply.int(list.len() as i64);
    ctx.notify(class::LIST, "linsert", key);
    crate::shard::blocking::key_pushed(ctx, key);
    Ok(())
}

/// LREM key count element: count > 0 removes the first matches from the head, < 0 from
/// the tail, 0 every match.
fn lrem(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let count = parse_i64(args.required()?)?;
    let element = args.required()?;
    let fill = fill(ctx);
    let Some(list) = write(ctx, key)? else {
        reply.int(0);
        return Ok(());
    };
    let limit = match count {
        0 => usize::MAX,
        n => n.unsigned_abs() as usize,
    };
    let removed = if count >= 0 {
        let mut seen = 0;
        list.retain(fill, |_, value| {
            let drop = value == element && seen < limit;
            seen += drop as usize;
            !drop
        })
    } else {
        // The index of the last match to remove, counting matches from the tail.
        let len = list.len();
        let from = list
            .iter()
            .rev()
            .enumerate()
            .filter(|(_, value)| *value == element)
            .take(limit)
            .last()
            .map_or(len, |(i, _)| len - 1 - i);
        list.retain(fill, |index, value| index < from || value != element)
    };
    if removed > 0 {
        ctx.notify(class::LIST, "lrem", key);
    }
    delete_if_empty(ctx, key);
    reply.int(removed as i64);
    Ok(())
}

/// LTRIM: the indexes are parsed first; a range that keeps nothing deletes the key.
fn ltrim(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let start = parse_i64(args.required()?)?;
    let stop = parse_i64(args.required()?)?;
    if let Some(list) = write(ctx, key)? {
        let kept = range(start, stop, list.len());
        if let Some((start, stop)) = kept {
            list.trim(start, stop);
        }
        ctx.notify(class::LIST, "ltrim", key);
        if kept.is_none() {
            ctx.delete(key);
            ctx.notify(class::GENERIC, "del", key);
        }
    }
    reply.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// LMOVE RPOPLPUSH

/// Whether `key` may receive a push (missing or a list).
fn pushable(ctx: &mut Ctx, key: &[u8]) -> bool {
    ctx.lookup_write(key)
        .is_none_or(|entry| matches!(entry.value, Value::List(_)))
}

/// Pops one element at `from` for a move: None when the source is missing; WRONGTYPE for
/// a source of another type, or (when there is something to move) a destination that
/// cannot take it.
///
/// Raises no event: `push_moved` raises the move's events, in Redis's order (the push,
/// then the pop), once the element is pushed, even when the source is on another core.
fn take_for_move(
    ctx: &mut Ctx,
    src: &[u8],
    from: End,
    dst_ok: bool,
) -> Result<Option<Taken>, Status> {
    let Some(list) = write(ctx, src)? else {
        return Ok(None);
    };
    if !dst_ok {
        return Err(Status::WrongType);
    }
    let value = list.pop(from).expect("stored lists are never empty");
    let emptied = list.is_empty();
    if emptied {
        ctx.delete(src);
    }
    record(ctx, &[end_name(from, true), src]);
    Ok(Some(Taken {
        value,
        src: src.to_vec(),
        from,
        emptied,
    }))
}

/// An element a move took from its source, and what the source's events need.
pub struct Taken {
    pub value: Vec<u8>,
    src: Vec<u8>,
    from: End,
    emptied: bool,
}

/// Pushes a moved element (the destination was checked), then raises the move's events
/// as Redis does: `new` and the push on the destination, the pop (and `del` when it
/// emptied) on the source.
pub fn push_moved(ctx: &mut Ctx, dst: &[u8], to: End, taken: &Taken) {
    let fill = fill(ctx);
    write_or_create(ctx, dst)
        .expect("the destination was checked")
        .push(to, &taken.value, fill);
    record(ctx, &[end_name(to, false), dst, &taken.value]);
    ctx.notify(class::LIST, event_name(to, false), dst);
    ctx.notify(class::LIST, event_name(taken.from, true), &taken.src);
    if taken.emptied {
        ctx.notify(class::GENERIC, "del", &taken.src);
    }
    crate::shard::blocking::key_pushed(ctx, dst);
}

/// Both keys on one core: the whole move in one step. Ok(moved element).
pub fn move_on_one_core(
    ctx: &mut Ctx,
    src: &[u8],
    dst: &[u8],
    from: End,
    to: End,
) -> Result<Option<Vec<u8>>, Status> {
    if write(ctx, src)?.is_none() {
        return Ok(None);
    }
    let dst_ok = pushable(ctx, dst);
    let Some(taken) = take_for_move(ctx, src, from, dst_ok)? else {
        return Ok(None);
    };
    push_moved(ctx, dst, to, &taken);
    Ok(Some(taken.value))
}

/// LMOVE with both cores held: the destination's type is checked on its core, the
/// element taken on the source's, then pushed on the destination's.
pub async fn move_element(
    op: &mut MultiCore,
    db: usize,
    (src_core, src): (usize, Vec<u8>),
    (dst_core, dst): (usize, Vec<u8>),
    (from, to): (End, End),
) -> Result<Option<Vec<u8>>, Status> {
    if src_core == dst_core {
        return op
            .run(src_core, move |shard| {
                move_on_one_core(&mut Ctx::new(shard, db), &src, &dst, from, to)
            })
            .await;
    }
    let checked = dst.clone();
    let dst_ok = op
        .run(dst_core, move |shard| {
            pushable(&mut Ctx::new(shard, db), &checked)
        })
        .await;
    let taken = op
        .run(src_core, move |shard| {
            take_for_move(&mut Ctx::new(shard, db), &src, from, dst_ok)
        })
        .await?;
    let Some(taken) = taken else {
        return Ok(None);
    };
    let value = taken.value.clone();
    op.run(dst_core, move |shard| {
        push_moved(&mut Ctx::new(shard, db), &dst, to, &taken)
    })
    .await;
    Ok(Some(value))
}

async fn move_generic(s: &mut Session, argv: Argv, from: End, to: End) -> Result<(), Status> {
    let db = s.db;
    let (src, dst) = (argv[1].clone(), argv[2].clone());
    let (src_core, dst_core) = (key_core(&src, s.core.cores), key_core(&dst, s.core.cores));
    let mut op = MultiCore::new(s, [src_core, dst_core]);
    let moved = move_element(&mut op, db, (src_core, src), (dst_core, dst), (from, to)).await;
    // Clients blocked on the destination were served as the move ended: by its step
    // on one core, or as its holds were released (core/multi.rs, core/hold.rs).
    op.finish().await;
    match moved? {
        Some(value) => s.reply().bulk(&value),
        None => s.reply().null(),
    }
    Ok(())
}

fn lmove(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let from = parse_end(&argv[3])?;
        let to = parse_end(&argv[4])?;
        move_generic(s, argv, from, to).await
    }
    .boxed_local()
}

fn rpoplpush(s: &mut Session, argv: Argv) -> Done<'_> {
    move_generic(s, argv, End::Right, End::Left).boxed_local()
}

// ---------------------------------------------------------------------------------------
// LMPOP

/// LMPOP's arguments: keys, the end, and how many elements at most.
pub struct Mpop {
    pub keys: Vec<Vec<u8>>,
    pub end: End,
    pub count: usize,
}

/// Parses `numkeys key... LEFT|RIGHT [COUNT count]` from `argv[at..]`, with Redis's
/// checks in its order.
pub fn parse_mpop(argv: &Argv, at: usize) -> Result<Mpop, Status> {
    let numkeys = at_least(&argv[at], 1, "ERR numkeys should be greater than 0")?;
    let end_at = (numkeys as usize)
        .checked_add(at + 1)
        .filter(|&e| e < argv.len());
    let end_at = end_at.ok_or(Status::Syntax)?;
    let end = parse_end(&argv[end_at])?;
    let mut count = None;
    let mut i = end_at + 1;
    while i < argv.len() {
        if count.is_none() && is(&argv[i], "COUNT") && i + 1 < argv.len() {
            let n = at_least(&argv[i + 1], 1, "ERR count should be greater than 0")?;
            count = Some(n as usize);
            i += 2;
        } else {
            return Err(Status::Syntax);
        }
    }
    Ok(Mpop {
        keys: argv[at + 1..end_at].to_vec(),
        end,
        count: count.unwrap_or(1),
    })
}

/// What an LMPOP popped: the key and its elements.
pub type Popped = (Vec<u8>, Vec<Vec<u8>>);

/// What one key offers an LMPOP.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Offer {
    Nothing,
    List,
    WrongType,
}

pub fn offer(ctx: &mut Ctx, key: &[u8]) -> Offer {
    match ctx.lookup_write(key).map(|entry| &entry.value) {
        None => Offer::Nothing,
        Some(Value::List(_)) => Offer::List,
        Some(_) => Offer::WrongType,
    }
}

/// Pops for LMPOP from the first key offering a list, among `keys` (all on this shard,
/// in argument order). Err on a key of another type before it.
pub fn mpop_here(
    ctx: &mut Ctx,
    keys: &[Vec<u8>],
    end: End,
    count: usize,
) -> Result<Option<Popped>, Status> {
    for key in keys {
        match offer(ctx, key) {
            Offer::Nothing => continue,
            Offer::WrongType => return Err(Status::WrongType),
            Offer::List => {
                let n = count.to_string();
                record(ctx, &[end_name(end, true), key, n.as_bytes()]);
                return Ok(Some((key.clone(), pop_some(ctx, key, end, count))));
            }
        }
    }
    Ok(None)
}

/// LMPOP over keys on any cores, every core held: each core says what its keys offer,
/// then the first key in argument order that offers something decides.
pub async fn mpop(
    op: &mut MultiCore,
    db: usize,
    cores: usize,
    request: &Mpop,
) -> Result<Option<Popped>, Status> {
    let mut by_core: BTreeMap<usize, Vec<Vec<u8>>> = BTreeMap::new();
    for key in &request.keys {
        by_core
            .entry(key_core(key, cores))
            .or_default()
            .push(key.clone());
    }
    let (end, count) = (request.end, request.count);
    if by_core.len() == 1 {
        let (core, keys) = by_core.pop_first().expect("one core");
        return op
            .run(core, move |shard| {
                mpop_here(&mut Ctx::new(shard, db), &keys, end, count)
            })
            .await;
    }
    let mut offers: Vec<(Vec<u8>, Offer)> = Vec::new();
    for (core, keys) in by_core {
        let found = op
            .run(core, move |shard| {
                let mut ctx = Ctx::new(shard, db);
                keys.into_iter()
                    .map(|key| {
                        let offered = offer(&mut ctx, &key);
                        (key, offered)
                    })
                    .collect::<Vec<_>>()
            })
            .await;
        offers.extend(found);
    }
    let first = request.keys.iter().find_map(|key| {
        let (_, offered) = offers.iter().find(|(k, _)| k == key)?;
        (*offered != Offer::Nothing).then_some((key.clone(), *offered))
    });
    match first {
        None => Ok(None),
        Some((_, Offer::WrongType)) => Err(Status::WrongType),
        Some((key, _)) => {
            let core = key_core(&key, cores);
            op.run(core, move |shard| {
                mpop_here(&mut Ctx::new(shard, db), &[key], end, count)
            })
            .await
        }
    }
}

/// `[key, [elements]]`, LMPOP's and BLMPOP's reply.
pub fn reply_mpop(reply: &mut Reply, popped: Option<Popped>) {
    let Some((key, values)) = popped else {
        reply.null_array();
        return;
    };
    reply.array(2);
    reply.bulk(&key);
    reply.array(values.len());
    values.iter().for_each(|value| reply.bulk(value));
}

fn lmpop(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let request = parse_mpop(&argv, 1)?;
        let db = s.db;
        let cores = request.keys.iter().map(|key| key_core(key, s.core.cores));
        let mut op = MultiCore::new(s, cores);
        let popped = mpop(&mut op, db, s.core.cores, &request).await;
        op.finish().await;
        reply_mpop(&mut s.reply(), popped?);
        Ok(())
    }
    .boxed_local()
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
        OnShard(handler),
        "list",
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
        "list",
        summary,
        since,
    )
}

const SRC_DST: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
};

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS. LMPOP's keys follow a count (Redis's movablekeys: 0 0 0).
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    shard("lpush", -3, WRITE | DENYOOM | FAST, lpush, "Prepend one or multiple elements to a list", "1.0.0"),
    shard("rpush", -3, WRITE | DENYOOM | FAST, rpush, "Append one or multiple elements to a list", "1.0.0"),
    shard("lpushx", -3, WRITE | DENYOOM | FAST, lpushx, "Prepend an element to a list, only if the list exists", "2.2.0"),
    shard("rpushx", -3, WRITE | DENYOOM | FAST, rpushx, "Append an element to a list, only if the list exists", "2.2.0"),
    shard("lpop", -2, WRITE | FAST, lpop, "Remove and get the first elements in a list", "1.0.0"),
    shard("rpop", -2, WRITE | FAST, rpop, "Remove and get the last elements in a list", "1.0.0"),
    shard("llen", 2, READONLY | FAST, llen, "Get the length of a list", "1.0.0"),
    shard("lrange", 4, READONLY, lrange, "Get a range of elements from a list", "1.0.0"),
    shard("lindex", 3, READONLY, lindex, "Get an element from a list by its index", "1.0.0"),
    shard("lset", 4, WRITE | DENYOOM, lset, "Set the value of an element in a list by its index", "1.0.0"),
    shard("linsert", 5, WRITE | DENYOOM, linsert, "Insert an element before or after another element in a list", "2.2.0"),
    shard("lrem", 4, WRITE, lrem, "Remove elements from a list", "1.0.0"),
    shard("ltrim", 4, WRITE, ltrim, "Trim a list to the specified range", "1.0.0"),
    shard("lpos", -3, READONLY, lpos, "Return the index of matching elements on a list", "6.0.6"),
    multi("lmove", 5, WRITE | DENYOOM, SRC_DST, lmove, "Pop an element from a list, push it to another list and return it", "6.2.0"),
    multi("rpoplpush", 3, WRITE | DENYOOM, SRC_DST, rpoplpush, "Remove the last element in a list, prepend it to another list and return it", "1.2.0"),
    multi("lmpop", -4, WRITE, NO_KEYS, lmpop, "Pop elements from a list", "7.0.0"),
];

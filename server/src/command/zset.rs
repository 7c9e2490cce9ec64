//! Sorted set commands with one key, with Redis 7.0's replies and error texts; they run
//! as `Handler::Shard` on the core owning the key. The commands naming several keys
//! (ZUNION/ZINTER/ZDIFF and their STORE forms, ZINTERCARD, ZRANGESTORE, ZMPOP) are in
//! zset_multi.rs; this file ends with the table rows of the whole family.
//!
//! ```text
//! write  ZADD ZINCRBY ZREM ZPOPMIN ZPOPMAX ZREMRANGEBYRANK/SCORE/LEX
//!        (an emptied set is deleted)
//! read   ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK ZCOUNT ZLEXCOUNT ZRANDMEMBER ZSCAN
//!        ZRANGE ZREVRANGE ZRANGEBYSCORE ZREVRANGEBYSCORE ZRANGEBYLEX ZREVRANGEBYLEX
//! ```
//!
//! Every range is answered by rank (see shard/zset.rs): a rank, score or lex range with
//! its direction and LIMIT becomes one range of ranks (zset_range.rs reads and resolves
//! them), walked forwards or backwards.
//!
//! Writes are functions of the keyspace and their arguments (ZADD INCR stores the sum it
//! computed, pops take the lowest or highest elements), so the CMD effect logged for them
//! replays to the same set. ZRANDMEMBER is a read; it draws from the shard's random
//! source.

use super::args::{is, parse_i64, Args};
use super::glob::glob_match;
use super::keys::parse_scan_cursor;
use super::zset_range::{
    lex_range, lex_ranks, rank_range, score_arg, score_range, score_ranks, By, RangeQuery,
};
use super::{flags::*, zset_multi, Handler, KeySpec, Spec, Status, ONE_KEY};
use crate::limits::SCAN_COUNT_DEFAULT;
use crate::resp::{Proto, Reply};
use crate::shard::notify::class;
use crate::shard::value::Value;
use crate::shard::zset::{Zset, ZsetLimits};
use crate::shard::{Ctx, Rng};
use std::ops::Range;

/// The sorted set stored in `value`, or WRONGTYPE.
pub(super) fn zset_of(value: &Value) -> Result<&Zset, Status> {
    match value {
        Value::Zset(zset) => Ok(zset),
        _ => Err(Status::WrongType),
    }
}

pub(super) fn zset_mut(value: &mut Value) -> Result<&mut Zset, Status> {
    match value {
        Value::Zset(zset) => Ok(zset),
        _ => Err(Status::WrongType),
    }
}

/// When a set stops being packed: the shard's copy of the configuration, read once and
/// then kept current by CONFIG SET, so a write takes no lock.
pub(super) fn limits(ctx: &mut Ctx) -> ZsetLimits {
    *ctx.shard
        .zset_limits
        .get_or_insert_with(|| ZsetLimits::configured(&crate::server::CONFIG))
}

/// The set at `key` for a read (counts a hit or miss); None when the key is missing.
fn read<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c Zset>, Status> {
    ctx.lookup_read(key)
        .map(|entry| zset_of(&entry.value))
        .transpose()
}

/// The set at `key` for a change; None when the key is missing.
fn write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut Zset>, Status> {
    ctx.lookup_write(key)
        .map(|entry| zset_mut(&mut entry.value))
        .transpose()
}

// ---------------------------------------------------------------------------------------
// Ranges: ZRANGE and its older forms

/// The array header for `n` elements: RESP2 flattens member/score pairs into one array,
/// RESP3 nests each pair.
pub(super) fn reply_elements_header(reply: &mut Reply, n: usize, withscores: bool) {
    let flat = withscores && reply.proto == Proto::Resp2;
    reply.array(if flat { n * 2 } else { n });
}

pub(super) fn reply_element(reply: &mut Reply, member: &[u8], score: f64, withscores: bool) {
    if withscores && reply.proto == Proto::Resp3 {
        reply.array(2);
    }
    reply.bulk(member);
    if withscores {
        reply.double(score);
    }
}

/// Replies with the elements of `ranks`, in the query's direction.
fn reply_ranks(reply: &mut Reply, zset: &Zset, ranks: Range<usize>, rev: bool, withscores: bool) {
    reply_elements_header(reply, ranks.len(), withscores);
    zset.for_range(ranks, rev, |m, s| reply_element(reply, m, s, withscores));
}

/// The shared body of every ZRANGE form: parse, then read the key.
fn range_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    reply: &mut Reply,
    by: Option<By>,
    rev: Option<bool>,
) -> Result<(), Status> {
    let key = args.required()?;
    let words: Vec<&[u8]> = args.rest().collect();
    let query = RangeQuery::parse(&words, by, rev, false)?;
    let Some(zset) = read(ctx, key)? else {
        reply.array(0);
        return Ok(());
    };
    let ranks = query.ranks(zset);
    reply_ranks(reply, zset, ranks, query.rev(), query.withscores);
    Ok(())
}

fn zrange(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    range_generic(ctx, args, reply, None, None)
}

fn zrevrange(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    range_generic(ctx, args, reply, Some(By::Rank), Some(true))
}

fn zrangebyscore(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    range_generic(ctx, args, reply, Some(By::Score), Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    range_generic(ctx, args, reply, Some(By::Score), Some(true))
}

fn zrangebylex(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    range_generic(ctx, args, reply, Some(By::Lex), Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    range_generic(ctx, args, reply, Some(By::Lex), Some(true))
}

// ---------------------------------------------------------------------------------------
// ZADD ZINCRBY

#[derive(Clone, Copy, Default)]
struct AddFlags {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
    ch: bool,
    incr: bool,
}

/// What adding one element did (Redis's ZADD_OUT_* flags).
enum Added {
    New(f64),
    Updated(f64),
    Same(f64),
    Nothing,
}

fn nan_score() -> Status {
    Status::err("ERR resulting score is not a number (NaN)")
}

/// Redis's zsetAdd: NX, XX, GT, LT and INCR applied to one element.
fn add_one(
    zset: &mut Zset,
    member: &[u8],
    score: f64,
    flags: AddFlags,
    limits: ZsetLimits,
) -> Result<Added, Status> {
    let Some(current) = zset.score(member) else {
        if flags.xx {
            return Ok(Added::Nothing);
        }
        zset.insert(member, score, limits);
        return Ok(Added::New(score));
    };
    if flags.nx {
        return Ok(Added::Nothing);
    }
    let score = if flags.incr { score + current } else { score };
    if score.is_nan() {
        return Err(nan_score());
    }
    if (flags.lt && score >= current) || (flags.gt && score <= current) {
        return Ok(Added::Nothing);
    }
    if score == current {
        return Ok(Added::Same(score));
    }
    zset.insert(member, score, limits);
    Ok(Added::Updated(score))
}

/// ZADD's options, in any order before the first score.
fn add_flags(args: &mut Args) -> AddFlags {
    let mut flags = AddFlags::default();
    while let Some(word) = args.peek() {
        let flag = if is(word, "NX") {
            &mut flags.nx
        } else if is(word, "XX") {
            &mut flags.xx
        } else if is(word, "GT") {
            &mut flags.gt
        } else if is(word, "LT") {
            &mut flags.lt
        } else if is(word, "CH") {
            &mut flags.ch
        } else if is(word, "INCR") {
            &mut flags.incr
        } else {
            break;
        };
        *flag = true;
        args.next();
    }
    flags
}

fn check_add_flags(flags: AddFlags, pairs: usize) -> Result<(), Status> {
    if flags.nx && flags.xx {
        return Err(Status::err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    // Any two of GT, LT and NX.
    if [flags.gt, flags.lt, flags.nx]
        .iter()
        .filter(|&&f| f)
        .count()
        > 1
    {
        return Err(Status::err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if flags.incr && pairs > 1 {
        return Err(Status::err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    Ok(())
}

fn zadd(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let flags = add_flags(args);
    let words: Vec<&[u8]> = args.rest().collect();
    if words.is_empty() || words.len() % 2 != 0 {
        return Err(Status::Syntax);
    }
    check_add_flags(flags, words.len() / 2)?;
    // Every score is checked before anything changes: the command applies fully or not.
    let scores = words
        .iter()
        .step_by(2)
        .map(|w| score_arg(w))
        .collect::<Result<Vec<f64>, Status>>()?;
    let members = words.iter().skip(1).step_by(2);
    add_generic(
        ctx,
        key,
        scores.into_iter().zip(members.copied()),
        flags,
        reply,
    )
}

/// ZINCRBY key increment member: ZADD INCR with one pair.
fn zincrby(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let by = score_arg(args.required()?)?;
    let member = args.required()?;
    let flags = AddFlags {
        incr: true,
        ..AddFlags::default()
    };
    add_generic(ctx, key, [(by, member)].into_iter(), flags, reply)
}

fn add_generic<'a>(
    ctx: &mut Ctx,
    key: &[u8],
    elements: impl Iterator<Item = (f64, &'a [u8])>,
    flags: AddFlags,
    reply: &mut Reply,
) -> Result<(), Status> {
    let limits = limits(ctx);
    // One lookup of the key; a new set is built whole and stored once.
    let (added, updated, last) = match write(ctx, key)? {
        Some(zset) => add_all(zset, elements, flags, limits)?,
        None if flags.xx => (0, 0, None),
        None => {
            let mut zset = Zset::default();
            let outcome = add_all(&mut zset, elements, flags, limits)?;
            if !zset.is_empty() {
                ctx.set(key, Value::Zset(zset), 0);
            }
            outcome
        }
    };
    if added + updated > 0 {
        let event = if flags.incr { "zincr" } else { "zadd" };
        ctx.notify(class::ZSET, event, key);
    }
    reply_added(reply, flags, added, updated, last)
}

/// Adds every element: how many were added, how many changed score, and the last
/// element's resulting score (ZADD INCR's reply).
fn add_all<'a>(
    zset: &mut Zset,
    elements: impl Iterator<Item = (f64, &'a [u8])>,
    flags: AddFlags,
    limits: ZsetLimits,
) -> Result<(i64, i64, Option<f64>), Status> {
    let (mut added, mut updated, mut last) = (0, 0, None);
    for (score, member) in elements {
        match add_one(zset, member, score, flags, limits)? {
            Added::New(score) => (added, last) = (added + 1, Some(score)),
            Added::Updated(score) => (updated, last) = (updated + 1, Some(score)),
            Added::Same(score) => last = Some(score),
            Added::Nothing => {}
        }
    }
    Ok((added, updated, last))
}

/// ZADD's reply: the new score (or null) with INCR, else how many were added (and, with
/// CH, changed).
fn reply_added(
    reply: &mut Reply,
    flags: AddFlags,
    added: i64,
    updated: i64,
    last: Option<f64>,
) -> Result<(), Status> {
    match (flags.incr, last) {
        (true, Some(score)) => reply.double(score),
        (true, None) => reply.null(),
        (false, _) if flags.ch => reply.int(added + updated),
        (false, _) => reply.int(added),
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ZREM ZCARD ZSCORE ZMSCORE ZRANK ZREVRANK ZCOUNT ZLEXCOUNT

fn zrem(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let Some(zset) = write(ctx, key)? else {
        reply.int(0);
        return Ok(());
    };
    let removed = args.rest().filter(|m| zset.remove(m).is_some()).count();
    let emptied = zset.is_empty();
    if removed > 0 {
        ctx.notify(class::ZSET, "zrem", key);
    }
    delete_emptied(ctx, key, emptied);
    reply.int(removed as i64);
    Ok(())
}

fn zcard(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    reply.int(read(ctx, key)?.map_or(0, Zset::len) as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let member = args.required()?;
    match read(ctx, key)?.and_then(|z| z.score(member)) {
        Some(score) => reply.double(score),
        None => reply.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let zset = read(ctx, key)?;
    reply.array(args.remaining());
    for member in args.rest() {
        match zset.and_then(|z| z.score(member)) {
            Some(score) => reply.double(score),
            None => reply.null(),
        }
    }
    Ok(())
}

fn rank_generic(
    ctx: &mut Ctx,
    args: &mut Args,
    reply: &mut Reply,
    rev: bool,
) -> Result<(), Status> {
    let key = args.required()?;
    let member = args.required()?;
    let Some(zset) = read(ctx, key)? else {
        reply.null();
        return Ok(());
    };
    match zset.rank(member) {
        Some((rank, _)) if rev => reply.int((zset.len() - 1 - rank) as i64),
        Some((rank, _)) => reply.int(rank as i64),
        None => reply.null(),
    }
    Ok(())
}

fn zrank(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    rank_generic(ctx, args, reply, false)
}

fn zrevrank(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    rank_generic(ctx, args, reply, true)
}

fn zcount(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let (min, max) = score_range(args.required()?, args.required()?)?;
    let count = read(ctx, key)?.map_or(0, |z| score_ranks(z, min, max).len());
    reply.int(count as i64);
    Ok(())
}

fn zlexcount(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let (min, max) = lex_range(args.required()?, args.required()?)?;
    let count = read(ctx, key)?.map_or(0, |z| lex_ranks(z, &min, &max).len());
    reply.int(count as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// ZREMRANGEBYRANK ZREMRANGEBYSCORE ZREMRANGEBYLEX

/// Removes the ranks `select` picks (the range is parsed before the key is read, as in
/// Redis), deleting an emptied set.
fn remove_ranks(
    ctx: &mut Ctx,
    key: &[u8],
    reply: &mut Reply,
    event: &'static str,
    select: impl FnOnce(&Zset) -> Range<usize>,
) -> Result<(), Status> {
    let Some(zset) = write(ctx, key)? else {
        reply.int(0);
        return Ok(());
    };
    let ranks = select(zset);
    let removed = zset.remove_range(ranks);
    let emptied = zset.is_empty();
    if removed > 0 {
        ctx.notify(class::ZSET, event, key);
    }
    delete_emptied(ctx, key, emptied);
    reply.int(removed as i64);
    Ok(())
}

fn zremrangebyrank(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let (start, end) = (args.i64()?, args.i64()?);
    remove_ranks(ctx, key, reply, "zremrangebyrank", |z| {
        rank_range(z.len(), start, end).unwrap_or(0..0)
    })
}

fn zremrangebyscore(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let (min, max) = score_range(args.required()?, args.required()?)?;
    remove_ranks(ctx, key, reply, "zremrangebyscore", |z| {
        score_ranks(z, min, max)
    })
}

fn zremrangebylex(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let (min, max) = lex_range(args.required()?, args.required()?)?;
    remove_ranks(ctx, key, reply, "zremrangebylex", |z| {
        lex_ranks(z, &min, &max)
    })
}

// ---------------------------------------------------------------------------------------
// ZPOPMIN ZPOPMAX

/// Which end a pop takes from.
#[derive(Clone, Copy, Debug)]
pub(super) enum End {
    Min,
    Max,
}

impl End {
    /// The keyspace event of a pop at this end.
    pub(super) fn event(self) -> &'static str {
        match self {
            End::Min => "zpopmin",
            End::Max => "zpopmax",
        }
    }
}

/// Deletes a set the command emptied, raising `del` as Redis does after the command's
/// own event.
pub(super) fn delete_emptied(ctx: &mut Ctx, key: &[u8], emptied: bool) {
    if emptied {
        ctx.delete(key);
        ctx.notify(class::GENERIC, "del", key);
    }
}

/// Removes up to `count` elements from `end`, returning them in pop order (lowest first
/// for Min, highest first for Max).
pub(super) fn pop(zset: &mut Zset, end: End, count: usize) -> Vec<(Vec<u8>, f64)> {
    let len = zset.len();
    let ranks = match end {
        End::Min => 0..count.min(len),
        End::Max => len - count.min(len)..len,
    };
    let mut popped = Vec::with_capacity(ranks.len());
    zset.for_range(ranks.clone(), matches!(end, End::Max), |m, s| {
        popped.push((m.to_vec(), s))
    });
    zset.remove_range(ranks);
    popped
}

/// ZPOPMIN/ZPOPMAX key [count]: without a count one element as a flat pair; with one, in
/// RESP3, an array of pairs.
fn pop_generic(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply, end: End) -> Result<(), Status> {
    let key = args.required()?;
    if args.remaining() > 1 {
        return Err(Status::Syntax);
    }
    let count = match args.next() {
        None => None,
        Some(arg) => match parse_i64(arg) {
            Ok(n) if n >= 0 => Some(n as usize),
            _ => return Err(Status::err("ERR value is out of range, must be positive")),
        },
    };
    let Some(zset) = write(ctx, key)? else {
        reply.array(0);
        return Ok(());
    };
    if count == Some(0) {
        reply.array(0);
        return Ok(());
    }
    let popped = pop(zset, end, count.unwrap_or(1));
    let emptied = zset.is_empty();
    ctx.notify(class::ZSET, end.event(), key);
    delete_emptied(ctx, key, emptied);
    let nested = count.is_some() && reply.proto == Proto::Resp3;
    reply.array(if nested {
        popped.len()
    } else {
        popped.len() * 2
    });
    for (member, score) in &popped {
        if nested {
            reply.array(2);
        }
        reply.bulk(member);
        reply.double(*score);
    }
    Ok(())
}

fn zpopmin(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    pop_generic(ctx, args, reply, End::Min)
}

fn zpopmax(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    pop_generic(ctx, args, reply, End::Max)
}

// ---------------------------------------------------------------------------------------
// ZRANDMEMBER

/// ZRANDMEMBER key [count [WITHSCORES]]: Redis's cases, as HRANDFIELD's: a negative
/// count may repeat members; a count at least the size returns the whole set in order;
/// otherwise distinct members in random order.
fn zrandmember(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let Some(count) = args.next() else {
        if read(ctx, key)?.is_none() {
            reply.null();
            return Ok(());
        }
        let mut rng = ctx.shard.fork_rng();
        let (member, _) = read_again(ctx, key).random(&mut rng).expect("never empty");
        reply.bulk(member);
        return Ok(());
    };
    let count = match parse_i64(count)? {
        i64::MIN => return Err(Status::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        n => n,
    };
    let withscores = match args.next() {
        None => false,
        Some(word) if is(word, "WITHSCORES") && args.remaining() == 0 => true,
        Some(_) => return Err(Status::Syntax),
    };
    if withscores && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(Status::err("ERR value is out of range"));
    }
    if read(ctx, key)?.is_none() || count == 0 {
        reply.array(0);
        return Ok(());
    }
    let mut rng = ctx.shard.fork_rng();
    let zset = read_again(ctx, key);
    let wanted = count.unsigned_abs() as usize;
    if count < 0 {
        reply_elements_header(reply, wanted, withscores);
        for _ in 0..wanted {
            let (m, s) = zset.random(&mut rng).expect("never empty");
            reply_element(reply, m, s, withscores);
        }
    } else if wanted >= zset.len() {
        // Redis 7.0 answers the whole set from the highest score down.
        reply_ranks(reply, zset, 0..zset.len(), true, withscores);
    } else {
        reply_distinct(reply, zset, wanted, &mut rng, withscores);
    }
    Ok(())
}

/// `n` distinct members (fewer than the set has) in random order: a partial
/// Fisher-Yates shuffle of the ranks.
fn reply_distinct(reply: &mut Reply, zset: &Zset, n: usize, rng: &mut Rng, withscores: bool) {
    let mut ranks: Vec<usize> = (0..zset.len()).collect();
    for i in 0..n {
        let j = i + rng.below(ranks.len() - i);
        ranks.swap(i, j);
    }
    reply_elements_header(reply, n, withscores);
    for &rank in &ranks[..n] {
        let (m, s) = zset.nth(rank).expect("rank within the set");
        reply_element(reply, m, s, withscores);
    }
}

/// The set just read (the type was checked), without counting a second hit.
fn read_again<'c>(ctx: &'c mut Ctx, key: &[u8]) -> &'c Zset {
    let entry = ctx.db().raw_get(key).expect("read just now");
    zset_of(&entry.value).expect("type checked just now")
}

// ---------------------------------------------------------------------------------------
// ZSCAN

/// ZSCAN key cursor [MATCH pattern] [COUNT count]: as HSCAN (cursor checked first, a
/// missing key answers an empty scan before the options are read). Scores are sent as
/// text: a listpack's as Redis stores them there, a skiplist's with `%.17g`.
fn zscan(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let cursor = parse_scan_cursor(args.required()?)?;
    let Some(zset) = read(ctx, key)? else {
        reply_scan(reply, 0, &[], true);
        return Ok(());
    };
    let (pattern, count) = scan_options(args)?;
    let mut found = Vec::new();
    let next = zset.scan(cursor, count, |member, score| {
        if pattern.is_none_or(|p| glob_match(p, member, false)) {
            found.push((member, score));
        }
    });
    reply_scan(reply, next, &found, zset.is_packed());
    Ok(())
}

/// A score as Redis's listpack holds it (d2string): an integral value within
/// ±LLONG_MAX/2 as an integer, anything else with `%.17g`.
fn listpack_score_text(score: f64) -> String {
    const SAFE: f64 = (i64::MAX / 2) as f64;
    if score.fract() == 0.0 && (-SAFE..=SAFE).contains(&score) {
        (score as i64).to_string()
    } else {
        crate::resp::reply::format_double(score)
    }
}

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
            pattern = (value != b"*").then_some(value);
        } else {
            return Err(Status::Syntax);
        }
    }
    Ok((pattern, count))
}

fn reply_scan(reply: &mut Reply, next: u64, elements: &[(&[u8], f64)], packed: bool) {
    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(elements.len() * 2);
    for (member, score) in elements {
        reply.bulk(member);
        let text = match packed {
            true => listpack_score_text(*score),
            false => crate::resp::reply::format_double(*score),
        };
        reply.bulk(text.as_bytes());
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
        "sorted_set",
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
        "sorted_set",
        summary,
        since,
    )
}

/// Keys found through numkeys (Redis reports no fixed positions: movablekeys).
const NUMKEYS: KeySpec = KeySpec {
    first: 0,
    last: 0,
    step: 0,
};
/// The destination of a STORE form; the sources follow numkeys.
const DESTINATION: KeySpec = ONE_KEY;
const DST_SRC: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
};

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    shard("zadd", -4, WRITE | DENYOOM | FAST, zadd, "Add one or more members to a sorted set, or update its score if it already exists", "1.2.0"),
    shard("zincrby", 4, WRITE | DENYOOM | FAST, zincrby, "Increment the score of a member in a sorted set", "1.2.0"),
    shard("zrem", -3, WRITE | FAST, zrem, "Remove one or more members from a sorted set", "1.2.0"),
    shard("zcard", 2, READONLY | FAST, zcard, "Get the number of members in a sorted set", "1.2.0"),
    shard("zscore", 3, READONLY | FAST, zscore, "Get the score associated with the given member in a sorted set", "1.2.0"),
    shard("zmscore", -3, READONLY | FAST, zmscore, "Get the score associated with the given members in a sorted set", "6.2.0"),
    shard("zrank", 3, READONLY | FAST, zrank, "Determine the index of a member in a sorted set", "2.0.0"),
    shard("zrevrank", 3, READONLY | FAST, zrevrank, "Determine the index of a member in a sorted set, with scores ordered from high to low", "2.0.0"),
    shard("zcount", 4, READONLY | FAST, zcount, "Count the members in a sorted set with scores within the given values", "2.0.0"),
    shard("zlexcount", 4, READONLY | FAST, zlexcount, "Count the number of members in a sorted set between a given lexicographical range", "2.8.9"),
    shard("zrange", -4, READONLY, zrange, "Return a range of members in a sorted set", "1.2.0"),
    shard("zrevrange", -4, READONLY, zrevrange, "Return a range of members in a sorted set, by index, with scores ordered from high to low", "1.2.0"),
    shard("zrangebyscore", -4, READONLY, zrangebyscore, "Return a range of members in a sorted set, by score", "1.0.5"),
    shard("zrevrangebyscore", -4, READONLY, zrevrangebyscore, "Return a range of members in a sorted set, by score, with scores ordered from high to low", "2.2.0"),
    shard("zrangebylex", -4, READONLY, zrangebylex, "Return a range of members in a sorted set, by lexicographical range", "2.8.9"),
    shard("zrevrangebylex", -4, READONLY, zrevrangebylex, "Return a range of members in a sorted set, by lexicographical range, ordered from higher to lower strings.", "2.8.9"),
    shard("zremrangebyrank", 4, WRITE, zremrangebyrank, "Remove all members in a sorted set within the given indexes", "2.0.0"),
    shard("zremrangebyscore", 4, WRITE, zremrangebyscore, "Remove all members in a sorted set within the given scores", "1.2.0"),
    shard("zremrangebylex", 4, WRITE, zremrangebylex, "Remove all members in a sorted set between the given lexicographical range", "2.8.9"),
    shard("zpopmin", -2, WRITE | FAST, zpopmin, "Remove and return members with the lowest scores in a sorted set", "5.0.0"),
    shard("zpopmax", -2, WRITE | FAST, zpopmax, "Remove and return members with the highest scores in a sorted set", "5.0.0"),
    shard("zrandmember", -2, READONLY, zrandmember, "Get one or multiple random elements from a sorted set", "6.2.0"),
    shard("zscan", -3, READONLY, zscan, "Incrementally iterate sorted sets elements and associated scores", "2.8.0"),
    multi("zrangestore", -5, WRITE | DENYOOM, DST_SRC, zset_multi::zrangestore, "Store a range of members from sorted set into another key", "6.2.0"),
    multi("zunion", -3, READONLY, NUMKEYS, zset_multi::zunion, "Add multiple sorted sets", "6.2.0"),
    multi("zinter", -3, READONLY, NUMKEYS, zset_multi::zinter, "Intersect multiple sorted sets", "6.2.0"),
    multi("zdiff", -3, READONLY, NUMKEYS, zset_multi::zdiff, "Subtract multiple sorted sets", "6.2.0"),
    multi("zunionstore", -4, WRITE | DENYOOM, DESTINATION, zset_multi::zunionstore, "Add multiple sorted sets and store the resulting sorted set in a new key", "2.0.0"),
    multi("zinterstore", -4, WRITE | DENYOOM, DESTINATION, zset_multi::zinterstore, "Intersect multiple sorted sets and store the resulting sorted set in a new key", "2.0.0"),
    multi("zdiffstore", -4, WRITE | DENYOOM, DESTINATION, zset_multi::zdiffstore, "Subtract multiple sorted sets and store the resulting sorted set in a new key", "6.2.0"),
    multi("zintercard", -3, READONLY, NUMKEYS, zset_multi::zintercard, "Intersect multiple sorted sets and return the cardinality of the result", "7.0.0"),
    multi("zmpop", -4, WRITE, NUMKEYS, zset_multi::zmpop, "Remove and return members with scores in a sorted set", "7.0.0"),
];

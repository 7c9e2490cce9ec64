//! Sorted set commands whose keys may live on several cores: ZUNION, ZINTER, ZDIFF and
//! their STORE forms, ZINTERCARD, ZRANGESTORE and ZMPOP. Each runs as `Handler::Multi`
//! through `core::multi::MultiCore`, holding every core it touches until it is done, so
//! no client sees half of it.
//!
//! ```text
//! sources on other cores  --read (copied out, cores held)-->  connection's task
//! final core (the destination's, or any source's):
//!     reads its own sources, computes, writes the destination   (one step)
//! ```
//!
//! When every key is on one core the whole command is that one final step. Writes go
//! through `Ctx::set`/`delete`/`take`/`put_entry`, which record them as physical PUT/DEL
//! effects: a multi-core operation is logged by what it did, not by its arguments.

use super::args::{is, parse_i64};
use super::session::Session;
use super::zset::{self, pop, reply_element, reply_elements_header, zset_mut, zset_of, End};
use super::zset_range::{parse_score, RangeQuery};
use super::Status;
use crate::core::multi::MultiCore;
use crate::shard::notify::class;
use crate::shard::slot::key_core;
use crate::shard::value::Value;
use crate::shard::zset::Zset;
use crate::shard::{Ctx, Shard};
use ahash::AHashMap as HashMap;
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::collections::BTreeMap;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;
type Elements = Vec<(Vec<u8>, f64)>;
/// What one source key held: None when missing.
type Source = Result<Option<Elements>, Status>;

/// What is copied out of each source set.
#[derive(Clone)]
enum Reader {
    Whole,
    Range(RangeQuery),
}

impl Reader {
    fn read(&self, zset: &Zset) -> Elements {
        match self {
            Reader::Whole => zset.iter().map(|(m, s)| (m.to_vec(), s)).collect(),
            Reader::Range(query) => {
                let mut out = Vec::new();
                zset.for_range(query.ranks(zset), query.rev(), |m, s| {
                    out.push((m.to_vec(), s))
                });
                out
            }
        }
    }
}

fn read_key(ctx: &mut Ctx, key: &[u8], reader: &Reader) -> Source {
    match ctx.lookup_read(key) {
        None => Ok(None),
        // ZUNION, ZINTER, ZDIFF and ZINTERCARD take plain sets too, every member scored 1.
        Some(entry) => match (&entry.value, reader) {
            (Value::Set(set), Reader::Whole) => {
                let mut members = Vec::with_capacity(set.len());
                for member in set.iter() {
                    member.with_bytes(|bytes| members.push((bytes.to_vec(), 1.0)));
                }
                Ok(Some(members))
            }
            (value, _) => Ok(Some(reader.read(zset_of(value)?))),
        },
    }
}

/// Reads every source key (in argument order) on its core, then runs `last` on
/// `final_core` with them all, every core held throughout. Sources on the final core are
/// read inside that last step, so a single-core command is one step.
async fn gather<R: Send + 'static>(
    s: &mut Session,
    keys: Vec<Vec<u8>>,
    final_core: usize,
    reader: Reader,
    last: impl FnOnce(&mut Ctx, Vec<Source>) -> R + Send + 'static,
) -> R {
    let (cores, db) = (s.core.cores, s.db);
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (at, key) in keys.iter().enumerate() {
        groups.entry(key_core(key, cores)).or_default().push(at);
    }
    let mut op = MultiCore::new(s, groups.keys().copied().chain([final_core]));
    let mut sources: Vec<Option<Source>> = vec![None; keys.len()];
    let local = groups.remove(&final_core).unwrap_or_default();
    for (core, positions) in groups {
        let wanted: Vec<Vec<u8>> = positions.iter().map(|&p| keys[p].clone()).collect();
        let reader = reader.clone();
        let found = op
            .run(core, move |shard| {
                let mut ctx = Ctx::new(shard, db);
                wanted
                    .iter()
                    .map(|k| read_key(&mut ctx, k, &reader))
                    .collect::<Vec<_>>()
            })
            .await;
        for (position, source) in positions.into_iter().zip(found) {
            sources[position] = Some(source);
        }
    }
    let local: Vec<(usize, Vec<u8>)> = local.into_iter().map(|p| (p, keys[p].clone())).collect();
    let result = op
        .run(final_core, move |shard: &mut Shard| {
            let mut ctx = Ctx::new(shard, db);
            for (position, key) in local {
                sources[position] = Some(read_key(&mut ctx, &key, &reader));
            }
            let sources = sources
                .into_iter()
                .map(|s| s.expect("every source read"))
                .collect();
            last(&mut ctx, sources)
        })
        .await;
    op.finish().await;
    result
}

/// Replaces `dst` with a set of `elements`, or deletes it when there are none; returns
/// the size stored.
fn store(ctx: &mut Ctx, dst: &[u8], elements: &[(Vec<u8>, f64)], event: &'static str) -> usize {
    if elements.is_empty() {
        delete_destination(ctx, dst);
        return 0;
    }
    let limits = zset::limits(ctx);
    let set = Zset::build(elements.iter().map(|(m, s)| (&m[..], *s)), limits);
    ctx.set(dst, Value::Zset(set), 0);
    ctx.notify(class::ZSET, event, dst);
    elements.len()
}

/// An empty result deletes the destination, raising `del` if it existed.
fn delete_destination(ctx: &mut Ctx, dst: &[u8]) {
    if ctx.delete(dst) {
        ctx.notify(class::GENERIC, "del", dst);
    }
}

// ---------------------------------------------------------------------------------------
// ZUNION ZINTER ZDIFF (+STORE) ZINTERCARD

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

#[derive(Clone)]
struct Options {
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT; 0 is none.
    limit: usize,
}

/// How a command of this family is called.
#[derive(Clone, Copy)]
struct Form {
    name: &'static str,
    op: SetOp,
    store: bool,
    card: bool,
}

/// The number of keys and the keys, checked before any key is read (numkeys must be
/// at least 1 and no more than the arguments left).
fn parse_keys(argv: &Argv, at: usize, name: &str) -> Result<Vec<Vec<u8>>, Status> {
    let numkeys = parse_i64(&argv[at])?;
    if numkeys < 1 {
        return Err(Status::err(format!(
            "ERR at least 1 input key is needed for '{name}' command"
        )));
    }
    if numkeys as u64 > (argv.len() - at - 1) as u64 {
        return Err(Status::Syntax);
    }
    Ok(argv[at + 1..at + 1 + numkeys as usize].to_vec())
}

/// The options after the keys. Redis reads them only after it looked every key up, so
/// a WRONGTYPE source wins over a bad option: the caller reports this after the reads.
fn parse_options(words: &[Vec<u8>], keys: usize, form: Form) -> Result<Options, Status> {
    let mut options = Options {
        weights: vec![1.0; keys],
        aggregate: Aggregate::Sum,
        withscores: false,
        limit: 0,
    };
    let weighted = form.op != SetOp::Diff && !form.card;
    let mut at = 0;
    while at < words.len() {
        let (word, left) = (&words[at], words.len() - at);
        if weighted && left > keys && is(word, "WEIGHTS") {
            for (weight, arg) in options.weights.iter_mut().zip(&words[at + 1..]) {
                *weight = parse_score(arg).ok_or(Status::err("ERR weight value is not a float"))?;
            }
            at += 1 + keys;
        } else if weighted && left >= 2 && is(word, "AGGREGATE") {
            let how = &words[at + 1];
            options.aggregate = if is(how, "SUM") {
                Aggregate::Sum
            } else if is(how, "MIN") {
                Aggregate::Min
            } else if is(how, "MAX") {
                Aggregate::Max
            } else {
                return Err(Status::Syntax);
            };
            at += 2;
        } else if !form.store && !form.card && is(word, "WITHSCORES") {
            options.withscores = true;
            at += 1;
        } else if form.card && left >= 2 && is(word, "LIMIT") {
            let limit = parse_i64(&words[at + 1]).ok().filter(|&n| n >= 0);
            let limit = limit.ok_or(Status::err("ERR LIMIT can't be negative"))?;
            options.limit = usize::try_from(limit).unwrap_or(usize::MAX);
            at += 2;
        } else {
            return Err(Status::Syntax);
        }
    }
    Ok(options)
}

/// Redis's zunionInterAggregate: a sum of +inf and -inf is 0, not NaN.
fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => *target = if value < *target { value } else { *target },
        Aggregate::Max => *target = if value > *target { value } else { *target },
    }
}

/// A source's score times its weight (0 for inf × 0, as Redis).
fn weighted(score: f64, weight: f64) -> f64 {
    let value = score * weight;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

/// Sources from the smallest, as Redis sorts them before combining (the order only
/// shows in how sums round).
fn by_size(sets: &[Elements]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..sets.len()).collect();
    order.sort_by_key(|&i| sets[i].len());
    order
}

fn union(mut sets: Vec<Elements>, options: &Options) -> Elements {
    let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
    for i in by_size(&sets) {
        for (member, score) in std::mem::take(&mut sets[i]) {
            let value = weighted(score, options.weights[i]);
            match acc.entry(member) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    aggregate(e.get_mut(), value, options.aggregate)
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(value);
                }
            }
        }
    }
    acc.into_iter().collect()
}

/// Members of the smallest set found in every other, with their combined scores; stops
/// after `limit` (0: none).
fn inter(sets: Vec<Elements>, options: &Options, limit: usize) -> Elements {
    if sets.iter().any(Vec::is_empty) {
        return Vec::new();
    }
    let order = by_size(&sets);
    let others: Vec<(HashMap<&[u8], f64>, f64)> = order[1..]
        .iter()
        .map(|&i| {
            let scores = sets[i].iter().map(|(m, s)| (&m[..], *s)).collect();
            (scores, options.weights[i])
        })
        .collect();
    let first = order[0];
    let mut out = Vec::new();
    'members: for (member, score) in &sets[first] {
        let mut total = weighted(*score, options.weights[first]);
        for (scores, weight) in &others {
            let Some(other) = scores.get(&member[..]) else {
                continue 'members;
            };
            aggregate(&mut total, other * weight, options.aggregate);
        }
        out.push((member.clone(), total));
        if out.len() == limit {
            break;
        }
    }
    out
}

/// Members of the first set in none of the others, with the first set's scores.
fn diff(mut sets: Vec<Elements>) -> Elements {
    let first = std::mem::take(&mut sets[0]);
    let others: std::collections::HashSet<&[u8], ahash::RandomState> =
        sets[1..].iter().flatten().map(|(m, _)| &m[..]).collect();
    first
        .into_iter()
        .filter(|(m, _)| !others.contains(&m[..]))
        .collect()
}

fn combine(form: Form, sources: Vec<Option<Elements>>, options: &Options) -> Elements {
    let sets: Vec<Elements> = sources.into_iter().map(Option::unwrap_or_default).collect();
    let mut out = match form.op {
        SetOp::Union => union(sets, options),
        SetOp::Inter => inter(sets, options, options.limit),
        SetOp::Diff => diff(sets),
    };
    out.sort_unstable_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .expect("no NaN score")
            .then_with(|| a.0.cmp(&b.0))
    });
    out
}

/// The result of a set operation (elements in order), or the count for ZINTERCARD, or
/// the size stored.
enum Outcome {
    Elements(Elements, bool),
    Count(usize),
}

async fn setop(s: &mut Session, argv: Argv, form: Form) -> Result<(), Status> {
    let numkeys_at = if form.store { 2 } else { 1 };
    let keys = parse_keys(&argv, numkeys_at, form.name)?;
    let options = parse_options(&argv[numkeys_at + 1 + keys.len()..], keys.len(), form);
    let dst = form.store.then(|| argv[1].clone());
    let cores = s.core.cores;
    let final_core = key_core(dst.as_deref().unwrap_or(&keys[0]), cores);
    let outcome = gather(s, keys, final_core, Reader::Whole, move |ctx, sources| {
        let sources = sources.into_iter().collect::<Result<Vec<_>, Status>>()?;
        let options = options?;
        let elements = combine(form, sources, &options);
        Ok(match &dst {
            Some(dst) => Outcome::Count(store(ctx, dst, &elements, form.name)),
            None if form.card => Outcome::Count(elements.len()),
            None => Outcome::Elements(elements, options.withscores),
        })
    })
    .await?;
    let mut reply = s.reply();
    match outcome {
        Outcome::Count(n) => reply.int(n as i64),
        Outcome::Elements(elements, withscores) => {
            reply_elements_header(&mut reply, elements.len(), withscores);
            for (member, score) in &elements {
                reply_element(&mut reply, member, *score, withscores);
            }
        }
    }
    Ok(())
}

macro_rules! setop_command {
    ($name:ident, $op:expr, $store:expr, $card:expr) => {
        pub fn $name(s: &mut Session, argv: Argv) -> Done<'_> {
            let form = Form {
                name: stringify!($name),
                op: $op,
                store: $store,
                card: $card,
            };
            setop(s, argv, form).boxed_local()
        }
    };
}

setop_command!(zunion, SetOp::Union, false, false);
setop_command!(zinter, SetOp::Inter, false, false);
setop_command!(zdiff, SetOp::Diff, false, false);
setop_command!(zunionstore, SetOp::Union, true, false);
setop_command!(zinterstore, SetOp::Inter, true, false);
setop_command!(zdiffstore, SetOp::Diff, true, false);
setop_command!(zintercard, SetOp::Inter, false, true);

// ---------------------------------------------------------------------------------------
// ZRANGESTORE

/// Replaces `dst` with `elements` added one by one in the order the range produced them,
/// as Redis's ZRANGESTORE does: into a listpack, unless a rank range's known length is
/// past the entry limit. The order shows only in a listpack's -0 (stored as 0) before a
/// long member converts the set.
fn store_in_order(ctx: &mut Ctx, dst: &[u8], elements: &[(Vec<u8>, f64)], by_rank: bool) -> usize {
    if elements.is_empty() {
        delete_destination(ctx, dst);
        return 0;
    }
    let limits = zset::limits(ctx);
    let mut set = match by_rank && elements.len() > limits.entries {
        true => Zset::empty_skiplist(),
        false => Zset::default(),
    };
    for (member, score) in elements {
        set.insert(member, *score, limits);
    }
    ctx.set(dst, Value::Zset(set), 0);
    ctx.notify(class::ZSET, "zrangestore", dst);
    elements.len()
}

/// ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]: the range is
/// parsed before any key is read; an empty result deletes dst.
pub fn zrangestore(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let words: Vec<&[u8]> = argv[3..].iter().map(Vec::as_slice).collect();
        let query = RangeQuery::parse(&words, None, None, true)?;
        let (dst, src) = (argv[1].clone(), argv[2].clone());
        let by_rank = query.by_rank();
        let final_core = key_core(&dst, s.core.cores);
        let stored = gather(
            s,
            vec![src],
            final_core,
            Reader::Range(query),
            move |ctx, mut sources| {
                let elements = sources.pop().expect("one source")?.unwrap_or_default();
                Ok::<_, Status>(store_in_order(ctx, &dst, &elements, by_rank))
            },
        )
        .await?;
        s.reply().int(stored as i64);
        Ok(())
    }
    .boxed_local()
}

// ---------------------------------------------------------------------------------------
// ZMPOP

/// ZMPOP numkeys key [key ...] MIN|MAX [COUNT count], parsed as Redis does: numkeys,
/// then the end, then COUNT once.
pub(super) fn parse_zmpop(argv: &Argv) -> Result<(Vec<Vec<u8>>, End, usize), Status> {
    // Redis reads numkeys and COUNT as ranges: any bad value gets the range's message.
    let numkeys = parse_i64(&argv[1]).ok().filter(|&n| n >= 1);
    let numkeys = numkeys.ok_or(Status::err("ERR numkeys should be greater than 0"))?;
    let end_at = 2u64.saturating_add(numkeys as u64);
    if end_at >= argv.len() as u64 {
        return Err(Status::Syntax);
    }
    let end_at = end_at as usize;
    let end = if is(&argv[end_at], "MIN") {
        End::Min
    } else if is(&argv[end_at], "MAX") {
        End::Max
    } else {
        return Err(Status::Syntax);
    };
    let mut count = None;
    let mut at = end_at + 1;
    while at < argv.len() {
        if count.is_none() && is(&argv[at], "COUNT") && at + 1 < argv.len() {
            let n = parse_i64(&argv[at + 1]).ok().filter(|&n| n >= 1);
            let n = n.ok_or(Status::err("ERR count should be greater than 0"))?;
            count = Some(usize::try_from(n).unwrap_or(usize::MAX));
            at += 2;
        } else {
            return Err(Status::Syntax);
        }
    }
    Ok((argv[2..end_at].to_vec(), end, count.unwrap_or(1)))
}

type Popped = Option<(Vec<u8>, Elements)>;

/// Pops from the first of `keys` (all on this core) that exists; a key of another type
/// met first is an error. The set is taken out and put back (or left deleted), which
/// records the change as DEL + PUT.
fn pop_first(ctx: &mut Ctx, keys: &[Vec<u8>], end: End, count: usize) -> Result<Popped, Status> {
    for key in keys {
        let Some(entry) = ctx.lookup_write(key) else {
            continue;
        };
        zset_of(&entry.value)?;
        let mut entry = ctx.take(key).expect("live just now");
        let zset = zset_mut(&mut entry.value)?;
        let popped = pop(zset, end, count);
        let emptied = zset.is_empty();
        if !emptied {
            ctx.put_entry(entry);
        }
        ctx.notify(class::ZSET, end.event(), key);
        if emptied {
            ctx.notify(class::GENERIC, "del", key);
        }
        return Ok(Some((key.clone(), popped)));
    }
    Ok(None)
}

pub fn zmpop(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let (keys, end, count) = parse_zmpop(&argv)?;
        let (cores, db) = (s.core.cores, s.db);
        // Consecutive keys on one core are tried in one step; the keys' order is kept.
        let mut runs: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
        for key in keys {
            let core = key_core(&key, cores);
            match runs.last_mut() {
                Some((last, run)) if *last == core => run.push(key),
                _ => runs.push((core, vec![key])),
            }
        }
        let mut op = MultiCore::new(s, runs.iter().map(|(core, _)| *core));
        let mut popped = Ok(None);
        for (core, run) in runs {
            popped = op
                .run(core, move |shard| {
                    pop_first(&mut Ctx::new(shard, db), &run, end, count)
                })
                .await;
            if !matches!(popped, Ok(None)) {
                break;
            }
        }
        op.finish().await;
        let mut reply = s.reply();
        match popped? {
            None => reply.null_array(),
            Some((key, elements)) => {
                reply.array(2);
                reply.bulk(&key);
                reply.array(elements.len());
                for (member, score) in &elements {
                    reply.array(2);
                    reply.bulk(member);
                    reply.double(*score);
                }
            }
        }
        Ok(())
    }
    .boxed_local()
}

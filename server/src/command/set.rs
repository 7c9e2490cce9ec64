//! Set commands, with Redis 7.0's replies and error texts.
//!
//! ```text
//! one key, Handler::Shard on the owning core
//!   write  SADD SREM SPOP                      (an emptied set is deleted)
//!   read   SMEMBERS SISMEMBER SMISMEMBER SCARD SRANDMEMBER SSCAN
//! keys on any cores, Handler::Multi holding every core they live on (core::multi)
//!   write  SMOVE SINTERSTORE SUNIONSTORE SDIFFSTORE
//!   read   SINTER SUNION SDIFF SINTERCARD
//! ```
//!
//! Durability: SADD and SREM are functions of the keyspace and their arguments, so the
//! CMD effect logged for them replays to the same set. SPOP picks at random, so it names
//! what it removed through `Ctx::log_as` as an SREM (what Redis replicates). The
//! multi-core writes change keys only through `Ctx::set` / `take` / `put_entry` /
//! `delete`, which record the whole resulting value (PUT) or its removal (DEL).
//!
//! Results of the set algebra are built the way Redis builds them (an intset that turns
//! into a table when a member or the size requires), so an all-integer result comes back
//! in ascending order exactly as Redis's does.

use super::args::{is, parse_i64, Args};
use super::glob::glob_match;
use super::keys::parse_scan_cursor;
use super::session::Session;
use super::Handler::{Multi, Shard as OnShard};
use super::{flags::*, KeySpec, Spec, Status, ALL_KEYS, NO_KEYS, ONE_KEY};
use crate::core::multi::MultiCore;
use crate::limits::SCAN_COUNT_DEFAULT;
use crate::resp::Reply;
use crate::shard::notify::class;
use crate::shard::set::{Member, Set, SetLimits};
use crate::shard::slot::key_core;
use crate::shard::value::Value;
use crate::shard::{Ctx, Rng, Shard};
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::collections::{BTreeMap, HashSet};

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// The set stored in `value`, or WRONGTYPE.
fn set_of(value: &Value) -> Result<&Set, Status> {
    match value {
        Value::Set(set) => Ok(set),
        _ => Err(Status::WrongType),
    }
}

fn set_mut(value: &mut Value) -> Result<&mut Set, Status> {
    match value {
        Value::Set(set) => Ok(set),
        _ => Err(Status::WrongType),
    }
}

/// When an intset becomes a table: the shard's copy of the configuration, read once and
/// then kept current by CONFIG SET, so a write takes no lock.
fn limits(shard: &mut Shard) -> SetLimits {
    *shard
        .set_limits
        .get_or_insert_with(|| SetLimits::configured(&crate::server::CONFIG))
}

/// The set at `key` for a read (counts a hit or miss); None when the key is missing.
fn read<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c Set>, Status> {
    ctx.lookup_read(key)
        .map(|entry| set_of(&entry.value))
        .transpose()
}

/// The set just read (the type was checked), without counting a second hit.
fn read_again<'c>(ctx: &'c mut Ctx, key: &[u8]) -> &'c Set {
    let entry = ctx.db().raw_get(key).expect("read just now");
    set_of(&entry.value).expect("type checked just now")
}

/// The set at `key` for a change; None when the key is missing.
fn write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut Set>, Status> {
    ctx.lookup_write(key)
        .map(|entry| set_mut(&mut entry.value))
        .transpose()
}

/// Every member in the set's order, as a set reply (an array in RESP2).
fn reply_members(reply: &mut Reply, set: &Set) {
    reply.set(set.len());
    set.iter().for_each(|member| reply_member(reply, member));
}

fn reply_member(reply: &mut Reply, member: Member) {
    match member {
        Member::Int(n) => reply.bulk_int(n),
        Member::Bytes(bytes) => reply.bulk(bytes),
    }
}

// ---------------------------------------------------------------------------------------
// Writing one key: SADD SREM SPOP

/// SADD: a missing key becomes the set Redis creates for the first member (an intset when
/// it is an integer).
fn sadd(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let limits = limits(ctx.shard);
    // One lookup when the set exists (the common case on the hot path).
    if let Some(set) = write(ctx, key)? {
        let added = args.rest().filter(|m| set.insert(m, limits)).count();
        if added > 0 {
            ctx.notify(class::SET, "sadd", key);
        }
        reply.int(added as i64);
        return Ok(());
    }
    let mut set = Set::for_first(args.peek().expect("arity guarantees a member"));
    let added = args.rest().filter(|m| set.insert(m, limits)).count();
    ctx.set(key, Value::Set(set), 0);
    ctx.notify(class::SET, "sadd", key);
    reply.int(added as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let Some(set) = write(ctx, key)? else {
        reply.int(0);
        return Ok(());
    };
    let removed = args.rest().filter(|m| set.remove(m)).count();
    let emptied = set.is_empty();
    if removed > 0 {
        ctx.notify(class::SET, "srem", key);
    }
    if emptied {
        ctx.delete(key);
        ctx.notify(class::GENERIC, "del", key);
    }
    reply.int(removed as i64);
    Ok(())
}

/// SPOP key [count]. What it removed is logged as `SREM key member...`: the pick is random,
/// so replaying SPOP itself could remove other members.
fn spop(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let count = match args.next() {
        None => None,
        Some(count) => {
            args.finish()?;
            Some(positive_count(count)?)
        }
    };
    let mut rng = ctx.shard.fork_rng();
    let Some(set) = write(ctx, key)? else {
        match count {
            None => reply.null(),
            Some(_) => reply.set(0),
        }
        return Ok(());
    };
    let popped = match count {
        None => {
            let member = set.random_member(&mut rng).expect("never empty").to_vec();
            set.remove(&member);
            reply.bulk(&member);
            vec![member]
        }
        Some(count) => pop_many(set, count, &mut rng, reply),
    };
    let emptied = set.is_empty();
    if !popped.is_empty() {
        ctx.notify(class::SET, "spop", key);
    }
    if emptied {
        ctx.delete(key);
        ctx.notify(class::GENERIC, "del", key);
    }
    // Without a log (durability none) the rewrite would be built for nothing.
    if !popped.is_empty() && ctx.shard.journal.enabled() {
        let mut srem = Vec::with_capacity(popped.len() + 2);
        srem.extend([b"SREM".to_vec(), key.to_vec()]);
        srem.extend(popped);
        ctx.log_as(srem);
    }
    Ok(())
}

/// Redis's getPositiveLongFromObjectOrReply with SPOP's message.
fn positive_count(arg: &[u8]) -> Result<usize, Status> {
    parse_i64(arg)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(Status::err("ERR value is out of range, must be positive"))
}

/// Removes up to `count` random members, replies with them as a set, returns them. Few
/// of many are drawn one by one (O(count)); otherwise every member is listed and a partial
/// shuffle chooses (O(size), which the count is then a good part of), as Redis switches
/// strategies.
fn pop_many(set: &mut Set, count: usize, rng: &mut Rng, reply: &mut Reply) -> Vec<Vec<u8>> {
    let popped: Vec<Vec<u8>> = if (set.len().saturating_sub(count)) * SPOP_MOVE_STRATEGY_MUL > count
    {
        (0..count)
            .map(|_| {
                let member = set.random_member(rng).expect("never empty").to_vec();
                set.remove(&member);
                member
            })
            .collect()
    } else {
        let mut all: Vec<Member> = set.iter().collect();
        if count < all.len() {
            shuffle_prefix(&mut all, count, rng);
            all.truncate(count);
        }
        let chosen: Vec<Vec<u8>> = all.iter().map(Member::to_vec).collect();
        for member in &chosen {
            set.remove(member);
        }
        chosen
    };
    reply.set(popped.len());
    popped.iter().for_each(|m| reply.bulk(m));
    popped
}

/// Redis's threshold between popping one by one and choosing from the whole list.
const SPOP_MOVE_STRATEGY_MUL: usize = 5;

/// A partial Fisher-Yates shuffle: the first `n` items become a uniform random choice.
fn shuffle_prefix<T>(items: &mut [T], n: usize, rng: &mut Rng) {
    for i in 0..n.min(items.len()) {
        let j = i + rng.below(items.len() - i);
        items.swap(i, j);
    }
}

// ---------------------------------------------------------------------------------------
// Reading one key: SMEMBERS SISMEMBER SMISMEMBER SCARD

fn smembers(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    match read(ctx, key)? {
        Some(set) => reply_members(reply, set),
        None => reply.set(0),
    }
    Ok(())
}

fn sismember(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let member = args.required()?;
    let found = read(ctx, key)?.is_some_and(|set| set.contains(member));
    reply.int(found as i64);
    Ok(())
}

fn smismember(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let set = read(ctx, key)?;
    reply.array(args.remaining());
    for member in args.rest() {
        reply.int(set.is_some_and(|set| set.contains(member)) as i64);
    }
    Ok(())
}

fn scard(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    reply.int(read(ctx, key)?.map_or(0, Set::len) as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// SRANDMEMBER

/// SRANDMEMBER key [count]. Without a count: one member or null. With one, Redis's cases:
/// a negative count draws that many times (members may repeat); a count at least the
/// size returns the whole set in its order; otherwise distinct members in random order.
fn srandmember(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let Some(count) = args.next() else {
        if read(ctx, key)?.is_none() {
            reply.null();
            return Ok(());
        }
        let mut rng = ctx.shard.fork_rng();
        let set = read_again(ctx, key);
        reply_member(reply, set.random_member(&mut rng).expect("never empty"));
        return Ok(());
    };
    args.finish()?;
    let count = random_count(count)?;
    if read(ctx, key)?.is_none() || count == 0 {
        reply.array(0);
        return Ok(());
    }
    let mut rng = ctx.shard.fork_rng();
    let set = read_again(ctx, key);
    let wanted = count.unsigned_abs() as usize;
    if count < 0 {
        reply.array(wanted);
        for _ in 0..wanted {
            reply_member(reply, set.random_member(&mut rng).expect("never empty"));
        }
    } else if wanted >= set.len() {
        reply.array(set.len());
        set.iter().for_each(|member| reply_member(reply, member));
    } else {
        reply.array(wanted);
        distinct_members(set, wanted, &mut rng)
            .into_iter()
            .for_each(|member| reply_member(reply, member));
    }
    Ok(())
}

/// Redis reads the count as a long in -LONG_MAX..=LONG_MAX.
fn random_count(arg: &[u8]) -> Result<i64, Status> {
    match parse_i64(arg)? {
        i64::MIN => Err(Status::err(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        )),
        n => Ok(n),
    }
}

/// `n` distinct members (fewer than the set has) in random order: drawn until enough
/// distinct ones came when few are wanted, else a partial shuffle of all of them (Redis's
/// cases 3 and 4, split where it splits them).
fn distinct_members<'s>(set: &'s Set, n: usize, rng: &mut Rng) -> Vec<Member<'s>> {
    if n.saturating_mul(SRANDMEMBER_SUB_STRATEGY_MUL) > set.len() {
        let mut all: Vec<Member> = set.iter().collect();
        shuffle_prefix(&mut all, n, rng);
        all.truncate(n);
        return all;
    }
    let mut chosen = HashSet::with_capacity(n);
    let mut picks = Vec::with_capacity(n);
    while picks.len() < n {
        let member = set.random_member(rng).expect("never empty");
        if chosen.insert(member) {
            picks.push(member);
        }
    }
    picks
}

/// Redis's threshold between drawing distinct members and choosing from the whole list.
const SRANDMEMBER_SUB_STRATEGY_MUL: usize = 3;

// ---------------------------------------------------------------------------------------
// SSCAN

/// SSCAN key cursor [MATCH pattern] [COUNT count]. The cursor is checked first, then the
/// key (a missing key answers an empty scan before the options are read), then the
/// options, as in Redis. An intset answers everything at once with cursor 0, as Redis
/// does; a table is walked by bucket (see shard/set.rs).
fn sscan(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let cursor = parse_scan_cursor(args.required()?)?;
    let Some(set) = read(ctx, key)? else {
        reply_scan(reply, 0, &[]);
        return Ok(());
    };
    let (pattern, count) = scan_options(args)?;
    let mut found = Vec::new();
    let next = set.scan(cursor, count, |member| {
        if pattern.is_none_or(|p| member.with_bytes(|bytes| glob_match(p, bytes, false))) {
            found.push(member);
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

fn reply_scan(reply: &mut Reply, next: u64, members: &[Member]) {
    reply.array(2);
    reply.bulk(next.to_string().as_bytes());
    reply.array(members.len());
    members.iter().for_each(|&m| reply_member(reply, m));
}

// ---------------------------------------------------------------------------------------
// The set algebra: SINTER SUNION SDIFF, their STORE forms, SINTERCARD

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algebra {
    Inter,
    Union,
    Diff,
}

impl Algebra {
    /// The event the STORE form raises on its destination.
    fn store_event(self) -> &'static str {
        match self {
            Algebra::Inter => "sinterstore",
            Algebra::Union => "sunionstore",
            Algebra::Diff => "sdiffstore",
        }
    }
}

/// The sets at `keys` on one shard, in order (None for a missing key), or WRONGTYPE if
/// any key holds another type. Every key is looked up first (expiring what is due and
/// counting hits), then all are borrowed together. Always read lookups, for the STORE
/// forms too (Redis 7.0 reads their sources with lookupKeyRead): hits and misses count,
/// a miss raises `keymiss`, and a WATCH of a source the command only read stays intact;
/// only the destination is written (`store`).
fn lookup_sets<'c>(ctx: &'c mut Ctx, keys: &[Vec<u8>]) -> Result<Vec<Option<&'c Set>>, Status> {
    for key in keys {
        if let Some(entry) = ctx.lookup_read(key) {
            set_of(&entry.value)?;
        }
    }
    let db = &ctx.shard.dbs[ctx.db];
    Ok(keys
        .iter()
        .map(|key| db.raw_get(key).map(|e| set_of(&e.value).expect("checked")))
        .collect())
}

/// The result Redis builds (sinterGenericCommand, sunionDiffGenericCommand): an intset to
/// start with, members added in the order Redis adds them. A missing key is an empty set.
fn compute(algebra: Algebra, sets: &[Option<&Set>], limits: SetLimits) -> Set {
    let mut out = Set::default();
    match algebra {
        Algebra::Inter => {
            for member in intersection(sets) {
                out.insert_member(member, limits);
            }
        }
        Algebra::Union => {
            for member in sets.iter().flatten().flat_map(|set| set.iter()) {
                out.insert_member(member, limits);
            }
        }
        Algebra::Diff => {
            let Some((Some(first), others)) = sets.split_first() else {
                return out;
            };
            for member in first.iter() {
                if !others.iter().flatten().any(|s| s.contains_member(member)) {
                    out.insert_member(member, limits);
                }
            }
        }
    }
    out
}

/// The members of every set, in the order of the smallest (Redis walks the smallest and
/// probes the others, sorted by size); nothing when a key is missing.
fn intersection<'s>(sets: &[Option<&'s Set>]) -> impl Iterator<Item = Member<'s>> + 's {
    let mut present: Vec<&'s Set> = sets.iter().flatten().copied().collect();
    if present.len() < sets.len() {
        present.clear();
    }
    present.sort_by_key(|set| set.len());
    let smallest = present.first().copied();
    smallest
        .into_iter()
        .flat_map(Set::iter)
        .filter(move |&m| present[1..].iter().all(|s| s.contains_member(m)))
}

/// What an algebra command computed: the members to reply with, a stored count, or a
/// cardinality.
enum Outcome {
    Members(Set),
    Count(usize),
}

/// What to compute and where it goes.
#[derive(Clone, Copy)]
enum Goal {
    /// Reply with the result's members.
    Reply(Algebra),
    /// Store the result at the destination key and reply with its size.
    Store(Algebra),
    /// SINTERCARD: the size of the intersection, stopping at the limit (0: none).
    Cardinality(usize),
}

impl Goal {
    /// The algebra computed (SINTERCARD intersects).
    fn algebra(self) -> Algebra {
        match self {
            Goal::Reply(algebra) | Goal::Store(algebra) => algebra,
            Goal::Cardinality(_) => Algebra::Inter,
        }
    }
}

/// The whole command on one shard (every key on one core): computed in place.
fn run_on_one_shard(
    ctx: &mut Ctx,
    goal: Goal,
    dst: Option<&[u8]>,
    keys: &[Vec<u8>],
    limits: SetLimits,
) -> Result<Outcome, Status> {
    let sets = lookup_sets(ctx, keys)?;
    let outcome = finish_goal(goal, &sets, limits);
    drop(sets);
    match (outcome, dst) {
        (Outcome::Members(result), Some(dst)) => {
            Ok(Outcome::Count(store(ctx, dst, result, goal.algebra())))
        }
        (outcome, _) => Ok(outcome),
    }
}

fn finish_goal(goal: Goal, sets: &[Option<&Set>], limits: SetLimits) -> Outcome {
    match goal {
        Goal::Reply(algebra) | Goal::Store(algebra) => {
            Outcome::Members(compute(algebra, sets, limits))
        }
        Goal::Cardinality(limit) => {
            let limit = if limit == 0 { usize::MAX } else { limit };
            Outcome::Count(intersection(sets).take(limit).count())
        }
    }
}

/// Stores a result at `dst` (replacing any value and TTL, as Redis's setKey), or deletes
/// `dst` when the result is empty; the size stored.
fn store(ctx: &mut Ctx, dst: &[u8], result: Set, algebra: Algebra) -> usize {
    let len = result.len();
    match len {
        0 => {
            if ctx.delete(dst) {
                ctx.notify(class::GENERIC, "del", dst);
            }
        }
        _ => {
            ctx.set(dst, Value::Set(result), 0);
            ctx.notify(class::SET, algebra.store_event(), dst);
        }
    }
    len
}

/// Keys on several cores: each core's sets are copied out in ascending core order (every
/// core held from its read on), the result computed here, then stored on the destination's
/// core while all are still held, so no client sees anything in between.
async fn run_across_cores(
    op: &mut MultiCore,
    db: usize,
    goal: Goal,
    dst: Option<(usize, Vec<u8>)>,
    keys: Vec<Vec<u8>>,
    cores: usize,
    limits: SetLimits,
) -> Result<Outcome, Status> {
    let mut by_core: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (index, key) in keys.iter().enumerate() {
        by_core.entry(key_core(key, cores)).or_default().push(index);
    }
    let mut sets: Vec<Option<Set>> = vec![None; keys.len()];
    let mut failed = None;
    for (core, indices) in by_core {
        let wanted: Vec<Vec<u8>> = indices.iter().map(|&i| keys[i].clone()).collect();
        let copies = op
            .run(core, move |shard| {
                let mut ctx = Ctx::new(shard, db);
                let found = lookup_sets(&mut ctx, &wanted)?;
                Ok(found.into_iter().map(|s| s.cloned()).collect::<Vec<_>>())
            })
            .await;
        match copies {
            Ok(copies) => indices
                .into_iter()
                .zip(copies)
                .for_each(|(i, s)| sets[i] = s),
            Err(status) => failed = Some(status),
        }
    }
    if let Some(status) = failed {
        return Err(status);
    }
    let borrowed: Vec<Option<&Set>> = sets.iter().map(Option::as_ref).collect();
    let outcome = finish_goal(goal, &borrowed, limits);
    match (outcome, dst) {
        (Outcome::Members(result), Some((core, dst))) => {
            let stored = op
                .run(core, move |shard| {
                    store(&mut Ctx::new(shard, db), &dst, result, goal.algebra())
                })
                .await;
            Ok(Outcome::Count(stored))
        }
        (outcome, _) => Ok(outcome),
    }
}

/// Runs an algebra command over `keys` (and `dst`), holding every core involved.
async fn algebra(
    s: &mut Session,
    goal: Goal,
    dst: Option<Vec<u8>>,
    keys: Vec<Vec<u8>>,
) -> Result<(), Status> {
    let (db, cores) = (s.db, s.core.cores);
    let limits = SetLimits::from_settings(&s.core.settings.borrow());
    let dst = dst.map(|key| (key_core(&key, cores), key));
    let involved: Vec<usize> = keys
        .iter()
        .map(|key| key_core(key, cores))
        .chain(dst.iter().map(|(core, _)| *core))
        .collect();
    let mut op = MultiCore::new(s, involved.iter().copied());
    let outcome = if involved.iter().all(|&core| core == involved[0]) {
        op.run(involved[0], move |shard| {
            let dst = dst.map(|(_, key)| key);
            run_on_one_shard(
                &mut Ctx::new(shard, db),
                goal,
                dst.as_deref(),
                &keys,
                limits,
            )
        })
        .await
    } else {
        run_across_cores(&mut op, db, goal, dst, keys, cores, limits).await
    };
    op.finish().await;
    match outcome? {
        Outcome::Members(set) => reply_members(&mut s.reply(), &set),
        Outcome::Count(n) => s.reply().int(n as i64),
    }
    Ok(())
}

fn sinter(s: &mut Session, argv: Argv) -> Done<'_> {
    let keys = argv[1..].to_vec();
    algebra(s, Goal::Reply(Algebra::Inter), None, keys).boxed_local()
}

fn sunion(s: &mut Session, argv: Argv) -> Done<'_> {
    let keys = argv[1..].to_vec();
    algebra(s, Goal::Reply(Algebra::Union), None, keys).boxed_local()
}

fn sdiff(s: &mut Session, argv: Argv) -> Done<'_> {
    let keys = argv[1..].to_vec();
    algebra(s, Goal::Reply(Algebra::Diff), None, keys).boxed_local()
}

fn store_form(s: &mut Session, mut argv: Argv, algebra_kind: Algebra) -> Done<'_> {
    let keys = argv.split_off(2);
    let dst = argv.pop();
    algebra(s, Goal::Store(algebra_kind), dst, keys).boxed_local()
}

fn sinterstore(s: &mut Session, argv: Argv) -> Done<'_> {
    store_form(s, argv, Algebra::Inter)
}

fn sunionstore(s: &mut Session, argv: Argv) -> Done<'_> {
    store_form(s, argv, Algebra::Union)
}

fn sdiffstore(s: &mut Session, argv: Argv) -> Done<'_> {
    store_form(s, argv, Algebra::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit], checked in Redis's order: numkeys,
/// then that the keys fit, then the options.
fn sintercard(s: &mut Session, mut argv: Argv) -> Done<'_> {
    async move {
        let numkeys = parse_i64(&argv[1])
            .ok()
            .filter(|&n| n > 0)
            .ok_or(Status::err("ERR numkeys should be greater than 0"))?;
        if numkeys > argv.len() as i64 - 2 {
            return Err(Status::err(
                "ERR Number of keys can't be greater than number of args",
            ));
        }
        let options = argv.split_off(2 + numkeys as usize);
        let keys = argv.split_off(2);
        let mut limit = 0;
        let mut at = 0;
        while at < options.len() {
            if is(&options[at], "LIMIT") && at + 1 < options.len() {
                limit = positive(&options[at + 1], "ERR LIMIT can't be negative")?;
                at += 2;
            } else {
                return Err(Status::Syntax);
            }
        }
        algebra(s, Goal::Cardinality(limit), None, keys).await
    }
    .boxed_local()
}

/// A non-negative integer argument; anything else is `message`.
fn positive(arg: &[u8], message: &'static str) -> Result<usize, Status> {
    parse_i64(arg)
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or(Status::err(message))
}

// ---------------------------------------------------------------------------------------
// SMOVE

/// What SMOVE found at the source: nothing (reply 0 before the destination is looked
/// at), or whether the member is there.
fn smove_source(ctx: &mut Ctx, src: &[u8], member: &[u8]) -> Result<Option<bool>, Status> {
    Ok(write(ctx, src)?.map(|set| set.contains(member)))
}

/// WRONGTYPE when the destination holds another type.
fn smove_check_destination(ctx: &mut Ctx, dst: &[u8]) -> Result<(), Status> {
    write(ctx, dst).map(drop)
}

/// Removes `member` from the set at `key` (deleting an emptied set). The entry is taken
/// out and put back so the change is recorded as a PUT of the whole set (the multi-core
/// path logs physical ops); it keeps its TTL.
/// Returns whether the set emptied.
fn remove_member(ctx: &mut Ctx, key: &[u8], member: &[u8]) -> bool {
    let mut entry = ctx.take(key).expect("the source was just found");
    let set = set_mut(&mut entry.value).expect("type checked just now");
    set.remove(member);
    let emptied = set.is_empty();
    if !emptied {
        ctx.put_entry(entry);
    }
    emptied
}

/// SMOVE's events in Redis's order, raised once both sides are done (the destination
/// may have been written first, on another core): `srem` (and `del`) on the source,
/// then `new` and `sadd` on the destination.
fn notify_smove(ctx: &mut Ctx, src: &[u8], emptied: bool, dst: &[u8], created: bool) {
    ctx.notify(class::SET, "srem", src);
    if emptied {
        ctx.notify(class::GENERIC, "del", src);
    }
    if created {
        ctx.notify(class::NEW, "new", dst);
    }
    ctx.notify(class::SET, "sadd", dst);
}

/// Adds `member` to the set at `key`, creating it as SADD would; whether it created it.
/// Raises no event (see `notify_smove`).
fn add_member(ctx: &mut Ctx, key: &[u8], member: &[u8], limits: SetLimits) -> bool {
    match ctx.take(key) {
        Some(mut entry) => {
            set_mut(&mut entry.value)
                .expect("type checked just now")
                .insert(member, limits);
            ctx.put_entry(entry);
            false
        }
        None => {
            let mut set = Set::for_first(member);
            set.insert(member, limits);
            ctx.without_new(|ctx| ctx.set(key, Value::Set(set), 0));
            true
        }
    }
}

/// Both keys on one core: the whole move is one step. Ok(moved).
fn smove_on_one_core(
    shard: &mut Shard,
    db: usize,
    (src, dst, member): (&[u8], &[u8], &[u8]),
) -> Result<bool, Status> {
    let limits = limits(shard);
    let mut ctx = Ctx::new(shard, db);
    let Some(is_member) = smove_source(&mut ctx, src, member)? else {
        return Ok(false);
    };
    smove_check_destination(&mut ctx, dst)?;
    if src == dst || !is_member {
        return Ok(is_member);
    }
    let emptied = remove_member(&mut ctx, src, member);
    let created = add_member(&mut ctx, dst, member, limits);
    notify_smove(&mut ctx, src, emptied, dst, created);
    Ok(true)
}

/// Keys on two cores, both held until the operation finishes: the source is looked at,
/// then the destination is checked and given the member, and only then is the member
/// taken from the source (so a WRONGTYPE destination changes nothing).
async fn smove_across_cores(
    op: &mut MultiCore,
    db: usize,
    (src_core, src): (usize, Vec<u8>),
    (dst_core, dst): (usize, Vec<u8>),
    member: Vec<u8>,
) -> Result<bool, Status> {
    let (src_again, member_again) = (src.clone(), member.clone());
    let found = op
        .run(src_core, move |shard| {
            smove_source(&mut Ctx::new(shard, db), &src, &member)
        })
        .await?;
    let Some(is_member) = found else {
        return Ok(false);
    };
    let member_for_dst = member_again.clone();
    let dst_again = dst.clone();
    let created = op
        .run(dst_core, move |shard| {
            let limits = limits(shard);
            let mut ctx = Ctx::new(shard, db);
            smove_check_destination(&mut ctx, &dst)?;
            Ok::<_, Status>(is_member && add_member(&mut ctx, &dst, &member_for_dst, limits))
        })
        .await?;
    if is_member {
        op.run(src_core, move |shard| {
            let mut ctx = Ctx::new(shard, db);
            let emptied = remove_member(&mut ctx, &src_again, &member_again);
            notify_smove(&mut ctx, &src_again, emptied, &dst_again, created);
        })
        .await;
    }
    Ok(is_member)
}

fn smove(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let db = s.db;
        let cores = s.core.cores;
        let [_, src, dst, member]: [Vec<u8>; 4] = argv.try_into().expect("arity is 4");
        let (src_core, dst_core) = (key_core(&src, cores), key_core(&dst, cores));
        let mut op = MultiCore::new(s, [src_core, dst_core]);
        let moved = if src_core == dst_core {
            op.run(src_core, move |shard| {
                smove_on_one_core(shard, db, (&src, &dst, &member))
            })
            .await
        } else {
            smove_across_cores(&mut op, db, (src_core, src), (dst_core, dst), member).await
        };
        op.finish().await;
        s.reply().int(moved? as i64);
        Ok(())
    }
    .boxed_local()
}

// ---------------------------------------------------------------------------------------
// Table rows

const G: &str = "set";

/// SMOVE's two keys: source and destination.
const TWO_KEYS: KeySpec = KeySpec {
    first: 1,
    last: 2,
    step: 1,
};

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
        G,
        summary,
        since,
    )
}

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO (SINTERCARD's keys follow
// numkeys: Redis reports 0 0 0 for it); summary and version as its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    shard("sadd", -3, WRITE | DENYOOM | FAST, sadd, "Add one or more members to a set", "1.0.0"),
    shard("srem", -3, WRITE | FAST, srem, "Remove one or more members from a set", "1.0.0"),
    shard("smembers", 2, READONLY, smembers, "Get all the members in a set", "1.0.0"),
    shard("sismember", 3, READONLY | FAST, sismember, "Determine if a given value is a member of a set", "1.0.0"),
    shard("smismember", -3, READONLY | FAST, smismember, "Returns the membership associated with the given elements for a set", "6.2.0"),
    shard("scard", 2, READONLY | FAST, scard, "Get the number of members in a set", "1.0.0"),
    shard("spop", -2, WRITE | FAST, spop, "Remove and return one or multiple random members from a set", "1.0.0"),
    shard("srandmember", -2, READONLY, srandmember, "Get one or multiple random members from a set", "1.0.0"),
    shard("sscan", -3, READONLY, sscan, "Incrementally iterate Set elements", "2.8.0"),
    Spec::row("smove", 4, WRITE | FAST, TWO_KEYS, Multi(smove), G, "Move a member from one set to another", "1.0.0"),
    Spec::row("sinter", -2, READONLY, ALL_KEYS, Multi(sinter), G, "Intersect multiple sets", "1.0.0"),
    Spec::row("sunion", -2, READONLY, ALL_KEYS, Multi(sunion), G, "Add multiple sets", "1.0.0"),
    Spec::row("sdiff", -2, READONLY, ALL_KEYS, Multi(sdiff), G, "Subtract multiple sets", "1.0.0"),
    Spec::row("sinterstore", -3, WRITE | DENYOOM, ALL_KEYS, Multi(sinterstore), G, "Intersect multiple sets and store the resulting set in a key", "1.0.0"),
    Spec::row("sunionstore", -3, WRITE | DENYOOM, ALL_KEYS, Multi(sunionstore), G, "Add multiple sets and store the resulting set in a key", "1.0.0"),
    Spec::row("sdiffstore", -3, WRITE | DENYOOM, ALL_KEYS, Multi(sdiffstore), G, "Subtract multiple sets and store the resulting set in a key", "1.0.0"),
    Spec::row("sintercard", -3, READONLY, NO_KEYS, Multi(sintercard), G, "Intersect multiple sets and return the cardinality of the result", "7.0.0"),
];

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: SetLimits = SetLimits {
        intset_entries: 512,
    };

    fn set(members: &[&str]) -> Set {
        let mut set = Set::default();
        for m in members {
            set.insert(m.as_bytes(), LIMITS);
        }
        set
    }

    fn members(set: &Set) -> Vec<String> {
        set.iter()
            .map(|m| String::from_utf8(m.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn algebra_of_intsets_comes_back_ascending_as_in_redis() {
        let (a, b) = (set(&["5", "1", "3", "2"]), set(&["3", "9", "1"]));
        let sets = [Some(&a), Some(&b)];
        assert_eq!(members(&compute(Algebra::Inter, &sets, LIMITS)), ["1", "3"]);
        assert_eq!(
            members(&compute(Algebra::Union, &sets, LIMITS)),
            ["1", "2", "3", "5", "9"]
        );
        assert_eq!(members(&compute(Algebra::Diff, &sets, LIMITS)), ["2", "5"]);
        let with_missing = [Some(&a), None];
        assert!(compute(Algebra::Inter, &with_missing, LIMITS).is_empty());
        assert_eq!(compute(Algebra::Diff, &with_missing, LIMITS), a);
        assert!(compute(Algebra::Diff, &[None, Some(&a)], LIMITS).is_empty());
        assert!(compute(Algebra::Diff, &[Some(&a), Some(&a)], LIMITS).is_empty());
    }

    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn model(set: &Set) -> BTreeSet<Vec<u8>> {
        set.iter().map(|m| m.to_vec()).collect()
    }

    /// Up to four sets (some missing) over a small pool of integers and strings, built
    /// under a small intset limit so every mix of encodings occurs.
    fn some_sets() -> impl Strategy<Value = Vec<Option<Vec<String>>>> {
        let member = prop_oneof![
            (0i64..12).prop_map(|n| n.to_string()),
            prop::sample::select(vec!["a", "b", "07"]).prop_map(String::from),
        ];
        let set = prop::option::weighted(0.85, prop::collection::vec(member, 0..10));
        prop::collection::vec(set, 1..5)
    }

    proptest! {
        /// SINTER, SUNION, SDIFF and SINTERCARD agree with BTreeSet's algebra, and an
        /// all-integer result within the limit is an intset (ascending, as Redis's).
        #[test]
        fn algebra_matches_btreeset(lists in some_sets(), limit in 0usize..8) {
            let limits = SetLimits { intset_entries: limit };
            let built: Vec<Option<Set>> = lists
                .iter()
                .map(|list| list.as_ref().map(|members| {
                    let mut set = Set::default();
                    members.iter().for_each(|m| { set.insert(m.as_bytes(), limits); });
                    set
                }))
                .collect();
            let sets: Vec<Option<&Set>> = built.iter().map(Option::as_ref).collect();
            let models: Vec<BTreeSet<Vec<u8>>> =
                built.iter().map(|s| s.as_ref().map(model).unwrap_or_default()).collect();
            let inter = match sets.iter().any(Option::is_none) {
                true => BTreeSet::new(),
                false => models[1..].iter().fold(models[0].clone(), |acc, m| &acc & m),
            };
            let union = models.iter().fold(BTreeSet::new(), |acc, m| &acc | m);
            let diff = models[1..].iter().fold(models[0].clone(), |acc, m| &acc - m);
            for (algebra, expected) in
                [(Algebra::Inter, &inter), (Algebra::Union, &union), (Algebra::Diff, &diff)]
            {
                let result = compute(algebra, &sets, limits);
                prop_assert_eq!(&model(&result), expected, "{:?}", algebra);
                let all_ints = expected.iter().all(|m| {
                    crate::shard::value::parse_i64_strict(m).is_some()
                });
                prop_assert_eq!(
                    result.encoding() == "intset",
                    all_ints && expected.len() <= limit,
                    "{:?}", algebra
                );
            }
            for limit in [0, 1, 3] {
                let Outcome::Count(n) = finish_goal(Goal::Cardinality(limit), &sets, limits)
                else {
                    unreachable!()
                };
                let wanted = if limit == 0 { inter.len() } else { inter.len().min(limit) };
                prop_assert_eq!(n, wanted);
            }
        }
    }

    #[test]
    fn mixed_results_become_tables_and_count_with_a_limit() {
        let (a, b) = (set(&["1", "x", "y"]), set(&["1", "y", "z"]));
        let sets = [Some(&a), Some(&b)];
        let inter = compute(Algebra::Inter, &sets, LIMITS);
        assert_eq!((inter.encoding(), inter.len()), ("hashtable", 2));
        let union = compute(Algebra::Union, &sets, SetLimits { intset_entries: 2 });
        assert_eq!(union, set(&["1", "x", "y", "z"]));
        let only_ints = compute(Algebra::Diff, &[Some(&a), Some(&set(&["x", "y"]))], LIMITS);
        assert_eq!(
            only_ints.encoding(),
            "intset",
            "a result starts as an intset"
        );
        let count = |limit| match finish_goal(Goal::Cardinality(limit), &sets, LIMITS) {
            Outcome::Count(n) => n,
            Outcome::Members(_) => unreachable!(),
        };
        assert_eq!((count(0), count(1), count(5)), (2, 1, 2));
    }
}

//! HyperLogLog commands, with Redis 7.0's replies and error texts, over the string values
//! whose layout shard/hll.rs owns.
//!
//! ```text
//! one key   (Handler::Shard)  PFADD, PFDEBUG (GETREG DECODE ENCODING TODENSE), PFSELFTEST
//! any keys  (Handler::Multi)  PFCOUNT (one key: may rewrite its cached cardinality;
//!                             several: a merged read), PFMERGE (dest on any core)
//! ```
//!
//! Durability: PFADD and PFDEBUG are logged as their own arguments (they are functions of
//! the value and the arguments, so replay rebuilds the same bytes). PFCOUNT of one key
//! stores the cardinality it computed into the value, a change Redis propagates although
//! the command is read-only; it runs on the multi-core path so the rewrite is recorded as
//! a physical PUT, and a replayed value is byte-equal with its cache. PFMERGE builds the
//! destination and stores it with `Ctx::set`/`put_entry`, recorded the same way.

use super::args::{is, Args};
use super::session::Session;
use super::{flags::*, Handler, KeySpec, Spec, Status, ALL_KEYS, NO_KEYS, ONE_KEY};
use crate::core::multi::MultiCore;
use crate::resp::Reply;
use crate::shard::hll::{self, Corrupt, REGISTERS};
use crate::shard::notify::class;
use crate::shard::slot::key_core;
use crate::shard::value::Value;
use crate::shard::{Ctx, Rng, Shard};
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::collections::BTreeMap;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// A string that is not an HLL, as Redis words it.
fn not_hll() -> Status {
    Status::err("WRONGTYPE Key is not a valid HyperLogLog string value.")
}

fn invalid() -> Status {
    Status::err("INVALIDOBJ Corrupted HLL object detected")
}

/// A corrupt HLL met while reading or changing one, as the error the client reads.
fn corrupt(_: Corrupt) -> Status {
    invalid()
}

/// The HLL stored in `value`: WRONGTYPE for another type, the HLL wording for a string
/// that is not one.
fn hll_of(value: &Value) -> Result<&[u8], Status> {
    match value {
        Value::Str(bytes) if hll::is_hll(bytes) => Ok(bytes),
        Value::Str(_) => Err(not_hll()),
        _ => Err(Status::WrongType),
    }
}

fn hll_mut(value: &mut Value) -> Result<&mut Vec<u8>, Status> {
    hll_of(value)?;
    match value {
        Value::Str(bytes) => Ok(bytes),
        _ => unreachable!("checked above"),
    }
}

/// `hll-sparse-max-bytes`: the shard's copy of the configuration, kept current by CONFIG
/// SET, so PFADD takes no lock.
fn sparse_max_bytes(shard: &mut Shard) -> u64 {
    *shard.hll_sparse_max_bytes.get_or_insert_with(|| {
        let config = crate::server::CONFIG
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let settings = config.as_ref().map(|c| c.settings()).unwrap_or_default();
        settings.hll_sparse_max_bytes
    })
}

/// Redis edits an HLL in its own unshared string, which OBJECT ENCODING then calls `raw`
/// whatever its length.
fn mark_raw(ctx: &mut Ctx, key: &[u8]) {
    if let Some(entry) = ctx.lookup_write(key) {
        entry.edited_in_place = true;
    }
}

// ---------------------------------------------------------------------------------------
// PFADD

fn pfadd(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let max_bytes = sparse_max_bytes(ctx.shard);
    let Some(entry) = ctx.lookup_write(key) else {
        let mut value = hll::new_sparse();
        for element in args.rest() {
            hll::add(&mut value, element, max_bytes).expect("a new HLL is well formed");
        }
        // A created key counts as an update even without elements.
        hll::invalidate(&mut value);
        ctx.set(key, Value::Str(value), 0);
        mark_raw(ctx, key);
        ctx.notify(class::STRING, "pfadd", key);
        reply.int(1);
        return Ok(());
    };
    let value = hll_mut(&mut entry.value)?;
    let mut updated = false;
    for element in args.rest() {
        match hll::add(value, element, max_bytes) {
            Ok(changed) => updated |= changed,
            Err(Corrupt) => {
                // Registers set before the corrupt one stay set, as in Redis. The error
                // is the command's reply, not its failure: the CMD record is written so
                // replay repeats the same partial change.
                entry.edited_in_place = true;
                reply.error(&invalid().text());
                return Ok(());
            }
        }
    }
    if updated {
        hll::invalidate(value);
    }
    entry.edited_in_place = true;
    if updated {
        ctx.notify(class::STRING, "pfadd", key);
    }
    reply.int(updated as i64);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// PFCOUNT

/// PFCOUNT of one key: the cached cardinality, or a fresh count stored back into the
/// value (taken and put back, so the change is recorded as a physical PUT).
fn count_cached(ctx: &mut Ctx, key: &[u8]) -> Result<u64, Status> {
    let Some(entry) = ctx.lookup_read(key) else {
        return Ok(0);
    };
    let value = hll_of(&entry.value)?;
    if let Some(card) = hll::cached(value) {
        return Ok(card);
    }
    let card = hll::count(value).map_err(corrupt)?;
    let mut entry = ctx.take(key).expect("live just now");
    let Value::Str(bytes) = &mut entry.value else {
        unreachable!("checked above");
    };
    hll::set_cached(bytes, card);
    entry.edited_in_place = true;
    ctx.put_entry(entry);
    Ok(card)
}

/// Registers merged so far (one byte each), whether a source was dense, and the first
/// error met with its argument position.
struct Merged {
    max: Vec<u8>,
    dense: bool,
    error: Option<(usize, Status)>,
}

impl Merged {
    fn new() -> Merged {
        Merged {
            max: vec![0; REGISTERS],
            dense: false,
            error: None,
        }
    }

    /// Merges the keys at `positions` (argument order), read on this core.
    fn read(&mut self, ctx: &mut Ctx, keys: &[(usize, Vec<u8>)]) {
        for (position, key) in keys {
            if let Err(status) = self.merge_key(ctx, key) {
                self.error = Some((*position, status));
                return;
            }
        }
    }

    fn merge_key(&mut self, ctx: &mut Ctx, key: &[u8]) -> Result<(), Status> {
        let Some(entry) = ctx.lookup_read(key) else {
            return Ok(());
        };
        let value = hll_of(&entry.value)?;
        self.dense |= hll::encoding(value) == hll::DENSE;
        hll::merge_into(&mut self.max, value).map_err(corrupt)
    }

    /// Folds another core's merge in; the error of the earliest argument wins, as Redis
    /// reads the keys in order and stops at the first bad one.
    fn absorb(&mut self, other: Merged) {
        for (slot, value) in self.max.iter_mut().zip(other.max) {
            *slot = (*slot).max(value);
        }
        self.dense |= other.dense;
        self.error = match (self.error.take(), other.error) {
            (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
            (a, b) => a.or(b),
        };
    }

    fn result(self) -> Result<Merged, Status> {
        match self.error {
            Some((_, status)) => Err(status),
            None => Ok(self),
        }
    }
}

/// A key's first position among `keys`, to order the events of keys read core by core.
fn argument_rank(keys: &[Vec<u8>]) -> impl Fn(&[u8]) -> usize {
    let keys = keys.to_vec();
    move |key| keys.iter().position(|k| k == key).unwrap_or(usize::MAX)
}

/// Keys by the core owning them, each with its argument position.
fn by_core(keys: &[Vec<u8>], cores: usize) -> BTreeMap<usize, Vec<(usize, Vec<u8>)>> {
    let mut groups: BTreeMap<usize, Vec<(usize, Vec<u8>)>> = BTreeMap::new();
    for (position, key) in keys.iter().enumerate() {
        groups
            .entry(key_core(key, cores))
            .or_default()
            .push((position, key.clone()));
    }
    groups
}

/// Merges every key of `groups` except those on `final_core`, core by core, each core
/// held until the operation ends.
async fn merge_remote(
    op: &mut MultiCore,
    db: usize,
    groups: &mut BTreeMap<usize, Vec<(usize, Vec<u8>)>>,
    final_core: usize,
) -> Merged {
    let mut merged = Merged::new();
    let remote: Vec<usize> = groups
        .keys()
        .copied()
        .filter(|&c| c != final_core)
        .collect();
    for core in remote {
        let keys = groups.remove(&core).expect("a group per core");
        let part = op
            .run(core, move |shard| {
                let mut part = Merged::new();
                part.read(&mut Ctx::new(shard, db), &keys);
                part
            })
            .await;
        merged.absorb(part);
    }
    merged
}

pub fn pfcount(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let keys = argv[1..].to_vec();
        let (cores, db) = (s.core.cores, s.db);
        let card = if keys.len() == 1 {
            let core = key_core(&keys[0], cores);
            let mut op = MultiCore::new(s, [core]);
            let key = keys[0].clone();
            let card = op
                .run(core, move |shard| {
                    count_cached(&mut Ctx::new(shard, db), &key)
                })
                .await;
            op.finish().await;
            card?
        } else {
            let mut groups = by_core(&keys, cores);
            let mut op = MultiCore::new(s, groups.keys().copied());
            let last = *groups.keys().next_back().expect("at least one key");
            let mut merged = merge_remote(&mut op, db, &mut groups, last).await;
            let local = groups.remove(&last).expect("the last core's keys");
            let part = op
                .run(last, move |shard| {
                    let mut part = Merged::new();
                    part.read(&mut Ctx::new(shard, db), &local);
                    part
                })
                .await;
            // Each core read its keys in turn: misses are raised in argument order.
            op.sort_events(argument_rank(&keys));
            op.finish().await;
            merged.absorb(part);
            hll::count_registers(&merged.result()?.max)
        };
        s.reply().int(card as i64);
        Ok(())
    }
    .boxed_local()
}

// ---------------------------------------------------------------------------------------
// PFMERGE

/// Writes the merged registers into `dst` (an HLL or missing, as the merge checked):
/// dense when any source was, otherwise sparse until it outgrows its limit. The
/// destination keeps its TTL.
fn store_merge(ctx: &mut Ctx, dst: &[u8], merged: &Merged) -> Result<(), Status> {
    let max_bytes = sparse_max_bytes(ctx.shard);
    let existing = ctx.lookup_write(dst).is_some();
    let mut entry = existing.then(|| ctx.take(dst).expect("live just now"));
    let mut fresh = hll::new_sparse();
    let value = match &mut entry {
        Some(entry) => hll_mut(&mut entry.value)?,
        None => &mut fresh,
    };
    if merged.dense {
        hll::to_dense(value).map_err(corrupt)?;
    }
    for (index, &count) in merged.max.iter().enumerate() {
        if count != 0 {
            // Redis ignores a failure here: the destination was validated as a source.
            let _ = hll::set_register(value, index, count, max_bytes);
        }
    }
    hll::invalidate(value);
    match entry {
        Some(mut entry) => {
            entry.edited_in_place = true;
            ctx.put_entry(entry);
        }
        None => {
            ctx.set(dst, Value::Str(fresh), 0);
            mark_raw(ctx, dst);
        }
    }
    // Redis names PFMERGE's event `pfadd`, raised even when no register changed.
    ctx.notify(class::STRING, "pfadd", dst);
    Ok(())
}

/// PFMERGE dst [src ...]: the destination's own registers are merged in too (it is the
/// first source, as in Redis).
pub fn pfmerge(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let keys = argv[1..].to_vec();
        let (cores, db) = (s.core.cores, s.db);
        let final_core = key_core(&keys[0], cores);
        let mut groups = by_core(&keys, cores);
        let spread = groups.len() > 1;
        let mut op = MultiCore::new(s, groups.keys().copied());
        let mut merged = merge_remote(&mut op, db, &mut groups, final_core).await;
        let local = groups.remove(&final_core).expect("the destination's core");
        let dst = keys[0].clone();
        let result = if spread {
            // Every core stays held, so the destination's core may read, then store in a
            // second step: the reads' misses are put in argument order in between, before
            // the store's own events, as Redis reads every key before it writes.
            let part = op
                .run(final_core, move |shard| {
                    let mut part = Merged::new();
                    part.read(&mut Ctx::new(shard, db), &local);
                    part
                })
                .await;
            op.sort_events(argument_rank(&keys));
            merged.absorb(part);
            match merged.result() {
                Ok(merged) => {
                    op.run(final_core, move |shard| {
                        store_merge(&mut Ctx::new(shard, db), &dst, &merged)
                    })
                    .await
                }
                Err(status) => Err(status),
            }
        } else {
            op.run(final_core, move |shard| {
                let mut ctx = Ctx::new(shard, db);
                let mut part = Merged::new();
                part.read(&mut ctx, &local);
                part.absorb(merged);
                store_merge(&mut ctx, &dst, &part.result()?)
            })
            .await
        };
        op.finish().await;
        result?;
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

// ---------------------------------------------------------------------------------------
// PFDEBUG PFSELFTEST

/// PFDEBUG subcommand key (arity 3: no subcommand takes more): the key is checked before
/// the subcommand, as in Redis.
fn pfdebug(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let sub = args.required()?;
    let key = args.required()?;
    let Some(entry) = ctx.lookup_write(key) else {
        return Err(Status::err("ERR The specified key does not exist"));
    };
    let value = hll_mut(&mut entry.value)?;
    entry.edited_in_place = true;
    if is(sub, "getreg") {
        hll::to_dense(value).map_err(corrupt)?;
        let registers = &value[hll::HDR_BYTES..];
        reply.array(REGISTERS);
        for index in 0..REGISTERS {
            reply.int(hll::dense_get(registers, index) as i64);
        }
    } else if is(sub, "decode") {
        if hll::encoding(value) != hll::SPARSE {
            return Err(Status::err("ERR HLL encoding is not sparse"));
        }
        reply.bulk(hll::decode(value).as_bytes());
    } else if is(sub, "encoding") {
        reply.simple(match hll::encoding(value) {
            hll::DENSE => "dense",
            _ => "sparse",
        });
    } else if is(sub, "todense") {
        reply.int(hll::to_dense(value).map_err(corrupt)? as i64);
    } else {
        return Err(Status::err(format!(
            "ERR Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        )));
    }
    Ok(())
}

/// Rounds of the register access test, and the elements of the estimate test, as Redis.
const SELFTEST_ROUNDS: usize = 1000;
const SELFTEST_ELEMENTS: u64 = 10_000_000;

fn pfselftest(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    args.finish()?;
    let mut rng = ctx.shard.fork_rng();
    let max_bytes = sparse_max_bytes(ctx.shard);
    selftest(&mut rng, SELFTEST_ROUNDS, SELFTEST_ELEMENTS, max_bytes)?;
    reply.ok();
    Ok(())
}

/// Redis's pfselftest: dense registers keep what is written and leave their neighbours
/// alone; a dense and a sparse HLL fed the same elements agree, the sparse one stays
/// sparse while small, and the estimate stays within six standard errors at each power
/// of ten.
fn selftest(rng: &mut Rng, rounds: usize, elements: u64, max_bytes: u64) -> Result<(), Status> {
    let failed = |text: String| Err(Status::err(format!("ERR TESTFAILED {text}")));
    let mut dense = hll::new_sparse();
    hll::to_dense(&mut dense).map_err(corrupt)?;
    let mut expected = vec![0u8; REGISTERS];
    for _ in 0..rounds {
        let registers = &mut dense[hll::HDR_BYTES..];
        for (index, slot) in expected.iter_mut().enumerate() {
            *slot = rng.below(64) as u8;
            hll::dense_set(registers, index, *slot);
        }
        for (index, &want) in expected.iter().enumerate() {
            let got = hll::dense_get(registers, index);
            if got != want {
                return failed(format!("Register {index} should be {want} but is {got}"));
            }
        }
    }
    dense[hll::HDR_BYTES..].fill(0);
    let mut sparse = hll::new_sparse();
    let relative_error = 1.04 / (REGISTERS as f64).sqrt();
    let seed = rng.below(usize::MAX) as u64;
    let mut checkpoint = 1u64;
    for j in 1..=elements {
        let element = (j ^ seed).to_le_bytes();
        hll::add(&mut dense, &element, max_bytes).map_err(corrupt)?;
        hll::add(&mut sparse, &element, max_bytes).map_err(corrupt)?;
        if j != checkpoint {
            continue;
        }
        if j < max_bytes / 2 && hll::encoding(&sparse) != hll::SPARSE {
            return failed("sparse encoding not used".into());
        }
        let card = hll::count(&dense).map_err(corrupt)?;
        if card != hll::count(&sparse).map_err(corrupt)? {
            return failed("dense/sparse disagree".into());
        }
        let mut max_error = (relative_error * 6.0 * checkpoint as f64).ceil() as u64;
        // At 10, a collision is likely enough now and then to make the bound too tight.
        if j == 10 {
            max_error = 1;
        }
        let error = checkpoint.abs_diff(card);
        if error > max_error {
            return failed(format!("Too big error. card:{checkpoint} abserr:{error}"));
        }
        checkpoint *= 10;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Table rows

/// PFDEBUG's key follows its subcommand.
const SECOND: KeySpec = KeySpec {
    first: 2,
    last: 2,
    step: 1,
};

const fn row(
    name: &'static str,
    arity: i16,
    flags: u32,
    keys: KeySpec,
    handler: Handler,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(
        name,
        arity,
        flags,
        keys,
        handler,
        "hyperloglog",
        summary,
        since,
    )
}

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    row("pfadd", -2, WRITE | DENYOOM | FAST, ONE_KEY, Handler::Shard(pfadd), "Adds the specified elements to the specified HyperLogLog.", "2.8.9"),
    row("pfcount", -2, READONLY | MAY_REPLICATE, ALL_KEYS, Handler::Multi(pfcount), "Return the approximated cardinality of the set(s) observed by the HyperLogLog at key(s).", "2.8.9"),
    row("pfmerge", -2, WRITE | DENYOOM, ALL_KEYS, Handler::Multi(pfmerge), "Merge N different HyperLogLogs into a single one.", "2.8.9"),
    row("pfdebug", 3, WRITE | DENYOOM | ADMIN, SECOND, Handler::Shard(pfdebug), "Internal commands for debugging HyperLogLog values", "2.8.9"),
    row("pfselftest", 1, ADMIN, NO_KEYS, Handler::Shard(pfselftest), "An internal command for testing HyperLogLog values", "2.8.9"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selftest_passes_on_a_short_run() {
        let mut rng = Shard::new(7).fork_rng();
        assert_eq!(selftest(&mut rng, 3, 100_000, 3000), Ok(()));
    }
}

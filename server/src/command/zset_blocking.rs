//! Blocking sorted-set pops: BZPOPMIN, BZPOPMAX, BZMPOP. They plug into the attempt /
//! register / wait loop of blocking.rs through `Blockable`, as the list pops do.
//!
//! ```text
//! attempt (cores of the keys held)   pop from the first non-empty key, argument order;
//!                                    a key of another type met first is WRONGTYPE
//! nothing                            wait; the owning shard serves it after a ZADD,
//!                                    ZINCRBY, ZUNIONSTORE, RENAME... created the key
//! ```
//!
//! Durability: a pop changes the set in place, so it records itself as the deterministic
//! single-key command it amounts to, `ZPOPMIN key count` / `ZPOPMAX key count` (a CMD op;
//! what Redis propagates for a served BZPOPMIN). That holds for the attempt (a step of a
//! multi-core operation) and for a pop served later on the key's shard (shard/blocking.rs
//! logs the step's ops as one record).

use super::blocking::{block, parse_timeout, Blockable};
use super::session::Session;
use super::zset::{pop, zset_mut, zset_of, End};
use super::zset_multi::parse_zmpop;
use super::{flags::*, Handler, KeySpec, Spec, Status, NO_KEYS};
use crate::core::multi::MultiCore;
use crate::resp::{Proto, Reply};
use crate::shard::blocking::Serve;
use crate::shard::effect;
use crate::shard::notify::class;
use crate::shard::slot::key_core;
use crate::shard::Ctx;
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;
type Elements = Vec<(Vec<u8>, f64)>;

/// A blocked sorted-set pop.
#[derive(Clone)]
struct ZPop {
    keys: Vec<Vec<u8>>,
    end: End,
    count: usize,
    /// BZPOPMIN/BZPOPMAX (`[key, member, score]`) rather than BZMPOP (`[key, [[m, s]...]]`).
    single: bool,
}

/// Pops up to `count` elements from `key` if it holds a sorted set, recording the pop as
/// `ZPOPMIN|ZPOPMAX key count` (replay pops the same elements: the lowest or highest).
/// Ok(None) for a missing key; WRONGTYPE for a key of another type.
fn pop_recorded(
    ctx: &mut Ctx,
    key: &[u8],
    end: End,
    count: usize,
) -> Result<Option<Elements>, Status> {
    let Some(entry) = ctx.lookup_write(key) else {
        return Ok(None);
    };
    zset_of(&entry.value)?;
    if ctx.shard.journal.recording() {
        let name: &[u8] = match end {
            End::Min => b"ZPOPMIN",
            End::Max => b"ZPOPMAX",
        };
        let count_arg = count.to_string();
        let args = [name, key, count_arg.as_bytes()];
        let (db, now_ms) = (ctx.db, ctx.now_ms());
        effect::cmd(ctx.shard.journal.ops(), db, now_ms, args.into_iter());
    }
    let entry = ctx.lookup_write(key).expect("live just now");
    let zset = zset_mut(&mut entry.value)?;
    let popped = pop(zset, end, count);
    let emptied = zset.is_empty();
    if emptied {
        // Not a DEL op of its own: the recorded pop deletes the emptied set on replay.
        ctx.db().remove(key);
    }
    // Redis's genericZpopCommand, whether served at once or later: the pop, then `del`.
    ctx.notify(class::ZSET, end.event(), key);
    if emptied {
        ctx.notify(class::GENERIC, "del", key);
    }
    Ok(Some(popped))
}

/// Tries `keys` (all on this shard) in order: the first sorted set is popped.
fn pop_first(
    ctx: &mut Ctx,
    keys: &[Vec<u8>],
    end: End,
    count: usize,
) -> Result<Option<(Vec<u8>, Elements)>, Status> {
    for key in keys {
        if let Some(popped) = pop_recorded(ctx, key, end, count)? {
            return Ok(Some((key.clone(), popped)));
        }
    }
    Ok(None)
}

impl ZPop {
    /// The reply to a pop that found `key`: BZPOPMIN's `[key, member, score]`, or
    /// BZMPOP's `[key, [[member, score]...]]` (scores are doubles in RESP3).
    fn reply(&self, reply: &mut Reply, key: &[u8], elements: &Elements) {
        if self.single {
            let (member, score) = &elements[0];
            reply.array(3);
            reply.bulk(key);
            reply.bulk(member);
            reply.double(*score);
            return;
        }
        reply.array(2);
        reply.bulk(key);
        reply.array(elements.len());
        for (member, score) in elements {
            reply.array(2);
            reply.bulk(member);
            reply.double(*score);
        }
    }

    fn encode(&self, proto: Proto, key: &[u8], elements: &Elements) -> Vec<u8> {
        let mut out = Vec::new();
        self.reply(&mut Reply::new(&mut out, proto), key, elements);
        out
    }
}

impl Blockable for ZPop {
    fn wait_keys(&self) -> &[Vec<u8>] {
        &self.keys
    }

    /// Keys are tried in argument order; consecutive keys of one core in one step.
    fn try_now<'a>(
        &'a self,
        op: &'a mut MultiCore,
        db: usize,
        cores: usize,
        proto: Proto,
    ) -> LocalBoxFuture<'a, Result<Option<Vec<u8>>, Status>> {
        async move {
            let mut runs: Vec<(usize, Vec<Vec<u8>>)> = Vec::new();
            for key in &self.keys {
                let core = key_core(key, cores);
                match runs.last_mut() {
                    Some((last, run)) if *last == core => run.push(key.clone()),
                    _ => runs.push((core, vec![key.clone()])),
                }
            }
            let (end, count) = (self.end, self.count);
            for (core, run) in runs {
                let popped = op
                    .run(core, move |shard| {
                        pop_first(&mut Ctx::new(shard, db), &run, end, count)
                    })
                    .await?;
                if let Some((key, elements)) = popped {
                    return Ok(Some(self.encode(proto, &key, &elements)));
                }
            }
            Ok(None)
        }
        .boxed_local()
    }

    fn server(&self, proto: Proto) -> Box<dyn Serve> {
        Box::new(ZServe {
            request: self.clone(),
            proto,
        })
    }
}

/// A waiter's pop as the shard owning one of its keys serves it.
struct ZServe {
    request: ZPop,
    proto: Proto,
}

impl Serve for ZServe {
    fn serve(&self, ctx: &mut Ctx, key: &[u8]) -> Option<Vec<u8>> {
        let ZPop { end, count, .. } = self.request;
        // Another type now under the key is not this waiter's business yet: it stays.
        let elements = pop_recorded(ctx, key, end, count).ok()??;
        Some(self.request.encode(self.proto, key, &elements))
    }
}

// ---------------------------------------------------------------------------------------
// The commands

/// BZPOPMIN/BZPOPMAX key [key ...] timeout.
fn bzpop(s: &mut Session, argv: Argv, end: End) -> Done<'_> {
    async move {
        let deadline = parse_timeout(argv.last().expect("arity"))?;
        let request = ZPop {
            keys: argv[1..argv.len() - 1].to_vec(),
            end,
            count: 1,
            single: true,
        };
        block(s, request, deadline).await
    }
    .boxed_local()
}

fn bzpopmin(s: &mut Session, argv: Argv) -> Done<'_> {
    bzpop(s, argv, End::Min)
}

fn bzpopmax(s: &mut Session, argv: Argv) -> Done<'_> {
    bzpop(s, argv, End::Max)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]: numkeys, the end and COUNT
/// are checked before the timeout, as Redis does.
fn bzmpop(s: &mut Session, mut argv: Argv) -> Done<'_> {
    async move {
        let timeout = argv.remove(1);
        let (keys, end, count) = parse_zmpop(&argv)?;
        let deadline = parse_timeout(&timeout)?;
        let request = ZPop {
            keys,
            end,
            count,
            single: false,
        };
        block(s, request, deadline).await
    }
    .boxed_local()
}

const fn blocking(
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

const ALL_BUT_TIMEOUT: KeySpec = KeySpec {
    first: 1,
    last: -2,
    step: 1,
};

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    blocking("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, ALL_BUT_TIMEOUT, bzpopmin, "Remove and return the member with the lowest score from one or more sorted sets, or block until one is available", "5.0.0"),
    blocking("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, ALL_BUT_TIMEOUT, bzpopmax, "Remove and return the member with the highest score from one or more sorted sets, or block until one is available", "5.0.0"),
    blocking("bzmpop", -5, WRITE | BLOCKING | MOVABLEKEYS, NO_KEYS, bzmpop, "Remove and return members with scores in a sorted set or block until one is available", "7.0.0"),
];

//! String commands. (GET/SET/MGET/MSET first; the rest of the family follows.)

use super::args::{is, Args};
use super::session::Session;
use super::{flags::*, Handler, KeySpec, Spec, Status, ONE_KEY};
use crate::core::multi::MultiCore;
use crate::resp::Reply;
use crate::shard::value::Value;
use crate::shard::{slot::key_core, Ctx};
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::collections::BTreeMap;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// The string stored at `key`, or WRONGTYPE.
fn string_of(value: &Value) -> Result<&[u8], Status> {
    match value {
        Value::Str(s) => Ok(s),
    }
}

fn get(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    match ctx.lookup_read(key) {
        Some(entry) => reply.bulk(string_of(&entry.value)?),
        None => reply.null(),
    }
    Ok(())
}

/// SET's expiry option, resolved to an absolute Unix time in milliseconds.
enum Expiry {
    None,
    Keep,
    At(u64),
}

fn set(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let value = args.required()?;
    let (mut nx, mut xx, mut get_old) = (false, false, false);
    let mut expiry = Expiry::None;
    while let Some(option) = args.next() {
        let unit_ms = if is(option, "EX") || is(option, "EXAT") {
            1000
        } else if is(option, "PX") || is(option, "PXAT") {
            1
        } else {
            0
        };
        if unit_ms > 0 {
            if !matches!(expiry, Expiry::None) {
                return Err(Status::Syntax);
            }
            let amount = args.required()?;
            let amount = super::args::parse_i64(amount)?;
            let absolute = option.len() == 4;
            if amount <= 0 || amount > i64::MAX / unit_ms {
                return Err(Status::InvalidExpire("set"));
            }
            let ms = amount * unit_ms;
            let at = if absolute {
                ms
            } else {
                (ctx.now_ms() as i64)
                    .checked_add(ms)
                    .ok_or(Status::InvalidExpire("set"))?
            };
            expiry = Expiry::At(at as u64);
        } else if is(option, "NX") && !xx {
            nx = true;
        } else if is(option, "XX") && !nx {
            xx = true;
        } else if is(option, "KEEPTTL") && matches!(expiry, Expiry::None) {
            expiry = Expiry::Keep;
        } else if is(option, "GET") {
            get_old = true;
        } else {
            return Err(Status::Syntax);
        }
    }
    let (exists, old_expire) = match ctx.lookup_write(key) {
        Some(entry) => {
            if get_old {
                string_of(&entry.value)?;
            }
            (true, entry.expire_at_ms)
        }
        None => (false, 0),
    };
    if get_old {
        match ctx.lookup_read(key) {
            Some(entry) => reply.bulk(string_of(&entry.value)?),
            None => reply.null(),
        }
    }
    if (nx && exists) || (xx && !exists) {
        if !get_old {
            reply.null();
        }
        return Ok(());
    }
    let expire_at_ms = match expiry {
        Expiry::None => 0,
        Expiry::Keep => old_expire,
        Expiry::At(at) => at,
    };
    ctx.set(key, Value::Str(value.to_vec()), expire_at_ms);
    if !get_old {
        reply.ok();
    }
    Ok(())
}

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

fn mget(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let groups = by_core(&argv, 1, 1, s.core.cores);
        let mut op = MultiCore::new(&s.core, groups.keys().copied());
        let mut values: Vec<Option<Vec<u8>>> = vec![None; argv.len()];
        for (core, positions) in groups {
            let keys: Vec<Vec<u8>> = positions.iter().map(|&p| argv[p].clone()).collect();
            let db = s.db;
            let found = op
                .run(core, move |shard| {
                    let mut ctx = Ctx::new(shard, db);
                    keys.iter()
                        .map(|key| match ctx.lookup_read(key) {
                            Some(entry) => match &entry.value {
                                Value::Str(v) => Some(v.clone()),
                            },
                            None => None,
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

fn mset(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        if argv.len() % 2 == 0 {
            return Err(Status::WrongArity("mset".into()));
        }
        let groups = by_core(&argv, 1, 2, s.core.cores);
        let mut op = MultiCore::new(&s.core, groups.keys().copied());
        for (core, positions) in groups {
            let pairs: Vec<(Vec<u8>, Vec<u8>)> = positions
                .iter()
                .map(|&p| (argv[p].clone(), argv[p + 1].clone()))
                .collect();
            let db = s.db;
            op.run(core, move |shard| {
                let mut ctx = Ctx::new(shard, db);
                for (key, value) in pairs {
                    ctx.set(&key, Value::Str(value), 0);
                }
            })
            .await;
        }
        op.finish().await;
        s.reply().ok();
        Ok(())
    }
    .boxed_local()
}

const fn shard(
    name: &'static str,
    arity: i16,
    flags: u32,
    handler: super::ShardFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys: ONE_KEY,
        handler: Handler::Shard(handler),
        group: "string",
        summary,
        since,
        subcommands: &[],
    }
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
    Spec {
        name,
        arity,
        flags,
        keys,
        handler: Handler::Multi(handler),
        group: "string",
        summary,
        since,
        subcommands: &[],
    }
}

pub static COMMANDS: &[Spec] = &[
    shard("get", 2, READONLY | FAST, get, "Returns the string value of a key.", "1.0.0"),
    shard("set", -3, WRITE | DENYOOM, set, "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", "1.0.0"),
    multi("mget", -2, READONLY | FAST, KeySpec { first: 1, last: -1, step: 1 }, mget, "Atomically returns the string values of one or more keys.", "1.0.0"),
    multi("mset", -3, WRITE | DENYOOM, KeySpec { first: 1, last: -1, step: 2 }, mset, "Atomically creates or modifies the string values of one or more keys.", "1.0.1"),
];

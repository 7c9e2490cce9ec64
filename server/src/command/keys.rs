//! Generic key commands. (DEL/EXISTS first; the rest of the family follows.)

use super::session::Session;
use super::string::by_core;
use super::{flags::*, Handler, Spec, Status, ALL_KEYS};
use crate::core::multi::MultiCore;
use crate::shard::Ctx;
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// Runs `per_key` on every key (on its core, all cores held together) and replies with
/// the sum: DEL, UNLINK, EXISTS, TOUCH.
async fn count_keys(
    s: &mut Session,
    argv: Argv,
    per_key: fn(&mut Ctx, &[u8]) -> bool,
) -> Result<(), Status> {
    let groups = by_core(&argv, 1, 1, s.core.cores);
    let mut op = MultiCore::new(&s.core, groups.keys().copied());
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
    op.finish().await;
    s.reply().int(total);
    Ok(())
}

fn del(s: &mut Session, argv: Argv) -> Done<'_> {
    count_keys(s, argv, |ctx, key| ctx.delete(key)).boxed_local()
}

fn exists(s: &mut Session, argv: Argv) -> Done<'_> {
    count_keys(s, argv, |ctx, key| ctx.lookup_read(key).is_some()).boxed_local()
}

const fn multi(
    name: &'static str,
    arity: i16,
    flags: u32,
    handler: super::AsyncFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec {
        name,
        arity,
        flags,
        keys: ALL_KEYS,
        handler: Handler::Multi(handler),
        group: "generic",
        summary,
        since,
        subcommands: &[],
    }
}

pub static COMMANDS: &[Spec] = &[
    multi("del", -2, WRITE, del, "Deletes one or more keys.", "1.0.0"),
    multi(
        "exists",
        -2,
        READONLY | FAST,
        exists,
        "Determines whether one or more keys exist.",
        "1.0.0",
    ),
];

//! Executing a single-shard command on the shard that owns its keys: the one function both
//! the local path (a connection on the owning core) and the batch path (commands shipped
//! from other cores) go through, so accounting is the same either way.

use super::clients::ClientInfo;
use super::mesh::{BatchMsg, BatchReply};
use super::stopwatch::Stopwatch;
use super::Core;
use crate::command::{flags, table, Args, Handler, Spec};
use crate::resp::{Proto, Reply};
use crate::shard::tracking::Caller;
use crate::shard::{Ctx, Shard};

/// Runs a `Handler::Shard` command; errors become Redis error replies. `client` is known
/// when the command runs on its connection's core (for the slow log). Returns the LSN the
/// reply depends on: its own record's for a write, the newest uncommitted write among the
/// keys it read otherwise (0: nothing). `no_touch`: the client is in CLIENT NO-TOUCH mode,
/// so the keys' access bits stay as they are (TOUCH still touches, as in Redis).
///
/// A write that succeeded is logged here, from the `write` flag of the table's row or of
/// the subcommand called (XGROUP CREATE), with its
/// arguments as the effect (shard/effect.rs), or with the deterministic arguments the
/// handler named through `Ctx::log_as`: no handler logs anything itself.
#[allow(clippy::too_many_arguments)]
pub fn execute_shard(
    core: &Core,
    index: u16,
    spec: &Spec,
    shard: &mut Shard,
    db: usize,
    args: &mut Args<'_>,
    reply: &mut Reply<'_>,
    client: Option<&ClientInfo>,
    no_touch: bool,
    caller: Caller,
) -> u64 {
    let Handler::Shard(handler) = spec.handler else {
        unreachable!("{} is not a single-shard command", spec.name);
    };
    let started = Stopwatch::start();
    let command_flags = spec.flags_for((args.len() > 1).then(|| args.get(1)));
    if command_flags & flags::DENYOOM != 0 && shard.evict.config.maxmemory_bytes != 0 {
        // The shard taking the write frees its share first (core/eviction.rs); logged as
        // its own record, before this command's.
        super::eviction::perform_on(core, shard);
    }
    shard.journal.begin();
    shard.evict.no_touch = no_touch && spec.name != "touch";
    shard.tracking.caller = caller;
    let mut ctx = Ctx::new(shard, db);
    let result = handler(&mut ctx, args, reply);
    ctx.shard.evict.no_touch = false;
    settle_tracking(ctx.shard, command_flags, result.is_ok());
    ctx.shard.settle_watches(result.is_ok());
    if caller.remember {
        remember_keys(ctx.shard, spec, command_flags, args.len(), |at| {
            args.get(at)
        });
        let max_keys = core.settings.borrow().tracking_table_max_keys;
        ctx.shard.tracking.enforce_limit(max_keys);
    }
    let logged = result.is_ok() && command_flags & flags::WRITE != 0 && ctx.shard.journal.enabled();
    if logged {
        let now_ms = ctx.now_ms();
        let global = &core.global;
        let take_lsns = |n| global.take_lsns(n);
        match shard.journal.take_rewrite() {
            Some(effect) => {
                let effect = effect.iter().map(Vec::as_slice);
                shard.journal.log_command(take_lsns, db, now_ms, effect)
            }
            None => shard.journal.log_command(take_lsns, db, now_ms, args.all()),
        };
        core.wake_shipper();
    }
    let dep = shard.journal.dep();
    if shard.blocked.has_ready() && !core.is_held() {
        // The write gave data to keys clients are blocked on: they are served now, before
        // any other command runs here, each logged after this write (shard/blocking.rs).
        // Beside a transaction holding other keys they wait for its release, which serves
        // them: a served BLMOVE or BLPOP may reach the keys the transaction holds.
        if crate::shard::blocking::serve_ready(shard, |n| core.global.take_lsns(n)) {
            core.wake_shipper();
        }
    }
    core.notifier.take_from(&core.global, shard);
    let took = started.elapsed();
    core.command_timed(index, spec.flags & flags::FAST != 0, took);
    let mut stats = core.stats.borrow_mut();
    stats.record(index, took);
    if let Err(status) = result {
        let text = status.text();
        reply.error(&text);
        stats.failed(index, &text);
    }
    drop(stats);
    core.slowlog_check(took, || args.all(), client);
    crate::core::tracking::deliver_from(core, shard);
    dep
}

/// CLIENT TRACKING: only a write that succeeded invalidates the keys it noted; a
/// read-only command that looked a key up for writing (and WATCH's imprecision) must not
/// make readers drop what they cache.
fn settle_tracking(shard: &mut Shard, command_flags: u32, succeeded: bool) {
    if !shard.tracking.is_empty() {
        shard
            .tracking
            .settle(succeeded && command_flags & flags::WRITE != 0);
    }
}

/// CLIENT TRACKING: a read-only command's keys are remembered for its client, by the
/// command's key positions whatever it did with them, as Redis's trackingRememberKeys
/// (Pub/Sub commands name channels, not keys).
fn remember_keys<'a>(
    shard: &mut Shard,
    spec: &Spec,
    command_flags: u32,
    argc: usize,
    arg: impl Fn(usize) -> &'a [u8],
) {
    if command_flags & flags::READONLY == 0 || command_flags & flags::PUBSUB != 0 {
        return;
    }
    for at in spec.keys.positions(argc) {
        shard.tracking.remember(arg(at));
    }
}

/// What a single-shard command run inside a transaction step sends back to the
/// connection's core: its encoded reply, its error (for the error stats) and its time.
pub struct StepReply {
    pub out: Vec<u8>,
    pub error: Option<String>,
    pub took: std::time::Duration,
}

/// Runs a `Handler::Shard` command inside a step of a transaction (EXEC), which holds this
/// shard and records its effects: the command is recorded as a CMD op (its arguments, or
/// what it named through `Ctx::log_as`), see `Journal::pause_recording`.
pub fn execute_in_step(
    shard: &mut Shard,
    spec: &Spec,
    db: usize,
    argv: &[Vec<u8>],
    proto: Proto,
) -> StepReply {
    let Handler::Shard(handler) = spec.handler else {
        unreachable!("{} is not a single-shard command", spec.name);
    };
    let started = Stopwatch::start();
    let (buf, ranges) = flatten(argv);
    let mut args = Args::new(&buf, &ranges);
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, proto);
    let command_flags = spec.flags_for(argv.get(1).map(Vec::as_slice));
    shard.journal.take_rewrite();
    let was_recording = shard.journal.pause_recording();
    let mut ctx = Ctx::new(shard, db);
    let result = handler(&mut ctx, &mut args, &mut reply);
    let now_ms = ctx.now_ms();
    settle_tracking(shard, command_flags, result.is_ok());
    shard.settle_watches(result.is_ok());
    // Inside a transaction or script the step's operation set the caller (multi.rs).
    if shard.tracking.caller.remember {
        remember_keys(shard, spec, command_flags, argv.len(), |at| &argv[at]);
    }
    let logged = result.is_ok() && command_flags & flags::WRITE != 0;
    let rewrite = shard.journal.take_rewrite();
    let effect = logged.then(|| match &rewrite {
        Some(effect) => effect.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        None => argv.iter().map(Vec::as_slice).collect(),
    });
    shard.journal.resume_recording(
        was_recording,
        db,
        now_ms,
        effect.as_ref().map(|e| e.iter().copied()),
    );
    let error = result.err().map(|status| {
        let text = status.text().into_owned();
        reply.error(&text);
        text
    });
    StepReply {
        out,
        error,
        took: started.elapsed(),
    }
}

/// One buffer and its ranges for owned arguments, the shape `Args` reads.
fn flatten(argv: &[Vec<u8>]) -> (Vec<u8>, Vec<(u32, u32)>) {
    let mut buf = Vec::with_capacity(argv.iter().map(Vec::len).sum());
    let mut ranges = Vec::with_capacity(argv.len());
    for arg in argv {
        let start = buf.len() as u32;
        buf.extend_from_slice(arg);
        ranges.push((start, buf.len() as u32));
    }
    (buf, ranges)
}

pub fn execute_batch(core: &Core, msg: BatchMsg) {
    let BatchMsg { batch, reply, .. } = msg;
    let mut out = Vec::with_capacity(batch.reqs.len() * 16);
    let mut ends = Vec::with_capacity(batch.reqs.len());
    let mut deps = Vec::with_capacity(batch.reqs.len());
    let table = table();
    let mut shard = core.shard.borrow_mut();
    for req in &batch.reqs {
        let ranges = &batch.ranges[req.args.0 as usize..req.args.1 as usize];
        let mut args = Args::new(&batch.data, ranges);
        let mut encoder = Reply::new(&mut out, req.proto);
        deps.push(execute_shard(
            core,
            req.cmd,
            table.get(req.cmd),
            &mut shard,
            req.db as usize,
            &mut args,
            &mut encoder,
            None,
            req.no_touch,
            req.caller,
        ));
        ends.push(out.len() as u32);
    }
    let _ = reply.send(BatchReply { out, ends, deps });
}

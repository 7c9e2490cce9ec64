//! XREAD and XREADGROUP: several streams, possibly on several cores, optionally blocking
//! (`Blockable`, command/blocking.rs), with Redis 7.0.15's argument checks in its order.
//!
//! ```text
//! check   every key in argument order (type, group; `$` resolved to the stream's last
//!         ID), all its cores held, before anything is served     (Redis's parse loop)
//! serve   each key with something for the reader, in argument order; XREADGROUP
//!         creates / refreshes its consumer on each key that serves it
//! block   nothing served and BLOCK given: wait (blocking.rs); an XADD on a key serves the
//!         waiter from that key alone, as Redis's serveClientsBlockedOnKey does
//! ```
//!
//! XREADGROUP changes groups, and the log replays single-shard commands only, so what it
//! did to each key is logged, the way Redis propagates it, as the commands it amounts to:
//! `XGROUP CREATECONSUMER` (a new consumer), `XCLAIM key group consumer 0 id... TIME now
//! RETRYCOUNT n FORCE JUSTID` (entries delivered into the PEL; its consumer is refreshed
//! too) and `XGROUP SETID key group last ENTRIESREAD n` (the group's position). A read that
//! claims nothing refreshes the consumer's seen time alone: logged as a self-claim of
//! one of its pending entries (same time and count), or, when it has none, as
//! `XGROUP DELCONSUMER` + `CREATECONSUMER` (the same empty consumer, seen now). A consumer
//! whose pending entries were all deleted from the stream has no such form: that rare
//! read logs the whole stream (PUT).

use super::args::{is, parse_i64};
use super::blocking::{block, Blockable};
use super::session::Session;
use super::stream::{parse_strict_id, reply_entry, stream_mut, stream_of};
use super::Status;
use crate::core::multi::MultiCore;
use crate::resp::{Proto, Reply};
use crate::shard::blocking::Serve;
use crate::shard::effect;
use crate::shard::notify::class;
use crate::shard::slot::key_core;
use crate::shard::stream::{Nack, Stream, StreamId};
use crate::shard::value::Value;
use crate::shard::{unix_ms, Ctx};
use futures::future::LocalBoxFuture;
use futures::FutureExt;
use std::cell::RefCell;
use std::collections::BTreeMap;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

/// One stream's ID argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadId {
    After(StreamId),
    /// `$`: the stream's last ID when the command first runs.
    Last,
    /// `>`: entries never delivered to the group.
    New,
}

#[derive(Clone, Debug)]
struct GroupArgs {
    group: Vec<u8>,
    consumer: Vec<u8>,
    noack: bool,
}

/// A parsed XREAD / XREADGROUP.
#[derive(Debug)]
struct Read {
    group: Option<GroupArgs>,
    /// 0: no limit.
    count: usize,
    keys: Vec<Vec<u8>>,
    /// Per key: its ID, or the error its syntax gives (reported in argument order with
    /// the keys' own errors, as Redis checks key by key).
    ids: Vec<Result<ReadId, Status>>,
    /// `$` resolved at the first attempt, kept for the retries of a blocked read.
    resolved: RefCell<Option<Vec<ReadId>>>,
}

/// Parses options up to STREAMS; returns the read and BLOCK's timeout in ms, if given.
fn parse(argv: &Argv, xreadgroup: bool) -> Result<(Read, Option<u64>), Status> {
    let (mut block_ms, mut count, mut group, mut noack) = (None, 0usize, None, false);
    let mut streams_at = None;
    let mut i = 1;
    while i < argv.len() {
        let (opt, more) = (&argv[i], argv.len() - i - 1);
        if is(opt, "BLOCK") && more > 0 {
            if crate::script::call::blocking() {
                let name = String::from_utf8_lossy(&argv[0]).into_owned();
                return Err(Status::err(format!(
                    "ERR {name} command is not allowed with BLOCK option from scripts"
                )));
            }
            i += 1;
            block_ms = Some(parse_block(&argv[i])?);
        } else if is(opt, "COUNT") && more > 0 {
            i += 1;
            count = parse_i64(&argv[i])?.max(0) as usize;
        } else if is(opt, "STREAMS") && more > 0 {
            streams_at = Some(i + 1);
            if (argv.len() - i - 1) % 2 != 0 {
                // Redis 7.0.15 names XREAD and '$' for both commands.
                return Err(Status::err("ERR Unbalanced XREAD list of streams: for each stream key an ID or '$' must be specified."));
            }
            break;
        } else if is(opt, "GROUP") && more >= 2 {
            if !xreadgroup {
                return Err(Status::err("ERR The GROUP option is only supported by XREADGROUP. You called XREAD instead."));
            }
            group = Some((argv[i + 1].clone(), argv[i + 2].clone()));
            i += 2;
        } else if is(opt, "NOACK") {
            if !xreadgroup {
                return Err(Status::err("ERR The NOACK option is only supported by XREADGROUP. You called XREAD instead."));
            }
            noack = true;
        } else {
            return Err(Status::Syntax);
        }
        i += 1;
    }
    let streams_at = streams_at.ok_or(Status::Syntax)?;
    if xreadgroup && group.is_none() {
        return Err(Status::err("ERR Missing GROUP option for XREADGROUP"));
    }
    let n = (argv.len() - streams_at) / 2;
    let keys = argv[streams_at..streams_at + n].to_vec();
    let ids = argv[streams_at + n..]
        .iter()
        .map(|arg| parse_read_id(arg, xreadgroup))
        .collect();
    let group = group.map(|(group, consumer)| GroupArgs {
        group,
        consumer,
        noack,
    });
    let read = Read {
        group,
        count,
        keys,
        ids,
        resolved: RefCell::new(None),
    };
    Ok((read, block_ms))
}

/// BLOCK's milliseconds (UNIT_MILLISECONDS: an integer).
fn parse_block(arg: &[u8]) -> Result<u64, Status> {
    let ms =
        parse_i64(arg).map_err(|_| Status::err("ERR timeout is not an integer or out of range"))?;
    if ms < 0 {
        return Err(Status::err("ERR timeout is negative"));
    }
    Ok(ms as u64)
}

fn parse_read_id(arg: &[u8], xreadgroup: bool) -> Result<ReadId, Status> {
    match arg {
        b"$" if xreadgroup => Err(Status::err("ERR The $ ID is meaningless in the context of XREADGROUP: you want to read the history of this consumer by specifying a proper ID, or use the > ID to get new messages. The $ ID would just return an empty result set.")),
        b"$" => Ok(ReadId::Last),
        b">" if !xreadgroup => Err(Status::err("ERR The > ID can be specified only when calling XREADGROUP using the GROUP <group> <consumer> option.")),
        b">" => Ok(ReadId::New),
        _ => parse_strict_id(arg).map(ReadId::After),
    }
}

// ---------------------------------------------------------------------------------------
// On the shard

/// The key-side checks of Redis's parse loop for one key: its type, its group; `$`
/// resolved. Err for the key's own error.
fn check_key(
    ctx: &mut Ctx,
    key: &[u8],
    id: ReadId,
    group: Option<&GroupArgs>,
) -> Result<ReadId, Status> {
    let stream = match ctx.lookup_read(key) {
        Some(entry) => Some(stream_of(&entry.value)?),
        None => None,
    };
    if let Some(args) = group {
        if !stream.is_some_and(|s| s.groups.contains_key(&args.group)) {
            return Err(Status::err(format!(
                "NOGROUP No such key '{}' or consumer group '{}' in XREADGROUP with GROUP option",
                String::from_utf8_lossy(key),
                String::from_utf8_lossy(&args.group)
            )));
        }
    }
    Ok(match id {
        ReadId::Last => ReadId::After(stream.map_or(StreamId::MIN, |s| s.last_id)),
        id => id,
    })
}

/// COMMAND GETKEYS for XREAD/XREADGROUP, from Redis 7.0's key spec (keyword STREAMS from
/// argument 1 or 4, then the first half of what follows), not from a parse: Redis answers
/// `XREAD STREAMS a b 0` with `a`, and finds the keyword even as COUNT's argument. None
/// when no key is found (Redis's "Invalid arguments specified for command").
pub fn key_positions(name: &str, args: &[Vec<u8>]) -> Option<Vec<usize>> {
    let startfrom = if name == "xreadgroup" { 4 } else { 1 };
    let first = super::after_keyword(args, "STREAMS", startfrom)?;
    // Keys are the first half of the arguments after the keyword (limit 2).
    let keys = (args.len() - first) / 2;
    (keys > 0).then(|| (first..first + keys).collect())
}

/// Serves one key: the `[entries]` reply for it when it has something for the reader.
/// `woken`: a blocked reader served after a write, which Redis serves when the stream's
/// last ID passed its own (not the last live entry's).
fn serve_key(
    ctx: &mut Ctx,
    key: &[u8],
    id: ReadId,
    read: &ReadArgs,
    proto: Proto,
    woken: bool,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, proto);
    let served = match &read.group {
        None => serve_plain(ctx, key, id, read.count, &mut reply, woken),
        Some(group) => serve_group(ctx, key, id, group, read.count, &mut reply, woken),
    };
    served.then_some(out)
}

fn serve_plain(
    ctx: &mut Ctx,
    key: &[u8],
    id: ReadId,
    count: usize,
    reply: &mut Reply,
    woken: bool,
) -> bool {
    let ReadId::After(after) = id else {
        unreachable!("resolved before serving")
    };
    let Some(Ok(stream)) = ctx.lookup_read(key).map(|entry| stream_of(&entry.value)) else {
        return false;
    };
    let top = if woken {
        Some(stream.last_id)
    } else {
        stream.last_live_id()
    };
    if top.is_none_or(|top| top <= after) {
        return false;
    }
    let start = after.next().expect("below the top");
    super::stream::reply_range(reply, stream, (start, StreamId::MAX), count, false);
    true
}

/// XREADGROUP on one key: consumer refreshed (created), then history or new entries.
fn serve_group(
    ctx: &mut Ctx,
    key: &[u8],
    id: ReadId,
    args: &GroupArgs,
    count: usize,
    reply: &mut Reply,
    woken: bool,
) -> bool {
    let now_ms = ctx.now_ms();
    let Some(Ok(stream)) = ctx
        .lookup_write(key)
        .map(|entry| stream_mut(&mut entry.value))
    else {
        return false;
    };
    let Some(delivered) = stream.groups.get(&args.group).map(|group| group.last_id) else {
        return false;
    };
    // Redis creates or refreshes the consumer only when the key serves it.
    let serves = match id {
        ReadId::After(_) => true,
        _ => {
            let top = if woken {
                Some(stream.last_id)
            } else {
                stream.last_live_id()
            };
            top.is_some_and(|top| top > delivered)
        }
    };
    if !serves {
        return false;
    }
    let group = stream.groups.get_mut(&args.group).expect("just found");
    let (consumer, created) = group.consumer(&args.consumer, now_ms);
    consumer.seen_ms = now_ms;
    let mut log = GroupLog::new(key, args, created);
    match id {
        ReadId::After(after) => serve_history(stream, args, after, count, now_ms, reply, &mut log),
        _ => deliver_new(stream, args, count, now_ms, reply, &mut log),
    }
    log.finish(ctx, now_ms);
    if created {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    true
}

/// A consumer's pending entries after `after`: each existing one re-delivered (time and
/// count bumped), a deleted one replied as `[id, nil]`.
fn serve_history(
    stream: &mut Stream,
    args: &GroupArgs,
    after: StreamId,
    count: usize,
    now_ms: u64,
    reply: &mut Reply,
    log: &mut GroupLog,
) {
    let group = &stream.groups[&args.group];
    let Some(start) = after.next() else {
        reply.array(0);
        return;
    };
    let ids: Vec<StreamId> = group.consumers[&args.consumer]
        .pel
        .range(start..)
        .take(if count == 0 { usize::MAX } else { count })
        .copied()
        .collect();
    reply.array(ids.len());
    for id in ids {
        match stream.get(id) {
            Some(entry) => {
                reply_entry(reply, &entry);
                let group = stream.groups.get_mut(&args.group).expect("checked");
                let nack = group
                    .pel
                    .get_mut(&id)
                    .expect("consumer PEL is in the group PEL");
                nack.delivery_ms = now_ms;
                nack.delivery_count += 1;
                log.claim(id, nack.delivery_count);
            }
            None => {
                reply.array(2);
                reply.bulk(id.text().as_bytes());
                reply.null_array();
            }
        }
    }
}

/// Entries after the group's last delivered ID: the group moves past each; unless NOACK
/// each becomes pending for the consumer.
fn deliver_new(
    stream: &mut Stream,
    args: &GroupArgs,
    count: usize,
    now_ms: u64,
    reply: &mut Reply,
    log: &mut GroupLog,
) {
    let mut group = stream.groups.remove(&args.group).expect("checked");
    let start = group.last_id.next().expect("below the top");
    let mut ids = Vec::new();
    stream.walk(start, StreamId::MAX, false, |entry| {
        ids.push(entry.id);
        count == 0 || ids.len() < count
    });
    reply.array(ids.len());
    for &id in &ids {
        reply_entry(reply, &stream.get(id).expect("just walked"));
        stream.advance_group(&mut group, id);
        if !args.noack {
            let nack = Nack {
                delivery_ms: now_ms,
                delivery_count: 1,
                consumer: Vec::new(),
            };
            group.assign(id, &args.consumer, nack);
            log.claim(id, 1);
        }
    }
    if !ids.is_empty() {
        log.position = Some((group.last_id, group.entries_read));
    }
    stream.groups.insert(args.group.clone(), group);
}

/// What an XREADGROUP did to one key, to be logged as the commands it amounts to.
struct GroupLog {
    key: Vec<u8>,
    args: GroupArgs,
    created: bool,
    /// Entries made pending for the consumer, with their delivery count.
    claims: Vec<(StreamId, u64)>,
    position: Option<(StreamId, i64)>,
}

impl GroupLog {
    fn new(key: &[u8], args: &GroupArgs, created: bool) -> GroupLog {
        GroupLog {
            key: key.to_vec(),
            args: args.clone(),
            created,
            claims: Vec::new(),
            position: None,
        }
    }

    fn claim(&mut self, id: StreamId, count: u64) {
        self.claims.push((id, count));
    }

    /// Records the commands (CMD ops of the open recording).
    fn finish(self, ctx: &mut Ctx, now_ms: u64) {
        if !ctx.shard.journal.recording() {
            return;
        }
        let (db, key) = (ctx.db, self.key.as_slice());
        let (group, consumer) = (self.args.group.as_slice(), self.args.consumer.as_slice());
        let ops = ctx.shard.journal.ops();
        let mut record = |args: &[&[u8]]| effect::cmd(ops, db, now_ms, args.iter().copied());
        if self.created {
            record(&[b"XGROUP", b"CREATECONSUMER", key, group, consumer]);
        }
        let now = now_ms.to_string();
        for (id, count) in &self.claims {
            let (id, count) = (id.text(), count.to_string());
            record(&[
                b"XCLAIM",
                key,
                group,
                consumer,
                b"0",
                id.as_bytes(),
                b"TIME",
                now.as_bytes(),
                b"RETRYCOUNT",
                count.as_bytes(),
                b"FORCE",
                b"JUSTID",
            ]);
        }
        if let Some((last, entries_read)) = self.position {
            let (last, read) = (last.text(), entries_read.to_string());
            record(&[
                b"XGROUP",
                b"SETID",
                key,
                group,
                last.as_bytes(),
                b"ENTRIESREAD",
                read.as_bytes(),
            ]);
        }
        if self.claims.is_empty() && !self.created {
            refresh_seen(ctx, key, group, consumer, now_ms);
        }
    }
}

/// Logs a seen-time refresh alone (see the file's header).
fn refresh_seen(ctx: &mut Ctx, key: &[u8], group: &[u8], consumer: &[u8], now_ms: u64) {
    let db = ctx.db;
    let Some(Value::Stream(stream)) = ctx.shard.dbs[db].raw_get(key).map(|entry| &entry.value)
    else {
        return;
    };
    let group_state = &stream.groups[group];
    let pel = &group_state.consumers[consumer].pel;
    let mut commands: Vec<Vec<Vec<u8>>> = Vec::new();
    if pel.is_empty() {
        commands.push(vec![
            b"XGROUP".to_vec(),
            b"DELCONSUMER".to_vec(),
            key.to_vec(),
            group.to_vec(),
            consumer.to_vec(),
        ]);
        commands.push(vec![
            b"XGROUP".to_vec(),
            b"CREATECONSUMER".to_vec(),
            key.to_vec(),
            group.to_vec(),
            consumer.to_vec(),
        ]);
    } else if let Some(&id) = pel.iter().find(|&&id| stream.get(id).is_some()) {
        let nack = &group_state.pel[&id];
        commands.push(
            [
                &b"XCLAIM"[..],
                key,
                group,
                consumer,
                b"0",
                id.text().as_bytes(),
                b"TIME",
                nack.delivery_ms.to_string().as_bytes(),
                b"RETRYCOUNT",
                nack.delivery_count.to_string().as_bytes(),
                b"JUSTID",
            ]
            .iter()
            .map(|arg| arg.to_vec())
            .collect(),
        );
    }
    if commands.is_empty() {
        // Every pending entry of the consumer was deleted from the stream: no command
        // refreshes it alone, so the whole stream is logged as it now is.
        let entry = ctx.shard.dbs[db].raw_get(key).expect("just read");
        effect::put(
            ctx.shard.journal.ops(),
            db,
            key,
            &entry.value,
            entry.expire_at_ms,
        );
        return;
    }
    let ops = ctx.shard.journal.ops();
    for command in commands {
        effect::cmd(ops, db, now_ms, command.iter().map(Vec::as_slice));
    }
}

/// What a shard needs to serve a read (the request without its per-attempt state).
#[derive(Clone, Debug)]
struct ReadArgs {
    group: Option<GroupArgs>,
    count: usize,
}

// ---------------------------------------------------------------------------------------
// Attempts across cores

/// The reply to a read that served `served` (key, entries reply) pairs, argument order.
fn reply_read(proto: Proto, served: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut reply = Reply::new(&mut out, proto);
    match proto {
        Proto::Resp2 => reply.array(served.len()),
        Proto::Resp3 => reply.map(served.len()),
    }
    for (key, entries) in served {
        if proto == Proto::Resp2 {
            reply.array(2);
        }
        reply.bulk(key);
        reply.out.extend_from_slice(entries);
    }
    out
}

impl Read {
    fn args(&self) -> ReadArgs {
        ReadArgs {
            group: self.group.clone(),
            count: self.count,
        }
    }

    /// The keys' positions grouped by the core owning them.
    fn by_core(&self, cores: usize) -> BTreeMap<usize, Vec<usize>> {
        let mut by_core: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (at, key) in self.keys.iter().enumerate() {
            by_core.entry(key_core(key, cores)).or_default().push(at);
        }
        by_core
    }

    /// Redis's parse loop over the keys, on their cores: the first error in argument
    /// order, or every ID with `$` resolved (kept for later attempts).
    async fn check(
        &self,
        op: &mut MultiCore,
        db: usize,
        cores: usize,
    ) -> Result<Vec<ReadId>, Status> {
        let cached = self.resolved.borrow().clone();
        if let Some(resolved) = cached {
            self.still_there(op, db, cores).await?;
            return Ok(resolved);
        }
        let mut checked: Vec<Option<Result<ReadId, Status>>> = vec![None; self.keys.len()];
        for (core, positions) in self.by_core(cores) {
            let work: Vec<(usize, Vec<u8>, Result<ReadId, Status>)> = positions
                .iter()
                .map(|&at| (at, self.keys[at].clone(), self.ids[at].clone()))
                .collect();
            let group = self.group.clone();
            let results = op
                .run(core, move |shard| {
                    let mut ctx = Ctx::new(shard, db);
                    work.into_iter()
                        .map(|(at, key, id)| {
                            let checked = check_key(
                                &mut ctx,
                                &key,
                                id.clone().unwrap_or(ReadId::New),
                                group.as_ref(),
                            );
                            (at, checked.and_then(|resolved| id.map(|_| resolved)))
                        })
                        .collect::<Vec<_>>()
                })
                .await;
            for (at, result) in results {
                checked[at] = Some(result);
            }
        }
        let resolved = checked
            .into_iter()
            .map(|result| result.expect("every key checked"))
            .collect::<Result<Vec<_>, _>>()?;
        *self.resolved.borrow_mut() = Some(resolved.clone());
        Ok(resolved)
    }

    /// A blocked XREADGROUP trying again (its keys span cores): the error it gets when
    /// its stream or group went away meanwhile, as a waiter served on one core does.
    async fn still_there(&self, op: &mut MultiCore, db: usize, cores: usize) -> Result<(), Status> {
        let Some(group) = &self.group else {
            return Ok(());
        };
        let mut errors: Vec<(usize, &'static str)> = Vec::new();
        for (core, positions) in self.by_core(cores) {
            let keys: Vec<(usize, Vec<u8>)> = positions
                .iter()
                .map(|&at| (at, self.keys[at].clone()))
                .collect();
            let name = group.group.clone();
            let found = op
                .run(core, move |shard| {
                    let mut ctx = Ctx::new(shard, db);
                    keys.into_iter()
                        .filter_map(|(at, key)| gone(&mut ctx, &key, &name).map(|text| (at, text)))
                        .collect::<Vec<_>>()
                })
                .await;
            errors.extend(found);
        }
        match errors.into_iter().min() {
            Some((_, text)) => Err(Status::err(text)),
            None => Ok(()),
        }
    }

    /// Checks, then serves every key that has something, cores held throughout.
    async fn attempt(
        &self,
        op: &mut MultiCore,
        db: usize,
        cores: usize,
        proto: Proto,
    ) -> Result<Option<Vec<u8>>, Status> {
        let ids = self.check(op, db, cores).await?;
        let mut served: Vec<Option<Vec<u8>>> = vec![None; self.keys.len()];
        for (core, positions) in self.by_core(cores) {
            let work: Vec<(usize, Vec<u8>, ReadId)> = positions
                .iter()
                .map(|&at| (at, self.keys[at].clone(), ids[at]))
                .collect();
            let args = self.args();
            let results = op
                .run(core, move |shard| {
                    let mut ctx = Ctx::new(shard, db);
                    work.into_iter()
                        .map(|(at, key, id)| {
                            (at, serve_key(&mut ctx, &key, id, &args, proto, false))
                        })
                        .collect::<Vec<_>>()
                })
                .await;
            for (at, result) in results {
                served[at] = result;
            }
        }
        let served: Vec<(Vec<u8>, Vec<u8>)> = served
            .into_iter()
            .zip(&self.keys)
            .filter_map(|(entries, key)| entries.map(|entries| (key.clone(), entries)))
            .collect();
        Ok((!served.is_empty()).then(|| reply_read(proto, &served)))
    }
}

impl Blockable for Read {
    fn wait_keys(&self) -> &[Vec<u8>] {
        &self.keys
    }

    fn try_now<'a>(
        &'a self,
        op: &'a mut MultiCore,
        db: usize,
        cores: usize,
        proto: Proto,
    ) -> LocalBoxFuture<'a, Result<Option<Vec<u8>>, Status>> {
        self.attempt(op, db, cores, proto).boxed_local()
    }

    fn server(&self, proto: Proto) -> Box<dyn Serve> {
        let resolved = self
            .resolved
            .borrow()
            .clone()
            .expect("checked before blocking");
        let ids = self.keys.iter().cloned().zip(resolved).collect();
        Box::new(ReadServe {
            args: self.args(),
            ids,
            proto,
        })
    }
}

/// A blocked read as the shard of one of its keys serves it after a write.
struct ReadServe {
    args: ReadArgs,
    ids: Vec<(Vec<u8>, ReadId)>,
    proto: Proto,
}

impl Serve for ReadServe {
    fn serve(&self, ctx: &mut Ctx, key: &[u8]) -> Option<Vec<u8>> {
        let id = self.ids.iter().find(|(k, _)| k == key)?.1;
        if let Some(group) = &self.args.group {
            if let Some(error) = gone(ctx, key, &group.group) {
                let mut out = Vec::new();
                Reply::new(&mut out, self.proto).error(error);
                return Some(out);
            }
        }
        let entries = serve_key(ctx, key, id, &self.args, self.proto, true)?;
        Some(reply_read(self.proto, &[(key.to_vec(), entries)]))
    }
}

/// Why a blocked XREADGROUP can no longer wait on `key` (Redis 7.0's texts), if so.
fn gone(ctx: &mut Ctx, key: &[u8], group: &[u8]) -> Option<&'static str> {
    match ctx.lookup_write(key).map(|entry| &entry.value) {
        Some(Value::Stream(stream)) if stream.groups.contains_key(group) => None,
        Some(Value::Stream(_)) => {
            Some("NOGROUP the consumer group this client was blocked on no longer exists")
        }
        _ => Some("UNBLOCKED the stream key no longer exists"),
    }
}

// ---------------------------------------------------------------------------------------
// The commands

async fn run(s: &mut Session, argv: Argv, xreadgroup: bool) -> Result<(), Status> {
    let (read, block_ms) = parse(&argv, xreadgroup)?;
    if let Some(ms) = block_ms {
        let deadline = if ms == 0 {
            0
        } else {
            unix_ms().saturating_add(ms)
        };
        return block(s, read, deadline).await;
    }
    let (db, cores, proto) = (s.db, s.core.cores, s.proto);
    let cores_of: Vec<usize> = read.by_core(cores).keys().copied().collect();
    let mut op = MultiCore::new(s, cores_of);
    let result = read.attempt(&mut op, db, cores, proto).await;
    op.finish().await;
    match result? {
        Some(reply) => s.out.extend_from_slice(&reply),
        None => s.reply().null_array(),
    }
    Ok(())
}

pub(super) fn xread(s: &mut Session, argv: Argv) -> Done<'_> {
    run(s, argv, false).boxed_local()
}

pub(super) fn xreadgroup(s: &mut Session, argv: Argv) -> Done<'_> {
    run(s, argv, true).boxed_local()
}

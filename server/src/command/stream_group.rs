//! Consumer group commands on one stream: XGROUP (CREATE, CREATECONSUMER, DELCONSUMER,
//! DESTROY, SETID, HELP), XACK, XPENDING, XCLAIM, XAUTOCLAIM, with Redis 7.0.15's replies,
//! argument order and error texts (xgroupCommand, xpendingCommand, xclaimCommand...).
//!
//! All are writes of one key except XPENDING, and deterministic given keyspace, arguments
//! and the logged clock (delivery times and seen times are the command's `now_ms`), so the
//! CMD record of each replays to the same groups. XREADGROUP's effects are logged as
//! these commands (stream_read.rs), the way Redis propagates them.

use super::args::{is, parse_i64, Args};
use super::stream::{
    parse_bound, parse_id, parse_strict_id, read, reply_entry, reply_help, stream_mut, write,
};
use super::stream_info::no_group_for_key;
use super::Status;
use crate::resp::Reply;
use crate::shard::notify::class;
use crate::shard::stream::{Group, Nack, Stream, StreamId, ENTRIES_READ_INVALID};
use crate::shard::value::Value;
use crate::shard::Ctx;

const XGROUP_HELP: &[&str] = &[
    "XGROUP <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CREATE <key> <groupname> <id|$> [option]",
    "    Create a new consumer group. Options are:",
    "    * MKSTREAM",
    "      Create the empty stream if it does not exist.",
    "    * ENTRIESREAD entries_read",
    "      Set the group's entries_read counter (internal use).",
    "CREATECONSUMER <key> <groupname> <consumer>",
    "    Create a new consumer in the specified group.",
    "DELCONSUMER <key> <groupname> <consumer>",
    "    Remove the specified consumer.",
    "DESTROY <key> <groupname>",
    "    Remove the specified group.",
    "SETID <key> <groupname> <id|$> [ENTRIESREAD entries_read]",
    "    Set the current group ID and entries_read counter.",
    "HELP",
    "    Prints this help.",
];

const KEY_MUST_EXIST: &str = "ERR The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically.";

/// "-NOGROUP No such key 'k' or consumer group 'g'" (XPENDING, XCLAIM, XAUTOCLAIM).
fn no_key_or_group(key: &[u8], group: &[u8]) -> Status {
    Status::err(format!(
        "NOGROUP No such key '{}' or consumer group '{}'",
        String::from_utf8_lossy(key),
        String::from_utf8_lossy(group)
    ))
}

/// The subcommand arities of Redis's command table (checked before anything else).
fn xgroup_arity(sub: &[u8], argc: usize) -> Result<(), Status> {
    let (name, ok) = match sub.to_ascii_lowercase().as_slice() {
        b"create" => ("create", argc >= 5),
        b"setid" => ("setid", argc >= 5),
        b"createconsumer" => ("createconsumer", argc == 5),
        b"delconsumer" => ("delconsumer", argc == 5),
        b"destroy" => ("destroy", argc == 4),
        b"help" => ("help", argc == 2),
        _ => return Err(super::unknown_subcommand("xgroup", sub)),
    };
    ok.then_some(())
        .ok_or_else(|| Status::WrongArity(format!("xgroup|{name}")))
}

/// CREATE's and SETID's trailing options: MKSTREAM (CREATE only) and ENTRIESREAD.
fn xgroup_options(args: &Args, create: bool) -> Result<(bool, i64), Status> {
    let (mut mkstream, mut entries_read) = (false, ENTRIES_READ_INVALID);
    let sub = String::from_utf8_lossy(args.get(1)).into_owned();
    let mut at = 5;
    while at < args.len() {
        let opt = args.get(at);
        if create && is(opt, "MKSTREAM") {
            mkstream = true;
            at += 1;
        } else if is(opt, "ENTRIESREAD") && at + 1 < args.len() {
            entries_read = parse_i64(args.get(at + 1))?;
            if entries_read < 0 && entries_read != ENTRIES_READ_INVALID {
                return Err(Status::err(
                    "ERR value for ENTRIESREAD must be positive or -1",
                ));
            }
            at += 2;
        } else {
            return Err(subcommand_syntax(&sub));
        }
    }
    Ok((mkstream, entries_read))
}

fn subcommand_syntax(sub: &str) -> Status {
    Status::err(format!(
        "ERR unknown subcommand or wrong number of arguments for '{sub}'. Try XGROUP HELP."
    ))
}

pub(super) fn xgroup(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let sub = args.required()?;
    xgroup_arity(sub, args.len())?;
    if is(sub, "HELP") {
        reply_help(reply, XGROUP_HELP);
        return Ok(());
    }
    let create = is(sub, "CREATE");
    let (mkstream, entries_read) = if create || is(sub, "SETID") {
        xgroup_options(args, create)?
    } else {
        (false, ENTRIES_READ_INVALID)
    };
    let (key, name) = (args.get(2), args.get(3));
    let stream = write(ctx, key)?;
    let has_group = stream.as_ref().is_some_and(|s| s.groups.contains_key(name));
    if stream.is_none() && !mkstream {
        return Err(Status::err(KEY_MUST_EXIST));
    }
    if !has_group && !create && !is(sub, "DESTROY") {
        return Err(no_group_for_key(name, key));
    }
    if create {
        return xgroup_create(ctx, args, entries_read, reply);
    }
    let stream = write(ctx, key)?.expect("checked above");
    if is(sub, "SETID") {
        if args.len() != 5 && args.len() != 7 {
            return Err(subcommand_syntax(&String::from_utf8_lossy(sub)));
        }
        let id = match args.get(4) {
            b"$" => stream.last_id,
            arg => parse_id(arg, 0)?,
        };
        let group = stream.groups.get_mut(name).expect("checked above");
        group.last_id = id;
        group.entries_read = entries_read;
        ctx.notify(class::STREAM, "xgroup-setid", key);
        reply.ok();
    } else if is(sub, "DESTROY") {
        let destroyed = stream.groups.remove(name).is_some();
        if destroyed {
            ctx.notify(class::STREAM, "xgroup-destroy", key);
            // Its blocked XREADGROUP clients get -NOGROUP when served (stream_read.rs).
            crate::shard::blocking::key_pushed(ctx, key);
        }
        reply.int(destroyed as i64);
    } else if is(sub, "CREATECONSUMER") {
        let now_ms = ctx.now_ms();
        let stream = write(ctx, key)?.expect("checked above");
        let group = stream.groups.get_mut(name).expect("checked above");
        let (_, created) = group.consumer(args.get(4), now_ms);
        if created {
            ctx.notify(class::STREAM, "xgroup-createconsumer", key);
        }
        reply.int(created as i64);
    } else {
        let group = stream.groups.get_mut(name).expect("checked above");
        let existed = group.consumers.contains_key(args.get(4));
        let pending = delete_consumer(group, args.get(4));
        if existed {
            ctx.notify(class::STREAM, "xgroup-delconsumer", key);
        }
        reply.int(pending as i64);
    }
    Ok(())
}

/// Removes a consumer and its pending entries; how many it had.
fn delete_consumer(group: &mut Group, name: &[u8]) -> usize {
    let Some(consumer) = group.consumers.remove(name) else {
        return 0;
    };
    for id in &consumer.pel {
        group.pel.remove(id);
    }
    consumer.pel.len()
}

fn xgroup_create(
    ctx: &mut Ctx,
    args: &Args,
    entries_read: i64,
    reply: &mut Reply,
) -> Result<(), Status> {
    if args.len() > 8 {
        return Err(subcommand_syntax(&String::from_utf8_lossy(args.get(1))));
    }
    let (key, name) = (args.get(2), args.get(3));
    let id = match args.get(4) {
        b"$" => write(ctx, key)?.map_or(StreamId::MIN, |s| s.last_id),
        arg => parse_strict_id(arg)?,
    };
    if ctx.lookup_write(key).is_none() {
        ctx.set(key, Value::Stream(Box::default()), 0);
    }
    let stream = write(ctx, key)?.expect("present or just created");
    if stream.groups.contains_key(name) {
        return Err(Status::err("BUSYGROUP Consumer Group name already exists"));
    }
    stream
        .groups
        .insert(name.to_vec(), Group::new(id, entries_read));
    ctx.notify(class::STREAM, "xgroup-create", key);
    reply.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XACK XPENDING

pub(super) fn xack(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let name = args.required()?;
    let stream = write(ctx, key)?;
    let ids = args
        .rest()
        .map(parse_strict_id)
        .collect::<Result<Vec<_>, _>>()?;
    let Some(group) = stream.and_then(|s| s.groups.get_mut(name)) else {
        reply.int(0);
        return Ok(());
    };
    let acked = ids.into_iter().filter(|&id| group.ack(id)).count();
    reply.int(acked as i64);
    Ok(())
}

/// XPENDING's extended form as parsed.
struct PendingRange {
    min_idle_ms: i64,
    start: StreamId,
    end: StreamId,
    count: usize,
    consumer: Option<Vec<u8>>,
}

fn parse_pending_range(args: &Args) -> Result<PendingRange, Status> {
    let mut at = 3;
    let mut min_idle_ms = 0;
    if is(args.get(3), "IDLE") {
        min_idle_ms = parse_i64(args.get(4))?;
        if args.len() < 8 {
            return Err(Status::Syntax);
        }
        at += 2;
    }
    let count = parse_i64(args.get(at + 2))?.max(0) as usize;
    let start = parse_bound(args.get(at), 0, true)?;
    let end = parse_bound(args.get(at + 1), u64::MAX, false)?;
    let consumer = (at + 3 < args.len()).then(|| args.get(at + 3).to_vec());
    Ok(PendingRange {
        min_idle_ms,
        start,
        end,
        count,
        consumer,
    })
}

pub(super) fn xpending(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let argc = args.len();
    if argc != 3 && !(6..=9).contains(&argc) {
        return Err(Status::Syntax);
    }
    let range = if argc >= 6 {
        Some(parse_pending_range(args)?)
    } else {
        None
    };
    let (key, name) = (args.get(1), args.get(2));
    let now_ms = ctx.now_ms();
    let stream = read(ctx, key)?;
    let Some(group) = stream.and_then(|s| s.groups.get(name)) else {
        return Err(no_key_or_group(key, name));
    };
    match range {
        None => pending_summary(reply, group),
        Some(range) => pending_range(reply, group, &range, now_ms),
    }
    Ok(())
}

fn pending_summary(reply: &mut Reply, group: &Group) {
    reply.array(4);
    reply.int(group.pel.len() as i64);
    let (Some((first, _)), Some((last, _))) =
        (group.pel.first_key_value(), group.pel.last_key_value())
    else {
        reply.null();
        reply.null();
        reply.null_array();
        return;
    };
    reply.bulk(first.text().as_bytes());
    reply.bulk(last.text().as_bytes());
    let busy: Vec<_> = group
        .consumers
        .iter()
        .filter(|(_, consumer)| !consumer.pel.is_empty())
        .collect();
    reply.array(busy.len());
    for (name, consumer) in busy {
        reply.array(2);
        reply.bulk(name);
        reply.bulk(consumer.pel.len().to_string().as_bytes());
    }
}

fn pending_range(reply: &mut Reply, group: &Group, range: &PendingRange, now_ms: u64) {
    let ids: Box<dyn Iterator<Item = &StreamId>> = match &range.consumer {
        Some(name) => match group.consumers.get(name) {
            Some(consumer) => Box::new(consumer.pel.range(range.start..)),
            None => {
                reply.array(0);
                return;
            }
        },
        None => Box::new(group.pel.range(range.start..).map(|(id, _)| id)),
    };
    let mut shown = Vec::new();
    for id in ids {
        if shown.len() >= range.count || *id > range.end {
            break;
        }
        let nack = &group.pel[id];
        let idle = now_ms as i64 - nack.delivery_ms as i64;
        if range.min_idle_ms != 0 && idle < range.min_idle_ms {
            continue;
        }
        shown.push((*id, nack, idle.max(0)));
    }
    reply.array(shown.len());
    for (id, nack, idle) in shown {
        reply.array(4);
        reply.bulk(id.text().as_bytes());
        reply.bulk(&nack.consumer);
        reply.int(idle);
        reply.int(nack.delivery_count as i64);
    }
}

// ---------------------------------------------------------------------------------------
// XCLAIM XAUTOCLAIM

/// XCLAIM's options after its IDs.
struct ClaimOptions {
    /// Absolute delivery time to set (IDLE or TIME), or None: now.
    delivery_ms: Option<i64>,
    retry_count: Option<i64>,
    force: bool,
    just_id: bool,
    last_id: StreamId,
}

fn claim_option_int(arg: &[u8], name: &str) -> Result<i64, Status> {
    parse_i64(arg)
        .map_err(|_| Status::err(format!("ERR Invalid {name} option argument for XCLAIM")))
}

fn parse_claim_options(args: &Args, mut at: usize, now_ms: u64) -> Result<ClaimOptions, Status> {
    let mut options = ClaimOptions {
        delivery_ms: None,
        retry_count: None,
        force: false,
        just_id: false,
        last_id: StreamId::MIN,
    };
    while at < args.len() {
        let opt = args.get(at);
        let more = at + 1 < args.len();
        if is(opt, "FORCE") {
            options.force = true;
        } else if is(opt, "JUSTID") {
            options.just_id = true;
        } else if is(opt, "IDLE") && more {
            at += 1;
            let idle = claim_option_int(args.get(at), "IDLE")?;
            options.delivery_ms = Some((now_ms as i64).wrapping_sub(idle));
        } else if is(opt, "TIME") && more {
            at += 1;
            options.delivery_ms = Some(claim_option_int(args.get(at), "TIME")?);
        } else if is(opt, "RETRYCOUNT") && more {
            at += 1;
            options.retry_count = Some(claim_option_int(args.get(at), "RETRYCOUNT")?);
        } else if is(opt, "LASTID") && more {
            at += 1;
            options.last_id = parse_strict_id(args.get(at))?;
        } else {
            return Err(Status::err(format!(
                "ERR Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            )));
        }
        at += 1;
    }
    Ok(options)
}

/// The group `name` of the stream at `key` for a claim, or Redis's NOGROUP error.
fn claim_group<'c>(ctx: &'c mut Ctx, key: &[u8], name: &[u8]) -> Result<&'c mut Stream, Status> {
    match ctx.lookup_write(key) {
        Some(entry) => {
            let stream = stream_mut(&mut entry.value)?;
            if stream.groups.contains_key(name) {
                return Ok(stream);
            }
            Err(no_key_or_group(key, name))
        }
        None => Err(no_key_or_group(key, name)),
    }
}

/// Replies an entry claimed (its fields, or only its ID with JUSTID).
fn reply_claimed(reply: &mut Reply, stream: &Stream, id: StreamId, just_id: bool) {
    if just_id {
        reply.bulk(id.text().as_bytes());
        return;
    }
    match stream.get(id) {
        Some(entry) => reply_entry(reply, &entry),
        None => reply.null(),
    }
}

pub(super) fn xclaim(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let (key, name, consumer) = (args.get(1), args.get(2), args.get(3));
    let now_ms = ctx.now_ms();
    claim_group(ctx, key, name)?;
    let min_idle = parse_i64(args.get(4))
        .map_err(|_| Status::err("ERR Invalid min-idle-time argument for XCLAIM"))?
        .max(0);
    let mut ids = Vec::new();
    let mut at = 5;
    while at < args.len() {
        match parse_strict_id(args.get(at)) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        at += 1;
    }
    let options = parse_claim_options(args, at, now_ms)?;
    let stream = claim_group(ctx, key, name)?;
    let delivery_ms = match options.delivery_ms {
        Some(ms) if ms >= 0 && ms <= now_ms as i64 => ms as u64,
        _ => now_ms,
    };
    let mut claimed = Vec::new();
    // Redis creates the claiming consumer when it first claims an entry.
    let mut created_consumer = false;
    for id in ids {
        let exists = stream.get(id).is_some();
        let group = stream.groups.get_mut(name).expect("checked");
        if options.last_id > group.last_id {
            group.last_id = options.last_id;
        }
        if !exists {
            // The entry is gone: its pending entry goes too.
            group.ack(id);
            continue;
        }
        let pending = group.pel.get(&id).cloned();
        let nack = match pending {
            Some(nack) => {
                let idle = now_ms as i64 - nack.delivery_ms as i64;
                if !nack.consumer.is_empty() && min_idle != 0 && idle < min_idle {
                    continue;
                }
                nack
            }
            None if options.force => Nack {
                delivery_ms: now_ms,
                delivery_count: 1,
                consumer: Vec::new(),
            },
            None => continue,
        };
        let (claimer, created) = group.consumer(consumer, now_ms);
        claimer.seen_ms = now_ms;
        created_consumer |= created;
        let delivery_count = match options.retry_count {
            Some(count) => count as u64,
            None if options.just_id => nack.delivery_count,
            None => nack.delivery_count + 1,
        };
        let nack = Nack {
            delivery_ms,
            delivery_count,
            consumer: Vec::new(),
        };
        group.assign(id, consumer, nack);
        claimed.push(id);
    }
    let group = stream.groups.get_mut(name).expect("checked");
    if options.last_id > group.last_id {
        group.last_id = options.last_id;
    }
    reply.array(claimed.len());
    for id in claimed {
        reply_claimed(reply, stream, id, options.just_id);
    }
    if created_consumer {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

/// XAUTOCLAIM's scan budget per reply item (Redis's attempts_factor).
const ATTEMPTS_FACTOR: i64 = 10;

pub(super) fn xautoclaim(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let (key, name, consumer) = (args.get(1), args.get(2), args.get(3));
    let min_idle = parse_i64(args.get(4))
        .map_err(|_| Status::err("ERR Invalid min-idle-time argument for XAUTOCLAIM"))?
        .max(0);
    let start = parse_bound(args.get(5), 0, true)?;
    let (mut count, mut just_id) = (100i64, false);
    let mut at = 6;
    while at < args.len() {
        let opt = args.get(at);
        if is(opt, "COUNT") && at + 1 < args.len() {
            let max = i64::MAX / 16;
            count = parse_i64(args.get(at + 1))
                .ok()
                .filter(|n| (1..=max).contains(n))
                .ok_or_else(|| Status::err("ERR COUNT must be > 0"))?;
            at += 1;
        } else if is(opt, "JUSTID") {
            just_id = true;
        } else {
            return Err(Status::Syntax);
        }
        at += 1;
    }
    let now_ms = ctx.now_ms();
    let stream = claim_group(ctx, key, name)?;
    let mut attempts = count * ATTEMPTS_FACTOR;
    let (mut claimed, mut deleted) = (Vec::new(), Vec::new());
    let mut cursor = Some(start);
    let mut next = StreamId::MIN;
    // Redis creates the claiming consumer when it first claims an entry.
    let mut created_consumer = false;
    while let Some(from) = cursor {
        let group = stream.groups.get_mut(name).expect("checked");
        let Some((&id, nack)) = group.pel.range(from..).next() else {
            break;
        };
        if attempts == 0 || count == 0 {
            next = id;
            break;
        }
        attempts -= 1;
        cursor = id.next();
        let idle = now_ms as i64 - nack.delivery_ms as i64;
        let delivery_count = nack.delivery_count;
        if stream.get(id).is_none() {
            stream.groups.get_mut(name).expect("checked").ack(id);
            deleted.push(id);
            count -= 1;
            continue;
        }
        if min_idle != 0 && idle < min_idle {
            continue;
        }
        let group = stream.groups.get_mut(name).expect("checked");
        let (claimer, created) = group.consumer(consumer, now_ms);
        claimer.seen_ms = now_ms;
        created_consumer |= created;
        let delivery_count = delivery_count + !just_id as u64;
        let nack = Nack {
            delivery_ms: now_ms,
            delivery_count,
            consumer: Vec::new(),
        };
        group.assign(id, consumer, nack);
        claimed.push(id);
        count -= 1;
    }
    reply.array(3);
    reply.bulk(next.text().as_bytes());
    reply.array(claimed.len());
    for id in claimed {
        reply_claimed(reply, stream, id, just_id);
    }
    reply.array(deleted.len());
    for id in deleted {
        reply.bulk(id.text().as_bytes());
    }
    if created_consumer {
        ctx.notify(class::STREAM, "xgroup-createconsumer", key);
    }
    Ok(())
}

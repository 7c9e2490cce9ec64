//! Stream commands on one key, with Redis 7.0.15's replies and error texts, and the table
//! rows of the whole family. Consumer group commands are in stream_group.rs, XREAD and
//! XREADGROUP (several keys, blocking) in stream_read.rs.
//!
//! ```text
//! write  XADD XDEL XTRIM XSETID                  (Handler::Shard on the key's core)
//! read   XLEN XRANGE XREVRANGE XINFO
//! ```
//!
//! Durability: every write here is a function of (keyspace, arguments, clock), except
//! where Redis itself rewrites what it propagates: XADD's `*` / `ms-*` ID becomes the ID
//! it chose, and an approximate trim (`~`, LIMIT) becomes the exact trim it amounted to
//! (`MAXLEN = <length after>` / `MINID = <first ID after>`, as streamRewriteTrimArgument
//! does), because block boundaries are not part of the logged state (a stream restored
//! from a PUT is repacked).

use super::args::{is, parse_i64, Args};
use super::{flags::*, Handler, KeySpec, Spec, Status, NO_KEYS, ONE_KEY};
use crate::resp::Reply;
use crate::shard::notify::class;
use crate::shard::stream::{EntryRef, Stream, StreamId, StreamLimits, Trim};
use crate::shard::value::{parse_i64_strict, Value};
use crate::shard::Ctx;

pub(super) const INVALID_ID: &str = "ERR Invalid stream ID specified as stream command argument";

/// Redis's string2ull: a canonical integer (negative ones rejected), else what strtoull
/// accepts (leading spaces, a sign, leading zeros; a '-' negates modulo 2^64).
fn parse_ull(text: &[u8]) -> Option<u64> {
    if let Some(n) = parse_i64_strict(text) {
        return (n >= 0).then_some(n as u64);
    }
    let text = match text.iter().position(|c| !b" \t\n\x0b\x0c\r".contains(c)) {
        Some(start) => &text[start..],
        None => return None,
    };
    let (negative, digits) = match text.first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n: u64 = 0;
    for &digit in digits {
        n = n.checked_mul(10)?.checked_add((digit - b'0') as u64)?;
    }
    Some(if negative { n.wrapping_neg() } else { n })
}

/// Redis's streamGenericParseIDOrReply: `ms-seq`, `ms` (seq `missing_seq`), and unless
/// `strict` the `-` / `+` shorthands. With `allow_auto` (XADD) `ms-*` parses with
/// `seq_given` false.
pub(super) fn parse_id_full(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_auto: bool,
) -> Result<(StreamId, bool), Status> {
    let invalid = || Status::err(INVALID_ID);
    if arg.len() > 127 {
        return Err(invalid());
    }
    match arg {
        b"-" | b"+" if strict => Err(invalid()),
        b"-" => Ok((StreamId::MIN, true)),
        b"+" => Ok((StreamId::MAX, true)),
        _ => {
            // C strings: the text ends at a NUL byte, as the copy into buf does.
            let arg = &arg[..arg.iter().position(|&c| c == 0).unwrap_or(arg.len())];
            let (ms, seq) = match arg.iter().position(|&c| c == b'-') {
                Some(dash) => (&arg[..dash], Some(&arg[dash + 1..])),
                None => (arg, None),
            };
            let ms = parse_ull(ms).ok_or_else(invalid)?;
            match seq {
                Some(b"*") if allow_auto => Ok((StreamId::new(ms, 0), false)),
                Some(seq) => Ok((StreamId::new(ms, parse_ull(seq).ok_or_else(invalid)?), true)),
                None => Ok((StreamId::new(ms, missing_seq), true)),
            }
        }
    }
}

/// An ID argument (`-` and `+` allowed), missing seq read as `missing_seq`.
pub(super) fn parse_id(arg: &[u8], missing_seq: u64) -> Result<StreamId, Status> {
    parse_id_full(arg, missing_seq, false, false).map(|(id, _)| id)
}

/// A strict ID (no `-` / `+`): XDEL, XACK, XCLAIM, XSETID, MINID.
pub(super) fn parse_strict_id(arg: &[u8]) -> Result<StreamId, Status> {
    parse_id_full(arg, 0, true, false).map(|(id, _)| id)
}

/// A range bound of XRANGE / XPENDING / XAUTOCLAIM: `(` makes it exclusive (not with
/// `-` / `+`). An exclusive bound past the last (first) possible ID is Redis's error.
pub(super) fn parse_bound(arg: &[u8], missing_seq: u64, start: bool) -> Result<StreamId, Status> {
    let Some(rest) = arg.strip_prefix(b"(") else {
        return parse_id(arg, missing_seq);
    };
    let id = parse_id_full(rest, missing_seq, true, false)?.0;
    let moved = if start { id.next() } else { id.prev() };
    moved.ok_or_else(|| {
        let which = if start { "start" } else { "end" };
        Status::err(format!("ERR invalid {which} ID for the interval"))
    })
}

pub(super) fn stream_of(value: &Value) -> Result<&Stream, Status> {
    match value {
        Value::Stream(stream) => Ok(stream),
        _ => Err(Status::WrongType),
    }
}

pub(super) fn stream_mut(value: &mut Value) -> Result<&mut Stream, Status> {
    match value {
        Value::Stream(stream) => Ok(stream),
        _ => Err(Status::WrongType),
    }
}

/// The stream at `key` for a read; None when missing.
pub(super) fn read<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c Stream>, Status> {
    ctx.lookup_read(key)
        .map(|entry| stream_of(&entry.value))
        .transpose()
}

/// The stream at `key` for a change; None when missing.
pub(super) fn write<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<Option<&'c mut Stream>, Status> {
    ctx.lookup_write(key)
        .map(|entry| stream_mut(&mut entry.value))
        .transpose()
}

/// Block limits: the shard's copy of the configuration, kept current by CONFIG SET.
pub(super) fn limits(ctx: &mut Ctx) -> StreamLimits {
    *ctx.shard
        .stream_limits
        .get_or_insert_with(|| StreamLimits::configured(&crate::server::CONFIG))
}

/// `[id, [field, value, ...]]`, as every entry is replied.
pub(super) fn reply_entry(reply: &mut Reply, entry: &EntryRef) {
    reply.array(2);
    reply.bulk(entry.id.text().as_bytes());
    reply.array(entry.count * 2);
    for (field, value) in entry.fields() {
        reply.bulk(field);
        reply.bulk(value);
    }
}

/// Up to `count` entries (0: all) from `start` to `end`, as an array.
pub(super) fn reply_range(
    reply: &mut Reply,
    stream: &Stream,
    (start, end): (StreamId, StreamId),
    count: usize,
    rev: bool,
) {
    let mut entries = Vec::new();
    stream.walk(start, end, rev, |entry| {
        entries.push(entry);
        count == 0 || entries.len() < count
    });
    reply.array(entries.len());
    for entry in &entries {
        reply_entry(reply, entry);
    }
}

// ---------------------------------------------------------------------------------------
// XADD / XTRIM arguments

/// Trimming as parsed (Redis's streamAddTrimArgs).
#[derive(Clone, Copy, Debug, Default)]
struct TrimArgs {
    trim: Option<Trim>,
    approx: bool,
    /// 0: none.
    limit: u64,
    limit_given: bool,
}

/// What XADD parsed before its fields.
#[derive(Default)]
struct AddArgs {
    trim: TrimArgs,
    no_mkstream: bool,
    /// The ID, and whether its sequence was given (false for `ms-*`); None for `*`.
    id: Option<(StreamId, bool)>,
}

/// Redis's streamParseAddOrTrimArgsOrReply: options up to the ID (XADD) or the end
/// (XTRIM); returns the parsed arguments, leaving `args` at the first field.
fn parse_add_or_trim(args: &mut Args, xadd: bool) -> Result<AddArgs, Status> {
    let mut parsed = AddArgs::default();
    let trim = &mut parsed.trim;
    while let Some(opt) = args.next() {
        let more = args.remaining();
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "MAXLEN") || is(opt, "MINID")) && more > 0 {
            if trim.trim.is_some() {
                return Err(Status::err(
                    "ERR syntax error, MAXLEN and MINID options at the same time are not compatible",
                ));
            }
            trim.approx = false;
            let next = args.peek().expect("more");
            if more >= 2 && (next == b"~" || next == b"=") {
                trim.approx = next == b"~";
                args.next();
            }
            let value = args.required()?;
            trim.trim = Some(if is(opt, "MAXLEN") {
                let max = parse_i64(value)?;
                if max < 0 {
                    return Err(Status::err("ERR The MAXLEN argument must be >= 0."));
                }
                Trim::MaxLen(max as u64)
            } else {
                Trim::MinId(parse_strict_id(value)?)
            });
        } else if is(opt, "LIMIT") && more > 0 {
            let limit = parse_i64(args.required()?)?;
            if limit < 0 {
                return Err(Status::err("ERR The LIMIT argument must be >= 0."));
            }
            trim.limit = limit as u64;
            trim.limit_given = true;
        } else if xadd && is(opt, "NOMKSTREAM") {
            parsed.no_mkstream = true;
        } else if xadd {
            parsed.id = Some(parse_id_full(opt, 0, true, true)?);
            break;
        } else {
            return Err(Status::Syntax);
        }
    }
    check_trim(trim, xadd)?;
    Ok(parsed)
}

/// The checks after the options, and the default LIMIT of an approximate trim.
fn check_trim(trim: &mut TrimArgs, xadd: bool) -> Result<(), Status> {
    if trim.limit != 0 && trim.trim.is_none() {
        return Err(Status::err(
            "ERR syntax error, LIMIT cannot be used without specifying a trimming strategy",
        ));
    }
    if !xadd && trim.trim.is_none() {
        return Err(Status::err(
            "ERR syntax error, XTRIM must be called with a trimming strategy",
        ));
    }
    if trim.limit_given {
        if !trim.approx {
            return Err(Status::err(
                "ERR syntax error, LIMIT cannot be used without the special ~ option",
            ));
        }
    } else if trim.approx {
        let entries = crate::server::CONFIG
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .as_ref()
            .map_or(100, |store| store.settings().stream_node_max_entries);
        let limit = entries.saturating_mul(100);
        trim.limit = if limit == 0 || limit > 1_000_000 {
            10_000
        } else {
            limit
        };
    } else {
        trim.limit = 0;
    }
    Ok(())
}

/// Trims as asked; the exact trim it amounted to, for the log, when it was approximate.
fn apply_trim(stream: &mut Stream, trim: &TrimArgs) -> (u64, Option<Vec<Vec<u8>>>) {
    let Some(strategy) = trim.trim else {
        return (0, None);
    };
    let removed = stream.trim(strategy, trim.approx, trim.limit);
    let exact = trim.approx.then(|| match strategy {
        Trim::MaxLen(_) => vec![
            b"MAXLEN".to_vec(),
            b"=".to_vec(),
            stream.len().to_string().into_bytes(),
        ],
        // Emptied: every entry was below the asked minimum, which then says it exactly.
        Trim::MinId(min) => {
            let first = if stream.is_empty() {
                min
            } else {
                stream.first_id()
            };
            vec![b"MINID".to_vec(), b"=".to_vec(), first.text().into_bytes()]
        }
    });
    (removed, exact)
}

// ---------------------------------------------------------------------------------------
// XADD

const ID_TOO_SMALL: &str =
    "ERR The ID specified in XADD is equal or smaller than the target stream top item";

/// The ID an XADD appends with (streamAppendItem's choice), or its error.
fn next_id(
    ctx: &mut Ctx,
    last: StreamId,
    id: Option<(StreamId, bool)>,
) -> Result<StreamId, Status> {
    match id {
        None => {
            let now = ctx.now_ms();
            Ok(if now > last.ms {
                StreamId::new(now, 0)
            } else {
                last.next().expect("the stream is not exhausted")
            })
        }
        Some((id, true)) if id > last => Ok(id),
        Some((_, true)) => Err(Status::err(ID_TOO_SMALL)),
        Some((id, false)) if id.ms > last.ms => Ok(id),
        Some((id, false)) if id.ms == last.ms => match last.seq.checked_add(1) {
            Some(seq) => Ok(StreamId::new(id.ms, seq)),
            // Redis fails there without setting errno to EDOM: its other message.
            None => Err(Status::err("ERR Elements are too large to be stored")),
        },
        Some(_) => Err(Status::err(ID_TOO_SMALL)),
    }
}

fn xadd(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let parsed = parse_add_or_trim(args, true)?;
    let fields_at = args.len() - args.remaining();
    let n = args.remaining();
    if n < 2 || n % 2 == 1 {
        return Err(Status::WrongArity("xadd".into()));
    }
    if parsed.id == Some((StreamId::MIN, true)) {
        return Err(Status::err(
            "ERR The ID specified in XADD must be greater than 0-0",
        ));
    }
    let last = match write(ctx, key)? {
        Some(stream) => stream.last_id,
        None if parsed.no_mkstream => {
            reply.null();
            return Ok(());
        }
        None => StreamId::MIN,
    };
    if last == StreamId::MAX {
        return Err(Status::err(
            "ERR The stream has exhausted the last possible ID, unable to add more items",
        ));
    }
    let id = next_id(ctx, last, parsed.id)?;
    let pairs: Vec<(&[u8], &[u8])> = (fields_at..args.len())
        .step_by(2)
        .map(|at| (args.get(at), args.get(at + 1)))
        .collect();
    let limits = limits(ctx);
    if ctx.lookup_write(key).is_none() {
        ctx.set(key, Value::Stream(Box::default()), 0);
    }
    let stream = write(ctx, key)?.expect("present or just created");
    stream.append(id, &pairs, limits);
    let (trimmed, exact) = apply_trim(stream, &parsed.trim);
    // Redis raises `xadd`, then `xtrim` only when the trim removed entries.
    ctx.notify(class::STREAM, "xadd", key);
    if trimmed > 0 {
        ctx.notify(class::STREAM, "xtrim", key);
    }
    log_xadd(ctx, args, &parsed, id, exact, fields_at);
    crate::shard::blocking::key_pushed(ctx, key);
    reply.bulk(id.text().as_bytes());
    Ok(())
}

/// Logs XADD with the ID it chose and the exact form of an approximate trim, when either
/// differs from what was asked.
fn log_xadd(
    ctx: &mut Ctx,
    args: &Args,
    parsed: &AddArgs,
    id: StreamId,
    exact: Option<Vec<Vec<u8>>>,
    fields_at: usize,
) {
    let auto_id = !matches!(parsed.id, Some((_, true)));
    if !auto_id && exact.is_none() {
        return;
    }
    let mut logged = vec![b"XADD".to_vec(), args.get(1).to_vec()];
    if parsed.no_mkstream {
        logged.push(b"NOMKSTREAM".to_vec());
    }
    match (exact, parsed.trim.trim) {
        (Some(exact), _) => logged.extend(exact),
        (None, Some(Trim::MaxLen(max))) => logged.extend([
            b"MAXLEN".to_vec(),
            b"=".to_vec(),
            max.to_string().into_bytes(),
        ]),
        (None, Some(Trim::MinId(min))) => {
            logged.extend([b"MINID".to_vec(), b"=".to_vec(), min.text().into_bytes()])
        }
        (None, None) => {}
    }
    logged.push(id.text().into_bytes());
    logged.extend((fields_at..args.len()).map(|at| args.get(at).to_vec()));
    ctx.log_as(logged);
}

// ---------------------------------------------------------------------------------------
// XTRIM XDEL XLEN XRANGE XREVRANGE

fn xtrim(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let parsed = parse_add_or_trim(args, false)?;
    let Some(stream) = write(ctx, key)? else {
        reply.int(0);
        return Ok(());
    };
    let (removed, exact) = apply_trim(stream, &parsed.trim);
    if removed > 0 {
        ctx.notify(class::STREAM, "xtrim", key);
    }
    if let Some(exact) = exact {
        let mut logged = vec![b"XTRIM".to_vec(), key.to_vec()];
        logged.extend(exact);
        ctx.log_as(logged);
    }
    reply.int(removed as i64);
    Ok(())
}

fn xdel(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    // Every ID is checked before anything is deleted, as Redis does.
    let ids = args
        .rest()
        .map(parse_strict_id)
        .collect::<Result<Vec<_>, _>>()?;
    let Some(stream) = write(ctx, key)? else {
        reply.int(0);
        return Ok(());
    };
    let mut deleted = 0;
    for id in ids {
        if stream.delete(id) {
            deleted += 1;
            stream.max_deleted_id = stream.max_deleted_id.max(id);
        }
    }
    if deleted > 0 {
        ctx.notify(class::STREAM, "xdel", key);
    }
    reply.int(deleted);
    Ok(())
}

fn xlen(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    args.finish()?;
    let len = read(ctx, key)?.map_or(0, Stream::len);
    reply.int(len as i64);
    Ok(())
}

/// XRANGE key start end [COUNT n] / XREVRANGE key end start [COUNT n].
fn range(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply, rev: bool) -> Result<(), Status> {
    let key = args.required()?;
    let (first, second) = (args.required()?, args.required()?);
    let (start_arg, end_arg) = if rev {
        (second, first)
    } else {
        (first, second)
    };
    let start = parse_bound(start_arg, 0, true)?;
    let end = parse_bound(end_arg, u64::MAX, false)?;
    let mut count = None;
    while let Some(opt) = args.next() {
        if is(opt, "COUNT") && args.remaining() > 0 {
            count = Some(parse_i64(args.required()?)?.max(0) as usize);
        } else {
            return Err(Status::Syntax);
        }
    }
    let Some(stream) = read(ctx, key)? else {
        reply.array(0);
        return Ok(());
    };
    if count == Some(0) {
        // COUNT 0 (or negative) on an existing stream: Redis's null array.
        reply.null_array();
        return Ok(());
    }
    reply_range(reply, stream, (start, end), count.unwrap_or(0), rev);
    Ok(())
}

fn xrange(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    range(ctx, args, reply, false)
}

fn xrevrange(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    range(ctx, args, reply, true)
}

// ---------------------------------------------------------------------------------------
// XSETID

fn xsetid(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let id = parse_strict_id(args.required()?)?;
    let (mut added, mut max_deleted) = (None, None);
    while let Some(opt) = args.next() {
        if is(opt, "ENTRIESADDED") && args.remaining() > 0 {
            let n = parse_i64(args.required()?)?;
            if n < 0 {
                return Err(Status::err("ERR entries_added must be positive"));
            }
            added = Some(n as u64);
        } else if is(opt, "MAXDELETEDID") && args.remaining() > 0 {
            let max = parse_strict_id(args.required()?)?;
            if id < max {
                return Err(Status::err(
                    "ERR The ID specified in XSETID is smaller than the provided max_deleted_entry_id",
                ));
            }
            max_deleted = Some(max);
        } else {
            return Err(Status::Syntax);
        }
    }
    let Some(stream) = write(ctx, key)? else {
        return Err(Status::NoSuchKey);
    };
    // Redis compares with the last live entry (streamLastValidID), not the last ID.
    if let Some(top) = stream.last_live_id() {
        if id < top {
            return Err(Status::err(
                "ERR The ID specified in XSETID is smaller than the target stream top item",
            ));
        }
    }
    if added.is_some_and(|added| stream.len() > added) {
        return Err(Status::err(
            "ERR The entries_added specified in XSETID is smaller than the target stream length",
        ));
    }
    stream.last_id = id;
    if let Some(added) = added {
        stream.entries_added = added;
    }
    if let Some(max) = max_deleted {
        stream.max_deleted_id = max;
    }
    ctx.notify(class::STREAM, "xsetid", key);
    reply.ok();
    Ok(())
}

// ---------------------------------------------------------------------------------------
// XINFO

const XINFO_HELP: &[&str] = &[
    "XINFO <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "CONSUMERS <key> <groupname>",
    "    Show consumers of <groupname>.",
    "GROUPS <key>",
    "    Show the stream consumer groups.",
    "STREAM <key> [FULL [COUNT <count>]",
    "    Show information about the stream.",
    "HELP",
    "    Prints this help.",
];

pub(super) fn reply_help(reply: &mut Reply, lines: &[&str]) {
    reply.array(lines.len());
    for line in lines {
        reply.simple(line);
    }
}

fn xinfo(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let sub = args.required()?;
    let argc = args.len();
    let arity = |ok: bool, name: &str| {
        ok.then_some(())
            .ok_or_else(|| Status::WrongArity(format!("xinfo|{name}")))
    };
    if is(sub, "HELP") {
        arity(argc == 2, "help")?;
        reply_help(reply, XINFO_HELP);
        return Ok(());
    }
    if is(sub, "STREAM") {
        arity(argc >= 3, "stream")?;
        return super::stream_info::stream(ctx, args, reply);
    }
    if is(sub, "GROUPS") {
        arity(argc == 3, "groups")?;
        return super::stream_info::groups(ctx, args, reply);
    }
    if is(sub, "CONSUMERS") {
        arity(argc == 4, "consumers")?;
        return super::stream_info::consumers(ctx, args, reply);
    }
    Err(super::unknown_subcommand("xinfo", sub))
}

// ---------------------------------------------------------------------------------------
// Table rows

const fn shard(
    name: &'static str,
    arity: i16,
    flags: u32,
    keys: KeySpec,
    handler: super::ShardFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    Spec::row(
        name,
        arity,
        flags,
        keys,
        Handler::Shard(handler),
        "stream",
        summary,
        since,
    )
}

const fn multi(
    name: &'static str,
    arity: i16,
    flags: u32,
    handler: super::AsyncFn,
    summary: &'static str,
    since: &'static str,
) -> Spec {
    // Keys follow STREAMS: Redis reports no fixed positions (movablekeys).
    Spec::row(
        name,
        arity,
        flags,
        NO_KEYS,
        Handler::Multi(handler),
        "stream",
        summary,
        since,
    )
}

/// XGROUP and XINFO subcommands name their key second.
const SECOND: KeySpec = KeySpec {
    first: 2,
    last: 2,
    step: 1,
};

use super::stream_group::{xack, xautoclaim, xclaim, xgroup, xpending};
use super::stream_read::{xread, xreadgroup};

// Arity, flags and key positions as Redis 7.0.15's COMMAND INFO; summary and version as
// its COMMAND DOCS. XGROUP is flagged write (its subcommands are): the log records
// commands by their table row.
#[rustfmt::skip]
pub static COMMANDS: &[Spec] = &[
    shard("xadd", -5, WRITE | DENYOOM | FAST, ONE_KEY, xadd, "Appends a new entry to a stream", "5.0.0"),
    shard("xlen", 2, READONLY | FAST, ONE_KEY, xlen, "Return the number of entries in a stream", "5.0.0"),
    shard("xrange", -4, READONLY, ONE_KEY, xrange, "Return a range of elements in a stream, with IDs matching the specified IDs interval", "5.0.0"),
    shard("xrevrange", -4, READONLY, ONE_KEY, xrevrange, "Return a range of elements in a stream, with IDs matching the specified IDs interval, in reverse order (from greater to smaller IDs) compared to XRANGE", "5.0.0"),
    shard("xdel", -3, WRITE | FAST, ONE_KEY, xdel, "Removes the specified entries from the stream. Returns the number of items actually deleted, that may be different from the number of IDs passed in case certain IDs do not exist.", "5.0.0"),
    shard("xtrim", -4, WRITE, ONE_KEY, xtrim, "Trims the stream to (approximately if '~' is passed) a certain size", "5.0.0"),
    shard("xsetid", -3, WRITE | DENYOOM | FAST, ONE_KEY, xsetid, "An internal command for replicating stream values", "5.0.0"),
    shard("xack", -4, WRITE | FAST, ONE_KEY, xack, "Marks a pending message as correctly processed, effectively removing it from the pending entries list of the consumer group. Return value of the command is the number of messages successfully acknowledged, that is, the IDs we were actually able to resolve in the PEL.", "5.0.0"),
    shard("xpending", -3, READONLY, ONE_KEY, xpending, "Return information and entries from a stream consumer group pending entries list, that are messages fetched but never acknowledged.", "5.0.0"),
    shard("xclaim", -6, WRITE | FAST, ONE_KEY, xclaim, "Changes (or acquires) ownership of a message in a consumer group, as if the message was delivered to the specified consumer.", "5.0.0"),
    shard("xautoclaim", -6, WRITE | FAST, ONE_KEY, xautoclaim, "Changes (or acquires) ownership of messages in a consumer group, as if the messages were delivered to the specified consumer.", "6.2.0"),
    Spec {
        subcommands: &[
            ("create", -5, WRITE | DENYOOM),
            ("createconsumer", 5, WRITE | DENYOOM),
            ("delconsumer", 5, WRITE),
            ("destroy", 4, WRITE),
            ("setid", -5, WRITE),
            ("help", 2, LOADING | STALE),
        ],
        ..shard("xgroup", -2, 0, SECOND, xgroup, "A container for consumer groups commands", "5.0.0")
    },
    Spec {
        subcommands: &[
            ("stream", -3, READONLY),
            ("groups", 3, READONLY),
            ("consumers", 4, READONLY),
            ("help", 2, LOADING | STALE),
        ],
        ..shard("xinfo", -2, 0, SECOND, xinfo, "A container for stream introspection commands", "5.0.0")
    },
    multi("xread", -4, READONLY | BLOCKING, xread, "Return never seen elements in multiple streams, with IDs greater than the ones reported by the caller for each stream. Can block.", "5.0.0"),
    multi("xreadgroup", -7, WRITE | BLOCKING, xreadgroup, "Return new entries from a stream using a consumer group, or access the history of the pending entries for a given consumer. Can block.", "5.0.0"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_like_redis() {
        assert_eq!(parse_id(b"5", 0), Ok(StreamId::new(5, 0)));
        assert_eq!(parse_id(b"5", u64::MAX), Ok(StreamId::new(5, u64::MAX)));
        assert_eq!(parse_id(b"-", 7), Ok(StreamId::MIN));
        assert_eq!(parse_id(b"+", 7), Ok(StreamId::MAX));
        assert_eq!(parse_id(b"007-+3", 0), Ok(StreamId::new(7, 3)));
        // The text before the first '-' is the ms: empty here.
        assert!(parse_id(b"-0", 0).is_err());
        assert!(parse_id(b"-1", 0).is_err());
        assert!(parse_id(b"1-", 0).is_err());
        assert!(parse_id(b"18446744073709551616", 0).is_err());
        assert!(parse_strict_id(b"+").is_err());
        assert_eq!(
            parse_id_full(b"3-*", 0, true, true),
            Ok((StreamId::new(3, 0), false))
        );
        assert!(parse_id_full(b"3-*", 0, true, false).is_err());
        assert_eq!(parse_bound(b"(1-1", 0, true), Ok(StreamId::new(1, 2)));
        assert_eq!(
            parse_bound(b"(2", u64::MAX, false),
            Ok(StreamId::new(2, u64::MAX - 1))
        );
        assert!(parse_bound(b"(-", 0, true).is_err());
        let err = Err(Status::err("ERR invalid end ID for the interval"));
        assert_eq!(parse_bound(b"(0-0", u64::MAX, false), err);
    }
}

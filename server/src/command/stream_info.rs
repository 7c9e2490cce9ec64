//! XINFO STREAM [FULL [COUNT n]], XINFO GROUPS, XINFO CONSUMERS: Redis 7.0.15's maps
//! (flat arrays in RESP2), field for field, counters entries-read / lag /
//! max-deleted-entry-id / recorded-first-entry-id included.
//!
//! `radix-tree-nodes` is an estimate: Redis counts the nodes of its rax, a shape we do
//! not build (the block map is ordered by first ID instead); it reports one node per
//! block plus the root, which is what a rax of few keys has.

use super::args::{is, parse_i64, Args};
use super::stream::{read, reply_entry};
use super::Status;
use crate::resp::Reply;
use crate::shard::stream::{Group, Stream, StreamId, ENTRIES_READ_INVALID};
use crate::shard::Ctx;

/// Entries and PEL lengths XINFO STREAM FULL shows without COUNT.
const FULL_COUNT_DEFAULT: usize = 10;

fn stream_or_no_key<'c>(ctx: &'c mut Ctx, key: &[u8]) -> Result<&'c Stream, Status> {
    read(ctx, key)?.ok_or(Status::NoSuchKey)
}

fn reply_id(reply: &mut Reply, id: StreamId) {
    reply.bulk(id.text().as_bytes());
}

fn reply_entries_read(reply: &mut Reply, entries_read: i64) {
    if entries_read == ENTRIES_READ_INVALID {
        reply.null();
    } else {
        reply.int(entries_read);
    }
}

fn reply_lag(reply: &mut Reply, stream: &Stream, group: &Group) {
    match stream.lag(group) {
        Some(lag) => reply.int(lag),
        None => reply.null(),
    }
}

/// The fields both forms of XINFO STREAM start with.
fn reply_header(reply: &mut Reply, stream: &Stream) {
    reply.bulk(b"length");
    reply.int(stream.len() as i64);
    reply.bulk(b"radix-tree-keys");
    reply.int(stream.blocks() as i64);
    reply.bulk(b"radix-tree-nodes");
    reply.int(stream.blocks() as i64 + 1);
    reply.bulk(b"last-generated-id");
    reply_id(reply, stream.last_id);
    reply.bulk(b"max-deleted-entry-id");
    reply_id(reply, stream.max_deleted_id);
    reply.bulk(b"entries-added");
    reply.int(stream.entries_added as i64);
    reply.bulk(b"recorded-first-entry-id");
    reply_id(reply, stream.first_id());
}

/// XINFO STREAM key [FULL [COUNT count]].
pub(super) fn stream(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let mut full = None;
    match args.remaining() {
        0 => {}
        1 if is(args.peek().expect("one"), "FULL") => full = Some(FULL_COUNT_DEFAULT),
        3 if is(args.get(3), "FULL") && is(args.get(4), "COUNT") => {
            let count = parse_i64(args.get(5))?;
            full = Some(if count <= 0 { 0 } else { count as usize });
        }
        _ => {
            return Err(Status::err(
                "ERR unknown subcommand or wrong number of arguments for 'STREAM'. Try XINFO HELP.",
            ))
        }
    }
    let stream = stream_or_no_key(ctx, key)?;
    match full {
        None => stream_summary(reply, stream),
        Some(count) => stream_full(reply, stream, count),
    }
    Ok(())
}

fn stream_summary(reply: &mut Reply, stream: &Stream) {
    reply.map(10);
    reply_header(reply, stream);
    reply.bulk(b"groups");
    reply.int(stream.groups.len() as i64);
    for (name, rev) in [(&b"first-entry"[..], false), (b"last-entry", true)] {
        reply.bulk(name);
        let mut edge = None;
        stream.walk(StreamId::MIN, StreamId::MAX, rev, |entry| {
            edge = Some(entry);
            false
        });
        match edge {
            Some(entry) => reply_entry(reply, &entry),
            None => reply.null(),
        }
    }
}

/// At most `count` items (0: all).
fn limited(len: usize, count: usize) -> usize {
    if count == 0 {
        len
    } else {
        len.min(count)
    }
}

fn stream_full(reply: &mut Reply, stream: &Stream, count: usize) {
    reply.map(9);
    reply_header(reply, stream);
    reply.bulk(b"entries");
    let mut entries = Vec::new();
    stream.walk(StreamId::MIN, StreamId::MAX, false, |entry| {
        entries.push(entry);
        count == 0 || entries.len() < count
    });
    reply.array(entries.len());
    for entry in &entries {
        reply_entry(reply, entry);
    }
    reply.bulk(b"groups");
    reply.array(stream.groups.len());
    for (name, group) in &stream.groups {
        reply.map(7);
        reply.bulk(b"name");
        reply.bulk(name);
        reply.bulk(b"last-delivered-id");
        reply_id(reply, group.last_id);
        reply.bulk(b"entries-read");
        reply_entries_read(reply, group.entries_read);
        reply.bulk(b"lag");
        reply_lag(reply, stream, group);
        reply.bulk(b"pel-count");
        reply.int(group.pel.len() as i64);
        reply.bulk(b"pending");
        reply.array(limited(group.pel.len(), count));
        for (id, nack) in group.pel.iter().take(limited(group.pel.len(), count)) {
            reply.array(4);
            reply_id(reply, *id);
            reply.bulk(&nack.consumer);
            reply.int(nack.delivery_ms as i64);
            reply.int(nack.delivery_count as i64);
        }
        reply_full_consumers(reply, group, count);
    }
}

fn reply_full_consumers(reply: &mut Reply, group: &Group, count: usize) {
    reply.bulk(b"consumers");
    reply.array(group.consumers.len());
    for (name, consumer) in &group.consumers {
        reply.map(4);
        reply.bulk(b"name");
        reply.bulk(name);
        reply.bulk(b"seen-time");
        reply.int(consumer.seen_ms as i64);
        reply.bulk(b"pel-count");
        reply.int(consumer.pel.len() as i64);
        reply.bulk(b"pending");
        let shown = limited(consumer.pel.len(), count);
        reply.array(shown);
        for id in consumer.pel.iter().take(shown) {
            let nack = &group.pel[id];
            reply.array(3);
            reply_id(reply, *id);
            reply.int(nack.delivery_ms as i64);
            reply.int(nack.delivery_count as i64);
        }
    }
}

/// XINFO GROUPS key.
pub(super) fn groups(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let stream = stream_or_no_key(ctx, key)?;
    reply.array(stream.groups.len());
    for (name, group) in &stream.groups {
        reply.map(6);
        reply.bulk(b"name");
        reply.bulk(name);
        reply.bulk(b"consumers");
        reply.int(group.consumers.len() as i64);
        reply.bulk(b"pending");
        reply.int(group.pel.len() as i64);
        reply.bulk(b"last-delivered-id");
        reply_id(reply, group.last_id);
        reply.bulk(b"entries-read");
        reply_entries_read(reply, group.entries_read);
        reply.bulk(b"lag");
        reply_lag(reply, stream, group);
    }
    Ok(())
}

/// XINFO CONSUMERS key group.
pub(super) fn consumers(ctx: &mut Ctx, args: &mut Args, reply: &mut Reply) -> Result<(), Status> {
    let key = args.required()?;
    let name = args.required()?;
    let now_ms = ctx.now_ms();
    let stream = stream_or_no_key(ctx, key)?;
    let Some(group) = stream.groups.get(name) else {
        return Err(no_group_for_key(name, key));
    };
    reply.array(group.consumers.len());
    for (name, consumer) in &group.consumers {
        reply.map(3);
        reply.bulk(b"name");
        reply.bulk(name);
        reply.bulk(b"pending");
        reply.int(consumer.pel.len() as i64);
        reply.bulk(b"idle");
        reply.int(now_ms.saturating_sub(consumer.seen_ms) as i64);
    }
    Ok(())
}

/// "-NOGROUP No such consumer group 'g' for key name 'k'" (XGROUP, XINFO CONSUMERS).
pub(super) fn no_group_for_key(group: &[u8], key: &[u8]) -> Status {
    Status::err(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
}

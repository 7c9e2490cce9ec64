//! The stream value (OBJECT ENCODING "stream"): entries in blocks of contiguous bytes,
//! indexed by their first ID in an ordered map, as Redis keeps a rax of listpacks; and
//! the consumer groups with their pending entries lists.
//!
//! ```text
//! Stream { blocks: BTreeMap<first id, Block>, len, last_id, entries_added, ... , groups }
//!   Block { bytes: [entry entry ...], entries (live + deleted), live, last }
//!     entry = flags u8 | ms - first.ms (LEB128) | seq (LEB128) | field count (LEB128)
//!             | count × (field len, field, value len, value)   (lengths LEB128)
//!     seq is stored as seq - first.seq when the entry shares its block's first ms
//! Group { last_id, entries_read, pel: BTreeMap<id, Nack>, consumers: BTreeMap<name, ..> }
//! ```
//!
//! Seeking an ID is a map lookup (O(log n)) plus a walk inside one block; a range walks
//! blocks in order. A block closes once it holds `stream-node-max-entries` entries
//! (deleted ones included, as Redis counts them) or would pass `stream-node-max-bytes`.
//! XDEL only sets an entry's deleted flag, as Redis does, and drops a block whose
//! entries are all deleted; trimming drops whole blocks and, when exact, flags entries
//! of the first block it cannot drop whole, in Redis's order (so MAXLEN ~ removes the
//! same entries Redis would when blocks close at the same points).

use crate::config::ConfigStore;
use crate::config::Settings;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// Redis's STREAM_LISTPACK_MAX_SIZE: a node never grows past 1 GiB whatever the config.
const NODE_MAX_BYTES_CAP: usize = 1 << 30;

/// The deleted flag of an entry (Redis's STREAM_ITEM_FLAG_DELETED).
const FLAG_DELETED: u8 = 1;

/// Redis's SCG_INVALID_ENTRIES_READ: a group whose read counter is unknown.
pub const ENTRIES_READ_INVALID: i64 = -1;

/// An entry ID: milliseconds and a sequence number, ordered as Redis orders them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamId {
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const MIN: StreamId = StreamId { ms: 0, seq: 0 };
    pub const MAX: StreamId = StreamId {
        ms: u64::MAX,
        seq: u64::MAX,
    };

    pub fn new(ms: u64, seq: u64) -> StreamId {
        StreamId { ms, seq }
    }

    pub fn is_zero(&self) -> bool {
        *self == StreamId::MIN
    }

    /// The next ID up (Redis's streamIncrID), None past the largest.
    pub fn next(&self) -> Option<StreamId> {
        match (self.seq.checked_add(1), self.ms.checked_add(1)) {
            (Some(seq), _) => Some(StreamId::new(self.ms, seq)),
            (None, Some(ms)) => Some(StreamId::new(ms, 0)),
            (None, None) => None,
        }
    }

    /// The next ID down (streamDecrID), None below 0-0.
    pub fn prev(&self) -> Option<StreamId> {
        match (self.seq.checked_sub(1), self.ms.checked_sub(1)) {
            (Some(seq), _) => Some(StreamId::new(self.ms, seq)),
            (None, Some(ms)) => Some(StreamId::new(ms, u64::MAX)),
            (None, None) => None,
        }
    }

    /// "ms-seq", as every reply prints an ID.
    pub fn text(&self) -> String {
        format!("{}-{}", self.ms, self.seq)
    }
}

/// When a block closes (`stream-node-max-bytes`, `stream-node-max-entries`), cached per
/// shard like the other encodings' limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    pub node_bytes: usize,
    /// 0: no limit by count.
    pub node_entries: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        StreamLimits::from_settings(&Settings::default())
    }
}

impl StreamLimits {
    pub fn from_settings(settings: &Settings) -> StreamLimits {
        let bytes = usize::try_from(settings.stream_node_max_bytes).unwrap_or(usize::MAX);
        StreamLimits {
            // 0 means "no limit", which Redis caps at its listpack maximum.
            node_bytes: if bytes == 0 {
                NODE_MAX_BYTES_CAP
            } else {
                bytes.min(NODE_MAX_BYTES_CAP)
            },
            node_entries: usize::try_from(settings.stream_node_max_entries).unwrap_or(usize::MAX),
        }
    }

    /// The configured limits, or the defaults before a configuration is loaded.
    pub fn configured(config: &Mutex<Option<ConfigStore>>) -> StreamLimits {
        let guard = config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let settings = guard.as_ref().map(ConfigStore::settings);
        StreamLimits::from_settings(&settings.unwrap_or_default())
    }
}

// ---------------------------------------------------------------------------------------
// LEB128 and entry decoding

fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn varint_len(mut n: u64) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

fn get_varint(bytes: &[u8], at: &mut usize) -> u64 {
    let mut n = 0u64;
    let mut shift = 0;
    loop {
        let byte = bytes[*at];
        *at += 1;
        n |= ((byte & 0x7f) as u64) << shift;
        if byte < 0x80 {
            return n;
        }
        shift += 7;
    }
}

/// One entry as it sits in its block.
#[derive(Clone, Copy, Debug)]
pub struct EntryRef<'a> {
    pub id: StreamId,
    /// Field count.
    pub count: usize,
    /// The field/value pairs, still encoded.
    raw: &'a [u8],
}

impl<'a> EntryRef<'a> {
    /// The field/value pairs in the order they were added.
    pub fn fields(&self) -> impl Iterator<Item = (&'a [u8], &'a [u8])> + 'a {
        let raw = self.raw;
        let mut at = 0;
        (0..self.count).map(move |_| {
            let field_len = get_varint(raw, &mut at) as usize;
            let field = &raw[at..at + field_len];
            at += field_len;
            let value_len = get_varint(raw, &mut at) as usize;
            let value = &raw[at..at + value_len];
            at += value_len;
            (field, value)
        })
    }
}

/// An entry's header and where its fields end.
struct Decoded<'a> {
    entry: EntryRef<'a>,
    deleted: bool,
    /// Offset of the flag byte.
    start: usize,
    end: usize,
}

#[derive(Clone, Debug, PartialEq)]
struct Block {
    bytes: Vec<u8>,
    /// Entries written, deleted ones included (what closes a block, as in Redis).
    entries: usize,
    live: usize,
    /// The last entry written (deleted or not), as Redis reads a node's edge.
    last: StreamId,
}

impl Block {
    fn decode(&self, first: StreamId, at: usize) -> Decoded<'_> {
        let bytes = &self.bytes;
        let mut pos = at;
        let flags = bytes[pos];
        pos += 1;
        let ms_delta = get_varint(bytes, &mut pos);
        let seq = get_varint(bytes, &mut pos);
        let id = if ms_delta == 0 {
            StreamId::new(first.ms, first.seq + seq)
        } else {
            StreamId::new(first.ms + ms_delta, seq)
        };
        let count = get_varint(bytes, &mut pos) as usize;
        let fields_at = pos;
        for _ in 0..count * 2 {
            let len = get_varint(bytes, &mut pos) as usize;
            pos += len;
        }
        Decoded {
            entry: EntryRef {
                id,
                count,
                raw: &bytes[fields_at..pos],
            },
            deleted: flags & FLAG_DELETED != 0,
            start: at,
            end: pos,
        }
    }

    /// Every entry's offset, for walking a block backwards.
    fn offsets(&self, first: StreamId) -> Vec<usize> {
        let mut offsets = Vec::with_capacity(self.entries);
        let mut at = 0;
        while at < self.bytes.len() {
            offsets.push(at);
            at = self.decode(first, at).end;
        }
        offsets
    }
}

/// The encoded size of an entry, to decide whether it still fits its block.
fn encoded_len(first: Option<StreamId>, id: StreamId, fields: &[(&[u8], &[u8])]) -> usize {
    let (ms, seq) = delta(first.unwrap_or(id), id);
    let mut len = 1 + varint_len(ms) + varint_len(seq) + varint_len(fields.len() as u64);
    for (field, value) in fields {
        len += varint_len(field.len() as u64) + field.len();
        len += varint_len(value.len() as u64) + value.len();
    }
    len
}

fn delta(first: StreamId, id: StreamId) -> (u64, u64) {
    if id.ms == first.ms {
        (0, id.seq - first.seq)
    } else {
        (id.ms - first.ms, id.seq)
    }
}

fn encode(out: &mut Vec<u8>, first: StreamId, id: StreamId, fields: &[(&[u8], &[u8])]) {
    let (ms, seq) = delta(first, id);
    out.push(0);
    put_varint(out, ms);
    put_varint(out, seq);
    put_varint(out, fields.len() as u64);
    for (field, value) in fields {
        put_varint(out, field.len() as u64);
        out.extend_from_slice(field);
        put_varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }
}

// ---------------------------------------------------------------------------------------
// Consumer groups

/// A pending entry: delivered to `consumer`, not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nack {
    pub delivery_ms: u64,
    pub delivery_count: u64,
    pub consumer: Vec<u8>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Consumer {
    pub seen_ms: u64,
    /// Its share of the group's PEL.
    pub pel: BTreeSet<StreamId>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub last_id: StreamId,
    /// Entries the group has read, or ENTRIES_READ_INVALID when unknown (for the lag).
    pub entries_read: i64,
    pub pel: BTreeMap<StreamId, Nack>,
    /// By name, in byte order as Redis's rax lists them.
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

impl Group {
    pub fn new(last_id: StreamId, entries_read: i64) -> Group {
        Group {
            last_id,
            entries_read,
            pel: BTreeMap::new(),
            consumers: BTreeMap::new(),
        }
    }

    /// The consumer named `name`, created (seen now) when missing; true when created.
    pub fn consumer(&mut self, name: &[u8], now_ms: u64) -> (&mut Consumer, bool) {
        let created = !self.consumers.contains_key(name);
        let consumer = self.consumers.entry(name.to_vec()).or_insert(Consumer {
            seen_ms: now_ms,
            pel: BTreeSet::new(),
        });
        (consumer, created)
    }

    /// Removes `id` from the PEL and from its consumer's view; true when it was pending.
    pub fn ack(&mut self, id: StreamId) -> bool {
        let Some(nack) = self.pel.remove(&id) else {
            return false;
        };
        if let Some(consumer) = self.consumers.get_mut(&nack.consumer) {
            consumer.pel.remove(&id);
        }
        true
    }

    /// Makes `id` pending for `consumer` (replacing any owner it had).
    pub fn assign(&mut self, id: StreamId, consumer: &[u8], nack: Nack) {
        if let Some(old) = self.pel.get(&id) {
            if let Some(owner) = self.consumers.get_mut(&old.consumer) {
                owner.pel.remove(&id);
            }
        }
        if let Some(owner) = self.consumers.get_mut(consumer) {
            owner.pel.insert(id);
        }
        self.pel.insert(
            id,
            Nack {
                consumer: consumer.to_vec(),
                ..nack
            },
        );
    }
}

// ---------------------------------------------------------------------------------------
// The stream

/// How XADD / XTRIM trim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trim {
    MaxLen(u64),
    MinId(StreamId),
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stream {
    blocks: BTreeMap<StreamId, Block>,
    len: u64,
    pub last_id: StreamId,
    pub max_deleted_id: StreamId,
    pub entries_added: u64,
    /// By name, in byte order as Redis's rax lists them.
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of blocks (XINFO's radix-tree-keys).
    pub fn blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Bytes the entries take (MEMORY USAGE and the like).
    pub fn bytes(&self) -> usize {
        self.blocks.values().map(|block| block.bytes.len()).sum()
    }

    /// The first live entry's ID (0-0 when empty): Redis's recorded first entry ID.
    pub fn first_id(&self) -> StreamId {
        let mut first = StreamId::MIN;
        self.walk(StreamId::MIN, StreamId::MAX, false, |entry| {
            first = entry.id;
            false
        });
        first
    }

    /// The last live entry's ID, None when empty (Redis's streamLastValidID).
    pub fn last_live_id(&self) -> Option<StreamId> {
        let mut last = None;
        self.walk(StreamId::MIN, StreamId::MAX, true, |entry| {
            last = Some(entry.id);
            false
        });
        last
    }

    /// Appends an entry; `id` must be above `last_id` (the caller checked).
    pub fn append(&mut self, id: StreamId, fields: &[(&[u8], &[u8])], limits: StreamLimits) {
        debug_assert!(id > self.last_id);
        let open = self.blocks.last_key_value().and_then(|(&first, block)| {
            let too_big =
                block.bytes.len() + encoded_len(Some(first), id, fields) >= limits.node_bytes;
            let too_many = limits.node_entries != 0 && block.entries >= limits.node_entries;
            (!too_big && !too_many).then_some(first)
        });
        let first = open.unwrap_or(id);
        let block = self.blocks.entry(first).or_insert_with(|| Block {
            bytes: Vec::new(),
            entries: 0,
            live: 0,
            last: id,
        });
        encode(&mut block.bytes, first, id, fields);
        block.entries += 1;
        block.live += 1;
        block.last = id;
        self.len += 1;
        self.entries_added += 1;
        self.last_id = id;
    }

    /// Calls `f` on the live entries from `start` to `end` (inclusive) in ID order, or
    /// from `end` down to `start` when `rev`, until it returns false.
    pub fn walk<'a>(
        &'a self,
        start: StreamId,
        end: StreamId,
        rev: bool,
        mut f: impl FnMut(EntryRef<'a>) -> bool,
    ) {
        if start > end {
            return;
        }
        if rev {
            for (&first, block) in self.blocks.range(..=end).rev() {
                if block.last < start {
                    return;
                }
                for &at in block.offsets(first).iter().rev() {
                    let decoded = block.decode(first, at);
                    let id = decoded.entry.id;
                    if id > end || decoded.deleted {
                        continue;
                    }
                    if id < start || !f(decoded.entry) {
                        return;
                    }
                }
            }
            return;
        }
        let from = self
            .blocks
            .range(..=start)
            .next_back()
            .map_or(start, |(&first, _)| first);
        for (&first, block) in self.blocks.range(from..) {
            if first > end {
                return;
            }
            let mut at = 0;
            while at < block.bytes.len() {
                let decoded = block.decode(first, at);
                at = decoded.end;
                let id = decoded.entry.id;
                if id < start || decoded.deleted {
                    continue;
                }
                if id > end || !f(decoded.entry) {
                    return;
                }
            }
        }
    }

    /// The live entry `id`, if any.
    pub fn get(&self, id: StreamId) -> Option<EntryRef<'_>> {
        let mut found = None;
        self.walk(id, id, false, |entry| {
            found = Some(entry);
            false
        });
        found
    }

    /// Flags entry `id` deleted; true when it was live. Drops its block once empty.
    pub fn delete(&mut self, id: StreamId) -> bool {
        let Some((&first, block)) = self.blocks.range_mut(..=id).next_back() else {
            return false;
        };
        if block.last < id {
            return false;
        }
        let mut at = 0;
        while at < block.bytes.len() {
            let decoded = block.decode(first, at);
            let (found, deleted, start, end) = (
                decoded.entry.id,
                decoded.deleted,
                decoded.start,
                decoded.end,
            );
            if found == id {
                if deleted {
                    return false;
                }
                block.bytes[start] |= FLAG_DELETED;
                block.live -= 1;
                self.len -= 1;
                if block.live == 0 {
                    self.blocks.remove(&first);
                }
                return true;
            }
            if found > id {
                return false;
            }
            at = end;
        }
        false
    }

    /// Trims as Redis's streamTrim: whole blocks from the head while the stream stays at
    /// or above the goal (at most `limit` entries when approximate, 0: no limit); then,
    /// unless `approx`, single entries of the next block. A block whose removal would pass
    /// `limit` stops the trim (Redis 7.0's `deleted + entries > limit`). Returns the entries removed.
    pub fn trim(&mut self, trim: Trim, approx: bool, limit: u64) -> u64 {
        let mut removed = 0;
        while let Some((&first, block)) = self.blocks.first_key_value() {
            if let Trim::MaxLen(max) = trim {
                if self.len <= max {
                    break;
                }
            }
            let whole = match trim {
                Trim::MaxLen(max) => self.len - block.live as u64 >= max,
                Trim::MinId(min) => block.last < min,
            };
            if whole {
                let live = block.live as u64;
                // The work bound: a block that would take the count past it stays.
                if limit != 0 && removed + live > limit {
                    break;
                }
                self.blocks.remove(&first);
                self.len -= live;
                removed += live;
                continue;
            }
            if !approx {
                removed += self.trim_inside(first, trim);
            }
            break;
        }
        removed
    }

    /// Flags the entries of block `first` that the exact trim removes.
    fn trim_inside(&mut self, first: StreamId, trim: Trim) -> u64 {
        let block = self.blocks.get_mut(&first).expect("trimmed block exists");
        let mut removed = 0;
        let mut at = 0;
        while at < block.bytes.len() {
            let decoded = block.decode(first, at);
            let (id, deleted, start) = (decoded.entry.id, decoded.deleted, decoded.start);
            at = decoded.end;
            let done = match trim {
                Trim::MaxLen(max) => self.len <= max,
                Trim::MinId(min) => id >= min,
            };
            if done {
                break;
            }
            if deleted {
                continue;
            }
            block.bytes[start] |= FLAG_DELETED;
            block.live -= 1;
            self.len -= 1;
            removed += 1;
        }
        if block.live == 0 {
            self.blocks.remove(&first);
        }
        removed
    }

    /// Redis's streamEstimateDistanceFromFirstEverEntry: how many entries were added up
    /// to `id`, when that can be known; ENTRIES_READ_INVALID otherwise.
    pub fn distance_from_first(&self, id: StreamId) -> i64 {
        if self.entries_added == 0 {
            return 0;
        }
        let added = self.entries_added as i64;
        if self.len == 0 && id <= self.last_id {
            return added;
        }
        match id.cmp(&self.last_id) {
            std::cmp::Ordering::Equal => return added,
            std::cmp::Ordering::Greater => return ENTRIES_READ_INVALID,
            std::cmp::Ordering::Less => {}
        }
        let first = self.first_id();
        if self.max_deleted_id.is_zero() || self.max_deleted_id < first {
            match id.cmp(&first) {
                std::cmp::Ordering::Less => return added - self.len as i64,
                std::cmp::Ordering::Equal => return added - self.len as i64 + 1,
                std::cmp::Ordering::Greater => {}
            }
        }
        ENTRIES_READ_INVALID
    }

    /// Redis's streamRangeHasTombstones from `start` to the end of the stream.
    pub fn has_tombstones_from(&self, start: StreamId) -> bool {
        if self.len == 0 || self.max_deleted_id.is_zero() {
            return false;
        }
        start <= self.max_deleted_id
    }

    /// A group's lag (XINFO), None when it cannot be known.
    pub fn lag(&self, group: &Group) -> Option<i64> {
        if self.entries_added == 0 {
            return Some(0);
        }
        let added = self.entries_added as i64;
        if group.entries_read != ENTRIES_READ_INVALID && !self.has_tombstones_from(group.last_id) {
            return Some(added - group.entries_read);
        }
        let read = self.distance_from_first(group.last_id);
        (read != ENTRIES_READ_INVALID).then(|| added - read)
    }

    /// A group moves past `id` as it delivers it (Redis's streamReplyWithRange).
    pub fn advance_group(&self, group: &mut Group, id: StreamId) {
        if id <= group.last_id {
            return;
        }
        if group.entries_read != ENTRIES_READ_INVALID && !self.has_tombstones_from(id) {
            group.entries_read += 1;
        } else if self.entries_added != 0 {
            group.entries_read = self.distance_from_first(id);
        }
        group.last_id = id;
    }
}

// ---------------------------------------------------------------------------------------
// The PUT form (effect.rs, type 5)

/// Reads the PUT form back; None when it is malformed.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let taken = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(taken)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }

    fn id(&mut self) -> Option<StreamId> {
        Some(StreamId::new(self.u64()?, self.u64()?))
    }

    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = self.u32()? as usize;
        self.take(len)
    }
}

fn put_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_id(out: &mut Vec<u8>, id: StreamId) {
    out.extend_from_slice(&id.ms.to_le_bytes());
    out.extend_from_slice(&id.seq.to_le_bytes());
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_u32(out, bytes.len());
    out.extend_from_slice(bytes);
}

impl Stream {
    /// The whole stream as PUT carries it (integers little-endian, byte strings as
    /// len u32 + bytes):
    ///
    /// ```text
    /// last_id, max_deleted_id (ms u64, seq u64 each), entries_added u64,
    /// entry count u32, entries × (id, field count u32, count × (field, value)),
    /// group count u32, groups × (name, last_id, entries_read i64,
    ///     pel count u32, pel × (id, delivery_ms u64, delivery_count u64, consumer),
    ///     consumer count u32, consumers × (name, seen_ms u64))
    /// ```
    ///
    /// Live entries only: deleted ones and block boundaries are not state a reply shows
    /// (the replaying server packs blocks by its own limits).
    pub fn write_put(&self, out: &mut Vec<u8>) {
        put_id(out, self.last_id);
        put_id(out, self.max_deleted_id);
        out.extend_from_slice(&self.entries_added.to_le_bytes());
        put_u32(out, self.len as usize);
        self.walk(StreamId::MIN, StreamId::MAX, false, |entry| {
            put_id(out, entry.id);
            put_u32(out, entry.count);
            for (field, value) in entry.fields() {
                put_bytes(out, field);
                put_bytes(out, value);
            }
            true
        });
        put_u32(out, self.groups.len());
        for (name, group) in &self.groups {
            put_bytes(out, name);
            put_id(out, group.last_id);
            out.extend_from_slice(&group.entries_read.to_le_bytes());
            put_u32(out, group.pel.len());
            for (&id, nack) in &group.pel {
                put_id(out, id);
                out.extend_from_slice(&nack.delivery_ms.to_le_bytes());
                out.extend_from_slice(&nack.delivery_count.to_le_bytes());
                put_bytes(out, &nack.consumer);
            }
            put_u32(out, group.consumers.len());
            for (name, consumer) in &group.consumers {
                put_bytes(out, name);
                out.extend_from_slice(&consumer.seen_ms.to_le_bytes());
            }
        }
    }

    /// A stream from its PUT form, packed into blocks by `limits`; None when malformed.
    pub fn read_put(bytes: &[u8], limits: StreamLimits) -> Option<Stream> {
        let mut r = Reader { bytes, at: 0 };
        let (last_id, max_deleted_id) = (r.id()?, r.id()?);
        let entries_added = r.u64()?;
        let mut stream = Stream::default();
        for _ in 0..r.u32()? {
            let id = r.id()?;
            let count = r.u32()? as usize;
            let mut fields = Vec::with_capacity(count.min(bytes.len()));
            for _ in 0..count {
                fields.push((r.bytes()?, r.bytes()?));
            }
            if id <= stream.last_id && stream.len != 0 {
                return None;
            }
            stream.append(id, &fields, limits);
        }
        (stream.last_id <= last_id).then_some(())?;
        stream.last_id = last_id;
        stream.max_deleted_id = max_deleted_id;
        stream.entries_added = entries_added;
        for _ in 0..r.u32()? {
            let name = r.bytes()?.to_vec();
            let mut group = Group::new(r.id()?, r.u64()? as i64);
            let mut pending = Vec::new();
            for _ in 0..r.u32()? {
                let id = r.id()?;
                let (delivery_ms, delivery_count) = (r.u64()?, r.u64()?);
                let consumer = r.bytes()?.to_vec();
                pending.push((
                    id,
                    Nack {
                        delivery_ms,
                        delivery_count,
                        consumer,
                    },
                ));
            }
            for _ in 0..r.u32()? {
                let name = r.bytes()?.to_vec();
                let seen_ms = r.u64()?;
                group.consumers.insert(
                    name,
                    Consumer {
                        seen_ms,
                        pel: BTreeSet::new(),
                    },
                );
            }
            for (id, nack) in pending {
                let consumer = nack.consumer.clone();
                group.consumers.get(&consumer)?;
                group.assign(id, &consumer, nack);
            }
            stream.groups.insert(name, group);
        }
        (r.at == bytes.len()).then_some(stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(entries: usize) -> StreamLimits {
        StreamLimits {
            node_bytes: 4096,
            node_entries: entries,
        }
    }

    fn ids(stream: &Stream, start: StreamId, end: StreamId, rev: bool) -> Vec<StreamId> {
        let mut out = Vec::new();
        stream.walk(start, end, rev, |entry| {
            out.push(entry.id);
            true
        });
        out
    }

    #[test]
    fn entries_keep_their_fields_and_blocks_close_by_count() {
        let mut stream = Stream::default();
        for ms in 1..=7u64 {
            let value = ms.to_string();
            stream.append(
                StreamId::new(ms, ms),
                &[(b"f", value.as_bytes()), (b"g", b"")],
                limits(3),
            );
        }
        assert_eq!(stream.blocks(), 3);
        let entry = stream.get(StreamId::new(5, 5)).unwrap();
        let fields: Vec<_> = entry.fields().collect();
        assert_eq!(fields, vec![(&b"f"[..], &b"5"[..]), (&b"g"[..], &b""[..])]);
        assert!(stream.get(StreamId::new(5, 4)).is_none());
    }

    #[test]
    fn blocks_close_by_bytes() {
        let mut stream = Stream::default();
        let big = [b'x'; 100];
        let limits = StreamLimits {
            node_bytes: 250,
            node_entries: 0,
        };
        for seq in 0..5 {
            stream.append(StreamId::new(1, seq + 1), &[(b"f", &big)], limits);
        }
        assert_eq!(stream.blocks(), 3);
    }

    #[test]
    fn lag_and_entries_read_follow_redis() {
        let mut stream = Stream::default();
        for seq in 1..=3 {
            stream.append(StreamId::new(1, seq), &[(b"f", b"v")], limits(100));
        }
        let mut group = Group::new(StreamId::MIN, ENTRIES_READ_INVALID);
        assert_eq!(stream.lag(&group), Some(3));
        stream.advance_group(&mut group, StreamId::new(1, 1));
        assert_eq!(group.entries_read, 1);
        assert_eq!(stream.lag(&group), Some(2));
        stream.delete(StreamId::new(1, 2));
        stream.max_deleted_id = StreamId::new(1, 2);
        assert_eq!(stream.lag(&group), None);
    }

    /// What the model and the blocks are put through.
    #[derive(Clone, Debug)]
    enum Op {
        Add { ms_step: u64, fields: u8 },
        Delete(usize),
        MaxLen { max: u64, approx: bool },
        MinId(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0..3u64, 0..4u8).prop_map(|(ms_step, fields)| Op::Add { ms_step, fields }),
            2 => (0..64usize).prop_map(Op::Delete),
            1 => (0..40u64, any::<bool>()).prop_map(|(max, approx)| Op::MaxLen { max, approx }),
            1 => (0..64usize).prop_map(Op::MinId),
        ]
    }

    fn apply(stream: &mut Stream, model: &mut BTreeMap<StreamId, Vec<u8>>, op: &Op, node: usize) {
        match *op {
            Op::Add { ms_step, fields } => {
                let last = stream.last_id;
                let id = if ms_step == 0 {
                    last.next().unwrap()
                } else {
                    StreamId::new(last.ms + ms_step, 0)
                };
                let value = id.text().into_bytes();
                let pairs: Vec<(&[u8], &[u8])> = (0..fields)
                    .map(|_| (&b"field"[..], value.as_slice()))
                    .collect();
                stream.append(id, &pairs, limits(node));
                model.insert(id, value);
            }
            Op::Delete(pick) => {
                if let Some(&id) = model.keys().nth(pick % model.len().max(1)) {
                    assert!(stream.delete(id));
                    assert!(!stream.delete(id));
                    model.remove(&id);
                }
            }
            Op::MaxLen { max, approx } => {
                let removed = stream.trim(Trim::MaxLen(max), approx, 0);
                let before = model.len() as u64;
                if approx {
                    // Whole blocks only: the oldest entries, never below the goal.
                    for _ in 0..removed {
                        model.pop_first();
                    }
                    assert!(model.len() as u64 >= max.min(before));
                } else {
                    while model.len() as u64 > max {
                        model.pop_first();
                    }
                    assert_eq!(removed, before - model.len() as u64);
                }
            }
            Op::MinId(pick) => {
                if let Some(&min) = model.keys().nth(pick % model.len().max(1)) {
                    stream.trim(Trim::MinId(min), false, 0);
                    model.retain(|&id, _| id >= min);
                }
            }
        }
    }

    #[test]
    fn the_put_form_round_trips_with_groups() {
        let mut stream = Stream::default();
        for seq in 1..=5 {
            stream.append(
                StreamId::new(7, seq),
                &[(b"f", b"v"), (b"", b"x")],
                limits(2),
            );
        }
        stream.delete(StreamId::new(7, 2));
        stream.max_deleted_id = StreamId::new(7, 2);
        stream.last_id = StreamId::new(9, 0);
        let mut group = Group::new(StreamId::new(7, 3), 2);
        group.consumer(b"alice", 11);
        group.consumer(b"bob", 12);
        let nack = Nack {
            delivery_ms: 5,
            delivery_count: 2,
            consumer: Vec::new(),
        };
        group.assign(StreamId::new(7, 1), b"alice", nack.clone());
        group.assign(StreamId::new(7, 3), b"bob", nack);
        stream.groups.insert(b"g".to_vec(), group);
        let mut out = Vec::new();
        stream.write_put(&mut out);
        let back = Stream::read_put(&out, limits(100)).expect("well formed");
        assert_eq!(back.groups, stream.groups);
        assert_eq!(back.len(), 4);
        assert_eq!(
            (back.last_id, back.max_deleted_id),
            (stream.last_id, stream.max_deleted_id)
        );
        let mut again = Vec::new();
        back.write_put(&mut again);
        assert_eq!(again, out);
        assert!(Stream::read_put(&out[..out.len() - 1], limits(100)).is_none());
    }

    proptest! {
        #[test]
        fn blocks_match_an_ordered_map(
            ops in proptest::collection::vec(op(), 1..120),
            node in 1..6usize,
            seeks in proptest::collection::vec((0..8u64, 0..8u64), 4),
        ) {
            let mut stream = Stream::default();
            let mut model = BTreeMap::new();
            for op in &ops {
                apply(&mut stream, &mut model, op, node);
                prop_assert_eq!(stream.len(), model.len() as u64);
            }
            let all: Vec<StreamId> = model.keys().copied().collect();
            prop_assert_eq!(ids(&stream, StreamId::MIN, StreamId::MAX, false), all.clone());
            let reversed: Vec<StreamId> = all.iter().rev().copied().collect();
            prop_assert_eq!(ids(&stream, StreamId::MIN, StreamId::MAX, true), reversed);
            for (a, b) in seeks {
                let last = stream.last_id.ms.max(1);
                let (lo, hi) = (StreamId::new(a % (last + 1), b), StreamId::new(last - a % last, b));
                let want: Vec<StreamId> = model.range(lo..=hi.max(lo)).map(|(&id, _)| id).collect();
                if lo <= hi {
                    prop_assert_eq!(ids(&stream, lo, hi, false), want.clone());
                    let back: Vec<StreamId> = want.iter().rev().copied().collect();
                    prop_assert_eq!(ids(&stream, lo, hi, true), back);
                }
            }
            for (&id, value) in &model {
                let entry = stream.get(id).expect("live entry found by seek");
                for (field, got) in entry.fields() {
                    prop_assert_eq!(field, b"field");
                    prop_assert_eq!(got, value.as_slice());
                }
            }
            prop_assert_eq!(stream.first_id(), model.keys().next().copied().unwrap_or_default());
        }
    }
}

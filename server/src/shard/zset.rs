//! The sorted set value: members ordered by (score, member bytes), kept as one contiguous
//! byte buffer while small and as a hash table plus skiplist past Redis's thresholds
//! (`zset-max-listpack-entries`, `zset-max-listpack-value`).
//!
//! ```text
//! Pack  one Vec<u8> of entries in order            OBJECT ENCODING "listpack"
//!       entry := member len (LEB128), member, score (f64 little-endian)
//!   -- more entries than the limit, or a member longer than the limit -->
//! Skip  member -> node table + skiplist with spans  OBJECT ENCODING "skiplist"
//! ```
//!
//! As in Redis, a set never converts back by itself: removing members from a skiplist
//! leaves a skiplist. Commands that build a new set (ZUNIONSTORE, ZRANGESTORE, a replayed
//! PUT) build it element by element under the limits, which picks the encoding Redis's
//! size hints pick.
//!
//! The large encoding is Redis's own structure: a skiplist whose forward links carry
//! spans (how many elements each link jumps), so rank, element-by-rank and the position of
//! a score or lex bound are O(log n), and a range is then a walk along level 0. We chose
//! it over a B-tree with subtree counts because it is the structure whose behaviour (and
//! Redis's code for it) we must match, element for element, and it updates a score in
//! place by unlinking and relinking one node. Nodes live in an arena (`Vec<Node>` with a
//! free list, links are u32 indices), so there is no unsafe code and no pointer per link;
//! the member table holds only the node index and hashes the member the node stores, so
//! each member's bytes are stored once.
//!
//! Every range operation is expressed by rank: a score or lex range becomes
//! `count_while(before min) .. count_while(not after max)`, which both encodings answer.

use super::Rng;
use crate::config::{ConfigStore, Settings};
use ahash::RandomState;
use hashbrown::HashTable;
use std::ops::Range;
use std::sync::Mutex;

/// When a pack must become a skiplist (read from the configuration on each shard).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZsetLimits {
    pub entries: usize,
    pub value_bytes: usize,
}

impl ZsetLimits {
    pub fn from_settings(settings: &Settings) -> ZsetLimits {
        ZsetLimits {
            entries: usize::try_from(settings.zset_max_listpack_entries).unwrap_or(usize::MAX),
            value_bytes: usize::try_from(settings.zset_max_listpack_value).unwrap_or(usize::MAX),
        }
    }

    /// The configured limits, or the defaults before a configuration is loaded (unit tests).
    pub fn configured(config: &Mutex<Option<ConfigStore>>) -> ZsetLimits {
        let guard = config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let settings = guard.as_ref().map(ConfigStore::settings);
        ZsetLimits::from_settings(&settings.unwrap_or_default())
    }
}

/// Whether the element (`score`, `member`) sorts before (`other_score`, `other`).
fn sorts_before(score: f64, member: &[u8], other_score: f64, other: &[u8]) -> bool {
    score < other_score || (score == other_score && member < other)
}

#[derive(Clone, Debug)]
pub enum Zset {
    Pack(Pack),
    Skip(Box<SkipList>),
}

impl Default for Zset {
    fn default() -> Self {
        Zset::Pack(Pack::default())
    }
}

impl PartialEq for Zset {
    /// The same elements in the same order, whatever the encoding.
    fn eq(&self, other: &Zset) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Zset {
    /// A set of `elements` (any order, members unique), encoded as the limits choose:
    /// what Redis's stores (ZUNIONSTORE, ZRANGESTORE) and loading produce. A pack is
    /// written in one pass over the sorted elements.
    pub fn build<'m>(
        elements: impl IntoIterator<Item = (&'m [u8], f64)>,
        limits: ZsetLimits,
    ) -> Zset {
        let mut sorted: Vec<(&[u8], f64)> = elements.into_iter().collect();
        sorted.sort_unstable_by(|a, b| {
            a.1.partial_cmp(&b.1)
                .expect("no NaN")
                .then_with(|| a.0.cmp(b.0))
        });
        let fits = sorted.len() <= limits.entries
            && sorted.iter().all(|(m, _)| m.len() <= limits.value_bytes);
        if fits {
            let mut pack = Pack::default();
            for (member, score) in sorted {
                encode_entry(&mut pack.bytes, member, pack_score(score));
                pack.len += 1;
            }
            return Zset::Pack(pack);
        }
        Zset::Skip(Box::new(SkipList::from_sorted(sorted.into_iter())))
    }

    /// An empty set already in the large encoding (Redis creates one when a size hint
    /// exceeds the entry limit, as ZRANGESTORE's does).
    pub fn empty_skiplist() -> Zset {
        Zset::Skip(Box::new(SkipList::with_capacity(0)))
    }

    pub fn len(&self) -> usize {
        match self {
            Zset::Pack(pack) => pack.len,
            Zset::Skip(skip) => skip.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Redis's encoding name.
    pub fn encoding(&self) -> &'static str {
        match self {
            Zset::Pack(_) => "listpack",
            Zset::Skip(_) => "skiplist",
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Zset::Pack(pack) => pack.find(member).map(|found| found.score),
            Zset::Skip(skip) => skip
                .find(member)
                .map(|node| skip.nodes[node as usize].score),
        }
    }

    /// Sets `member`'s score; returns the previous one (None when the member is new).
    /// An equal score leaves the element as it is (Redis compares with `!=`, so 0 and -0
    /// are the same score). Converts to a skiplist first when the result would break
    /// `limits`.
    pub fn insert(&mut self, member: &[u8], score: f64, limits: ZsetLimits) -> Option<f64> {
        debug_assert!(
            !score.is_nan(),
            "NaN scores are refused before they get here"
        );
        if let Zset::Pack(pack) = self {
            if let Some(found) = pack.find(member) {
                if found.score != score {
                    pack.bytes.drain(found.bytes);
                    pack.len -= 1;
                    pack.insert_new(member, score);
                }
                return Some(found.score);
            }
            if pack.len < limits.entries && member.len() <= limits.value_bytes {
                pack.insert_new(member, score);
                return None;
            }
            self.convert();
        }
        match self {
            Zset::Skip(skip) => skip.insert(member, score),
            Zset::Pack(_) => unreachable!("converted above"),
        }
    }

    /// Removes `member`; returns its score when it was there.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        match self {
            Zset::Pack(pack) => {
                let found = pack.find(member)?;
                pack.bytes.drain(found.bytes);
                pack.len -= 1;
                Some(found.score)
            }
            Zset::Skip(skip) => skip.remove(member),
        }
    }

    /// `member`'s 0-based rank in ascending order, and its score.
    pub fn rank(&self, member: &[u8]) -> Option<(usize, f64)> {
        match self {
            Zset::Pack(pack) => pack.find(member).map(|found| (found.rank, found.score)),
            Zset::Skip(skip) => {
                let score = skip.nodes[skip.find(member)? as usize].score;
                let rank = skip.count_while(|m, s| sorts_before(s, m, score, member));
                Some((rank, score))
            }
        }
    }

    /// How many leading elements (in ascending order) satisfy `pred`, which must hold for
    /// a prefix of the set and fail for the rest (a bound of a score or lex range).
    pub fn count_while(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        match self {
            Zset::Pack(pack) => pack.iter().take_while(|&(m, s)| pred(m, s)).count(),
            Zset::Skip(skip) => skip.count_while(pred),
        }
    }

    /// The element at 0-based rank `rank`.
    pub fn nth(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            Zset::Pack(pack) => pack.iter().nth(rank),
            Zset::Skip(skip) => {
                let node = &skip.nodes[skip.node_at(rank)? as usize];
                Some((&node.member, node.score))
            }
        }
    }

    /// Calls `visit` for the elements of ranks `ranks`, ascending, or descending from the
    /// last one when `rev`.
    pub fn for_range<'z>(
        &'z self,
        ranks: Range<usize>,
        rev: bool,
        visit: impl FnMut(&'z [u8], f64),
    ) {
        let ranks = ranks.start..ranks.end.min(self.len());
        if ranks.is_empty() {
            return;
        }
        match self {
            Zset::Pack(pack) => pack.for_range(ranks, rev, visit),
            Zset::Skip(skip) => skip.for_range(ranks, rev, visit),
        }
    }

    /// Removes the elements of ranks `ranks`; returns how many went.
    pub fn remove_range(&mut self, ranks: Range<usize>) -> usize {
        let ranks = ranks.start..ranks.end.min(self.len());
        if ranks.is_empty() {
            return 0;
        }
        match self {
            Zset::Pack(pack) => {
                let start = pack.offset_of(ranks.start);
                let end = pack.offset_of(ranks.end);
                pack.bytes.drain(start..end);
                pack.len -= ranks.len();
            }
            Zset::Skip(skip) => skip.remove_range(ranks.clone()),
        }
        ranks.len()
    }

    /// Every element in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Zset::Pack(pack) => Iter::Pack(pack.iter()),
            Zset::Skip(skip) => Iter::Skip {
                skip,
                node: skip.nodes[HEAD as usize].next(),
            },
        }
    }

    /// Whether the set is in its compact encoding (Redis answers some reads from the
    /// listpack's text, e.g. ZSCAN's scores).
    pub fn is_packed(&self) -> bool {
        matches!(self, Zset::Pack(_))
    }

    /// One element chosen at random.
    pub fn random(&self, rng: &mut Rng) -> Option<(&[u8], f64)> {
        match self.len() {
            0 => None,
            len => self.nth(rng.below(len)),
        }
    }

    /// ZSCAN from `cursor`: a pack visits everything and returns 0, as Redis does for a
    /// listpack; a skiplist walks its member table by bucket exactly as a hash table is
    /// walked (see shard/hash.rs), and returns the cursor to go on from (0 when done).
    pub fn scan<'z>(
        &'z self,
        cursor: u64,
        count: usize,
        mut visit: impl FnMut(&'z [u8], f64),
    ) -> u64 {
        match self {
            Zset::Pack(pack) => {
                pack.iter().for_each(|(m, s)| visit(m, s));
                0
            }
            Zset::Skip(skip) => skip.scan(cursor, count, visit),
        }
    }

    fn convert(&mut self) {
        if let Zset::Pack(pack) = self {
            let elements: Vec<(&[u8], f64)> = pack.iter().collect();
            *self = Zset::Skip(Box::new(SkipList::from_sorted(elements.into_iter())));
        }
    }
}

/// Elements in ascending order.
pub enum Iter<'z> {
    Pack(PackIter<'z>),
    Skip { skip: &'z SkipList, node: u32 },
}

impl<'z> Iterator for Iter<'z> {
    type Item = (&'z [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Iter::Pack(iter) => iter.next(),
            Iter::Skip { skip, node } => {
                let current = skip.nodes.get(*node as usize)?;
                *node = current.next();
                Some((&current.member, current.score))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pack: the listpack equivalent

/// Entries back to back in one buffer, sorted by (score, member). Small sets are read by
/// a linear walk, which at a few hundred short entries costs what a search would, with
/// no allocation per element.
#[derive(Clone, Debug, Default)]
pub struct Pack {
    bytes: Vec<u8>,
    len: usize,
}

/// Where a member sits in a pack.
struct Found {
    bytes: Range<usize>,
    rank: usize,
    score: f64,
}

/// The entry starting at `at`: member, score, and where the next entry starts.
fn decode_entry(bytes: &[u8], at: usize) -> (&[u8], f64, usize) {
    let (mut len, mut shift, mut at) = (0usize, 0, at);
    loop {
        let byte = bytes[at];
        at += 1;
        len |= ((byte & 0x7f) as usize) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
    }
    let member = &bytes[at..at + len];
    let score = f64::from_le_bytes(bytes[at + len..at + len + 8].try_into().expect("8 bytes"));
    (member, score, at + len + 8)
}

fn encode_entry(out: &mut Vec<u8>, member: &[u8], score: f64) {
    let mut len = member.len();
    while len >= 0x80 {
        out.push((len as u8 & 0x7f) | 0x80);
        len >>= 7;
    }
    out.push(len as u8);
    out.extend_from_slice(member);
    out.extend_from_slice(&score.to_le_bytes());
}

/// Redis's listpack stores an integral score as an integer, so -0 comes back as 0 (a
/// skiplist keeps the double as it is, sign and all).
fn pack_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

pub struct PackIter<'z> {
    bytes: &'z [u8],
    at: usize,
}

impl<'z> Iterator for PackIter<'z> {
    type Item = (&'z [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.bytes.len() {
            return None;
        }
        let (member, score, next) = decode_entry(self.bytes, self.at);
        self.at = next;
        Some((member, score))
    }
}

impl Pack {
    fn iter(&self) -> PackIter<'_> {
        PackIter {
            bytes: &self.bytes,
            at: 0,
        }
    }

    fn find(&self, member: &[u8]) -> Option<Found> {
        let (mut at, mut rank) = (0, 0);
        while at < self.bytes.len() {
            let (m, score, next) = decode_entry(&self.bytes, at);
            if m == member {
                return Some(Found {
                    bytes: at..next,
                    rank,
                    score,
                });
            }
            (at, rank) = (next, rank + 1);
        }
        None
    }

    /// Byte offset of the entry of rank `rank` (the end of the buffer for `len`).
    fn offset_of(&self, rank: usize) -> usize {
        let mut at = 0;
        for _ in 0..rank {
            at = decode_entry(&self.bytes, at).2;
        }
        at
    }

    /// Inserts a member known to be absent at its place in the order.
    fn insert_new(&mut self, member: &[u8], score: f64) {
        let score = pack_score(score);
        let mut at = 0;
        while at < self.bytes.len() {
            let (m, s, next) = decode_entry(&self.bytes, at);
            if sorts_before(score, member, s, m) {
                break;
            }
            at = next;
        }
        let mut entry = Vec::with_capacity(member.len() + 10);
        encode_entry(&mut entry, member, score);
        self.bytes.splice(at..at, entry);
        self.len += 1;
    }

    fn for_range<'z>(
        &'z self,
        ranks: Range<usize>,
        rev: bool,
        mut visit: impl FnMut(&'z [u8], f64),
    ) {
        let mut iter = self.iter();
        let at = self.offset_of(ranks.start);
        iter.at = at;
        let elements = iter.take(ranks.len());
        if rev {
            // A pack is small: collecting the range to walk it backwards costs little.
            let elements: Vec<(&[u8], f64)> = elements.collect();
            elements.into_iter().rev().for_each(|(m, s)| visit(m, s));
        } else {
            elements.for_each(|(m, s)| visit(m, s));
        }
    }
}

// ---------------------------------------------------------------------------------------
// SkipList: Redis's zskiplist with spans, in an arena, plus the member table

/// Redis's ZSKIPLIST_MAXLEVEL and ZSKIPLIST_P.
const MAX_LEVEL: usize = 32;
const LEVEL_UP_PER_65536: u64 = 65536 / 4;
/// No node (the end of a level, or no previous element).
const NIL: u32 = u32::MAX;
/// The header node: no element, MAX_LEVEL levels.
const HEAD: u32 = 0;
/// ZSCAN cursors keep the bucket in the low bits and the table generation above them.
const CURSOR_BUCKET_BITS: u32 = 48;
/// Free arena slots below which a shrinking skiplist is never rebuilt (small sets are
/// not worth the copy).
const ARENA_FREE_SLOTS_MIN: usize = 1024;

/// One link of a node: the next node on this level and how many elements it jumps.
/// Spans are u32: a set is limited to 4 billion elements, as the arena's indices are.
#[derive(Clone, Copy, Debug)]
struct Level {
    forward: u32,
    span: u32,
}

/// A node is one or more consecutive 64-byte cells of the arena: the first holds the
/// score, member, back link and levels 0-3; a taller node takes one more cell per four
/// further levels (255 in 256 nodes need only the first). Like Redis's node with its level
/// array inline, a search step costs one cache line (and the adjacent one for tall nodes,
/// which the hardware prefetches), never a second allocation: measured, the separate
/// upper-level allocation this replaced made ZADD into a 300k-member set spend 2/3 of its
/// search on the extra miss.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
struct Node {
    score: f64,
    member: Box<[u8]>,
    backward: u32,
    /// Levels of the node (0 in the cells after its first).
    height: u8,
    levels: [Level; CELL_LEVELS],
}

const CELL_LEVELS: usize = 4;
const _: () = assert!(
    std::mem::size_of::<Node>() == 64,
    "a cell is one cache line"
);
const UNLINKED: Level = Level {
    forward: NIL,
    span: 0,
};
/// Cells a node of the greatest height takes.
const MAX_CELLS: usize = cells_for(MAX_LEVEL);

/// Cells a node of `height` levels takes.
const fn cells_for(height: usize) -> usize {
    if height <= CELL_LEVELS {
        1
    } else {
        1 + (height - CELL_LEVELS).div_ceil(CELL_LEVELS)
    }
}

impl Node {
    fn new(member: Box<[u8]>, score: f64, height: usize) -> Node {
        Node {
            member,
            score,
            backward: NIL,
            height: height as u8,
            levels: [UNLINKED; CELL_LEVELS],
        }
    }

    /// A cell after a tall node's first: only its levels are used.
    fn extension() -> Node {
        Node::new(Box::default(), 0.0, 0)
    }

    fn height(&self) -> usize {
        self.height as usize
    }

    /// The next node on level 0 (every node has it).
    fn next(&self) -> u32 {
        self.levels[0].forward
    }
}

#[derive(Clone, Debug)]
pub struct SkipList {
    nodes: Vec<Node>,
    /// First cells of removed nodes, by cell count less one: reused before the arena
    /// grows.
    free: [Vec<u32>; MAX_CELLS],
    /// Cells in `free`, for deciding when to compact.
    free_cells: usize,
    /// Levels in use (at least 1).
    level: usize,
    len: usize,
    tail: u32,
    /// member -> node index; hashes the member the node holds.
    index: HashTable<u32>,
    hasher: RandomState,
    /// Bumped whenever an insert is about to rehash the member table (ZSCAN restarts).
    generation: u16,
    /// Level choice only shapes the list, never what it answers, so a fixed seed is fine.
    level_rng: u64,
}

impl SkipList {
    fn with_capacity(capacity: usize) -> SkipList {
        let mut nodes = Vec::with_capacity(capacity + MAX_CELLS);
        nodes.push(Node::new(Box::default(), 0.0, MAX_LEVEL));
        nodes.extend((1..MAX_CELLS).map(|_| Node::extension()));
        SkipList {
            nodes,
            free: Default::default(),
            free_cells: 0,
            level: 1,
            len: 0,
            tail: NIL,
            index: HashTable::with_capacity(capacity),
            // Fixed keys, as the keyspace's: ZSCAN order is the same on every core and
            // after every restart.
            hasher: RandomState::with_seeds(0x686f6c64, 0x66617374, 0x7a736574, 0x6d656d62),
            generation: 0,
            level_rng: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn node(&self, index: u32) -> &Node {
        &self.nodes[index as usize]
    }

    /// A node's link on `level`: in its first cell or one of the cells after it.
    fn level_at(&self, index: u32, level: usize) -> Level {
        debug_assert!(level < self.node(index).height());
        self.nodes[index as usize + level / CELL_LEVELS].levels[level % CELL_LEVELS]
    }

    fn link_of(&mut self, index: u32, level: usize) -> &mut Level {
        debug_assert!(level < self.node(index).height());
        &mut self.nodes[index as usize + level / CELL_LEVELS].levels[level % CELL_LEVELS]
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(member);
        self.index
            .find(hash, |&i| *self.nodes[i as usize].member == *member)
            .copied()
    }

    /// Redis's zslRandomLevel: each further level with probability 1/4.
    fn random_level(&mut self) -> usize {
        let mut level = 1;
        loop {
            let mut x = self.level_rng;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.level_rng = x;
            if level >= MAX_LEVEL || (x & 0xffff) >= LEVEL_UP_PER_65536 {
                return level;
            }
            level += 1;
        }
    }

    fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        if let Some(node) = self.find(member) {
            let old = self.node(node).score;
            if old != score && self.stays_in_place(node, score) {
                self.nodes[node as usize].score = score;
            } else if old != score {
                self.unlink(node);
                self.nodes[node as usize].score = score;
                self.link(node);
            }
            return Some(old);
        }
        let node = self.add_node(member, score);
        self.link(node);
        None
    }

    /// A new node for a member known to be absent, in the arena and the member table but
    /// not yet linked into the list.
    fn add_node(&mut self, member: &[u8], score: f64) -> u32 {
        let height = self.random_level();
        let cells = cells_for(height);
        let node = Node::new(member.into(), score, height);
        let index = match self.free[cells - 1].pop() {
            Some(slot) => {
                self.free_cells -= cells;
                let at = slot as usize;
                self.nodes[at] = node;
                self.nodes[at + 1..at + cells].fill_with(Node::extension);
                slot
            }
            None => {
                self.nodes.push(node);
                self.nodes.extend((1..cells).map(|_| Node::extension()));
                (self.nodes.len() - cells) as u32
            }
        };
        if self.index.len() == self.index.capacity() {
            self.generation = self.generation.wrapping_add(1);
        }
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        let hash = hasher.hash_one(member);
        self.index.insert_unique(hash, index, |&i| {
            hasher.hash_one(&*nodes[i as usize].member)
        });
        index
    }

    /// A list of `elements` given in order (members unique), built in one pass: each new
    /// node goes after the last node of each of its levels, so no search is needed.
    fn from_sorted<'m>(elements: impl ExactSizeIterator<Item = (&'m [u8], f64)>) -> SkipList {
        let mut list = SkipList::with_capacity(elements.len());
        let mut last = [HEAD; MAX_LEVEL];
        let mut last_rank = [0u32; MAX_LEVEL];
        for (member, score) in elements {
            let node = list.add_node(member, score);
            let rank = list.len as u32 + 1;
            for (i, (before, before_rank)) in last
                .iter_mut()
                .zip(&mut last_rank)
                .enumerate()
                .take(list.node(node).height())
            {
                *list.link_of(*before, i) = Level {
                    forward: node,
                    span: rank - *before_rank,
                };
                (*before, *before_rank) = (node, rank);
            }
            list.nodes[node as usize].backward = if list.len == 0 { NIL } else { list.tail };
            list.level = list.level.max(list.node(node).height());
            list.tail = node;
            list.len += 1;
        }
        list
    }

    /// Whether `node` rescored to `score` still sorts between its neighbours, so only
    /// the score changes (Redis's zslUpdateScore shortcut: a small increment moves
    /// nothing).
    fn stays_in_place(&self, node: u32, score: f64) -> bool {
        let n = self.node(node);
        let after_previous = match n.backward {
            NIL => true,
            previous => {
                let p = self.node(previous);
                sorts_before(p.score, &p.member, score, &n.member)
            }
        };
        let before_next = match n.next() {
            NIL => true,
            next => {
                let f = self.node(next);
                sorts_before(score, &n.member, f.score, &f.member)
            }
        };
        after_previous && before_next
    }

    fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let node = self.find(member)?;
        let score = self.node(node).score;
        self.drop_node(node);
        self.compact_if_sparse();
        Some(score)
    }

    /// Rebuilds the arena once most of its slots are free, so a set that shrank gives its
    /// memory back (amortised: at least as many removals as live elements paid for it).
    /// The member table is rebuilt too, so ZSCAN cursors from before restart.
    fn compact_if_sparse(&mut self) {
        if self.free_cells < ARENA_FREE_SLOTS_MIN || self.free_cells < self.len {
            return;
        }
        let elements: Vec<(&[u8], f64)> = Iter::Skip {
            skip: self,
            node: self.node(HEAD).next(),
        }
        .collect();
        let mut fresh = SkipList::from_sorted(elements.into_iter());
        fresh.generation = self.generation.wrapping_add(1);
        *self = fresh;
    }

    /// Unlinks `node`, forgets its member and returns its slot to the free list.
    fn drop_node(&mut self, node: u32) {
        self.unlink(node);
        let hash = self.hasher.hash_one(&*self.node(node).member);
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == node) {
            entry.remove();
        }
        let slot = &mut self.nodes[node as usize];
        slot.member = Box::default();
        let cells = cells_for(slot.height());
        self.free[cells - 1].push(node);
        self.free_cells += cells;
    }

    /// Redis's zslInsert for a node already in the arena (new, or re-scored): finds the
    /// last node of each level before it, counting ranks, then splices it in.
    fn link(&mut self, x: u32) {
        let (score, levels) = (self.node(x).score, self.node(x).height());
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut cur = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i == self.level - 1 { 0 } else { rank[i + 1] };
            loop {
                let next = self.level_at(cur, i).forward;
                if next == NIL {
                    break;
                }
                let n = self.node(next);
                if !sorts_before(n.score, &n.member, score, &self.node(x).member) {
                    break;
                }
                rank[i] = rank[i].wrapping_add(self.level_at(cur, i).span);
                cur = next;
            }
            update[i] = cur;
        }
        if levels > self.level {
            for i in self.level..levels {
                rank[i] = 0;
                update[i] = HEAD;
                self.link_of(HEAD, i).span = self.len as u32;
            }
            self.level = levels;
        }
        for i in 0..levels {
            let before = *self.link_of(update[i], i);
            let jumped = rank[0].wrapping_sub(rank[i]);
            *self.link_of(x, i) = Level {
                forward: before.forward,
                span: before.span.wrapping_sub(jumped),
            };
            *self.link_of(update[i], i) = Level {
                forward: x,
                span: jumped.wrapping_add(1),
            };
        }
        for (i, &node) in update.iter().enumerate().take(self.level).skip(levels) {
            let link = self.link_of(node, i);
            link.span = link.span.wrapping_add(1);
        }
        self.nodes[x as usize].backward = if update[0] == HEAD { NIL } else { update[0] };
        match self.node(x).next() {
            NIL => self.tail = x,
            next => self.nodes[next as usize].backward = x,
        }
        self.len += 1;
    }

    /// Redis's zslDelete/zslDeleteNode: finds the last node of each level before `x`,
    /// then splices it out, keeping the spans exact. The node stays in the arena.
    fn unlink(&mut self, x: u32) {
        let score = self.node(x).score;
        let mut update = [HEAD; MAX_LEVEL];
        let mut cur = HEAD;
        for i in (0..self.level).rev() {
            loop {
                let next = self.level_at(cur, i).forward;
                if next == NIL {
                    break;
                }
                let n = self.node(next);
                if !sorts_before(n.score, &n.member, score, &self.node(x).member) {
                    break;
                }
                cur = next;
            }
            update[i] = cur;
        }
        debug_assert_eq!(self.node(update[0]).next(), x);
        for (i, &node) in update.iter().enumerate().take(self.level) {
            let gone = (i < self.node(x).height()).then(|| self.level_at(x, i));
            let link = self.link_of(node, i);
            match gone {
                Some(gone) if link.forward == x => {
                    link.span = link.span.wrapping_add(gone.span).wrapping_sub(1);
                    link.forward = gone.forward;
                }
                _ => link.span = link.span.wrapping_sub(1),
            }
        }
        let (forward, backward) = (self.node(x).next(), self.node(x).backward);
        match forward {
            NIL => self.tail = backward,
            next => self.nodes[next as usize].backward = backward,
        }
        while self.level > 1 && self.level_at(HEAD, self.level - 1).forward == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    fn count_while(&self, pred: impl Fn(&[u8], f64) -> bool) -> usize {
        let (mut cur, mut rank) = (HEAD, 0usize);
        for i in (0..self.level).rev() {
            loop {
                let link = self.level_at(cur, i);
                if link.forward == NIL {
                    break;
                }
                let next = self.node(link.forward);
                if !pred(&next.member, next.score) {
                    break;
                }
                rank += link.span as usize;
                cur = link.forward;
            }
        }
        rank
    }

    /// The node of 0-based rank `rank` (Redis's zslGetElementByRank, which counts from 1).
    fn node_at(&self, rank: usize) -> Option<u32> {
        let wanted = rank + 1;
        let (mut cur, mut traversed) = (HEAD, 0usize);
        for i in (0..self.level).rev() {
            loop {
                let link = self.level_at(cur, i);
                if link.forward == NIL || traversed + link.span as usize > wanted {
                    break;
                }
                traversed += link.span as usize;
                cur = link.forward;
            }
            if traversed == wanted {
                return Some(cur);
            }
        }
        None
    }

    fn for_range<'z>(
        &'z self,
        ranks: Range<usize>,
        rev: bool,
        mut visit: impl FnMut(&'z [u8], f64),
    ) {
        let first = if rev { ranks.end - 1 } else { ranks.start };
        let mut node = self.node_at(first).expect("rank within the set");
        for _ in ranks {
            let n = self.node(node);
            visit(&n.member, n.score);
            node = if rev { n.backward } else { n.next() };
        }
    }

    fn remove_range(&mut self, ranks: Range<usize>) {
        let mut doomed = Vec::with_capacity(ranks.len());
        let mut node = self.node_at(ranks.start).expect("rank within the set");
        for _ in ranks {
            doomed.push(node);
            node = self.node(node).next();
        }
        for node in doomed {
            self.drop_node(node);
        }
        self.compact_if_sparse();
    }

    fn scan<'z>(&'z self, cursor: u64, count: usize, mut visit: impl FnMut(&'z [u8], f64)) -> u64 {
        let generation = (cursor >> CURSOR_BUCKET_BITS) as u16;
        let mut bucket = match generation == self.generation {
            true => (cursor & ((1 << CURSOR_BUCKET_BITS) - 1)) as usize,
            false => 0,
        };
        let buckets = self.index.num_buckets();
        let (mut seen, mut budget) = (0, count.saturating_mul(10));
        while bucket < buckets && seen < count && budget > 0 {
            if let Some(&node) = self.index.get_bucket(bucket) {
                let n = self.node(node);
                visit(&n.member, n.score);
                seen += 1;
            }
            bucket += 1;
            budget -= 1;
        }
        if bucket >= buckets {
            return 0;
        }
        // Never 0 while unfinished: generation 0 at bucket 0 would read as "done".
        ((self.generation as u64) << CURSOR_BUCKET_BITS | bucket as u64).max(1)
    }

    /// Checks every span, back link and the member table against a walk of level 0.
    #[cfg(test)]
    fn check(&self) {
        let mut order = Vec::new();
        let mut node = self.node(HEAD).next();
        let mut previous = NIL;
        while node != NIL {
            assert_eq!(self.node(node).backward, previous);
            order.push(node);
            previous = node;
            node = self.node(node).next();
        }
        assert_eq!(order.len(), self.len);
        assert_eq!(self.tail, previous);
        assert_eq!(self.index.len(), self.len);
        let rank_of = |n: u32| {
            if n == HEAD {
                0
            } else {
                order.iter().position(|&o| o == n).unwrap() + 1
            }
        };
        for i in 0..self.level {
            let mut cur = HEAD;
            loop {
                let link = self.level_at(cur, i);
                if link.forward == NIL {
                    break;
                }
                assert_eq!(rank_of(link.forward) - rank_of(cur), link.span as usize);
                cur = link.forward;
            }
        }
        for &n in &order {
            assert_eq!(self.find(&self.node(n).member), Some(n));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    const SMALL: ZsetLimits = ZsetLimits {
        entries: 4,
        value_bytes: 8,
    };
    const BIG: ZsetLimits = ZsetLimits {
        entries: 1 << 20,
        value_bytes: 1 << 20,
    };

    fn elements(zset: &Zset) -> Vec<(Vec<u8>, f64)> {
        zset.iter().map(|(m, s)| (m.to_vec(), s)).collect()
    }

    #[test]
    fn a_small_set_stays_packed_in_score_then_member_order() {
        let mut z = Zset::default();
        assert_eq!(z.insert(b"b", 2.0, SMALL), None);
        assert_eq!(z.insert(b"a", 2.0, SMALL), None);
        assert_eq!(z.insert(b"c", 1.0, SMALL), None);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(
            elements(&z),
            [
                (b"c".to_vec(), 1.0),
                (b"a".to_vec(), 2.0),
                (b"b".to_vec(), 2.0)
            ]
        );
        assert_eq!(z.insert(b"c", 3.0, SMALL), Some(1.0));
        assert_eq!(z.rank(b"c"), Some((2, 3.0)));
        assert_eq!(z.remove(b"a"), Some(2.0));
        assert_eq!(z.remove(b"a"), None);
        assert_eq!(z.len(), 2);
    }

    #[test]
    fn too_many_or_too_long_members_convert_for_good() {
        let mut z = Zset::build(
            [(&b"a"[..], 1.0), (b"b", 2.0), (b"c", 3.0), (b"d", 4.0)],
            SMALL,
        );
        assert_eq!(z.encoding(), "listpack");
        z.insert(b"e", 5.0, SMALL);
        assert_eq!(z.encoding(), "skiplist");
        for m in [b"a", b"b", b"c", b"d"] {
            z.remove(m);
        }
        assert_eq!(z.encoding(), "skiplist");
        assert_eq!(elements(&z), [(b"e".to_vec(), 5.0)]);
        let long = Zset::build([(&b"123456789"[..], 1.0)], SMALL);
        assert_eq!(long.encoding(), "skiplist");
        let exact = Zset::build([(&b"12345678"[..], 1.0)], SMALL);
        assert_eq!(exact.encoding(), "listpack");
        let none = ZsetLimits {
            entries: 0,
            value_bytes: 64,
        };
        assert_eq!(Zset::build([(&b"a"[..], 1.0)], none).encoding(), "skiplist");
    }

    #[test]
    fn long_members_survive_the_length_prefix() {
        let long = vec![b'x'; 300];
        let z = Zset::build([(&long[..], 1.5), (b"a", 0.5)], BIG);
        assert_eq!(z.encoding(), "listpack");
        assert_eq!(z.score(&long), Some(1.5));
        assert_eq!(z.nth(1), Some((&long[..], 1.5)));
    }

    #[test]
    fn minus_zero_is_zero_in_a_pack_and_kept_in_a_skiplist() {
        let mut z = Zset::build([(&b"a"[..], -0.0)], SMALL);
        assert!(z.score(b"a").unwrap().is_sign_positive());
        z.insert(b"b", -0.0, SMALL);
        assert!(z.score(b"b").unwrap().is_sign_positive());
        let none = ZsetLimits {
            entries: 0,
            value_bytes: 0,
        };
        let mut z = Zset::build([(&b"a"[..], -0.0)], none);
        assert!(z.score(b"a").unwrap().is_sign_negative());
        // An equal score (0 == -0) leaves the element as it is.
        assert_eq!(z.insert(b"a", 0.0, none), Some(-0.0));
        assert!(z.score(b"a").unwrap().is_sign_negative());
    }

    #[test]
    fn a_shrinking_skiplist_gives_its_arena_back() {
        let members: Vec<String> = (0..5000).map(|i| format!("m{i}")).collect();
        let mut z = Zset::build(members.iter().map(|m| (m.as_bytes(), 1.0)), SMALL);
        for m in &members[..4900] {
            z.remove(m.as_bytes());
        }
        let Zset::Skip(skip) = &z else {
            panic!("still a skiplist")
        };
        skip.check();
        assert!(
            skip.nodes.len() < 2600,
            "arena of {} slots",
            skip.nodes.len()
        );
        let left: Vec<&[u8]> = z.iter().map(|(m, _)| m).collect();
        let want: Vec<&[u8]> = members[4900..].iter().map(|m| m.as_bytes()).collect();
        assert_eq!(left, want);
        z.remove_range(0..50);
        assert_eq!(z.len(), 50);
    }

    #[test]
    fn skiplists_built_in_one_pass_are_sound_and_keep_working() {
        let none = ZsetLimits {
            entries: 0,
            value_bytes: 0,
        };
        for n in [1usize, 2, 5, 100, 3000] {
            let members: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            let scores = (0..n).map(|i| ((i * 7919) % 101) as f64);
            let mut z = Zset::build(members.iter().map(|m| m.as_bytes()).zip(scores), none);
            let Zset::Skip(skip) = &z else {
                panic!("a skiplist")
            };
            skip.check();
            for (rank, (m, _)) in z.iter().enumerate().step_by(97) {
                assert_eq!(z.rank(m).unwrap().0, rank);
            }
            for i in (0..n).step_by(3) {
                z.insert(format!("m{i}").as_bytes(), -(i as f64), none);
                z.insert(format!("new{i}").as_bytes(), i as f64 / 2.0, none);
            }
            let Zset::Skip(skip) = &z else {
                panic!("a skiplist")
            };
            skip.check();
        }
    }

    #[test]
    fn skiplist_scan_visits_every_member() {
        let members: Vec<String> = (0..300).map(|i| format!("m{i}")).collect();
        let z = Zset::build(members.iter().map(|m| (m.as_bytes(), 1.0)), SMALL);
        let (mut cursor, mut seen) = (0, std::collections::BTreeSet::new());
        loop {
            cursor = z.scan(cursor, 7, |m, _| {
                seen.insert(m.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 300);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, i8),
        Remove(u8),
        RemoveRange(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..40, -5i8..5).prop_map(|(m, s)| Op::Insert(m, s)),
            2 => (0u8..40).prop_map(Op::Remove),
            1 => (0u8..40, 0u8..6).prop_map(|(a, n)| Op::RemoveRange(a, n)),
        ]
    }

    fn member(m: u8) -> Vec<u8> {
        format!("m{m:02}").into_bytes()
    }

    /// The model: member -> score, and the order derived from it.
    fn ordered(model: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
        let mut all: Vec<(Vec<u8>, f64)> = model.iter().map(|(m, &s)| (m.clone(), s)).collect();
        all.sort_by(|a, b| a.1.total_cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
        all
    }

    fn check_against(z: &Zset, model: &BTreeMap<Vec<u8>, f64>, probe: (i8, i8, u8, u8)) {
        let order = ordered(model);
        assert_eq!(elements(z), order);
        assert_eq!(z.len(), order.len());
        if let Zset::Skip(skip) = z {
            skip.check();
        }
        for (rank, (m, s)) in order.iter().enumerate() {
            assert_eq!(z.rank(m), Some((rank, *s)));
            assert_eq!(z.nth(rank), Some((&m[..], *s)));
        }
        assert_eq!(z.nth(order.len()), None);
        // Ranges by score [lo, hi] and by lex [a, b), forwards and backwards.
        let (lo, hi) = (probe.0 as f64, probe.1 as f64);
        let start = z.count_while(|_, s| s < lo);
        let end = z.count_while(|_, s| s <= hi);
        let want: Vec<(Vec<u8>, f64)> = order
            .iter()
            .filter(|(_, s)| *s >= lo && *s <= hi)
            .cloned()
            .collect();
        let mut got = Vec::new();
        z.for_range(start..end.max(start), false, |m, s| {
            got.push((m.to_vec(), s))
        });
        assert_eq!(got, want);
        let mut back = Vec::new();
        z.for_range(start..end.max(start), true, |m, s| {
            back.push((m.to_vec(), s))
        });
        back.reverse();
        assert_eq!(back, want);
        let (a, b) = (member(probe.2), member(probe.3));
        let lex_start = z.count_while(|m, _| m < &a[..]);
        let lex_end = z.count_while(|m, _| m < &b[..]);
        if order.iter().all(|(_, s)| *s == order[0].1) {
            let want: Vec<&Vec<u8>> = order
                .iter()
                .map(|(m, _)| m)
                .filter(|m| **m >= a && **m < b)
                .collect();
            let mut got = Vec::new();
            z.for_range(lex_start..lex_end.max(lex_start), false, |m, _| {
                got.push(m.to_vec())
            });
            assert_eq!(got.iter().collect::<Vec<_>>(), want);
        }
    }

    fn run(ops: Vec<Op>, limits: ZsetLimits, probe: (i8, i8, u8, u8)) {
        let mut z = Zset::default();
        let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Insert(m, s) => {
                    let previous = model.insert(member(m), s as f64);
                    assert_eq!(z.insert(&member(m), s as f64, limits), previous);
                }
                Op::Remove(m) => assert_eq!(z.remove(&member(m)), model.remove(&member(m))),
                Op::RemoveRange(start, n) => {
                    let order = ordered(&model);
                    let range = (start as usize).min(order.len())
                        ..(start as usize + n as usize).min(order.len());
                    for (m, _) in &order[range.clone()] {
                        model.remove(m);
                    }
                    assert_eq!(
                        z.remove_range(start as usize..start as usize + n as usize),
                        range.len()
                    );
                }
            }
        }
        check_against(&z, &model, probe);
        // Pops are ranges at either end.
        let order = ordered(&model);
        let mut popped = Vec::new();
        z.for_range(0..2, false, |m, s| popped.push((m.to_vec(), s)));
        z.remove_range(0..2);
        assert_eq!(popped, order.iter().take(2).cloned().collect::<Vec<_>>());
        let len = z.len();
        let mut popped = Vec::new();
        z.for_range(len.saturating_sub(2)..len, true, |m, s| {
            popped.push((m.to_vec(), s))
        });
        z.remove_range(len.saturating_sub(2)..len);
        let want: Vec<_> = order.iter().skip(2).rev().take(2).cloned().collect();
        assert_eq!(popped, want);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        #[test]
        fn packed_sets_match_a_btreemap(ops in prop::collection::vec(op(), 0..80),
                                        probe in (-6i8..6, -6i8..6, 0u8..40, 0u8..40)) {
            run(ops, BIG, probe);
        }

        #[test]
        fn skiplists_match_a_btreemap(ops in prop::collection::vec(op(), 0..200),
                                      probe in (-6i8..6, -6i8..6, 0u8..40, 0u8..40)) {
            run(ops, ZsetLimits { entries: 0, value_bytes: 0 }, probe);
        }

        #[test]
        fn converting_sets_match_a_btreemap(ops in prop::collection::vec(op(), 0..120),
                                            probe in (-6i8..6, -6i8..6, 0u8..40, 0u8..40)) {
            run(ops, SMALL, probe);
        }
    }
}

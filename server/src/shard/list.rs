//! The list value: a quicklist, as Redis 7.0 keeps every list (OBJECT ENCODING
//! "quicklist"): a deque of nodes, each one contiguous byte buffer of entries, sized by
//! `list-max-listpack-size`.
//!
//! ```text
//! List { nodes: VecDeque<Node>, len }
//!   Node { buf: [ gap | entry entry entry ... ], start, count }
//!     entry = len (LEB128) | bytes | len (LEB128, bytes reversed)
//! ```
//!
//! The length is written at both ends of an entry (as a listpack's backlen) so a node can
//! be walked from either end, which makes RPOP as cheap as LPOP. A node keeps a gap before
//! its first entry: popping at the head moves `start` instead of the bytes behind it, and
//! pushing at the head writes into the gap, so push and pop at both ends are O(1)
//! amortised, where a listpack moves its whole buffer for every head change.
//!
//! Index operations (LINDEX, LSET, LINSERT, LRANGE's start) skip whole nodes by their
//! counts from the nearer end, then walk entries within one node. An edit in the middle
//! splices bytes into its node and re-packs only that node if it outgrew the limit.

use std::collections::VecDeque;

/// Redis's SIZE_SAFETY_LIMIT: a node limited by count is still kept under 8 KiB.
const SIZE_SAFETY_LIMIT: usize = 8192;

/// A head gap is at least this large when a node makes room at its head.
const MIN_HEAD_GAP: usize = 16;

/// How full a node may get: `list-max-listpack-size` (positive: entries per node;
/// -1..-5: 4, 8, 16, 32, 64 KiB per node, values beyond -5 read as -5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill(pub i64);

impl Default for Fill {
    fn default() -> Self {
        Fill(-2)
    }
}

impl Fill {
    pub fn from_settings(settings: &crate::config::Settings) -> Fill {
        Fill(settings.list_max_listpack_size)
    }

    /// The configured fill, or the default before a configuration is loaded (unit tests).
    pub fn configured(config: &std::sync::Mutex<Option<crate::config::ConfigStore>>) -> Fill {
        let guard = config
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let settings = guard.as_ref().map(crate::config::ConfigStore::settings);
        Fill::from_settings(&settings.unwrap_or_default())
    }

    /// Whether a node of `bytes` and `count` entries may take one more entry of
    /// `entry_bytes` encoded bytes. An empty node takes any entry.
    fn allows(self, bytes: usize, count: usize, entry_bytes: usize) -> bool {
        count == 0 || self.fits(bytes + entry_bytes, count + 1)
    }

    /// Whether a node of `bytes` holding `count` entries is within the limit.
    fn fits(self, bytes: usize, count: usize) -> bool {
        match self.0 {
            fill if fill >= 0 => count <= fill as usize && bytes <= SIZE_SAFETY_LIMIT,
            fill => {
                let level = (-fill).min(5) as u32;
                bytes <= 4096 << (level - 1)
            }
        }
    }
}

/// Bytes LEB128 takes for `n`.
fn varint_len(n: usize) -> usize {
    let bits = usize::BITS - n.leading_zeros();
    (bits.max(1) as usize).div_ceil(7)
}

/// The encoded size of an entry holding `len` bytes.
fn entry_size(len: usize) -> usize {
    len + 2 * varint_len(len)
}

fn write_varint(out: &mut [u8], mut n: usize) {
    for byte in out.iter_mut() {
        *byte = (n & 0x7f) as u8 | if n >= 0x80 { 0x80 } else { 0 };
        n >>= 7;
    }
}

/// Encodes `value` as an entry into `out` (exactly `entry_size(value.len())` bytes).
fn write_entry(out: &mut [u8], value: &[u8]) {
    let head = varint_len(value.len());
    write_varint(&mut out[..head], value.len());
    out[head..head + value.len()].copy_from_slice(value);
    let tail = &mut out[head + value.len()..];
    write_varint(tail, value.len());
    tail.reverse();
}

/// Reads a LEB128 length forwards from `buf[at..]`: (length, bytes used).
fn read_varint(buf: &[u8], at: usize) -> (usize, usize) {
    let (mut n, mut shift, mut used) = (0usize, 0, 0);
    loop {
        let byte = buf[at + used];
        n |= ((byte & 0x7f) as usize) << shift;
        used += 1;
        if byte & 0x80 == 0 {
            return (n, used);
        }
        shift += 7;
    }
}

/// Reads the reversed length that ends at `buf[..end]`: (length, bytes used).
fn read_back_varint(buf: &[u8], end: usize) -> (usize, usize) {
    let (mut n, mut shift, mut used) = (0usize, 0, 0);
    loop {
        let byte = buf[end - 1 - used];
        n |= ((byte & 0x7f) as usize) << shift;
        used += 1;
        if byte & 0x80 == 0 {
            return (n, used);
        }
        shift += 7;
    }
}

/// One node: `count` entries in `buf[start..]`.
#[derive(Clone, Debug, Default)]
struct Node {
    buf: Vec<u8>,
    start: usize,
    count: usize,
}

impl Node {
    fn bytes(&self) -> usize {
        self.buf.len() - self.start
    }

    /// The entry starting at `at`: (value range, offset after it).
    fn entry_at(&self, at: usize) -> (std::ops::Range<usize>, usize) {
        let (len, used) = read_varint(&self.buf, at);
        let value = at + used..at + used + len;
        (value.clone(), value.end + used)
    }

    /// The entry ending at `end`: (value range, offset where it starts).
    fn entry_before(&self, end: usize) -> (std::ops::Range<usize>, usize) {
        let (len, used) = read_back_varint(&self.buf, end);
        let value = end - used - len..end - used;
        (value.clone(), value.start - used)
    }

    fn push_back(&mut self, value: &[u8]) {
        let at = self.buf.len();
        self.buf.resize(at + entry_size(value.len()), 0);
        write_entry(&mut self.buf[at..], value);
        self.count += 1;
    }

    fn push_front(&mut self, value: &[u8]) {
        let size = entry_size(value.len());
        if self.start < size {
            self.make_head_gap(size);
        }
        self.start -= size;
        let start = self.start;
        write_entry(&mut self.buf[start..start + size], value);
        self.count += 1;
    }

    /// Moves the entries so at least `size` bytes are free before them, with slack in
    /// proportion to the node so a run of head pushes moves the bytes rarely.
    fn make_head_gap(&mut self, size: usize) {
        let live = self.bytes();
        let gap = size + (live / 2).max(MIN_HEAD_GAP);
        let mut buf = Vec::with_capacity(gap + live);
        buf.resize(gap, 0);
        buf.extend_from_slice(&self.buf[self.start..]);
        self.buf = buf;
        self.start = gap;
    }

    /// The node is full: its buffer shrinks to its entries (no head gap, no spare
    /// capacity), so a long list costs what its entries take. Once per node.
    fn seal(&mut self) {
        if self.start > 0 || self.buf.capacity() > self.buf.len() {
            self.buf = self.buf[self.start..].to_vec();
            self.start = 0;
        }
    }

    /// Removes the first entry, handing it to `take` before its bytes are released.
    fn pop_front_with<R>(&mut self, take: impl FnOnce(&[u8]) -> R) -> R {
        let (value, next) = self.entry_at(self.start);
        let taken = take(&self.buf[value]);
        self.start = next;
        self.count -= 1;
        taken
    }

    fn pop_back_with<R>(&mut self, take: impl FnOnce(&[u8]) -> R) -> R {
        let (value, start) = self.entry_before(self.buf.len());
        let taken = take(&self.buf[value]);
        self.buf.truncate(start);
        self.count -= 1;
        taken
    }

    /// The offset where entry `index` starts, walking from the nearer end.
    fn offset_of(&self, index: usize) -> usize {
        if index <= self.count / 2 {
            let mut at = self.start;
            for _ in 0..index {
                at = self.entry_at(at).1;
            }
            at
        } else {
            let mut at = self.buf.len();
            for _ in index..self.count {
                at = self.entry_before(at).1;
            }
            at
        }
    }

    fn get(&self, index: usize) -> &[u8] {
        let (value, _) = self.entry_at(self.offset_of(index));
        &self.buf[value]
    }

    /// Replaces the bytes `at..end` by the entry for `value` (an empty range inserts).
    fn splice(&mut self, at: usize, end: usize, value: &[u8]) {
        let mut entry = vec![0; entry_size(value.len())];
        write_entry(&mut entry, value);
        self.buf.splice(at..end, entry);
    }

    fn entries(&self) -> NodeIter<'_> {
        NodeIter {
            node: self,
            front: self.start,
            back: self.buf.len(),
        }
    }

    fn from_entries<'v>(values: impl Iterator<Item = &'v [u8]>) -> Node {
        let mut node = Node::default();
        values.for_each(|value| node.push_back(value));
        node
    }
}

/// The entries of one node, from either end.
struct NodeIter<'a> {
    node: &'a Node,
    front: usize,
    back: usize,
}

impl<'a> Iterator for NodeIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.front >= self.back {
            return None;
        }
        let (value, next) = self.node.entry_at(self.front);
        self.front = next;
        Some(&self.node.buf[value])
    }
}

impl DoubleEndedIterator for NodeIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.front >= self.back {
            return None;
        }
        let (value, start) = self.node.entry_before(self.back);
        self.back = start;
        Some(&self.node.buf[value])
    }
}

/// Which end of a list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Left,
    Right,
}

impl End {
    pub fn opposite(self) -> End {
        match self {
            End::Left => End::Right,
            End::Right => End::Left,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
}

impl PartialEq for List {
    /// Equal elements in order, however they are split into nodes.
    fn eq(&self, other: &List) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl List {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Redis 7.0's name for every list.
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn push(&mut self, end: End, value: &[u8], fill: Fill) {
        let size = entry_size(value.len());
        let node = match end {
            End::Left => self.nodes.front_mut(),
            End::Right => self.nodes.back_mut(),
        };
        match node {
            Some(node) if fill.allows(node.bytes(), node.count, size) => match end {
                End::Left => node.push_front(value),
                End::Right => node.push_back(value),
            },
            full => {
                if let Some(node) = full {
                    node.seal();
                }
                let node = Node::from_entries([value].into_iter());
                match end {
                    End::Left => self.nodes.push_front(node),
                    End::Right => self.nodes.push_back(node),
                }
            }
        }
        self.len += 1;
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        self.pop_with(end, <[u8]>::to_vec)
    }

    /// Pops at `end`, handing the element to `take` without copying it out first (LPOP
    /// writes it straight into the reply).
    pub fn pop_with<R>(&mut self, end: End, take: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let node = match end {
            End::Left => self.nodes.front_mut()?,
            End::Right => self.nodes.back_mut()?,
        };
        let value = match end {
            End::Left => node.pop_front_with(take),
            End::Right => node.pop_back_with(take),
        };
        if node.count == 0 {
            match end {
                End::Left => self.nodes.pop_front(),
                End::Right => self.nodes.pop_back(),
            };
        }
        self.len -= 1;
        Some(value)
    }

    /// The node holding element `index` and the element's index within it, skipping
    /// whole nodes from the nearer end.
    fn locate(&self, index: usize) -> (usize, usize) {
        debug_assert!(index < self.len);
        if index < self.len / 2 {
            let mut left = index;
            for (at, node) in self.nodes.iter().enumerate() {
                if left < node.count {
                    return (at, left);
                }
                left -= node.count;
            }
        } else {
            let mut right = self.len - 1 - index;
            for (at, node) in self.nodes.iter().enumerate().rev() {
                if right < node.count {
                    return (at, node.count - 1 - right);
                }
                right -= node.count;
            }
        }
        unreachable!("index {index} below len {}", self.len)
    }

    pub fn get(&self, index: usize) -> Option<&[u8]> {
        if index >= self.len {
            return None;
        }
        let (node, within) = self.locate(index);
        Some(self.nodes[node].get(within))
    }

    /// Replaces element `index` (which must exist).
    pub fn set(&mut self, index: usize, value: &[u8], fill: Fill) {
        let (at, within) = self.locate(index);
        let node = &mut self.nodes[at];
        let offset = node.offset_of(within);
        let (_, end) = node.entry_at(offset);
        node.splice(offset, end, value);
        self.repack(at, fill);
    }

    /// Inserts `value` so it becomes element `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, value: &[u8], fill: Fill) {
        if index == 0 {
            return self.push(End::Left, value, fill);
        }
        if index == self.len {
            return self.push(End::Right, value, fill);
        }
        let (at, within) = self.locate(index);
        let node = &mut self.nodes[at];
        let offset = node.offset_of(within);
        node.splice(offset, offset, value);
        node.count += 1;
        self.len += 1;
        self.repack(at, fill);
    }

    /// Splits node `at` into as many nodes as `fill` needs (after an edit made it grow).
    fn repack(&mut self, at: usize, fill: Fill) {
        let node = &self.nodes[at];
        if node.count <= 1 || fill.fits(node.bytes(), node.count) {
            return;
        }
        let mut packed: Vec<Node> = vec![Node::default()];
        for value in node.entries() {
            let last = packed.last_mut().expect("never empty");
            if !fill.allows(last.bytes(), last.count, entry_size(value.len())) {
                packed.push(Node::default());
            }
            packed.last_mut().expect("never empty").push_back(value);
        }
        self.nodes.remove(at);
        for (offset, node) in packed.into_iter().enumerate() {
            self.nodes.insert(at + offset, node);
        }
    }

    /// Keeps the elements for which `keep(index, value)` holds, in order; returns how many
    /// were removed. Rebuilds the nodes (LREM, which Redis also runs in O(n)).
    pub fn retain(&mut self, fill: Fill, mut keep: impl FnMut(usize, &[u8]) -> bool) -> usize {
        let mut kept = List::default();
        for (index, value) in self.iter().enumerate() {
            if keep(index, value) {
                kept.push(End::Right, value, fill);
            }
        }
        let removed = self.len - kept.len;
        if removed > 0 {
            *self = kept;
        }
        removed
    }

    /// Keeps elements `start..=stop` only (both in range, `start <= stop`): whole nodes
    /// outside are dropped, then single entries at the two ends.
    pub fn trim(&mut self, start: usize, stop: usize) {
        debug_assert!(start <= stop && stop < self.len);
        let mut left = start;
        while self.nodes.front().is_some_and(|node| node.count <= left) {
            left -= self.nodes.pop_front().expect("checked").count;
        }
        let mut right = self.len - 1 - stop;
        while self.nodes.back().is_some_and(|node| node.count <= right) {
            right -= self.nodes.pop_back().expect("checked").count;
        }
        self.len = self.nodes.iter().map(|node| node.count).sum();
        for _ in 0..left {
            self.pop(End::Left);
        }
        for _ in 0..right {
            self.pop(End::Right);
        }
    }

    /// Every element from head to tail (reversible).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            nodes: self.nodes.iter(),
            front: None,
            back: None,
            left: self.len,
        }
    }

    /// Elements from `index` towards the tail: whole nodes before it are skipped.
    pub fn iter_from(&self, index: usize) -> Iter<'_> {
        if index >= self.len {
            return Iter {
                nodes: self.nodes.range(0..0),
                front: None,
                back: None,
                left: 0,
            };
        }
        let (at, within) = self.locate(index);
        let node = &self.nodes[at];
        let mut front = node.entries();
        front.front = node.offset_of(within);
        Iter {
            nodes: self.nodes.range(at + 1..),
            front: Some(front),
            back: None,
            left: self.len - index,
        }
    }

    /// Bytes the entries take (for MEMORY USAGE and the like): node buffers only.
    pub fn allocated_bytes(&self) -> usize {
        self.nodes.iter().map(|node| node.buf.capacity()).sum()
    }
}

impl<'a> FromIterator<&'a [u8]> for List {
    fn from_iter<I: IntoIterator<Item = &'a [u8]>>(values: I) -> List {
        let mut list = List::default();
        let fill = Fill::default();
        values
            .into_iter()
            .for_each(|value| list.push(End::Right, value, fill));
        list
    }
}

/// The elements of a list, from either end.
pub struct Iter<'a> {
    nodes: std::collections::vec_deque::Iter<'a, Node>,
    front: Option<NodeIter<'a>>,
    back: Option<NodeIter<'a>>,
    left: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(value) = self.front.as_mut().and_then(Iterator::next) {
                self.left -= 1;
                return Some(value);
            }
            match self.nodes.next() {
                Some(node) => self.front = Some(node.entries()),
                None => {
                    let value = self.back.as_mut()?.next()?;
                    self.left -= 1;
                    return Some(value);
                }
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        loop {
            if let Some(value) = self.back.as_mut().and_then(DoubleEndedIterator::next_back) {
                self.left -= 1;
                return Some(value);
            }
            match self.nodes.next_back() {
                Some(node) => self.back = Some(node.entries()),
                None => {
                    let value = self.front.as_mut()?.next_back()?;
                    self.left -= 1;
                    return Some(value);
                }
            }
        }
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(values: &[&str]) -> List {
        values.iter().map(|v| v.as_bytes()).collect()
    }

    fn strings(list: &List) -> Vec<String> {
        list.iter()
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .collect()
    }

    #[test]
    fn entries_read_from_both_ends_whatever_their_length() {
        for len in [0, 1, 127, 128, 300, 16_383, 16_384, 70_000] {
            let value = vec![b'x'; len];
            let mut node = Node::default();
            node.push_back(b"a");
            node.push_back(&value);
            node.push_front(&value);
            assert_eq!(
                node.entries().collect::<Vec<_>>(),
                [&value[..], b"a", &value]
            );
            assert_eq!(node.entries().rev().count(), 3);
            assert_eq!(node.pop_back_with(<[u8]>::to_vec), value);
            assert_eq!(node.pop_front_with(<[u8]>::to_vec), value);
            assert_eq!(node.bytes(), entry_size(1));
        }
    }

    #[test]
    fn nodes_split_by_count_or_bytes() {
        let mut l = List::default();
        for i in 0..10 {
            l.push(End::Right, format!("{i}").as_bytes(), Fill(4));
        }
        assert_eq!(l.nodes.len(), 3);
        let mut big = List::default();
        for _ in 0..10 {
            big.push(End::Left, &[b'v'; 1000], Fill(-1));
        }
        // 4 KiB nodes of 1002-byte entries: four per node.
        assert_eq!(big.nodes.len(), 3);
        // An entry larger than a node still gets a node of its own.
        big.push(End::Right, &[b'w'; 10_000], Fill(-1));
        assert_eq!(big.nodes.len(), 4);
        assert_eq!(big.get(10).map(<[u8]>::len), Some(10_000));
    }

    #[test]
    fn full_nodes_keep_no_slack() {
        for end in [End::Left, End::Right] {
            let mut l = List::default();
            for _ in 0..10_000 {
                l.push(end, b"0123456789", Fill::default());
            }
            // 12 bytes per entry; only the node still filling may hold spare room.
            let entries = 10_000 * entry_size(10);
            assert!(
                l.allocated_bytes() <= entries + 2 * 8192,
                "{end:?}: {}",
                l.allocated_bytes()
            );
        }
    }

    #[test]
    fn edits_in_the_middle_repack_their_node() {
        let mut l = List::default();
        for i in 0..8 {
            l.push(End::Right, format!("{i}").as_bytes(), Fill(4));
        }
        l.insert(2, b"x", Fill(4));
        l.set(5, b"y", Fill(4));
        assert_eq!(strings(&l), ["0", "1", "x", "2", "3", "y", "5", "6", "7"]);
        assert!(l.nodes.iter().all(|node| node.count <= 4));
        l.trim(1, 7);
        assert_eq!(strings(&l), ["1", "x", "2", "3", "y", "5", "6"]);
        let removed = l.retain(Fill(4), |_, v| v != b"x" && v != b"y");
        assert_eq!(removed, 2);
        assert_eq!(strings(&l), ["1", "2", "3", "5", "6"]);
        assert_eq!(
            l.iter_from(2).map(|v| v.to_vec()).collect::<Vec<_>>(),
            [b"3".to_vec(), b"5".to_vec(), b"6".to_vec()]
        );
        assert_eq!(list(&["a", "b"]), list(&["a", "b"]));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Push(bool, Vec<u8>),
        Pop(bool),
        Set(usize, Vec<u8>),
        Insert(usize, Vec<u8>),
        Trim(usize, usize),
        RemoveEvery(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        let value = prop::collection::vec(0u8..4, 0..40);
        prop_oneof![
            4 => (any::<bool>(), value.clone()).prop_map(|(l, v)| Op::Push(l, v)),
            2 => any::<bool>().prop_map(Op::Pop),
            1 => (any::<usize>(), value.clone()).prop_map(|(i, v)| Op::Set(i, v)),
            1 => (any::<usize>(), value).prop_map(|(i, v)| Op::Insert(i, v)),
            1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Trim(a, b)),
            1 => (0u8..4).prop_map(Op::RemoveEvery),
        ]
    }

    fn apply(list: &mut List, model: &mut VecDeque<Vec<u8>>, op: Op, fill: Fill) {
        match op {
            Op::Push(left, v) => {
                let end = if left { End::Left } else { End::Right };
                list.push(end, &v, fill);
                match end {
                    End::Left => model.push_front(v),
                    End::Right => model.push_back(v),
                }
            }
            Op::Pop(left) => {
                let (got, want) = match left {
                    true => (list.pop(End::Left), model.pop_front()),
                    false => (list.pop(End::Right), model.pop_back()),
                };
                assert_eq!(got, want);
            }
            Op::Set(i, v) if !model.is_empty() => {
                let i = i % model.len();
                list.set(i, &v, fill);
                model[i] = v;
            }
            Op::Insert(i, v) => {
                let i = i % (model.len() + 1);
                list.insert(i, &v, fill);
                model.insert(i, v);
            }
            Op::Trim(a, b) if !model.is_empty() => {
                let (a, b) = (a % model.len(), b % model.len());
                let (a, b) = (a.min(b), a.max(b));
                list.trim(a, b);
                model.truncate(b + 1);
                model.drain(..a);
            }
            Op::RemoveEvery(first) => {
                list.retain(fill, |_, v| v.first() != Some(&first));
                model.retain(|v| v.first() != Some(&first));
            }
            Op::Set(..) | Op::Trim(..) => {}
        }
    }

    proptest! {
        /// Any sequence of operations leaves the list equal to a VecDeque that did the
        /// same, read forwards, backwards, by index and from any index.
        #[test]
        fn behaves_like_a_vecdeque(
            ops in prop::collection::vec(op(), 0..200),
            fill in prop_oneof![Just(1i64), Just(3), Just(128), Just(-1), Just(-2)],
        ) {
            let (mut list, mut model) = (List::default(), VecDeque::new());
            for op in ops {
                apply(&mut list, &mut model, op, Fill(fill));
                prop_assert_eq!(list.len(), model.len());
            }
            prop_assert!(list.iter().eq(model.iter().map(Vec::as_slice)));
            prop_assert!(list.iter().rev().eq(model.iter().rev().map(Vec::as_slice)));
            for (i, v) in model.iter().enumerate() {
                prop_assert_eq!(list.get(i), Some(v.as_slice()));
                prop_assert!(list.iter_from(i).eq(model.iter().skip(i).map(Vec::as_slice)));
            }
            prop_assert!(list.nodes.iter().all(|node| node.count > 0));
            prop_assert_eq!(list.nodes.iter().map(|n| n.count).sum::<usize>(), list.len());
        }
    }
}

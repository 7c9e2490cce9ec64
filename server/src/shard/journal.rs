//! What the durable path needs from a shard (DESIGN.md invariants 1 and 2): which keys
//! hold writes that are not durable yet (the dirty-key table), what the running command
//! read and wrote, and the effect records waiting to be shipped to the log.
//!
//! ```text
//! lookup of key k  -> dep = max(dep, dirty[k], barrier[db])     (a read waits for this)
//! write of key k   -> written += k
//! command logged   -> LSN n: dirty[k] = n for every written k; record -> outgoing
//! watermark passes -> entries <= watermark leave the table (they are clean again)
//! ```
//!
//! Keys are remembered by a 64-bit hash, not by value: two keys sharing a hash only make
//! a read wait for a write it did not need to wait for, which is safe. The hash ignores
//! the database, so MOVE and COPY DB mark the key for every database alike.
//!
//! With `--durability none` the journal is disabled and every method returns at once.

use super::effect;
use crate::limits::DATABASES;
use std::collections::VecDeque;

/// The kind byte of an effect record in the log (the log itself gives kinds no meaning).
pub const RECORD_KIND_EFFECTS: u8 = 1;

/// An effect larger than one log record travels as FRAGMENT records followed by one
/// EFFECTS record, at consecutive LSNs taken together; replay joins them, and applies
/// nothing of a chain whose final record is missing (that write was never acknowledged:
/// its reply waits for the final LSN). A fragment's payload starts with the final
/// record's LSN (u64), so a chain cut short by a crash is never joined with whatever
/// record the restarted server logs next.
pub const RECORD_KIND_FRAGMENT: u8 = 2;

/// Largest payload of one record (the log's bound).
const RECORD_BYTES_MAX: usize = holdfast_log::config::RECORD_PAYLOAD_BYTES_MAX as usize;

/// Frames in `outgoing`: lsn u64, kind u8, payload length u32, payload.
pub const FRAME_HEADER_BYTES: usize = 13;

#[derive(Default)]
pub struct Journal {
    enabled: bool,
    /// Key hash -> newest LSN written to it, for LSNs not yet known to be durable.
    dirty: hashbrown::HashMap<u64, u64, PassThrough>,
    /// (lsn, key hash) in LSN order, to clean `dirty` as the watermark passes.
    dirty_order: VecDeque<(u64, u64)>,
    /// A write to a whole database (FLUSHDB, SWAPDB): every read there depends on it.
    barrier: [u64; DATABASES],
    /// Newest LSN of any write executed on this shard: what a keyless read (DBSIZE,
    /// SCAN, KEYS, RANDOMKEY) depends on.
    last_lsn: u64,
    /// The running command's (or multi-core step's) dependency so far.
    dep: u64,
    /// Key hashes the running command wrote.
    written: Vec<u64>,
    /// Databases the running command wrote as a whole.
    written_dbs: Vec<usize>,
    /// Open while a multi-core step or the expiry cycle runs: changes are recorded as
    /// physical ops in `ops` (single-shard commands log their arguments instead).
    recording: bool,
    ops: Vec<u8>,
    /// Keys and databases written by the multi-core operation holding this shard: marked
    /// dirty when it gets its LSN, at release.
    held_written: Vec<u64>,
    held_dbs: Vec<usize>,
    /// The arguments the running single-shard command asked to be logged as, in place of
    /// its own (`Ctx::log_as`): a command that chose something at random logs the choice.
    rewritten: Option<Vec<Vec<u8>>>,
    /// Records executed here and not yet shipped to the log: frames (see above).
    outgoing: Vec<u8>,
    hasher: ahash::RandomState,
}

/// The dirty table is keyed by hashes already: no second hash.
#[derive(Clone, Copy, Default)]
pub struct PassThrough;

impl std::hash::BuildHasher for PassThrough {
    type Hasher = PassThroughHasher;
    fn build_hasher(&self) -> PassThroughHasher {
        PassThroughHasher(0)
    }
}

pub struct PassThroughHasher(u64);

impl std::hash::Hasher for PassThroughHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl Journal {
    pub fn new(enabled: bool) -> Self {
        Journal {
            enabled,
            hasher: ahash::RandomState::with_seeds(0x6a6f75, 0x726e61, 0x6c6b65, 0x79736861),
            ..Default::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.enabled
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    /// Starts a command (or a multi-core step): no dependency, nothing written yet.
    pub fn begin(&mut self) {
        self.dep = 0;
        self.rewritten = None;
        self.written.clear();
        self.written_dbs.clear();
    }

    /// The running command looked at `key` in `db`: its reply depends on the key's
    /// newest uncommitted write.
    pub fn read(&mut self, db: usize, key: &[u8]) {
        if !self.enabled {
            return;
        }
        let mut dep = self.barrier[db];
        if !self.dirty.is_empty() {
            if let Some(&lsn) = self.dirty.get(&self.hash(key)) {
                dep = dep.max(lsn);
            }
        }
        self.dep = self.dep.max(dep);
    }

    /// The running command may change `key`: its reply depends on the key's past too.
    pub fn write(&mut self, db: usize, key: &[u8]) {
        if !self.enabled {
            return;
        }
        self.read(db, key);
        self.written.push(self.hash(key));
    }

    /// The running command writes a whole database.
    pub fn write_db(&mut self, db: usize) {
        if !self.enabled {
            return;
        }
        self.dep = self.dep.max(self.last_lsn);
        self.written_dbs.push(db);
    }

    /// The running command reveals something of every key here (DBSIZE, SCAN, KEYS...).
    pub fn read_all(&mut self) {
        self.dep = self.dep.max(self.last_lsn);
    }

    /// Newest LSN of any write executed on this shard.
    pub fn last_lsn(&self) -> u64 {
        self.last_lsn
    }

    /// The dependency of what the running command read and wrote so far.
    pub fn dep(&self) -> u64 {
        self.dep
    }

    pub fn depend(&mut self, lsn: u64) {
        self.dep = self.dep.max(lsn);
    }

    /// Opens a recording of physical ops (multi-core steps, the expiry cycle).
    pub fn start_recording(&mut self) {
        if self.enabled {
            self.recording = true;
        }
    }

    pub fn recording(&self) -> bool {
        self.recording
    }

    /// Logs the running single-shard command of a transaction step (EXEC) as a CMD op in
    /// the step's recording, in place of the physical ops its handler would record: a
    /// handler may change a value in place, which only running it again repeats, and a
    /// PUT recorded before the CMD would be applied twice (INCR twice). Call with what
    /// `pause_recording` returned, once the handler ran.
    pub fn pause_recording(&mut self) -> bool {
        std::mem::replace(&mut self.recording, false)
    }

    /// Ends `pause_recording`; `effect`: the command as it is to be replayed (None: it
    /// changed nothing worth logging).
    pub fn resume_recording<'a>(
        &mut self,
        was_recording: bool,
        db: usize,
        now_ms: u64,
        effect: Option<impl Iterator<Item = &'a [u8]>>,
    ) {
        self.recording = was_recording;
        if let (true, Some(args)) = (was_recording, effect) {
            effect::cmd(&mut self.ops, db, now_ms, args);
        }
    }

    /// Where recorded ops go while recording (see `effect`).
    pub fn ops(&mut self) -> &mut Vec<u8> {
        &mut self.ops
    }

    /// Closes the recording and returns its ops. The keys it wrote wait in the held set
    /// until `mark_held` gives them the operation's LSN.
    pub fn stop_recording(&mut self) -> Vec<u8> {
        self.recording = false;
        self.held_written.append(&mut self.written);
        self.held_dbs.append(&mut self.written_dbs);
        std::mem::take(&mut self.ops)
    }

    /// The running command's effect is `args` rather than its own arguments (see
    /// `Ctx::log_as`).
    pub fn rewrite(&mut self, args: Vec<Vec<u8>>) {
        self.rewritten = Some(args);
    }

    /// The rewritten arguments of the running command, if it asked for any.
    pub fn take_rewrite(&mut self) -> Option<Vec<Vec<u8>>> {
        self.rewritten.take()
    }

    /// Logs a single-shard command with its arguments as the effect (`effect::CMD`).
    /// `take_lsns(n)` hands out n consecutive LSNs and returns the first; the command's
    /// keys get the last. Returns that LSN, which the reply depends on.
    pub fn log_command<'a>(
        &mut self,
        take_lsns: impl FnOnce(u64) -> u64,
        db: usize,
        now_ms: u64,
        args: impl Iterator<Item = &'a [u8]>,
    ) -> u64 {
        let start = self.outgoing.len();
        self.outgoing.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
        effect::cmd(&mut self.outgoing, db, now_ms, args);
        let lsn = self.seal_frames(start, take_lsns);
        self.mark(lsn);
        lsn
    }

    /// Logs already encoded ops (a multi-core operation, an expiry cycle); returns the
    /// LSN of the (last) record. Marks nothing: see `mark_held`.
    pub fn log_ops(&mut self, take_lsns: impl FnOnce(u64) -> u64, ops: &[u8]) -> u64 {
        let start = self.outgoing.len();
        self.outgoing.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
        self.outgoing.extend_from_slice(ops);
        self.seal_frames(start, take_lsns)
    }

    /// The payload written after the blank frame header at `start` becomes one record, or
    /// a chain of fragments when it exceeds the log's record size.
    fn seal_frames(&mut self, start: usize, take_lsns: impl FnOnce(u64) -> u64) -> u64 {
        let len = self.outgoing.len() - start - FRAME_HEADER_BYTES;
        if len <= RECORD_BYTES_MAX {
            let lsn = take_lsns(1);
            write_frame_header(&mut self.outgoing[start..], lsn, RECORD_KIND_EFFECTS, len);
            return lsn;
        }
        let payload = self.outgoing.split_off(start + FRAME_HEADER_BYTES);
        self.outgoing.truncate(start);
        let piece_max = RECORD_BYTES_MAX - 8;
        let chunks = payload.len().div_ceil(piece_max);
        let first = take_lsns(chunks as u64);
        let last = first + chunks as u64 - 1;
        for (i, piece) in payload.chunks(piece_max).enumerate() {
            let lsn = first + i as u64;
            let at = self.outgoing.len();
            self.outgoing.extend_from_slice(&[0; FRAME_HEADER_BYTES]);
            if lsn == last {
                write_frame_header(
                    &mut self.outgoing[at..],
                    lsn,
                    RECORD_KIND_EFFECTS,
                    piece.len(),
                );
            } else {
                let len = 8 + piece.len();
                write_frame_header(&mut self.outgoing[at..], lsn, RECORD_KIND_FRAGMENT, len);
                self.outgoing.extend_from_slice(&last.to_le_bytes());
            }
            self.outgoing.extend_from_slice(piece);
        }
        last
    }

    /// Gives the running command's writes the LSN `lsn`.
    fn mark(&mut self, lsn: u64) {
        let written = std::mem::take(&mut self.written);
        let dbs = std::mem::take(&mut self.written_dbs);
        assert!(
            lsn > self.last_lsn || (written.is_empty() && dbs.is_empty()),
            "LSNs of single-shard commands follow their execution order"
        );
        self.mark_keys(lsn, &written, &dbs);
        self.written = written;
        self.written.clear();
        self.written_dbs = dbs;
        self.written_dbs.clear();
        self.dep = self.dep.max(lsn);
    }

    /// The multi-core operation that held this shard got LSN `lsn` (None: it wrote
    /// nothing): its keys are dirty from now on. A command on other keys that ran beside
    /// an operation holding only its keys (core/mod.rs `Hold`) may have logged a later
    /// LSN already: the keys are disjoint, so either order replays to the same state.
    pub fn mark_held(&mut self, lsn: Option<u64>) {
        let written = std::mem::take(&mut self.held_written);
        let dbs = std::mem::take(&mut self.held_dbs);
        if let Some(lsn) = lsn {
            self.mark_keys(lsn, &written, &dbs);
        }
        self.held_written = written;
        self.held_written.clear();
        self.held_dbs = dbs;
        self.held_dbs.clear();
    }

    /// Moves the keys and databases a step of a held operation wrote (now in the held
    /// set) to the operation's own lists, where they wait for its LSN (core/hold.rs: with
    /// several operations holding keys of one shard, each marks only its own).
    pub fn take_held(&mut self, keys: &mut Vec<u64>, dbs: &mut Vec<usize>) {
        keys.append(&mut self.held_written);
        dbs.append(&mut self.held_dbs);
    }

    /// An operation that held this shard got LSN `lsn`: the keys and databases it wrote
    /// (`take_held`) are dirty from now on. Commands beside it may have logged later LSNs.
    pub fn mark_written(&mut self, lsn: u64, keys: &[u64], dbs: &[usize]) {
        self.mark_keys(lsn, keys, dbs);
    }

    fn mark_keys(&mut self, lsn: u64, keys: &[u64], dbs: &[usize]) {
        if keys.is_empty() && dbs.is_empty() {
            return;
        }
        // Max, not assignment: after an operation beside which later LSNs were logged, a
        // read must still wait for the newest write of its key (or of a key sharing its
        // hash), and `clean` keeps an entry until its own LSN passes.
        self.last_lsn = self.last_lsn.max(lsn);
        for &hash in keys {
            let newest = self.dirty.entry(hash).or_insert(lsn);
            *newest = (*newest).max(lsn);
            self.dirty_order.push_back((lsn, hash));
        }
        for &db in dbs {
            self.barrier[db] = self.barrier[db].max(lsn);
        }
    }

    /// Forgets what is durable now: keys whose newest write is at or below `watermark`.
    pub fn clean(&mut self, watermark: u64) {
        while let Some(&(lsn, hash)) = self.dirty_order.front() {
            if lsn > watermark {
                break;
            }
            self.dirty_order.pop_front();
            if self.dirty.get(&hash) == Some(&lsn) {
                self.dirty.remove(&hash);
            }
        }
        if self.dirty_order.is_empty() && self.dirty.capacity() > 4096 {
            self.dirty.shrink_to(1024);
        }
    }

    /// Takes the frames waiting to be shipped to the log.
    pub fn take_outgoing(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.outgoing)
    }

    pub fn has_outgoing(&self) -> bool {
        !self.outgoing.is_empty()
    }
}

fn write_frame_header(at: &mut [u8], lsn: u64, kind: u8, len: usize) {
    assert!(lsn > 0, "LSN 0 is never a record");
    at[..8].copy_from_slice(&lsn.to_le_bytes());
    at[8] = kind;
    at[9..13].copy_from_slice(&(len as u32).to_le_bytes());
}

/// One shipped record.
pub struct Frame<'a> {
    pub lsn: u64,
    pub kind: u8,
    pub payload: &'a [u8],
}

impl Frame<'_> {
    /// Bytes the frame takes in a shipped buffer.
    pub fn encoded_len(&self) -> usize {
        FRAME_HEADER_BYTES + self.payload.len()
    }
}

/// Splits shipped frames back into records.
pub fn frames(bytes: &[u8]) -> impl Iterator<Item = Frame<'_>> {
    let mut at = 0;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let lsn = u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"));
        let kind = bytes[at + 8];
        let len = u32::from_le_bytes(bytes[at + 9..at + 13].try_into().expect("4 bytes")) as usize;
        let payload = &bytes[at + FRAME_HEADER_BYTES..at + FRAME_HEADER_BYTES + len];
        at += FRAME_HEADER_BYTES + len;
        Some(Frame { lsn, kind, payload })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_depends_on_the_newest_uncommitted_write_of_its_key_only() {
        let mut j = Journal::new(true);
        j.begin();
        j.write(0, b"a");
        j.log_command(|_| 5, 0, 1, [&b"SET"[..], b"a", b"1"].into_iter());
        j.begin();
        j.read(0, b"b");
        assert_eq!(j.dep(), 0, "a clean key waits for nothing");
        j.begin();
        j.read(3, b"a");
        assert_eq!(j.dep(), 5, "the key hash ignores the database");
        j.clean(4);
        j.begin();
        j.read(0, b"a");
        assert_eq!(j.dep(), 5);
        j.clean(5);
        j.begin();
        j.read(0, b"a");
        assert_eq!(j.dep(), 0, "durable writes are clean");
    }

    #[test]
    fn a_rewritten_key_stays_dirty_until_its_newest_write_is_durable() {
        let mut j = Journal::new(true);
        for lsn in [3, 7] {
            j.begin();
            j.write(0, b"k");
            j.log_command(|_| lsn, 0, 1, [&b"INCR"[..], b"k"].into_iter());
        }
        j.clean(3);
        j.begin();
        j.read(0, b"k");
        assert_eq!(j.dep(), 7);
    }

    #[test]
    fn whole_database_writes_hold_every_read_there() {
        let mut j = Journal::new(true);
        j.begin();
        j.write_db(2);
        j.log_command(|_| 9, 2, 1, [&b"FLUSHDB"[..]].into_iter());
        j.begin();
        j.read(2, b"anything");
        assert_eq!(j.dep(), 9);
        j.begin();
        j.read(1, b"anything");
        assert_eq!(j.dep(), 0);
        j.begin();
        j.read_all();
        assert_eq!(j.dep(), 9, "keyless reads depend on the newest write here");
    }

    #[test]
    fn held_writes_are_dirty_only_once_the_operation_has_its_lsn() {
        let mut j = Journal::new(true);
        j.begin();
        j.start_recording();
        j.write(0, b"x");
        effect::del(j.ops(), 0, b"x");
        let ops = j.stop_recording();
        assert!(!ops.is_empty());
        j.begin();
        j.read(0, b"x");
        assert_eq!(j.dep(), 0);
        j.mark_held(Some(12));
        j.begin();
        j.read(0, b"x");
        assert_eq!(j.dep(), 12);
    }

    #[test]
    fn frames_round_trip() {
        let mut j = Journal::new(true);
        j.begin();
        j.log_command(|_| 1, 0, 5, [&b"SET"[..], b"a", b"b"].into_iter());
        j.log_ops(|_| 2, b"xyz");
        let out = j.take_outgoing();
        let got: Vec<(u64, u8, Vec<u8>)> = frames(&out)
            .map(|f| (f.lsn, f.kind, f.payload.to_vec()))
            .collect();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1], (2, RECORD_KIND_EFFECTS, b"xyz".to_vec()));
        assert!(!j.has_outgoing());
    }

    #[test]
    fn a_large_effect_becomes_a_chain_of_fragments_at_consecutive_lsns() {
        let mut j = Journal::new(true);
        let big = vec![7u8; RECORD_BYTES_MAX * 2 + 10];
        j.begin();
        j.write(0, b"big");
        let mut asked = 0;
        let lsn = j.log_command(
            |n| {
                asked = n;
                100
            },
            0,
            1,
            [&b"SET"[..], b"big", &big].into_iter(),
        );
        assert_eq!((asked, lsn), (3, 102));
        let out = j.take_outgoing();
        let got: Vec<Frame> = frames(&out).collect();
        let kinds: Vec<(u64, u8)> = got.iter().map(|f| (f.lsn, f.kind)).collect();
        assert_eq!(
            kinds,
            [
                (100, RECORD_KIND_FRAGMENT),
                (101, RECORD_KIND_FRAGMENT),
                (102, RECORD_KIND_EFFECTS)
            ]
        );
        let joined: Vec<u8> = got
            .iter()
            .flat_map(|f| match f.kind {
                RECORD_KIND_FRAGMENT => {
                    assert_eq!(f.payload[..8], 102u64.to_le_bytes(), "names the final LSN");
                    f.payload[8..].to_vec()
                }
                _ => f.payload.to_vec(),
            })
            .collect();
        let mut expected = Vec::new();
        effect::cmd(&mut expected, 0, 1, [&b"SET"[..], b"big", &big].into_iter());
        assert_eq!(joined, expected);
        j.begin();
        j.read(0, b"big");
        assert_eq!(j.dep(), 102, "the key waits for the chain's last record");
    }

    #[test]
    fn disabled_journal_tracks_nothing() {
        let mut j = Journal::new(false);
        j.begin();
        j.write(0, b"a");
        j.start_recording();
        assert!(!j.recording());
        assert_eq!(j.dep(), 0);
    }
}

//! Verifying a segment's bytes as they arrive: the record sequence, the padding between
//! batches, the remnant of a truncated tail, and the search for a later batch.
//!
//! [`Scanner`] and [`LaterBatch`] are incremental: they look at a window of the segment
//! (`bytes` starting at segment offset `base`), and when a decision needs bytes past the
//! window they answer "more" instead of guessing, so recovery and readers can verify one
//! chunk while the next reads are still in flight (`read_ahead.rs`). With `complete` set
//! the window reaches the end of what will ever be read, and every question has an answer.
//! [`scan`] runs a scanner over a whole segment in memory (tests, the fuzz target).

use crate::config::{align_up, BLOCK_SIZE_BYTES};
use crate::record::{self, DecodeError, Record, RecordRef};
use crate::segment::SegmentId;
use crate::Lsn;

/// The window ends before the answer: read more, then ask again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NeedMore;

/// What the scanner found next.
#[derive(Debug)]
pub enum Step<'a> {
    /// The next record of the sequence, at this segment offset.
    Record(u64, RecordRef<'a>),
    /// The window ends before the next decision.
    More,
    /// The sequence ends: [`Scanner::stop_offset`] and [`Scanner::stop_reason`] say where
    /// and why. Final: every later step says the same.
    Stopped,
}

/// Walks the records of one segment, in order, verifying each.
#[derive(Clone, Debug)]
pub struct Scanner {
    id: SegmentId,
    /// LSN the next record must carry.
    next_lsn: u64,
    /// Segment offset of the next byte to look at.
    pos: u64,
    /// Segment offset just past the last record returned.
    last_end: u64,
    records: u64,
    stop_reason: Option<String>,
}

impl Scanner {
    /// A scanner from the start of segment `id`.
    pub fn new(id: SegmentId) -> Scanner {
        Scanner {
            id,
            next_lsn: id.0 .0,
            pos: 0,
            last_end: 0,
            records: 0,
            stop_reason: None,
        }
    }

    pub fn id(&self) -> SegmentId {
        self.id
    }

    /// Segment offset of the next byte the scanner needs; nothing before it is read again.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// LSN the next record must carry.
    pub fn next_lsn(&self) -> Lsn {
        Lsn(self.next_lsn)
    }

    /// Records returned so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Block-aligned offset where the next batch goes (just past the last record's block).
    pub fn end_offset(&self) -> u64 {
        align_up(self.last_end)
    }

    /// Offset of the first byte that is not a valid next record (once stopped).
    pub fn stop_offset(&self) -> u64 {
        self.pos
    }

    /// Why the scan stopped, for error messages; `None` while it runs.
    pub fn stop_reason(&self) -> Option<&str> {
        self.stop_reason.as_deref()
    }

    /// The next record in `bytes` (the segment from offset `base`, which must not be past
    /// [`Scanner::pos`]); `complete` when no bytes follow the window.
    pub fn step<'a>(&mut self, bytes: &'a [u8], base: u64, complete: bool) -> Step<'a> {
        if self.stop_reason.is_some() {
            return Step::Stopped;
        }
        assert!(
            base <= self.pos,
            "the window starts after the scan position"
        );
        match self.advance(bytes, base, complete) {
            Ok(step) => step,
            Err(NeedMore) => {
                debug_assert!(!complete, "a complete window always decides");
                Step::More
            }
        }
    }

    fn advance<'a>(
        &mut self,
        bytes: &'a [u8],
        base: u64,
        complete: bool,
    ) -> Result<Step<'a>, NeedMore> {
        loop {
            let rest = &bytes[((self.pos - base) as usize).min(bytes.len())..];
            if rest.is_empty() {
                if !complete {
                    return Err(NeedMore);
                }
                return Ok(self.halt("end of segment".to_string()));
            }
            let reason = match record::decode_ref(rest) {
                Ok((rec, len)) if rec.lsn.0 == self.next_lsn => {
                    return Ok(self.accept(rec, len));
                }
                Err(DecodeError::Incomplete) if !complete => {
                    // A torn remnant may claim a length past the window (past a reader's
                    // durable end, even): the next block can settle it without those bytes.
                    match self.resumes_at(bytes, base, complete)? {
                        Some(next) => {
                            self.pos = next;
                            continue;
                        }
                        None => return Err(NeedMore),
                    }
                }
                Ok((rec, _)) => format!("record has LSN {}, expected {}", rec.lsn.0, self.next_lsn),
                Err(e) => {
                    if self.at_padding(bytes, base, complete)? {
                        self.pos = align_up(self.pos);
                        continue;
                    }
                    e.to_string()
                }
            };
            match self.resumes_at(bytes, base, complete)? {
                Some(next) => self.pos = next,
                None => return Ok(self.halt(reason)),
            }
        }
    }

    fn accept<'a>(&mut self, rec: RecordRef<'a>, len: usize) -> Step<'a> {
        let at = self.pos;
        self.next_lsn += 1;
        self.records += 1;
        self.pos += len as u64;
        self.last_end = self.pos;
        Step::Record(at, rec)
    }

    fn halt(&mut self, reason: String) -> Step<'static> {
        self.stop_reason = Some(reason);
        Step::Stopped
    }

    /// True when the scan position is inside a block and the rest of that block is zeros:
    /// the padding after a batch.
    fn at_padding(&self, bytes: &[u8], base: u64, complete: bool) -> Result<bool, NeedMore> {
        if self.pos % BLOCK_SIZE_BYTES == 0 {
            return Ok(false);
        }
        let start = (self.pos - base) as usize;
        let block_end = (align_up(self.pos) - base) as usize;
        if block_end > bytes.len() && !complete {
            return Err(NeedMore);
        }
        Ok(bytes[start..block_end.min(bytes.len())]
            .iter()
            .all(|&b| b == 0))
    }

    /// Recovery truncates a torn batch after its last intact record but leaves the rest of
    /// that block as it was (rewriting it could tear the records before), and the next
    /// batch starts on the next block. So when the bytes after a record are neither
    /// padding nor the next record, and the next block boundary holds the record with
    /// exactly the expected LSN, the bytes in between are the remnant of a truncated tail:
    /// skip them. A damaged record cannot be mistaken for that: its LSN would not appear
    /// again.
    fn resumes_at(&self, bytes: &[u8], base: u64, complete: bool) -> Result<Option<u64>, NeedMore> {
        if self.pos % BLOCK_SIZE_BYTES == 0 {
            return Ok(None);
        }
        let next = align_up(self.pos);
        let rest = bytes.get((next - base) as usize..).unwrap_or_default();
        match record::decode_ref(rest) {
            Ok((rec, _)) if rec.lsn.0 == self.next_lsn => Ok(Some(next)),
            Err(DecodeError::Incomplete) if !complete => Err(NeedMore),
            _ => Ok(None),
        }
    }
}

/// Looks at every block boundary from an offset on for a valid record with an LSN of at
/// least some LSN: evidence that a later batch was written, hence that everything before
/// it was acknowledged.
#[derive(Clone, Debug)]
pub struct LaterBatch {
    /// Next block boundary to look at.
    pos: u64,
    lsn: Lsn,
}

impl LaterBatch {
    /// Searches from the first block boundary at or after `from`.
    pub fn new(from: u64, lsn: Lsn) -> LaterBatch {
        LaterBatch {
            pos: align_up(from),
            lsn,
        }
    }

    /// Segment offset of the next byte the search needs.
    pub fn pos(&self) -> u64 {
        self.pos
    }

    /// The offset of such a record, `None` if the window holds none and is `complete`.
    pub fn step(
        &mut self,
        bytes: &[u8],
        base: u64,
        complete: bool,
    ) -> Result<Option<u64>, NeedMore> {
        assert!(
            base <= self.pos,
            "the window starts after the search position"
        );
        loop {
            let Some(rest) = bytes
                .get((self.pos - base) as usize..)
                .filter(|r| !r.is_empty())
            else {
                return if complete { Ok(None) } else { Err(NeedMore) };
            };
            match record::decode_ref(rest) {
                Ok((rec, _)) if rec.lsn >= self.lsn => return Ok(Some(self.pos)),
                Err(DecodeError::Incomplete) if !complete => return Err(NeedMore),
                _ => self.pos += BLOCK_SIZE_BYTES,
            }
        }
    }
}

/// The records found at the start of a segment, and where and why the scan stopped.
#[derive(Debug)]
pub struct Scan {
    /// Verified records with consecutive LSNs from the segment's first LSN.
    pub records: Vec<(u64, Record)>,
    /// Block-aligned offset where the next batch goes (just past the last record's block).
    pub end_offset: u64,
    /// Offset of the first byte that is not a valid next record.
    pub stop_offset: u64,
    /// Why the scan stopped there (for error messages).
    pub stop_reason: String,
}

impl Scan {
    /// LSN the next record would carry.
    pub fn next_lsn(&self, id: SegmentId) -> Lsn {
        self.records.last().map_or(id.0, |(_, r)| Lsn(r.lsn.0 + 1))
    }
}

/// Scans `bytes` (a whole segment from offset 0) for records with consecutive LSNs from
/// `id`. `keep_records` false keeps no payloads.
pub fn scan(bytes: &[u8], id: SegmentId, keep_records: bool) -> Scan {
    let mut scanner = Scanner::new(id);
    let mut records = Vec::new();
    while let Step::Record(at, rec) = scanner.step(bytes, 0, true) {
        let payload = if keep_records { rec.payload } else { &[] };
        records.push((at, RecordRef { payload, ..rec }.to_record()));
    }
    Scan {
        records,
        end_offset: scanner.end_offset(),
        stop_offset: scanner.stop_offset(),
        stop_reason: scanner.stop_reason().unwrap_or_default().to_string(),
    }
}

/// [`LaterBatch`] over a whole segment in memory.
pub fn later_batch(bytes: &[u8], from: u64, lsn: Lsn) -> Option<u64> {
    LaterBatch::new(from, lsn)
        .step(bytes, 0, true)
        .expect("a complete window always decides")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::read_ahead::Window;
    use crate::Epoch;

    fn batch(out: &mut Vec<u8>, lsns: std::ops::Range<u64>) {
        for lsn in lsns {
            record::encode(out, Lsn(lsn), Epoch(1), 1, 0, &[lsn as u8; 100]);
        }
        out.resize(align_up(out.len() as u64) as usize, 0);
    }

    #[test]
    fn scans_batches_across_padding_and_stops_at_stale_records() {
        let mut bytes = Vec::new();
        batch(&mut bytes, 10..13);
        batch(&mut bytes, 13..14);
        let end = bytes.len() as u64;
        batch(&mut bytes, 3..5); // stale records of a retired segment
        let scan = scan(&bytes, SegmentId(Lsn(10)), true);
        assert_eq!(scan.records.len(), 4);
        assert_eq!(scan.end_offset, end);
        assert_eq!(scan.stop_offset, end);
        assert!(scan.stop_reason.contains("LSN 3"), "{}", scan.stop_reason);
        assert_eq!(later_batch(&bytes, 0, Lsn(14)), None);
        assert_eq!(later_batch(&bytes, 0, Lsn(13)), Some(BLOCK_SIZE_BYTES));
    }

    /// Feeds `bytes` to a scanner in chunks of `chunk` bytes through a [`Window`], as
    /// recovery does; returns the LSNs, end and stop of the scan.
    fn scan_in_chunks(bytes: &[u8], id: SegmentId, chunk: usize) -> (Vec<u64>, u64, u64, String) {
        let mut scanner = Scanner::new(id);
        let mut window: Window<Vec<u8>> = Window::at(0);
        let mut fed = 0usize;
        let mut lsns = Vec::new();
        loop {
            let (view, base, whole) = window.view();
            match scanner.step(view, base, whole && fed == bytes.len()) {
                Step::Record(_, rec) => lsns.push(rec.lsn.0),
                Step::Stopped => break,
                Step::More => {
                    if window.advance(scanner.pos()) {
                        continue;
                    }
                    let n = chunk.min(bytes.len() - fed);
                    window.push(scanner.pos(), bytes[fed..fed + n].to_vec());
                    fed += n;
                }
            }
        }
        let reason = scanner.stop_reason().expect("stopped").to_string();
        (lsns, scanner.end_offset(), scanner.stop_offset(), reason)
    }

    #[test]
    fn any_window_size_gives_the_same_scan_as_the_whole_segment() {
        let mut bytes = Vec::new();
        batch(&mut bytes, 1..40);
        // A truncated torn tail: part of a record left after record 30 in its block, and
        // the next batch on the next block.
        bytes.truncate(30 * record::encoded_len(100));
        let mut tail = Vec::new();
        record::encode(&mut tail, Lsn(99), Epoch(1), 1, 0, &[7; 300]);
        bytes.extend_from_slice(&tail[..100]);
        bytes.resize(align_up(bytes.len() as u64) as usize, 0);
        let resumed_lsn = 31;
        batch(&mut bytes, resumed_lsn..resumed_lsn + 30);
        bytes.extend_from_slice(&[0xee; 5000]); // garbage after the last batch
        let whole = scan(&bytes, SegmentId(Lsn(1)), false);
        assert_eq!(
            whole.records.len() as u64,
            resumed_lsn + 29,
            "{}",
            whole.stop_reason
        );
        for chunk in [1, 7, 32, 133, 512, 4096, 10_000, 65_536, bytes.len()] {
            let (lsns, end, stop, reason) = scan_in_chunks(&bytes, SegmentId(Lsn(1)), chunk);
            assert_eq!(
                lsns,
                (1..resumed_lsn + 30).collect::<Vec<_>>(),
                "chunk {chunk}"
            );
            assert_eq!(
                (end, stop),
                (whole.end_offset, whole.stop_offset),
                "chunk {chunk}"
            );
            assert_eq!(reason, whole.stop_reason, "chunk {chunk}");
        }
    }

    #[test]
    fn later_batch_waits_for_a_record_that_crosses_the_window() {
        let mut bytes = vec![0u8; 2 * BLOCK_SIZE_BYTES as usize];
        record::encode(&mut bytes, Lsn(50), Epoch(1), 1, 0, &[1; 200]);
        let mut search = LaterBatch::new(1, Lsn(50));
        let cut = 2 * BLOCK_SIZE_BYTES as usize + 100;
        assert_eq!(search.step(&bytes[..cut], 0, false), Err(NeedMore));
        assert_eq!(search.pos(), 2 * BLOCK_SIZE_BYTES);
        assert_eq!(search.step(&bytes, 0, true), Ok(Some(2 * BLOCK_SIZE_BYTES)));
        assert_eq!(later_batch(&bytes, 0, Lsn(51)), None);
    }
}

//! Segment files: their names, and scanning one segment's bytes into verified records.
//!
//! A segment is a fixed-size file named `{first LSN:020}.seg`, written with zeros once
//! when created (or inherited from a retired segment) so that appends never change its
//! size or extents. Batches start on block boundaries and end with zero padding to the
//! next one; after the last batch comes whatever the file held before (zeros, or stale
//! records of a retired segment, whose LSNs are all below this segment's first LSN).

use crate::config::{align_up, BLOCK_SIZE_BYTES};
use crate::record::{self, Record};
use crate::Lsn;

/// A segment, identified by the LSN of its first record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub Lsn);

/// Suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".seg";
/// Prefix of retired segments waiting to be reused.
pub const SPARE_PREFIX: &str = "spare-";
/// A new segment is filled with zeros under a name with this prefix, then renamed into
/// place: `creating-segment.tmp` when the log rolls with no spare at hand,
/// `creating-spare.tmp` when a spare is prepared ahead of need.
pub const CREATING_PREFIX: &str = "creating-";

impl SegmentId {
    pub fn file_name(self) -> String {
        format!("{:020}{SEGMENT_SUFFIX}", self.0 .0)
    }

    /// Parses a segment file name; `None` for any other file.
    pub fn parse(name: &str) -> Option<SegmentId> {
        let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
        if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok().map(|n| SegmentId(Lsn(n)))
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

/// Scans `bytes` (a segment from offset 0) for records with consecutive LSNs from `id`.
/// `keep_records` false only counts them (recovery of old segments needs no payloads).
pub fn scan(bytes: &[u8], id: SegmentId, keep_records: bool) -> Scan {
    let mut records = Vec::new();
    let mut expected = id.0 .0;
    let mut pos = 0usize;
    let mut last_end = 0u64;
    let stop_reason = loop {
        if pos >= bytes.len() {
            break "end of segment".to_string();
        }
        match record::decode(&bytes[pos..]) {
            Ok((rec, len)) if rec.lsn.0 == expected => {
                expected += 1;
                let at = pos as u64;
                pos += len;
                last_end = pos as u64;
                if keep_records {
                    records.push((at, rec));
                } else {
                    records.push((
                        at,
                        Record {
                            payload: Vec::new(),
                            ..rec
                        },
                    ));
                }
            }
            Ok((rec, _)) => {
                if let Some(next) = resumes_after(bytes, pos, expected) {
                    pos = next;
                    continue;
                }
                break format!("record has LSN {}, expected {expected}", rec.lsn.0);
            }
            Err(e) => {
                if is_padding(bytes, pos) {
                    pos = align_up(pos as u64) as usize;
                    continue;
                }
                if let Some(next) = resumes_after(bytes, pos, expected) {
                    pos = next;
                    continue;
                }
                break e.to_string();
            }
        }
    };
    Scan {
        records,
        end_offset: align_up(last_end),
        stop_offset: pos as u64,
        stop_reason,
    }
}

/// Recovery truncates a torn batch after its last intact record but leaves the rest of
/// that block as it was (rewriting it could tear the records before), and the next batch
/// starts on the next block. So when the bytes after a record are neither padding nor the
/// next record, and the next block boundary holds the record with exactly the expected
/// LSN, the bytes in between are the remnant of a truncated tail: skip them. A damaged
/// record cannot be mistaken for that: its LSN would not appear again.
fn resumes_after(bytes: &[u8], pos: usize, expected: u64) -> Option<usize> {
    if pos % BLOCK_SIZE_BYTES as usize == 0 {
        return None;
    }
    let next = align_up(pos as u64) as usize;
    match record::decode(bytes.get(next..)?) {
        Ok((rec, _)) if rec.lsn.0 == expected => Some(next),
        _ => None,
    }
}

/// True when `pos` is inside a block and the rest of that block is zeros: the padding
/// after a batch.
fn is_padding(bytes: &[u8], pos: usize) -> bool {
    let block_end = (align_up(pos as u64) as usize).min(bytes.len());
    pos % BLOCK_SIZE_BYTES as usize != 0 && bytes[pos..block_end].iter().all(|&b| b == 0)
}

/// Looks at every block boundary from `from` for a valid record with an LSN of at least
/// `lsn`: evidence that a later batch was written, hence that everything before it was
/// acknowledged. Returns its offset.
pub fn later_batch(bytes: &[u8], from: u64, lsn: Lsn) -> Option<u64> {
    let mut pos = align_up(from);
    while (pos as usize) < bytes.len() {
        if let Ok((rec, _)) = record::decode(&bytes[pos as usize..]) {
            if rec.lsn >= lsn {
                return Some(pos);
            }
        }
        pos += BLOCK_SIZE_BYTES;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Epoch;

    fn batch(out: &mut Vec<u8>, lsns: std::ops::Range<u64>) {
        for lsn in lsns {
            record::encode(out, Lsn(lsn), Epoch(1), 1, 0, &[lsn as u8; 100]);
        }
        out.resize(align_up(out.len() as u64) as usize, 0);
    }

    #[test]
    fn names_sort_by_lsn_and_parse_back() {
        let id = SegmentId(Lsn(42));
        assert_eq!(id.file_name(), "00000000000000000042.seg");
        assert_eq!(SegmentId::parse(&id.file_name()), Some(id));
        assert_eq!(SegmentId::parse("spare-1"), None);
        assert_eq!(SegmentId::parse("42.seg"), None);
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
}

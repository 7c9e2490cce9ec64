//! Segment files: what they are and how they are named (`scan.rs` verifies their bytes).
//!
//! A segment is a fixed-size file named `{first LSN:020}.seg`, written with zeros once
//! when created (or inherited from a retired segment) so that appends never change its
//! size or extents. Batches start on block boundaries and end with zero padding to the
//! next one; after the last batch comes whatever the file held before (zeros, or stale
//! records of a retired segment, whose LSNs are all below this segment's first LSN).

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_lsn_and_parse_back() {
        let id = SegmentId(Lsn(42));
        assert_eq!(id.file_name(), "00000000000000000042.seg");
        assert_eq!(SegmentId::parse(&id.file_name()), Some(id));
        assert_eq!(SegmentId::parse("spare-1"), None);
        assert_eq!(SegmentId::parse("42.seg"), None);
    }
}

//! `holdfast-log`: the transaction log, the source of truth of every Holdfast deployment.
//!
//! It knows nothing of Redis: records are opaque payloads with a kind byte. Modules in
//! data-path order:
//!
//! ```text
//! appenders ──> log.rs (LSN assigned, group commit: one write + one fdatasync per batch,
//!   │            the next batch fills meanwhile; durable watermark for every core)
//!   │              │ record.rs encodes, segment.rs names files
//!   │              v
//!   │           storage/ (trait; dma.rs = glommio O_DIRECT, sim.rs = seeded fault disk)
//!   │              │ read_ahead.rs: large reads kept in flight, chunks scanned in place
//!   │              v
//! readers  <── reader.rs (any LSN on)    recovery.rs (open: verify all, truncate torn tail)
//!                  └──── scan.rs: verifies records chunk by chunk as they arrive ────┘
//! ```
//!
//! `bench/` measures the log against the raw device (`holdfast-log bench`,
//! `holdfast-bench log`).
//! `config.rs` holds every limit; `error.rs` the one error type.
//!
//! # On-disk format
//!
//! A log is one directory:
//!
//! - `{first LSN, 20 decimal digits}.seg`: a segment, fixed size (`SEGMENT_SIZE_BYTES`,
//!   64 MiB by default), written with zeros when created so appends never change its size
//!   or extents. Segments are contiguous: each starts with the LSN after the previous one's
//!   last record.
//! - `spare-{n}`: a segment file ready for reuse, renamed into place when the log rolls:
//!   a retired segment (trim keeps up to `SPARE_SEGMENTS_MAX`), or one the flusher
//!   prepared ahead of need, so rolling never writes a whole file on the append path.
//! - `creating-{segment,spare}.tmp`: a file being zero-filled; removed by recovery.
//!
//! A segment is a sequence of batches. Every batch starts on a 4096-byte block boundary
//! (`BLOCK_SIZE_BYTES`) and is a run of records followed by zeros up to the next block
//! boundary. One batch is one O_DIRECT write followed by one fdatasync, and the next batch
//! is written only after that fdatasync returned: a block that holds acknowledged records
//! is never written again, so a torn write can only damage the unacknowledged batch.
//! After the last batch the file holds zeros, or stale records of a retired segment (all
//! with LSNs below the segment's first LSN, so they never pass for the next record).
//!
//! A record, all integers little-endian:
//!
//! | offset | size | field                                                        |
//! |-------:|-----:|--------------------------------------------------------------|
//! | 0      | 4    | crc32c (Castagnoli) of bytes 4 .. 32 + length                |
//! | 4      | 4    | length: payload bytes, at most `RECORD_PAYLOAD_BYTES_MAX`    |
//! | 8      | 8    | LSN, never 0; consecutive within and across segments         |
//! | 16     | 8    | epoch of the primary that wrote it                           |
//! | 24     | 2    | engine version (format of the payload)                       |
//! | 26     | 1    | kind (meaning owned by the layer above)                      |
//! | 27     | 1    | record format version, currently 1                           |
//! | 28     | 4    | reserved, zero                                               |
//! | 32     | len  | payload                                                      |
//!
//! The checksum covers the length, so a damaged length cannot send the reader astray
//! unnoticed; an all-zero header never verifies (the crc32c of zeros is not zero, and LSN
//! 0 is invalid), which is how padding and never-written space are told from records.
//! Records are not aligned within a batch.
//!
//! Every read verifies the checksum and the LSN sequence; a failure inside the
//! acknowledged prefix is [`Error::Corrupt`] with file and offset (see `recovery.rs` for
//! how the torn tail is told apart).

pub mod bench;
pub mod config;
pub mod error;
mod log;
pub mod read_ahead;
pub mod reader;
pub mod record;
pub mod recovery;
pub mod scan;
pub mod segment;
pub mod storage;

pub use config::LogConfig;
pub use error::{Error, Result};
pub use log::{Durable, DurableWatermark, Log, LogStats};
pub use reader::LogReader;
pub use record::{Record, RecordRef};
pub use segment::SegmentId;

/// Log sequence number: the position of a record in the log, and the serial order of
/// execution of the writes it carries (the Raft index once replication lands).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn(pub u64);

/// Primary epoch: incremented by every successful election.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Epoch(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lsns_order_numerically() {
        assert!(Lsn(2) > Lsn(1));
        assert!(Epoch(0) < Epoch(1));
    }
}

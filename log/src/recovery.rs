//! Recovery: scan every segment, verify every record, and decide where the log ends.
//!
//! The log writes batch N+1 only after batch N's fdatasync returned, so a crash can damage
//! only the last batch, and only that batch can be unacknowledged. The scan therefore
//! stops at the first byte that is not the next record, then looks for evidence that
//! something was written after it: a valid record with a later LSN at any block boundary
//! of the segment, or a later segment. Evidence means the damage sits inside the
//! acknowledged prefix, and recovery refuses with the file and offset. No evidence means a
//! torn tail: the log ends at the last verified record, and [`crate::Log::open`] zeroes
//! the blocks the torn batch may have reached before writing there again.
//!
//! Known limit: a bit flip inside the very last batch looks exactly like a torn write and
//! is truncated; only a later batch proves a batch was acknowledged.

use crate::config::{IO_CHUNK_BYTES, READS_IN_FLIGHT};
use crate::error::{Error, Result};
use crate::segment::{self, Scan, SegmentId, CREATING_PREFIX, SPARE_PREFIX};
use crate::storage::{Storage, StorageFile};
use crate::Lsn;

/// What recovery found for one segment.
#[derive(Clone, Debug)]
pub struct SegmentInfo {
    pub id: SegmentId,
    pub records: u64,
    /// Block-aligned offset where the next batch of this segment would go.
    pub end_offset: u64,
    /// Where and why the scan stopped (the tail, for the last segment).
    pub stop_offset: u64,
    pub stop_reason: String,
}

impl SegmentInfo {
    pub fn name(&self) -> String {
        self.id.file_name()
    }

    /// LSN after the last record of this segment.
    pub fn next_lsn(&self) -> Lsn {
        Lsn(self.id.0 .0 + self.records)
    }
}

/// The state of a log directory after a verified scan.
#[derive(Debug)]
pub struct Recovered {
    /// Segments in LSN order, contiguous.
    pub segments: Vec<SegmentInfo>,
    /// LSN the next append gets.
    pub next_lsn: Lsn,
    /// Retired segment files available for reuse.
    pub spares: Vec<String>,
    /// Leftover files of an interrupted segment creation.
    pub leftovers: Vec<String>,
}

/// Reads and verifies every segment in the directory; changes nothing.
pub async fn scan_dir<S: Storage>(storage: &S) -> Result<Recovered> {
    let names = storage
        .list()
        .await
        .map_err(|e| Error::io("list", "log directory", e))?;
    let mut ids: Vec<SegmentId> = names.iter().filter_map(|n| SegmentId::parse(n)).collect();
    ids.sort();
    let spares = names
        .iter()
        .filter(|n| n.starts_with(SPARE_PREFIX))
        .cloned()
        .collect();
    let leftovers = names
        .iter()
        .filter(|n| n.starts_with(CREATING_PREFIX))
        .cloned()
        .collect();
    let mut segments: Vec<SegmentInfo> = Vec::with_capacity(ids.len());
    for (i, &id) in ids.iter().enumerate() {
        let bytes = read_segment(storage, id, None).await?;
        let scan = segment::scan(&bytes, id, false);
        if let Some(prev) = segments.last() {
            check_contiguous(prev, id)?;
        }
        if i + 1 == ids.len() {
            check_tail(&bytes, id, &scan)?;
        }
        segments.push(info(id, &scan));
    }
    let next_lsn = segments.last().map_or(Lsn(1), SegmentInfo::next_lsn);
    Ok(Recovered {
        segments,
        next_lsn,
        spares,
        leftovers,
    })
}

fn info(id: SegmentId, scan: &Scan) -> SegmentInfo {
    SegmentInfo {
        id,
        records: scan.records.len() as u64,
        end_offset: scan.end_offset,
        stop_offset: scan.stop_offset,
        stop_reason: scan.stop_reason.clone(),
    }
}

/// A segment must start right after the previous one ends; if not, the previous one
/// stopped early on damage that a later segment proves was acknowledged.
fn check_contiguous(prev: &SegmentInfo, id: SegmentId) -> Result<()> {
    if prev.next_lsn() == id.0 {
        return Ok(());
    }
    Err(Error::Corrupt {
        file: prev.name(),
        offset: prev.stop_offset,
        reason: format!(
            "{} (segment ends before LSN {}, but the next segment {} starts at LSN {})",
            prev.stop_reason,
            prev.next_lsn().0,
            id.file_name(),
            id.0 .0
        ),
    })
}

/// The last segment may end in a torn batch, unless a later batch proves otherwise.
fn check_tail(bytes: &[u8], id: SegmentId, scan: &Scan) -> Result<()> {
    let next = scan.next_lsn(id);
    match segment::later_batch(bytes, scan.stop_offset + 1, next) {
        None => Ok(()),
        Some(at) => Err(Error::Corrupt {
            file: id.file_name(),
            offset: scan.stop_offset,
            reason: format!(
                "{} (a batch written later, at offset {at}, proves this record was acknowledged)",
                scan.stop_reason
            ),
        }),
    }
}

/// Reads the first `len` bytes of a segment (all of it for `None`), in bounded chunks.
pub async fn read_segment<S: Storage>(
    storage: &S,
    id: SegmentId,
    len: Option<u64>,
) -> Result<Vec<u8>> {
    let name = id.file_name();
    let file = storage
        .open(&name)
        .await
        .map_err(|e| Error::io("open", &name, e))?;
    let len = match len {
        Some(len) => len,
        None => file.size().await.map_err(|e| Error::io("stat", &name, e))?,
    };
    read_prefix(&file, &name, len).await
}

/// Reads the first `len` bytes of `file` (fewer if the file is shorter), keeping
/// `READS_IN_FLIGHT` chunk reads in flight: O_DIRECT has no read-ahead, so one read at a
/// time would leave the device idle between chunks.
pub async fn read_prefix<F: StorageFile>(file: &F, name: &str, len: u64) -> Result<Vec<u8>> {
    let mut bytes = Vec::with_capacity(len.min(64 * IO_CHUNK_BYTES) as usize);
    while (bytes.len() as u64) < len {
        let start = bytes.len() as u64;
        let reads = (0..READS_IN_FLIGHT as u64)
            .map(|i| start + i * IO_CHUNK_BYTES)
            .filter(|&at| at < len)
            .map(|at| async move {
                let want = IO_CHUNK_BYTES.min(len - at) as usize;
                file.read_at(at, want).await.map(|chunk| (chunk, want))
            });
        for result in futures::future::join_all(reads).await {
            let (chunk, want) = result.map_err(|e| Error::io("read", name, e))?;
            bytes.extend_from_slice(&chunk);
            if chunk.len() < want {
                return Ok(bytes);
            }
        }
    }
    Ok(bytes)
}

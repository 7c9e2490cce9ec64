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

use crate::config::READS_IN_FLIGHT;
use crate::error::{Error, Result};
use crate::read_ahead::{ReadAhead, Window};
use crate::scan::{LaterBatch, NeedMore, Scanner, Step};
use crate::segment::{SegmentId, CREATING_PREFIX, SPARE_PREFIX};
use crate::storage::{Storage, StorageFile};
use crate::Lsn;
use std::rc::Rc;

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
    /// Bytes read from the file to verify it.
    pub bytes_read: u64,
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
        let info = scan_segment(storage, id, i + 1 == ids.len()).await?;
        if let Some(prev) = segments.last() {
            check_contiguous(prev, id)?;
        }
        segments.push(info);
    }
    let next_lsn = segments.last().map_or(Lsn(1), SegmentInfo::next_lsn);
    Ok(Recovered {
        segments,
        next_lsn,
        spares,
        leftovers,
    })
}

/// Verifies one segment as its chunks arrive. The records end at the first byte that is
/// not the next record; in the last segment the rest of the file is then searched for a
/// later batch (see the module doc), so it is read to the end.
async fn scan_segment<S: Storage>(storage: &S, id: SegmentId, last: bool) -> Result<SegmentInfo> {
    let name = id.file_name();
    let file = storage
        .open(&name)
        .await
        .map_err(|e| Error::io("open", &name, e))?;
    let len = file.size().await.map_err(|e| Error::io("stat", &name, e))?;
    let chunk_bytes = storage.read_chunk_bytes();
    let mut chunks = ReadAhead::new(Rc::new(file), &name, 0, len, chunk_bytes, READS_IN_FLIGHT);
    let mut window = Window::at(0);
    let mut scanner = Scanner::new(id);
    let mut tail: Option<LaterBatch> = None;
    let mut bytes_read = 0;
    let mut read_all = false;
    loop {
        let (bytes, base, whole) = window.view();
        let complete = read_all && whole;
        if tail.is_none() && records_end(&mut scanner, bytes, base, complete) {
            if !last {
                return Ok(info(&scanner, bytes_read));
            }
            tail = Some(LaterBatch::new(
                scanner.stop_offset() + 1,
                scanner.next_lsn(),
            ));
        }
        if let Some(search) = &mut tail {
            match search.step(bytes, base, complete) {
                Ok(None) => return Ok(info(&scanner, bytes_read)),
                Ok(Some(at)) => return Err(acknowledged_damage(&scanner, at)),
                Err(NeedMore) => {}
            }
        }
        assert!(!complete, "a complete window always decides");
        let pos = tail.as_ref().map_or(scanner.pos(), LaterBatch::pos);
        if window.advance(pos) {
            continue;
        }
        match chunks.next().await? {
            Some(chunk) => {
                bytes_read += chunk.len() as u64;
                window.push(pos, chunk);
            }
            None => read_all = true,
        }
    }
}

/// Runs the scanner over the window; true once the record sequence has ended.
fn records_end(scanner: &mut Scanner, bytes: &[u8], base: u64, complete: bool) -> bool {
    loop {
        match scanner.step(bytes, base, complete) {
            Step::Record(..) => {}
            Step::More => return false,
            Step::Stopped => return true,
        }
    }
}
fn info(scanner: &Scanner, bytes_read: u64) -> SegmentInfo {
    SegmentInfo {
        id: scanner.id(),
        records: scanner.records(),
        end_offset: scanner.end_offset(),
        stop_offset: scanner.stop_offset(),
        stop_reason: scanner.stop_reason().unwrap_or_default().to_string(),
        bytes_read,
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

/// The last segment may end in a torn batch, unless a later batch (at `at`) proves that
/// the batch where the records stop was acknowledged.
fn acknowledged_damage(scanner: &Scanner, at: u64) -> Error {
    Error::Corrupt {
        file: scanner.id().file_name(),
        offset: scanner.stop_offset(),
        reason: format!(
            "{} (a batch written later, at offset {at}, proves this record was acknowledged)",
            scanner.stop_reason().unwrap_or_default()
        ),
    }
}

//! Reading durable records from any LSN: replay at startup, replicas, the snapshotter.
//!
//! A reader loads one segment's durable bytes at a time and verifies every record again
//! (checksum and consecutive LSN) right after reading: a record that fails here sits
//! inside the acknowledged prefix, so it is an error naming file and offset.

use crate::error::{Error, Result};
use crate::log::Inner;
use crate::record::Record;
use crate::recovery;
use crate::segment::{self, SegmentId};
use crate::storage::Storage;
use crate::Lsn;
use std::collections::VecDeque;
use std::rc::Rc;

/// Iterates durable records in LSN order from a starting LSN.
pub struct LogReader<S: Storage> {
    inner: Rc<Inner<S>>,
    /// Next LSN to return.
    next: Lsn,
    loaded: VecDeque<Record>,
}

impl<S: Storage> LogReader<S> {
    pub(crate) fn new(inner: Rc<Inner<S>>, from: Lsn) -> Result<LogReader<S>> {
        let first = inner
            .state
            .borrow()
            .segments
            .first()
            .map_or(Lsn(1), |s| s.id.0);
        if from < first {
            return Err(Error::Trimmed {
                lsn: from.0,
                first: first.0,
            });
        }
        Ok(LogReader {
            inner,
            next: from,
            loaded: VecDeque::new(),
        })
    }

    /// The next durable record, or `None` when the reader has caught up with the durable
    /// watermark (call again later for more).
    pub async fn next(&mut self) -> Result<Option<Record>> {
        if self.loaded.is_empty() && !self.load().await? {
            return Ok(None);
        }
        let rec = self.loaded.pop_front().expect("loaded");
        assert_eq!(rec.lsn, self.next, "reader returns consecutive LSNs");
        self.next = Lsn(rec.lsn.0 + 1);
        Ok(Some(rec))
    }

    /// Loads the durable records of the segment holding `self.next`; false if none.
    async fn load(&mut self) -> Result<bool> {
        let (id, end_offset, durable) = {
            let st = self.inner.state.borrow();
            if self.next.0 > st.durable_lsn {
                return Ok(false);
            }
            let seg = st.segments.iter().rev().find(|s| s.id.0 <= self.next);
            let Some(seg) = seg else {
                let first = st.segments.first().map_or(0, |s| s.id.0 .0);
                return Err(Error::Trimmed {
                    lsn: self.next.0,
                    first,
                });
            };
            (seg.id, seg.end_offset, st.durable_lsn)
        };
        let bytes = recovery::read_segment(&self.inner.storage, id, Some(end_offset)).await?;
        let scan = segment::scan(&bytes, id, true);
        check_complete(id, &scan, end_offset)?;
        self.loaded.extend(
            scan.records
                .into_iter()
                .map(|(_, r)| r)
                .filter(|r| r.lsn >= self.next && r.lsn.0 <= durable),
        );
        Ok(!self.loaded.is_empty())
    }
}

/// Every byte up to `end_offset` was durable when read, so the scan must reach it.
fn check_complete(id: SegmentId, scan: &segment::Scan, end_offset: u64) -> Result<()> {
    if scan.end_offset >= end_offset {
        return Ok(());
    }
    Err(Error::Corrupt {
        file: id.file_name(),
        offset: scan.stop_offset,
        reason: scan.stop_reason.clone(),
    })
}

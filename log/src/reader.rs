//! Reading durable records from any LSN: replay at startup, replicas, the snapshotter.
//!
//! A reader walks one segment at a time with a [`Scanner`], reading only bytes that were
//! durable when it asked (up to the segment's durable end) with reads in flight ahead of
//! the records it returns, and verifies every record again (checksum and consecutive LSN)
//! right after reading: a record that fails here sits inside the acknowledged prefix, so
//! it is an error naming file and offset. A reader that has caught up keeps its place and
//! later reads only the bytes appended since.

use crate::config::READS_IN_FLIGHT;
use crate::error::{Error, Result};
use crate::log::Inner;
use crate::read_ahead::{ReadAhead, Window};
use crate::record::Record;
use crate::scan::{Scanner, Step};
use crate::segment::SegmentId;
use crate::storage::{Storage, StorageFile};
use crate::Lsn;
use std::rc::Rc;

/// Iterates durable records in LSN order from a starting LSN.
pub struct LogReader<S: Storage> {
    inner: Rc<Inner<S>>,
    /// Next LSN to return.
    next: Lsn,
    /// Where the reader is, once it has read anything.
    cursor: Option<Cursor<S::File>>,
}

/// A reader's place in one segment.
struct Cursor<F: StorageFile + 'static> {
    file: Rc<F>,
    scanner: Scanner,
    window: Window<F::Buf>,
    chunks: ReadAhead<F>,
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
            cursor: None,
        })
    }

    /// The next durable record, or `None` when the reader has caught up with the durable
    /// watermark (call again later for more).
    pub async fn next(&mut self) -> Result<Option<Record>> {
        loop {
            if let Some(cursor) = &mut self.cursor {
                let (bytes, base, _) = cursor.window.view();
                match cursor.scanner.step(bytes, base, false) {
                    Step::Record(_, rec) if rec.lsn < self.next => continue,
                    Step::Record(_, rec) => {
                        assert_eq!(rec.lsn, self.next, "reader returns consecutive LSNs");
                        assert!(
                            rec.lsn.0 <= self.inner.state.borrow().durable_lsn,
                            "a segment's durable end holds only durable records"
                        );
                        self.next = Lsn(rec.lsn.0 + 1);
                        return Ok(Some(rec.to_record()));
                    }
                    Step::Stopped => return Err(corrupt(&cursor.scanner)),
                    Step::More => {}
                }
            }
            if !self.load().await? {
                return Ok(None);
            }
        }
    }

    /// Brings more durable bytes into the window, or moves to the next segment; false if
    /// the reader has caught up with the durable watermark.
    async fn load(&mut self) -> Result<bool> {
        if self.next.0 > self.inner.state.borrow().durable_lsn {
            return Ok(false);
        }
        let Some(cursor) = &mut self.cursor else {
            let id = self.segment_of(self.next)?;
            self.cursor = Some(self.open(id).await?);
            return Ok(true);
        };
        if cursor.window.advance(cursor.scanner.pos()) {
            return Ok(true);
        }
        if let Some(chunk) = cursor.chunks.next().await? {
            cursor.window.push(cursor.scanner.pos(), chunk);
            return Ok(true);
        }
        // Every byte that was durable when these reads were issued is in the window.
        let id = cursor.scanner.id();
        let (end_offset, successor) = self.bounds(id)?;
        let Self { inner, cursor, .. } = self;
        let cursor = cursor.as_mut().expect("cursor");
        if end_offset > cursor.chunks.to() {
            let (from, name) = (cursor.chunks.to(), id.file_name());
            cursor.chunks = ReadAhead::new(
                cursor.file.clone(),
                &name,
                from,
                end_offset,
                inner.storage.read_chunk_bytes(),
                READS_IN_FLIGHT,
            );
            return Ok(true);
        }
        // `next` is durable yet not in this segment's durable bytes: the next segment
        // must start exactly where this one's records end.
        match successor {
            Some(next_id) if cursor.scanner.next_lsn() == next_id.0 => {
                self.cursor = Some(self.open(next_id).await?);
                Ok(true)
            }
            _ => {
                let mut scanner = cursor.scanner.clone();
                let (bytes, base, whole) = cursor.window.view();
                debug_assert!(whole, "advance() showed every byte read");
                let stopped = scanner.step(bytes, base, true);
                debug_assert!(matches!(stopped, Step::Stopped), "{stopped:?}");
                Err(corrupt(&scanner))
            }
        }
    }

    /// The segment holding `lsn`.
    fn segment_of(&self, lsn: Lsn) -> Result<SegmentId> {
        let st = self.inner.state.borrow();
        match st.segments.iter().rev().find(|s| s.id.0 <= lsn) {
            Some(seg) => Ok(seg.id),
            None => Err(self.trimmed()),
        }
    }

    /// The durable end of segment `id` and the segment after it, if any.
    fn bounds(&self, id: SegmentId) -> Result<(u64, Option<SegmentId>)> {
        let st = self.inner.state.borrow();
        let Some(i) = st.segments.iter().position(|s| s.id == id) else {
            return Err(self.trimmed());
        };
        Ok((
            st.segments[i].end_offset,
            st.segments.get(i + 1).map(|s| s.id),
        ))
    }

    fn trimmed(&self) -> Error {
        let first = self
            .inner
            .state
            .borrow()
            .segments
            .first()
            .map_or(0, |s| s.id.0 .0);
        Error::Trimmed {
            lsn: self.next.0,
            first,
        }
    }

    fn chunks(&self, file: Rc<S::File>, name: &str, from: u64, to: u64) -> ReadAhead<S::File> {
        let chunk_bytes = self.inner.storage.read_chunk_bytes();
        ReadAhead::new(file, name, from, to, chunk_bytes, READS_IN_FLIGHT)
    }

    /// A cursor at the start of segment `id`, reading up to its durable end.
    async fn open(&self, id: SegmentId) -> Result<Cursor<S::File>> {
        let name = id.file_name();
        let file = Rc::new(
            self.inner
                .storage
                .open(&name)
                .await
                .map_err(|e| Error::io("open", &name, e))?,
        );
        let (end_offset, _) = self.bounds(id)?;
        Ok(Cursor {
            chunks: self.chunks(file.clone(), &name, 0, end_offset),
            file,
            scanner: Scanner::new(id),
            window: Window::at(0),
        })
    }
}

/// The scan stopped inside bytes that were durable: damage in the acknowledged prefix.
fn corrupt(scanner: &Scanner) -> Error {
    Error::Corrupt {
        file: scanner.id().file_name(),
        offset: scanner.stop_offset(),
        reason: scanner
            .stop_reason()
            .unwrap_or("record missing")
            .to_string(),
    }
}

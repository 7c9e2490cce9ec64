//! Reading a byte range of a segment with several large reads in flight, and the window
//! of bytes that recovery and readers verify while the next reads are still running.
//!
//! O_DIRECT has no kernel read-ahead: one read at a time leaves the device idle while the
//! log verifies what it just read, and waiting for a whole group of reads before issuing
//! the next leaves it idle at every group's end. [`ReadAhead`] keeps `READS_IN_FLIGHT`
//! chunk reads of `IO_CHUNK_BYTES` submitted at all times and hands the chunks back in
//! order; the consumer verifies chunk N while N+1.. are on the device.

use crate::error::{Error, Result};
use crate::storage::StorageFile;
use futures::future::LocalBoxFuture;
use futures::stream::{FuturesOrdered, StreamExt};
use std::io;
use std::rc::Rc;

/// In-order chunks of `[from, to)` of one file, read ahead.
pub struct ReadAhead<F: StorageFile + 'static> {
    file: Rc<F>,
    name: String,
    /// Offset of the next read to submit.
    next_at: u64,
    to: u64,
    chunk_bytes: u64,
    depth: usize,
    in_flight: FuturesOrdered<LocalBoxFuture<'static, (usize, io::Result<F::Buf>)>>,
    /// A short read (end of file) was returned: nothing follows.
    ended: bool,
}

impl<F: StorageFile + 'static> ReadAhead<F> {
    /// Reads `[from, to)` of `file` (called `name` in errors) in chunks of `chunk_bytes`,
    /// `depth` of them in flight. `from` and `chunk_bytes` must be block aligned.
    pub fn new(file: Rc<F>, name: &str, from: u64, to: u64, chunk_bytes: u64, depth: usize) -> Self {
        assert!(chunk_bytes > 0 && depth > 0, "read-ahead needs room for one read");
        let mut reads = ReadAhead {
            file,
            name: name.to_string(),
            next_at: from,
            to,
            chunk_bytes,
            depth,
            in_flight: FuturesOrdered::new(),
            ended: false,
        };
        reads.submit();
        reads
    }

    /// Offset up to which this range reads (the `to` it was made with).
    pub fn to(&self) -> u64 {
        self.to
    }

    /// The next chunk in file order; `None` after the range (or the file) ends.
    pub async fn next(&mut self) -> Result<Option<F::Buf>> {
        if self.ended {
            return Ok(None);
        }
        let Some((want, result)) = self.in_flight.next().await else {
            return Ok(None);
        };
        let chunk = result.map_err(|e| Error::io("read", &self.name, e))?;
        if chunk.len() < want {
            // End of file: later reads can only come back empty.
            self.ended = true;
            self.in_flight = FuturesOrdered::new();
        } else {
            self.submit();
        }
        Ok(Some(chunk))
    }

    /// Tops the reads in flight up to `depth`.
    fn submit(&mut self) {
        while self.in_flight.len() < self.depth && self.next_at < self.to {
            let (at, want) = (self.next_at, self.chunk_bytes.min(self.to - self.next_at));
            self.next_at += want;
            let file = self.file.clone();
            self.in_flight.push_back(Box::pin(async move {
                (want as usize, file.read_at(at, want as usize).await)
            }));
        }
    }
}

/// Consecutive bytes of a segment, from offset `base`; the bytes before the position a
/// scan still needs are dropped as it moves on, so the window stays about one chunk long.
#[derive(Debug, Default)]
pub struct Window {
    bytes: Vec<u8>,
    base: u64,
}

impl Window {
    /// An empty window whose next bytes are those at `base`.
    pub fn at(base: u64) -> Window {
        Window {
            bytes: Vec::new(),
            base,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Segment offset of `bytes()[0]`.
    pub fn base(&self) -> u64 {
        self.base
    }

    /// Segment offset just past the window.
    pub fn end(&self) -> u64 {
        self.base + self.bytes.len() as u64
    }

    /// Drops the bytes before segment offset `keep_from`.
    pub fn discard_before(&mut self, keep_from: u64) {
        let n = (keep_from.saturating_sub(self.base) as usize).min(self.bytes.len());
        self.bytes.drain(..n);
        self.base += n as u64;
    }

    /// Appends the bytes that follow the window.
    pub fn extend(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
    }
}

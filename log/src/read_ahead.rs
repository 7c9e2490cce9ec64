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
    pub fn new(
        file: Rc<F>,
        name: &str,
        from: u64,
        to: u64,
        chunk_bytes: u64,
        depth: usize,
    ) -> Self {
        assert!(
            chunk_bytes > 0 && depth > 0,
            "read-ahead needs room for one read"
        );
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

/// The bytes of a segment a scan is looking at, without copying the chunks it reads: the
/// scan runs over each chunk in place, and only the bytes of a record that straddles two
/// chunks are copied, together with as little of the next chunk as the scan needs
/// (copying every chunk into one buffer cost a fifth of recovery's CPU).
#[derive(Debug)]
pub struct Window<B> {
    /// Bytes from `carry_base`: the unscanned end of the chunks before `chunk`, followed by
    /// its first `bridged` bytes. Empty while the scan is inside `chunk`.
    carry: Vec<u8>,
    carry_base: u64,
    chunk: Option<B>,
    /// Segment offset of `chunk[0]` (of the next chunk while there is none).
    chunk_base: u64,
    bridged: usize,
}

impl<B: std::ops::Deref<Target = [u8]>> Window<B> {
    /// An empty window whose next bytes are those at `base`.
    pub fn at(base: u64) -> Window<B> {
        Window {
            carry: Vec::new(),
            carry_base: base,
            chunk: None,
            chunk_base: base,
            bridged: 0,
        }
    }

    /// The bytes to scan, the segment offset of the first, and whether they reach the end
    /// of every byte pushed so far.
    pub fn view(&self) -> (&[u8], u64, bool) {
        match &self.chunk {
            Some(chunk) if self.carry.is_empty() => (chunk, self.chunk_base, true),
            Some(chunk) => (&self.carry, self.carry_base, self.bridged == chunk.len()),
            None => (&self.carry, self.carry_base, true),
        }
    }

    /// The scan, now at segment offset `pos`, needs bytes past the view: shows more of the
    /// current chunk. False when the view already reaches its end (push the next chunk).
    pub fn advance(&mut self, pos: u64) -> bool {
        let Some(chunk) = &self.chunk else {
            return false;
        };
        if self.carry.is_empty() {
            return false;
        }
        if pos >= self.chunk_base {
            // The straddling record is behind: scan the chunk in place from here.
            self.carry.clear();
            return true;
        }
        if self.bridged == chunk.len() {
            return false;
        }
        let upto = (2 * self.bridged).max(BRIDGE_BYTES_MIN).min(chunk.len());
        self.carry.extend_from_slice(&chunk[self.bridged..upto]);
        self.bridged = upto;
        self.discard_carry_before(pos);
        true
    }

    /// Appends the chunk that follows everything pushed so far; the bytes of the current
    /// chunk from `pos` (the scan position) on are carried over.
    pub fn push(&mut self, pos: u64, next: B) {
        if let Some(old) = self.chunk.take() {
            if self.carry.is_empty() {
                let end = self.chunk_base + old.len() as u64;
                self.carry_base = pos.clamp(self.chunk_base, end);
                self.carry
                    .extend_from_slice(&old[(self.carry_base - self.chunk_base) as usize..]);
            } else {
                self.carry.extend_from_slice(&old[self.bridged..]);
            }
            self.chunk_base += old.len() as u64;
        }
        self.discard_carry_before(pos);
        self.chunk = Some(next);
        self.bridged = 0;
    }

    fn discard_carry_before(&mut self, pos: u64) {
        let n = (pos.saturating_sub(self.carry_base) as usize).min(self.carry.len());
        self.carry.drain(..n);
        self.carry_base += n as u64;
    }
}

/// First bytes of a chunk copied after a straddling record's start; doubled while the
/// scan needs more (a record is at most `RECORD_PAYLOAD_BYTES_MAX` + header).
const BRIDGE_BYTES_MIN: usize = crate::config::BLOCK_SIZE_BYTES as usize;

#[cfg(test)]
mod tests {
    use super::*;

    /// Pushes `bytes` in chunks of `chunk`, always "scanning" to the end of the view and
    /// then asking for more with the scan `lag` bytes behind: the bytes seen in order must
    /// be exactly the input, whatever the chunk size and lag.
    fn replay(bytes: &[u8], chunk: usize, lag: u64) {
        let mut window: Window<Vec<u8>> = Window::at(0);
        let mut seen = Vec::new();
        let mut fed = 0;
        loop {
            let (view, base, _) = window.view();
            let seen_end = seen.len() as u64;
            assert!(base <= seen_end, "the view starts past what was seen");
            let new = &view[((seen_end - base) as usize).min(view.len())..];
            seen.extend_from_slice(new);
            let pos = (base + view.len() as u64).saturating_sub(lag).max(base);
            if window.advance(pos) {
                continue;
            }
            if fed == bytes.len() {
                break;
            }
            let n = chunk.min(bytes.len() - fed);
            window.push(pos, bytes[fed..fed + n].to_vec());
            fed += n;
        }
        assert_eq!(seen, bytes, "chunk {chunk} lag {lag}");
    }

    #[test]
    fn the_view_walks_every_byte_once_in_order() {
        let bytes: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for chunk in [1, 100, 4096, 10_000, 50_000] {
            for lag in [0, 1, 31, 5000, 20_000] {
                replay(&bytes, chunk, lag);
            }
        }
    }
}

//! The disk behind the log: one directory of files, positional writes, fdatasync.
//!
//! The log is generic over [`Storage`] so the same code runs on the real disk
//! ([`dma::DmaStorage`], O_DIRECT through glommio) and on the seeded simulated disk of the
//! tests ([`sim::SimDisk`], which loses unsynced writes and tears them on a crash).
//!
//! Contract the log relies on: `write_at` offsets and lengths are multiples of
//! `BLOCK_SIZE_BYTES`; nothing written is durable until `sync_data` returns `Ok`; a
//! created, renamed or removed name is durable only after `sync_dir`.

pub mod dma;
pub mod sim;

use std::io;

/// A directory of log files.
#[allow(async_fn_in_trait)] // single-threaded executors: no `Send` bound wanted
pub trait Storage {
    /// `'static` so a file can be shared (`Rc`) with the reads in flight on it.
    type File: StorageFile + 'static;
    /// Names of the files in the directory, in no particular order.
    async fn list(&self) -> io::Result<Vec<String>>;
    /// Creates a new empty file (fails if it exists).
    async fn create(&self, name: &str) -> io::Result<Self::File>;
    async fn open(&self, name: &str) -> io::Result<Self::File>;
    async fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    async fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes every create, rename and remove so far durable.
    async fn sync_dir(&self) -> io::Result<()>;
    /// Bytes per read when recovery and readers stream a segment (`READS_IN_FLIGHT` of
    /// them in flight). A multiple of `BLOCK_SIZE_BYTES`.
    fn read_chunk_bytes(&self) -> u64 {
        crate::config::IO_CHUNK_BYTES
    }
}

/// One open file.
#[allow(async_fn_in_trait)]
pub trait StorageFile {
    /// What a read returns: the DMA buffer the device filled, for the real disk, so a
    /// read costs no copy before the log verifies it.
    type Buf: std::ops::Deref<Target = [u8]> + 'static;
    /// Writes all of `data` at `offset` (both block aligned), extending the file if needed.
    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Writes `len` zero bytes at `offset` (both block aligned): preparing segments and
    /// clearing a torn tail. The real disk writes one zeroed buffer over and over instead
    /// of copying a fresh run of zeros for every write.
    async fn write_zeros_at(&self, offset: u64, len: u64) -> io::Result<()> {
        let chunk = crate::config::IO_CHUNK_BYTES.min(len) as usize;
        let zeros = vec![0u8; chunk];
        let mut at = offset;
        while at < offset + len {
            let n = (chunk as u64).min(offset + len - at) as usize;
            self.write_at(at, &zeros[..n]).await?;
            at += n as u64;
        }
        Ok(())
    }
    /// Reads up to `len` bytes at `offset`; shorter only at the end of the file.
    async fn read_at(&self, offset: u64, len: usize) -> io::Result<Self::Buf>;
    /// fdatasync: every write so far is durable once this returns `Ok`.
    async fn sync_data(&self) -> io::Result<()>;
    async fn size(&self) -> io::Result<u64>;
    /// Sets the file length (shrinks or extends with zeros).
    async fn truncate(&self, len: u64) -> io::Result<()>;
}

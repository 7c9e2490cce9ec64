//! The real disk: glommio DMA files (O_DIRECT, io_uring), one directory per log.
//!
//! O_DIRECT because the log decides itself what is durable and when: the page cache would
//! only add a copy and hide write errors until some later fsync.

use super::{Storage, StorageFile};
use crate::config::{BLOCK_SIZE_BYTES, IO_CHUNK_BYTES};
use glommio::io::{DmaFile, OpenOptions, ReadResult};
use std::io;
use std::path::PathBuf;
use std::rc::Rc;

/// Scratch file of [`DmaStorage::open`]; never a log file.
const PROBE_NAME: &str = "iopoll-probe.tmp";

/// A log directory on the real disk. Must be used from inside a glommio executor.
#[derive(Clone, Debug)]
pub struct DmaStorage {
    dir: PathBuf,
}

impl DmaStorage {
    /// Uses `dir`, creating it if missing. Call from the executor that will use it.
    pub async fn open(dir: impl Into<PathBuf>) -> io::Result<DmaStorage> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        // glommio opens directories with openat(-1, ...): relative paths fail with EBADF.
        let dir = std::fs::canonicalize(&dir)?;
        let storage = DmaStorage { dir };
        storage.prime_iopoll_probe().await?;
        Ok(storage)
    }

    /// glommio decides once per device and thread whether reads may use the io_uring poll
    /// ring, by reading the first block of the first DMA file opened there. If that file
    /// is empty the read "succeeds" without touching the device, glommio concludes that
    /// polling works, and every later read on a device without poll queues fails with
    /// EOPNOTSUPP. So the first DMA file this thread opens here holds a written block.
    async fn prime_iopoll_probe(&self) -> io::Result<()> {
        let path = self.path(PROBE_NAME);
        std::fs::write(&path, vec![0u8; BLOCK_SIZE_BYTES as usize])?;
        let file = DmaFile::open(&path).await.map_err(to_io)?;
        file.close().await.map_err(to_io)?;
        std::fs::remove_file(&path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }
}

fn to_io(e: glommio::GlommioError<()>) -> io::Error {
    e.into()
}

impl Storage for DmaStorage {
    type File = DmaSegmentFile;

    async fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        Ok(names)
    }

    async fn create(&self, name: &str) -> io::Result<DmaSegmentFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .dma_open(self.path(name))
            .await
            .map_err(to_io)?;
        Ok(DmaSegmentFile { file })
    }

    async fn open(&self, name: &str) -> io::Result<DmaSegmentFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .dma_open(self.path(name))
            .await
            .map_err(to_io)?;
        Ok(DmaSegmentFile { file })
    }

    async fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        glommio::io::rename(self.path(from), self.path(to))
            .await
            .map_err(to_io)
    }

    async fn remove(&self, name: &str) -> io::Result<()> {
        glommio::io::remove(self.path(name)).await.map_err(to_io)
    }

    async fn sync_dir(&self) -> io::Result<()> {
        let dir = glommio::io::Directory::open(&self.dir)
            .await
            .map_err(to_io)?;
        dir.sync().await.map_err(to_io)?;
        dir.close().await.map_err(to_io)
    }
}

/// One segment file opened with O_DIRECT.
#[derive(Debug)]
pub struct DmaSegmentFile {
    file: DmaFile,
}

impl StorageFile for DmaSegmentFile {
    type Buf = ReadResult;

    async fn write_at(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        assert_eq!(
            offset % self.file.alignment(),
            0,
            "unaligned O_DIRECT write offset"
        );
        assert_eq!(
            data.len() as u64 % self.file.alignment(),
            0,
            "unaligned O_DIRECT write length"
        );
        // One copy into an aligned buffer: cheap next to the device write it feeds.
        let mut buf = self.file.alloc_dma_buffer(data.len());
        buf.as_bytes_mut().copy_from_slice(data);
        let written = self.file.write_at(buf, offset).await.map_err(to_io)?;
        if written != data.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {written} of {}", data.len()),
            ));
        }
        Ok(())
    }

    async fn write_zeros_at(&self, offset: u64, len: u64) -> io::Result<()> {
        let chunk = IO_CHUNK_BYTES.min(len) as usize;
        let mut zeros = self.file.alloc_dma_buffer(chunk);
        zeros.as_bytes_mut().fill(0);
        let zeros = Rc::new(zeros);
        let mut at = offset;
        while at < offset + len {
            let left = offset + len - at;
            let written = if left >= chunk as u64 {
                self.file.write_rc_at(zeros.clone(), at).await
            } else {
                let mut rest = self.file.alloc_dma_buffer(left as usize);
                rest.as_bytes_mut().fill(0);
                self.file.write_at(rest, at).await
            };
            let written = written.map_err(to_io)?;
            if written == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "wrote no zeros"));
            }
            at += written as u64;
        }
        Ok(())
    }

    async fn read_at(&self, offset: u64, len: usize) -> io::Result<ReadResult> {
        self.file.read_at(offset, len).await.map_err(to_io)
    }

    async fn sync_data(&self) -> io::Result<()> {
        self.file.fdatasync().await.map_err(to_io)
    }

    async fn size(&self) -> io::Result<u64> {
        self.file.file_size().await.map_err(to_io)
    }

    async fn truncate(&self, len: u64) -> io::Result<()> {
        self.file.truncate(len).await.map_err(to_io)
    }
}

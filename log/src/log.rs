//! The log handle: open (with recovery), append with group commit, durability futures,
//! the durable watermark, trimming and closing.
//!
//! ```text
//!  append() ──encode──> filling batch ──seal──> flusher: write_at + sync_data ──> durable
//!     │  (LSN assigned here)   ▲ fills while the previous batch is in flight   │
//!     └── Durable future <─────┴──────────── wakes waiters, publishes watermark ┘
//! ```
//!
//! A batch is sealed when the flusher finishes the previous one (or the log is idle), or
//! earlier when it reaches `batch_size_bytes_max` (appenders then wait for room): there is
//! no timer, so a lone appender pays one write + one fdatasync and nothing more.
//! The log is single-threaded (it lives on one executor); appenders on other cores reach
//! it through the server's channel mesh, and read [`DurableWatermark`] directly.

use crate::config::{
    align_up, LogConfig, BLOCK_SIZE_BYTES, RECORD_PAYLOAD_BYTES_MAX, SPARE_SEGMENTS_MAX,
};
use crate::error::{Error, Result};
use crate::reader::LogReader;
use crate::record;
use crate::recovery::{self, Recovered};
use crate::segment::{SegmentId, CREATING_PREFIX, SPARE_PREFIX};
use crate::storage::{Storage, StorageFile};
use crate::{Epoch, Lsn};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// The highest durable LSN (0 before anything is durable), readable from any core with
/// one atomic load.
#[derive(Clone, Debug, Default)]
pub struct DurableWatermark(Arc<AtomicU64>);

impl DurableWatermark {
    pub fn get(&self) -> Lsn {
        Lsn(self.0.load(Ordering::Acquire))
    }
}

/// Counters since open, for benchmarks and monitoring.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogStats {
    /// Batches written and synced (one write + one fdatasync each).
    pub batches: u64,
    /// Bytes of those writes, padding included.
    pub bytes_written: u64,
}

/// A segment the log holds: its first LSN and where its durable bytes end.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegmentMeta {
    pub id: SegmentId,
    pub end_offset: u64,
}

pub(crate) struct State<F> {
    next_lsn: u64,
    /// Last LSN handed to a write (in flight or done).
    written_lsn: u64,
    pub(crate) durable_lsn: u64,
    filling: Vec<u8>,
    recycled: Option<Vec<u8>>,
    poisoned: bool,
    closed: bool,
    durable_waiters: Vec<(u64, Waker)>,
    room_waiters: Vec<Waker>,
    flusher_waker: Option<Waker>,
    preparer_waker: Option<Waker>,
    /// In LSN order; the last one is the active segment.
    pub(crate) segments: Vec<SegmentMeta>,
    active_file: Rc<F>,
    spares: Vec<String>,
    spare_seq: u64,
    stats: LogStats,
    /// Batches written, by size in blocks (index); bounded by the batch size limit.
    batch_blocks: Vec<u64>,
}

pub(crate) struct Inner<S: Storage> {
    pub(crate) storage: S,
    pub(crate) config: LogConfig,
    pub(crate) state: RefCell<State<S::File>>,
    watermark: DurableWatermark,
}

/// The transaction log. Clones share it. Spawn [`Log::flusher`] on the same executor.
pub struct Log<S: Storage> {
    inner: Rc<Inner<S>>,
}

impl<S: Storage> Clone for Log<S> {
    fn clone(&self) -> Self {
        Log {
            inner: self.inner.clone(),
        }
    }
}

/// Resolves when its LSN is durable, or fails if the log was poisoned first.
pub struct Durable<S: Storage> {
    inner: Rc<Inner<S>>,
    lsn: Lsn,
}

impl<S: Storage> Durable<S> {
    /// The LSN the record was given at append.
    pub fn lsn(&self) -> Lsn {
        self.lsn
    }
}

impl<S: Storage> Future for Durable<S> {
    type Output = Result<Lsn>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<Lsn>> {
        let mut st = self.inner.state.borrow_mut();
        if st.durable_lsn >= self.lsn.0 {
            return Poll::Ready(Ok(self.lsn));
        }
        if st.poisoned {
            return Poll::Ready(Err(Error::Poisoned));
        }
        st.durable_waiters.push((self.lsn.0, cx.waker().clone()));
        Poll::Pending
    }
}

impl<S: Storage> Log<S> {
    /// Recovers the log in `storage` (see [`crate::recovery`]) and readies it for appends.
    pub async fn open(storage: S, config: LogConfig) -> Result<Log<S>> {
        config.validate();
        let recovered = recovery::scan_dir(&storage).await?;
        for name in &recovered.leftovers {
            storage
                .remove(name)
                .await
                .map_err(|e| Error::io("remove", name, e))?;
        }
        let Recovered {
            mut segments,
            next_lsn,
            spares,
            ..
        } = recovered;
        // Spare names must not repeat: continue after the highest number on disk.
        let spare_seq = spares
            .iter()
            .filter_map(|n| n.strip_prefix(SPARE_PREFIX)?.parse::<u64>().ok())
            .max()
            .unwrap_or(0);
        if segments.is_empty() {
            segments.push(recovery::SegmentInfo {
                id: SegmentId(next_lsn),
                records: 0,
                end_offset: 0,
                stop_offset: 0,
                stop_reason: String::new(),
                bytes_read: 0,
            });
            create_segment(
                &storage,
                &config,
                "segment",
                &SegmentId(next_lsn).file_name(),
            )
            .await?;
        }
        let last = segments.last().expect("one segment").clone();
        let file = storage
            .open(&last.name())
            .await
            .map_err(|e| Error::io("open", last.name(), e))?;
        clear_tail(&file, &last.name(), last.end_offset, &config).await?;
        let durable = next_lsn.0 - 1;
        let state = State {
            next_lsn: next_lsn.0,
            written_lsn: durable,
            durable_lsn: durable,
            filling: Vec::with_capacity(config.batch_size_bytes_max as usize),
            recycled: None,
            poisoned: false,
            closed: false,
            durable_waiters: Vec::new(),
            room_waiters: Vec::new(),
            flusher_waker: None,
            preparer_waker: None,
            segments: segments
                .iter()
                .map(|s| SegmentMeta {
                    id: s.id,
                    end_offset: s.end_offset,
                })
                .collect(),
            active_file: Rc::new(file),
            spares,
            spare_seq,
            stats: LogStats::default(),
            batch_blocks: vec![0; (config.batch_size_bytes_max / BLOCK_SIZE_BYTES) as usize + 1],
        };
        let watermark = DurableWatermark(Arc::new(AtomicU64::new(durable)));
        Ok(Log {
            inner: Rc::new(Inner {
                storage,
                config,
                state: RefCell::new(state),
                watermark,
            }),
        })
    }

    /// Appends one record: waits only if the filling batch is full, assigns the LSN, and
    /// returns the future that resolves once the record is durable.
    pub async fn append(
        &self,
        epoch: Epoch,
        engine_version: u16,
        kind: u8,
        payload: &[u8],
    ) -> Result<Durable<S>> {
        if payload.len() > RECORD_PAYLOAD_BYTES_MAX as usize {
            return Err(Error::RecordTooLarge {
                len: payload.len(),
                max: RECORD_PAYLOAD_BYTES_MAX,
            });
        }
        let need = record::encoded_len(payload.len());
        let batch_max = self.inner.config.batch_size_bytes_max as usize;
        let lsn = poll_fn(|cx| {
            let mut st = self.inner.state.borrow_mut();
            if st.poisoned {
                return Poll::Ready(Err(Error::Poisoned));
            }
            if st.closed {
                return Poll::Ready(Err(Error::Closed));
            }
            if st.filling.len() + need > batch_max {
                st.room_waiters.push(cx.waker().clone());
                return Poll::Pending;
            }
            let lsn = Lsn(st.next_lsn);
            st.next_lsn += 1;
            record::encode(&mut st.filling, lsn, epoch, engine_version, kind, payload);
            if let Some(w) = st.flusher_waker.take() {
                w.wake();
            }
            Poll::Ready(Ok(lsn))
        })
        .await?;
        Ok(Durable {
            inner: self.inner.clone(),
            lsn,
        })
    }

    /// The watermark handle to give to other cores.
    pub fn watermark(&self) -> DurableWatermark {
        self.inner.watermark.clone()
    }

    pub fn stats(&self) -> LogStats {
        self.inner.state.borrow().stats
    }

    /// How many batches of each size (bytes, padding included) were written since open,
    /// smallest first: what a device probe must replay to compare with the log fairly.
    pub fn batch_sizes(&self) -> Vec<(u64, u64)> {
        let st = self.inner.state.borrow();
        (0u64..)
            .zip(&st.batch_blocks)
            .filter(|&(_, &count)| count > 0)
            .map(|(blocks, &count)| (blocks * BLOCK_SIZE_BYTES, count))
            .collect()
    }

    /// LSN the next append will get.
    pub fn next_lsn(&self) -> Lsn {
        Lsn(self.inner.state.borrow().next_lsn)
    }

    /// First LSN still kept (the first segment's first LSN).
    pub fn first_lsn(&self) -> Lsn {
        self.inner
            .state
            .borrow()
            .segments
            .first()
            .expect("a log has a segment")
            .id
            .0
    }

    pub fn is_poisoned(&self) -> bool {
        self.inner.state.borrow().poisoned
    }

    /// Stops accepting appends; the flusher writes what was appended, then returns.
    pub fn close(&self) {
        let mut st = self.inner.state.borrow_mut();
        st.closed = true;
        wake_all(&mut st.room_waiters);
        if let Some(w) = st.preparer_waker.take() {
            w.wake();
        }
        if let Some(w) = st.flusher_waker.take() {
            w.wake();
        }
    }

    /// Reads durable records from `from` on (replay, replicas, the snapshotter).
    pub fn reader(&self, from: Lsn) -> Result<LogReader<S>> {
        LogReader::new(self.inner.clone(), from)
    }

    /// The log's background work, to spawn once on the log's executor: the group-commit
    /// loop, and alongside it the preparation of a spare segment so that rolling is a
    /// rename rather than writing a whole file on the append path. Returns `Ok` after
    /// `close` once everything appended is durable, or the error that poisoned the log.
    pub async fn flusher(&self) -> Result<()> {
        let (flushed, _prepared) =
            futures::future::join(self.flush_loop(), self.prepare_spares()).await;
        flushed
    }

    /// Seals the filling batch, writes and syncs it, publishes the durable LSN, repeats.
    async fn flush_loop(&self) -> Result<()> {
        let result = self.flush_batches().await;
        // Let the spare preparer see that the log is done.
        if let Some(w) = self.inner.state.borrow_mut().preparer_waker.take() {
            w.wake();
        }
        result
    }

    async fn flush_batches(&self) -> Result<()> {
        loop {
            let Some((batch, first, last)) = self.seal().await else {
                return Ok(());
            };
            if let Err(e) = self.write_batch(&batch, first, last).await {
                self.poison();
                return Err(e);
            }
            self.publish(last, batch);
        }
    }

    /// Keeps one spare segment ready while the log runs. A failure here loses nothing:
    /// the preparer stops and a roll creates its segment itself (and fails loudly if the
    /// disk really is broken).
    async fn prepare_spares(&self) -> Result<()> {
        loop {
            let needed = poll_fn(|cx| {
                let mut st = self.inner.state.borrow_mut();
                if st.closed || st.poisoned {
                    return Poll::Ready(false);
                }
                if st.spares.is_empty() {
                    return Poll::Ready(true);
                }
                st.preparer_waker = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
            if !needed {
                return Ok(());
            }
            let name = {
                let mut st = self.inner.state.borrow_mut();
                st.spare_seq += 1;
                format!("{SPARE_PREFIX}{}", st.spare_seq)
            };
            create_segment(&self.inner.storage, &self.inner.config, "spare", &name).await?;
            self.inner.state.borrow_mut().spares.push(name);
        }
    }

    /// Waits for a non-empty filling batch and takes it, padded to the block boundary.
    async fn seal(&self) -> Option<(Vec<u8>, u64, u64)> {
        poll_fn(|cx| {
            let mut st = self.inner.state.borrow_mut();
            let st = &mut *st;
            if st.filling.is_empty() {
                if st.closed {
                    return Poll::Ready(None);
                }
                st.flusher_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            let fresh = st.recycled.take().unwrap_or_default();
            let mut batch = std::mem::replace(&mut st.filling, fresh);
            // Zero padding to the block boundary: the next batch starts on a fresh block,
            // so writing it can never tear a block holding acknowledged records.
            batch.resize(align_up(batch.len() as u64) as usize, 0);
            let (first, last) = (st.written_lsn + 1, st.next_lsn - 1);
            st.written_lsn = last;
            assert!(st.durable_lsn <= st.written_lsn && st.written_lsn < st.next_lsn);
            wake_all(&mut st.room_waiters);
            Poll::Ready(Some((batch, first, last)))
        })
        .await
    }

    /// One write and one fdatasync, after rolling to a new segment if the batch does not fit.
    async fn write_batch(&self, batch: &[u8], first: u64, last: u64) -> Result<()> {
        debug_assert_eq!(
            record::decode(batch).map(|(r, _)| r.lsn.0).ok(),
            Some(first)
        );
        let len = batch.len() as u64;
        let (mut file, mut offset) = self.active();
        if offset + len > self.inner.config.segment_size_bytes {
            file = self.roll(SegmentId(Lsn(first))).await?;
            offset = 0;
        }
        let name = self
            .inner
            .state
            .borrow()
            .segments
            .last()
            .expect("active")
            .id
            .file_name();
        file.write_at(offset, batch)
            .await
            .map_err(|e| Error::io("write", &name, e))?;
        file.sync_data()
            .await
            .map_err(|e| Error::io("fdatasync", &name, e))?;
        let mut st = self.inner.state.borrow_mut();
        let active = st.segments.last_mut().expect("active");
        assert_eq!(
            active.end_offset, offset,
            "only the flusher moves the active segment's end"
        );
        active.end_offset = offset + len;
        assert!(last <= st.written_lsn);
        Ok(())
    }

    fn active(&self) -> (Rc<S::File>, u64) {
        let st = self.inner.state.borrow();
        (
            st.active_file.clone(),
            st.segments.last().expect("active").end_offset,
        )
    }

    /// Makes `id` the active segment: a renamed spare if there is one, else a new file.
    async fn roll(&self, id: SegmentId) -> Result<Rc<S::File>> {
        let storage = &self.inner.storage;
        let name = id.file_name();
        let spare = {
            let mut st = self.inner.state.borrow_mut();
            if let Some(w) = st.preparer_waker.take() {
                w.wake();
            }
            st.spares.pop()
        };
        match spare {
            Some(spare) => {
                storage
                    .rename(&spare, &name)
                    .await
                    .map_err(|e| Error::io("rename", &spare, e))?;
                // The name must be durable before records in it are acknowledged.
                storage
                    .sync_dir()
                    .await
                    .map_err(|e| Error::io("fsync", "log directory", e))?;
            }
            None => create_segment(storage, &self.inner.config, "segment", &name).await?,
        }
        let file = Rc::new(
            storage
                .open(&name)
                .await
                .map_err(|e| Error::io("open", &name, e))?,
        );
        let mut st = self.inner.state.borrow_mut();
        st.segments.push(SegmentMeta { id, end_offset: 0 });
        st.active_file = file.clone();
        Ok(file)
    }

    /// Records that everything up to `last` is durable and wakes whoever waits for it.
    fn publish(&self, last: u64, mut batch: Vec<u8>) {
        let mut st = self.inner.state.borrow_mut();
        assert!(
            st.durable_lsn < last && last <= st.written_lsn,
            "durable must move forward, never past written"
        );
        st.durable_lsn = last;
        st.stats.batches += 1;
        st.stats.bytes_written += batch.len() as u64;
        st.batch_blocks[batch.len() / BLOCK_SIZE_BYTES as usize] += 1;
        self.inner.watermark.0.store(last, Ordering::Release);
        batch.clear();
        st.recycled = Some(batch);
        let mut woken = Vec::new();
        st.durable_waiters.retain(|(lsn, w)| {
            if *lsn <= last {
                woken.push(w.clone());
                return false;
            }
            true
        });
        drop(st);
        woken.into_iter().for_each(Waker::wake);
    }

    /// After a failed write or fdatasync nothing is known about what reached the disk:
    /// fail every waiter and every later append (never retry and pretend).
    fn poison(&self) {
        let mut st = self.inner.state.borrow_mut();
        st.poisoned = true;
        if let Some(w) = st.preparer_waker.take() {
            w.wake();
        }
        let waiters: Vec<Waker> = st.durable_waiters.drain(..).map(|(_, w)| w).collect();
        wake_all(&mut st.room_waiters);
        drop(st);
        waiters.into_iter().for_each(Waker::wake);
    }

    /// Drops whole segments whose records are all below `lsn` (never the active one).
    /// Retired files are kept as spares for reuse, up to `SPARE_SEGMENTS_MAX`.
    /// Returns how many segments were dropped.
    pub async fn trim_below(&self, lsn: Lsn) -> Result<usize> {
        let retired: Vec<SegmentId> = {
            let mut st = self.inner.state.borrow_mut();
            let n = st
                .segments
                .windows(2)
                .take_while(|w| w[1].id.0 <= lsn)
                .count();
            st.segments.drain(..n).map(|s| s.id).collect()
        };
        let storage = &self.inner.storage;
        let mut new_spares = Vec::new();
        for id in &retired {
            let name = id.file_name();
            let keep =
                self.inner.state.borrow().spares.len() + new_spares.len() < SPARE_SEGMENTS_MAX;
            if keep {
                let spare = {
                    let mut st = self.inner.state.borrow_mut();
                    st.spare_seq += 1;
                    format!("{SPARE_PREFIX}{}", st.spare_seq)
                };
                storage
                    .rename(&name, &spare)
                    .await
                    .map_err(|e| Error::io("rename", &name, e))?;
                new_spares.push(spare);
            } else {
                storage
                    .remove(&name)
                    .await
                    .map_err(|e| Error::io("remove", &name, e))?;
            }
        }
        storage
            .sync_dir()
            .await
            .map_err(|e| Error::io("fsync", "log directory", e))?;
        self.inner.state.borrow_mut().spares.extend(new_spares);
        Ok(retired.len())
    }
}

fn wake_all(wakers: &mut Vec<Waker>) {
    wakers.drain(..).for_each(Waker::wake);
}

/// Creates a full-size segment of zeros under a temporary name, syncs it, and renames it
/// into place: writing every block once now means later fdatasyncs commit no size or
/// extent metadata (on ext4 that is the difference between ~tens of µs and ms).
async fn create_segment<S: Storage>(
    storage: &S,
    config: &LogConfig,
    purpose: &str,
    name: &str,
) -> Result<()> {
    let tmp = &format!("{CREATING_PREFIX}{purpose}.tmp");
    let file = storage
        .create(tmp)
        .await
        .map_err(|e| Error::io("create", tmp, e))?;
    file.write_zeros_at(0, config.segment_size_bytes)
        .await
        .map_err(|e| Error::io("write", tmp, e))?;
    file.sync_data()
        .await
        .map_err(|e| Error::io("fdatasync", tmp, e))?;
    drop(file);
    storage
        .rename(tmp, name)
        .await
        .map_err(|e| Error::io("rename", tmp, e))?;
    storage
        .sync_dir()
        .await
        .map_err(|e| Error::io("fsync", "log directory", e))
}

/// Zeroes the blocks a torn batch may have reached after the last verified record, so that
/// no remnant of it can later pass for a record (or for evidence of a later batch).
async fn clear_tail<F: StorageFile>(
    file: &F,
    name: &str,
    end_offset: u64,
    config: &LogConfig,
) -> Result<()> {
    let end = (end_offset + config.batch_size_bytes_max + BLOCK_SIZE_BYTES)
        .min(config.segment_size_bytes);
    if end <= end_offset {
        return Ok(());
    }
    file.write_zeros_at(end_offset, end - end_offset)
        .await
        .map_err(|e| Error::io("write", name, e))?;
    file.sync_data()
        .await
        .map_err(|e| Error::io("fdatasync", name, e))
}

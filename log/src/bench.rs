//! Measurements on the real disk (glommio executor required): the fdatasync probe, a raw
//! O_DIRECT write+fdatasync baseline, and the log under N concurrent appenders. Used by
//! `holdfast-log probe` and `holdfast-log bench`.

use crate::config::{align_up, LogConfig, BLOCK_SIZE_BYTES};
use crate::storage::dma::DmaStorage;
use crate::{Epoch, Log};
use glommio::io::{DmaFile, OpenOptions};
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Latency samples, summarised by percentile.
#[derive(Clone, Debug, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }

    /// The `p`-th percentile (0..=100); zero when empty.
    pub fn percentile(&mut self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0.sort_unstable();
        let i = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[i]
    }

    pub fn mean(&self) -> Duration {
        let total: Duration = self.0.iter().sum();
        total / self.0.len().max(1) as u32
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn summary(&mut self) -> String {
        format!(
            "p50 {:>8.1} µs  p99 {:>8.1} µs  p99.9 {:>8.1} µs",
            us(self.percentile(50.0)),
            us(self.percentile(99.0)),
            us(self.percentile(99.9))
        )
    }
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

async fn open_new(path: &Path) -> std::io::Result<DmaFile> {
    let _ = std::fs::remove_file(path);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .dma_open(path)
        .await?;
    Ok(file)
}

/// `count` writes of `len` bytes, each followed by fdatasync, at consecutive offsets from
/// 0 (wrapping at `wrap` bytes).
async fn write_sync_loop(
    file: &DmaFile,
    len: usize,
    count: usize,
    wrap: u64,
) -> std::io::Result<Latencies> {
    let mut lat = Latencies::default();
    let mut at = 0u64;
    for _ in 0..count {
        if at + len as u64 > wrap {
            at = 0;
        }
        let mut buf = file.alloc_dma_buffer(len);
        buf.as_bytes_mut().fill(0xa5);
        let t = Instant::now();
        file.write_at(buf, at).await?;
        file.fdatasync().await?;
        lat.push(t.elapsed());
        at += len as u64;
    }
    Ok(lat)
}

/// Writes zeros over the first `len` bytes of `file` and syncs: every block allocated and
/// written, size final.
async fn prefill(file: &DmaFile, len: u64) -> std::io::Result<()> {
    let chunk = 1 << 20;
    let mut at = 0;
    while at < len {
        let n = chunk.min(len - at) as usize;
        let buf = file.alloc_dma_buffer(n);
        file.write_at(buf, at).await?;
        at += n as u64;
    }
    file.fdatasync().await?;
    Ok(())
}

/// The three ways a 4 KiB write + fdatasync can meet the file system, `count` each:
/// appending (size grows), into fallocate'd space (unwritten extents convert), and over
/// blocks written before (data only). Prints one line per case.
pub async fn probe_fsync(dir: &Path, count: usize) -> std::io::Result<()> {
    let len = BLOCK_SIZE_BYTES as usize;
    let span = (count * len) as u64;
    let path = dir.join("probe.tmp");

    let file = open_new(&path).await?;
    let mut extend = write_sync_loop(&file, len, count, u64::MAX).await?;
    file.close().await?;

    let file = open_new(&path).await?;
    file.pre_allocate(span, false).await?;
    file.fdatasync().await?;
    let mut falloc = write_sync_loop(&file, len, count, span).await?;
    file.close().await?;

    let file = open_new(&path).await?;
    prefill(&file, span).await?;
    let mut overwrite = write_sync_loop(&file, len, count, span).await?;
    file.close().await?;
    std::fs::remove_file(&path)?;

    println!("4 KiB O_DIRECT write + fdatasync, {count} each:");
    println!("  extending the file size      {}", extend.summary());
    println!("  into fallocate'd extents     {}", falloc.summary());
    println!("  over already-written blocks  {}", overwrite.summary());
    Ok(())
}

/// Raw device baseline: `count` O_DIRECT writes of `len` bytes + fdatasync over written
/// blocks (the log's steady state).
pub async fn raw_write_sync(dir: &Path, len: usize, count: usize) -> std::io::Result<Latencies> {
    let path = dir.join("raw.tmp");
    let span = (align_up((len * 64) as u64)).max(1 << 20);
    let file = open_new(&path).await?;
    prefill(&file, span).await?;
    let lat = write_sync_loop(&file, len, count, span).await?;
    file.close().await?;
    std::fs::remove_file(&path)?;
    Ok(lat)
}

/// One run of the log under `appenders` appenders of `record_bytes` records, each keeping
/// up to `in_flight` records appended but not yet durable (1: closed loop; a server core
/// pipelining many clients' writes keeps many).
#[derive(Debug)]
pub struct LogRun {
    pub appenders: usize,
    pub records: u64,
    pub elapsed: Duration,
    pub batches: u64,
    pub bytes_written: u64,
    pub time_to_durable: Latencies,
}

/// Runs a fresh log in `dir/run-N` for `duration`; removes it afterwards.
pub async fn log_run(
    dir: &Path,
    appenders: usize,
    in_flight: usize,
    record_bytes: usize,
    duration: Duration,
) -> crate::Result<LogRun> {
    assert!(
        in_flight > 0,
        "an appender needs room for one record in flight"
    );
    let run_dir: PathBuf = dir.join(format!("run-{appenders}"));
    let _ = std::fs::remove_dir_all(&run_dir);
    let storage = DmaStorage::open(&run_dir)
        .await
        .map_err(|e| crate::Error::io("create", run_dir.display().to_string(), e))?;
    let log = Log::open(storage, LogConfig::default()).await?;
    let flusher = glommio::spawn_local({
        let log = log.clone();
        async move { log.flusher().await }
    });
    let lat = Rc::new(RefCell::new(Latencies::default()));
    let start = Instant::now();
    let deadline = start + duration;
    let tasks: Vec<_> = (0..appenders)
        .map(|_| {
            let (log, lat) = (log.clone(), lat.clone());
            glommio::spawn_local(async move {
                let payload = vec![0x5a; record_bytes];
                let mut pending = std::collections::VecDeque::with_capacity(in_flight);
                while Instant::now() < deadline {
                    if pending.len() == in_flight {
                        let (t, durable): (Instant, _) = pending.pop_front().expect("full");
                        durable.await?;
                        lat.borrow_mut().push(t.elapsed());
                    }
                    let t = Instant::now();
                    pending.push_back((t, log.append(Epoch(1), 1, 0, &payload).await?));
                }
                for (t, durable) in pending {
                    durable.await?;
                    lat.borrow_mut().push(t.elapsed());
                }
                crate::Result::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    let elapsed = start.elapsed();
    log.close();
    flusher.await?;
    let stats = log.stats();
    let time_to_durable = std::mem::take(&mut *lat.borrow_mut());
    let _ = std::fs::remove_dir_all(&run_dir);
    Ok(LogRun {
        appenders,
        records: time_to_durable.len() as u64,
        elapsed,
        batches: stats.batches,
        bytes_written: stats.bytes_written,
        time_to_durable,
    })
}

/// `holdfast-log bench`: for each appender count, the log run and the raw probe with the
/// batch size the log used; prints records/s, MB/s, time-to-durable and the ratios.
pub async fn bench(
    dir: &Path,
    appenders: &[usize],
    in_flight: usize,
    record_bytes: usize,
    duration: Duration,
) -> crate::Result<()> {
    let io = |e| crate::Error::io("bench", dir.display().to_string(), e);
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut one_raw = raw_write_sync(dir, BLOCK_SIZE_BYTES as usize, 500)
        .await
        .map_err(io)?;
    println!(
        "raw 4 KiB write+fdatasync over written blocks: {}",
        one_raw.summary()
    );
    for &n in appenders {
        let mut run = log_run(dir, n, in_flight, record_bytes, duration).await?;
        let secs = run.elapsed.as_secs_f64();
        let rps = run.records as f64 / secs;
        let mbps = run.records as f64 * record_bytes as f64 / secs / 1e6;
        let batch = align_up(run.bytes_written / run.batches.max(1));
        let per_batch = run.records as f64 / run.batches.max(1) as f64;
        let raw = raw_write_sync(dir, batch as usize, run.batches.clamp(200, 2000) as usize)
            .await
            .map_err(io)?;
        let raw_rps = per_batch / raw.mean().as_secs_f64();
        println!(
            "appenders {n:>4}: {rps:>10.0} rec/s {mbps:>7.2} MB/s  batches {:>7} ({per_batch:.1} rec, {batch} B each)  {}",
            run.batches,
            run.time_to_durable.summary()
        );
        println!(
            "                raw probe at {batch} B: {raw_rps:>10.0} rec/s possible -> log reaches {:.0}%; p50 vs one raw write+sync: {:.2}x",
            100.0 * rps / raw_rps,
            run.time_to_durable.percentile(50.0).as_secs_f64() / one_raw.percentile(50.0).as_secs_f64()
        );
    }
    Ok(())
}

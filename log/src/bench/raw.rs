//! The device without the log: O_DIRECT write + fdatasync probes, and the replay of a
//! log run's exact batch sizes that its throughput is judged against.

use super::latency::Latencies;
use crate::config::{align_up, BLOCK_SIZE_BYTES, SEGMENT_SIZE_BYTES};
use glommio::io::{DmaFile, OpenOptions};
use std::path::Path;
use std::time::{Duration, Instant};

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
    let extend = write_sync_loop(&file, len, count, u64::MAX).await?;
    file.close().await?;

    let file = open_new(&path).await?;
    file.pre_allocate(span, false).await?;
    file.fdatasync().await?;
    let falloc = write_sync_loop(&file, len, count, span).await?;
    file.close().await?;

    let file = open_new(&path).await?;
    prefill(&file, span).await?;
    let overwrite = write_sync_loop(&file, len, count, span).await?;
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

/// How long the device needs for exactly the writes a log run made, back to back and
/// with no CPU work in between: `sizes` is the run's (batch bytes, count) histogram
/// ([`crate::Log::batch_sizes`]). Each size is probed in proportion to its count, at
/// least once, about `probes_max` write+fdatasyncs in all, and its mean cost is charged
/// for every batch of that size.
pub async fn replay(
    dir: &Path,
    sizes: &[(u64, u64)],
    probes_max: u64,
) -> std::io::Result<Duration> {
    let batches: u64 = sizes.iter().map(|&(_, count)| count).sum();
    let largest = sizes.iter().map(|&(bytes, _)| bytes).max().unwrap_or(0);
    let path = dir.join("replay.tmp");
    // Written in order through a preallocated segment-sized file, as the log writes.
    let span = align_up(largest * 16).max(SEGMENT_SIZE_BYTES);
    let file = open_new(&path).await?;
    prefill(&file, span).await?;
    let mut device_ns = 0f64;
    for &(bytes, count) in sizes {
        let probes = (count * probes_max / batches.max(1)).clamp(1, count);
        let lat = write_sync_loop(&file, bytes as usize, probes as usize, span).await?;
        device_ns += lat.mean().as_nanos() as f64 * count as f64;
    }
    file.close().await?;
    std::fs::remove_file(&path)?;
    Ok(Duration::from_nanos(device_ns as u64))
}

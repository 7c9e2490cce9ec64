//! Measurements on the real disk (glommio executor required), used by `holdfast-log
//! probe`, `holdfast-log bench` and `holdfast-bench log`:
//!
//! - `raw.rs`: the device alone (O_DIRECT write + fdatasync), including the replay of a
//!   log run's exact batch sizes;
//! - `load.rs`: the log under N appenders, closed or open loop;
//! - `latency.rs`: the time-to-durable histogram.
//!
//! Throughput is judged against the device fairly: after each run the raw probe replays
//! the very batch sizes the log wrote, back to back, and the ratio is the device time
//! those writes need over the time the log took (its records/s over the records/s the
//! device allows at those sizes). A ratio only says something about the log's overhead
//! when the log had work waiting whenever a sync finished (saturated); an open loop below
//! saturation leaves the device idle by design.

mod latency;
mod load;
mod raw;

pub use latency::Latencies;
pub use load::{log_run, Load, LogRun};
pub use raw::{probe_fsync, raw_write_sync, replay};

use crate::config::{align_up, BLOCK_SIZE_BYTES};
use latency::us;
use std::path::Path;
use std::time::Duration;

/// Write+fdatasyncs the replay of one run may use (about; at least one per batch size).
const REPLAY_PROBES_MAX: u64 = 800;

/// What `holdfast-log bench` runs.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// One run per appender count...
    pub appenders: Vec<usize>,
    /// ...and per load.
    pub loads: Vec<Load>,
    pub record_bytes: usize,
    pub duration: Duration,
}

/// Closed-loop runs (`in_flight` records per appender) for each appender count: the
/// entry point of `holdfast-bench log`.
pub async fn bench(
    dir: &Path,
    appenders: &[usize],
    in_flight: usize,
    record_bytes: usize,
    duration: Duration,
) -> crate::Result<()> {
    let options = BenchOptions {
        appenders: appenders.to_vec(),
        loads: vec![Load::Closed { in_flight }],
        record_bytes,
        duration,
    };
    bench_with(dir, &options).await
}

/// Every (appender count, load) run of `options`, each followed by the replay of its
/// batch sizes on the raw device; prints records/s, MB/s, time-to-durable and the ratios.
pub async fn bench_with(dir: &Path, options: &BenchOptions) -> crate::Result<()> {
    let io = |e| crate::Error::io("bench", dir.display().to_string(), e);
    std::fs::create_dir_all(dir).map_err(io)?;
    let one_raw = raw_write_sync(dir, BLOCK_SIZE_BYTES as usize, 500)
        .await
        .map_err(io)?;
    println!(
        "raw 4 KiB write+fdatasync over written blocks: {}",
        one_raw.summary()
    );
    for &load in &options.loads {
        for &n in &options.appenders {
            let run = log_run(dir, n, load, options.record_bytes, options.duration).await?;
            let device = replay(dir, &run.batch_sizes, REPLAY_PROBES_MAX)
                .await
                .map_err(io)?;
            report(&run, load, options.record_bytes, device, &one_raw);
        }
    }
    Ok(())
}

fn report(run: &LogRun, load: Load, record_bytes: usize, device: Duration, one_raw: &Latencies) {
    let secs = run.elapsed.as_secs_f64();
    let rps = run.records as f64 / secs;
    let mbps = rps * record_bytes as f64 / 1e6;
    let batches = run.batches.max(1);
    let per_batch = run.records as f64 / batches as f64;
    let mean_batch = align_up(run.bytes_written / batches);
    let how = match load {
        Load::Closed { in_flight } => format!("closed loop, {in_flight} in flight each"),
        Load::Open { records_per_sec } => format!(
            "open loop, {records_per_sec:.0} rec/s offered, {} behind schedule at the end",
            run.behind_schedule
        ),
    };
    let p50 = run.time_to_durable.percentile(50.0);
    println!(
        "appenders {:>4} ({how}): {rps:>10.0} rec/s {mbps:>7.2} MB/s  batches {} ({per_batch:.1} rec, mean {mean_batch} B)  {}",
        run.appenders,
        run.batches,
        run.time_to_durable.summary()
    );
    println!(
        "    raw replay of these {} batches: {:.3} s of device time in {secs:.3} s -> {:.0} rec/s possible, log reaches {:.0}%; p50 vs one raw 4 KiB write+sync: {:.2}x ({:.1} µs)",
        run.batches,
        device.as_secs_f64(),
        run.records as f64 / device.as_secs_f64(),
        100.0 * device.as_secs_f64() / secs,
        p50.as_secs_f64() / one_raw.percentile(50.0).as_secs_f64(),
        us(p50)
    );
    println!(
        "    batch sizes (bytes x count): {}",
        size_summary(&run.batch_sizes)
    );
}

/// The most frequent batch sizes, for the report.
fn size_summary(sizes: &[(u64, u64)]) -> String {
    let mut by_count = sizes.to_vec();
    by_count.sort_by_key(|&(bytes, count)| (std::cmp::Reverse(count), bytes));
    let shown: Vec<String> = by_count
        .iter()
        .take(6)
        .map(|(bytes, count)| format!("{bytes}x{count}"))
        .collect();
    let more = by_count.len().saturating_sub(shown.len());
    if more == 0 {
        return shown.join(" ");
    }
    format!("{} (+{more} other sizes)", shown.join(" "))
}

//! `holdfast-log`: offline tools for a log directory.
//!
//! - `inspect DIR`: lists segments and their LSN ranges, verifying every record.
//! - `probe DIR`: what one 4 KiB O_DIRECT write + fdatasync costs when it extends the
//!   file, fills fallocate'd space, or overwrites written blocks.
//! - `stress DIR`: appends forever, printing each acknowledged LSN (power-loss test).
//! - `bench DIR`: the log under 1, 16, 64, 256 appenders (closed or open loop), each run
//!   judged against the raw device replaying the batch sizes the log wrote.

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use glommio::LocalExecutorBuilder;
use holdfast_log::bench::{BenchOptions, Load};
use holdfast_log::recovery::{self, Recovered};
use holdfast_log::storage::dma::DmaStorage;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(
    name = "holdfast-log",
    version,
    about = "Inspect and measure a Holdfast transaction log"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print segments and LSN ranges; verify every record (exit 1 on corruption).
    Inspect { dir: PathBuf },
    /// Measure fdatasync with and without file-size/extent changes (scratch dir on the disk to test).
    Probe {
        dir: PathBuf,
        #[arg(long, default_value_t = 500)]
        count: usize,
    },
    /// Open (recover) the log and append forever from N appenders, printing "acked LSN"
    /// after each durable batch: the writer of the power-loss test.
    Stress {
        dir: PathBuf,
        #[arg(long, default_value_t = 16)]
        appenders: usize,
        /// Segment size in MiB (small values make the log roll and reuse spares often).
        #[arg(long, default_value_t = 64)]
        segment_mib: u64,
    },
    /// Group-commit benchmark; after each run the raw device replays the run's batch sizes.
    Bench {
        dir: PathBuf,
        #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
        appenders: Vec<usize>,
        /// Closed loop: records each appender keeps appended but not yet durable (1: each
        /// appender waits for its record). Ignored when --rate is given.
        #[arg(long, default_value_t = 1)]
        in_flight: usize,
        /// Open loop: total records/s offered by all appenders together, on fixed
        /// schedules; several values (comma-separated) sweep the rate.
        #[arg(long, value_delimiter = ',')]
        rate: Vec<f64>,
        #[arg(long, default_value_t = 100)]
        record_bytes: usize,
        #[arg(long, default_value_t = 3)]
        seconds: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let executor = LocalExecutorBuilder::default()
        .name("holdfast-log")
        .make()
        .map_err(|e| anyhow::anyhow!("starting glommio: {e}"))?;
    executor.run(async move {
        match cli.command {
            Command::Inspect { dir } => inspect(dir).await,
            Command::Probe { dir, count } => {
                std::fs::create_dir_all(&dir)?;
                holdfast_log::bench::probe_fsync(&dir, count)
                    .await
                    .context("probe")
            }
            Command::Stress {
                dir,
                appenders,
                segment_mib,
            } => stress(dir, appenders, segment_mib).await,
            Command::Bench {
                dir,
                appenders,
                in_flight,
                rate,
                record_bytes,
                seconds,
            } => {
                let loads = if rate.is_empty() {
                    vec![Load::Closed {
                        in_flight: in_flight.max(1),
                    }]
                } else {
                    rate.iter()
                        .map(|&records_per_sec| Load::Open { records_per_sec })
                        .collect()
                };
                let options = BenchOptions {
                    appenders,
                    loads,
                    record_bytes,
                    duration: Duration::from_secs(seconds),
                };
                Ok(holdfast_log::bench::bench_with(&dir, &options).await?)
            }
        }
    })
}

async fn inspect(dir: PathBuf) -> anyhow::Result<()> {
    if !dir.is_dir() {
        bail!("{}: not a directory", dir.display());
    }
    let storage = DmaStorage::open(&dir).await?;
    let started = std::time::Instant::now();
    let Recovered {
        segments,
        next_lsn,
        spares,
        leftovers,
    } = recovery::scan_dir(&storage).await?;
    let elapsed = started.elapsed();
    println!(
        "{:<26} {:>12} {:>12} {:>10} {:>12}",
        "segment", "first LSN", "last LSN", "records", "bytes used"
    );
    for s in &segments {
        let last = if s.records == 0 {
            "-".to_string()
        } else {
            (s.next_lsn().0 - 1).to_string()
        };
        println!(
            "{:<26} {:>12} {:>12} {:>10} {:>12}",
            s.name(),
            s.id.0 .0,
            last,
            s.records,
            s.end_offset
        );
    }
    if let Some(s) = segments.last() {
        println!(
            "tail: {} stops at offset {}: {}",
            s.name(),
            s.stop_offset,
            s.stop_reason
        );
    }
    let records: u64 = segments.iter().map(|s| s.records).sum();
    println!(
        "{} segments, {records} records verified, next LSN {}",
        segments.len(),
        next_lsn.0
    );
    // "Of log": the bytes the segments' records occupy; the read also covers the rest of
    // the last segment, searched for evidence of a later batch.
    let bytes: u64 = segments.iter().map(|s| s.end_offset).sum();
    let read: u64 = segments.iter().map(|s| s.bytes_read).sum();
    let secs = elapsed.as_secs_f64();
    println!(
        "scanned in {:.1} ms: {:.0} MB/s of log ({:.0} MB of log, {:.0} MB read)",
        secs * 1e3,
        bytes as f64 / secs / 1e6,
        bytes as f64 / 1e6,
        read as f64 / 1e6
    );
    println!("spares: {spares:?}; leftovers: {leftovers:?}");
    Ok(())
}

async fn stress(dir: PathBuf, appenders: usize, segment_mib: u64) -> anyhow::Result<()> {
    use holdfast_log::{Epoch, Log, LogConfig};
    use std::io::Write;
    let config = LogConfig {
        segment_size_bytes: segment_mib << 20,
        ..LogConfig::default()
    };
    let log = Log::open(DmaStorage::open(&dir).await?, config).await?;
    println!("recovered next LSN {}", log.next_lsn().0);
    let flusher = glommio::spawn_local({
        let log = log.clone();
        async move { log.flusher().await }
    });
    let tasks: Vec<_> = (0..appenders)
        .map(|a| {
            let log = log.clone();
            glommio::spawn_local(async move {
                let mut n = 0u64;
                loop {
                    let payload = format!("appender {a} record {n} ").repeat(1 + (n % 7) as usize);
                    let lsn = log
                        .append(Epoch(1), 1, 0, payload.as_bytes())
                        .await?
                        .await?;
                    // Printed only once durable: the power-loss check relies on it.
                    let mut out = std::io::stdout().lock();
                    writeln!(out, "acked {}", lsn.0)
                        .and_then(|_| out.flush())
                        .expect("stdout");
                    n += 1;
                }
                #[allow(unreachable_code)]
                holdfast_log::Result::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    flusher.await?;
    Ok(())
}

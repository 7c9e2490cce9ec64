//! `holdfast-bench log`: the transaction log's group-commit benchmark (the log crate owns
//! the measurement: `holdfast_log::bench`), run on a glommio executor as the server runs
//! the log: a raw O_DIRECT write + fdatasync probe of the device, then the log under each
//! appender count, with records/s, MB/s and time-to-durable percentiles.

use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct LogBenchArgs {
    /// Scratch directory on the disk to measure (created; its log files are rewritten).
    pub dir: PathBuf,
    /// Concurrent appenders, one log run each.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64,256")]
    pub appenders: Vec<usize>,
    /// Records each appender keeps appended but not yet durable (1: closed loop; a server
    /// core pipelining many clients' writes keeps many).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub in_flight: u16,
    /// Payload bytes per record.
    #[arg(long, default_value_t = 100)]
    pub record_bytes: usize,
    /// Seconds per appender count.
    #[arg(long, default_value_t = 3)]
    pub seconds: u64,
}

pub fn run(args: &LogBenchArgs) -> Result<(), String> {
    let executor = glommio::LocalExecutorBuilder::default()
        .name("holdfast-bench-log")
        .make()
        .map_err(|e| format!("starting a glommio executor: {e}"))?;
    executor.run(async {
        holdfast_log::bench::bench(
            &args.dir,
            &args.appenders,
            args.in_flight as usize,
            args.record_bytes,
            Duration::from_secs(args.seconds),
        )
        .await
        .map_err(|e| e.to_string())
    })
}

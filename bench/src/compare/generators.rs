//! The load generators `compare` drives beside redis-benchmark: `holdfast-bench run`
//! (this program) and memtier_benchmark when installed, against the same fresh servers
//! with the same MemoryDB workload (100 connections, 100-byte values, keys from a
//! million, each pipeline depth), so their figures and their own CPU use sit side by
//! side. Unlike redis-benchmark they also run the 80/20 read/write mix (`--ratio 1:4`).

use super::error::Error;
use super::redis_benchmark::{self, CLIENTS, KEYSPACE, VALUE_BYTES};
use crate::command_line::CommandLine;
use crate::run::report::RunReport;
use std::path::{Path, PathBuf};

/// A load generator `compare` can drive.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Client {
    RedisBenchmark,
    HoldfastBench,
    Memtier,
}

impl Client {
    pub fn title(self) -> &'static str {
        match self {
            Client::RedisBenchmark => "redis-benchmark",
            Client::HoldfastBench => "holdfast-bench",
            Client::Memtier => "memtier_benchmark",
        }
    }
}

/// The workloads the memtier-style generators run: report name and `--ratio SET:GET`.
/// redis-benchmark runs the first two (its `-t set` and `-t get`) only.
pub const MIXES: [(&str, &str); 3] = [("SET", "1:0"), ("GET", "0:1"), ("80/20", "1:4")];

/// One generator's run of one workload, at one depth, against one server.
#[derive(Clone, Debug, PartialEq)]
pub struct Figures {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// The generator's CPU time over its wall time: 1.0 is one core, saturated.
    pub client_core_fraction: f64,
}

/// What one memtier-style invocation should do.
#[derive(Clone, Copy, Debug)]
pub struct Workload<'a> {
    /// `--ratio SET:GET`.
    pub ratio: &'a str,
    pub pipeline: u32,
    /// Requests over all connections, as redis-benchmark's -n; each connection sends
    /// its share (-n is per connection in memtier's flags).
    pub requests: u64,
}

/// The exact command for `client` (holdfast-bench or memtier_benchmark) running
/// `workload` against 127.0.0.1:`port` with one thread, writing JSON to `json`.
/// Keys are 1..=1000000 as redis-benchmark's `-r 1000000` draws a million.
pub fn command(
    client: Client,
    program: &Path,
    pinning: (&Path, Option<&[usize]>),
    port: u16,
    workload: Workload<'_>,
    json: &Path,
) -> CommandLine {
    let per_connection = per_connection(workload);
    let command = match client {
        Client::HoldfastBench => CommandLine::new(program).arg("run"),
        Client::Memtier | Client::RedisBenchmark => CommandLine::new(program),
    };
    let command = command
        .args(["-s", "127.0.0.1"])
        .args(["-p".to_string(), port.to_string()])
        .args(["-t", "1"])
        .args(["-c".to_string(), CLIENTS.to_string()])
        .args(["--pipeline".to_string(), workload.pipeline.to_string()])
        .args(["-d".to_string(), VALUE_BYTES.to_string()])
        .args(["--ratio", workload.ratio])
        .args(["--key-pattern", "R:R"])
        .args(["--key-minimum", "1"])
        .args(["--key-maximum".to_string(), KEYSPACE.to_string()])
        .args(["-n".to_string(), per_connection.to_string()])
        .args(["--print-percentiles", "50,99"])
        .arg("--json-out-file")
        .arg(json.display().to_string());
    let command = match client {
        Client::Memtier => command.arg("--hide-histogram"),
        Client::HoldfastBench | Client::RedisBenchmark => command,
    };
    command.pinned(pinning.0, pinning.1)
}

/// One finished generator run: its figures and, for holdfast-bench, its whole report
/// (latency spectrum and throughput per second, which the charts draw).
#[derive(Clone, Debug)]
pub struct Measured {
    pub figures: Figures,
    pub run: Option<Box<RunReport>>,
}

/// Runs `command` to completion and reads the figures from its JSON output `json`.
pub fn run(client: Client, command: &CommandLine, json: &Path) -> Result<Measured, Error> {
    let _ = std::fs::remove_file(json);
    let finished = redis_benchmark::run_client(command)?;
    let text = std::fs::read_to_string(json).map_err(Error::io(format!(
        "reading {} written by {command}",
        json.display()
    )))?;
    let _ = std::fs::remove_file(json);
    let parsed = match client {
        Client::HoldfastBench => read_holdfast_bench(&text)
            .and_then(|report| Ok((totals_of(&report)?, Some(Box::new(report))))),
        Client::Memtier => parse_memtier(&text).map(|totals| (totals, None)),
        Client::RedisBenchmark => Err("redis-benchmark writes no JSON".to_string()),
    };
    let ((rps, p50_ms, p99_ms), run) = parsed.map_err(|detail| Error::Benchmark {
        command: command.to_string(),
        detail,
    })?;
    let figures = Figures {
        rps,
        p50_ms,
        p99_ms,
        client_core_fraction: super::cpu::core_fraction(
            finished.client_cpu_secs,
            finished.wall_secs,
        ),
    };
    Ok(Measured { figures, run })
}

/// Requests a memtier-style run of `workload` sends: -n per connection, rounded up.
pub fn requests_sent(workload: Workload<'_>) -> u64 {
    per_connection(workload) * u64::from(CLIENTS)
}

fn per_connection(workload: Workload<'_>) -> u64 {
    workload.requests.div_ceil(u64::from(CLIENTS)).max(1)
}

/// Where a generator writes its JSON: a file of this process's own, removed after.
pub fn json_path(client: Client) -> PathBuf {
    std::env::temp_dir().join(format!(
        "holdfast-bench-compare-{}-{}.json",
        std::process::id(),
        client.title()
    ))
}

/// The report `holdfast-bench run --json-out-file` wrote.
pub fn read_holdfast_bench(text: &str) -> Result<RunReport, String> {
    serde_json::from_str(text).map_err(|e| format!("unreadable holdfast-bench JSON: {e}"))
}

/// Ops/s, p50 and p99 (ms) of all commands of a holdfast-bench run.
pub fn totals_of(report: &RunReport) -> Result<(f64, f64, f64), String> {
    let totals = report
        .totals()
        .ok_or("holdfast-bench JSON has no Totals row")?;
    let percentile = |key: &str| {
        totals.percentiles_ms.get(key).copied().ok_or_else(|| {
            format!("holdfast-bench JSON has no {key} (run with --print-percentiles 50,99)")
        })
    };
    Ok((
        totals.ops_per_sec,
        percentile("p50.00")?,
        percentile("p99.00")?,
    ))
}

/// Ops/s, p50 and p99 (ms) of all commands from `holdfast-bench run --json-out-file`.
pub fn parse_holdfast_bench(text: &str) -> Result<(f64, f64, f64), String> {
    totals_of(&read_holdfast_bench(text)?)
}

/// Ops/s, p50 and p99 (ms) from memtier_benchmark 2.x's `--json-out-file`:
/// `"ALL STATS" → "Totals" → "Ops/sec"` and `"Percentile Latencies" → "p50.00"`.
pub fn parse_memtier(text: &str) -> Result<(f64, f64, f64), String> {
    let json: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("unreadable memtier JSON: {e}"))?;
    let totals = &json["ALL STATS"]["Totals"];
    let number = |value: &serde_json::Value, what: &str| {
        value
            .as_f64()
            .ok_or_else(|| format!("memtier JSON has no number at ALL STATS/Totals/{what}"))
    };
    let percentiles = &totals["Percentile Latencies"];
    Ok((
        number(&totals["Ops/sec"], "Ops/sec")?,
        number(&percentiles["p50.00"], "Percentile Latencies/p50.00")?,
        number(&percentiles["p99.00"], "Percentile Latencies/p99.00")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_carry_the_paper_workload() {
        let workload = Workload {
            ratio: "1:4",
            pipeline: 16,
            requests: 1_000_050,
        };
        let line = command(
            Client::HoldfastBench,
            Path::new("/x/holdfast-bench"),
            (Path::new("/usr/bin/taskset"), Some(&[0])),
            7000,
            workload,
            Path::new("/tmp/o.json"),
        )
        .to_string();
        assert!(
            line.starts_with("/usr/bin/taskset -c 0 /x/holdfast-bench run -s 127.0.0.1 -p 7000"),
            "{line}"
        );
        for part in [
            "-c 100 ",
            "--pipeline 16 ",
            "-d 100 ",
            "--ratio 1:4 ",
            "--key-maximum 1000000 ",
            "-n 10001 ",
        ] {
            assert!(line.contains(part), "{part:?} in {line}");
        }
        let memtier = command(
            Client::Memtier,
            Path::new("memtier_benchmark"),
            (Path::new("taskset"), None),
            7000,
            workload,
            Path::new("/tmp/o.json"),
        )
        .to_string();
        assert!(memtier.starts_with("memtier_benchmark -s"), "{memtier}");
        assert!(memtier.ends_with("--hide-histogram"), "{memtier}");
    }

    #[test]
    fn reads_memtier_json() {
        let text = r#"{"configuration": {}, "ALL STATS": {"Sets": {},
            "Totals": {"Count": 10, "Ops/sec": 123456.5, "Latency": 0.8,
                       "Percentile Latencies": {"p50.00": 0.751, "p99.00": 1.903}}}}"#;
        assert_eq!(parse_memtier(text), Ok((123456.5, 0.751, 1.903)));
        assert!(parse_memtier(r#"{"ALL STATS": {"Totals": {"Ops/sec": 1}}}"#).is_err());
        assert!(parse_memtier("not json").is_err());
    }

    #[test]
    fn reads_holdfast_bench_json_and_needs_its_percentiles() {
        let report = |percentiles: &str| {
            format!(
                r#"{{"label": "x", "configuration": {{}}, "duration_secs": 1.0,
                "all_stats": [{{"name": "Totals", "count": 5, "ops_per_sec": 5.0,
                "hits_per_sec": null, "misses_per_sec": null, "errors": 0,
                "avg_latency_ms": 1.0, "min_latency_ms": 1.0, "max_latency_ms": 1.0,
                "kb_per_sec": 1.0, "percentiles_ms": {percentiles}, "spectrum": []}}],
                "timeline": [], "generator_cpu": {{"thread_core_fractions": [0.5],
                "total_cores": 0.5}}}}"#
            )
        };
        assert_eq!(
            parse_holdfast_bench(&report(r#"{"p50.00": 0.5, "p99.00": 2.5}"#)),
            Ok((5.0, 0.5, 2.5))
        );
        assert!(parse_holdfast_bench(&report(r#"{"p50.00": 0.5}"#)).is_err());
    }
}

//! redis-benchmark with the workload of the MemoryDB paper (100 clients, 100-byte values,
//! keys drawn from a million), run against one server; its `--csv` output parsed.

use super::cpu;
use super::error::Error;
use super::servers::Tools;
use crate::command_line::CommandLine;
use std::io::Read;
use std::process::{Child, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Concurrent connections (-c).
pub const CLIENTS: u32 = 100;
/// Value size in bytes (-d); the memory measurement loads values of the same size.
pub const VALUE_BYTES: usize = 100;
/// Keys are `key:` plus a random number below this (-r).
pub const KEYSPACE: u64 = 1_000_000;
/// A run that takes longer than this is stuck (a server stopped answering); it is
/// killed and reported rather than hanging the comparison.
const RUN_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// One line of `redis-benchmark --csv` output. Latencies are in milliseconds.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub test: String,
    pub rps: f64,
    pub avg_ms: f64,
    pub min_ms: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The columns redis-benchmark 7.0 prints, in the order we store them.
const COLUMNS: [&str; 8] = [
    "test",
    "rps",
    "avg_latency_ms",
    "min_latency_ms",
    "p50_latency_ms",
    "p95_latency_ms",
    "p99_latency_ms",
    "max_latency_ms",
];

fn split_csv_line(line: &str) -> Vec<&str> {
    line.split(',')
        .map(|field| field.trim().trim_matches('"'))
        .collect()
}

/// Parses `--csv` output. Columns are found by header name, so a future redis-benchmark
/// that adds or reorders columns still parses; lines that are not quoted CSV (warnings)
/// are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<Row>, String> {
    let mut lines = text.lines().filter(|line| line.starts_with('"'));
    let header = lines
        .next()
        .ok_or_else(|| format!("no CSV header in redis-benchmark output: {text:?}"))?;
    let header = split_csv_line(header);
    let positions = COLUMNS
        .iter()
        .map(|name| {
            header
                .iter()
                .position(|h| h == name)
                .ok_or_else(|| format!("redis-benchmark CSV has no {name:?} column: {header:?}"))
        })
        .collect::<Result<Vec<usize>, String>>()?;
    lines.map(|line| parse_row(line, &positions)).collect()
}

fn parse_row(line: &str, positions: &[usize]) -> Result<Row, String> {
    let fields = split_csv_line(line);
    let text = |column: usize| -> Result<&str, String> {
        fields
            .get(positions[column])
            .copied()
            .ok_or_else(|| format!("short redis-benchmark CSV line: {line:?}"))
    };
    let number = |column: usize| -> Result<f64, String> {
        let raw = text(column)?;
        raw.parse()
            .map_err(|_| format!("{} is not a number in {line:?}", COLUMNS[column]))
    };
    Ok(Row {
        test: text(0)?.to_string(),
        rps: number(1)?,
        avg_ms: number(2)?,
        min_ms: number(3)?,
        p50_ms: number(4)?,
        p95_ms: number(5)?,
        p99_ms: number(6)?,
        max_ms: number(7)?,
    })
}

/// What one redis-benchmark invocation should do.
#[derive(Clone, Copy, Debug)]
pub struct Workload<'a> {
    /// `-t` list, e.g. "set" or "set,get".
    pub tests: &'a str,
    pub pipeline: u32,
    pub requests: u64,
}

/// The exact redis-benchmark command for `workload` against 127.0.0.1:`port`.
pub fn command(
    tools: &Tools,
    client_cpus: Option<&[usize]>,
    port: u16,
    workload: Workload<'_>,
) -> CommandLine {
    CommandLine::new(&tools.redis_benchmark)
        .args(["-h".to_string(), "127.0.0.1".to_string()])
        .args(["-p".to_string(), port.to_string()])
        .args(["-c".to_string(), CLIENTS.to_string()])
        .args(["-d".to_string(), VALUE_BYTES.to_string()])
        .args(["-r".to_string(), KEYSPACE.to_string()])
        .args(["-t", workload.tests])
        .args(["-n".to_string(), workload.requests.to_string()])
        .arg("--csv")
        .args(["-P".to_string(), workload.pipeline.to_string()])
        .pinned(&tools.taskset, client_cpus)
}

/// The result of one invocation, and what it cost the client.
#[derive(Clone, Debug)]
pub struct Run {
    pub rows: Vec<Row>,
    /// CPU seconds redis-benchmark used (user + system).
    pub client_cpu_secs: f64,
    pub wall_secs: f64,
}

/// Runs `command` to completion and parses its output.
pub fn run(command: &CommandLine) -> Result<Run, Error> {
    let finished = run_client(command)?;
    let rows = parse_csv(&finished.stdout).map_err(|e| Error::Benchmark {
        command: command.to_string(),
        detail: format!("{e}; stderr: {}", finished.stderr.trim()),
    })?;
    Ok(Run {
        rows,
        client_cpu_secs: finished.client_cpu_secs,
        wall_secs: finished.wall_secs,
    })
}

/// A load generator that ran to completion: its output and what it cost.
#[derive(Clone, Debug)]
pub struct Finished {
    pub stdout: String,
    pub stderr: String,
    /// CPU seconds the generator used (user + system).
    pub client_cpu_secs: f64,
    pub wall_secs: f64,
}

/// Runs one load generator (redis-benchmark, holdfast-bench, memtier_benchmark) to
/// completion, measuring its CPU time; a failed exit is an error with its stderr.
pub fn run_client(command: &CommandLine) -> Result<Finished, Error> {
    let failed = |detail: String| Error::Benchmark {
        command: command.to_string(),
        detail,
    };
    let cpu_before = cpu::reaped_children_cpu_secs();
    let started = Instant::now();
    let mut child = command
        .to_command()
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Error::io(format!("starting {command}")))?;
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());
    let status = wait_with_timeout(&mut child).map_err(failed)?;
    let wall_secs = started.elapsed().as_secs_f64();
    let client_cpu_secs = cpu::reaped_children_cpu_secs() - cpu_before;
    let (stdout, stderr) = (join(stdout), join(stderr));
    if !status.success() {
        return Err(failed(format!("{status}; stderr: {}", stderr.trim())));
    }
    Ok(Finished {
        stdout,
        stderr,
        client_cpu_secs,
        wall_secs,
    })
}

/// Reads a pipe to its end on a thread, so a chatty child can never block on a full pipe.
fn drain(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

fn join(handle: JoinHandle<String>) -> String {
    handle.join().unwrap_or_default()
}

/// Waits for (and reaps) `child`, killing it after [`RUN_TIMEOUT`].
fn wait_with_timeout(child: &mut Child) -> Result<std::process::ExitStatus, String> {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Ok(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "still running after {RUN_TIMEOUT:?}; killed (did the server stop answering?)"
                ));
            }
            Err(e) => return Err(format!("waiting for the load generator: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\
\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n\
\"SET\",\"60240.96\",\"1.148\",\"0.200\",\"0.951\",\"2.047\",\"5.095\",\"7.639\"\n\
\"GET\",\"58823.53\",\"1.111\",\"0.224\",\"0.991\",\"1.775\",\"4.663\",\"5.655\"\n";

    #[test]
    fn parses_redis_benchmark_7_csv() {
        let rows = parse_csv(SAMPLE).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(
            rows[0],
            Row {
                test: "SET".into(),
                rps: 60240.96,
                avg_ms: 1.148,
                min_ms: 0.2,
                p50_ms: 0.951,
                p95_ms: 2.047,
                p99_ms: 5.095,
                max_ms: 7.639,
            }
        );
        assert_eq!(rows[1].test, "GET");
        assert_eq!(rows[1].p99_ms, 4.663);
    }

    #[test]
    fn finds_columns_by_name_and_skips_warnings() {
        let text = "WARNING: Could not fetch server CONFIG\n\
                    \"rps\",\"test\",\"extra\",\"p99_latency_ms\",\"p50_latency_ms\",\
                    \"avg_latency_ms\",\"min_latency_ms\",\"p95_latency_ms\",\"max_latency_ms\"\n\
                    \"1000.5\",\"GET\",\"x\",\"9\",\"5\",\"6\",\"1\",\"8\",\"10\"\n";
        let rows = parse_csv(text).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].test, "GET");
        assert_eq!(rows[0].rps, 1000.5);
        assert_eq!((rows[0].p50_ms, rows[0].p99_ms), (5.0, 9.0));
    }

    #[test]
    fn rejects_output_it_cannot_read() {
        assert!(parse_csv("").is_err());
        assert!(parse_csv("SET: 1000 requests per second\n").is_err());
        let no_p99 = "\"test\",\"rps\"\n\"SET\",\"1\"\n";
        assert!(parse_csv(no_p99).unwrap_err().contains("avg_latency_ms"));
        let short = SAMPLE.lines().next().unwrap().to_string() + "\n\"SET\",\"1\"\n";
        assert!(parse_csv(&short).unwrap_err().contains("short"));
        let garbled = SAMPLE.replace("60240.96", "fast");
        assert!(parse_csv(&garbled).unwrap_err().contains("rps"));
    }

    #[test]
    fn header_only_means_no_rows() {
        let header = SAMPLE.lines().next().unwrap();
        assert_eq!(parse_csv(header).unwrap(), Vec::<Row>::new());
    }

    #[test]
    fn command_is_the_paper_workload() {
        let tools = Tools {
            redis_server: "redis-server".into(),
            redis_benchmark: "redis-benchmark".into(),
            taskset: "taskset".into(),
            holdfast: "holdfast-server".into(),
            data_dir: "/tmp".into(),
            generators: Vec::new(),
            skipped: Vec::new(),
        };
        let workload = Workload {
            tests: "set",
            pipeline: 16,
            requests: 5_000_000,
        };
        assert_eq!(
            command(&tools, Some(&[0]), 7000, workload).to_string(),
            "taskset -c 0 redis-benchmark -h 127.0.0.1 -p 7000 -c 100 -d 100 -r 1000000 \
             -t set -n 5000000 --csv -P 16"
        );
    }
}

//! `holdfast-bench run` against a tiny in-test RESP server whose reply delays are known:
//! the reported percentiles must match the injected latencies, and open-loop mode must
//! report a stall that closed-loop mode hides.

mod common;

use common::{read_command, run};
use holdfast_bench::run::report::RunReport;
use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long the server waits before answering request number `n` (0-based, counted
/// over all connections).
type Delay = dyn Fn(u64) -> Duration + Send + Sync;

/// INFO as a Holdfast server running with `--durability local` answers it (in part).
const INFO: &[u8] = b"$42\r\n# Server\r\nholdfast_durability:local\r\nx:y\r\n\r\n";

/// A RESP server on a free port: answers GET with a null (a miss), INFO with [`INFO`]
/// and anything else with +OK, each after `delay`. Its threads end with the test process.
fn serve(delay: Arc<Delay>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let served = Arc::new(AtomicU64::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let (delay, served) = (delay.clone(), served.clone());
            std::thread::spawn(move || answer(stream.unwrap(), &*delay, &served));
        }
    });
    port
}

fn answer(stream: TcpStream, delay: &Delay, served: &AtomicU64) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(args) = read_command(&mut reader) {
        std::thread::sleep(delay(served.fetch_add(1, Ordering::Relaxed)));
        let reply: &[u8] = if args[0].eq_ignore_ascii_case(b"GET") {
            b"$-1\r\n"
        } else if args[0].eq_ignore_ascii_case(b"INFO") {
            INFO
        } else {
            b"+OK\r\n"
        };
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

fn percentile_ms(report: &RunReport, kind: &str, key: &str) -> f64 {
    let stats = report.all_stats.iter().find(|s| s.name == kind).unwrap();
    stats.percentiles_ms[key]
}

/// The histogram's relative precision (3 significant digits).
const PRECISION: f64 = 0.001;
/// What a loaded 2-core machine may add to an injected delay: sleep overshoot, loopback,
/// scheduling. Only ever added, so the lower bounds stay at histogram precision.
const OVERHEAD_MS: f64 = 3.0;

#[test]
fn percentiles_match_injected_latencies() {
    // Every tenth request takes 20 ms, the others 2 ms: p50 is 2 ms, p95 and p99 20 ms.
    let port = serve(Arc::new(|n| {
        Duration::from_millis(if n % 10 == 9 { 20 } else { 2 })
    }));
    let report = run(
        port,
        "percentiles",
        &[
            "-t",
            "1",
            "-c",
            "1",
            "-n",
            "300",
            "--ratio",
            "1:0",
            "--print-percentiles",
            "50,95,99",
        ],
    );
    let sets = report.all_stats.iter().find(|s| s.name == "Sets").unwrap();
    assert_eq!(sets.count, 300);
    for (key, injected_ms) in [("p50.00", 2.0), ("p95.00", 20.0), ("p99.00", 20.0)] {
        let got = percentile_ms(&report, "Sets", key);
        assert!(
            got >= injected_ms * (1.0 - PRECISION) && got <= injected_ms + OVERHEAD_MS,
            "{key}: reported {got} ms for an injected {injected_ms} ms"
        );
    }
}

#[test]
fn open_loop_reports_the_stall_closed_loop_hides() {
    // Request 300 stalls the server for 400 ms; all others are answered at once.
    let stall = Arc::new(|n| Duration::from_millis(if n == 300 { 400 } else { 0 }));
    let common = ["-t", "1", "-c", "1", "--ratio", "1:0", "--test-time", "3"];
    let closed = run(serve(stall.clone()), "closed", &common);
    let open_args = [&common[..], &["--rate", "500"]].concat();
    let open = run(serve(stall), "open", &open_args);

    // Closed loop: one slow request among thousands; the tail does not show it.
    let closed_totals = closed.totals().unwrap();
    assert!(closed_totals.max_latency_ms >= 400.0 * (1.0 - PRECISION));
    assert!(
        percentile_ms(&closed, "Totals", "p99.00") < 50.0,
        "closed loop p99 {}",
        percentile_ms(&closed, "Totals", "p99.00")
    );
    // Open loop at 500/s: the ~200 requests due during the stall waited behind it, and
    // their latency from the intended send time says so: over 6% of 1500 requests
    // exceed 100 ms, so p99 is well into the stall.
    let open_p99 = percentile_ms(&open, "Totals", "p99.00");
    assert!(open_p99 >= 300.0, "open loop p99 {open_p99}");
    let open_count = open.totals().unwrap().count;
    assert!(
        (1300..=1600).contains(&open_count),
        "{open_count} requests at 500/s for 3 s"
    );
}

#[test]
fn command_types_are_counted_separately_with_misses() {
    let port = serve(Arc::new(|_| Duration::ZERO));
    let report = run(
        port,
        "commands",
        &[
            "-t",
            "2",
            "-c",
            "3",
            "-n",
            "200",
            "--pipeline",
            "4",
            "--command",
            "SET __key__ __data__",
            "--command-ratio",
            "1",
            "--command",
            "GET __key__",
            "--command-ratio",
            "3",
            "--protocol",
            "resp2",
        ],
    );
    let count = |name: &str| {
        report
            .all_stats
            .iter()
            .find(|s| s.name == name)
            .unwrap()
            .count
    };
    assert_eq!(count("Totals"), 2 * 3 * 200);
    assert_eq!(count("SET") + count("GET"), count("Totals"));
    let gets = report.all_stats.iter().find(|s| s.name == "GET").unwrap();
    assert!(count("GET") > count("SET"));
    assert_eq!(
        gets.hits_per_sec,
        Some(0.0),
        "every GET is answered with a null"
    );
    assert!(gets.misses_per_sec.unwrap() > 0.0);
    assert_eq!(report.configuration["durability"], "local");
    assert!(
        report.label.ends_with("[durability local]"),
        "{}",
        report.label
    );
}

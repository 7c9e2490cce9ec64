//! The Markdown report of a comparison: what ran where (date, machine, versions, exact
//! commands), the median of each figure over the rounds, and Holdfast/Redis ratios.
//!
//! Ratios are Holdfast divided by Redis for every figure, so above 1 is better for
//! ops/s and worse for latency, CPU and memory.

use super::cpu::{CLIENT_SATURATED_FRACTION, IDLE_FRACTION};
use super::generators::{Client, MIXES};
use super::memory::{self, Memory};
use super::servers::Kind;
use super::{Report, Sample, Table, TESTS};
use crate::stats::{median, range, ratio};
use std::fmt::Write;

/// Text shown where a figure could not be measured.
const NOT_AVAILABLE: &str = "n/a";

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    header(report, &mut out);
    for table in &report.tables {
        benchmark_table(report, table, &mut out);
        generators_table(report, table, &mut out);
    }
    if let Some(memory) = &report.memory {
        memory_table(report, memory, &mut out);
    }
    warnings(report, &mut out);
    commands(report, &mut out);
    out
}

fn header(report: &Report, out: &mut String) {
    let machine = &report.machine;
    let _ = writeln!(out, "# Holdfast vs Redis: `holdfast-bench compare`\n");
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| date | {} |", utc_date_time(report.unix_secs));
    let _ = writeln!(
        out,
        "| machine | {} CPUs (nproc), {}, Linux {} |",
        machine.cpus, machine.cpu_model, machine.kernel
    );
    for (kind, version) in &report.versions {
        let _ = writeln!(out, "| {} | {} |", kind.title(), cell(version));
    }
    let pipelines: Vec<String> = report.pipelines.iter().map(|p| format!("-P {p}")).collect();
    let _ = writeln!(
        out,
        "| workload | redis-benchmark -c {} -d {} -r {}: SET, then GET, at {} |",
        super::redis_benchmark::CLIENTS,
        report.value_bytes,
        super::redis_benchmark::KEYSPACE,
        pipelines.join(" and ")
    );
    let order: Vec<&str> = report.servers.iter().map(|k| k.title()).collect();
    let _ = writeln!(
        out,
        "| rounds | {}, each starting a fresh server of each kind in turn ({}); medians shown |",
        report.repeat,
        order.join(", then ")
    );
    let _ = writeln!(out, "| invoked as | `{}` |\n", cell(&report.invocation));
}

/// Escapes the one character that would end a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn both_servers(report: &Report) -> bool {
    report.servers.contains(&Kind::Redis) && report.servers.contains(&Kind::Holdfast)
}

/// A column of the benchmark table: a name and how to read and print it from a sample.
struct Metric {
    name: &'static str,
    value: fn(&Sample) -> f64,
    format: fn(f64) -> String,
}

const METRICS: [Metric; 4] = [
    Metric {
        name: "ops/s",
        value: |s| s.rps,
        format: format_rate,
    },
    Metric {
        name: "p50 ms",
        value: |s| s.p50_ms,
        format: |v| format!("{v:.3}"),
    },
    Metric {
        name: "p99 ms",
        value: |s| s.p99_ms,
        format: |v| format!("{v:.3}"),
    },
    Metric {
        name: "CPU s/M ops",
        value: |s| s.server_cpu_secs_per_million,
        format: |v| format!("{v:.2}"),
    },
];

/// The median of `value` over the rounds of one server, depth and test.
fn median_of(
    table: &Table,
    kind: Kind,
    pipeline: u32,
    test: &str,
    value: fn(&Sample) -> f64,
) -> Option<f64> {
    median(
        &samples_of(table, kind, pipeline, test)
            .map(value)
            .collect::<Vec<_>>(),
    )
}

fn samples_of<'a>(
    table: &'a Table,
    kind: Kind,
    pipeline: u32,
    test: &'a str,
) -> impl Iterator<Item = &'a Sample> {
    table
        .samples
        .iter()
        .filter(move |s| s.kind == kind && s.pipeline == pipeline && s.test == test)
}

fn benchmark_table(report: &Report, table: &Table, out: &mut String) {
    let _ = writeln!(out, "## {}\n", table.setup.title);
    let sizes: Vec<String> = table
        .requests
        .iter()
        .map(|(p, n)| format!("-P {p}: {n}"))
        .collect();
    let sizing = if table.calibrated {
        format!(
            "sized by a calibration run so the faster server takes about {} s per test",
            report.target_secs
        )
    } else {
        "given with -n".to_string()
    };
    let _ = writeln!(out, "Requests per test: {} ({sizing}).\n", sizes.join(", "));
    let mut heading = vec!["test".to_string(), "-P".to_string()];
    for metric in &METRICS {
        heading.extend(
            report
                .servers
                .iter()
                .map(|k| format!("{} {}", k.title(), metric.name)),
        );
        if both_servers(report) {
            heading.push("H/R".to_string());
        }
    }
    heading.extend(
        report
            .servers
            .iter()
            .map(|k| format!("client CPU ({})", k.title())),
    );
    row(out, &heading);
    let align: Vec<String> = (0..heading.len())
        .map(|i| if i < 2 { "---" } else { "---:" }.to_string())
        .collect();
    row(out, &align);
    for &pipeline in &report.pipelines {
        for (_, test) in TESTS {
            row(out, &benchmark_row(report, table, pipeline, test));
        }
    }
    out.push('\n');
    rounds_table(report, table, out);
}

fn benchmark_row(report: &Report, table: &Table, pipeline: u32, test: &str) -> Vec<String> {
    let mut cells = vec![test.to_string(), pipeline.to_string()];
    for metric in &METRICS {
        let of = |kind| median_of(table, kind, pipeline, test, metric.value);
        cells.extend(
            report
                .servers
                .iter()
                .map(|&k| format_or_na(of(k), metric.format)),
        );
        if both_servers(report) {
            cells.push(format_ratio(ratio(of(Kind::Holdfast), of(Kind::Redis))));
        }
    }
    let client = |s: &Sample| s.client_core_fraction;
    cells.extend(report.servers.iter().map(|&k| {
        format_or_na(median_of(table, k, pipeline, test, client), |v| {
            format!("{:.0}%", v * 100.0)
        })
    }));
    cells
}

/// The generators side by side on the same servers: per server, workload and depth,
/// each generator's median ops/s, p50, p99 and its own CPU use. redis-benchmark has no
/// 80/20 mix, so its cells there are n/a.
fn generators_table(report: &Report, table: &Table, out: &mut String) {
    if report.generators.is_empty() && report.skipped.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Load generators side by side: {}
",
        table.setup.title
    );
    for line in &report.skipped {
        let _ = writeln!(out, "- {line}\n");
    }
    if report.generators.is_empty() {
        return;
    }
    let clients: Vec<Client> = std::iter::once(Client::RedisBenchmark)
        .chain(report.generators.iter().copied())
        .collect();
    let mut heading = vec!["server".to_string(), "test".to_string(), "-P".to_string()];
    for client in &clients {
        for metric in ["ops/s", "p50 ms", "p99 ms", "client CPU"] {
            heading.push(format!("{} {metric}", client.title()));
        }
    }
    row(out, &heading);
    let align: Vec<String> = (0..heading.len())
        .map(|i| if i < 3 { "---" } else { "---:" }.to_string())
        .collect();
    row(out, &align);
    for &kind in &report.servers {
        for &pipeline in &report.pipelines {
            for (test, _) in MIXES {
                let mut cells = vec![
                    kind.title().to_string(),
                    test.to_string(),
                    pipeline.to_string(),
                ];
                for &client in &clients {
                    cells.extend(generator_cells(table, kind, client, pipeline, test));
                }
                row(out, &cells);
            }
        }
    }
    out.push('\n');
}

/// Median ops/s, p50, p99 and client CPU of one generator's runs of one cell.
fn generator_cells(
    table: &Table,
    kind: Kind,
    client: Client,
    pipeline: u32,
    test: &str,
) -> Vec<String> {
    let runs: Vec<[f64; 4]> = if client == Client::RedisBenchmark {
        samples_of(table, kind, pipeline, test)
            .map(|s| [s.rps, s.p50_ms, s.p99_ms, s.client_core_fraction])
            .collect()
    } else {
        table
            .generators
            .iter()
            .filter(|g| {
                g.kind == kind && g.client == client && g.pipeline == pipeline && g.test == test
            })
            .map(|g| {
                let f = &g.figures;
                [f.rps, f.p50_ms, f.p99_ms, f.client_core_fraction]
            })
            .collect()
    };
    let median_at = |i: usize| median(&runs.iter().map(|r| r[i]).collect::<Vec<_>>());
    let formats: [fn(f64) -> String; 4] = [
        format_rate,
        |v| format!("{v:.3}"),
        |v| format!("{v:.3}"),
        |v| format!("{:.0}%", v * 100.0),
    ];
    formats
        .iter()
        .enumerate()
        .map(|(i, format)| format_or_na(median_at(i), *format))
        .collect()
}

/// Every round's ops/s, so a reader can see the spread behind each median.
fn rounds_table(report: &Report, table: &Table, out: &mut String) {
    let _ = writeln!(out, "<details><summary>ops/s in each round</summary>\n");
    let mut heading = vec!["server".to_string(), "test".into(), "-P".into()];
    heading.extend((1..=report.repeat).map(|r| format!("round {r}")));
    heading.push("min–max".into());
    row(out, &heading);
    row(out, &vec!["---".to_string(); heading.len()]);
    for &kind in &report.servers {
        for &pipeline in &report.pipelines {
            for (_, test) in TESTS {
                let rates: Vec<f64> = samples_of(table, kind, pipeline, test)
                    .map(|s| s.rps)
                    .collect();
                let mut cells = vec![
                    kind.title().to_string(),
                    test.to_string(),
                    pipeline.to_string(),
                ];
                cells.extend(rates.iter().map(|&r| format_rate(r)));
                cells.push(range(&rates).map_or(NOT_AVAILABLE.into(), |(lo, hi)| {
                    format!("{}–{}", format_rate(lo), format_rate(hi))
                }));
                row(out, &cells);
            }
        }
    }
    let _ = writeln!(out, "\n</details>\n");
}

fn memory_table(report: &Report, memory: &[Memory], out: &mut String) {
    let keys = memory.first().map_or(0, |m| m.keys);
    let _ = writeln!(
        out,
        "## Memory: {} keys, {}-byte values\n",
        format_rate(keys as f64),
        report.value_bytes
    );
    let both = both_servers(report);
    let mut heading = vec![String::new()];
    heading.extend(memory.iter().map(|m| m.kind.title().to_string()));
    if both {
        heading.push("H/R".into());
    }
    row(out, &heading);
    row(out, &vec!["---".to_string(); heading.len()]);
    let mut notes = Vec::new();
    let figures = [
        MemoryFigure {
            name: "used_memory (INFO memory)",
            value: |m| m.used_memory_bytes.clone().map(|b| b as f64),
            format: format_mib,
        },
        MemoryFigure {
            name: "VmRSS after load",
            value: |m| Ok(m.rss_loaded_bytes as f64),
            format: format_mib,
        },
        MemoryFigure {
            name: "VmRSS before load",
            value: |m| Ok(m.rss_empty_bytes as f64),
            format: format_mib,
        },
        MemoryFigure {
            name: "VmRSS growth per key",
            value: |m| Ok(rss_growth_per_key(m)),
            format: |v| format!("{v:.0} B"),
        },
        MemoryFigure {
            name: "DBSIZE after load",
            value: |m| m.dbsize.clone().map(|n| n as f64),
            format: |v| format!("{v:.0}"),
        },
        MemoryFigure {
            name: "load time (pipelined SETs)",
            value: |m| Ok(m.load_secs),
            format: |v| format!("{v:.2} s"),
        },
    ];
    for figure in figures {
        let mut cells = vec![figure.name.to_string()];
        let values: Vec<Result<f64, String>> = memory.iter().map(figure.value).collect();
        for (m, v) in memory.iter().zip(&values) {
            cells.push(match v {
                Ok(v) => (figure.format)(*v),
                Err(reason) => {
                    notes.push(format!("{}: {reason}", m.kind.title()));
                    format!("{NOT_AVAILABLE} [{}]", notes.len())
                }
            });
        }
        if both {
            let of = |kind| {
                memory
                    .iter()
                    .zip(&values)
                    .find(|(m, _)| m.kind == kind)
                    .and_then(|(_, v)| v.clone().ok())
            };
            cells.push(format_ratio(ratio(of(Kind::Holdfast), of(Kind::Redis))));
        }
        row(out, &cells);
    }
    out.push('\n');
    for (i, note) in notes.iter().enumerate() {
        let _ = writeln!(out, "[{}] {}  ", i + 1, cell(note));
    }
    if !notes.is_empty() {
        out.push('\n');
    }
}

/// A row of the memory table: a figure, or why it is not available, and how to print it.
struct MemoryFigure {
    name: &'static str,
    value: fn(&Memory) -> Result<f64, String>,
    format: fn(f64) -> String,
}

/// RSS the loaded keys added, per key.
fn rss_growth_per_key(m: &Memory) -> f64 {
    m.rss_loaded_bytes.saturating_sub(m.rss_empty_bytes) as f64 / m.keys.max(1) as f64
}

/// Figures a reader should not take at face value: where redis-benchmark was busy
/// enough to set the pace, or where neither side was busy at all. One line per table
/// and kind of doubt, naming the rows.
fn warnings(report: &Report, out: &mut String) {
    let mut lines = Vec::new();
    for table in &report.tables {
        let cells = cells_of(report, table);
        let saturated: Vec<String> = cells.iter().filter_map(saturated_client).collect();
        if !saturated.is_empty() {
            lines.push(format!(
                "- {}: redis-benchmark used more than {:.0}% of a core in {}; the client \
                 may have set the pace, so those ops/s are lower bounds for the server.",
                table.setup.title,
                CLIENT_SATURATED_FRACTION * 100.0,
                saturated.join(", ")
            ));
        }
        let idle: Vec<String> = cells.iter().filter_map(nothing_busy).collect();
        if !idle.is_empty() {
            lines.push(format!(
                "- {}: neither server nor client was CPU-bound in {}; the machine was busy \
                 with other work or the tests waited on the network: rerun on a quiet \
                 machine before trusting those rows.",
                table.setup.title,
                idle.join(", ")
            ));
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "## Warnings\n\n{}\n", lines.join("\n"));
    }
}

/// One server, depth and test of one table.
struct Cell<'a> {
    table: &'a Table,
    kind: Kind,
    pipeline: u32,
    test: &'a str,
}

fn cells_of<'a>(report: &Report, table: &'a Table) -> Vec<Cell<'a>> {
    let mut cells = Vec::new();
    for &kind in &report.servers {
        for &pipeline in &report.pipelines {
            for (_, test) in TESTS {
                cells.push(Cell {
                    table,
                    kind,
                    pipeline,
                    test,
                });
            }
        }
    }
    cells
}

impl Cell<'_> {
    fn values(&self, value: fn(&Sample) -> f64) -> Vec<f64> {
        samples_of(self.table, self.kind, self.pipeline, self.test)
            .map(value)
            .collect()
    }

    fn name(&self) -> String {
        format!("{} {} -P {}", self.kind.title(), self.test, self.pipeline)
    }
}

/// "Redis SET -P 16 (3 of 5 rounds, median 95%)" when the client ran above the limit.
fn saturated_client(cell: &Cell<'_>) -> Option<String> {
    let fractions = cell.values(|s| s.client_core_fraction);
    let saturated = fractions
        .iter()
        .filter(|&&f| f > CLIENT_SATURATED_FRACTION)
        .count();
    (saturated > 0).then(|| {
        format!(
            "{} ({saturated} of {} rounds, median {:.0}%)",
            cell.name(),
            fractions.len(),
            median(&fractions).unwrap_or(0.0) * 100.0
        )
    })
}

/// "Redis GET -P 1 (server 20%, client 30%)" when both sides' medians were low.
fn nothing_busy(cell: &Cell<'_>) -> Option<String> {
    let server = median(&cell.values(|s| s.server_core_fraction))?;
    let client = median(&cell.values(|s| s.client_core_fraction))?;
    (server < IDLE_FRACTION && client < IDLE_FRACTION).then(|| {
        format!(
            "{} (server {:.0}%, client {:.0}%)",
            cell.name(),
            server * 100.0,
            client * 100.0
        )
    })
}

fn commands(report: &Report, out: &mut String) {
    let _ = writeln!(
        out,
        "## Commands\n\nFirst round of each table; every server start picks a free port.\n"
    );
    for table in &report.tables {
        let _ = writeln!(out, "{}:\n\n```sh", table.setup.title);
        for command in &table.commands {
            let _ = writeln!(out, "{command}");
        }
        let _ = writeln!(out, "```\n");
    }
    if let Some(memory) = &report.memory {
        let _ = writeln!(
            out,
            "Memory: each server started fresh, then loaded over one connection with \
             pipelined `SET {} <{} bytes of 'x'>` (keys {}..{}, batches of 1000, every \
             reply checked to be +OK); used_memory from `INFO memory`, RSS from \
             /proc/PID/status VmRSS.\n\n```sh",
            memory::key(0).replace("000000000000", "%012d"),
            report.value_bytes,
            memory::key(0),
            memory::key(memory.first().map_or(1, |m| m.keys).saturating_sub(1)),
        );
        for m in memory {
            let _ = writeln!(out, "{}", m.command);
        }
        let _ = writeln!(out, "```");
    }
}

fn row(out: &mut String, cells: &[String]) {
    let _ = writeln!(out, "| {} |", cells.join(" | "));
}

fn format_or_na(value: Option<f64>, format: fn(f64) -> String) -> String {
    value.map_or_else(|| NOT_AVAILABLE.to_string(), format)
}

fn format_ratio(value: Option<f64>) -> String {
    format_or_na(value, |v| format!("{v:.2}"))
}

fn format_mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// A rate rounded to a whole number, with thousands separators: 1234567.8 -> "1,234,568".
pub fn format_rate(value: f64) -> String {
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    if value < -0.5 {
        grouped.insert(0, '-');
    }
    grouped
}

/// "YYYY-MM-DD HH:MM UTC" for seconds since the Unix epoch.
pub fn utc_date_time(unix_secs: u64) -> String {
    let (days, secs_of_day) = (unix_secs / 86_400, unix_secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60
    )
}

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::super::generators::Figures;
    use super::super::memory::Memory;
    use super::super::servers::Placement;
    use super::super::{GeneratorSample, Setup};
    use super::*;
    use crate::command_line::CommandLine;
    use crate::procfs::Machine;
    use std::collections::BTreeMap;

    #[test]
    fn dates_in_utc() {
        assert_eq!(utc_date_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_date_time(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_date_time(1_700_000_000), "2023-11-14 22:13 UTC");
        assert_eq!(utc_date_time(4_102_444_799), "2099-12-31 23:59 UTC");
    }

    #[test]
    fn rates_have_thousands_separators() {
        assert_eq!(format_rate(0.0), "0");
        assert_eq!(format_rate(999.4), "999");
        assert_eq!(format_rate(1000.0), "1,000");
        assert_eq!(format_rate(1_234_567.8), "1,234,568");
        assert_eq!(format_rate(-12_345.0), "-12,345");
    }

    fn sample(kind: Kind, test: &'static str, round: u32, rps: f64, cpu: f64) -> Sample {
        Sample {
            kind,
            pipeline: 1,
            test,
            round,
            rps,
            p50_ms: 1.0,
            p99_ms: 2.0,
            server_cpu_secs_per_million: cpu,
            server_core_fraction: 0.9,
            client_core_fraction: if kind == Kind::Holdfast { 0.95 } else { 0.5 },
        }
    }

    fn report() -> Report {
        let placement = Placement {
            cpus: vec![1],
            threads: 1,
        };
        let mut samples = Vec::new();
        let mut generators = Vec::new();
        for (round, (redis, holdfast)) in [(100.0, 150.0), (110.0, 90.0), (90.0, 160.0)]
            .into_iter()
            .enumerate()
        {
            let round = round as u32 + 1;
            for test in ["SET", "GET"] {
                samples.push(sample(Kind::Redis, test, round, redis, 10.0));
                samples.push(sample(Kind::Holdfast, test, round, holdfast, 5.0));
            }
            for kind in [Kind::Redis, Kind::Holdfast] {
                generators.push(GeneratorSample {
                    kind,
                    client: Client::HoldfastBench,
                    pipeline: 1,
                    test: "80/20",
                    round,
                    figures: Figures {
                        rps: 1000.0 * f64::from(round),
                        p50_ms: 0.5,
                        p99_ms: 1.5,
                        client_core_fraction: 0.25,
                    },
                });
            }
        }
        Report {
            unix_secs: 0,
            machine: Machine {
                cpus: 2,
                cpu_model: "Test CPU".into(),
                kernel: "6.0".into(),
            },
            invocation: "holdfast-bench compare".into(),
            versions: vec![(Kind::Redis, "Redis server v=7.0.15".into())],
            servers: vec![Kind::Redis, Kind::Holdfast],
            pipelines: vec![1],
            repeat: 3,
            target_secs: 6.0,
            tables: vec![Table {
                setup: Setup {
                    title: "One core each".into(),
                    redis: placement.clone(),
                    holdfast: placement,
                    client_cpus: Some(vec![0]),
                },
                requests: BTreeMap::from([(1, 1000)]),
                calibrated: false,
                samples,
                generators,
                commands: vec![CommandLine::new("redis-benchmark").arg("-P").arg("1")],
            }],
            memory: Some(vec![
                memory_of(Kind::Redis, Ok(100 << 20), Ok(1_000_000)),
                memory_of(
                    Kind::Holdfast,
                    Err("INFO memory: ERR unknown command 'INFO'".into()),
                    Err("DBSIZE: ERR unknown command 'DBSIZE'".into()),
                ),
            ]),
            value_bytes: 100,
            generators: vec![Client::HoldfastBench],
            skipped: vec!["memtier_benchmark skipped: not installed".into()],
        }
    }

    fn memory_of(kind: Kind, used: Result<u64, String>, dbsize: Result<u64, String>) -> Memory {
        Memory {
            kind,
            keys: 1_000_000,
            used_memory_bytes: used,
            dbsize,
            rss_empty_bytes: 10 << 20,
            rss_loaded_bytes: if kind == Kind::Redis {
                150 << 20
            } else {
                110 << 20
            },
            load_secs: 1.0,
            command: CommandLine::new("server"),
        }
    }

    #[test]
    fn benchmark_rows_show_medians_and_ratios() {
        let text = render(&report());
        // Medians: Redis 100, Holdfast 150; ratio 1.50; CPU 10 vs 5 -> 0.50.
        assert!(
            text.contains("| SET | 1 | 100 | 150 | 1.50 | 1.000 | 1.000 | 1.00 | 2.000 | 2.000 | 1.00 | 10.00 | 5.00 | 0.50 | 50% | 95% |"),
            "{text}"
        );
        assert!(
            text.contains("| Redis | GET | 1 | 100 | 110 | 90 | 90–110 |"),
            "{text}"
        );
    }

    #[test]
    fn generators_sit_side_by_side_with_their_cpu() {
        let text = render(&report());
        assert!(
            text.contains("- memtier_benchmark skipped: not installed"),
            "{text}"
        );
        let heading = text
            .lines()
            .find(|l| l.starts_with("| server | test | -P | redis-benchmark"))
            .expect("a generators table");
        assert!(heading.contains("| redis-benchmark ops/s |"), "{heading}");
        assert!(
            heading.contains("| holdfast-bench client CPU |"),
            "{heading}"
        );
        // redis-benchmark's SET from its samples; holdfast-bench ran only the mix here.
        assert!(
            text.contains(
                "| Redis | SET | 1 | 100 | 1.000 | 2.000 | 50% | n/a | n/a | n/a | n/a |"
            ),
            "{text}"
        );
        // Median of 1000, 2000, 3000 ops/s; redis-benchmark cannot run the mix.
        assert!(
            text.contains(
                "| Holdfast | 80/20 | 1 | n/a | n/a | n/a | n/a | 2,000 | 0.500 | 1.500 | 25% |"
            ),
            "{text}"
        );
    }

    #[test]
    fn missing_info_is_na_with_its_reason() {
        let text = render(&report());
        assert!(
            text.contains("| used_memory (INFO memory) | 100.0 MiB | n/a [1] | n/a |"),
            "{text}"
        );
        assert!(
            text.contains("[1] Holdfast: INFO memory: ERR unknown command 'INFO'"),
            "{text}"
        );
        assert!(
            text.contains("| DBSIZE after load | 1000000 | n/a [2] | n/a |"),
            "{text}"
        );
        // RSS growth: Redis 140 MiB, Holdfast 100 MiB over 1M keys.
        assert!(
            text.contains("| VmRSS after load | 150.0 MiB | 110.0 MiB | 0.73 |"),
            "{text}"
        );
        assert!(
            text.contains("| VmRSS growth per key | 147 B | 105 B | 0.71 |"),
            "{text}"
        );
    }

    #[test]
    fn saturated_client_is_warned_about() {
        let text = render(&report());
        assert!(
            text.contains(
                "- One core each: redis-benchmark used more than 90% of a core in \
                 Holdfast SET -P 1 (3 of 3 rounds, median 95%), \
                 Holdfast GET -P 1 (3 of 3 rounds, median 95%); the client"
            ),
            "{text}"
        );
        assert!(!text.contains("Redis SET -P 1 ("), "{text}");
    }

    #[test]
    fn idle_server_and_client_are_warned_about() {
        let mut report = report();
        assert!(!render(&report).contains("neither server nor client"));
        for s in &mut report.tables[0].samples {
            if s.kind == Kind::Redis && s.test == "GET" {
                (s.server_core_fraction, s.client_core_fraction) = (0.2, 0.3);
            }
        }
        let text = render(&report);
        assert!(
            text.contains(
                "- One core each: neither server nor client was CPU-bound in \
                 Redis GET -P 1 (server 20%, client 30%); the machine"
            ),
            "{text}"
        );
    }

    #[test]
    fn one_server_has_no_ratio_columns() {
        let mut report = report();
        report.servers = vec![Kind::Redis];
        report.memory = Some(vec![memory_of(Kind::Redis, Ok(1 << 20), Ok(1))]);
        let text = render(&report);
        assert!(!text.contains("H/R"), "{text}");
        assert!(
            text.contains("| SET | 1 | 100 | 1.000 | 2.000 | 10.00 | 50% |"),
            "{text}"
        );
    }
}

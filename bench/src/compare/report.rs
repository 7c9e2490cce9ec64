//! The Markdown report of a comparison: what ran where (date, machine, versions, exact
//! commands), the median of each figure over the rounds for every kind of server, and
//! ratios against the baseline kind.
//!
//! A ratio is the kind's figure divided by the baseline's, so above 1 is better for
//! ops/s and worse for latency, CPU and memory; the baseline's own rows show 1.00.

use super::cpu::{CLIENT_SATURATED_FRACTION, IDLE_FRACTION};
use super::generators::{Client, MIXES};
use super::memory::{self, Memory};
use super::servers::{Engine, Kind};
use super::{Report, Sample, Table};
use crate::stats::{median, range, ratio};
use std::fmt::Write;
use std::path::Path;

/// Text shown where a figure could not be measured.
const NOT_AVAILABLE: &str = "n/a";
/// Generators whose figures differ from redis-benchmark's by more than this fraction
/// do not agree (the issue's target).
const AGREEMENT_FRACTION: f64 = 0.10;

pub fn render(report: &Report) -> String {
    let mut out = String::new();
    header(report, &mut out);
    for table in &report.tables {
        setup_heading(report, table, &mut out);
        for client in clients(report) {
            matrix_table(report, table, client, &mut out);
        }
        agreement_table(report, table, &mut out);
        rounds_table(report, table, &mut out);
    }
    charts(report, &mut out);
    if let Some(memory) = &report.memory {
        memory_table(report, memory, &mut out);
    }
    warnings(report, &mut out);
    commands(report, &mut out);
    out
}

/// redis-benchmark, then the other generators that ran, in order.
fn clients(report: &Report) -> Vec<Client> {
    std::iter::once(Client::RedisBenchmark)
        .chain(report.generators.iter().copied())
        .collect()
}

/// The tests a client runs: redis-benchmark has no read/write mix.
fn tests_of(client: Client) -> &'static [(&'static str, &'static str)] {
    match client {
        Client::RedisBenchmark => &MIXES[..2],
        Client::HoldfastBench | Client::Memtier => &MIXES,
    }
}

fn header(report: &Report, out: &mut String) {
    let machine = &report.machine;
    let titles: Vec<&str> = report.servers.iter().map(|k| k.title()).collect();
    let _ = writeln!(out, "# {}: `holdfast-bench compare`\n", titles.join(" vs "));
    let _ = writeln!(out, "| | |\n|---|---|");
    let _ = writeln!(out, "| date | {} |", utc_date_time(report.unix_secs));
    let _ = writeln!(
        out,
        "| machine | {} CPUs (nproc), {}, Linux {} |",
        machine.cpus, machine.cpu_model, machine.kernel
    );
    for (engine, version) in &report.versions {
        let name = match engine {
            Engine::Redis => "redis-server",
            Engine::Holdfast => "holdfast-server",
        };
        let _ = writeln!(out, "| {name} | {} |", cell(version));
    }
    for kind in &report.servers {
        let _ = writeln!(out, "| {} | {} |", kind.title(), cell(kind.help));
    }
    let pipelines: Vec<String> = report.pipelines.iter().map(|p| format!("-P {p}")).collect();
    let _ = writeln!(
        out,
        "| workload | {} connections, {}-byte values, keys drawn from {}: SET, GET (and \
         80/20 GET/SET with memtier-style generators) at {} |",
        super::redis_benchmark::CLIENTS,
        report.value_bytes,
        format_rate(super::redis_benchmark::KEYSPACE as f64),
        pipelines.join(" and ")
    );
    let _ = writeln!(
        out,
        "| rounds | {}, each starting a fresh server of each kind in turn ({}); medians shown |",
        report.repeat,
        titles.join(", then ")
    );
    let baseline = report
        .baseline
        .map_or("none (one kind)".to_string(), |k| k.title().to_string());
    let _ = writeln!(out, "| ratios against | {baseline} |");
    let (dir, tmpfs) = &report.data_dir;
    if report.servers.iter().any(|k| k.persists) {
        let fs = if *tmpfs { " (tmpfs!)" } else { "" };
        let _ = writeln!(out, "| data directories under | `{}`{fs} |", dir.display());
    }
    let _ = writeln!(out, "| invoked as | `{}` |\n", cell(&report.invocation));
}

/// Escapes the one character that would end a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn setup_heading(report: &Report, table: &Table, out: &mut String) {
    let _ = writeln!(out, "## {}\n", table.setup.title);
    let sizes: Vec<String> = table
        .requests
        .iter()
        .map(|(p, n)| format!("-P {p}: {n}"))
        .collect();
    let sizing = if table.calibrated {
        format!(
            "sized by a calibration run so the fastest server takes about {} s per test",
            report.target_secs
        )
    } else {
        "given with -n".to_string()
    };
    let _ = writeln!(out, "Requests per test: {} ({sizing}).\n", sizes.join(", "));
}

/// The runs of one generator, kind, depth and test.
fn samples_of<'a>(
    table: &'a Table,
    client: Client,
    kind: Kind,
    pipeline: u32,
    test: &'a str,
) -> impl Iterator<Item = &'a Sample> {
    table.samples.iter().filter(move |s| {
        s.client == client && s.kind == kind && s.pipeline == pipeline && s.test == test
    })
}

/// A figure of a sample, and how to print it.
struct Metric {
    value: fn(&Sample) -> f64,
    format: fn(f64) -> String,
}

const RPS: Metric = Metric {
    value: |s| s.figures.rps,
    format: format_rate,
};
const P50: Metric = Metric {
    value: |s| s.figures.p50_ms,
    format: format_ms,
};
const P99: Metric = Metric {
    value: |s| s.figures.p99_ms,
    format: format_ms,
};
const SERVER_CPU: Metric = Metric {
    value: |s| s.server_cpu_secs_per_million,
    format: |v| format!("{v:.2}"),
};
const SERVER_CORE: Metric = Metric {
    value: |s| s.server_core_fraction,
    format: format_percent,
};
const CLIENT_CORE: Metric = Metric {
    value: |s| s.figures.client_core_fraction,
    format: format_percent,
};

/// One cell of a table: a generator's runs of one test on one kind at one depth.
#[derive(Clone, Copy)]
struct Cell<'a> {
    table: &'a Table,
    client: Client,
    kind: Kind,
    pipeline: u32,
    test: &'a str,
}

impl<'a> Cell<'a> {
    fn values(&self, value: fn(&Sample) -> f64) -> Vec<f64> {
        samples_of(self.table, self.client, self.kind, self.pipeline, self.test)
            .map(value)
            .collect()
    }

    fn median(&self, metric: &Metric) -> Option<f64> {
        median(&self.values(metric.value))
    }

    fn show(&self, metric: &Metric) -> String {
        format_or_na(self.median(metric), metric.format)
    }

    /// The same cell on another kind, or by another generator.
    fn on(self, kind: Kind) -> Cell<'a> {
        Cell { kind, ..self }
    }

    fn by(self, client: Client) -> Cell<'a> {
        Cell { client, ..self }
    }

    fn name(&self) -> String {
        format!(
            "{} {} -P {} by {}",
            self.kind.title(),
            self.test,
            self.pipeline,
            self.client.title()
        )
    }
}

/// One generator's figures for every test, depth and kind, with ratios to the baseline.
fn matrix_table(report: &Report, table: &Table, client: Client, out: &mut String) {
    if !table.samples.iter().any(|s| s.client == client) {
        return;
    }
    let _ = writeln!(out, "### Measured by {}\n", client.title());
    let base = report.baseline.map(|k| k.title()).unwrap_or_default();
    let mut heading: Vec<String> = ["test", "-P", "server", "ops/s"].map(String::from).into();
    let ratios = report.baseline.is_some();
    let ratio_heading = |what: &str| format!("{what} ÷ {base}");
    if ratios {
        heading.push(ratio_heading("ops/s"));
    }
    heading.extend(["p50 ms", "p99 ms"].map(String::from));
    if ratios {
        heading.push(ratio_heading("p99"));
    }
    heading.push("server CPU s/M ops".into());
    if ratios {
        heading.push(ratio_heading("CPU/op"));
    }
    heading.extend(["server busy", "client busy"].map(String::from));
    table_heading(out, &heading, 3);
    for &pipeline in &report.pipelines {
        for &(test, _) in tests_of(client) {
            for &kind in &report.servers {
                let cell = Cell {
                    table,
                    client,
                    kind,
                    pipeline,
                    test,
                };
                row(out, &matrix_row(report, cell));
            }
        }
    }
    out.push('\n');
}

fn matrix_row(report: &Report, cell: Cell<'_>) -> Vec<String> {
    let against = |metric: &Metric| {
        let base = report.baseline.map(|b| cell.on(b).median(metric));
        format_ratio(ratio(cell.median(metric), base.flatten()))
    };
    let ratios = report.baseline.is_some();
    let mut cells = vec![
        cell.test.to_string(),
        cell.pipeline.to_string(),
        cell.kind.title().to_string(),
        cell.show(&RPS),
    ];
    if ratios {
        cells.push(against(&RPS));
    }
    cells.extend([cell.show(&P50), cell.show(&P99)]);
    if ratios {
        cells.push(against(&P99));
    }
    cells.push(cell.show(&SERVER_CPU));
    if ratios {
        cells.push(against(&SERVER_CPU));
    }
    cells.extend([cell.show(&SERVER_CORE), cell.show(&CLIENT_CORE)]);
    cells
}

/// The generators side by side on the same servers: each one's median ops/s, p50, p99
/// and own CPU use, and the other generators' figures divided by redis-benchmark's
/// (agreement within 10% is the issue's target).
fn agreement_table(report: &Report, table: &Table, out: &mut String) {
    if report.generators.is_empty() && report.skipped.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "### Load generators side by side: {}\n",
        table.setup.title
    );
    for line in &report.skipped {
        let _ = writeln!(out, "- {line}\n");
    }
    if report.generators.is_empty() {
        return;
    }
    let mut heading: Vec<String> = ["server", "test", "-P"].map(String::from).into();
    for client in clients(report) {
        for metric in ["ops/s", "p50 ms", "p99 ms", "client CPU"] {
            heading.push(format!("{} {metric}", client.title()));
        }
        if client != Client::RedisBenchmark {
            heading.push(format!(
                "{} ÷ redis-benchmark ops/s, p50, p99",
                client.title()
            ));
        }
    }
    table_heading(out, &heading, 3);
    for &kind in &report.servers {
        for &pipeline in &report.pipelines {
            for (test, _) in MIXES {
                row(out, &agreement_row(report, table, kind, pipeline, test));
            }
        }
    }
    let _ = writeln!(
        out,
        "\nRatios outside 1 ± {AGREEMENT_FRACTION} are marked **bold**: the generators \
         disagree there by more than the issue allows.\n"
    );
}

fn agreement_row(
    report: &Report,
    table: &Table,
    kind: Kind,
    pipeline: u32,
    test: &str,
) -> Vec<String> {
    let mut cells = vec![
        kind.title().to_string(),
        test.to_string(),
        pipeline.to_string(),
    ];
    let reference = Cell {
        table,
        client: Client::RedisBenchmark,
        kind,
        pipeline,
        test,
    };
    for client in clients(report) {
        let cell = reference.by(client);
        cells.extend([&RPS, &P50, &P99, &CLIENT_CORE].map(|m| cell.show(m)));
        if client != Client::RedisBenchmark {
            let agreement: Vec<String> = [&RPS, &P50, &P99]
                .iter()
                .map(|m| format_agreement(ratio(cell.median(m), reference.median(m))))
                .collect();
            cells.push(agreement.join(", "));
        }
    }
    cells
}

/// A generator's figure over redis-benchmark's, bold when it is outside the agreement.
fn format_agreement(value: Option<f64>) -> String {
    match value {
        None => NOT_AVAILABLE.to_string(),
        Some(v) if (v - 1.0).abs() > AGREEMENT_FRACTION => format!("**{v:.2}**"),
        Some(v) => format!("{v:.2}"),
    }
}

/// Every round's ops/s, so a reader can see the spread behind each median.
fn rounds_table(report: &Report, table: &Table, out: &mut String) {
    let _ = writeln!(out, "<details><summary>ops/s in each round</summary>\n");
    let mut heading: Vec<String> = ["generator", "server", "test", "-P"]
        .map(String::from)
        .into();
    heading.extend((1..=report.repeat).map(|r| format!("round {r}")));
    heading.push("min–max".into());
    table_heading(out, &heading, heading.len());
    for client in clients(report) {
        for &kind in &report.servers {
            for &pipeline in &report.pipelines {
                for &(test, _) in tests_of(client) {
                    let rates: Vec<f64> = samples_of(table, client, kind, pipeline, test)
                        .map(|s| s.figures.rps)
                        .collect();
                    if rates.is_empty() {
                        continue;
                    }
                    let mut cells = vec![
                        client.title().to_string(),
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
    }
    let _ = writeln!(out, "\n</details>\n");
}

/// Links to the charts, each as its PNG with the SVG beside it.
fn charts(report: &Report, out: &mut String) {
    if report.charts.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "## Charts\n\nholdfast-bench's run of each kind with the median ops/s, one line per \
         kind.\n"
    );
    let mut setup = "";
    for chart in &report.charts {
        if chart.setup != setup {
            setup = &chart.setup;
            let _ = writeln!(out, "{setup}:\n");
        }
        let links: Vec<String> = chart
            .files
            .iter()
            .map(|f| {
                let format = f
                    .extension()
                    .map_or(String::new(), |e| e.to_string_lossy().to_uppercase());
                format!("[{format}]({})", link(f))
            })
            .collect();
        let _ = writeln!(out, "- {}: {}", chart.what, links.join(", "));
    }
    out.push('\n');
}

/// A path as a Markdown link target: forward slashes, spaces escaped.
fn link(path: &Path) -> String {
    path.to_string_lossy().replace(' ', "%20")
}

fn memory_table(report: &Report, memory: &[Memory], out: &mut String) {
    let keys = memory.first().map_or(0, |m| m.keys);
    let _ = writeln!(
        out,
        "## Memory: {} keys, {}-byte values\n",
        format_rate(keys as f64),
        report.value_bytes
    );
    let base = report.baseline.map(|k| k.title()).unwrap_or_default();
    let mut heading = vec![String::from("server")];
    for figure in &MEMORY_FIGURES {
        heading.push(figure.name.to_string());
        if figure.ratio && report.baseline.is_some() {
            heading.push(format!("÷ {base}"));
        }
    }
    table_heading(out, &heading, 1);
    let mut notes = Vec::new();
    let baseline = report
        .baseline
        .and_then(|b| memory.iter().find(|m| m.kind == b));
    for m in memory {
        let mut cells = vec![m.kind.title().to_string()];
        for figure in &MEMORY_FIGURES {
            cells.push(match (figure.value)(m) {
                Ok(v) => (figure.format)(v),
                Err(reason) => {
                    notes.push(format!("{}: {reason}", m.kind.title()));
                    format!("{NOT_AVAILABLE} [{}]", notes.len())
                }
            });
            if figure.ratio && report.baseline.is_some() {
                let of = |m: &Memory| (figure.value)(m).ok();
                cells.push(format_ratio(ratio(of(m), baseline.and_then(of))));
            }
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

/// A column of the memory table: a figure, or why it is not available, and how to print
/// it; `ratio` when it gets a column divided by the baseline's.
struct MemoryFigure {
    name: &'static str,
    value: fn(&Memory) -> Result<f64, String>,
    format: fn(f64) -> String,
    ratio: bool,
}

const MEMORY_FIGURES: [MemoryFigure; 6] = [
    MemoryFigure {
        name: "used_memory (INFO memory)",
        value: |m| m.used_memory_bytes.clone().map(|b| b as f64),
        format: format_mib,
        ratio: true,
    },
    MemoryFigure {
        name: "VmRSS after load",
        value: |m| Ok(m.rss_loaded_bytes as f64),
        format: format_mib,
        ratio: true,
    },
    MemoryFigure {
        name: "VmRSS before load",
        value: |m| Ok(m.rss_empty_bytes as f64),
        format: format_mib,
        ratio: false,
    },
    MemoryFigure {
        name: "VmRSS growth per key",
        value: |m| Ok(rss_growth_per_key(m)),
        format: |v| format!("{v:.0} B"),
        ratio: false,
    },
    MemoryFigure {
        name: "DBSIZE after load",
        value: |m| m.dbsize.clone().map(|n| n as f64),
        format: |v| format!("{v:.0}"),
        ratio: false,
    },
    MemoryFigure {
        name: "load time (pipelined SETs)",
        value: |m| Ok(m.load_secs),
        format: |v| format!("{v:.2} s"),
        ratio: false,
    },
];

/// RSS the loaded keys added, per key.
fn rss_growth_per_key(m: &Memory) -> f64 {
    m.rss_loaded_bytes.saturating_sub(m.rss_empty_bytes) as f64 / m.keys.max(1) as f64
}

/// What persisting kinds measure when their data directory is on tmpfs.
pub fn tmpfs_warning(dir: &Path) -> String {
    format!(
        "{} is on tmpfs, where fsync returns at once: the persisting kinds measure no \
         disk; give --data-dir a folder on the disk to measure.",
        dir.display()
    )
}

/// Figures a reader should not take at face value: where a generator was busy enough
/// to set the pace, where neither side was busy at all, and fsyncs that cost nothing.
/// One line per table and kind of doubt, naming the cells.
fn warnings(report: &Report, out: &mut String) {
    let mut lines = Vec::new();
    let (dir, tmpfs) = &report.data_dir;
    if *tmpfs && report.servers.iter().any(|k| k.persists) {
        lines.push(format!("- {}", tmpfs_warning(dir)));
    }
    for table in &report.tables {
        let cells = cells_of(report, table);
        let saturated: Vec<String> = cells.iter().filter_map(saturated_client).collect();
        if !saturated.is_empty() {
            lines.push(format!(
                "- {}: the load generator used more than {:.0}% of a core in {}; the \
                 client may have set the pace, so those ops/s are lower bounds for the \
                 server.",
                table.setup.title,
                CLIENT_SATURATED_FRACTION * 100.0,
                saturated.join(", ")
            ));
        }
        let idle: Vec<String> = cells.iter().filter_map(nothing_busy).collect();
        if !idle.is_empty() {
            lines.push(format!(
                "- {}: neither server nor client was CPU-bound in {}; the machine was busy \
                 with other work, or the tests waited on the network or the disk (expected \
                 for kinds that fsync before replying): rerun on a quiet machine before \
                 trusting those rows.",
                table.setup.title,
                idle.join(", ")
            ));
        }
    }
    if !lines.is_empty() {
        let _ = writeln!(out, "## Warnings\n\n{}\n", lines.join("\n"));
    }
}

fn cells_of<'a>(report: &Report, table: &'a Table) -> Vec<Cell<'a>> {
    let mut cells = Vec::new();
    for client in clients(report) {
        for &kind in &report.servers {
            for &pipeline in &report.pipelines {
                for &(test, _) in tests_of(client) {
                    cells.push(Cell {
                        table,
                        client,
                        kind,
                        pipeline,
                        test,
                    });
                }
            }
        }
    }
    cells
}

/// "Redis SET -P 16 by redis-benchmark (3 of 5 rounds, median 95%)" when the client ran
/// above the limit.
fn saturated_client(cell: &Cell<'_>) -> Option<String> {
    let fractions = cell.values(CLIENT_CORE.value);
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

/// "Redis GET -P 1 by redis-benchmark (server 20%, client 30%)" when both sides'
/// medians were low.
fn nothing_busy(cell: &Cell<'_>) -> Option<String> {
    let server = cell.median(&SERVER_CORE)?;
    let client = cell.median(&CLIENT_CORE)?;
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
        "## Commands\n\nFirst round of each table; every server start picks a free port \
         and a fresh data directory.\n"
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

/// A heading row and its alignment row: the first `left` columns left-aligned, the
/// figures right-aligned.
fn table_heading(out: &mut String, heading: &[String], left: usize) {
    row(out, heading);
    let align: Vec<String> = (0..heading.len())
        .map(|i| if i < left { "---" } else { "---:" }.to_string())
        .collect();
    row(out, &align);
}

fn format_ms(value: f64) -> String {
    format!("{value:.3}")
}

fn format_percent(fraction: f64) -> String {
    format!("{:.0}%", fraction * 100.0)
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
pub(crate) mod tests {
    use super::super::generators::Figures;
    use super::super::memory::Memory;
    use super::super::servers::Placement;
    use super::super::{Chart, Setup};
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

    pub(crate) fn kind(name: &str) -> Kind {
        Kind::named(name).unwrap()
    }

    fn sample(name: &str, client: Client, test: &'static str, round: u32, rps: f64) -> Sample {
        let kind = kind(name);
        Sample {
            kind,
            client,
            pipeline: 1,
            test,
            round,
            figures: Figures {
                rps,
                p50_ms: 1.0,
                p99_ms: if kind.persists { 8.0 } else { 2.0 },
                client_core_fraction: if name == "holdfast-none" { 0.95 } else { 0.6 },
            },
            server_cpu_secs_per_million: if kind.engine == Engine::Holdfast {
                5.0
            } else {
                10.0
            },
            server_core_fraction: 0.9,
            run: None,
        }
    }

    /// Three kinds, three rounds: Redis 100/110/90 ops/s (median 100), Holdfast none
    /// 150/90/160 (median 150), Redis AOF always 50/40/45 (median 45); holdfast-bench
    /// 5% above redis-benchmark on SET, 20% above on GET.
    pub(crate) fn report() -> Report {
        let placement = Placement {
            cpus: vec![1],
            threads: 1,
        };
        let rounds = [
            (100.0, 150.0, 50.0),
            (110.0, 90.0, 40.0),
            (90.0, 160.0, 45.0),
        ];
        let mut samples = Vec::new();
        for (round, (redis, holdfast, always)) in rounds.into_iter().enumerate() {
            let round = round as u32 + 1;
            for (name, rps) in [
                ("redis", redis),
                ("holdfast-none", holdfast),
                ("redis-always", always),
            ] {
                for (test, bench_factor) in [("SET", 1.05), ("GET", 1.2), ("80/20", 1.0)] {
                    if test != "80/20" {
                        samples.push(sample(name, Client::RedisBenchmark, test, round, rps));
                    }
                    let ours = rps * bench_factor;
                    samples.push(sample(name, Client::HoldfastBench, test, round, ours));
                }
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
            versions: vec![(Engine::Redis, "Redis server v=7.0.15".into())],
            servers: vec![kind("redis"), kind("holdfast-none"), kind("redis-always")],
            baseline: Some(kind("redis")),
            pipelines: vec![1],
            repeat: 3,
            target_secs: 6.0,
            tables: vec![Table {
                setup: Setup {
                    title: "One core each".into(),
                    slug: "one-core",
                    redis: placement.clone(),
                    holdfast: placement,
                    client_cpus: Some(vec![0]),
                },
                requests: BTreeMap::from([(1, 1000)]),
                calibrated: false,
                samples,
                commands: vec![CommandLine::new("redis-benchmark").arg("-P").arg("1")],
            }],
            memory: Some(vec![
                memory_of("redis", Ok(100 << 20), Ok(1_000_000)),
                memory_of(
                    "holdfast-none",
                    Err("INFO memory: ERR unknown command 'INFO'".into()),
                    Err("DBSIZE: ERR unknown command 'DBSIZE'".into()),
                ),
                memory_of("redis-always", Ok(110 << 20), Ok(1_000_000)),
            ]),
            value_bytes: 100,
            generators: vec![Client::HoldfastBench],
            skipped: vec!["memtier_benchmark skipped: not installed".into()],
            data_dir: ("/data".into(), false),
            charts: Vec::new(),
        }
    }

    fn memory_of(name: &str, used: Result<u64, String>, dbsize: Result<u64, String>) -> Memory {
        Memory {
            kind: kind(name),
            keys: 1_000_000,
            used_memory_bytes: used,
            dbsize,
            rss_empty_bytes: 10 << 20,
            rss_loaded_bytes: if name == "holdfast-none" {
                110 << 20
            } else {
                150 << 20
            },
            load_secs: 1.0,
            command: CommandLine::new("server"),
        }
    }

    /// The lines of the table under the heading `### {title}`.
    fn table_after<'a>(text: &'a str, title: &str) -> Vec<&'a str> {
        text.lines()
            .skip_while(|l| *l != title)
            .skip(1)
            .skip_while(|l| !l.starts_with('|'))
            .take_while(|l| l.starts_with('|'))
            .collect()
    }

    #[test]
    fn every_kind_gets_a_row_with_ratios_to_the_baseline() {
        let text = render(&report());
        assert!(
            text.starts_with("# Redis vs Holdfast none vs Redis AOF always"),
            "{text}"
        );
        assert!(text.contains("| ratios against | Redis |"), "{text}");
        let rows = table_after(&text, "### Measured by redis-benchmark");
        assert_eq!(
            rows[0],
            "| test | -P | server | ops/s | ops/s ÷ Redis | p50 ms | p99 ms | p99 ÷ Redis \
             | server CPU s/M ops | CPU/op ÷ Redis | server busy | client busy |"
        );
        // SET, GET at -P 1, three kinds each: the alignment row, then six rows.
        assert_eq!(rows.len(), 2 + 6, "{rows:#?}");
        assert_eq!(
            rows[2],
            "| SET | 1 | Redis | 100 | 1.00 | 1.000 | 2.000 | 1.00 | 10.00 | 1.00 | 90% | 60% |"
        );
        assert_eq!(
            rows[3],
            "| SET | 1 | Holdfast none | 150 | 1.50 | 1.000 | 2.000 | 1.00 | 5.00 | 0.50 | 90% | 95% |"
        );
        assert_eq!(
            rows[4],
            "| SET | 1 | Redis AOF always | 45 | 0.45 | 1.000 | 8.000 | 4.00 | 10.00 | 1.00 | 90% | 60% |"
        );
    }

    #[test]
    fn memtier_style_generators_add_the_mix() {
        let text = render(&report());
        let rows = table_after(&text, "### Measured by holdfast-bench");
        assert_eq!(rows.len(), 2 + 9, "{rows:#?}");
        assert!(
            rows.contains(&"| 80/20 | 1 | Holdfast none | 150 | 1.50 | 1.000 | 2.000 | 1.00 | 5.00 | 0.50 | 90% | 95% |"),
            "{rows:#?}"
        );
    }

    #[test]
    fn generators_sit_side_by_side_with_their_agreement() {
        let text = render(&report());
        assert!(
            text.contains("- memtier_benchmark skipped: not installed"),
            "{text}"
        );
        let rows = table_after(&text, "### Load generators side by side: One core each");
        assert!(
            rows[0].ends_with(
                "| holdfast-bench client CPU | holdfast-bench ÷ redis-benchmark ops/s, p50, p99 |"
            ),
            "{}",
            rows[0]
        );
        // SET 5% above redis-benchmark is within the agreement, GET 20% above is not.
        assert!(
            rows.contains(
                &"| Redis | SET | 1 | 100 | 1.000 | 2.000 | 60% | 105 | 1.000 | 2.000 | 60% | 1.05, 1.00, 1.00 |"
            ),
            "{rows:#?}"
        );
        assert!(
            rows.contains(
                &"| Redis | GET | 1 | 100 | 1.000 | 2.000 | 60% | 120 | 1.000 | 2.000 | 60% | **1.20**, 1.00, 1.00 |"
            ),
            "{rows:#?}"
        );
        assert!(
            rows.contains(
                &"| Redis | 80/20 | 1 | n/a | n/a | n/a | n/a | 100 | 1.000 | 2.000 | 60% | n/a, n/a, n/a |"
            ),
            "{rows:#?}"
        );
    }

    #[test]
    fn every_round_is_listed_per_generator() {
        let text = render(&report());
        assert!(
            text.contains(
                "| redis-benchmark | Holdfast none | GET | 1 | 150 | 90 | 160 | 90–160 |"
            ),
            "{text}"
        );
        assert!(
            text.contains("| holdfast-bench | Redis | 80/20 | 1 | 100 | 110 | 90 | 90–110 |"),
            "{text}"
        );
    }

    #[test]
    fn memory_rows_per_kind_with_reasons_for_what_is_missing() {
        let text = render(&report());
        let rows = table_after(&text, "## Memory: 1,000,000 keys, 100-byte values");
        assert_eq!(
            rows[0],
            "| server | used_memory (INFO memory) | ÷ Redis | VmRSS after load | ÷ Redis \
             | VmRSS before load | VmRSS growth per key | DBSIZE after load \
             | load time (pipelined SETs) |"
        );
        assert_eq!(
            rows[2],
            "| Redis | 100.0 MiB | 1.00 | 150.0 MiB | 1.00 | 10.0 MiB | 147 B | 1000000 | 1.00 s |"
        );
        assert_eq!(
            rows[3],
            "| Holdfast none | n/a [1] | n/a | 110.0 MiB | 0.73 | 10.0 MiB | 105 B | n/a [2] | 1.00 s |"
        );
        assert!(rows[4].starts_with("| Redis AOF always | 110.0 MiB | 1.10 |"));
        assert!(
            text.contains("[1] Holdfast none: INFO memory: ERR unknown command 'INFO'"),
            "{text}"
        );
    }

    #[test]
    fn saturated_client_is_warned_about() {
        let text = render(&report());
        assert!(
            text.contains(
                "- One core each: the load generator used more than 90% of a core in \
                 Holdfast none SET -P 1 by redis-benchmark (3 of 3 rounds, median 95%), \
                 Holdfast none GET -P 1 by redis-benchmark (3 of 3 rounds, median 95%), \
                 Holdfast none SET -P 1 by holdfast-bench"
            ),
            "{text}"
        );
        assert!(
            !text.contains("Redis SET -P 1 by redis-benchmark ("),
            "{text}"
        );
    }

    #[test]
    fn idle_server_and_client_and_tmpfs_are_warned_about() {
        let mut report = report();
        assert!(!render(&report).contains("neither server nor client"));
        assert!(!render(&report).contains("tmpfs"));
        for s in &mut report.tables[0].samples {
            if s.kind == kind("redis-always") && s.test == "GET" {
                (s.server_core_fraction, s.figures.client_core_fraction) = (0.2, 0.3);
            }
        }
        report.data_dir.1 = true;
        let text = render(&report);
        assert!(
            text.contains(
                "- One core each: neither server nor client was CPU-bound in \
                 Redis AOF always GET -P 1 by redis-benchmark (server 20%, client 30%), \
                 Redis AOF always GET -P 1 by holdfast-bench (server 20%, client 30%); \
                 the machine"
            ),
            "{text}"
        );
        assert!(
            text.contains("- /data is on tmpfs, where fsync returns at once"),
            "{text}"
        );
        assert!(text.contains("| data directories under | `/data` (tmpfs!) |"));
    }

    #[test]
    fn one_kind_has_no_ratio_columns() {
        let mut report = report();
        report.servers = vec![kind("redis")];
        report.baseline = None;
        report.memory = Some(vec![memory_of("redis", Ok(1 << 20), Ok(1))]);
        let text = render(&report);
        assert!(!text.contains("÷ Redis"), "{text}");
        assert!(
            text.contains("| SET | 1 | Redis | 100 | 1.000 | 2.000 | 10.00 | 90% | 60% |"),
            "{text}"
        );
    }

    #[test]
    fn charts_are_linked_as_png_and_svg() {
        let mut report = report();
        report.charts = vec![Chart {
            setup: "One core each".into(),
            what: "latency spectrum, SET -P 1".into(),
            files: vec![
                "x plots/one-core-set-p1-latency.svg".into(),
                "x plots/one-core-set-p1-latency.png".into(),
            ],
        }];
        let text = render(&report);
        assert!(
            text.contains(
                "- latency spectrum, SET -P 1: [SVG](x%20plots/one-core-set-p1-latency.svg), \
                 [PNG](x%20plots/one-core-set-p1-latency.png)"
            ),
            "{text}"
        );
    }
}

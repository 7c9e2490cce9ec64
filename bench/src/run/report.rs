//! A finished run as the reader sees it: memtier's "ALL STATS" table, JSON (also what
//! `holdfast-bench plot` reads back), CSV, and HdrHistogram `.hgrm` files.

use super::record::Record;
use super::{Error, GeneratorCpu, Outcome, Plan, Second, Stop, SATURATED_CORE_FRACTION};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One command type's figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TypeStats {
    pub name: String,
    pub count: u64,
    pub ops_per_sec: f64,
    /// Reads only: replies with a value, and null replies.
    pub hits_per_sec: Option<f64>,
    pub misses_per_sec: Option<f64>,
    pub errors: u64,
    pub avg_latency_ms: f64,
    pub min_latency_ms: f64,
    pub max_latency_ms: f64,
    /// Request and reply bytes per second, in KB (1024 bytes) as memtier counts them.
    pub kb_per_sec: f64,
    /// "p50.00" → ms.
    pub percentiles_ms: BTreeMap<String, f64>,
    /// (percentile, ms) points of the HdrHistogram percentile spectrum.
    pub spectrum: Vec<(f64, f64)>,
}

/// The JSON document of one run.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunReport {
    pub label: String,
    pub configuration: BTreeMap<String, String>,
    pub duration_secs: f64,
    pub all_stats: Vec<TypeStats>,
    pub timeline: Vec<Second>,
    pub generator_cpu: GeneratorCpu,
}

impl RunReport {
    pub fn new(
        label: String,
        configuration: BTreeMap<String, String>,
        outcome: &Outcome,
        percentiles: &[f64],
        reads: &[String],
    ) -> RunReport {
        let secs = outcome.duration.as_secs_f64().max(1e-9);
        let all_stats = outcome
            .types
            .iter()
            .map(|(name, record)| {
                let is_read = reads.contains(name);
                type_stats(name, record, secs, percentiles, is_read)
            })
            .collect();
        RunReport {
            label,
            configuration,
            duration_secs: secs,
            all_stats,
            timeline: outcome.timeline.clone(),
            generator_cpu: outcome.cpu.clone(),
        }
    }

    pub fn totals(&self) -> Option<&TypeStats> {
        self.all_stats.iter().find(|t| t.name == "Totals")
    }
}

fn type_stats(
    name: &str,
    record: &Record,
    secs: f64,
    percentiles: &[f64],
    is_read: bool,
) -> TypeStats {
    let h = &record.latency_us;
    let empty = record.ops == 0;
    let ms = |micros: u64| if empty { 0.0 } else { micros as f64 / 1000.0 };
    TypeStats {
        name: name.to_string(),
        count: record.ops,
        ops_per_sec: record.ops as f64 / secs,
        hits_per_sec: is_read.then(|| record.hits as f64 / secs),
        misses_per_sec: is_read.then(|| record.misses as f64 / secs),
        errors: record.errors,
        avg_latency_ms: if empty { 0.0 } else { record.mean_ms() },
        min_latency_ms: ms(h.min()),
        max_latency_ms: ms(h.max()),
        kb_per_sec: (record.bytes_in + record.bytes_out) as f64 / 1024.0 / secs,
        percentiles_ms: percentiles
            .iter()
            .map(|&p| {
                (
                    percentile_key(p),
                    if empty { 0.0 } else { record.percentile_ms(p) },
                )
            })
            .collect(),
        spectrum: if empty { Vec::new() } else { record.spectrum() },
    }
}

/// "p50.00", "p99.90": memtier's JSON keys, which also sort in numeric order.
pub fn percentile_key(percentile: f64) -> String {
    format!("p{percentile:05.2}")
}

/// Names of the command types that are reads, for the hit/miss columns.
pub fn read_types(plan: &Plan) -> Vec<String> {
    plan.mix
        .templates
        .iter()
        .filter(|t| t.is_read)
        .map(|t| t.name.clone())
        .collect()
}

/// What the run was, for the JSON and the default label.
pub fn configuration(plan: &Plan) -> BTreeMap<String, String> {
    let mut c = BTreeMap::new();
    c.insert("server".into(), format!("{}:{}", plan.host, plan.port));
    c.insert("threads".into(), plan.threads.to_string());
    c.insert("clients".into(), plan.clients.to_string());
    c.insert("pipeline".into(), plan.pipeline.to_string());
    c.insert(
        "protocol".into(),
        format!("{:?}", plan.protocol).to_lowercase(),
    );
    if plan.cluster {
        c.insert("cluster_mode".into(), "follows MOVED and ASK".into());
    }
    c.insert(
        "rate".into(),
        plan.rate
            .map_or("closed loop".into(), |r| format!("{r} ops/sec")),
    );
    c.insert(
        "stop".into(),
        match plan.stop {
            Stop::After(d) => format!("{} secs", d.as_secs_f64()),
            Stop::Requests(n) => format!("{n} requests per connection"),
            Stop::EachKeyOnce => "each key once".into(),
        },
    );
    let commands: Vec<String> = plan
        .mix
        .templates
        .iter()
        .map(|t| format!("{} x{} ({:?})", t.name, t.weight, t.pattern))
        .collect();
    c.insert("commands".into(), commands.join(", "));
    c.insert(
        "keys".into(),
        format!("{}..={}", plan.keys.minimum, plan.keys.maximum),
    );
    c
}

/// memtier's "ALL STATS" table, plus the generator's own CPU use.
pub fn table(report: &RunReport, percentiles: &[f64]) -> String {
    let mut header = format!(
        "{:<12}{:>12}{:>12}{:>12}{:>14}",
        "Type", "Ops/sec", "Hits/sec", "Misses/sec", "Avg. Latency"
    );
    for &p in percentiles {
        header += &format!("{:>14}", format!("p{p} Latency"));
    }
    header += &format!("{:>12}", "KB/sec");
    let rule = |c: char| c.to_string().repeat(header.len());
    let mut out = String::new();
    if let Some(durability) = report.configuration.get("durability") {
        out += &format!("\nServer durability: {durability}\n");
    }
    out += &format!("\nALL STATS\n{}\n{header}\n{}\n", rule('='), rule('-'));
    for stats in &report.all_stats {
        let or_dash = |v: Option<f64>| v.map_or("---".to_string(), |v| format!("{v:.2}"));
        out += &format!(
            "{:<12}{:>12.2}{:>12}{:>12}{:>14.5}",
            stats.name,
            stats.ops_per_sec,
            or_dash(stats.hits_per_sec),
            or_dash(stats.misses_per_sec),
            stats.avg_latency_ms
        );
        for &p in percentiles {
            out += &format!("{:>14.5}", stats.percentiles_ms[&percentile_key(p)]);
        }
        out += &format!("{:>12.2}\n", stats.kb_per_sec);
    }
    out += &cpu_lines(&report.generator_cpu, report.duration_secs);
    out
}

fn cpu_lines(cpu: &GeneratorCpu, secs: f64) -> String {
    let threads: Vec<String> = cpu
        .thread_core_fractions
        .iter()
        .map(|f| format!("{:.0}%", f * 100.0))
        .collect();
    let mut out = format!(
        "\nRun time {secs:.2} secs; generator CPU: {:.2} cores in all, per thread {}\n",
        cpu.total_cores,
        threads.join(" ")
    );
    if cpu.saturated() {
        out += &format!(
            "WARNING: a generator thread was over {:.0}% busy, so the generator may limit \
             these figures; add threads (-t) or give it more CPUs\n",
            SATURATED_CORE_FRACTION * 100.0
        );
    }
    out
}

/// One row per command type.
pub fn csv(report: &RunReport, percentiles: &[f64]) -> String {
    let mut out = String::from("label,type,count,ops_per_sec,hits_per_sec,misses_per_sec,errors,avg_latency_ms,min_latency_ms,max_latency_ms");
    for &p in percentiles {
        out += &format!(",p{p}_latency_ms");
    }
    out += ",kb_per_sec,duration_secs,generator_cores\n";
    let opt = |v: Option<f64>| v.map_or(String::new(), |v| format!("{v:.3}"));
    for s in &report.all_stats {
        out += &format!(
            "{},{},{},{:.3},{},{},{},{:.5},{:.5},{:.5}",
            csv_field(&report.label),
            csv_field(&s.name),
            s.count,
            s.ops_per_sec,
            opt(s.hits_per_sec),
            opt(s.misses_per_sec),
            s.errors,
            s.avg_latency_ms,
            s.min_latency_ms,
            s.max_latency_ms
        );
        for &p in percentiles {
            out += &format!(",{:.5}", s.percentiles_ms[&percentile_key(p)]);
        }
        out += &format!(
            ",{:.3},{:.3},{:.3}\n",
            s.kb_per_sec, report.duration_secs, report.generator_cpu.total_cores
        );
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// Writes PREFIX_FULL_RUN_1.hgrm (all commands) and PREFIX_FULL_RUN_1_TYPE.hgrm.
pub fn write_hgrm(prefix: &Path, outcome: &Outcome) -> Result<Vec<PathBuf>, Error> {
    let mut written = Vec::new();
    for (name, record) in &outcome.types {
        let suffix = if name == "Totals" {
            String::new()
        } else {
            format!("_{name}")
        };
        let mut path = prefix.as_os_str().to_owned();
        path.push(format!("_FULL_RUN_1{suffix}.hgrm"));
        let path = PathBuf::from(path);
        write(&path, &record.hgrm())?;
        written.push(path);
    }
    Ok(written)
}

pub fn write(path: &Path, text: &str) -> Result<(), Error> {
    std::fs::write(path, text).map_err(|e| Error::Write(path.to_path_buf(), e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn outcome() -> Outcome {
        let mut gets = Record::new();
        for micros in [100, 200, 300, 400] {
            gets.latency(micros);
        }
        gets.hits = 3;
        gets.misses = 1;
        gets.bytes_in = 2048;
        Outcome {
            duration: Duration::from_secs(2),
            types: vec![("Gets".into(), gets.clone()), ("Totals".into(), gets)],
            timeline: Vec::new(),
            cpu: GeneratorCpu {
                thread_core_fractions: vec![0.95],
                total_cores: 0.95,
            },
        }
    }

    #[test]
    fn table_json_and_csv_agree() {
        let report = RunReport::new(
            "x".into(),
            BTreeMap::new(),
            &outcome(),
            &[50.0, 99.0],
            &["Gets".into()],
        );
        let gets = &report.all_stats[0];
        assert_eq!(gets.ops_per_sec, 2.0);
        assert_eq!(gets.hits_per_sec, Some(1.5));
        assert_eq!(gets.kb_per_sec, 1.0);
        assert!((gets.percentiles_ms["p50.00"] - 0.2).abs() < 0.001);
        let table = table(&report, &[50.0, 99.0]);
        assert!(table.contains("ALL STATS") && table.contains("p99 Latency"));
        assert!(table.contains("WARNING"), "a thread at 95% is saturated");
        let csv = csv(&report, &[50.0, 99.0]);
        assert_eq!(csv.lines().count(), 3);
        assert!(csv
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("x,Gets,4,2.000,1.500,0.500,0,"));
        let json = serde_json::to_string(&report).unwrap();
        let back: RunReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back.totals().unwrap().count, 4);
    }

    #[test]
    fn percentile_keys_sort_numerically() {
        assert_eq!(percentile_key(50.0), "p50.00");
        assert_eq!(percentile_key(99.9), "p99.90");
        assert!(percentile_key(9.0) < percentile_key(50.0));
    }
}

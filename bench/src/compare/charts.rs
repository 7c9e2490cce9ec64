//! The charts of a comparison: for each setup, workload and pipeline depth, one latency
//! spectrum and one throughput-over-time chart with a line per kind of server, as SVG and
//! PNG, in a folder next to the Markdown report that links them.
//!
//! Only holdfast-bench records what they need (the HdrHistogram spectrum, ops/s each
//! second), so they come from its runs. Of a kind's rounds the chart draws the one with
//! the median ops/s: a real run, not an average of runs that never happened.

use super::generators::{Client, MIXES};
use super::{Chart, Report, Sample, Table};
use crate::plot::{self, Series, ALL_FORMATS};
use crate::stats::median;
use std::path::{Path, PathBuf};

/// Writes every chart of `report` into `dir` (created if missing) and returns them, each
/// file named as `link` (the folder as the report should link it) joined with its name.
pub fn write(report: &Report, dir: &Path, link: &Path) -> Result<Vec<Chart>, plot::Error> {
    std::fs::create_dir_all(dir).map_err(|e| plot::Error::Draw(dir.into(), e.to_string()))?;
    let mut charts = Vec::new();
    for table in &report.tables {
        for &pipeline in &report.pipelines {
            for (test, _) in MIXES {
                let runs = median_runs(report, table, pipeline, test);
                if runs.is_empty() {
                    continue;
                }
                let stem = format!("{}-{}-p{pipeline}", table.setup.slug, slug(test));
                let what = format!("{test} -P {pipeline}");
                charts.push(spectrum(dir, link, table, &stem, &what, &runs)?);
                charts.push(throughput(dir, link, table, &stem, &what, &runs)?);
            }
        }
    }
    Ok(charts)
}

/// "80/20" → "80-20", "SET" → "set": a test's name as part of a file name.
fn slug(test: &str) -> String {
    test.to_lowercase().replace('/', "-")
}

/// Per kind, in the report's order, holdfast-bench's median-ops/s run of one cell.
fn median_runs<'a>(
    report: &Report,
    table: &'a Table,
    pipeline: u32,
    test: &str,
) -> Vec<(&'static str, &'a Sample)> {
    report
        .servers
        .iter()
        .filter_map(|kind| {
            let runs: Vec<&Sample> = table
                .samples
                .iter()
                .filter(|s| {
                    s.kind == *kind
                        && s.client == Client::HoldfastBench
                        && s.pipeline == pipeline
                        && s.test == test
                        && s.run.is_some()
                })
                .collect();
            median_sample(&runs).map(|s| (kind.title(), s))
        })
        .collect()
}

/// The sample whose ops/s is nearest the median of `samples` (the median itself for an
/// odd count; for an even one, the lower of the two middle runs on a tie).
fn median_sample<'a>(samples: &[&'a Sample]) -> Option<&'a Sample> {
    let rates: Vec<f64> = samples.iter().map(|s| s.figures.rps).collect();
    let middle = median(&rates)?;
    samples.iter().copied().min_by(|a, b| {
        let distance = |s: &Sample| (s.figures.rps - middle).abs();
        distance(a)
            .total_cmp(&distance(b))
            .then(a.figures.rps.total_cmp(&b.figures.rps))
    })
}

fn spectrum(
    dir: &Path,
    link: &Path,
    table: &Table,
    stem: &str,
    what: &str,
    runs: &[(&'static str, &Sample)],
) -> Result<Chart, plot::Error> {
    let series: Vec<Series> = runs
        .iter()
        .filter_map(|(title, sample)| {
            let totals = sample.run.as_ref()?.totals()?;
            Some((title.to_string(), plot::spectrum_points(&totals.spectrum)))
        })
        .collect();
    let title = format!("Latency by percentile, {what} (holdfast-bench, median round)");
    let name = format!("{stem}-latency");
    draw(dir, link, &name, |path, format| {
        plot::draw_spectrum(path, format, &title, &series)
    })
    .map(|files| Chart {
        setup: table.setup.title.clone(),
        what: format!("latency spectrum, {what}"),
        files,
    })
}

fn throughput(
    dir: &Path,
    link: &Path,
    table: &Table,
    stem: &str,
    what: &str,
    runs: &[(&'static str, &Sample)],
) -> Result<Chart, plot::Error> {
    let series: Vec<Series> = runs
        .iter()
        .filter_map(|(title, sample)| {
            let (_, points) = plot::throughput_series(sample.run.as_ref()?);
            Some((title.to_string(), points))
        })
        .collect();
    let title = format!("Throughput over time, {what} (holdfast-bench, median round)");
    let name = format!("{stem}-throughput");
    draw(dir, link, &name, |path, format| {
        plot::draw_throughput(path, format, &title, &series)
    })
    .map(|files| Chart {
        setup: table.setup.title.clone(),
        what: format!("throughput over time, {what}"),
        files,
    })
}

/// Draws `name` in every format; returns the files as the report links them.
fn draw(
    dir: &Path,
    link: &Path,
    name: &str,
    chart: impl Fn(&Path, plot::Format) -> Result<(), plot::Error>,
) -> Result<Vec<PathBuf>, plot::Error> {
    ALL_FORMATS
        .iter()
        .map(|&format| {
            let file = format!("{name}.{}", format.extension());
            chart(&dir.join(&file), format)?;
            Ok(link.join(file))
        })
        .collect()
}

/// Where the charts of a report written to `out` go: `NAME-plots/` beside `NAME.md`,
/// and how the report links that folder (by its name, as it sits beside the report).
pub fn dir_beside(out: &Path) -> (PathBuf, PathBuf) {
    let stem = out
        .file_stem()
        .map_or_else(|| "compare".into(), |s| s.to_string_lossy().into_owned());
    let name = PathBuf::from(format!("{stem}-plots"));
    let dir = out.parent().map_or_else(|| name.clone(), |p| p.join(&name));
    (dir, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_sit_beside_the_report() {
        assert_eq!(
            dir_beside(Path::new("bench/reports/x.md")),
            (
                PathBuf::from("bench/reports/x-plots"),
                PathBuf::from("x-plots")
            )
        );
        assert_eq!(
            dir_beside(Path::new("x.md")),
            (PathBuf::from("x-plots"), PathBuf::from("x-plots"))
        );
        assert_eq!(slug("80/20"), "80-20");
    }

    /// A holdfast-bench report whose latencies are all `ms` and whose rate is `rps`.
    fn run_of(ms: f64, rps: f64) -> Box<crate::run::report::RunReport> {
        let json = serde_json::json!({
            "label": "x", "configuration": {}, "duration_secs": 2.0,
            "all_stats": [{
                "name": "Totals", "count": 10, "ops_per_sec": rps, "hits_per_sec": null,
                "misses_per_sec": null, "errors": 0, "avg_latency_ms": ms,
                "min_latency_ms": ms, "max_latency_ms": ms, "kb_per_sec": 1.0,
                "percentiles_ms": {}, "spectrum": [[0.0, ms], [99.0, ms], [100.0, 2.0 * ms]]
            }],
            "timeline": [{"elapsed_secs": 1.0, "ops_per_sec": rps, "avg_latency_ms": ms},
                         {"elapsed_secs": 2.0, "ops_per_sec": rps, "avg_latency_ms": ms}],
            "generator_cpu": {"thread_core_fractions": [0.5], "total_cores": 0.5}
        });
        Box::new(serde_json::from_value(json).unwrap())
    }

    #[test]
    fn the_median_round_is_drawn() {
        let report = crate::compare::report::tests::report();
        let samples: Vec<&Sample> = report.tables[0]
            .samples
            .iter()
            .filter(|s| s.client == Client::HoldfastBench && s.test == "GET")
            .filter(|s| s.kind.name == "holdfast-none")
            .collect();
        // 180, 108, 192 ops/s over the rounds: the median is round 1's.
        assert_eq!(median_sample(&samples).unwrap().round, 1);
        assert!(median_sample(&[]).is_none());
    }

    #[test]
    fn one_chart_per_test_and_depth_with_a_line_per_kind_in_svg_and_png() {
        let mut report = crate::compare::report::tests::report();
        for sample in &mut report.tables[0].samples {
            if sample.client == Client::HoldfastBench {
                let ms = if sample.kind.persists { 8.0 } else { 1.0 };
                sample.run = Some(run_of(ms, sample.figures.rps));
            }
        }
        let dir = std::env::temp_dir().join(format!("holdfast-charts-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let charts = write(&report, &dir, Path::new("r-plots")).unwrap();
        // SET, GET and 80/20 at -P 1: a spectrum and a throughput chart each.
        assert_eq!(charts.len(), 6);
        assert_eq!(
            charts[0].files,
            [
                PathBuf::from("r-plots/one-core-set-p1-latency.svg"),
                PathBuf::from("r-plots/one-core-set-p1-latency.png")
            ]
        );
        assert_eq!(charts[5].what, "throughput over time, 80/20 -P 1");
        let lines: Vec<_> = (0..report.servers.len())
            .map(|i| {
                use plotters::style::Palette;
                plotters::style::Palette99::pick(i)
            })
            .collect();
        for chart in &charts {
            let [svg, png] = [0, 1].map(|i| dir.join(chart.files[i].file_name().unwrap()));
            let svg = std::fs::read_to_string(svg).unwrap();
            for kind in &report.servers {
                assert!(svg.contains(kind.title), "{} in {}", kind.title, chart.what);
            }
            crate::plot::assert_png_with_lines(&png, &lines);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

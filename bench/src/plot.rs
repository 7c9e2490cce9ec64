//! `holdfast-bench plot`: charts from the JSON of one or more `holdfast-bench run`s, one
//! line per run, as SVG (drawn with plotters' built-in text metrics, so no system font
//! library is needed; the viewer renders the text).
//!
//! - `latency-spectrum.svg`: HdrHistogram's percentile spectrum: latency against
//!   percentile on a log scale of 1/(1-p), so 90%, 99%, 99.9%... are evenly spaced.
//! - `throughput.svg`: operations per second over the measured phase, per second.

use crate::run::report::RunReport;
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const SIZE_PX: (u32, u32) = (1000, 600);
/// Where the spectrum's x axis ends: 99.9999%. A run's 100% point is drawn here.
const NINES_MAX: f64 = 6.0;

/// Plots latency spectra and throughput over time from `holdfast-bench run` JSON files.
#[derive(Clone, Debug, clap::Args)]
pub struct PlotArgs {
    /// JSON files written by `holdfast-bench run --json-out-file`.
    #[arg(required = true, value_name = "RUN.json")]
    pub runs: Vec<PathBuf>,

    /// Folder for latency-spectrum.svg and throughput.svg.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out_dir: PathBuf,

    /// Command type whose latencies are plotted ("Totals", "Sets", "Gets", "GET", ...).
    #[arg(long = "type", default_value = "Totals")]
    pub kind: String,
}

#[derive(Debug)]
pub enum Error {
    Read(PathBuf, String),
    NoSuchType(PathBuf, String),
    Draw(PathBuf, String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Read(path, e) => write!(f, "reading {}: {e}", path.display()),
            Error::NoSuchType(path, kind) => write!(
                f,
                "{} has no command type {kind:?}; see its \"all_stats\" names",
                path.display()
            ),
            Error::Draw(path, e) => write!(f, "drawing {}: {e}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

/// Reads the runs and writes both charts; returns the files written.
pub fn plot(args: &PlotArgs) -> Result<Vec<PathBuf>, Error> {
    let runs = args
        .runs
        .iter()
        .map(|path| read(path))
        .collect::<Result<Vec<_>, _>>()?;
    let mut spectra = Vec::new();
    for (path, run) in args.runs.iter().zip(&runs) {
        let stats = run
            .all_stats
            .iter()
            .find(|s| s.name == args.kind)
            .ok_or_else(|| Error::NoSuchType(path.clone(), args.kind.clone()))?;
        spectra.push((run.label.clone(), spectrum_points(&stats.spectrum)));
    }
    let spectrum_path = args.out_dir.join("latency-spectrum.svg");
    let title = format!("Latency by percentile ({})", args.kind);
    draw_spectrum(&spectrum_path, &title, &spectra)
        .map_err(|e| Error::Draw(spectrum_path.clone(), e.to_string()))?;
    let throughput: Vec<(String, Vec<(f64, f64)>)> = runs
        .iter()
        .map(|r| {
            let points = r
                .timeline
                .iter()
                .map(|s| (s.elapsed_secs, s.ops_per_sec))
                .collect();
            (r.label.clone(), points)
        })
        .collect();
    let throughput_path = args.out_dir.join("throughput.svg");
    draw_throughput(&throughput_path, &throughput)
        .map_err(|e| Error::Draw(throughput_path.clone(), e.to_string()))?;
    Ok(vec![spectrum_path, throughput_path])
}

fn read(path: &Path) -> Result<RunReport, Error> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Error::Read(path.into(), e.to_string()))?;
    serde_json::from_str(&text).map_err(|e| Error::Read(path.into(), e.to_string()))
}

/// (nines, ms): percentile p becomes log10(1/(1-p)), so 90% is 1, 99% is 2.
pub fn spectrum_points(spectrum: &[(f64, f64)]) -> Vec<(f64, f64)> {
    spectrum
        .iter()
        .map(|&(percentile, ms)| (nines(percentile), ms))
        .collect()
}

fn nines(percentile: f64) -> f64 {
    let tail = 1.0 - percentile / 100.0;
    if tail <= 0.0 {
        NINES_MAX
    } else {
        (1.0 / tail).log10().min(NINES_MAX)
    }
}

/// "99.9%" for 3 nines.
fn nines_label(x: &f64) -> String {
    let percentile = 100.0 * (1.0 - 10f64.powf(-x));
    let text = format!("{percentile:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_spectrum(path: &Path, title: &str, runs: &[(String, Vec<(f64, f64)>)]) -> DrawResult {
    let x_max = runs
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(x, _)| x))
        .fold(1.0, f64::max)
        .ceil();
    let y_max = max_y(runs);
    let root = SVGBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms)")
        .x_labels(x_max as usize + 1)
        .x_label_formatter(&nines_label)
        .draw()?;
    draw_lines(&mut chart, runs)?;
    root.present()?;
    Ok(())
}

fn draw_throughput(path: &Path, runs: &[(String, Vec<(f64, f64)>)]) -> DrawResult {
    let x_max = runs
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(x, _)| x))
        .fold(1.0, f64::max);
    let root = SVGBackend::new(path, SIZE_PX).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Throughput over time", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(90)
        .build_cartesian_2d(0.0..x_max, 0.0..max_y(runs))?;
    chart
        .configure_mesh()
        .x_desc("seconds")
        .y_desc("operations per second")
        .draw()?;
    draw_lines(&mut chart, runs)?;
    root.present()?;
    Ok(())
}

/// The largest y, with a margin above it, and never an empty range.
fn max_y(runs: &[(String, Vec<(f64, f64)>)]) -> f64 {
    let top = runs
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(0.0, f64::max);
    if top > 0.0 {
        top * 1.05
    } else {
        1.0
    }
}

fn draw_lines<'a, DB: DrawingBackend + 'a>(
    chart: &mut ChartContext<
        'a,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    runs: &[(String, Vec<(f64, f64)>)],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    for (index, (label, points)) in runs.iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_map_to_nines() {
        assert_eq!(nines(0.0), 0.0);
        assert!((nines(90.0) - 1.0).abs() < 1e-9);
        assert!((nines(99.9) - 3.0).abs() < 1e-9);
        assert_eq!(nines(100.0), NINES_MAX);
        assert_eq!(nines_label(&0.0), "0%");
        assert_eq!(nines_label(&2.0), "99%");
        assert_eq!(nines_label(&3.0), "99.9%");
    }

    fn report(label: &str, ms: f64) -> RunReport {
        let json = serde_json::json!({
            "label": label, "configuration": {}, "duration_secs": 2.0,
            "all_stats": [{
                "name": "Totals", "count": 10, "ops_per_sec": 5.0, "hits_per_sec": null,
                "misses_per_sec": null, "errors": 0, "avg_latency_ms": ms,
                "min_latency_ms": ms, "max_latency_ms": ms, "kb_per_sec": 1.0,
                "percentiles_ms": {}, "spectrum": [[0.0, ms], [99.0, ms], [100.0, 2.0 * ms]]
            }],
            "timeline": [{"elapsed_secs": 1.0, "ops_per_sec": 5.0, "avg_latency_ms": ms}],
            "generator_cpu": {"thread_core_fractions": [0.5], "total_cores": 0.5}
        });
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn plots_several_runs_on_one_chart() {
        let dir = std::env::temp_dir().join(format!("holdfast-plot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut runs = Vec::new();
        for (name, ms) in [("fast-run", 1.0), ("slow-run", 9.0)] {
            let path = dir.join(format!("{name}.json"));
            std::fs::write(&path, serde_json::to_string(&report(name, ms)).unwrap()).unwrap();
            runs.push(path);
        }
        let args = PlotArgs {
            runs,
            out_dir: dir.clone(),
            kind: "Totals".into(),
        };
        let written = plot(&args).unwrap();
        for path in &written {
            let svg = std::fs::read_to_string(path).unwrap();
            assert!(
                svg.contains("fast-run") && svg.contains("slow-run"),
                "{}",
                path.display()
            );
        }
        let spectrum = std::fs::read_to_string(&written[0]).unwrap();
        assert!(spectrum.contains("99.9%"));
        let missing = PlotArgs {
            kind: "Gets".into(),
            ..args
        };
        assert!(matches!(plot(&missing), Err(Error::NoSuchType(..))));
    }
}

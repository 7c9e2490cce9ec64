//! Charts of latency and throughput, one line per run, as SVG and PNG: for
//! `holdfast-bench plot` (from the JSON of `holdfast-bench run`s) and for `compare`
//! (one line per kind of server).
//!
//! - `latency-spectrum.{svg,png}`: HdrHistogram's percentile spectrum: latency against
//!   percentile on a log scale of 1/(1-p), so 90%, 99%, 99.9%... are evenly spaced.
//! - `throughput.{svg,png}`: operations per second over the measured phase, per second.
//!
//! Text is laid out (and, for PNG, rasterised) by ab_glyph from DejaVu Sans embedded in
//! the binary, so neither building nor drawing needs a system font library.

use crate::run::report::RunReport;
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub const SIZE_PX: (u32, u32) = (1000, 600);
/// Where the spectrum's x axis ends: 99.9999%. A run's 100% point is drawn here.
const NINES_MAX: f64 = 6.0;
/// The one font every chart uses, under the family name plotters asks for.
const FONT_FAMILY: &str = "sans-serif";
const FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The file formats a chart is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Svg,
    Png,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Svg => "svg",
            Format::Png => "png",
        }
    }
}

/// Both formats: SVG for the web, PNG for anything that does not render SVG.
pub const ALL_FORMATS: [Format; 2] = [Format::Svg, Format::Png];

/// One line of a chart: its legend and (x, y) points.
pub type Series = (String, Vec<(f64, f64)>);

/// Plots latency spectra and throughput over time from `holdfast-bench run` JSON files.
#[derive(Clone, Debug, clap::Args)]
pub struct PlotArgs {
    /// JSON files written by `holdfast-bench run --json-out-file`.
    #[arg(required = true, value_name = "RUN.json")]
    pub runs: Vec<PathBuf>,

    /// Folder for latency-spectrum.* and throughput.*.
    #[arg(long, default_value = ".", value_name = "DIR")]
    pub out_dir: PathBuf,

    /// Command type whose latencies are plotted ("Totals", "Sets", "Gets", "GET", ...).
    #[arg(long = "type", default_value = "Totals")]
    pub kind: String,

    /// File formats to write.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "svg,png")]
    pub format: Vec<Format>,
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
    let throughput: Vec<Series> = runs.iter().map(throughput_series).collect();
    let title = format!("Latency by percentile ({})", args.kind);
    let mut written = Vec::new();
    for &format in &args.format {
        let spectrum = args
            .out_dir
            .join(format!("latency-spectrum.{}", format.extension()));
        draw_spectrum(&spectrum, format, &title, &spectra)?;
        let over_time = args
            .out_dir
            .join(format!("throughput.{}", format.extension()));
        draw_throughput(&over_time, format, "Throughput over time", &throughput)?;
        written.extend([spectrum, over_time]);
    }
    Ok(written)
}

/// A run's operations per second in each second of its measured phase.
pub fn throughput_series(run: &RunReport) -> Series {
    let points = run
        .timeline
        .iter()
        .map(|s| (s.elapsed_secs, s.ops_per_sec))
        .collect();
    (run.label.clone(), points)
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

/// Makes the embedded font the one plotters finds for [`FONT_FAMILY`]; once per process.
fn register_font() -> Result<(), String> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "the embedded DejaVu Sans font does not parse".to_string())
        })
        .clone()
}

/// Draws `chart` on a `format` canvas at `path`, naming the file in any error.
fn draw_to(path: &Path, format: Format, chart: &impl Chart) -> Result<(), Error> {
    let failed = |e: String| Error::Draw(path.to_path_buf(), e);
    register_font().map_err(failed)?;
    let drawn = match format {
        Format::Svg => chart.draw(SVGBackend::new(path, SIZE_PX).into_drawing_area()),
        Format::Png => chart.draw(BitMapBackend::new(path, SIZE_PX).into_drawing_area()),
    };
    drawn.map_err(|e| failed(e.to_string()))
}

/// The latency spectrum of each run, one line per run, to `path`.
pub fn draw_spectrum(
    path: &Path,
    format: Format,
    title: &str,
    runs: &[Series],
) -> Result<(), Error> {
    draw_to(path, format, &Spectrum { title, runs })
}

/// Operations per second over time of each run, one line per run, to `path`.
pub fn draw_throughput(
    path: &Path,
    format: Format,
    title: &str,
    runs: &[Series],
) -> Result<(), Error> {
    draw_to(path, format, &Throughput { title, runs })
}

/// What a chart shows, drawable on any plotters backend.
trait Chart {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

struct Spectrum<'a> {
    title: &'a str,
    runs: &'a [Series],
}

impl Chart for Spectrum<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let x_max = self
            .runs
            .iter()
            .flat_map(|(_, p)| p.iter().map(|&(x, _)| x))
            .fold(1.0, f64::max)
            .ceil();
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, (FONT_FAMILY, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(0.0..x_max, 0.0..max_y(self.runs))?;
        chart
            .configure_mesh()
            .x_desc("percentile")
            .y_desc("latency (ms)")
            .x_labels(x_max as usize + 1)
            .x_label_formatter(&nines_label)
            .draw()?;
        draw_lines(&mut chart, self.runs)?;
        root.present()?;
        Ok(())
    }
}

struct Throughput<'a> {
    title: &'a str,
    runs: &'a [Series],
}

impl Chart for Throughput<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let x_max = self
            .runs
            .iter()
            .flat_map(|(_, p)| p.iter().map(|&(x, _)| x))
            .fold(1.0, f64::max);
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, (FONT_FAMILY, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..x_max, 0.0..max_y(self.runs))?;
        chart
            .configure_mesh()
            .x_desc("seconds")
            .y_desc("operations per second")
            .draw()?;
        draw_lines(&mut chart, self.runs)?;
        root.present()?;
        Ok(())
    }
}

/// The largest y, with a margin above it, and never an empty range.
fn max_y(runs: &[Series]) -> f64 {
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

/// Test support: checks that a PNG chart is a real image with the lines drawn.
#[cfg(test)]
/// `path` decodes as a PNG of [`SIZE_PX`] in which every colour of `lines` (one per
/// run) is drawn, and so is text (black pixels beyond the axes).
pub(crate) fn assert_png_with_lines(path: &Path, lines: &[PaletteColor<Palette99>]) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((frame.width, frame.height), SIZE_PX, "{}", path.display());
    assert_eq!(frame.color_type, png::ColorType::Rgb, "{}", path.display());
    let rgb: Vec<&[u8]> = pixels[..frame.buffer_size()].chunks(3).collect();
    for color in lines {
        let (r, g, b) = color.rgb();
        assert!(
            rgb.iter().any(|p| *p == [r, g, b]),
            "{}: no pixel of line colour {:?}",
            path.display(),
            (r, g, b)
        );
    }
    let dark = rgb.iter().filter(|p| p.iter().all(|&c| c < 64)).count();
    assert!(
        dark > 1000,
        "{}: {dark} dark pixels: no text?",
        path.display()
    );
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
            format: ALL_FORMATS.to_vec(),
        };
        let written = plot(&args).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "latency-spectrum.svg",
                "throughput.svg",
                "latency-spectrum.png",
                "throughput.png"
            ]
        );
        for path in &written[..2] {
            let svg = std::fs::read_to_string(path).unwrap();
            assert!(
                svg.contains("fast-run") && svg.contains("slow-run"),
                "{}",
                path.display()
            );
        }
        let spectrum = std::fs::read_to_string(&written[0]).unwrap();
        assert!(spectrum.contains("99.9%"));
        for path in &written[2..] {
            assert_png_with_lines(path, &[Palette99::pick(0), Palette99::pick(1)]);
        }
        let missing = PlotArgs {
            kind: "Gets".into(),
            ..args
        };
        assert!(matches!(plot(&missing), Err(Error::NoSuchType(..))));
    }
}

//! LATENCY LATEST / HISTORY / RESET / DOCTOR / GRAPH / HISTOGRAM / HELP, and INFO's
//! latencystats section: every core's events and histograms (core/latency.rs), merged
//! when read.

use super::connection::reply_help;
use super::session::Session;
use super::{flags::*, table, unknown_subcommand, Handler, Spec, Status, NO_KEYS};
use crate::core::latency::{cumulative_usec, Histograms, Monitor, Series};
use futures::future::LocalBoxFuture;
use futures::FutureExt;

type Argv = Vec<Vec<u8>>;
type Done<'a> = LocalBoxFuture<'a, Result<(), Status>>;

const LATENCY_HELP: &[&str] = &[
    "LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
    "HELP",
    "    Prints this help.",
];

fn latency(s: &mut Session, argv: Argv) -> Done<'_> {
    async move {
        let sub = argv[1].to_ascii_lowercase();
        match sub.as_slice() {
            b"latest" if argv.len() == 2 => latest(s).await,
            b"history" if argv.len() == 3 => history(s, &argv[2]).await,
            b"graph" if argv.len() == 3 => graph(s, &argv[2]).await?,
            b"reset" => {
                let names = argv[2..].to_vec();
                let counts = s
                    .core
                    .call_all(move |core| core.latency.borrow_mut().reset(&names))
                    .await;
                // An event seen on several cores is one event.
                s.reply().int(counts.into_iter().max().unwrap_or(0) as i64);
            }
            b"doctor" if argv.len() == 2 => {
                let report = doctor(s).await;
                s.reply().verbatim(&report);
            }
            b"histogram" => histogram(s, &argv[2..]).await,
            b"help" if argv.len() == 2 => reply_help(s, LATENCY_HELP),
            b"latest" | b"history" | b"graph" | b"doctor" | b"help" => {
                return Err(Status::WrongArity(format!(
                    "latency|{}",
                    String::from_utf8_lossy(&sub)
                )))
            }
            _ => return Err(unknown_subcommand("latency", &argv[1])),
        }
        Ok(())
    }
    .boxed_local()
}

/// Every core's events, merged.
async fn events(s: &Session) -> Monitor {
    let per_core = s.core.call_all(|core| core.latency.borrow().clone()).await;
    let mut merged = Monitor::default();
    for monitor in &per_core {
        merged.merge(monitor);
    }
    merged
}

/// The event named `name` (any case), if it has samples.
fn find<'m>(monitor: &'m Monitor, name: &[u8]) -> Option<(&'static str, &'m Series)> {
    monitor
        .events
        .iter()
        .find(|(event, series)| {
            event.as_bytes().eq_ignore_ascii_case(name) && !series.samples.is_empty()
        })
        .map(|(event, series)| (*event, series))
}

/// [event, time of the latest sample, its latency, the worst latency] per event.
async fn latest(s: &mut Session) {
    let monitor = events(s).await;
    let mut r = s.reply();
    let with_samples: Vec<_> = monitor
        .events
        .iter()
        .filter_map(|(name, series)| Some((name, series.samples.back()?, series.max_ms)))
        .collect();
    r.array(with_samples.len());
    for (name, last, max_ms) in with_samples {
        r.array(4);
        r.bulk_str(name);
        r.int(last.unix_s as i64);
        r.int(last.ms as i64);
        r.int(max_ms as i64);
    }
}

async fn history(s: &mut Session, name: &[u8]) {
    let monitor = events(s).await;
    let mut r = s.reply();
    let Some((_, series)) = find(&monitor, name) else {
        r.array(0);
        return;
    };
    r.array(series.samples.len());
    for sample in &series.samples {
        r.array(2);
        r.int(sample.unix_s as i64);
        r.int(sample.ms as i64);
    }
}

/// Redis's latency graph: the event's samples as a sparkline, newest on the right, with
/// each column's age under it.
async fn graph(s: &mut Session, name: &[u8]) -> Result<(), Status> {
    let monitor = events(s).await;
    let Some((event, series)) = find(&monitor, name) else {
        return Err(Status::err(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(name)
        )));
    };
    let now_s = crate::shard::unix_ms() / 1000;
    let text = render_graph(event, series, now_s);
    s.reply().verbatim(&text);
    Ok(())
}

/// The graph's text: a header with the extremes, four rows of bars scaled between the
/// lowest and highest sample, and each sample's age (`12s`, `3m`, `1h`, `2d`) written
/// vertically under its column.
fn render_graph(event: &str, series: &Series, now_s: u64) -> String {
    let samples: Vec<_> = series.samples.iter().collect();
    let (min, max) = samples
        .iter()
        .fold((u64::MAX, 0), |(lo, hi), s| (lo.min(s.ms), hi.max(s.ms)));
    let mut out = format!(
        "{event} - high {max} ms, low {min} ms (all time high {} ms)\n",
        series.max_ms
    );
    out.push_str(&"-".repeat(80));
    out.push('\n');
    const ROWS: u64 = 4;
    let height = |ms: u64| {
        if max == min {
            ROWS * 2
        } else {
            1 + (ms - min) * (ROWS * 2 - 1) / (max - min)
        }
    };
    for row in (0..ROWS).rev() {
        let line: String = samples
            .iter()
            .map(|s| match height(s.ms) {
                h if h > row * 2 + 1 => '#',
                h if h == row * 2 + 1 => '_',
                _ => ' ',
            })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let ages: Vec<String> = samples
        .iter()
        .map(|s| {
            let age = now_s.saturating_sub(s.unix_s);
            match age {
                0..=59 => format!("{age}s"),
                60..=3599 => format!("{}m", age / 60),
                3600..=86399 => format!("{}h", age / 3600),
                _ => format!("{}d", age / 86400),
            }
        })
        .collect();
    let depth = ages.iter().map(String::len).max().unwrap_or(0);
    for level in 0..depth {
        let line: String = ages
            .iter()
            .map(|age| age.as_bytes().get(level).map_or(' ', |&c| c as char))
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Redis's createLatencyReport over every core's events (latency_doctor.rs).
async fn doctor(s: &Session) -> String {
    let monitor = events(s).await;
    let settings = s.core.settings.borrow().clone();
    let inputs = super::latency_doctor::Inputs {
        threshold_ms: settings.latency_monitor_threshold_ms,
        slowlog_log_slower_than_us: settings.slowlog_log_slower_than_us,
        hz: settings.hz,
        anon_huge_pages_bytes: super::latency_doctor::anon_huge_pages_bytes(),
        now_unix_s: crate::shard::unix_ms() / 1000,
    };
    super::latency_doctor::report(&monitor, &inputs)
}

/// Every core's histograms, merged.
async fn histograms(s: &Session) -> Histograms {
    let per_core = s
        .core
        .call_all(|core| core.histograms.borrow().clone())
        .await;
    let mut merged = Histograms::default();
    for histograms in &per_core {
        merged.merge(histograms);
    }
    merged
}

/// A map of command name to {calls, histogram_usec: {usec: cumulative calls}}, for the
/// named commands (unknown names skipped) or every command that ran.
async fn histogram(s: &mut Session, names: &[Vec<u8>]) {
    let merged = histograms(s).await;
    let table = table();
    let wanted: Vec<usize> = if names.is_empty() {
        (0..merged.by_command.len()).collect()
    } else {
        let mut indices: Vec<usize> = names
            .iter()
            .filter_map(|name| table.lookup(name).map(|(index, _)| index as usize))
            .collect();
        indices.dedup();
        indices
    };
    let found: Vec<(usize, &hdrhistogram::Histogram<u64>)> = wanted
        .into_iter()
        .filter_map(|index| Some((index, merged.by_command.get(index)?.as_deref()?)))
        .filter(|(_, histogram)| !histogram.is_empty())
        .collect();
    let mut r = s.reply();
    r.map(found.len());
    for (index, histogram) in found {
        r.bulk_str(table.get(index as u16).name);
        r.map(2);
        r.bulk_str("calls");
        r.int(histogram.len() as i64);
        r.bulk_str("histogram_usec");
        let points = cumulative_usec(histogram);
        r.map(points.len());
        for (micros, count) in points {
            r.int(micros as i64);
            r.int(count as i64);
        }
    }
}

/// INFO latencystats: each command's latency at `latency-tracking-info-percentiles`, in
/// microseconds, as Redis formats them (`p99.9=1.003`).
pub async fn info_fields(s: &Session) -> Vec<(String, String)> {
    let merged = histograms(s).await;
    let percentiles = configured_percentiles();
    let table = table();
    let mut fields = Vec::new();
    for (index, histogram) in merged.by_command.iter().enumerate() {
        let Some(histogram) = histogram.as_deref().filter(|h| !h.is_empty()) else {
            continue;
        };
        let values: Vec<String> = percentiles
            .iter()
            .map(|&p| {
                let micros = histogram.value_at_percentile(p) as f64 / 1000.0;
                format!("p{}={micros:.3}", trim_double(p))
            })
            .collect();
        fields.push((
            format!("latency_percentiles_usec_{}", table.get(index as u16).name),
            values.join(","),
        ));
    }
    fields
}

/// `latency-tracking-info-percentiles` from the configuration (INFO is off the data path).
fn configured_percentiles() -> Vec<f64> {
    let guard = crate::server::CONFIG.lock().expect("config lock");
    guard
        .as_ref()
        .and_then(|store| {
            let value = store.get(b"latency-tracking-info-percentiles");
            let (_, text) = value.first()?;
            Some(
                text.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect(),
            )
        })
        .unwrap_or_else(|| vec![50.0, 99.0, 99.9])
}

/// Redis's "%f" then trimDoubleString: 99.900000 -> 99.9, 50.000000 -> 50.
fn trim_double(value: f64) -> String {
    let text = format!("{value:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub static COMMANDS: &[Spec] = &[Spec {
    name: "latency",
    arity: -2,
    flags: 0,
    keys: NO_KEYS,
    handler: Handler::Conn(latency),
    group: "server",
    summary: "A container for latency diagnostics commands",
    since: "2.8.13",
    subcommands: &[
        ("doctor", 2, ADMIN | NOSCRIPT | LOADING | STALE),
        ("graph", 3, ADMIN | NOSCRIPT | LOADING | STALE),
        ("help", 2, LOADING | STALE),
        ("histogram", -2, ADMIN | NOSCRIPT | LOADING | STALE),
        ("history", 3, ADMIN | NOSCRIPT | LOADING | STALE),
        ("latest", 2, ADMIN | NOSCRIPT | LOADING | STALE),
        ("reset", -2, ADMIN | NOSCRIPT | LOADING | STALE),
    ],
}];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::latency::Sample;

    #[test]
    fn percentile_names_like_redis() {
        assert_eq!(trim_double(50.0), "50");
        assert_eq!(trim_double(99.9), "99.9");
        assert_eq!(trim_double(99.99), "99.99");
    }

    #[test]
    fn graph_scales_bars_and_writes_ages_vertically() {
        let mut series = Series::default();
        series.add(Sample {
            unix_s: 100,
            ms: 10,
        });
        series.add(Sample {
            unix_s: 110,
            ms: 50,
        });
        let text = render_graph("command", &series, 125);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "command - high 50 ms, low 10 ms (all time high 50 ms)"
        );
        // The highest sample fills the top row, the lowest only the bottom one.
        assert_eq!(lines[2], " #");
        assert_eq!(lines[5], "_#");
        // Ages 25s and 15s, one character per line.
        assert_eq!(&lines[6..], &["21", "55", "ss"]);
    }
}

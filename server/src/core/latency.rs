//! The latency monitor (LATENCY LATEST / HISTORY / RESET): events that took at least
//! `latency-monitor-threshold` milliseconds, kept per core and merged when read, as
//! Redis's latency.c keeps them (one sample per second per event, the newest 160).

use std::collections::{BTreeMap, VecDeque};

/// Redis's LATENCY_TS_LEN: samples kept per event.
pub const SAMPLES_PER_EVENT: usize = 160;

/// One sample: when (Unix seconds) and how long (milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sample {
    pub unix_s: u64,
    pub ms: u64,
}

/// One event's history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Series {
    pub samples: VecDeque<Sample>,
    /// The worst latency since the event was first recorded or reset.
    pub max_ms: u64,
}

impl Series {
    /// Redis's latencyAddSample: a sample in the same second as the newest one raises it
    /// instead of adding a second one.
    pub fn add(&mut self, sample: Sample) {
        self.max_ms = self.max_ms.max(sample.ms);
        if let Some(last) = self.samples.back_mut() {
            if last.unix_s == sample.unix_s {
                last.ms = last.ms.max(sample.ms);
                return;
            }
        }
        if self.samples.len() == SAMPLES_PER_EVENT {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// Folds another core's series of the same event in (samples by time, same-second
    /// samples as their maximum, the newest 160 kept).
    pub fn merge(&mut self, other: &Series) {
        let mut all: Vec<Sample> = self.samples.iter().chain(&other.samples).copied().collect();
        all.sort_by_key(|s| s.unix_s);
        let max_ms = self.max_ms.max(other.max_ms);
        *self = Series::default();
        for sample in all {
            self.add(sample);
        }
        self.max_ms = max_ms;
    }
}

/// One core's events by name.
#[derive(Clone, Debug, Default)]
pub struct Monitor {
    pub events: BTreeMap<&'static str, Series>,
}

impl Monitor {
    pub fn add(&mut self, event: &'static str, sample: Sample) {
        self.events.entry(event).or_default().add(sample);
    }

    /// Forgets `names` (every event when empty); returns how many were known.
    pub fn reset(&mut self, names: &[Vec<u8>]) -> usize {
        if names.is_empty() {
            let count = self.events.len();
            self.events.clear();
            return count;
        }
        let before = self.events.len();
        self.events.retain(|name, _| {
            !names
                .iter()
                .any(|n| n.eq_ignore_ascii_case(name.as_bytes()))
        });
        before - self.events.len()
    }

    pub fn merge(&mut self, other: &Monitor) {
        for (name, series) in &other.events {
            self.events.entry(name).or_default().merge(series);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_sample_per_second_keeps_the_worst() {
        let mut series = Series::default();
        series.add(Sample { unix_s: 10, ms: 5 });
        series.add(Sample { unix_s: 10, ms: 9 });
        series.add(Sample { unix_s: 10, ms: 2 });
        series.add(Sample { unix_s: 11, ms: 1 });
        assert_eq!(series.samples.len(), 2);
        assert_eq!(series.samples[0].ms, 9);
        assert_eq!(series.max_ms, 9);
        for s in 0..500 {
            series.add(Sample {
                unix_s: 100 + s,
                ms: 1,
            });
        }
        assert_eq!(series.samples.len(), SAMPLES_PER_EVENT);
    }

    #[test]
    fn merging_cores_orders_by_time() {
        let mut a = Monitor::default();
        let mut b = Monitor::default();
        a.add("command", Sample { unix_s: 5, ms: 3 });
        b.add("command", Sample { unix_s: 4, ms: 7 });
        b.add("command", Sample { unix_s: 5, ms: 4 });
        b.add("expire-cycle", Sample { unix_s: 6, ms: 1 });
        a.merge(&b);
        let command = &a.events["command"];
        assert_eq!(command.max_ms, 7);
        let times: Vec<_> = command.samples.iter().map(|s| (s.unix_s, s.ms)).collect();
        assert_eq!(times, vec![(4, 7), (5, 4)]);
        assert_eq!(a.reset(&[b"COMMAND".to_vec()]), 1);
        assert_eq!(a.reset(&[]), 1);
    }
}

/// Per-command latency histograms (Redis 7.0's `latency-tracking`), in nanoseconds from
/// 1 ns to 1 s with two significant figures, as Redis keeps them; a slower command counts
/// as 1 s. Indexed by command table index, created at a command's first call.
#[derive(Clone, Debug, Default)]
pub struct Histograms {
    pub by_command: Vec<Option<Box<hdrhistogram::Histogram<u64>>>>,
}

/// Redis's LATENCY_HISTOGRAM_MIN_VALUE / MAX_VALUE / PRECISION.
const HISTOGRAM_MIN_NS: u64 = 1;
const HISTOGRAM_MAX_NS: u64 = 1_000_000_000;
const HISTOGRAM_SIGFIG: u8 = 2;

pub fn new_histogram() -> hdrhistogram::Histogram<u64> {
    hdrhistogram::Histogram::new_with_bounds(HISTOGRAM_MIN_NS, HISTOGRAM_MAX_NS, HISTOGRAM_SIGFIG)
        .expect("constant bounds are valid")
}

impl Histograms {
    pub fn record(&mut self, index: u16, took: std::time::Duration) {
        let index = index as usize;
        if self.by_command.len() <= index {
            self.by_command.resize(index + 1, None);
        }
        let histogram = self.by_command[index].get_or_insert_with(|| Box::new(new_histogram()));
        let ns = (took.as_nanos() as u64).clamp(HISTOGRAM_MIN_NS, HISTOGRAM_MAX_NS);
        histogram.saturating_record(ns);
    }

    pub fn merge(&mut self, other: &Histograms) {
        if self.by_command.len() < other.by_command.len() {
            self.by_command.resize(other.by_command.len(), None);
        }
        for (mine, theirs) in self.by_command.iter_mut().zip(&other.by_command) {
            if let Some(theirs) = theirs {
                let mine = mine.get_or_insert_with(|| Box::new(new_histogram()));
                // Same bounds on every core: adding cannot fail.
                let _ = mine.add(&**theirs);
            }
        }
    }
}

/// Redis's fillCommandCDF: (microseconds, cumulative calls) at power-of-two steps from
/// 1024 ns, each step that added calls.
pub fn cumulative_usec(histogram: &hdrhistogram::Histogram<u64>) -> Vec<(u64, u64)> {
    let mut points = Vec::new();
    let mut cumulative = 0;
    for step in histogram.iter_log(1024, 2.0) {
        let added = step.count_since_last_iteration();
        cumulative += added;
        if added > 0 {
            let micros = histogram.highest_equivalent(step.value_iterated_to()) / 1000;
            points.push((micros, cumulative));
        }
    }
    points
}

#[cfg(test)]
mod histogram_tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cumulative_points_at_power_of_two_microseconds() {
        let mut histograms = Histograms::default();
        histograms.record(3, Duration::from_nanos(500));
        histograms.record(3, Duration::from_micros(3));
        histograms.record(3, Duration::from_micros(3));
        histograms.record(3, Duration::from_secs(5));
        let mut other = Histograms::default();
        other.record(3, Duration::from_micros(3));
        histograms.merge(&other);
        let histogram = histograms.by_command[3].as_ref().unwrap();
        assert_eq!(histogram.len(), 5);
        let points = cumulative_usec(histogram);
        assert_eq!(points.first(), Some(&(1, 1)));
        assert_eq!(points[1], (4, 4));
        assert_eq!(points.last().unwrap().1, 5);
    }
}

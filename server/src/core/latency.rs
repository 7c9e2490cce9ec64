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

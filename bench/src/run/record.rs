//! What a run measures per command type: an HdrHistogram of latencies in microseconds
//! and counts of operations, hits, misses, errors and bytes. Each worker thread keeps its
//! own and they are merged at the end, so recording never takes a lock.

use hdrhistogram::Histogram;

/// Three significant digits: a reported percentile is within 0.1% of the true value.
pub const SIGNIFICANT_DIGITS: u8 = 3;
/// Latencies above an hour are recorded as an hour. Fixed bounds rather than
/// auto-resizing: `saturating_record` clamps to the *current* range, and a resizing
/// `record` would allocate on the hot path.
pub const LATENCY_US_MAX: u64 = 3_600_000_000;

#[derive(Clone, Debug)]
pub struct Record {
    pub latency_us: Histogram<u64>,
    pub ops: u64,
    pub hits: u64,
    pub misses: u64,
    pub errors: u64,
    pub bytes_out: u64,
    pub bytes_in: u64,
}

impl Default for Record {
    fn default() -> Record {
        Record::new()
    }
}

impl Record {
    pub fn new() -> Record {
        Record {
            latency_us: Histogram::new_with_bounds(1, LATENCY_US_MAX, SIGNIFICANT_DIGITS)
                .expect("valid bounds and precision"),
            ops: 0,
            hits: 0,
            misses: 0,
            errors: 0,
            bytes_out: 0,
            bytes_in: 0,
        }
    }

    pub fn latency(&mut self, micros: u64) {
        self.latency_us.saturating_record(micros.max(1));
        self.ops += 1;
    }

    pub fn merge(&mut self, other: &Record) {
        self.latency_us
            .add(&other.latency_us)
            .expect("histograms of equal bounds and precision always add");
        self.ops += other.ops;
        self.hits += other.hits;
        self.misses += other.misses;
        self.errors += other.errors;
        self.bytes_out += other.bytes_out;
        self.bytes_in += other.bytes_in;
    }

    pub fn percentile_ms(&self, percentile: f64) -> f64 {
        self.latency_us.value_at_percentile(percentile) as f64 / 1000.0
    }

    pub fn mean_ms(&self) -> f64 {
        self.latency_us.mean() / 1000.0
    }

    /// (percentile, latency in ms) points of the HdrHistogram percentile spectrum, five
    /// ticks per halving of the remaining tail, as `HistogramLogAnalyzer` plots them.
    pub fn spectrum(&self) -> Vec<(f64, f64)> {
        self.latency_us
            .iter_quantiles(5)
            .map(|v| {
                (
                    v.quantile_iterated_to() * 100.0,
                    self.latency_us.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
                )
            })
            .collect()
    }

    /// The `.hgrm` text HdrHistogram's `outputPercentileDistribution` writes, in ms.
    pub fn hgrm(&self) -> String {
        let h = &self.latency_us;
        let mut out = format!(
            "{:>12} {:>14} {:>10} {:>14}\n\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        );
        let mut total_count = 0u64;
        for v in h.iter_quantiles(5) {
            total_count += v.count_since_last_iteration();
            let q = v.quantile_iterated_to();
            let inverse = if q < 1.0 {
                format!("{:>14.2}", 1.0 / (1.0 - q))
            } else {
                String::new()
            };
            out += &format!(
                "{:>12.3} {:>14.12} {:>10} {inverse}\n",
                h.highest_equivalent(v.value_iterated_to()) as f64 / 1000.0,
                q,
                total_count,
            );
        }
        out += &format!(
            "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]\n",
            h.mean() / 1000.0,
            h.stdev() / 1000.0
        );
        out += &format!(
            "#[Max     = {:>12.3}, Total count    = {:>12}]\n",
            h.max() as f64 / 1000.0,
            h.len()
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_within_histogram_precision() {
        let mut record = Record::new();
        for micros in 1..=10_000u64 {
            record.latency(micros);
        }
        for (percentile, exact_ms) in [(50.0, 5.0), (99.0, 9.9), (99.9, 9.99)] {
            let got = record.percentile_ms(percentile);
            assert!(
                (got - exact_ms).abs() <= exact_ms * 0.001 + 0.001,
                "p{percentile}: {got} vs {exact_ms}"
            );
        }
        assert_eq!(record.ops, 10_000);
    }

    #[test]
    fn large_values_are_kept_and_only_beyond_an_hour_clamped() {
        let mut record = Record::new();
        record.latency(40);
        record.latency(2_500_000);
        record.latency(LATENCY_US_MAX * 2);
        assert_eq!(record.latency_us.min(), 40);
        assert!((record.percentile_ms(60.0) - 2500.0).abs() < 2.5);
        assert!(record.latency_us.max() >= LATENCY_US_MAX);
    }

    #[test]
    fn merging_adds_counts_and_histograms() {
        let mut a = Record::new();
        let mut b = Record::new();
        a.latency(100);
        b.latency(300);
        b.misses = 1;
        a.merge(&b);
        assert_eq!(a.ops, 2);
        assert_eq!(a.misses, 1);
        assert_eq!(a.latency_us.max(), 300);
    }

    #[test]
    fn spectrum_rises_to_the_maximum() {
        let mut record = Record::new();
        for micros in [100, 100, 100, 5000] {
            record.latency(micros);
        }
        let spectrum = record.spectrum();
        assert!(spectrum
            .windows(2)
            .all(|w| w[0].1 <= w[1].1 && w[0].0 <= w[1].0));
        let (last_p, last_ms) = *spectrum.last().unwrap();
        assert_eq!(last_p, 100.0);
        assert!((last_ms - 5.0).abs() < 0.01);
        assert!(record.hgrm().contains("Total count    =            4"));
    }
}

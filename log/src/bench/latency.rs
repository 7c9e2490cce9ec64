//! Time-to-durable samples in a fixed-size log-linear histogram: recording is one
//! increment (no allocation, no sort), memory is bounded however long a run lasts, and
//! every percentile is exact to within 1/64 (1.6%) of its value.

use std::time::Duration;

/// Sub-buckets per power of two: the relative precision of every recorded value.
const SUB_BUCKET_BITS: u32 = 6;
const SUB_BUCKETS: u64 = 1 << SUB_BUCKET_BITS;
/// Enough buckets for any u64 nanosecond count.
const BUCKETS: usize = ((64 - SUB_BUCKET_BITS + 1) as usize) << SUB_BUCKET_BITS;

/// Latency samples, summarised by percentile.
#[derive(Clone, Debug)]
pub struct Latencies {
    counts: Vec<u64>,
    total: u64,
    sum_ns: u128,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            counts: vec![0; BUCKETS],
            total: 0,
            sum_ns: 0,
        }
    }
}

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[bucket(ns)] += 1;
        self.total += 1;
        self.sum_ns += u128::from(ns);
    }

    /// The `p`-th percentile (0..=100), as the lower bound of its bucket; zero when empty.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * (self.total - 1) as f64).round() as u64;
        let mut seen = 0;
        for (i, &count) in self.counts.iter().enumerate() {
            seen += count;
            if seen > rank {
                return Duration::from_nanos(lower_bound(i));
            }
        }
        unreachable!("rank {rank} is below the total {}", self.total)
    }

    pub fn mean(&self) -> Duration {
        let mean = self.sum_ns / u128::from(self.total.max(1));
        Duration::from_nanos(u64::try_from(mean).unwrap_or(u64::MAX))
    }

    pub fn len(&self) -> usize {
        self.total as usize
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    pub fn summary(&self) -> String {
        format!(
            "p50 {:>8.1} µs  p99 {:>8.1} µs  p99.9 {:>8.1} µs",
            us(self.percentile(50.0)),
            us(self.percentile(99.0)),
            us(self.percentile(99.9))
        )
    }
}

pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn bucket(ns: u64) -> usize {
    if ns < SUB_BUCKETS {
        return ns as usize;
    }
    let exp = 63 - ns.leading_zeros(); // >= SUB_BUCKET_BITS
    let sub = (ns >> (exp - SUB_BUCKET_BITS)) - SUB_BUCKETS;
    (((exp - SUB_BUCKET_BITS + 1) as u64) * SUB_BUCKETS + sub) as usize
}

fn lower_bound(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < SUB_BUCKETS {
        return bucket;
    }
    let exp = bucket / SUB_BUCKETS + u64::from(SUB_BUCKET_BITS) - 1;
    (SUB_BUCKETS + bucket % SUB_BUCKETS) << (exp - u64::from(SUB_BUCKET_BITS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values_within_the_precision() {
        for ns in (0..200_000u64).chain([u64::MAX / 3, u64::MAX]) {
            let low = lower_bound(bucket(ns));
            assert!(low <= ns, "{ns}: bucket starts at {low}");
            assert!(ns - low <= ns / SUB_BUCKETS, "{ns}: bucket starts at {low}");
        }
        assert!(bucket(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_of_a_known_spread() {
        let mut lat = Latencies::default();
        for us in 1..=1000u64 {
            lat.push(Duration::from_micros(us));
        }
        let p50 = lat.percentile(50.0).as_nanos() as f64;
        let p99 = lat.percentile(99.0).as_nanos() as f64;
        assert!((p50 - 500_500.0).abs() / 500_500.0 < 0.02, "p50 {p50}");
        assert!((p99 - 990_000.0).abs() / 990_000.0 < 0.02, "p99 {p99}");
        assert_eq!(lat.mean(), Duration::from_nanos(500_500));
        assert_eq!(lat.len(), 1000);
    }
}

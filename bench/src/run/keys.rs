//! Which key a request uses: memtier_benchmark's key patterns over a key range.
//!
//! - `R` random: uniform over the range.
//! - `S` sequential: each connection walks the range from its own starting point (spread
//!   evenly, so connections do not all hit the same key at once), wrapping at the end.
//! - `G` gaussian: normal around `--key-median` with `--key-stddev`, redrawn when outside.
//! - `Z` zipf: rank 1 is the range's first key, with exponent `--key-zipf-exp`.
//! - `P` parallel: each connection owns one slice of the range and walks it once; used by
//!   prefill, so every key is written exactly once.

use fastrand::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    Random,
    Sequential,
    Gaussian,
    Zipf,
    Parallel,
}

impl Pattern {
    pub fn parse(letter: &str) -> Result<Pattern, String> {
        match letter {
            "R" => Ok(Pattern::Random),
            "S" => Ok(Pattern::Sequential),
            "G" => Ok(Pattern::Gaussian),
            "Z" => Ok(Pattern::Zipf),
            "P" => Ok(Pattern::Parallel),
            _ => Err(format!(
                "invalid key pattern {letter:?}: use R (random), S (sequential), G (gaussian), Z (zipf) or P (parallel)"
            )),
        }
    }
}

/// The key range and the parameters of its distributions, shared by every connection.
#[derive(Clone, Debug)]
pub struct KeySpace {
    pub minimum: u64,
    pub maximum: u64,
    pub median: f64,
    pub stddev: f64,
    pub zipf: Zipf,
}

impl KeySpace {
    /// memtier's defaults: the median in the middle of the range, a sixth of it as stddev.
    pub fn new(
        minimum: u64,
        maximum: u64,
        median: Option<f64>,
        stddev: Option<f64>,
        zipf_exponent: f64,
    ) -> KeySpace {
        let width = (maximum - minimum) as f64;
        KeySpace {
            minimum,
            maximum,
            median: median.unwrap_or(minimum as f64 + width / 2.0),
            stddev: stddev.unwrap_or(width / 6.0),
            zipf: Zipf::new(maximum - minimum + 1, zipf_exponent),
        }
    }

    pub fn count(&self) -> u64 {
        self.maximum - self.minimum + 1
    }

    /// The `index`-th of `of` equal slices of the range: `(first key, number of keys)`.
    pub fn slice(&self, index: u64, of: u64) -> (u64, u64) {
        let count = self.count();
        let start = count * index / of;
        let end = count * (index + 1) / of;
        (self.minimum + start, end - start)
    }
}

/// One connection's position for the sequential and parallel patterns.
#[derive(Clone, Debug)]
pub struct Cursor {
    next: u64,
    slice_start: u64,
    slice_len: u64,
}

impl Cursor {
    /// Connection `index` of `of`: sequential walks start at the slice's first key.
    pub fn new(space: &KeySpace, index: u64, of: u64) -> Cursor {
        let (slice_start, slice_len) = space.slice(index, of);
        Cursor {
            next: slice_start,
            slice_start,
            slice_len,
        }
    }

    /// Keys this connection's slice holds: how many requests prefill sends on it.
    pub fn slice_len(&self) -> u64 {
        self.slice_len
    }
}

/// The next key number for `pattern`.
pub fn next(pattern: Pattern, space: &KeySpace, cursor: &mut Cursor, rng: &mut Rng) -> u64 {
    match pattern {
        Pattern::Random => rng.u64(space.minimum..=space.maximum),
        Pattern::Sequential => {
            let key = cursor.next;
            cursor.next = if key >= space.maximum {
                space.minimum
            } else {
                key + 1
            };
            key
        }
        Pattern::Parallel => {
            let offset = (cursor.next - cursor.slice_start) % cursor.slice_len.max(1);
            cursor.next = cursor.slice_start + offset + 1;
            cursor.slice_start + offset
        }
        Pattern::Gaussian => gaussian(space, rng),
        Pattern::Zipf => space.minimum + space.zipf.sample(rng) - 1,
    }
}

fn gaussian(space: &KeySpace, rng: &mut Rng) -> u64 {
    loop {
        // Box-Muller; 1 - f64() keeps the logarithm's argument in (0, 1].
        let radius = (-2.0 * (1.0 - rng.f64()).ln()).sqrt();
        let normal = radius * (std::f64::consts::TAU * rng.f64()).cos();
        let key = (space.median + normal * space.stddev).round();
        if key >= space.minimum as f64 && key <= space.maximum as f64 {
            return key as u64;
        }
    }
}

/// Zipf over ranks 1..=n by rejection-inversion (Hörmann and Derflinger, 1996): constant
/// time and memory per sample, whatever the range, where a table would need n entries.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: f64,
    exponent: f64,
    h_integral_x1: f64,
    h_integral_n: f64,
    s: f64,
}

impl Zipf {
    pub fn new(n: u64, exponent: f64) -> Zipf {
        let mut zipf = Zipf {
            n: n as f64,
            exponent,
            h_integral_x1: 0.0,
            h_integral_n: 0.0,
            s: 0.0,
        };
        zipf.h_integral_x1 = zipf.h_integral(1.5) - 1.0;
        zipf.h_integral_n = zipf.h_integral(zipf.n + 0.5);
        zipf.s = 2.0 - zipf.h_integral_inverse(zipf.h_integral(2.5) - zipf.h(2.0));
        zipf
    }

    /// A rank in 1..=n; rank k has probability proportional to 1/k^exponent.
    pub fn sample(&self, rng: &mut Rng) -> u64 {
        loop {
            let u = self.h_integral_n + rng.f64() * (self.h_integral_x1 - self.h_integral_n);
            let x = self.h_integral_inverse(u);
            let k = x.round().clamp(1.0, self.n);
            if k - x <= self.s || u >= self.h_integral(k + 0.5) - self.h(k) {
                return k as u64;
            }
        }
    }

    fn h(&self, x: f64) -> f64 {
        (-self.exponent * x.ln()).exp()
    }

    fn h_integral(&self, x: f64) -> f64 {
        let log_x = x.ln();
        helper2((1.0 - self.exponent) * log_x) * log_x
    }

    fn h_integral_inverse(&self, x: f64) -> f64 {
        let t = (x * (1.0 - self.exponent)).max(-1.0);
        (helper1(t) * x).exp()
    }
}

/// ln(1 + x) / x, accurate near 0.
fn helper1(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.ln_1p() / x
    } else {
        1.0 - x * (0.5 - x * (1.0 / 3.0 - 0.25 * x))
    }
}

/// (e^x - 1) / x, accurate near 0.
fn helper2(x: f64) -> f64 {
    if x.abs() > 1e-8 {
        x.exp_m1() / x
    } else {
        1.0 + x * 0.5 * (1.0 + x * (1.0 / 3.0) * (1.0 + 0.25 * x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space() -> KeySpace {
        KeySpace::new(10, 109, None, None, 1.0)
    }

    fn draw(pattern: Pattern, count: usize) -> Vec<u64> {
        let space = space();
        let mut cursor = Cursor::new(&space, 0, 1);
        let mut rng = Rng::with_seed(7);
        (0..count)
            .map(|_| next(pattern, &space, &mut cursor, &mut rng))
            .collect()
    }

    #[test]
    fn every_pattern_stays_in_range() {
        for pattern in [
            Pattern::Random,
            Pattern::Sequential,
            Pattern::Gaussian,
            Pattern::Zipf,
            Pattern::Parallel,
        ] {
            assert!(draw(pattern, 10_000).iter().all(|k| (10..=109).contains(k)));
        }
    }

    #[test]
    fn sequential_wraps_and_parallel_slices_cover_the_range_once() {
        let keys = draw(Pattern::Sequential, 102);
        assert_eq!(&keys[..3], &[10, 11, 12]);
        assert_eq!(&keys[99..], &[109, 10, 11]);
        let space = space();
        let mut all = Vec::new();
        for index in 0..3 {
            let mut cursor = Cursor::new(&space, index, 3);
            let mut rng = Rng::with_seed(1);
            for _ in 0..cursor.slice_len() {
                all.push(next(Pattern::Parallel, &space, &mut cursor, &mut rng));
            }
        }
        all.sort_unstable();
        assert_eq!(all, (10..=109).collect::<Vec<_>>());
    }

    #[test]
    fn gaussian_centres_on_the_median() {
        let keys = draw(Pattern::Gaussian, 20_000);
        let mean = keys.iter().sum::<u64>() as f64 / keys.len() as f64;
        assert!((mean - 59.5).abs() < 1.0, "mean {mean}");
        let near = keys.iter().filter(|&&k| (43..=76).contains(&k)).count();
        let share = near as f64 / keys.len() as f64;
        assert!((0.62..0.74).contains(&share), "within one stddev: {share}");
    }

    #[test]
    fn zipf_rank_frequencies_follow_the_exponent() {
        let keys = draw(Pattern::Zipf, 100_000);
        let count = |k: u64| keys.iter().filter(|&&x| x == k).count() as f64;
        // With exponent 1, rank 1 is drawn twice as often as rank 2, ten times rank 10.
        let ratio_2 = count(10) / count(11);
        let ratio_10 = count(10) / count(19);
        assert!((1.8..2.2).contains(&ratio_2), "{ratio_2}");
        assert!((8.0..12.5).contains(&ratio_10), "{ratio_10}");
    }
}

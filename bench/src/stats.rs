//! Summary statistics for repeated measurements: medians and Holdfast/Redis ratios.
//!
//! Medians, not means: one round disturbed by another process on a shared machine should
//! not move the reported figure.

/// The median of `samples`; the mean of the two middle values for an even count.
/// `None` for no samples. NaN samples sort last (`total_cmp`) rather than panicking.
pub fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        Some(sorted[middle])
    } else {
        Some((sorted[middle - 1] + sorted[middle]) / 2.0)
    }
}

/// `numerator / denominator` when both exist and the quotient is a finite number.
pub fn ratio(numerator: Option<f64>, denominator: Option<f64>) -> Option<f64> {
    let quotient = numerator? / denominator?;
    quotient.is_finite().then_some(quotient)
}

/// The smallest and largest sample, to show the spread next to a median.
pub fn range(samples: &[f64]) -> Option<(f64, f64)> {
    let min = samples.iter().copied().reduce(f64::min)?;
    let max = samples.iter().copied().reduce(f64::max)?;
    Some((min, max))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_count_is_the_middle_sample() {
        assert_eq!(median(&[5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&[7.5]), Some(7.5));
    }

    #[test]
    fn median_of_even_count_averages_the_middle_pair() {
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn median_ignores_one_outlier() {
        assert_eq!(median(&[100.0, 101.0, 99.0, 100.5, 3.0]), Some(100.0));
    }

    #[test]
    fn median_of_nothing_is_none() {
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn ratio_divides_and_refuses_missing_or_zero() {
        assert_eq!(ratio(Some(150.0), Some(100.0)), Some(1.5));
        assert_eq!(ratio(None, Some(100.0)), None);
        assert_eq!(ratio(Some(1.0), None), None);
        assert_eq!(ratio(Some(1.0), Some(0.0)), None);
        assert_eq!(ratio(Some(0.0), Some(2.0)), Some(0.0));
    }

    #[test]
    fn range_is_min_and_max() {
        assert_eq!(range(&[3.0, 9.0, 1.0]), Some((1.0, 9.0)));
        assert_eq!(range(&[]), None);
    }
}

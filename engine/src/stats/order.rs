//! Order statistics every layer uses: the median of a run's figures and the argmax of logits
//! or vote counts, one definition each (`no_std`, no heap: the median sorts its argument).

/// The median of `v` (the mean of the middle two for an even count; `None` when empty). Sorts
/// `v` in place (NaN last, by `total_cmp`).
pub fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable_by(|a, b| a.total_cmp(b));
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { 0.5 * (v[n / 2 - 1] + v[n / 2]) })
}

/// Index of the largest value, the first on ties (0 for an empty slice; a NaN never wins over
/// the first element).
pub fn argmax<T: PartialOrd>(x: &[T]) -> usize {
    let mut best = 0;
    for (i, v) in x.iter().enumerate() {
        if *v > x[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn argmax_takes_the_first_of_ties() {
        assert_eq!(argmax(&[1.0f32, 3.0, 3.0, 2.0]), 1);
        assert_eq!(argmax(&[5u64, 9, 9]), 1);
        assert_eq!(argmax::<f32>(&[]), 0);
    }
}

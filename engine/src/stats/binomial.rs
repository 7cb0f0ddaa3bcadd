//! Binomial probabilities, the binomial tests of PREDICT and the Clopper-Pearson bounds of
//! CERTIFY (paper 003 §3; Cohen, Rosenfeld & Kolter 2019, Algorithm 1).
//!
//! Clopper-Pearson is the exact (conservative) interval obtained by inverting binomial tails:
//! its bounds are Beta quantiles, B(α; k, n − k + 1) below and B(1 − α; k + 1, n − k) above.
//! CERTIFY uses only the one-sided lower bound at level α — a bound on pA must err low, since
//! the radius grows with pA.

use super::beta::{ibeta_eval, inverse, ln_power_terms};
use super::{check_counts, check_unit_closed, check_unit_open, StatsError, MAX_COUNT};

/// The one-sided (1 − α) Clopper-Pearson lower confidence bound on a binomial proportion from
/// k successes in n trials: with probability at least 1 − α over the sampling, the true
/// proportion is ≥ the returned value. This is CERTIFY's pA_lower = B(α; k, n − k + 1); it is
/// 0 when k = 0. Requires 1 ≤ n ≤ 2^53, k ≤ n, 0 < α < 1.
pub fn clopper_pearson_lower(k: u64, n: u64, alpha: f64) -> Result<f64, StatsError> {
    check_counts(k, n)?;
    check_unit_open("alpha", alpha)?;
    lower(k, n, alpha)
}

/// The one-sided (1 − α) Clopper-Pearson upper confidence bound: with probability at least
/// 1 − α the true proportion is ≤ the returned value, B(1 − α; k + 1, n − k); 1 when k = n.
/// The quantile is solved from its upper tail α directly (as `scipy.stats.beta.isf`), not
/// from 1 − α rounded. Requires 1 ≤ n ≤ 2^53, k ≤ n, 0 < α < 1.
pub fn clopper_pearson_upper(k: u64, n: u64, alpha: f64) -> Result<f64, StatsError> {
    check_counts(k, n)?;
    check_unit_open("alpha", alpha)?;
    upper(k, n, alpha)
}

/// The two-sided (1 − α) Clopper-Pearson interval (lo, hi): each side holds at level α/2, so
/// the true proportion lies in [lo, hi] with probability at least 1 − α. Equal to statsmodels'
/// `proportion_confint(k, n, alpha, method="beta")`: lo = B(α/2; k, n − k + 1) (0 when k = 0),
/// hi = B(1 − α/2; k + 1, n − k) (1 when k = n). Requires 1 ≤ n ≤ 2^53, k ≤ n, 0 < α < 1.
pub fn clopper_pearson_interval(k: u64, n: u64, alpha: f64) -> Result<(f64, f64), StatsError> {
    check_counts(k, n)?;
    check_unit_open("alpha", alpha)?;
    let half = 0.5 * alpha;
    Ok((lower(k, n, half)?, upper(k, n, half)?))
}

fn lower(k: u64, n: u64, alpha: f64) -> Result<f64, StatsError> {
    if k == 0 {
        return Ok(0.0);
    }
    Ok(inverse(k as f64, (n - k + 1) as f64, alpha, 1.0 - alpha)?.0)
}

fn upper(k: u64, n: u64, alpha: f64) -> Result<f64, StatsError> {
    if k == n {
        return Ok(1.0);
    }
    Ok(inverse((k + 1) as f64, (n - k) as f64, 1.0 - alpha, alpha)?.0)
}

fn check_trials(n: u64) -> Result<(), StatsError> {
    if n > MAX_COUNT {
        return Err(StatsError::Domain { name: "n", value: n as f64, expected: "an integer in [0, 2^53]" });
    }
    Ok(())
}

/// P[X = k] for X ~ Binomial(n, p), with small relative error (also far in the tails); 0 for
/// k > n. Requires n ≤ 2^53 and p ∈ [0, 1].
pub fn binom_pmf(k: u64, n: u64, p: f64) -> Result<f64, StatsError> {
    check_trials(n)?;
    check_unit_closed("p", p)?;
    Ok(pmf(k as f64, n as f64, p))
}

/// P[X ≤ k] for X ~ Binomial(n, p), with small relative error where it is small; 1 for k ≥ n.
/// Requires n ≤ 2^53 and p ∈ [0, 1].
pub fn binom_cdf(k: u64, n: u64, p: f64) -> Result<f64, StatsError> {
    check_trials(n)?;
    check_unit_closed("p", p)?;
    cdf(k as f64, n as f64, p)
}

/// P[X > k] for X ~ Binomial(n, p) (scipy's `binom.sf`), computed directly rather than as
/// 1 − cdf, so it keeps its relative precision where it is small; 0 for k ≥ n.
/// Requires n ≤ 2^53 and p ∈ [0, 1].
pub fn binom_sf(k: u64, n: u64, p: f64) -> Result<f64, StatsError> {
    check_trials(n)?;
    check_unit_closed("p", p)?;
    sf(k as f64, n as f64, p)
}

// The helpers below take counts as f64 (exact up to 2^53) so that scipy's search may step to
// −1 without a signed/unsigned dance.

fn pmf(k: f64, n: f64, p: f64) -> f64 {
    if k < 0.0 || k > n {
        return 0.0;
    }
    if p == 0.0 {
        return if k == 0.0 { 1.0 } else { 0.0 };
    }
    if p == 1.0 {
        return if k == n { 1.0 } else { 0.0 };
    }
    let q = 1.0 - p;
    if k == n {
        return libm::pow(p, n);
    }
    if k == 0.0 {
        // (1 − p)^n through log1p: 1 − p rounded would carry n times its rounding error.
        return if p <= 0.5 { libm::exp(n * libm::log1p(-p)) } else { libm::pow(q, n) };
    }
    // C(n, k) p^k q^(n−k) = [p^(k+1) q^(n−k+1) / B(k + 1, n − k + 1)] / (p q (n + 1)); the
    // bracket is the power term of the incomplete beta, accurate at any n.
    let lpt = ln_power_terms(k + 1.0, n - k + 1.0, p, q);
    let (lp, lq) = if p <= q { (libm::log(p), libm::log1p(-p)) } else { (libm::log1p(-q), libm::log(q)) };
    libm::exp(lpt - lp - lq - libm::log(n + 1.0))
}

/// P[X ≤ k] = I_{1−p}(n − k, k + 1) = 1 − I_p(k + 1, n − k).
fn cdf(k: f64, n: f64, p: f64) -> Result<f64, StatsError> {
    if k < 0.0 {
        return Ok(0.0);
    }
    if k >= n || p == 0.0 {
        return Ok(1.0);
    }
    if p == 1.0 {
        return Ok(0.0);
    }
    Ok(ibeta_eval(k + 1.0, n - k, p, 1.0 - p)?.1)
}

/// P[X > k] = I_p(k + 1, n − k).
fn sf(k: f64, n: f64, p: f64) -> Result<f64, StatsError> {
    if k < 0.0 {
        return Ok(1.0);
    }
    if k >= n || p == 0.0 {
        return Ok(0.0);
    }
    if p == 1.0 {
        return Ok(1.0);
    }
    Ok(ibeta_eval(k + 1.0, n - k, p, 1.0 - p)?.0)
}

fn check_test(k: u64, n: u64, p: f64) -> Result<(), StatsError> {
    check_counts(k, n)?;
    check_unit_closed("p", p)
}

/// The exact two-sided binomial test of H₀: X ~ Binomial(n, p) given k successes: its p-value,
/// the probability under H₀ of an outcome no more likely than k. PREDICT abstains unless
/// this is ≤ α for k = nA, n = nA + nB, p = ½ (then the returned class equals g(x) with
/// probability at least 1 − α).
///
/// Bit-for-bit the algorithm of `scipy.stats.binomtest(k, n, p).pvalue`: outcomes whose
/// probability is ≤ P[X = k]·(1 + 1e-7) are summed (the relative slack absorbs rounding in the
/// pmf, so the mirror image of k counts as "as extreme"), the far tail's edge found by binary
/// search on the monotone side of the mode. At p = ½ this is min(1, 2·P[X ≤ min(k, n − k)]).
/// Requires 1 ≤ n ≤ 2^53, k ≤ n and p ∈ [0, 1].
pub fn binom_test_two_sided(k: u64, n: u64, p: f64) -> Result<f64, StatsError> {
    check_test(k, n, p)?;
    let (kf, nf) = (k as f64, n as f64);
    let d = pmf(kf, nf, p);
    let rerr = 1.0 + 1e-7;
    let mode = p * nf;
    let pval = if kf == mode {
        1.0
    } else if kf < mode {
        // First index above the mode whose probability is ≤ d·rerr.
        let ix = binary_search(|x| -pmf(x, nf, p), -d * rerr, libm::ceil(mode), nf);
        let tie = if d * rerr == pmf(ix, nf, p) { 1.0 } else { 0.0 };
        let y = nf - ix + tie;
        cdf(kf, nf, p)? + sf(nf - y, nf, p)?
    } else {
        let ix = binary_search(|x| pmf(x, nf, p), d * rerr, 0.0, libm::floor(mode));
        let y = ix + 1.0;
        cdf(y - 1.0, nf, p)? + sf(kf - 1.0, nf, p)?
    };
    Ok(pval.min(1.0))
}

/// scipy's `_binary_search_for_binom_tst`: for `f` ascending on [lo, hi], the i with
/// f(i) ≤ d < f(i + 1) (may be lo − 1).
fn binary_search(f: impl Fn(f64) -> f64, d: f64, mut lo: f64, mut hi: f64) -> f64 {
    while lo < hi {
        let mid = lo + libm::floor((hi - lo) / 2.0);
        let v = f(mid);
        if v < d {
            lo = mid + 1.0;
        } else if v > d {
            hi = mid - 1.0;
        } else {
            return mid;
        }
    }
    if f(lo) <= d {
        lo
    } else {
        lo - 1.0
    }
}

/// The exact one-sided binomial test against H₁: proportion < p. Its p-value is P[X ≤ k]
/// under Binomial(n, p) (`scipy.stats.binomtest(k, n, p, alternative="less")`).
/// Requires 1 ≤ n ≤ 2^53, k ≤ n and p ∈ [0, 1].
pub fn binom_test_less(k: u64, n: u64, p: f64) -> Result<f64, StatsError> {
    check_test(k, n, p)?;
    cdf(k as f64, n as f64, p)
}

/// The exact one-sided binomial test against H₁: proportion > p. Its p-value is P[X ≥ k]
/// under Binomial(n, p) (`scipy.stats.binomtest(k, n, p, alternative="greater")`).
/// Requires 1 ≤ n ≤ 2^53, k ≤ n and p ∈ [0, 1].
pub fn binom_test_greater(k: u64, n: u64, p: f64) -> Result<f64, StatsError> {
    check_test(k, n, p)?;
    sf(k as f64 - 1.0, n as f64, p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{betainc, betaincinv};

    use crate::stats::test_util::rel;

    #[test]
    fn clopper_pearson_edges_and_closed_forms() {
        assert_eq!(clopper_pearson_lower(0, 100, 0.001).unwrap(), 0.0);
        assert_eq!(clopper_pearson_upper(100, 100, 0.001).unwrap(), 1.0);
        // k = n: B(α; n, 1) = α^(1/n). k = 0: upper = 1 − α^(1/n).
        for &n in &[1u64, 100, 10_000, 100_000] {
            let lo = clopper_pearson_lower(n, n, 0.001).unwrap();
            assert!(rel(lo, libm::pow(0.001, 1.0 / n as f64)) < 1e-14, "n = {n}: {lo}");
            let hi = clopper_pearson_upper(0, n, 0.001).unwrap();
            let exact = -libm::expm1(libm::log(0.001) / n as f64);
            assert!(rel(hi, exact) < 1e-14, "n = {n}: {hi} vs {exact}");
        }
        // The lower bound is the α quantile: the binomial tail at it equals α.
        let lo = clopper_pearson_lower(9_990, 10_000, 0.001).unwrap();
        assert!(rel(binom_sf(9_989, 10_000, lo).unwrap(), 0.001) < 1e-12);
        assert_eq!(lo, betaincinv(9_990.0, 11.0, 0.001).unwrap());
        let (l2, h2) = clopper_pearson_interval(37, 120, 0.05).unwrap();
        assert_eq!(l2, clopper_pearson_lower(37, 120, 0.025).unwrap());
        assert_eq!(h2, clopper_pearson_upper(37, 120, 0.025).unwrap());
        assert!(l2 < 37.0 / 120.0 && 37.0 / 120.0 < h2);
    }

    #[test]
    fn clopper_pearson_rejects_bad_counts() {
        assert_eq!(clopper_pearson_lower(11, 10, 0.01), Err(StatsError::CountExceedsTrials { k: 11, n: 10 }));
        assert!(clopper_pearson_lower(0, 0, 0.01).is_err());
        assert!(clopper_pearson_upper(1, 10, 1.0).is_err());
        assert!(clopper_pearson_interval(1, 10, f64::NAN).is_err());
    }

    #[test]
    fn binomial_tails_are_complementary() {
        for &(k, n, p) in &[(0u64, 10u64, 0.3), (3, 10, 0.3), (9, 10, 0.3), (4_990, 10_000, 0.5), (17, 100_000, 1e-4)] {
            let c = binom_cdf(k, n, p).unwrap();
            let s = binom_sf(k, n, p).unwrap();
            assert!(libm::fabs(c + s - 1.0) < 4e-16, "({k}, {n}, {p})");
            assert!(rel(s, betainc((k + 1) as f64, (n - k) as f64, p).unwrap()) < 1e-15);
        }
        // Small n by direct summation.
        let n = 12;
        let p: f64 = 0.37;
        let mut acc = 0.0;
        let mut choose = 1.0;
        for k in 0..=n {
            if k > 0 {
                choose = choose * (n - k + 1) as f64 / k as f64;
            }
            let direct = choose * libm::pow(p, k as f64) * libm::pow(1.0 - p, (n - k) as f64);
            assert!(rel(binom_pmf(k, n, p).unwrap(), direct) < 1e-14, "pmf({k})");
            acc += direct;
            assert!(rel(binom_cdf(k, n, p).unwrap(), acc) < 1e-14, "cdf({k})");
        }
        assert_eq!(binom_cdf(20, 12, 0.5).unwrap(), 1.0);
        assert_eq!(binom_sf(20, 12, 0.5).unwrap(), 0.0);
        assert_eq!(binom_pmf(20, 12, 0.5).unwrap(), 0.0);
    }

    #[test]
    fn two_sided_test_at_one_half_doubles_the_smaller_tail() {
        for &(k, n) in &[(0u64, 1u64), (3, 10), (7, 10), (5, 10), (40, 100), (4_950, 10_000), (60_100, 100_000)] {
            let m = k.min(n - k);
            let want = (2.0 * binom_cdf(m, n, 0.5).unwrap()).min(1.0);
            let got = binom_test_two_sided(k, n, 0.5).unwrap();
            assert!(rel(got, want) < 1e-15, "({k}, {n}): {got} vs {want}");
        }
        // n = 10, k = 2, p = 0.5: 2·(1 + 10 + 45)/1024.
        assert!(rel(binom_test_two_sided(2, 10, 0.5).unwrap(), 112.0 / 1024.0) < 1e-14);
        assert_eq!(binom_test_less(10, 10, 0.3).unwrap(), 1.0);
        assert_eq!(binom_test_greater(0, 10, 0.3).unwrap(), 1.0);
    }
}

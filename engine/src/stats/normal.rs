//! The standard normal CDF Φ and its inverse Φ⁻¹: CERTIFY's radius is R = σ·Φ⁻¹(pA_lower)
//! (paper 003 §3, Cohen et al. Theorem 1).

use core::f64::consts::FRAC_1_SQRT_2;

use super::{check_unit_closed, StatsError};

/// Φ(x) = P[Z ≤ x] for a standard normal Z, with small relative error in both tails (down to
/// the subnormal range near x ≈ −38). NaN gives NaN; ±∞ give 0 and 1.
///
/// Computed as scipy's `ndtr` does: ½·erfc(|x|/√2) on the tail side (erfc keeps full relative
/// precision where 1 − erf would cancel), ½ + ½·erf(x/√2) near the centre. The one rounding of
/// x/√2 costs a relative error of about x²·2⁻⁵³ deep in the lower tail, the same in scipy.
pub fn norm_cdf(x: f64) -> f64 {
    let t = x * FRAC_1_SQRT_2;
    let z = libm::fabs(t);
    if z < FRAC_1_SQRT_2 {
        0.5 + 0.5 * libm::erf(t)
    } else {
        let tail = 0.5 * libm::erfc(z);
        if t > 0.0 {
            1.0 - tail
        } else {
            tail
        }
    }
}

/// Φ⁻¹(p), the standard normal quantile, to about 1e-16 relative error for every p in (0, 1)
/// down to the smallest subnormal. `p = 0` gives −∞ and `p = 1` gives +∞ (the limits, as
/// scipy's `ndtri`); `p` outside [0, 1] or NaN is an error.
///
/// Wichura's algorithm AS 241 (PPND16, Applied Statistics 37, 1988): three rational
/// approximations of degree 7, in q = p − ½ near the centre and in √(−ln min(p, 1 − p)) in the
/// tails. It is chosen over the cheaper Acklam / Beasley-Springer forms because R = σ·Φ⁻¹(pA)
/// is reported as a number, and those carry 1e-9 errors that a Newton step on Φ cannot remove
/// in the far tail.
pub fn norm_ppf(p: f64) -> Result<f64, StatsError> {
    check_unit_closed("p", p)?;
    if p == 0.0 {
        return Ok(f64::NEG_INFINITY);
    }
    if p == 1.0 {
        return Ok(f64::INFINITY);
    }
    Ok(ppnd16(p))
}

// Coefficients as published (20 digits), so they can be checked against the paper.
#[allow(clippy::excessive_precision)]
const A: [f64; 8] = [
    3.387_132_872_796_366_608_0e0,
    1.331_416_678_917_843_774_5e2,
    1.971_590_950_306_551_442_7e3,
    1.373_169_376_550_946_112_5e4,
    4.592_195_393_154_987_145_7e4,
    6.726_577_092_700_870_085_3e4,
    3.343_057_558_358_812_810_5e4,
    2.509_080_928_730_122_672_7e3,
];
#[allow(clippy::excessive_precision)]
const B: [f64; 8] = [
    1.0,
    4.231_333_070_160_091_125_2e1,
    6.871_870_074_920_579_083_0e2,
    5.394_196_021_424_751_107_7e3,
    2.121_379_430_158_659_586_7e4,
    3.930_789_580_009_271_061_0e4,
    2.872_908_573_572_194_267_4e4,
    5.226_495_278_852_854_561_0e3,
];
#[allow(clippy::excessive_precision)]
const C: [f64; 8] = [
    1.423_437_110_749_683_577_34e0,
    4.630_337_846_156_545_295_90e0,
    5.769_497_221_460_691_405_50e0,
    3.647_848_324_763_204_605_04e0,
    1.270_458_252_452_368_382_58e0,
    2.417_807_251_774_506_117_70e-1,
    2.272_384_498_926_918_458_33e-2,
    7.745_450_142_783_414_076_40e-4,
];
#[allow(clippy::excessive_precision)]
const D: [f64; 8] = [
    1.0,
    2.053_191_626_637_758_821_87e0,
    1.676_384_830_183_803_849_40e0,
    6.897_673_349_851_000_045_50e-1,
    1.481_039_764_274_800_745_90e-1,
    1.519_866_656_361_645_719_66e-2,
    5.475_938_084_995_344_946_00e-4,
    1.050_750_071_644_416_843_24e-9,
];
#[allow(clippy::excessive_precision)]
const E: [f64; 8] = [
    6.657_904_643_501_103_777_20e0,
    5.463_784_911_164_114_369_90e0,
    1.784_826_539_917_291_335_80e0,
    2.965_605_718_285_048_912_30e-1,
    2.653_218_952_657_612_309_30e-2,
    1.242_660_947_388_078_438_60e-3,
    2.711_555_568_743_487_578_15e-5,
    2.010_334_399_292_288_132_65e-7,
];
#[allow(clippy::excessive_precision)]
const F: [f64; 8] = [
    1.0,
    5.998_322_065_558_879_376_90e-1,
    1.369_298_809_227_358_053_10e-1,
    1.487_536_129_085_061_485_25e-2,
    7.868_691_311_456_132_591_00e-4,
    1.846_318_317_510_054_681_80e-5,
    1.421_511_758_316_445_888_70e-7,
    2.044_263_103_389_939_785_64e-15,
];

fn horner(c: &[f64; 8], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci)
}

/// AS 241 for 0 < p < 1 (no checks).
pub(crate) fn ppnd16(p: f64) -> f64 {
    let q = p - 0.5;
    if libm::fabs(q) <= 0.425 {
        let r = 0.180625 - q * q;
        return q * horner(&A, r) / horner(&B, r);
    }
    // 1 − p is exact for p ≥ ½ (Sterbenz), so the upper tail loses nothing here beyond the
    // representation of p itself.
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = libm::sqrt(-libm::log(tail));
    let v = if r <= 5.0 {
        let r = r - 1.6;
        horner(&C, r) / horner(&D, r)
    } else {
        let r = r - 5.0;
        horner(&E, r) / horner(&F, r)
    };
    if q < 0.0 {
        -v
    } else {
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::stats::test_util::rel;

    #[test]
    fn ppf_closed_forms() {
        assert!(rel(norm_ppf(0.975).unwrap(), 1.959963984540054) < 1e-15);
        assert_eq!(norm_ppf(0.5).unwrap(), 0.0);
        assert!(rel(norm_ppf(0.025).unwrap(), -1.959963984540054) < 1e-15);
        // Φ⁻¹(0.999) and Φ⁻¹(1e-10), 20-digit values from the inverse error function.
        assert!(rel(norm_ppf(0.999).unwrap(), 3.090_232_306_167_813_5) < 1e-15);
        assert!(rel(norm_ppf(1e-10).unwrap(), -6.361340902404056) < 1e-15);
        assert_eq!(norm_ppf(0.0).unwrap(), f64::NEG_INFINITY);
        assert_eq!(norm_ppf(1.0).unwrap(), f64::INFINITY);
    }

    #[test]
    fn ppf_rejects_outside_unit_interval() {
        for p in [-1e-300, 1.0 + f64::EPSILON, f64::NAN, f64::INFINITY] {
            assert!(matches!(norm_ppf(p), Err(StatsError::Domain { name: "p", .. })), "p = {p}");
        }
    }

    #[test]
    fn ppf_is_odd_and_inverts_cdf() {
        for &p in &[1e-300, 1e-15, 1e-6, 0.01, 0.2, 0.4, 0.49] {
            let z = norm_ppf(p).unwrap();
            // Φ's argument z/√2 is rounded once: a relative error of about z²·2⁻⁵³ in Φ.
            assert!(rel(norm_cdf(z), p) < 4e-16 * (1.0 + z * z), "p = {p}: Φ(Φ⁻¹(p)) = {}", norm_cdf(z));
        }
        for &p in &[0.6, 0.9, 0.999] {
            let z = norm_ppf(p).unwrap();
            assert!(rel(norm_ppf(1.0 - p).unwrap(), -z) < 1e-15, "p = {p}");
            assert!(rel(norm_cdf(z), p) < 1e-15);
        }
    }

    #[test]
    fn cdf_tails_and_symmetry() {
        assert_eq!(norm_cdf(0.0), 0.5);
        // Φ(−10) = 7.619853024160526e-24 (Abramowitz-Stegun 26.2.2 table / mpmath).
        assert!(rel(norm_cdf(-10.0), 7.619853024160526e-24) < 1e-14);
        assert!(rel(norm_cdf(1.959963984540054), 0.975) < 1e-15);
        for &x in &[0.3, 1.0, 2.5, 6.0] {
            assert!(libm::fabs(norm_cdf(x) + norm_cdf(-x) - 1.0) < 2e-16);
        }
        assert_eq!(norm_cdf(f64::NEG_INFINITY), 0.0);
        assert_eq!(norm_cdf(f64::INFINITY), 1.0);
        assert!(norm_cdf(f64::NAN).is_nan());
    }
}

//! The rounding and saturation every quantized op shares, as tract 0.23 does them
//! (`tract_data::round_ties_to_even`, `tract_core::ops::quant::scale_by`,
//! `tract_linalg::Scaler` with `RoundingPolicy::Even`).

/// Round half to even in f32, by tract's method: adding and subtracting 2^23 (exact for
/// `|x| < 2^23`; larger floats are integers already). `core` has no `round_ties_even` without
/// std on the MSRV, and this is the form tract evaluates.
#[inline]
pub fn round_ties_even(x: f32) -> f32 {
    const TOINT: f32 = 8_388_608.0; // 2^23
    let u = x.to_bits();
    let e = (u >> 23) & 0xff;
    if e >= 0x7f + 23 {
        return x;
    }
    let y = if u >> 31 == 1 { x - TOINT + TOINT } else { x + TOINT - TOINT };
    if y == 0.0 {
        if u >> 31 == 1 {
            -0.0
        } else {
            0.0
        }
    } else {
        y
    }
}

/// QuantizeLinear of one value to u8: `clamp(round_half_even(x · inv_scale) + zp, 0, 255)`.
#[inline]
pub fn quantize_u8(x: f32, inv_scale: f32, zero_point: i32) -> u8 {
    ((round_ties_even(x * inv_scale) as i32) + zero_point).clamp(0, 255) as u8
}

/// How an i32 accumulator is brought back to the output scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Requant<'a> {
    /// One f32 factor per output channel, applied in f32 (tract's `Scale` op when the factor
    /// is not uniform): `round_half_even(|acc| · s) · sign(acc)`.
    PerChannel(&'a [f32]),
    /// One factor for the whole tensor, in fixed point (tract's `QScale`): `mult` in Q0.31 and
    /// a right shift, ties to even; `mult = None` is a pure power of two.
    FixedPoint { mult: Option<i32>, shift: i32 },
}

impl Requant<'_> {
    /// The fixed-point form of a per-tensor factor, as `tract_linalg::Scaler::new` builds it.
    pub fn fixed_point(scale: f32) -> Requant<'static> {
        if scale == 0.0 {
            return Requant::FixedPoint { mult: None, shift: 0 };
        }
        let bits = scale.to_bits();
        let exponent = ((bits >> 23) & 0xff) as i32;
        let frac = bits & 0x007f_ffff;
        if frac == 0 {
            Requant::FixedPoint { mult: None, shift: 127 - exponent }
        } else {
            let half_frac = ((frac | 0x0080_0000) << 7) as i32;
            Requant::FixedPoint { mult: Some(half_frac), shift: 127 - exponent - 1 }
        }
    }

    /// The scaled accumulator of output channel `c` (before the zero point).
    #[inline(always)]
    pub fn apply(&self, acc: i32, c: usize) -> i32 {
        match *self {
            Requant::PerChannel(s) => scale_by(acc, s[c]),
            Requant::FixedPoint { mult, shift } => fixed_point_scale(acc, mult, shift),
        }
    }

    /// Number of channels a per-channel form holds (`None` for one factor).
    pub fn channels(&self) -> Option<usize> {
        match self {
            Requant::PerChannel(s) => Some(s.len()),
            Requant::FixedPoint { .. } => None,
        }
    }
}

/// tract's `scale_by` for i32: `(round_half_even(|b as f32| · a) · signum(b as f32)) as i32`.
///
/// Written for the Cortex-M4F's single-precision FPU (a dozen instructions, no call): the
/// rounding is [`round_ties_even`]'s, inlined, and `b`'s sign is tested on the integer (`b as
/// f32` is negative exactly when `b` is).
#[inline(always)]
pub fn scale_by(b: i32, a: f32) -> i32 {
    const TOINT: f32 = 8_388_608.0; // 2^23
    let r = (b as f32).abs() * a;
    // A NaN falls through to `r + TOINT - TOINT`, still NaN, and converts to 0 as tract's does.
    let q = if r.abs() >= TOINT {
        r
    } else if r < 0.0 {
        r - TOINT + TOINT
    } else {
        r + TOINT - TOINT
    };
    (if b < 0 { -q } else { q }) as i32
}

/// tract's `Scaler * i32` with `RoundingPolicy::Even`.
#[inline(always)]
pub fn fixed_point_scale(rhs: i32, mult: Option<i32>, shift: i32) -> i32 {
    FixedPoint::new(mult, shift).scale(rhs)
}

/// A per-tensor factor `mult · 2^-(31 + shift)` (or `2^-shift`) prepared for a 32-bit core.
///
/// tract rounds `sign(v) · ((|v| + half - 1 + odd(|v| >> k)) >> k)`: the product `v` divided by
/// `2^k`, ties to even. Ties to even is symmetric, so the same value is
/// `(v + half - 1 + odd(v >> k)) >> k` with arithmetic shifts (floor division): with
/// `f = v >> k` and `r = v - f·2^k`, the sum reaches the next multiple of `2^k` exactly when
/// `r > half`, or `r = half` and `f` is odd. No absolute value and no sign fix-up; when `k ≥ 32`
/// (every layer of the shipped models) only the high word is shifted, so a requantization is a
/// SMULL and about ten 32-bit instructions on the Cortex-M4 instead of a generic 64-bit shift by
/// a variable amount. The tests check it against the exact rational rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FixedPoint {
    /// i32, so that the product is one SMULL.
    mult: i32,
    /// Right shift `k` (> 0), or 0 with `left` for a left shift.
    k: u32,
    left: u32,
    half_minus_one: i64,
}

impl FixedPoint {
    pub fn new(mult: Option<i32>, shift: i32) -> FixedPoint {
        let (mult, shift) = match mult {
            Some(m) => (m, shift + 31),
            None => (1, shift),
        };
        if shift > 0 {
            FixedPoint { mult, k: shift as u32, left: 0, half_minus_one: (1i64 << (shift - 1)) - 1 }
        } else {
            FixedPoint { mult, k: 0, left: (-shift) as u32, half_minus_one: 0 }
        }
    }

    /// Whether the shift is 32 or more ([`scale_high`](Self::scale_high) applies).
    pub fn is_high(&self) -> bool {
        self.k >= 32
    }

    #[inline(always)]
    pub fn scale(&self, rhs: i32) -> i32 {
        if self.k >= 32 {
            return self.scale_high(rhs);
        }
        let v = self.mult as i64 * rhs as i64;
        if self.k == 0 {
            return (v << self.left) as i32;
        }
        let odd = (v >> self.k) & 1;
        ((v + self.half_minus_one + odd) >> self.k) as i32
    }

    /// [`scale`](Self::scale) for `k ≥ 32`: the shifts act on the high word only.
    #[inline(always)]
    pub fn scale_high(&self, rhs: i32) -> i32 {
        let v = self.mult as i64 * rhs as i64;
        let kk = self.k - 32;
        let odd = (((v >> 32) as i32) >> kk) & 1;
        (((v + self.half_minus_one + odd as i64) >> 32) as i32) >> kk
    }

    /// Requantized output value: `clamp(scale(acc) + y0, 0, 255)`.
    #[inline(always)]
    pub fn u8(&self, acc: i32, y_zero: i32) -> u8 {
        self.scale(acc).saturating_add(y_zero).clamp(0, 255) as u8
    }

    /// [`u8`](Self::u8) for `k ≥ 32`.
    #[inline(always)]
    pub fn u8_high(&self, acc: i32, y_zero: i32) -> u8 {
        self.scale_high(acc).saturating_add(y_zero).clamp(0, 255) as u8
    }
}

/// Requantized output value: `clamp(requant(acc) + y0, 0, 255)`.
#[inline(always)]
pub fn requant_u8(acc: i32, rq: &Requant<'_>, c: usize, y_zero: i32) -> u8 {
    rq.apply(acc, c).saturating_add(y_zero).clamp(0, 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_go_to_even() {
        for (x, want) in [(0.5f32, 0.0f32), (1.5, 2.0), (2.5, 2.0), (-0.5, -0.0), (-1.5, -2.0), (-2.5, -2.0), (2.4999, 2.0), (1e9, 1e9)] {
            assert_eq!(round_ties_even(x).to_bits(), want.to_bits(), "{x}");
        }
    }

    /// The inlined `scale_by` against tract's formula written out literally (signum of the f32,
    /// `round_ties_even` of the absolute product) over accumulators and factors of every size.
    #[test]
    fn scale_by_is_tracts_formula() {
        let tract = |b: i32, a: f32| {
            let b = b as f32;
            let s = if b.is_sign_negative() { -1.0f32 } else { 1.0f32 };
            (round_ties_even(b.abs() * a) * s) as i32
        };
        let factors = [1.0e-4f32, 0.0123, 0.5, 0.75, 1.0, 1.5, 3.0, 1.0 / 3.0, 1.0e3, 2.0e9, -0.75, f32::NAN, f32::INFINITY];
        let accs = (-70_000..70_000).step_by(7).chain([i32::MIN, i32::MAX, -1, 0, 1, 8_388_607, 8_388_609, -16_777_217]);
        for a in factors {
            for b in accs.clone() {
                assert_eq!(scale_by(b, a), tract(b, a), "b {b} a {a}");
            }
        }
    }

    #[test]
    fn fixed_point_equals_the_exact_product_rounded_half_even() {
        // Independent reference: the exact rational acc · m / 2^(31+shift), rounded half to even
        // in i128.
        for &scale in &[0.0123f32, 0.5, 0.75, 3.0e-4, 1.0 / 3.0, 3.0, 4.0, 1.0e-9, 0.25] {
            let Requant::FixedPoint { mult, shift } = Requant::fixed_point(scale) else { unreachable!() };
            for acc in (-70_000..70_000).step_by(97).chain([-1, 0, 1, 255, -255, 1 << 24, -(1 << 24) - 1]) {
                let (num, sh) = match mult {
                    Some(m) => (acc as i128 * m as i128, shift + 31),
                    None => (acc as i128, shift),
                };
                if sh <= 0 {
                    assert_eq!(fixed_point_scale(acc, mult, shift) as i128, num << -sh, "scale {scale} acc {acc}");
                    continue;
                }
                let d = 1i128 << sh;
                let (q, r) = (num.div_euclid(d), num.rem_euclid(d));
                let want = if 2 * r > d || (2 * r == d && q % 2 != 0) { q + 1 } else { q };
                assert_eq!(fixed_point_scale(acc, mult, shift) as i128, want, "scale {scale} acc {acc}");
            }
        }
    }
}

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
    #[inline]
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
#[inline]
pub fn scale_by(b: i32, a: f32) -> i32 {
    let b = b as f32;
    let s = if b.is_sign_negative() { -1.0f32 } else { 1.0f32 };
    (round_ties_even(b.abs() * a) * s) as i32
}

/// tract's `Scaler * i32` with `RoundingPolicy::Even`.
#[inline]
pub fn fixed_point_scale(rhs: i32, mult: Option<i32>, shift: i32) -> i32 {
    let (val, shift) = match mult {
        Some(m) => (m as i64 * rhs as i64, shift + 31),
        None => (rhs as i64, shift),
    };
    if shift > 0 {
        let half: i64 = 1 << (shift - 1);
        let nudge: i64 = ((val.abs() >> shift) & 0x1) - 1;
        (val.signum() * ((val.abs() + half + nudge) >> shift)) as i32
    } else {
        (val << -shift) as i32
    }
}

/// Requantized output value: `clamp(requant(acc) + y0, 0, 255)`.
#[inline]
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

    #[test]
    fn fixed_point_equals_the_exact_product_rounded_half_even() {
        // Independent reference: the exact rational acc · m / 2^(31+shift), rounded half to even
        // in i128.
        for &scale in &[0.0123f32, 0.5, 0.75, 3.0e-4, 1.0 / 3.0] {
            let Requant::FixedPoint { mult, shift } = Requant::fixed_point(scale) else { unreachable!() };
            for acc in (-70_000..70_000).step_by(97).chain([-1, 0, 1, 255, -255]) {
                let (num, sh) = match mult {
                    Some(m) => (acc as i128 * m as i128, shift + 31),
                    None => (acc as i128, shift),
                };
                let d = 1i128 << sh;
                let (q, r) = (num.div_euclid(d), num.rem_euclid(d));
                let want = if 2 * r > d || (2 * r == d && q % 2 != 0) { q + 1 } else { q };
                assert_eq!(fixed_point_scale(acc, mult, shift) as i128, want, "scale {scale} acc {acc}");
            }
        }
    }
}

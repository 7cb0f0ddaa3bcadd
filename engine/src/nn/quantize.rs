//! The f32 edges of a QLinear graph: QuantizeLinear of the model input (with the
//! BatchNormalization some models apply first, folded to one affine map per channel as tract
//! folds it) and DequantizeLinear of the output (with the bias Add that follows it).

use super::requant::quantize_u8;

/// `q = QuantizeLinear(inter[c] + slope[c] · x)` over `[C, H·W]` values (one pair for a plain
/// QuantizeLinear: slope 1, inter 0 is not applied).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quantize<'a> {
    pub c: usize,
    /// Values per channel.
    pub plane: usize,
    /// `(slope, inter)` per channel, or none.
    pub affine: Option<(&'a [f32], &'a [f32])>,
    pub inv_scale: f32,
    pub zero: u8,
}

impl Quantize<'_> {
    pub fn len(&self) -> usize {
        self.c * self.plane
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Quantizes one value of channel `c`.
    #[inline]
    pub fn value(&self, x: f32, c: usize) -> u8 {
        let v = match self.affine {
            Some((slope, inter)) => inter[c] + slope[c] * x,
            None => x,
        };
        quantize_u8(v, self.inv_scale, self.zero as i32)
    }

    /// Quantizes `x` (starting at flat index `offset` of the input tensor) into `y`: the
    /// firmware quantizes each feature frame as it arrives.
    pub fn run_at(&self, offset: usize, x: &[f32], y: &mut [u8]) {
        for (i, (q, &v)) in y.iter_mut().zip(x).enumerate() {
            *q = self.value(v, (offset + i) / self.plane.max(1));
        }
    }
}

/// `y[i] = (q[i] - zero) as f32 · scale (+ bias[i])`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dequantize<'a> {
    pub len: usize,
    pub scale: f32,
    pub zero: u8,
    pub bias: Option<&'a [f32]>,
}

impl Dequantize<'_> {
    pub fn run(&self, q: &[u8], y: &mut [f32]) {
        for (i, (o, &v)) in y.iter_mut().zip(q).enumerate().take(self.len) {
            let d = (v as i32 - self.zero as i32) as f32 * self.scale;
            *o = match self.bias {
                Some(b) => d + b[i],
                None => d,
            };
        }
    }
}

//! DequantizeLinear → mean over spatial axes (ONNX ReduceMean over the height, or
//! GlobalAveragePool) → QuantizeLinear, fused into one pass over u8 activations: the mean is
//! taken in f32 exactly as tract evaluates the unfused ops (each value dequantized as
//! `(q - zp) as f32 · scale`, summed in index order from 0.0, divided by the count), then
//! quantized; no f32 tensor is stored.

use super::requant::quantize_u8;

/// Which axes of a `[C, H, W]` tensor are averaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MeanAxes {
    /// ReduceMean over H: output `[C, W]`.
    Height,
    /// GlobalAveragePool: output `[C]`.
    HeightWidth,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mean {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub axes: MeanAxes,
    pub x_scale: f32,
    pub x_zero: u8,
    /// `1 / y_scale` in f32, as tract's QuantizeLinear holds it.
    pub y_inv_scale: f32,
    pub y_zero: u8,
}

impl Mean {
    pub fn input_len(&self) -> usize {
        self.c * self.h * self.w
    }
    pub fn output_len(&self) -> usize {
        match self.axes {
            MeanAxes::Height => self.c * self.w,
            MeanAxes::HeightWidth => self.c,
        }
    }

    #[inline]
    fn deq(&self, q: u8) -> f32 {
        (q as i32 - self.x_zero as i32) as f32 * self.x_scale
    }

    pub fn run(&self, x: &[u8], y: &mut [u8]) {
        let hw = self.h * self.w;
        let zp = self.y_zero as i32;
        match self.axes {
            MeanAxes::Height => {
                let n = self.h as f32;
                for c in 0..self.c {
                    for col in 0..self.w {
                        let mut s = 0.0f32;
                        for row in 0..self.h {
                            s += self.deq(x[c * hw + row * self.w + col]);
                        }
                        y[c * self.w + col] = quantize_u8(s / n, self.y_inv_scale, zp);
                    }
                }
            }
            MeanAxes::HeightWidth => {
                let n = hw as f32;
                for c in 0..self.c {
                    let mut s = 0.0f32;
                    for &q in &x[c * hw..(c + 1) * hw] {
                        s += self.deq(q);
                    }
                    y[c] = quantize_u8(s / n, self.y_inv_scale, zp);
                }
            }
        }
    }
}

//! ONNX QLinearConv on NCHW u8 activations and OIHW i8 weights: regular, grouped and
//! depthwise (`group == c_in`), any stride, explicit padding (the padded positions hold the
//! input zero point, as in tract's im2col, so they add nothing).
//!
//! Per output pixel the kernel gathers one im2col column `x - x0` (as i16, on the stack) and
//! takes its dot product with each output channel's weights of the group: for the 1×1 convs
//! that dominate the depthwise-separable models the column is gathered once and reused by
//! every output channel. Accumulation is exact in i32, so the order of the terms does not
//! matter; requantization follows [`super::requant`].

use super::requant::{requant_u8, Requant};
use super::{NnError, MAX_COLUMN};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QLinearConv<'a> {
    pub c_in: usize,
    pub h_in: usize,
    pub w_in: usize,
    pub c_out: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub kernel: [usize; 2],
    pub stride: [usize; 2],
    /// Padding at the top and left (the bottom and right follow from the output size).
    pub pad: [usize; 2],
    pub group: usize,
    /// `[c_out][c_in / group][kh][kw]`.
    pub weights: &'a [i8],
    /// Weight zero point per output channel (one value: per tensor).
    pub w_zero: &'a [i8],
    /// `[c_out]`, in the accumulator's scale.
    pub bias: &'a [i32],
    pub x_zero: u8,
    pub y_zero: u8,
    pub requant: Requant<'a>,
}

impl QLinearConv<'_> {
    pub fn input_len(&self) -> usize {
        self.c_in * self.h_in * self.w_in
    }
    pub fn output_len(&self) -> usize {
        self.c_out * self.h_out * self.w_out
    }
    /// Multiply-accumulates per run (padding taps included).
    pub fn macs(&self) -> usize {
        self.output_len() * (self.c_in / self.group) * self.kernel[0] * self.kernel[1]
    }

    pub fn check(&self, step: usize) -> Result<(), NnError> {
        let unsupported = |what| Err(NnError::Unsupported { step, what });
        if self.group == 0 || self.c_in % self.group != 0 || self.c_out % self.group != 0 {
            return unsupported("group that does not divide the channels");
        }
        if self.stride[0] == 0 || self.stride[1] == 0 {
            return unsupported("stride 0");
        }
        let col = (self.c_in / self.group) * self.kernel[0] * self.kernel[1];
        if col > MAX_COLUMN {
            return unsupported("convolution column longer than MAX_COLUMN");
        }
        let len = |what, expected: usize, got: usize| {
            if expected == got {
                Ok(())
            } else {
                Err(NnError::Length { step, what, expected, got })
            }
        };
        len("weights", self.c_out * col, self.weights.len())?;
        len("bias", self.c_out, self.bias.len())?;
        if self.w_zero.len() != 1 {
            len("weight zero points", self.c_out, self.w_zero.len())?;
        }
        if let Some(n) = self.requant.channels() {
            len("requantization scales", self.c_out, n)?;
        }
        Ok(())
    }

    /// Runs the convolution: `x` holds [`input_len`](Self::input_len) values, `y`
    /// [`output_len`](Self::output_len). Call [`check`](Self::check) once first.
    pub fn run(&self, x: &[u8], y: &mut [u8]) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl] = self.pad;
        let cin_g = self.c_in / self.group;
        let cout_g = self.c_out / self.group;
        let col_len = cin_g * kh * kw;
        let hw_in = self.h_in * self.w_in;
        let hw_out = self.h_out * self.w_out;
        let x0 = self.x_zero as i16;
        let y0 = self.y_zero as i32;
        if cin_g == 1 && kh * kw <= MAX_TAPS {
            self.run_one_input_channel(x, y);
            return;
        }
        let any_w_zero = self.w_zero.iter().any(|&z| z != 0);
        let mut column = [0i16; MAX_COLUMN];
        let column = &mut column[..col_len];
        for g in 0..self.group {
            let xg = &x[g * cin_g * hw_in..(g + 1) * cin_g * hw_in];
            for oy in 0..self.h_out {
                for ox in 0..self.w_out {
                    // Gather the im2col column of this pixel: x - x0, 0 where padded.
                    let iy0 = (oy * sh) as isize - pt as isize;
                    let ix0 = (ox * sw) as isize - pl as isize;
                    let inside = iy0 >= 0 && ix0 >= 0 && iy0 as usize + kh <= self.h_in && ix0 as usize + kw <= self.w_in;
                    if inside {
                        // Fast path (every tap in the image): one slice per kernel row.
                        let (iy0, ix0) = (iy0 as usize, ix0 as usize);
                        let mut k = 0;
                        for ci in 0..cin_g {
                            let base = ci * hw_in + iy0 * self.w_in + ix0;
                            for dy in 0..kh {
                                let row = &xg[base + dy * self.w_in..base + dy * self.w_in + kw];
                                for (c, &v) in column[k..k + kw].iter_mut().zip(row) {
                                    *c = v as i16 - x0;
                                }
                                k += kw;
                            }
                        }
                    } else {
                        let mut k = 0;
                        for ci in 0..cin_g {
                            let plane = &xg[ci * hw_in..(ci + 1) * hw_in];
                            for dy in 0..kh {
                                let iy = iy0 + dy as isize;
                                let row_ok = iy >= 0 && (iy as usize) < self.h_in;
                                for dx in 0..kw {
                                    let ix = ix0 + dx as isize;
                                    column[k] = if row_ok && ix >= 0 && (ix as usize) < self.w_in {
                                        plane[iy as usize * self.w_in + ix as usize] as i16 - x0
                                    } else {
                                        0
                                    };
                                    k += 1;
                                }
                            }
                        }
                    }
                    let p = oy * self.w_out + ox;
                    let col_sum: i32 = if any_w_zero { column.iter().map(|&c| c as i32).sum() } else { 0 };
                    let ws = &self.weights[g * cout_g * col_len..(g + 1) * cout_g * col_len];
                    for (j, w) in ws.chunks_exact(col_len).enumerate() {
                        let co = g * cout_g + j;
                        let mut acc = self.bias[co] + dot(column, w);
                        if any_w_zero {
                            let w0 = if self.w_zero.len() == 1 { self.w_zero[0] } else { self.w_zero[co] } as i32;
                            acc -= w0 * col_sum;
                        }
                        y[co * hw_out + p] = requant_u8(acc, &self.requant, co, y0);
                    }
                }
            }
        }
    }
}

/// Largest kernel (kh · kw) of the one-input-channel path.
const MAX_TAPS: usize = 49;

impl QLinearConv<'_> {
    /// Convolutions where each output channel reads one input plane (depthwise, or a single
    /// input channel): per output channel, weights as `w - w0` in i32 and their sum, then per
    /// pixel `bias + Σ x·(w - w0) - x0·Σ(w - w0)` where every tap is inside the image (equal, in
    /// exact integer arithmetic, to `Σ (x - x0)(w - w0)`), the taps inside only at the borders.
    fn run_one_input_channel(&self, x: &[u8], y: &mut [u8]) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl] = self.pad;
        let taps = kh * kw;
        let cout_g = self.c_out / self.group;
        let (hw_in, hw_out) = (self.h_in * self.w_in, self.h_out * self.w_out);
        let (x0, y0) = (self.x_zero as i32, self.y_zero as i32);
        let mut ww = [0i32; MAX_TAPS];
        for co in 0..self.c_out {
            let g = co / cout_g;
            let plane = &x[g * hw_in..(g + 1) * hw_in];
            let w0 = if self.w_zero.len() == 1 { self.w_zero[0] } else { self.w_zero[co] } as i32;
            let mut wsum = 0i32;
            for (d, &w) in ww[..taps].iter_mut().zip(&self.weights[co * taps..(co + 1) * taps]) {
                *d = w as i32 - w0;
                wsum += *d;
            }
            let base_acc = self.bias[co] - x0 * wsum;
            let out = &mut y[co * hw_out..(co + 1) * hw_out];
            for oy in 0..self.h_out {
                let iy0 = (oy * sh) as isize - pt as isize;
                let rows_inside = iy0 >= 0 && iy0 as usize + kh <= self.h_in;
                for ox in 0..self.w_out {
                    let ix0 = (ox * sw) as isize - pl as isize;
                    let inside = rows_inside && ix0 >= 0 && ix0 as usize + kw <= self.w_in;
                    let acc = if inside && kh == 3 && kw == 3 {
                        // The 3×3 case of the shipped models, unrolled over fixed-size rows.
                        let start = iy0 as usize * self.w_in + ix0 as usize;
                        let mut acc = base_acc;
                        for dy in 0..3 {
                            let r = start + dy * self.w_in;
                            if let Some(row) = plane.get(r..r + 3) {
                                acc += row[0] as i32 * ww[3 * dy] + row[1] as i32 * ww[3 * dy + 1] + row[2] as i32 * ww[3 * dy + 2];
                            }
                        }
                        acc
                    } else if inside {
                        let mut acc = base_acc;
                        let start = iy0 as usize * self.w_in + ix0 as usize;
                        for (dy, wrow) in ww[..taps].chunks_exact(kw).enumerate() {
                            let row = &plane[start + dy * self.w_in..start + dy * self.w_in + kw];
                            for (&v, &w) in row.iter().zip(wrow) {
                                acc += v as i32 * w;
                            }
                        }
                        acc
                    } else {
                        let mut acc = self.bias[co];
                        for dy in 0..kh {
                            let iy = iy0 + dy as isize;
                            if iy < 0 || iy as usize >= self.h_in {
                                continue;
                            }
                            for dx in 0..kw {
                                let ix = ix0 + dx as isize;
                                if ix >= 0 && (ix as usize) < self.w_in {
                                    acc += (plane[iy as usize * self.w_in + ix as usize] as i32 - x0) * ww[dy * kw + dx];
                                }
                            }
                        }
                        acc
                    };
                    out[oy * self.w_out + ox] = requant_u8(acc, &self.requant, co, y0);
                }
            }
        }
    }
}

/// `Σ c[i]·w[i]` in i32, four products per iteration (exact, so the order is free).
#[inline]
fn dot(c: &[i16], w: &[i8]) -> i32 {
    let n = c.len().min(w.len());
    let (c, w) = (&c[..n], &w[..n]);
    let mut acc = [0i32; 4];
    let cc = c.chunks_exact(4);
    let cw = w.chunks_exact(4);
    let (rc, rw) = (cc.remainder(), cw.remainder());
    for (a, b) in cc.zip(cw) {
        acc[0] += a[0] as i32 * b[0] as i32;
        acc[1] += a[1] as i32 * b[1] as i32;
        acc[2] += a[2] as i32 * b[2] as i32;
        acc[3] += a[3] as i32 * b[3] as i32;
    }
    let mut t = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for (a, b) in rc.iter().zip(rw) {
        t += *a as i32 * *b as i32;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent reference: the ONNX definition written out with f64 dequantized values,
    /// `y = round_half_even(Σ (x-x0)(w-w0) · sx·sw / sy + bias · sx·sw / sy) + y0`, on a small
    /// grouped, strided, padded case with scales that are powers of two (exact in f64).
    #[test]
    fn grouped_strided_padded_conv_matches_the_definition() {
        check_against_definition(4, 6, 2);
    }

    /// Depthwise (one input plane per output channel): the kernel's other path.
    #[test]
    fn depthwise_and_single_input_conv_match_the_definition() {
        check_against_definition(4, 4, 4);
        check_against_definition(1, 3, 1);
    }

    fn check_against_definition(c_in: usize, c_out: usize, group: usize) {
        let (h, w) = (5usize, 6usize);
        let (kh, kw, s, p) = (3usize, 2usize, 2usize, 1usize);
        let h_out = (h + 2 * p - kh) / s + 1;
        let w_out = (w + 2 * p - kw) / s + 1;
        let x: Vec<u8> = (0..c_in * h * w).map(|i| ((i * 37 + 11) % 256) as u8).collect();
        let cin_g = c_in / group;
        let weights: Vec<i8> = (0..c_out * cin_g * kh * kw).map(|i| ((i * 53 + 7) % 255) as i32 - 127).map(|v| v as i8).collect();
        let bias: Vec<i32> = (0..c_out as i32).map(|c| c * 300 - 700).collect();
        let scales: Vec<f32> = (0..c_out).map(|c| 2f32.powi(-(8 + c as i32 % 3))).collect();
        let conv = QLinearConv {
            c_in, h_in: h, w_in: w, c_out, h_out, w_out, kernel: [kh, kw], stride: [s, s], pad: [p, p], group,
            weights: &weights, w_zero: &[3], bias: &bias, x_zero: 17, y_zero: 100, requant: Requant::PerChannel(&scales),
        };
        conv.check(0).unwrap();
        let mut y = vec![0u8; conv.output_len()];
        conv.run(&x, &mut y);
        for co in 0..c_out {
            let g = co / (c_out / group);
            for oy in 0..h_out {
                for ox in 0..w_out {
                    let mut acc = bias[co] as f64;
                    for ci in 0..cin_g {
                        for dy in 0..kh {
                            for dx in 0..kw {
                                let iy = (oy * s + dy) as isize - p as isize;
                                let ix = (ox * s + dx) as isize - p as isize;
                                if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                    continue;
                                }
                                let xv = x[((g * cin_g + ci) * h + iy as usize) * w + ix as usize] as f64 - 17.0;
                                let wv = weights[((co * cin_g + ci) * kh + dy) * kw + dx] as f64 - 3.0;
                                acc += xv * wv;
                            }
                        }
                    }
                    let v = acc * scales[co] as f64;
                    let r = v.round();
                    let r = if (v - v.trunc()).abs() == 0.5 { 2.0 * (v / 2.0).round() } else { r };
                    let want = (r + 100.0).clamp(0.0, 255.0) as u8;
                    assert_eq!(y[(co * h_out + oy) * w_out + ox], want, "co {co} oy {oy} ox {ox}");
                }
            }
        }
    }
}

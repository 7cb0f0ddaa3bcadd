//! ONNX QLinearConv on NCHW u8 activations and OIHW weights: regular, grouped and depthwise
//! (`group == c_in`), any stride, explicit padding (the padded positions hold the input zero
//! point, as in tract's im2col, so they add nothing).
//!
//! The weights are stored as `w - w0` widened to i16 (the generator does it once, ahead of
//! time): the Cortex-M4's SMLAD multiplies two pairs of 16-bit values and adds both products in
//! one instruction, and LLVM's ARM parallel-DSP pass emits it for [`dot`]'s loop of paired i16
//! loads, so the inner loop is one SMLAD and two word loads per two multiply-accumulates with no
//! `unsafe` and no intrinsics. CMSIS-NN widens its i8 weights inside the loop instead; here the
//! widening costs flash (2 bytes per weight), of which an STM32F446-class part has plenty.
//!
//! Two paths:
//! * im2col (regular and grouped convolutions, the 1×1 ones above all): per output pixel one
//!   column `x - x0` (as i16, on the stack) is gathered once and its dot product taken with
//!   every output channel's weights of the group;
//! * one input plane per output channel (depthwise, or a single input channel): per output
//!   channel, `bias + Σ x·w - x0·Σw` over rows of the plane where every tap is inside the image,
//!   the taps that are inside one by one at the borders.
//!
//! Accumulation is exact in i32, so the order of the terms does not matter; requantization
//! follows [`super::requant`].

use super::requant::{requant_u8, FixedPoint, Requant};
use super::smlad::{pair, smlad};
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
    /// `[c_out][c_in / group][kh][kw]`: the i8 weights minus their zero point (per output
    /// channel or per tensor), as i16.
    pub weights: &'a [i16],
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
        if let Some(n) = self.requant.channels() {
            len("requantization scales", self.c_out, n)?;
        }
        Ok(())
    }

    /// Runs the convolution: `x` holds [`input_len`](Self::input_len) values, `y`
    /// [`output_len`](Self::output_len). Call [`check`](Self::check) once first.
    pub fn run(&self, x: &[u8], y: &mut [u8]) {
        // One copy of the loops per requantization form, so that the per-output step is a
        // straight line (no match on the form, no call).
        let y0 = self.y_zero as i32;
        match self.requant {
            Requant::PerChannel(s) => self.run_with(x, y, |acc, c| requant_u8(acc, &Requant::PerChannel(s), c, y0)),
            Requant::FixedPoint { mult, shift } => {
                let scaler = FixedPoint::new(mult, shift);
                if scaler.is_high() {
                    self.run_with(x, y, |acc, _| scaler.u8_high(acc, y0))
                } else {
                    self.run_with(x, y, |acc, _| scaler.u8(acc, y0))
                }
            }
        }
    }

    #[inline(always)]
    fn run_with(&self, x: &[u8], y: &mut [u8], out_of: impl Fn(i32, usize) -> u8) {
        if self.one_plane() {
            self.run_one_input_channel(x, y, out_of);
        } else {
            self.run_im2col(x, y, out_of);
        }
    }

    /// The im2col path: per output pixel one column `x - x0`, then its dot product with each
    /// output channel's weights of the group.
    fn run_im2col(&self, x: &[u8], y: &mut [u8], out_of: impl Fn(i32, usize) -> u8) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl] = self.pad;
        let cin_g = self.c_in / self.group;
        let cout_g = self.c_out / self.group;
        let col_len = cin_g * kh * kw;
        let hw_in = self.h_in * self.w_in;
        let hw_out = self.h_out * self.w_out;
        let x0 = self.x_zero as i16;
        let pointwise = kh == 1 && kw == 1 && sh == 1 && sw == 1 && pt == 0 && pl == 0 && hw_in == hw_out;
        // Two columns (two output pixels) at a time, each dot product taken for two output
        // channels at once: a 2 × 2 block of SMLADs, each loaded pair of values used twice.
        let mut columns = [[0i16; MAX_COLUMN]; 2];
        let [c0, c1] = &mut columns;
        let (c0, c1) = (&mut c0[..col_len], &mut c1[..col_len]);
        for g in 0..self.group {
            let xg = &x[g * cin_g * hw_in..(g + 1) * cin_g * hw_in];
            let wg = &self.weights[g * cout_g * col_len..(g + 1) * cout_g * col_len];
            let yg = &mut y[g * cout_g * hw_out..(g + 1) * cout_g * hw_out];
            let bg = &self.bias[g * cout_g..(g + 1) * cout_g];
            let mut p = 0;
            while p < hw_out {
                let two = p + 1 < hw_out;
                for (q, column) in [(p, &mut *c0), (p + 1, &mut *c1)].into_iter().take(if two { 2 } else { 1 }) {
                    if pointwise {
                        for (c, plane) in column.iter_mut().zip(xg.chunks_exact(hw_in)) {
                            *c = plane[q] as i16 - x0;
                        }
                    } else {
                        self.gather(xg, q / self.w_out, q % self.w_out, column);
                    }
                }
                let mut j = 0;
                while j < cout_g {
                    let co = g * cout_g + j;
                    let w0 = &wg[j * col_len..(j + 1) * col_len];
                    if j + 1 < cout_g && two {
                        let w1 = &wg[(j + 1) * col_len..(j + 2) * col_len];
                        let [a00, a01, a10, a11] = dot22(c0, c1, w0, w1);
                        yg[j * hw_out + p] = out_of(bg[j] + a00, co);
                        yg[(j + 1) * hw_out + p] = out_of(bg[j + 1] + a01, co + 1);
                        yg[j * hw_out + p + 1] = out_of(bg[j] + a10, co);
                        yg[(j + 1) * hw_out + p + 1] = out_of(bg[j + 1] + a11, co + 1);
                        j += 2;
                    } else {
                        yg[j * hw_out + p] = out_of(bg[j] + dot(c0, w0), co);
                        if two {
                            yg[j * hw_out + p + 1] = out_of(bg[j] + dot(c1, w0), co);
                        }
                        j += 1;
                    }
                }
                p += 2;
            }
        }
    }

    /// The im2col column of output pixel `(oy, ox)` of one group: `x - x0`, 0 where padded.
    fn gather(&self, xg: &[u8], oy: usize, ox: usize, column: &mut [i16]) {
        let [kh, kw] = self.kernel;
        let x0 = self.x_zero as i16;
        let hw_in = self.h_in * self.w_in;
        let iy0 = (oy * self.stride[0]) as isize - self.pad[0] as isize;
        let ix0 = (ox * self.stride[1]) as isize - self.pad[1] as isize;
        let inside = iy0 >= 0 && ix0 >= 0 && iy0 as usize + kh <= self.h_in && ix0 as usize + kw <= self.w_in;
        let mut k = 0;
        for plane in xg.chunks_exact(hw_in) {
            for dy in 0..kh {
                let iy = iy0 + dy as isize;
                if inside {
                    // Every tap in the image: one slice per kernel row.
                    let start = iy as usize * self.w_in + ix0 as usize;
                    for (c, &v) in column[k..k + kw].iter_mut().zip(&plane[start..start + kw]) {
                        *c = v as i16 - x0;
                    }
                } else {
                    let row_ok = iy >= 0 && (iy as usize) < self.h_in;
                    for (dx, c) in column[k..k + kw].iter_mut().enumerate() {
                        let ix = ix0 + dx as isize;
                        *c = if row_ok && ix >= 0 && (ix as usize) < self.w_in {
                            plane[iy as usize * self.w_in + ix as usize] as i16 - x0
                        } else {
                            0
                        };
                    }
                }
                k += kw;
            }
        }
    }

    /// Whether the one-input-channel path runs this convolution: one input plane per output
    /// channel, a kernel of at most `MAX_TAPS` and padded rows that fit its scratch (else the
    /// im2col path does, with the same result).
    fn one_plane(&self) -> bool {
        let [kh, kw] = self.kernel;
        self.c_in / self.group == 1
            && kh * kw <= MAX_TAPS
            && kh * self.padded_width().next_multiple_of(2) <= MAX_PADDED_ROWS
    }

    /// Width of a padded input row: the left padding, the row, and the right padding the last
    /// output column reaches.
    fn padded_width(&self) -> usize {
        let reach = (self.w_out.max(1) - 1) * self.stride[1] + self.kernel[1];
        reach.max(self.pad[1] + self.w_in)
    }

    /// Convolutions where each output channel reads one input plane (depthwise, or a single
    /// input channel). Each input row is copied once into a ring of `kh` scratch rows as
    /// `x - x0` in i16, padded with 0 (the zero point, as tract's im2col pads), and serves every
    /// output row and output channel of the group that reads it, so that every output pixel is
    /// the same straight-line sum `bias + Σ (x - x0)·w` with no border case. For 3×3 at stride
    /// 1 or 2 (the shipped models) a kernel row is one SMLAD on its first two taps and one
    /// multiply-accumulate on the third, read through zipped iterators (no index arithmetic, no
    /// bounds checks), the weights packed once per channel.
    fn run_one_input_channel(&self, x: &[u8], y: &mut [u8], out_of: impl Fn(i32, usize) -> u8) {
        let [kh, kw] = self.kernel;
        let [sh, sw] = self.stride;
        let [pt, pl] = self.pad;
        let taps = kh * kw;
        let cout_g = self.c_out / self.group;
        let (hw_in, hw_out, w_out) = (self.h_in * self.w_in, self.h_out * self.w_out, self.w_out);
        let x0 = self.x_zero as i16;
        // Even padded width, so that a stride-2 row is whole pairs.
        let wp = self.padded_width().next_multiple_of(2);
        let mut scratch = [0i16; MAX_PADDED_ROWS];
        let rows = &mut scratch[..kh * wp];
        for g in 0..self.group {
            let plane = &x[g * hw_in..(g + 1) * hw_in];
            // The rows form a ring: padded row ip lives in slot ip % kh, each copied once. The
            // left and right padding stay 0: a row inside the image writes only its middle, a
            // row outside it (top and bottom padding) is zeroed whole.
            rows.fill(0);
            let mut next = 0;
            for oy in 0..self.h_out {
                for ip in next.max(oy * sh)..oy * sh + kh {
                    let r = &mut rows[(ip % kh) * wp..(ip % kh + 1) * wp];
                    let iy = ip as isize - pt as isize;
                    if iy >= 0 && (iy as usize) < self.h_in {
                        let src = &plane[iy as usize * self.w_in..(iy as usize + 1) * self.w_in];
                        for (d, &v) in r[pl..pl + self.w_in].iter_mut().zip(src) {
                            *d = v as i16 - x0;
                        }
                    } else {
                        r.fill(0);
                    }
                }
                next = oy * sh + kh;
                for co in g * cout_g..(g + 1) * cout_g {
                    let w = &self.weights[co * taps..(co + 1) * taps];
                    let bias = self.bias[co];
                    let out = &mut y[co * hw_out + oy * w_out..co * hw_out + (oy + 1) * w_out];
                    if kh == 3 && kw == 3 && sw <= 2 {
                        let slot = |dy: usize| {
                            let s = (oy * sh + dy) % 3;
                            &rows[s * wp..(s + 1) * wp]
                        };
                        let (r0, r1, r2) = (slot(0), slot(1), slot(2));
                        let (p0, p1, p2) = (pair(&w[0..2]), pair(&w[3..5]), pair(&w[6..8]));
                        let (s0, s1, s2) = (w[2] as i32, w[5] as i32, w[8] as i32);
                        if sw == 1 {
                            let taps = r0.windows(3).zip(r1.windows(3)).zip(r2.windows(3));
                            for (o, ((a, b), c)) in out.iter_mut().zip(taps) {
                                let acc = smlad(pair(a), p0, bias + a[2] as i32 * s0);
                                let acc = smlad(pair(b), p1, acc + b[2] as i32 * s1);
                                let acc = smlad(pair(c), p2, acc + c[2] as i32 * s2);
                                *o = out_of(acc, co);
                            }
                        } else {
                            // Output ox reads r[2ox], r[2ox + 1] (one aligned pair) and r[2ox + 2].
                            for (o, (((a, a2), (b, b2)), (c, c2))) in out.iter_mut().zip(stride2_taps(r0).zip(stride2_taps(r1)).zip(stride2_taps(r2))) {
                                let acc = smlad(pair(a), p0, bias + a2[0] as i32 * s0);
                                let acc = smlad(pair(b), p1, acc + b2[0] as i32 * s1);
                                let acc = smlad(pair(c), p2, acc + c2[0] as i32 * s2);
                                *o = out_of(acc, co);
                            }
                        }
                    } else {
                        for (ox, o) in out.iter_mut().enumerate() {
                            let ix = ox * sw;
                            let mut acc = bias;
                            for (dy, wr) in w.chunks_exact(kw).enumerate() {
                                let s = (oy * sh + dy) % kh;
                                acc += dot(&rows[s * wp + ix..s * wp + ix + kw], wr);
                            }
                            *o = out_of(acc, co);
                        }
                    }
                }
            }
        }
    }
}

/// A padded row's taps at stride 2: output `ox` reads the pair `r[2ox], r[2ox + 1]` and the
/// value `r[2ox + 2]` (the first of the next pair).
#[inline(always)]
fn stride2_taps(r: &[i16]) -> impl Iterator<Item = (&[i16], &[i16])> {
    r.chunks_exact(2).zip(r[2..].chunks_exact(2))
}

/// The 2 × 2 block of dot products `c_i · w_j` (pixels i, output channels j), as
/// `[c0·w0, c0·w1, c1·w0, c1·w1]`: per pair of terms four word loads and four SMLADs, one
/// instruction per multiply-accumulate (see [`super::smlad`]). Exact in i32.
#[inline(always)]
fn dot22(c0: &[i16], c1: &[i16], w0: &[i16], w1: &[i16]) -> [i32; 4] {
    let n = c0.len().min(c1.len()).min(w0.len()).min(w1.len());
    let (c0, c1, w0, w1) = (&c0[..n], &c1[..n], &w0[..n], &w1[..n]);
    let (mut a00, mut a01, mut a10, mut a11) = (0i32, 0i32, 0i32, 0i32);
    let pairs = c0.chunks_exact(2).zip(c1.chunks_exact(2)).zip(w0.chunks_exact(2)).zip(w1.chunks_exact(2));
    for (((x0, x1), v0), v1) in pairs {
        let (x0, x1, v0, v1) = (pair(x0), pair(x1), pair(v0), pair(v1));
        a00 = smlad(x0, v0, a00);
        a01 = smlad(x0, v1, a01);
        a10 = smlad(x1, v0, a10);
        a11 = smlad(x1, v1, a11);
    }
    if n % 2 == 1 {
        let (x0, x1, v0, v1) = (c0[n - 1] as i32, c1[n - 1] as i32, w0[n - 1] as i32, w1[n - 1] as i32);
        a00 += x0 * v0;
        a01 += x0 * v1;
        a10 += x1 * v0;
        a11 += x1 * v1;
    }
    [a00, a01, a10, a11]
}

/// Largest kernel (kh · kw) of the one-input-channel path.
const MAX_TAPS: usize = 49;
/// Values of the one-input-channel path's padded rows (`kh` rows of the padded width, i16), on
/// the stack: the same 2.3 KiB as the im2col path's column.
const MAX_PADDED_ROWS: usize = MAX_COLUMN;

/// `Σ c[i]·w[i]` in i32 over pairs of i16: the loop LLVM turns into one SMLAD and two word
/// loads per pair on the Cortex-M4 (and into PMADDWD on x86). Exact, so the order is free.
#[inline(always)]
fn dot(c: &[i16], w: &[i16]) -> i32 {
    let n = c.len().min(w.len());
    let (c, w) = (&c[..n], &w[..n]);
    let (cc, cw) = (c.chunks_exact(2), w.chunks_exact(2));
    let tail = match (cc.remainder(), cw.remainder()) {
        ([a], [b]) => *a as i32 * *b as i32,
        _ => 0,
    };
    let mut acc = 0i32;
    for (a, b) in cc.zip(cw) {
        acc += a[0] as i32 * b[0] as i32 + a[1] as i32 * b[1] as i32;
    }
    acc + tail
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Independent reference: the ONNX definition written out with f64 dequantized values,
    /// `y = round_half_even(Σ (x-x0)(w-w0) · sx·sw / sy + bias · sx·sw / sy) + y0`, on a small
    /// grouped, strided, padded case with scales that are powers of two (exact in f64).
    #[test]
    fn grouped_strided_padded_conv_matches_the_definition() {
        check_against_definition(4, 6, 2, [3, 2], 2, 1);
        check_against_definition(5, 4, 1, [3, 3], 1, 1);
        check_against_definition(3, 2, 1, [3, 3], 2, 0);
    }

    /// 1×1 convolutions (the pointwise layers): the column gathered straight from the planes,
    /// an odd and an even number of input channels (the pair loop's tail).
    #[test]
    fn pointwise_conv_matches_the_definition() {
        check_against_definition(5, 7, 1, [1, 1], 1, 0);
        check_against_definition(8, 3, 1, [1, 1], 1, 0);
        check_against_definition(8, 4, 2, [1, 1], 1, 0);
    }

    /// Depthwise and single-input convolutions (one input plane per output channel): the
    /// kernel's other path, 3×3 (unrolled) at strides 1 and 2, padded and not, and other sizes.
    #[test]
    fn depthwise_and_single_input_conv_match_the_definition() {
        check_against_definition(4, 4, 4, [3, 2], 2, 1);
        check_against_definition(1, 3, 1, [3, 2], 2, 1);
        for (s, p) in [(1, 1), (2, 1), (1, 0), (2, 0), (3, 2)] {
            check_against_definition(3, 3, 3, [3, 3], s, p);
            check_against_definition(1, 4, 1, [3, 3], s, p);
        }
        check_against_definition(2, 4, 2, [5, 1], 1, 2);
    }

    /// One factor for the whole tensor: the fixed-point requantization (tract's `QScale`).
    #[test]
    fn per_tensor_requantization_matches_the_definition() {
        check_with(3, 3, 3, [3, 3], 2, 1, true);
        check_with(6, 4, 1, [1, 1], 1, 0, true);
        check_with(4, 6, 2, [3, 2], 2, 1, true);
    }

    fn check_against_definition(c_in: usize, c_out: usize, group: usize, kernel: [usize; 2], s: usize, p: usize) {
        check_with(c_in, c_out, group, kernel, s, p, false);
    }

    fn check_with(c_in: usize, c_out: usize, group: usize, [kh, kw]: [usize; 2], s: usize, p: usize, per_tensor: bool) {
        let (h, w) = (7usize, 9usize);
        let h_out = (h + 2 * p - kh) / s + 1;
        let w_out = (w + 2 * p - kw) / s + 1;
        let x: Vec<u8> = (0..c_in * h * w).map(|i| ((i * 37 + 11) % 256) as u8).collect();
        let cin_g = c_in / group;
        let weights: Vec<i8> = (0..c_out * cin_g * kh * kw).map(|i| ((i * 53 + 7) % 255) as i32 - 127).map(|v| v as i8).collect();
        let bias: Vec<i32> = (0..c_out as i32).map(|c| c * 300 - 700).collect();
        // Powers of two sized to the column, so that most outputs land inside 0..=255.
        let col_bits = (cin_g * kh * kw).next_power_of_two().trailing_zeros() as i32;
        let scales: Vec<f32> = (0..c_out).map(|c| 2f32.powi(-(6 + col_bits + if per_tensor { 1 } else { c as i32 % 3 }))).collect();
        let requant = if per_tensor { Requant::fixed_point(scales[0]) } else { Requant::PerChannel(&scales) };
        // Stored as the generator stores them: w - w0 (w0 = 3) in i16.
        let widened: Vec<i16> = weights.iter().map(|&v| v as i16 - 3).collect();
        let conv = QLinearConv {
            c_in, h_in: h, w_in: w, c_out, h_out, w_out, kernel: [kh, kw], stride: [s, s], pad: [p, p], group,
            weights: &widened, bias: &bias, x_zero: 17, y_zero: 100, requant,
        };
        conv.check(0).unwrap();
        let mut y = vec![0u8; conv.output_len()];
        conv.run(&x, &mut y);
        let unsaturated = y.iter().filter(|&&v| v > 0 && v < 255).count();
        assert!(2 * unsaturated > y.len(), "{unsaturated} of {} outputs unsaturated: the case tests little", y.len());
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
                    assert_eq!(y[(co * h_out + oy) * w_out + ox], want, "{kh}×{kw} s {s} p {p} group {group}: co {co} oy {oy} ox {ox}");
                }
            }
        }
    }
}

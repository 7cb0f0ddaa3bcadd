//! Bilinear resize of a feature map (000/001 feed ResNet-18 spectrograms resized to 128×128).
//!
//! Half-pixel convention, as `torch.nn.functional.interpolate(mode="bilinear",
//! align_corners=False, antialias=False)`: output pixel `i` samples input coordinate
//! `(i + 0.5)·(in/out) - 0.5`, clamped at 0 below and at the last pixel above.

use super::{check_len, DspError};

/// Input height and width of the ResNet-18 front end of 000/001.
pub const RESNET_SIDE: usize = 128;

fn axis(i: usize, n_in: usize, n_out: usize) -> (usize, usize, f32) {
    let scale = n_in as f32 / n_out as f32;
    let src = ((i as f32 + 0.5) * scale - 0.5).max(0.0);
    let i0 = (src as usize).min(n_in - 1);
    let i1 = (i0 + 1).min(n_in - 1);
    (i0, i1, src - i0 as f32)
}

/// Resizes the row-major `in_h × in_w` map `input` to `out_h × out_w` into `out`.
pub fn resize_bilinear(
    input: &[f32],
    in_h: usize,
    in_w: usize,
    out: &mut [f32],
    out_h: usize,
    out_w: usize,
) -> Result<(), DspError> {
    if in_h == 0 || in_w == 0 || out_h == 0 || out_w == 0 {
        return Err(DspError::InvalidParameter { name: "map size", value: 0.0, expected: "non-empty input and output" });
    }
    check_len("input", input.len(), in_h * in_w)?;
    check_len("out", out.len(), out_h * out_w)?;
    for y in 0..out_h {
        let (y0, y1, fy) = axis(y, in_h, out_h);
        for x in 0..out_w {
            let (x0, x1, fx) = axis(x, in_w, out_w);
            let a = input[y0 * in_w + x0];
            let b = input[y0 * in_w + x1];
            let c = input[y1 * in_w + x0];
            let d = input[y1 * in_w + x1];
            let top = a + (b - a) * fx;
            let bot = c + (d - c) * fx;
            out[y * out_w + x] = top + (bot - top) * fy;
        }
    }
    Ok(())
}

//! The 1-D waveform CNN of 002 §II, Table II (after Abdoli et al. 2019), on `[N, 1, samples]`:
//! a frozen 32-filter gammatone filterbank (512 taps), average-pool 8, convolutions
//! 16×256/2, average-pool 8, 32×64/2, 64×32/2, 128×16/2, max-pool 2, a 256-unit dense layer
//! with dropout 0.4, and the output layer; batch norm after every convolution.
//!
//! Two deliberate differences: the activation is ReLU where 002 uses Leaky ReLU (the ONNX
//! builder has no LeakyRelu, and the engine serves what was trained), and the filterbank is at
//! the model's sample rate (002 runs at 22.05 kHz). The architecture needs at least 27,375
//! samples (1.7 s at 16 kHz): ESC's 5 s clips, not 1 s keywords.

use super::layer::{Builder, Layer};
use super::{scaled, ModelSpec};
use crate::error::Result;
use tch::Tensor;

pub const GAMMATONE_FILTERS: usize = 32;
pub const GAMMATONE_TAPS: usize = 512;

/// Equivalent rectangular bandwidth in Hz (Glasberg & Moore 1990).
pub fn erb(f: f64) -> f64 {
    24.7 * (4.37 * f / 1000.0 + 1.0)
}

/// `n` centre frequencies equally spaced on the ERB-number scale between `lo` and `hi` Hz.
pub fn erb_space(lo: f64, hi: f64, n: usize) -> Vec<f64> {
    let to = |f: f64| 21.4 * (4.37 * f / 1000.0 + 1.0).log10();
    let from = |e: f64| (10f64.powf(e / 21.4) - 1.0) * 1000.0 / 4.37;
    let (a, b) = (to(lo), to(hi));
    (0..n).map(|i| from(a + (b - a) * i as f64 / (n.max(2) - 1) as f64)).collect()
}

/// Fourth-order gammatone impulse responses `t³ e^{-2π·1.019·ERB(fc)·t} cos(2π fc t)`, each
/// scaled to unit L2 norm: `[filters, 1, taps]`, centres ERB-spaced from 50 Hz to 0.45·sr.
pub fn gammatone_bank(sample_rate: u32, filters: usize, taps: usize) -> Vec<f32> {
    let sr = sample_rate as f64;
    let mut out = Vec::with_capacity(filters * taps);
    for fc in erb_space(50.0, 0.45 * sr, filters) {
        let b = 2.0 * std::f64::consts::PI * 1.019 * erb(fc);
        let h: Vec<f64> = (0..taps)
            .map(|n| {
                let t = n as f64 / sr;
                t.powi(3) * (-b * t).exp() * (2.0 * std::f64::consts::PI * fc * t).cos()
            })
            .collect();
        let norm = h.iter().map(|v| v * v).sum::<f64>().sqrt().max(f64::MIN_POSITIVE);
        out.extend(h.iter().map(|v| (v / norm) as f32));
    }
    out
}

pub fn cnn1d(mut b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    let w = spec.width;
    let bank = gammatone_bank(spec.sample_rate, GAMMATONE_FILTERS, GAMMATONE_TAPS);
    let weight = Tensor::from_slice(&bank).reshape([GAMMATONE_FILTERS as i64, 1, GAMMATONE_TAPS as i64]);
    b.frozen_conv(weight, 1)?.bn()?.relu()?.avg_pool(8, 8)?;
    b.conv_bn_relu(scaled(16, w), 256, 2, 0, 1)?.avg_pool(8, 8)?;
    b.conv_bn_relu(scaled(32, w), 64, 2, 0, 1)?;
    b.conv_bn_relu(scaled(64, w), 32, 2, 0, 1)?;
    b.conv_bn_relu(scaled(128, w), 16, 2, 0, 1)?.max_pool(2, 2, 0)?;
    b.flatten()?.linear(scaled(256, w))?.relu()?.dropout(0.4)?.linear(spec.n_classes as i64)?;
    Ok(b.layers)
}

//! MFCC: DCT-II of the log-mel energies, then the sinusoidal cepstral lifter of 001 Eq. 21.
//!
//! Equals `librosa.feature.mfcc(S=power_to_db(mel, amin=1e-10, top_db=None), n_mfcc, dct_type=2,
//! norm, lifter)`. Note that `librosa.feature.mfcc(y=...)` applies `top_db=80`; we do not (it
//! needs the whole clip), so references must pass `S`.
//!
//! The DCT keeps the dense `n_mfcc × n_mels` basis (normalization and lifter folded in) when it
//! fits [`DCT_DENSE_MAX`] values (10 KiB: 20 × 128, 40 × 64, 13 × 128 …), where it is a short
//! vectorized dot product per coefficient. Larger banks use a table of `cos(πj / 2M)`, `j < 4M`
//! (`M = n_mels`, at most 4 KiB): `cos(πk(2n+1)/2M)` is entry `k(2n+1) mod 4M`, slower (a
//! gather per term) but small, so the capacity of an MCU build stays bounded.
//!
//! Lifter (001 Eq. 21, as librosa implements it; the paper's typesetting puts `CF/2` outside
//! the parenthesis, which would rescale every coefficient including c0, and is read here as the
//! standard Juang-Rabiner form): `c[n] *= 1 + (L/2)·sin(π(n+1)/L)` for `L > 0`.

use super::{check_capacity, check_len, math, mel::LogMel, DspError, FftBackend, FrameFeature, MelParams, StftParams,
    MAX_MELS, MAX_MFCC};
use heapless::Vec;

/// Largest `n_mfcc · n_mels` for which the dense DCT basis is stored.
pub const DCT_DENSE_MAX: usize = 2560;

/// DCT normalization (scipy's `norm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "lowercase"))]
pub enum DctNorm {
    /// Orthonormal DCT-II basis (librosa's default).
    Ortho,
    /// Unnormalized `2·Σ x[n] cos(πk(2n+1)/2M)` (scipy `norm=None`).
    None,
}

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct MfccParams {
    /// Number of cepstral coefficients kept (<= n_mels, <= 128).
    pub n_mfcc: usize,
    pub norm: DctNorm,
    /// Cepstral lifter L; 0 disables liftering.
    pub lifter: f32,
}

impl Default for MfccParams {
    fn default() -> Self {
        MfccParams { n_mfcc: 20, norm: DctNorm::Ortho, lifter: 0.0 }
    }
}

/// MFCC of one frame.
pub struct Mfcc<const N: usize = { super::MAX_N_FFT }> {
    logmel: LogMel<N>,
    mel: Vec<f32, MAX_MELS>,
    cos: Vec<f32, { 4 * MAX_MELS }>,
    /// Row-major `n_mfcc × n_mels` basis with `scale` folded in; empty when it does not fit.
    dense: Vec<f32, DCT_DENSE_MAX>,
    /// Per-coefficient factor: DCT normalization times lifter.
    scale: Vec<f32, MAX_MFCC>,
    n_mfcc: usize,
}

impl<const N: usize> Mfcc<N> {
    pub fn new(stft: &StftParams, mel: &MelParams, p: &MfccParams, backend: FftBackend) -> Result<Self, DspError> {
        let logmel = LogMel::new(stft, mel, backend)?;
        let m = mel.n_mels;
        check_capacity("n_mfcc", p.n_mfcc, MAX_MFCC)?;
        if p.n_mfcc == 0 || p.n_mfcc > m {
            return Err(DspError::InvalidParameter {
                name: "n_mfcc",
                value: p.n_mfcc as f64,
                expected: "1 <= n_mfcc <= n_mels",
            });
        }
        if !(p.lifter >= 0.0) {
            return Err(DspError::InvalidParameter { name: "lifter", value: p.lifter as f64, expected: ">= 0" });
        }
        let mut cos = Vec::new();
        for j in 0..4 * m {
            let _ = cos.push(math::cos(core::f64::consts::PI * j as f64 / (2.0 * m as f64)) as f32);
        }
        let mut scale = Vec::new();
        for k in 0..p.n_mfcc {
            let norm = match p.norm {
                DctNorm::None => 2.0,
                DctNorm::Ortho if k == 0 => math::sqrt(1.0 / m as f64),
                DctNorm::Ortho => math::sqrt(2.0 / m as f64),
            };
            let lift = if p.lifter > 0.0 {
                let l = p.lifter as f64;
                1.0 + (l / 2.0) * math::sin(core::f64::consts::PI * (k as f64 + 1.0) / l)
            } else {
                1.0
            };
            let _ = scale.push((norm * lift) as f32);
        }
        let mut dense = Vec::new();
        if p.n_mfcc * m <= DCT_DENSE_MAX {
            for k in 0..p.n_mfcc {
                for n in 0..m {
                    let c = math::cos(core::f64::consts::PI * (k * (2 * n + 1)) as f64 / (2.0 * m as f64));
                    let _ = dense.push((c * scale[k] as f64) as f32);
                }
            }
        }
        let mut melbuf = Vec::new();
        let _ = melbuf.resize(m, 0.0);
        Ok(Mfcc { logmel, mel: melbuf, cos, dense, scale, n_mfcc: p.n_mfcc })
    }

    pub fn n_mfcc(&self) -> usize {
        self.n_mfcc
    }

    /// The weight of log-mel band `n` (in dB) in coefficient `k`: `scale_k · cos(πk(2n+1)/2M)`,
    /// the DCT normalization and lifter folded in, so that `c_k = Σ_n weight(k, n)·mel_dB[n]`.
    /// For the inverse in `tools` (log-mel from an attacked MFCC map).
    pub fn weight(&self, k: usize, n: usize) -> f64 {
        let m = self.mel.len();
        match self.scale.get(k) {
            Some(&s) if n < m => s as f64 * math::cos(core::f64::consts::PI * (k * (2 * n + 1)) as f64 / (2.0 * m as f64)),
            _ => 0.0,
        }
    }
}

/// DCT-II of `x` (length M) restricted to the first `out.len()` coefficients, using the
/// quarter-wave table `cos[j] = cos(πj/2M)`, `j < 4M`; `scale[k]` multiplies coefficient k.
fn dct2(x: &[f32], cos: &[f32], scale: &[f32], out: &mut [f32]) {
    let m4 = cos.len();
    for (k, o) in out.iter_mut().enumerate() {
        let step = (2 * k) % m4;
        let mut j = k % m4;
        // Four partial sums: one chain of dependent additions would bound the loop by the
        // add latency; the table lookups themselves cannot vectorize.
        let mut acc = [0.0f32; 4];
        let chunks = x.chunks_exact(4);
        let rest = chunks.remainder();
        for c in chunks {
            for (l, &v) in c.iter().enumerate() {
                acc[l] += v * cos[j];
                j += step;
                if j >= m4 {
                    j -= m4;
                }
            }
        }
        let mut tail = 0.0f32;
        for &v in rest {
            tail += v * cos[j];
            j += step;
            if j >= m4 {
                j -= m4;
            }
        }
        *o = ((acc[0] + acc[2]) + (acc[1] + acc[3]) + tail) * scale[k];
    }
}

impl<const N: usize> FrameFeature for Mfcc<N> {
    fn frame_length(&self) -> usize {
        self.logmel.frame_length()
    }
    fn n_features(&self) -> usize {
        self.n_mfcc
    }
    fn process(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        check_len("out", out.len(), self.n_mfcc)?;
        self.logmel.process(frame, &mut self.mel)?;
        if self.dense.is_empty() {
            dct2(&self.mel, &self.cos, &self.scale, out);
        } else {
            for (o, row) in out.iter_mut().zip(self.dense.chunks_exact(self.mel.len())) {
                *o = math::dot(row, &self.mel);
            }
        }
        Ok(())
    }
}

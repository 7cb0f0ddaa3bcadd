//! A true multi-level discrete wavelet transform reduced to sub-band log energies
//! ([`DwtBands`], `FeatureKind::DwtBands`).
//!
//! `pywt.wavedec(frame, wavelet, mode="periodization", level=levels)` on the raw frame (Haar or
//! db4, PyWavelets' analysis filters), reduced to `log10(max(amin, mean(c²)))` of each
//! coefficient array in PyWavelets' order `[cA_L, cD_L, …, cD_1]` (`levels + 1` values).
//! Periodization as PyWavelets does it: a level of input length `n` is extended to even length
//! `n' = n + (n mod 2)` by repeating its last sample, read periodically, and gives `n'/2`
//! coefficients `c[o] = Σ_j h[j] · x[(F/2 + 2o - j) mod n']` for a filter `h` of length `F`.
//! Computed as a two-filter bank (`F` multiply-adds per coefficient and filter) on one buffer
//! of `N` floats; detail coefficients are reduced to their energy as they are produced.

use crate::dsp::{check_capacity, check_len, math, DspError, FrameFeature};
use heapless::Vec;

/// Largest number of decomposition levels of [`DwtBands`].
pub const MAX_DWT_LEVELS: usize = 16;

/// Orthogonal wavelet of the multi-level DWT (PyWavelets' analysis filters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "lowercase"))]
pub enum DiscreteWavelet {
    Haar,
    /// Daubechies, 4 vanishing moments, 8 taps.
    Db4,
}

const HAAR_H: f32 = core::f32::consts::FRAC_1_SQRT_2;
const HAAR_LO: [f32; 2] = [HAAR_H, HAAR_H];
const HAAR_HI: [f32; 2] = [-HAAR_H, HAAR_H];
/// `pywt.Wavelet("db4").dec_lo` (float64 digits, rounded to f32 here).
#[allow(clippy::excessive_precision)]
const DB4_LO: [f32; 8] = [
    -0.010597401785069032,
    0.0328830116668852,
    0.030841381835560764,
    -0.18703481171909309,
    -0.027983769416859854,
    0.6308807679298589,
    0.7148465705529157,
    0.2303778133088965,
];
/// `pywt.Wavelet("db4").dec_hi`: `dec_hi[j] = (-1)^{j+1} dec_lo[F-1-j]`.
#[allow(clippy::excessive_precision)]
const DB4_HI: [f32; 8] = [
    -0.2303778133088965,
    0.7148465705529157,
    -0.6308807679298589,
    -0.027983769416859854,
    0.18703481171909309,
    0.030841381835560764,
    -0.0328830116668852,
    -0.010597401785069032,
];

impl DiscreteWavelet {
    /// Decomposition (low-pass, high-pass) filters.
    pub fn filters(&self) -> (&'static [f32], &'static [f32]) {
        match self {
            DiscreteWavelet::Haar => (&HAAR_LO, &HAAR_HI),
            DiscreteWavelet::Db4 => (&DB4_LO, &DB4_HI),
        }
    }
}

/// DWT sub-band parameters. Defaults: 16 kHz, 1024-sample frames (64 ms) with 50 % overlap,
/// db4, 5 levels (sub-bands 0-250 Hz, 250-500, 500-1k, 1-2k, 2-4k, 4-8k).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct DwtBandsParams {
    /// Sample rate in Hz (names the sub-band edges `sample_rate / 2^{l+1}`; the transform itself
    /// does not use it).
    pub sample_rate: u32,
    pub frame_length: usize,
    pub hop_length: usize,
    /// Pad `frame_length/2` zeros at both ends so frame t is centred on sample t·hop_length.
    pub center: bool,
    pub wavelet: DiscreteWavelet,
    /// Decomposition levels `L` (1..=16); `L + 1` values per frame.
    pub levels: usize,
    /// Floor of the log: `log10(max(amin, mean(c²)))`.
    pub amin: f32,
}

impl Default for DwtBandsParams {
    fn default() -> Self {
        DwtBandsParams {
            sample_rate: 16_000,
            frame_length: 1024,
            hop_length: 512,
            center: true,
            wavelet: DiscreteWavelet::Db4,
            levels: 5,
            amin: 1e-10,
        }
    }
}

impl DwtBandsParams {
    pub fn validate(&self) -> Result<(), DspError> {
        if self.sample_rate == 0 {
            return Err(DspError::InvalidParameter { name: "sample_rate", value: 0.0, expected: "> 0 Hz" });
        }
        if self.frame_length < 2 {
            return Err(DspError::InvalidParameter {
                name: "frame_length",
                value: self.frame_length as f64,
                expected: ">= 2",
            });
        }
        if self.hop_length == 0 {
            return Err(DspError::InvalidParameter { name: "hop_length", value: 0.0, expected: ">= 1" });
        }
        if self.levels == 0 || self.levels > MAX_DWT_LEVELS {
            return Err(DspError::InvalidParameter {
                name: "levels",
                value: self.levels as f64,
                expected: "1 <= levels <= 16",
            });
        }
        if !(self.amin > 0.0) {
            return Err(DspError::InvalidParameter { name: "amin", value: self.amin as f64, expected: "> 0" });
        }
        Ok(())
    }
}

/// One periodized analysis step (PyWavelets `dwt(x, mode="periodization")`): writes the
/// approximation into `approx` (length `ceil(n/2)`) and returns the sum of squares of the
/// detail coefficients, which are not kept.
fn analysis_step(x: &[f32], lo: &[f32], hi: &[f32], approx: &mut [f32]) -> f32 {
    let n = x.len();
    let n_ext = n + (n & 1);
    let f = lo.len();
    debug_assert_eq!(approx.len(), n_ext / 2);
    // The odd-length extension repeats the last sample at index n.
    let at = |i: usize| if i < n { x[i] } else { x[n - 1] };
    let mut detail = 0.0f32;
    for (o, out) in approx.iter_mut().enumerate() {
        let i = f / 2 + 2 * o;
        let (mut a, mut d) = (0.0f32, 0.0f32);
        if i + 1 >= f && i < n {
            // Interior: x[i - j] for every tap without wrapping.
            for ((&l, &h), &v) in lo.iter().zip(hi).zip(x[i + 1 - f..=i].iter().rev()) {
                a += l * v;
                d += h * v;
            }
        } else {
            for j in 0..f {
                // (i - j) mod n_ext, for filters longer than the signal too.
                let idx = (i + f * n_ext - j) % n_ext;
                let v = at(idx);
                a += lo[j] * v;
                d += hi[j] * v;
            }
        }
        *out = a;
        detail += d * d;
    }
    detail
}

/// Multi-level DWT sub-band log energies of a frame (module docs: the exact definition).
/// Static memory: one `N`-float buffer.
pub struct DwtBands<const N: usize = { crate::dsp::MAX_N_FFT }> {
    p: DwtBandsParams,
    /// Approximations of alternate levels at `[0, n1)` and `[n1, n1 + n2)`.
    work: Vec<f32, N>,
}

impl<const N: usize> DwtBands<N> {
    pub fn new(p: &DwtBandsParams) -> Result<Self, DspError> {
        p.validate()?;
        check_capacity("frame_length", p.frame_length, N)?;
        let n1 = p.frame_length.div_ceil(2);
        let n2 = n1.div_ceil(2);
        check_capacity("frame_length/2 + frame_length/4", n1 + n2, N)?;
        let mut work = Vec::new();
        let _ = work.resize(n1 + n2, 0.0);
        Ok(DwtBands { p: *p, work })
    }

    pub fn params(&self) -> &DwtBandsParams {
        &self.p
    }

    /// Mean square of each coefficient array `[cA_L, cD_L, …, cD_1]` (before the log).
    pub fn energy(&mut self, frame: &[f32], energy: &mut [f32]) -> Result<(), DspError> {
        check_len("frame", frame.len(), self.p.frame_length)?;
        check_len("energy", energy.len(), self.p.levels + 1)?;
        let (lo, hi) = self.p.wavelet.filters();
        let levels = self.p.levels;
        let n1 = frame.len().div_ceil(2);
        let (first, second) = self.work.split_at_mut(n1);
        let mut n = n1;
        energy[levels] = analysis_step(frame, lo, hi, &mut first[..n]) / n as f32;
        // Level l reads the approximation of level l - 1 from one half of `work` and writes its
        // own into the other.
        for l in 2..=levels {
            let m = n.div_ceil(2);
            let d = if l % 2 == 0 {
                analysis_step(&first[..n], lo, hi, &mut second[..m])
            } else {
                analysis_step(&second[..n], lo, hi, &mut first[..m])
            };
            energy[levels + 1 - l] = d / m as f32;
            n = m;
        }
        let approx = if levels % 2 == 0 { &second[..n] } else { &first[..n] };
        energy[0] = approx.iter().map(|v| v * v).sum::<f32>() / n as f32;
        Ok(())
    }
}

impl<const N: usize> FrameFeature for DwtBands<N> {
    fn frame_length(&self) -> usize {
        self.p.frame_length
    }
    fn n_features(&self) -> usize {
        self.p.levels + 1
    }
    /// `log10(max(amin, mean(c²)))` of `[cA_L, cD_L, …, cD_1]`.
    fn process(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        self.energy(frame, out)?;
        for v in out.iter_mut() {
            *v = math::log10f(v.max(self.p.amin));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Periodized orthogonal DWT of an even-length frame keeps its energy (Parseval), split
    /// over the sub-bands: `Σ_b len_b · mean_b = Σ x²`.
    #[test]
    fn dwt_bands_preserve_energy() {
        for wavelet in [DiscreteWavelet::Haar, DiscreteWavelet::Db4] {
            let p = DwtBandsParams { wavelet, frame_length: 1024, levels: 5, ..DwtBandsParams::default() };
            let mut d = DwtBands::<1024>::new(&p).unwrap();
            let frame: Vec<f32, 1024> = (0..1024)
                .map(|n| (math::sin(0.37 * n as f64) + 0.5 * math::cos(0.011 * (n * n) as f64)) as f32)
                .collect();
            let mut e = [0.0f32; 6];
            d.energy(&frame, &mut e).unwrap();
            let lens = [32.0, 32.0, 64.0, 128.0, 256.0, 512.0];
            let total: f32 = e.iter().zip(lens).map(|(m, l)| m * l).sum();
            let want: f32 = frame.iter().map(|x| x * x).sum();
            assert!((total / want - 1.0).abs() < 1e-5, "{wavelet:?}: {total} vs {want}");
        }
    }

    #[test]
    fn dwt_bands_reject_bad_parameters() {
        let ok = DwtBandsParams::default();
        assert!(DwtBands::<1024>::new(&ok).is_ok());
        assert!(DwtBands::<512>::new(&ok).is_err());
        assert!(DwtBands::<1024>::new(&DwtBandsParams { levels: 0, ..ok }).is_err());
        assert!(DwtBands::<1024>::new(&DwtBandsParams { levels: MAX_DWT_LEVELS + 1, ..ok }).is_err());
        assert!(DwtBands::<1024>::new(&DwtBandsParams { frame_length: 1, ..ok }).is_err());
    }
}

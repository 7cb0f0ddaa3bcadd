//! Mel filterbank and log-mel, bit-compatible in their weights with `librosa.filters.mel`.
//!
//! The weights are computed exactly as librosa 0.11 computes them (float64 ramps, rounded to
//! float32, slaney area normalization applied to the rounded value) and stored sparsely: with
//! triangular filters every FFT bin falls between two consecutive mel points `f_i <= f < f_{i+1}`
//! and so has non-zero weight in at most two filters, the falling edge of filter `i-1` and the
//! rising edge of filter `i`. The bank therefore keeps two weights per bin (`O(n_fft)` memory
//! instead of the dense `n_mels × (n_fft/2+1)` matrix, 256 KiB for 128 × 513 floats), which is
//! what makes it fit a microcontroller.
//!
//! Log: `10·log10(max(amin, S))` with `amin = 1e-10`, librosa's `power_to_db(S, ref=1.0,
//! amin=1e-10, top_db=None)`. librosa's `top_db` clamp is left out on purpose: it needs the
//! maximum of the whole clip and so cannot stream.

use super::{check_capacity, check_len, math, stft::Stft, DspError, FftBackend, FrameFeature, StftParams, MAX_MELS};
use heapless::Vec;

/// Mel scale formula.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "lowercase"))]
pub enum MelScale {
    /// Slaney's Auditory Toolbox: linear below 1 kHz, logarithmic above (librosa `htk=False`).
    Slaney,
    /// HTK: `2595·log10(1 + f/700)` (librosa `htk=True`).
    Htk,
}

/// Filter normalization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "lowercase"))]
pub enum MelNorm {
    /// Divide each triangle by its width in Hz (constant energy per band; librosa `norm="slaney"`).
    Slaney,
    /// Peak 1 triangles (librosa `norm=None`).
    None,
}

/// Mel filterbank parameters (librosa names).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct MelParams {
    /// Number of mel bands (<= 256).
    pub n_mels: usize,
    /// Lowest band edge in Hz.
    pub fmin: f32,
    /// Highest band edge in Hz; `None` means `sample_rate / 2`.
    pub fmax: Option<f32>,
    pub mel_scale: MelScale,
    pub norm: MelNorm,
    /// Floor of the log: `10·log10(max(amin, S))`.
    pub amin: f32,
}

impl Default for MelParams {
    /// 003's front end: 64 slaney-normalized slaney-scale bands over 0 Hz - Nyquist.
    fn default() -> Self {
        MelParams { n_mels: 64, fmin: 0.0, fmax: None, mel_scale: MelScale::Slaney, norm: MelNorm::Slaney, amin: 1e-10 }
    }
}

/// Hz to mel (librosa `hz_to_mel`).
pub fn hz_to_mel(f: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 2595.0 * math::log10(1.0 + f / 700.0),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = math::ln(6.4) / 27.0;
            if f >= min_log_hz {
                min_log_mel + math::ln(f / min_log_hz) / logstep
            } else {
                f / f_sp
            }
        }
    }
}

/// Mel to Hz (librosa `mel_to_hz`).
pub fn mel_to_hz(m: f64, scale: MelScale) -> f64 {
    match scale {
        MelScale::Htk => 700.0 * (math::pow(10.0, m / 2595.0) - 1.0),
        MelScale::Slaney => {
            let f_sp = 200.0 / 3.0;
            let min_log_hz = 1000.0;
            let min_log_mel = min_log_hz / f_sp;
            let logstep = math::ln(6.4) / 27.0;
            if m >= min_log_mel {
                min_log_hz * math::exp(logstep * (m - min_log_mel))
            } else {
                f_sp * m
            }
        }
    }
}

/// The `n_mels + 2` band edges in Hz (librosa `mel_frequencies`, numpy `linspace` rounding).
fn mel_point(i: usize, n_points: usize, fmin: f64, fmax: f64, scale: MelScale) -> f64 {
    let lo = hz_to_mel(fmin, scale);
    let hi = hz_to_mel(fmax, scale);
    let m = if i + 1 == n_points { hi } else { i as f64 * ((hi - lo) / (n_points - 1) as f64) + lo };
    mel_to_hz(m, scale)
}

/// Sparse mel filterbank for `n_fft/2 + 1 <= N` bins.
#[derive(Debug, Clone)]
pub struct MelFilterbank<const N: usize = { super::MAX_N_FFT }> {
    n_mels: usize,
    n_bins: usize,
    /// `seg[i]` = first bin whose interval index is >= i, for i in 0..=n_mels+1.
    seg: Vec<u16, { MAX_MELS + 2 }>,
    /// Weight of each bin in the rising edge of filter `i(k)`.
    rise: Vec<f32, N>,
    /// Weight of each bin in the falling edge of filter `i(k) - 1`.
    fall: Vec<f32, N>,
}

impl<const N: usize> MelFilterbank<N> {
    pub fn new(sample_rate: u32, n_fft: usize, p: &MelParams) -> Result<Self, DspError> {
        let mut b = Self::empty();
        b.init(sample_rate, n_fft, p)?;
        Ok(b)
    }

    /// A bank of no filters, to be set up by [`MelFilterbank::init`]: a `static` can hold it
    /// without its two `N`-float weight tables ever passing through the stack.
    pub const fn empty() -> Self {
        MelFilterbank { n_mels: 0, n_bins: 0, seg: Vec::new(), rise: Vec::new(), fall: Vec::new() }
    }

    /// Builds the bank in place (the very weights [`MelFilterbank::new`] returns); on error it
    /// is left as [`MelFilterbank::empty`].
    pub fn init(&mut self, sample_rate: u32, n_fft: usize, p: &MelParams) -> Result<(), DspError> {
        self.n_mels = 0;
        self.n_bins = 0;
        self.seg.clear();
        self.rise.clear();
        self.fall.clear();
        let r = self.build(sample_rate, n_fft, p);
        if r.is_err() {
            *self = Self::empty();
        }
        r
    }

    fn build(&mut self, sample_rate: u32, n_fft: usize, p: &MelParams) -> Result<(), DspError> {
        let n_bins = n_fft / 2 + 1;
        check_capacity("n_fft/2+1", n_bins, N)?;
        check_capacity("n_mels", p.n_mels, MAX_MELS)?;
        if n_bins > u16::MAX as usize {
            return Err(DspError::Capacity { name: "n_fft/2+1", requested: n_bins, capacity: u16::MAX as usize });
        }
        if p.n_mels == 0 {
            return Err(DspError::InvalidParameter { name: "n_mels", value: 0.0, expected: ">= 1" });
        }
        let nyquist = sample_rate as f64 / 2.0;
        let fmax = p.fmax.map(f64::from).unwrap_or(nyquist);
        let fmin = p.fmin as f64;
        if !(fmin >= 0.0 && fmin < fmax) {
            return Err(DspError::InvalidParameter { name: "fmin", value: fmin, expected: "0 <= fmin < fmax" });
        }
        if !(fmax <= nyquist) {
            return Err(DspError::InvalidParameter { name: "fmax", value: fmax, expected: "fmax <= sample_rate / 2" });
        }
        if !(p.amin >= f32::MIN_POSITIVE) || !p.amin.is_finite() {
            return Err(DspError::InvalidParameter {
                name: "amin",
                value: p.amin as f64,
                expected: "a normal float32 > 0 (>= 1.2e-38), e.g. 1e-10",
            });
        }
        let m = p.n_mels;
        let n_points = m + 2;
        let mut points: Vec<f64, { MAX_MELS + 2 }> = Vec::new();
        for i in 0..n_points {
            let _ = points.push(mel_point(i, n_points, fmin, fmax, p.mel_scale));
        }
        let point = |i: usize| points[i];
        let freq = |k: usize| k as f64 * (1.0 / (n_fft as f64 * (1.0 / sample_rate as f64)));
        // librosa: lower = -ramps[i]/fdiff[i], upper = ramps[i+2]/fdiff[i+1], rounded to f32,
        // then multiplied by enorm = 2/(f[i+2]-f[i]) (in f64, rounded again).
        let weight = |filt: usize, k: usize| -> f32 {
            let (f0, f1, f2) = (point(filt), point(filt + 1), point(filt + 2));
            let fk = freq(k);
            let lower = -(f0 - fk) / (f1 - f0);
            let upper = (f2 - fk) / (f2 - f1);
            let tri = lower.min(upper).max(0.0) as f32;
            match p.norm {
                MelNorm::None => tri,
                MelNorm::Slaney => (tri as f64 * (2.0 / (f2 - f0))) as f32,
            }
        };
        let (rise, fall, seg) = (&mut self.rise, &mut self.fall, &mut self.seg);
        let mut next_interval = 0usize;
        for k in 0..n_bins {
            let fk = freq(k);
            // Interval index i with f_i <= fk < f_{i+1}, clamped to 0..=m.
            let mut i = 0usize;
            while i < m && point(i + 1) <= fk {
                i += 1;
            }
            while next_interval <= i {
                let _ = seg.push(k as u16);
                next_interval += 1;
            }
            let r = if i < m { weight(i, k) } else { 0.0 };
            let f = if i >= 1 { weight(i - 1, k) } else { 0.0 };
            let _ = rise.push(r);
            let _ = fall.push(f);
        }
        while next_interval <= m + 1 {
            let _ = seg.push(n_bins as u16);
            next_interval += 1;
        }
        // Every other filter must have zero weight at every bin, or the sparse form is wrong.
        for k in 0..n_bins {
            let lo = seg.iter().rposition(|&s| s as usize <= k).unwrap_or(0);
            for filt in 0..m {
                if filt != lo && filt + 1 != lo && weight(filt, k) != 0.0 {
                    return Err(DspError::InvalidParameter {
                        name: "n_mels",
                        value: m as f64,
                        expected: "mel points in increasing order (filters too narrow for n_fft)",
                    });
                }
            }
        }
        self.n_mels = m;
        self.n_bins = n_bins;
        Ok(())
    }

    pub fn n_mels(&self) -> usize {
        self.n_mels
    }
    pub fn n_bins(&self) -> usize {
        self.n_bins
    }

    /// Weight of bin `k` in filter `m` (for inspection and tests; the dense matrix is never built).
    pub fn weight(&self, m: usize, k: usize) -> f32 {
        let (s, e) = (self.seg[m] as usize, self.seg[m + 1] as usize);
        if k >= s && k < e {
            return self.rise[k];
        }
        let (s2, e2) = (self.seg[m + 1] as usize, self.seg[m + 2] as usize);
        if k >= s2 && k < e2 {
            return self.fall[k];
        }
        0.0
    }

    /// `mel[m] = Σ_k W[m, k] · power[k]`.
    pub fn apply(&self, power: &[f32], mel: &mut [f32]) -> Result<(), DspError> {
        check_len("power", power.len(), self.n_bins)?;
        check_len("mel", mel.len(), self.n_mels)?;
        for (m, out) in mel.iter_mut().enumerate() {
            let (a, b, c) = (self.seg[m] as usize, self.seg[m + 1] as usize, self.seg[m + 2] as usize);
            *out = math::dot(&self.rise[a..b], &power[a..b]) + math::dot(&self.fall[b..c], &power[b..c]);
        }
        Ok(())
    }
}

/// Log-mel energies of a frame: STFT power → mel filterbank → `10·log10(max(amin, ·))`.
pub struct LogMel<const N: usize = { super::MAX_N_FFT }> {
    stft: Stft<N>,
    bank: MelFilterbank<N>,
    power: Vec<f32, N>,
    amin: f32,
}

impl<const N: usize> LogMel<N> {
    pub fn new(stft: &StftParams, mel: &MelParams, backend: FftBackend) -> Result<Self, DspError> {
        let s = Stft::new(stft, backend)?;
        let bank = MelFilterbank::new(stft.sample_rate, stft.n_fft, mel)?;
        let mut power = Vec::new();
        let _ = power.resize(stft.n_bins(), 0.0);
        Ok(LogMel { stft: s, bank, power, amin: mel.amin })
    }

    pub fn n_mels(&self) -> usize {
        self.bank.n_mels()
    }

    pub fn filterbank(&self) -> &MelFilterbank<N> {
        &self.bank
    }

    /// Mel power (before the log) of one frame.
    pub fn mel_power(&mut self, frame: &[f32], mel: &mut [f32]) -> Result<(), DspError> {
        self.stft.power(frame, &mut self.power)?;
        self.bank.apply(&self.power, mel)
    }
}

pub use super::math::power_to_db;

impl<const N: usize> FrameFeature for LogMel<N> {
    fn frame_length(&self) -> usize {
        self.stft.params().n_fft
    }
    fn n_features(&self) -> usize {
        self.bank.n_mels()
    }
    fn process(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        self.mel_power(frame, out)?;
        power_to_db(out, self.amin);
        Ok(())
    }
}

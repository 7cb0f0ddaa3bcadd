//! The framed continuous-wavelet scalogram ([`Scalogram`], `FeatureKind::Scalogram`): what
//! 000/001 call the "DWT" representation (001 Sec. II-C, Eq. 17-20; 000 Sec. II-C).
//!
//! 000/001 frame the audio in 50 ms frames with 50 % overlap, transform each frame with Eq. 17,
//! `W(s, τ) = |s|^{-1/2} ∫ a(t) ψ((t - τ)/s) dt`, and show `|W|` on a log scale. One output
//! value per scale and frame is defined here exactly as follows.
//!
//! * **Frame.** `x[0..L)`, the `L = frame_length` samples the framer delivers (rectangular, no
//!   analysis window: the wavelet is the window), zero-padded to `M = n_fft` samples.
//!   `x(t)` is its band-limited periodic interpolant (period `M`, time in samples): the
//!   trigonometric polynomial through the padded samples, with the Nyquist term split evenly
//!   between `±π` so that `x(t)` is real.
//! * **Scales.** `n_scales` frequencies `f_k = fmin·(fmax/fmin)^{k/(n_scales-1)}` (numpy
//!   `geomspace`, row `k = 0` is `fmin`), mapped to scales in samples by the wavelet's centre
//!   frequency `F_c` as `pywt.scale2frequency` does: `s_k = F_c · sample_rate / f_k`, with
//!   `F_c = pywt.central_frequency(wavelet)`: 256/257 for Haar (PyWavelets' estimate from its
//!   sampled Haar function; the ideal value is 1), 0.25 for the Mexican hat, `C` for `cmorB-C`.
//! * **Transform.** `W(s, τ) = s^{-1/2} ∫ x(t) ψ*((t - τ)/s) dt` (Eq. 17 with its 1/√s; for a
//!   real frame `∫ x ψ = conj(∫ x ψ*)`, so `|W|` is the same with or without the conjugate).
//! * **Value.** `log10(max(amin, E(s)))` with `E(s) = (1/L) ∫_0^M |W(s, τ)|² dτ`: the energy of
//!   the scale's response over one period, divided by the frame length, so a stationary signal
//!   gives its mean power in the wavelet's band (mean of `|W|²` over the frame).
//!
//! **How it is computed.** By Parseval, with `X[j]` the `M`-point DFT of the padded frame,
//! `P[j] = |X[j]|²` (`j = 0..=M/2`) and `u_j = s·2πj/M`:
//!
//! ```text
//! E(s) = s/(L·M) · Σ_j c_j · P[j] · G(u_j),   G(u) = |Ψ̂(u)|² + |Ψ̂(-u)|²,
//! c_0 = 1/2,  c_{M/2} = 1/4,  c_j = 1 otherwise,
//! ```
//!
//! where `Ψ̂(ω) = ∫ ψ(t) e^{-iωt} dt` in closed form:
//!
//! * complex Morlet (`cmorB-C`, `ψ(t) = (πB)^{-1/2} e^{-t²/B} e^{2πiCt}`):
//!   `|Ψ̂(u)|² = exp(-B (u - 2πC)² / 2)`;
//! * Mexican hat (`mexh`, `ψ(t) = 2/(√3 π^{1/4}) (1 - t²) e^{-t²/2}`):
//!   `|Ψ̂(u)|² = (8√π/3) u⁴ e^{-u²}`;
//! * Haar (`ψ = 1` on `[0, 1/2)`, `-1` on `[1/2, 1)`): `|Ψ̂(u)|² = 16 sin⁴(u/4) / u²`.
//!
//! So a frame costs one real FFT of `n_fft` points and, per scale, a weighted sum over the bins
//! of the wavelet's pass band; no convolution is ever formed. The weights are evaluated in
//! `process` from these closed forms rather than stored: a dense `n_scales × (n_fft/2+1)`
//! table is 512 KiB at the defaults, and Haar's `1/u²` tail leaves nothing to make sparse. The
//! per-scale state is two bin indices and two constants. The sum skips bins where `G` is below
//! `10⁻¹²` of its peak (complex Morlet: `|u - 2πC| > √(2 ln 10¹² / B)`, with `|Ψ̂(-u)|²`
//! dropped when that band does not reach `u = 0`; Mexican hat: `u > 6.5`; Haar: no bin is
//! skipped), which changes `E(s)` by less than `10⁻¹² · s·max G · mean(x²)`, i.e. never by more
//! than `10⁻¹²` of the largest value that scale can take for the frame's power.
//!
//! `n_fft` sets the period of the circular transform. The response of a scale spills beyond
//! each end of the frame by the wavelet's half-length (Morlet: its envelope `e^{-t²/(B s²)}`
//! is down to 10⁻⁴ at `|t| = 3.03·s·√B`), and where `L` plus twice that exceeds `n_fft` the
//! two ends wrap onto each other. The default (800-sample frames, 4096 points) leaves room for
//! the 50 Hz `cmor1.5-1.0` scale at 16 kHz (`s = 320`: 800 + 2·1188 = 3176 samples).
//!

use crate::dsp::{check_capacity, check_len, fft::RealFft, math, DspError, FftBackend, FrameFeature};
use core::f64::consts::PI;
use heapless::Vec;

/// Largest number of scales of a [`Scalogram`].
pub const MAX_SCALES: usize = 256;

/// Weights below this fraction of a wavelet's peak `G` are left out of the scalogram sums.
const WEIGHT_FLOOR: f64 = 1e-12;
/// Mexican hat: `(8√π/3) u⁴ e^{-u²} < 10⁻¹² · max` for every `u > 6.5`.
const MEXH_U_MAX: f64 = 6.5;

#[cfg(feature = "std")]
#[inline]
fn expf(x: f32) -> f32 {
    x.exp()
}
#[cfg(not(feature = "std"))]
#[inline]
fn expf(x: f32) -> f32 {
    libm::expf(x)
}
#[cfg(feature = "std")]
#[inline]
fn sinf(x: f32) -> f32 {
    x.sin()
}
#[cfg(not(feature = "std"))]
#[inline]
fn sinf(x: f32) -> f32 {
    libm::sinf(x)
}

/// Mother function of the framed scalogram (000/001: Haar, Mexican hat, complex Morlet).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(tag = "wavelet", rename_all = "kebab-case"))]
pub enum ContinuousWavelet {
    /// `ψ = 1` on `[0, 1/2)`, `-1` on `[1/2, 1)`.
    Haar,
    /// PyWavelets `mexh`: `2/(√3 π^{1/4}) (1 - t²) e^{-t²/2}`.
    MexicanHat,
    /// PyWavelets `cmorB-C`: `(πB)^{-1/2} e^{-t²/B} e^{2πiCt}`, bandwidth `B`, centre frequency
    /// `C` (cycles per unit time). 001 Eq. 18 is `B = 2`, `C = ω/2π` up to sign and normalization.
    ComplexMorlet { bandwidth: f32, center_frequency: f32 },
}

impl ContinuousWavelet {
    /// Centre frequency in cycles per unit of wavelet time, as `pywt.central_frequency` gives
    /// it (so that `s = F_c · sample_rate / f` matches `pywt.frequency2scale`).
    pub fn center_frequency(&self) -> f64 {
        match *self {
            // pywt takes the peak of the FFT of its Haar function sampled on 257 points over
            // [0, 1 + 1/256]; the domain length makes it 256/257, not 1.
            ContinuousWavelet::Haar => 256.0 / 257.0,
            ContinuousWavelet::MexicanHat => 0.25,
            ContinuousWavelet::ComplexMorlet { center_frequency, .. } => center_frequency as f64,
        }
    }

    fn validate(&self) -> Result<(), DspError> {
        if let ContinuousWavelet::ComplexMorlet { bandwidth, center_frequency } = *self {
            if !(bandwidth > 0.0 && bandwidth.is_finite()) {
                return Err(DspError::InvalidParameter {
                    name: "bandwidth",
                    value: bandwidth as f64,
                    expected: "a finite bandwidth B > 0 (cmorB-C)",
                });
            }
            if !(center_frequency > 0.0 && center_frequency.is_finite()) {
                return Err(DspError::InvalidParameter {
                    name: "center_frequency",
                    value: center_frequency as f64,
                    expected: "a finite centre frequency C > 0 (cmorB-C)",
                });
            }
        }
        Ok(())
    }

    /// Range of `u = s·ω` outside which `G(u) < 10⁻¹² · max G`.
    fn pass_band(&self) -> (f64, f64) {
        match *self {
            ContinuousWavelet::Haar => (0.0, f64::INFINITY),
            ContinuousWavelet::MexicanHat => (0.0, MEXH_U_MAX),
            ContinuousWavelet::ComplexMorlet { bandwidth, center_frequency } => {
                let r = morlet_radius(bandwidth as f64);
                let w0 = 2.0 * PI * center_frequency as f64;
                ((w0 - r).max(0.0), w0 + r)
            }
        }
    }
}

/// Half width in `u` of the complex Morlet's pass band: `exp(-B r²/2) = 10⁻¹²`.
fn morlet_radius(bandwidth: f64) -> f64 {
    math::sqrt(2.0 * -math::ln(WEIGHT_FLOOR) / bandwidth)
}

/// Scalogram parameters. Defaults are 000/001's: 16 kHz, 50 ms frames (800 samples) with 50 %
/// overlap (hop 400), centred frames, complex Morlet `cmor1.5-1.0`, 64 log-spaced scales from
/// 50 Hz to Nyquist, `log10` floor `1e-10`.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct ScalogramParams {
    /// Sample rate in Hz of the audio the frames come from.
    pub sample_rate: u32,
    /// Samples per frame `L` (000/001: 50 ms).
    pub frame_length: usize,
    /// Samples between the starts of consecutive frames (000/001: 50 % of the frame).
    pub hop_length: usize,
    /// Pad `frame_length/2` zeros at both ends so frame t is centred on sample t·hop_length.
    pub center: bool,
    /// FFT length `M >= frame_length`: the period of the circular transform (see the module
    /// docs). Must be a power of two from 256 to 4096 for the microfft backend.
    pub n_fft: usize,
    pub wavelet: ContinuousWavelet,
    /// Number of scales (<= 256); row 0 is `fmin`, the last row `fmax`.
    pub n_scales: usize,
    /// Frequency in Hz of the largest scale.
    pub fmin: f32,
    /// Frequency in Hz of the smallest scale; `None` means `sample_rate / 2`.
    pub fmax: Option<f32>,
    /// Floor of the log: `log10(max(amin, E))`.
    pub amin: f32,
}

impl Default for ScalogramParams {
    fn default() -> Self {
        ScalogramParams {
            sample_rate: 16_000,
            frame_length: 800,
            hop_length: 400,
            center: true,
            n_fft: 4096,
            wavelet: ContinuousWavelet::ComplexMorlet { bandwidth: 1.5, center_frequency: 1.0 },
            n_scales: 64,
            fmin: 50.0,
            fmax: None,
            amin: 1e-10,
        }
    }
}

impl ScalogramParams {
    /// Highest frequency in Hz (`fmax`, or Nyquist when unset).
    pub fn fmax_hz(&self) -> f64 {
        self.fmax.map(f64::from).unwrap_or(self.sample_rate as f64 / 2.0)
    }

    /// Frequency in Hz of scale row `k` (numpy `geomspace(fmin, fmax, n_scales)[k]`).
    pub fn frequency(&self, k: usize) -> f64 {
        let (lo, hi) = (self.fmin as f64, self.fmax_hz());
        let n = self.n_scales;
        if k == 0 || n < 2 {
            return lo;
        }
        if k + 1 == n {
            return hi;
        }
        let (l0, l1) = (math::log10(lo), math::log10(hi));
        math::pow(10.0, l0 + k as f64 * ((l1 - l0) / (n - 1) as f64))
    }

    /// Scale in samples of row `k`: `F_c · sample_rate / f_k` (`pywt.frequency2scale`).
    pub fn scale(&self, k: usize) -> f64 {
        self.wavelet.center_frequency() * self.sample_rate as f64 / self.frequency(k)
    }

    pub fn validate(&self) -> Result<(), DspError> {
        if self.sample_rate == 0 {
            return Err(DspError::InvalidParameter { name: "sample_rate", value: 0.0, expected: "> 0 Hz" });
        }
        if self.frame_length == 0 {
            return Err(DspError::InvalidParameter { name: "frame_length", value: 0.0, expected: ">= 1" });
        }
        if self.hop_length == 0 {
            return Err(DspError::InvalidParameter { name: "hop_length", value: 0.0, expected: ">= 1" });
        }
        if self.n_fft < self.frame_length || self.n_fft % 2 != 0 {
            return Err(DspError::InvalidParameter {
                name: "n_fft",
                value: self.n_fft as f64,
                expected: "an even length >= frame_length",
            });
        }
        if self.n_scales == 0 {
            return Err(DspError::InvalidParameter { name: "n_scales", value: 0.0, expected: ">= 1" });
        }
        check_capacity("n_scales", self.n_scales, MAX_SCALES)?;
        let nyquist = self.sample_rate as f64 / 2.0;
        let (fmin, fmax) = (self.fmin as f64, self.fmax_hz());
        if !(fmin > 0.0 && fmin.is_finite()) {
            return Err(DspError::InvalidParameter { name: "fmin", value: fmin, expected: "0 < fmin <= fmax" });
        }
        if !(fmax <= nyquist && fmax >= fmin) {
            return Err(DspError::InvalidParameter {
                name: "fmax",
                value: fmax,
                expected: "fmin <= fmax <= sample_rate / 2",
            });
        }
        if self.n_scales > 1 && fmax == fmin {
            return Err(DspError::InvalidParameter {
                name: "fmax",
                value: fmax,
                expected: "fmax > fmin when n_scales > 1",
            });
        }
        if !(self.amin > 0.0) {
            return Err(DspError::InvalidParameter { name: "amin", value: self.amin as f64, expected: "> 0" });
        }
        self.wavelet.validate()
    }
}

/// What `process` needs of one scale: the bins of its pass band and two constants.
#[derive(Debug, Clone, Copy)]
struct ScaleBand {
    /// `u` per FFT bin: `s·2π/M`.
    du: f32,
    /// `s / (L·M)`.
    gain: f32,
    /// First and last bin of the pass band (inclusive; `lo > hi` for an empty band).
    lo: u32,
    hi: u32,
}

/// Framed wavelet scalogram (module docs: the exact definition). Static memory: two `N`-float
/// buffers, the per-scale table (`MAX_SCALES` × 16 bytes) and the FFT plan.
pub struct Scalogram<const N: usize = { crate::dsp::MAX_N_FFT }> {
    p: ScalogramParams,
    fft: RealFft,
    /// Zero-padded frame; the FFT's scratch.
    buf: Vec<f32, N>,
    /// `c_j · |X[j]|²`, `j = 0..=n_fft/2`.
    power: Vec<f32, N>,
    bands: Vec<ScaleBand, MAX_SCALES>,
}

impl<const N: usize> Scalogram<N> {
    pub fn new(p: &ScalogramParams, backend: FftBackend) -> Result<Self, DspError> {
        p.validate()?;
        check_capacity("n_fft", p.n_fft, N)?;
        if p.n_fft / 2 > u32::MAX as usize {
            return Err(DspError::Capacity { name: "n_fft", requested: p.n_fft, capacity: u32::MAX as usize });
        }
        let fft = RealFft::new(p.n_fft, backend)?;
        let m = p.n_fft as f64;
        let half = p.n_fft / 2;
        let (u_lo, u_hi) = p.wavelet.pass_band();
        let mut bands = Vec::new();
        for k in 0..p.n_scales {
            let s = p.scale(k);
            let du = s * 2.0 * PI / m;
            let lo = -math::floor(-(u_lo / du));
            let hi = if u_hi.is_finite() { math::floor(u_hi / du) } else { half as f64 };
            let lo = if lo > half as f64 { half as u32 + 1 } else { lo as u32 };
            let hi = hi.min(half as f64) as u32;
            // Capacity was checked in validate().
            let _ = bands.push(ScaleBand { du: du as f32, gain: (s / (p.frame_length as f64 * m)) as f32, lo, hi });
        }
        let mut buf = Vec::new();
        let _ = buf.resize(p.n_fft, 0.0);
        let mut power = Vec::new();
        let _ = power.resize(half + 1, 0.0);
        Ok(Scalogram { p: *p, fft, buf, power, bands })
    }

    pub fn params(&self) -> &ScalogramParams {
        &self.p
    }

    pub fn backend(&self) -> FftBackend {
        self.fft.backend()
    }

    /// The weight of bin `j`'s power `|X[j]|²` (`j = 0..=n_fft/2`) in `E(s_k)`, so that
    /// `E(s_k) = Σ_j weight(k, j)·|X[j]|²`: `s/(L·M) · c_j · G(u_j)` inside the scale's pass
    /// band, 0 outside (the same bins and closed forms as [`Self::energy`], evaluated in f64).
    /// For a dense `n_scales × (n_fft/2 + 1)` matrix off the device: the inverse of the
    /// scalogram in `tools` (waveforms rebuilt from attacked maps). A unit test ties it to
    /// [`Self::energy`].
    pub fn weight(&self, k: usize, j: usize) -> f64 {
        let (Some(b), half) = (self.bands.get(k), self.p.n_fft / 2) else { return 0.0 };
        if j > half || (j as u32) < b.lo || (j as u32) > b.hi {
            return 0.0;
        }
        let c = if j == 0 { 0.5 } else if j == half { 0.25 } else { 1.0 };
        let s = self.p.scale(k);
        let u = s * 2.0 * PI * j as f64 / self.p.n_fft as f64;
        let g = match self.p.wavelet {
            ContinuousWavelet::ComplexMorlet { bandwidth, center_frequency } => {
                let (a, w0) = (0.5 * bandwidth as f64, 2.0 * PI * center_frequency as f64);
                let mirror = morlet_radius(bandwidth as f64) > w0;
                math::exp(-a * (u - w0) * (u - w0)) + if mirror { math::exp(-a * (u + w0) * (u + w0)) } else { 0.0 }
            }
            ContinuousWavelet::MexicanHat if j > 0 => 2.0 * 8.0 * math::sqrt(PI) / 3.0 * u * u * u * u * math::exp(-u * u),
            ContinuousWavelet::Haar if j > 0 => {
                let v = u / 4.0;
                let sv = math::sin(v);
                2.0 * sv * sv * sv * sv / (v * v)
            }
            _ => 0.0,
        };
        s / (self.p.frame_length as f64 * self.p.n_fft as f64) * c * g
    }

    /// `E(s_k)` of every scale (before the log) into `energy` (length `n_scales`).
    pub fn energy(&mut self, frame: &[f32], energy: &mut [f32]) -> Result<(), DspError> {
        check_len("frame", frame.len(), self.p.frame_length)?;
        check_len("energy", energy.len(), self.p.n_scales)?;
        let l = self.p.frame_length;
        // The FFT uses `buf` as scratch, so the padding is rewritten every frame.
        self.buf[..l].copy_from_slice(frame);
        self.buf[l..].fill(0.0);
        self.fft.power(&mut self.buf, &mut self.power)?;
        let half = self.power.len() - 1;
        self.power[0] *= 0.5;
        self.power[half] *= 0.25;
        let power = &self.power[..];
        match self.p.wavelet {
            ContinuousWavelet::ComplexMorlet { bandwidth, center_frequency } => {
                let a = 0.5 * bandwidth;
                let w0 = (2.0 * PI * center_frequency as f64) as f32;
                let mirror = morlet_radius(bandwidth as f64) > 2.0 * PI * center_frequency as f64;
                for (e, b) in energy.iter_mut().zip(&self.bands) {
                    let mut acc = 0.0f32;
                    for j in b.lo..=b.hi {
                        let u = b.du * j as f32;
                        let mut g = expf(-a * (u - w0) * (u - w0));
                        if mirror {
                            g += expf(-a * (u + w0) * (u + w0));
                        }
                        acc += power[j as usize] * g;
                    }
                    *e = b.gain * acc;
                }
            }
            ContinuousWavelet::MexicanHat => {
                // |Ψ̂(u)|² + |Ψ̂(-u)|², the two halves being equal for a real wavelet.
                let k = (2.0 * 8.0 * math::sqrt(PI) / 3.0) as f32;
                for (e, b) in energy.iter_mut().zip(&self.bands) {
                    let mut acc = 0.0f32;
                    for j in b.lo.max(1)..=b.hi {
                        let u = b.du * j as f32;
                        let u2 = u * u;
                        acc += power[j as usize] * (u2 * u2 * expf(-u2));
                    }
                    *e = b.gain * k * acc;
                }
            }
            ContinuousWavelet::Haar => {
                for (e, b) in energy.iter_mut().zip(&self.bands) {
                    let mut acc = 0.0f32;
                    // G(u) = 2·16 sin⁴(u/4)/u² = 2 sin⁴(v)/v² with v = u/4; G(0) = 0.
                    let dv = 0.25 * b.du;
                    for j in b.lo.max(1)..=b.hi {
                        let v = dv * j as f32;
                        let sv = sinf(v);
                        let s2 = sv * sv;
                        acc += power[j as usize] * (s2 * s2 / (v * v));
                    }
                    *e = b.gain * 2.0 * acc;
                }
            }
        }
        Ok(())
    }
}

impl<const N: usize> FrameFeature for Scalogram<N> {
    fn frame_length(&self) -> usize {
        self.p.frame_length
    }
    fn n_features(&self) -> usize {
        self.p.n_scales
    }
    /// `log10(max(amin, E(s_k)))` for every scale `k`.
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

    #[test]
    fn weights_reproduce_the_energy() {
        for wavelet in [ContinuousWavelet::Haar, ContinuousWavelet::MexicanHat, morlet()] {
            let p = ScalogramParams { sample_rate: 8000, frame_length: 400, hop_length: 200, n_fft: 1024, wavelet, n_scales: 16, ..Default::default() };
            let mut sc = Scalogram::<1024>::new(&p, FftBackend::Realfft).unwrap();
            let frame: std::vec::Vec<f32> = (0..400).map(|i| ((i * 7919) % 997) as f32 / 997.0 - 0.5 + (i as f32 * 0.3).sin()).collect();
            let mut e = [0.0f32; 16];
            sc.energy(&frame, &mut e).unwrap();
            // |X[j]|² of the zero-padded frame by the direct DFT, in f64.
            let power: std::vec::Vec<f64> = (0..=512)
                .map(|j| {
                    let (mut re, mut im) = (0.0f64, 0.0f64);
                    for (n, &x) in frame.iter().enumerate() {
                        let a = -2.0 * PI * (j * n) as f64 / 1024.0;
                        re += x as f64 * a.cos();
                        im += x as f64 * a.sin();
                    }
                    re * re + im * im
                })
                .collect();
            for (k, &ek) in e.iter().enumerate() {
                let w: f64 = (0..=512).map(|j| sc.weight(k, j) * power[j]).sum();
                assert!((w - ek as f64).abs() <= 1e-4 * (ek as f64).abs() + 1e-9, "{wavelet:?} scale {k}: {w} vs {ek}");
            }
        }
    }

    fn morlet() -> ContinuousWavelet {
        ContinuousWavelet::ComplexMorlet { bandwidth: 1.5, center_frequency: 1.0 }
    }

    /// A cosine of power 1/2 filling the whole period: `E(s) = s/4 · G(s·ω)`, and the Morlet
    /// scale tuned to it sees `G = 1`, i.e. `E = s/4` (001 Eq. 17's 1/√s normalization).
    #[test]
    fn tone_energy_at_its_morlet_scale() {
        let k0 = 64usize;
        let p = ScalogramParams {
            sample_rate: 1024,
            frame_length: 1024,
            hop_length: 512,
            n_fft: 1024,
            n_scales: 1,
            fmin: k0 as f32,
            fmax: Some(k0 as f32),
            wavelet: morlet(),
            ..ScalogramParams::default()
        };
        let mut sc = Scalogram::<1024>::new(&p, FftBackend::Microfft).unwrap();
        let frame: Vec<f32, 1024> = (0..1024).map(|n| math::cos(2.0 * PI * (k0 * n) as f64 / 1024.0) as f32).collect();
        let mut e = [0.0f32];
        sc.energy(&frame, &mut e).unwrap();
        let s = p.scale(0);
        assert!((s - 1024.0 / 64.0).abs() < 1e-12);
        assert!((e[0] as f64 / (s / 4.0) - 1.0).abs() < 1e-5, "E = {}, expected {}", e[0], s / 4.0);
    }

    /// Haar and the Mexican hat have no DC response (a constant frame filling the period is
    /// pure DC); silence gives the floor.
    #[test]
    fn constant_and_silent_frames_hit_the_floor() {
        for wavelet in [ContinuousWavelet::Haar, ContinuousWavelet::MexicanHat, morlet()] {
            let p =
                ScalogramParams { wavelet, n_scales: 8, frame_length: 1024, n_fft: 1024, ..ScalogramParams::default() };
            let mut sc = Scalogram::<4096>::new(&p, FftBackend::Microfft).unwrap();
            let mut out = [0.0f32; 8];
            sc.process(&[0.0; 1024], &mut out).unwrap();
            assert!(out.iter().all(|&v| v == math::log10f(p.amin)), "{wavelet:?}: {out:?}");
            if wavelet != morlet() {
                sc.energy(&[0.25; 1024], &mut out).unwrap();
                assert!(out.iter().all(|&v| v == 0.0), "{wavelet:?}: {out:?}");
            }
        }
    }

    #[test]
    fn scalogram_rejects_bad_parameters() {
        let ok = ScalogramParams::default();
        let bad = [
            ScalogramParams { fmax: Some(8001.0), ..ok },
            ScalogramParams { fmin: 0.0, ..ok },
            ScalogramParams { n_fft: 512, ..ok },
            ScalogramParams { n_scales: 0, ..ok },
            ScalogramParams { n_scales: MAX_SCALES + 1, ..ok },
            ScalogramParams { amin: 0.0, ..ok },
            ScalogramParams {
                wavelet: ContinuousWavelet::ComplexMorlet { bandwidth: 0.0, center_frequency: 1.0 },
                ..ok
            },
        ];
        assert!(Scalogram::<4096>::new(&ok, FftBackend::Microfft).is_ok());
        for p in bad {
            assert!(Scalogram::<4096>::new(&p, FftBackend::Microfft).is_err(), "{p:?}");
        }
        assert!(matches!(
            Scalogram::<2048>::new(&ok, FftBackend::Microfft),
            Err(DspError::Capacity { name: "n_fft", .. })
        ));
        // microfft only has power-of-two lengths.
        assert!(Scalogram::<4096>::new(&ScalogramParams { n_fft: 3000, ..ok }, FftBackend::Microfft).is_err());
    }
}

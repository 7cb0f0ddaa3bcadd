//! Waveforms from (attacked) spectrograms, 002 §III-A: the STFT spectrogram keeps no phase and
//! the mel spectrogram not even the linear magnitude, so an attack made on either must be
//! carried back to audio before a waveform model (or any other front end) can hear it.
//!
//! * [`Rebuild::Istft`]: the magnitude with the *original* phase of the clean clip, then the
//!   inverse STFT (weighted overlap-add, librosa's `istft`). From a log-STFT map this is 002's
//!   reconstruction "with the phase information" (Table IV: as good as the original audio);
//!   from a log-mel map the linear magnitude is first estimated by non-negative least squares.
//! * [`Rebuild::GriffinLim`]: the phase estimated from the magnitude alone by Griffin-Lim
//!   (002 ref. [30]) with Perraudin et al.'s momentum ("fast Griffin-Lim", librosa's default
//!   0.99) from a seeded random (or zero) phase; 002's reconstruction of mel spectrograms.
//!
//! The other two representations of 000/001 are inverted the same way, down to a linear STFT
//! power and the clean clip's phase (their default, [`Rebuild::Istft`]):
//!
//! * **MFCC** → log-mel in dB through the engine's DCT (its normalization and lifter,
//!   `dsp::Mfcc::weight`, `c = D x`): with `n_mfcc < n_mels` the cepstrum was truncated, so
//!   the map alone gives only the least-norm `D⁺ c` (librosa's `feature.inverse.mfcc_to_mel`,
//!   [`Rebuilder::mfcc_to_db`]); with the clip known, the rebuild keeps what the map cannot say
//!   from the clip: `x = x_clean + D⁺(c − D x_clean)`. Then mel → linear power as below;
//! * **scalogram** → linear power of the frame's rectangular window (`frame_length` samples
//!   centred in `n_fft`, the frame the scalogram transforms) by non-negative least squares
//!   against its scale weights (`dsp::wavelet::Scalogram::weight`: `E = W P`, `10^map`).
//!
//! Both systems are underdetermined (20-64 values per frame for 257-2049 bins), so the least
//! squares start from the clean clip's own STFT power rather than from `W⁺ M`: the clean map
//! then rebuilds to the clip itself, and an attacked map to the nearest power FISTA reaches
//! from it. (The log-mel path keeps librosa's start, so it stays at parity with librosa.)
//!
//! Mel → linear power is [`MelInverse`]: `argmin_{P ≥ 0} ‖W P − M‖²` per frame with `W` the
//! engine's own mel filterbank (`MelFilterbank::weight`, so the bank is exactly the one the
//! features were made with), librosa's `feature.inverse.mel_to_stft` problem, started where
//! librosa starts (the pseudo-inverse solution clipped at 0) and solved by FISTA.
//!
//! Everything here runs offline in float64 on waveforms after the clip gain (the maps the
//! engine's front end makes with unit gain, as `data::features::Featurizer` does), and is held
//! to librosa (`istft`, `griffinlim`, `feature.inverse.mel_to_stft`) by
//! `tools/tests/rebuild_parity.rs` on FSDD clips.

use crate::device::derive_seed;
use crate::error::{Result, ToolsError};
use crate::tensor_ops;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use soundproof::dsp::{window, FeatureConfig, FeatureKind, MelFilterbank, StftParams, MAX_N_FFT};
use tch::{Device, Kind, Tensor};

/// How a waveform is rebuilt from a spectrogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rebuild {
    /// The (estimated) magnitude with the clean clip's own phase, inverse STFT.
    Istft,
    /// The magnitude with a phase found by Griffin-Lim.
    GriffinLim,
}

impl Rebuild {
    /// 002's choice for a representation: the original phase for STFT maps, Griffin-Lim for mel.
    /// (MFCC and the scalogram: the original phase too.)
    pub fn default_for(kind: FeatureKind) -> Rebuild {
        match kind {
            FeatureKind::Logmel => Rebuild::GriffinLim,
            _ => Rebuild::Istft,
        }
    }
}

/// Griffin-Lim's starting phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhaseInit {
    /// Zero phase (librosa `init=None`).
    Zero,
    /// Uniform phase in [0, 2π) (librosa `init="random"`), each example's drawn from its own
    /// generator seeded by (this seed, the example's key), so a clip starts from the same phase
    /// whatever batch it is in.
    Random(u64),
}

impl PhaseInit {
    /// Starting phases `[N, frames, bins]` for examples `keys` (float64).
    pub fn phases(&self, shape: &[i64], keys: &[u64], device: Device) -> Tensor {
        match *self {
            PhaseInit::Zero => Tensor::zeros(shape, (Kind::Double, device)),
            PhaseInit::Random(seed) => {
                let per: usize = shape[1..].iter().product::<i64>() as usize;
                let mut v = Vec::with_capacity(per * keys.len());
                for &k in keys {
                    let mut rng = StdRng::seed_from_u64(derive_seed(seed, &[k]));
                    v.extend((0..per).map(|_| rng.random::<f64>() * 2.0 * std::f64::consts::PI));
                }
                Tensor::from_slice(&v).reshape(shape).to_device(device)
            }
        }
    }
}

/// Griffin-Lim settings.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GriffinLim {
    pub iterations: usize,
    /// Perraudin et al.'s acceleration `α` (0 = the original Griffin-Lim; librosa 0.99).
    pub momentum: f64,
    pub init: PhaseInit,
}

impl Default for GriffinLim {
    /// librosa's defaults, with a seeded random start.
    fn default() -> Self {
        GriffinLim { iterations: 32, momentum: 0.99, init: PhaseInit::Random(0) }
    }
}

/// STFT and inverse STFT of the engine's framing (`StftParams`: periodic Hann window of
/// `win_length` centred in `n_fft`, hop, `n_fft/2` zeros at both ends when centred), librosa's
/// `stft(pad_mode="constant")` / `istft`, on `[N, samples]` waveforms.
#[derive(Debug)]
pub struct StftTch {
    n_fft: i64,
    hop: i64,
    center: bool,
    /// `[n_fft]`, float64.
    window: Tensor,
}

impl StftTch {
    pub fn new(params: &StftParams, device: Device) -> Result<Self> {
        params.validate()?;
        // The engine's window (`window::hann_padded`: the same placement) in float64, from its
        // closed form, where the engine rounds it to f32.
        let left = (params.n_fft - params.win_length) / 2;
        let w: Vec<f64> = (0..params.n_fft)
            .map(|i| if i >= left && i < left + params.win_length { window::hann_periodic(i - left, params.win_length) } else { 0.0 })
            .collect();
        Ok(StftTch {
            n_fft: params.n_fft as i64,
            hop: params.hop_length as i64,
            center: params.center,
            window: Tensor::from_slice(&w).to_device(device),
        })
    }

    /// The framing of a scalogram: a rectangular window of `frame_length` samples centred in
    /// `n_fft` (frame t spans the same samples as the scalogram's frame t, and a circular shift
    /// does not change `|X|`, so `|STFT|²` is the power the scalogram weighs).
    pub fn rectangular(p: &soundproof::dsp::wavelet::ScalogramParams, device: Device) -> Result<Self> {
        p.validate()?;
        let left = (p.n_fft - p.frame_length) / 2;
        let w: Vec<f64> = (0..p.n_fft).map(|i| if i >= left && i < left + p.frame_length { 1.0 } else { 0.0 }).collect();
        Ok(StftTch { n_fft: p.n_fft as i64, hop: p.hop_length as i64, center: p.center, window: Tensor::from_slice(&w).to_device(device) })
    }

    pub fn n_bins(&self) -> i64 {
        self.n_fft / 2 + 1
    }

    /// Complex STFT `[N, frames, n_fft/2 + 1]` of `x` `[N, samples]` (float64).
    pub fn stft(&self, x: &Tensor) -> Tensor {
        tensor_ops::stft(&x.to_kind(Kind::Double), self.n_fft, self.hop, &self.window, self.center)
    }

    /// Inverse STFT of `spec` `[N, frames, n_fft/2 + 1]` (complex) to `[N, length]`: each frame's
    /// inverse FFT times the window, overlap-added, divided by the overlap-added squared window
    /// where that is not (numerically) zero; librosa's `istft(..., length=length)`.
    pub fn istft(&self, spec: &Tensor, length: i64) -> Tensor {
        let (n, frames) = (spec.size()[0], spec.size()[1]);
        let total = self.n_fft + self.hop * (frames - 1);
        let ola = |cols: Tensor| -> Tensor {
            // cols: [B, n_fft, frames] → [B, total] by overlap-add (col2im with 1-row kernels).
            cols.col2im([1, total], [1, self.n_fft], [1, 1], [0, 0], [1, self.hop]).reshape([-1, total])
        };
        let frames_t = spec.fft_irfft(Some(self.n_fft), -1, "backward") * &self.window;
        let y = ola(frames_t.transpose(1, 2));
        let wss = ola((self.window.square().unsqueeze(0).unsqueeze(-1)).expand([1, self.n_fft, frames], false).contiguous());
        // librosa: divide where the window sum exceeds the smallest normal float64.
        let wss = wss.where_self(&wss.gt(f64::MIN_POSITIVE), &wss.ones_like());
        let y = y / wss;
        let start = if self.center { self.n_fft / 2 } else { 0 };
        let end = (start + length).min(total);
        let y = y.narrow(1, start, end - start);
        let y = if end - start < length { y.constant_pad_nd([0, length - (end - start)]) } else { y };
        debug_assert_eq!(y.size(), vec![n, length]);
        y
    }

    /// Griffin-Lim: waveforms `[N, length]` whose STFT magnitudes approach `magnitude`
    /// `[N, frames, bins]` (librosa `griffinlim`, with its momentum update
    /// `c ← P(c) − α/(1+α)·P(c_prev)`, phases normalized with `|c| + tiny`); `keys` name the
    /// examples for their starting phases.
    pub fn griffin_lim(&self, magnitude: &Tensor, length: i64, gl: &GriffinLim, keys: &[u64]) -> Tensor {
        let s = magnitude.to_kind(Kind::Double);
        let phase = gl.init.phases(&s.size(), keys, s.device());
        let mut angles = Tensor::polar(&s, &phase);
        let mut prev: Option<Tensor> = None;
        let beta = gl.momentum / (1.0 + gl.momentum);
        for _ in 0..gl.iterations {
            let inverse = self.istft(&angles, length);
            let rebuilt = self.stft(&inverse);
            let mut c = rebuilt.shallow_clone();
            if let Some(p) = &prev {
                c = c - p * beta;
            }
            angles = &c / (c.abs() + f64::MIN_POSITIVE) * &s;
            prev = Some(rebuilt);
        }
        self.istft(&angles, length)
    }
}

/// Mel power → linear power by non-negative least squares against the engine's mel bank.
#[derive(Debug)]
pub struct MelInverse {
    /// `W`, `[n_mels, bins]`.
    basis: Tensor,
    /// `W⁺`, `[bins, n_mels]`.
    pinv: Tensor,
    /// `1 / ‖W‖₂²`, the projected-gradient step.
    step: f64,
}

impl MelInverse {
    pub fn new(cfg: &FeatureConfig, device: Device) -> Result<Self> {
        let s = &cfg.stft;
        s.validate()?;
        let bank = Box::new(MelFilterbank::<MAX_N_FFT>::new(s.sample_rate, s.n_fft, &cfg.mel)?);
        let (n_bins, n_mels) = (bank.n_bins(), bank.n_mels());
        Self::of_basis(n_mels, n_bins, |m, k| bank.weight(m, k) as f64, device)
    }

    /// The same for any non-negative bank `W` of `rows × bins` weights (`weight(row, bin)`):
    /// the scalogram's scales.
    pub fn of_basis(rows: usize, n_bins: usize, weight: impl Fn(usize, usize) -> f64, device: Device) -> Result<Self> {
        let mut dense = vec![0.0f64; rows * n_bins];
        for m in 0..rows {
            for k in 0..n_bins {
                dense[m * n_bins + k] = weight(m, k);
            }
        }
        let basis = Tensor::from_slice(&dense).reshape([rows as i64, n_bins as i64]).to_device(device);
        let pinv = basis.linalg_pinv(1e-15, false);
        // ‖W‖₂² = the largest eigenvalue of W Wᵀ.
        let top = f64::try_from(basis.matmul(&basis.tr()).f_linalg_eigvalsh("L")?.max())?;
        if !(top > 0.0) {
            return Err(ToolsError::invalid("mel bank", top, "a bank with non-zero weights"));
        }
        Ok(MelInverse { basis, pinv, step: 1.0 / top })
    }

    /// Linear power `[N, frames, bins]` ≥ 0 whose mel projection approaches `mel` `[N, frames,
    /// n_mels]`: FISTA on `½‖W P − M‖²` with the projection on `P ≥ 0`, from `max(0, W⁺ M)`.
    pub fn power(&self, mel: &Tensor, iterations: usize) -> Tensor {
        let start = mel.to_kind(Kind::Double).matmul(&self.pinv.tr()).clamp_min(0.0);
        self.power_from(mel, start, iterations)
    }

    /// The same FISTA from `start` `[N, frames, bins]` (≥ 0).
    pub fn power_from(&self, mel: &Tensor, start: Tensor, iterations: usize) -> Tensor {
        let m = mel.to_kind(Kind::Double);
        let wt = self.basis.tr();
        let mut x = start.to_kind(Kind::Double).clamp_min(0.0);
        let mut z = x.shallow_clone();
        let mut t = 1.0f64;
        for _ in 0..iterations {
            let grad = (z.matmul(&wt) - &m).matmul(&self.basis);
            let next = (&z - grad * self.step).clamp_min(0.0);
            let t_next = (1.0 + (1.0 + 4.0 * t * t).sqrt()) / 2.0;
            z = &next + (&next - &x) * ((t - 1.0) / t_next);
            x = next;
            t = t_next;
        }
        x
    }

    /// The mel projection `W P` of linear power `[N, frames, bins]`.
    pub fn project(&self, power: &Tensor) -> Tensor {
        power.to_kind(Kind::Double).matmul(&self.basis.tr())
    }
}

/// FISTA iterations of the mel inversion (the residual is below 1e-6 of the mel power after
/// about 50 on FSDD; see `tools/tests/rebuild_parity.rs`).
pub const MEL_INVERSE_ITERATIONS: usize = 200;

/// Rebuilds waveforms from feature maps of the engine's front end.
#[derive(Debug)]
pub struct Rebuilder {
    kind: FeatureKind,
    stft: StftTch,
    /// Mel bands (log-mel, MFCC) or scales (scalogram) → linear power.
    mel: Option<MelInverse>,
    /// MFCC: `(D⁺)ᵀ`, `[n_mfcc, n_mels]`: a frame's coefficients `c` (a row) map to the
    /// least-norm log-mel in dB `c · (D⁺)ᵀ`.
    to_db: Option<Tensor>,
    /// MFCC: `Dᵀ`, `[n_mels, n_mfcc]` (log-mel rows in dB → coefficients), and the log floor.
    dct: Option<(Tensor, f64)>,
    pub method: Rebuild,
    pub griffin_lim: GriffinLim,
}

impl Rebuilder {
    /// For maps made by `cfg` (log-STFT, log-mel, MFCC or scalogram).
    pub fn new(cfg: &FeatureConfig, method: Rebuild, griffin_lim: GriffinLim, device: Device) -> Result<Self> {
        let (mut to_db, mut stft, mut dct) = (None, None, None);
        let mel = match cfg.kind {
            FeatureKind::LogStft => None,
            FeatureKind::Logmel => Some(MelInverse::new(cfg, device)?),
            FeatureKind::Mfcc => {
                let m = Box::new(soundproof::dsp::Mfcc::<MAX_N_FFT>::new(&cfg.stft, &cfg.mel, &cfg.mfcc, cfg.fft_backend)?);
                let (k, n) = (cfg.mfcc.n_mfcc, cfg.mel.n_mels);
                let d: Vec<f64> = (0..k).flat_map(|i| (0..n).map(move |j| (i, j))).map(|(i, j)| m.weight(i, j)).collect();
                // c = D x (D: [k, n]); the least-norm x = D⁺ c, i.e. x = c · (D⁺)ᵀ for rows c.
                let dmat = Tensor::from_slice(&d).reshape([k as i64, n as i64]).to_device(device);
                to_db = Some(dmat.linalg_pinv(1e-12, false).tr());
                dct = Some((dmat.tr().contiguous(), cfg.mel.amin as f64));
                Some(MelInverse::new(cfg, device)?)
            }
            FeatureKind::Scalogram => {
                let sc = Box::new(soundproof::dsp::wavelet::Scalogram::<MAX_N_FFT>::new(&cfg.scalogram, cfg.fft_backend)?);
                let bins = cfg.scalogram.n_fft / 2 + 1;
                stft = Some(StftTch::rectangular(&cfg.scalogram, device)?);
                Some(MelInverse::of_basis(cfg.scalogram.n_scales, bins, |k, j| sc.weight(k, j), device)?)
            }
            k => {
                return Err(ToolsError::invalid("feature kind", k.name(), "log-stft, logmel, mfcc or scalogram (the maps a waveform is rebuilt from)"))
            }
        };
        let stft = match stft {
            Some(s) => s,
            None => StftTch::new(&cfg.stft, device)?,
        };
        Ok(Rebuilder { kind: cfg.kind, stft, mel, to_db, dct, method, griffin_lim })
    }

    /// The linear STFT magnitude `[N, frames, bins]` a map `[N, (1,) frames, features]` in dB
    /// stands for: `10^(dB/20)` of the log-STFT; for log-mel, the square root of the
    /// non-negative least-squares linear power under the mel power `10^(dB/10)`.
    /// MFCC maps `[N, (1,) frames, n_mfcc]` → the least-norm log-mel in dB `[N, frames, n_mels]`
    /// (`librosa.feature.inverse.mfcc_to_mel` before its `db_to_power`); `None` for other maps.
    pub fn mfcc_to_db(&self, map: &Tensor) -> Option<Tensor> {
        let map = if map.dim() == 4 { map.squeeze_dim(1) } else { map.shallow_clone() };
        self.to_db.as_ref().map(|d| map.to_kind(Kind::Double).matmul(d))
    }

    /// MFCC: the log-mel of `D⁺ c`, then as log-mel from `start`; scalogram: the linear power
    /// under the scales' energies `10^map`, by least squares from `start`. `start` (`[N, frames,
    /// bins]`, the clean clip's STFT power) is used by MFCC and scalogram maps only.
    pub fn magnitude(&self, map: &Tensor, start: Option<&Tensor>) -> Tensor {
        let map = if map.dim() == 4 { map.squeeze_dim(1) } else { map.shallow_clone() };
        let map = map.to_kind(Kind::Double);
        let from = |inv: &MelInverse, target: Tensor| match start {
            Some(s) => inv.power_from(&target, s.shallow_clone(), MEL_INVERSE_ITERATIONS),
            None => inv.power(&target, MEL_INVERSE_ITERATIONS),
        };
        match (self.kind, &self.mel) {
            (FeatureKind::Logmel, Some(inv)) => inv.power(&pow10(&(map / 10.0)), MEL_INVERSE_ITERATIONS).sqrt(),
            (FeatureKind::Mfcc, Some(inv)) => {
                let target = match (start, &self.dct, &self.to_db) {
                    // With the clip known, only the coefficients the map holds change: the
                    // clean log-mel plus the least-norm log-mel of the coefficients' change.
                    (Some(p), Some((dt, amin)), Some(to_db)) => {
                        let clean = inv.project(p).clamp_min(*amin).log10() * 10.0;
                        &clean + (&map - clean.matmul(dt)).matmul(to_db)
                    }
                    _ => self.mfcc_to_db(&map).unwrap_or_else(|| map.shallow_clone()),
                };
                from(inv, pow10(&(target / 10.0))).sqrt()
            }
            (FeatureKind::Scalogram, Some(inv)) => from(inv, pow10(&map)).sqrt(),
            _ => pow10(&(map / 20.0)),
        }
    }

    /// Waveforms `[N, samples]` from the maps `[N, (1,) frames, features]`; `clean` `[N,
    /// samples]` is the clip each map was made from (its phase is used by [`Rebuild::Istft`],
    /// its length by both); `keys` name the examples (Griffin-Lim's starting phases).
    pub fn rebuild(&self, map: &Tensor, clean: &Tensor, keys: &[u64]) -> Result<Tensor> {
        let len = clean.size()[clean.dim() - 1];
        let frames = self.stft.stft(&clean.to_device(map.device()));
        let start = matches!(self.kind, FeatureKind::Mfcc | FeatureKind::Scalogram).then(|| frames.abs().square());
        let fit = start.as_ref().is_some_and(|s| s.size()[1] == map.size()[map.dim() - 2]);
        let mag = self.magnitude(map, if fit { start.as_ref() } else { None });
        if frames.size()[1] != mag.size()[1] || frames.size()[2] != self.stft.n_bins() {
            return Err(ToolsError::model(
                "rebuild",
                format!(
                    "a {} map of shape {:?} does not fit a {len}-sample clip ({} frames of {} bins)",
                    self.kind.name(),
                    map.size(),
                    frames.size()[1],
                    self.stft.n_bins()
                ),
            ));
        }
        if keys.len() as i64 != mag.size()[0] {
            return Err(ToolsError::invalid("keys", keys.len(), "one key per example"));
        }
        Ok(match self.method {
            Rebuild::Istft => self.stft.istft(&Tensor::polar(&mag, &frames.angle()), len),
            Rebuild::GriffinLim => self.stft.griffin_lim(&mag, len, &self.griffin_lim, keys),
        })
    }
}

/// `10^x` elementwise.
fn pow10(x: &Tensor) -> Tensor {
    (x * std::f64::consts::LN_10).exp()
}

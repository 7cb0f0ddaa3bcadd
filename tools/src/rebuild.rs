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
        let mut dense = vec![0.0f64; n_mels * n_bins];
        for m in 0..n_mels {
            for k in 0..n_bins {
                dense[m * n_bins + k] = bank.weight(m, k) as f64;
            }
        }
        let basis = Tensor::from_slice(&dense).reshape([n_mels as i64, n_bins as i64]).to_device(device);
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
        let m = mel.to_kind(Kind::Double);
        let wt = self.basis.tr();
        let mut x = m.matmul(&self.pinv.tr()).clamp_min(0.0);
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
    mel: Option<MelInverse>,
    pub method: Rebuild,
    pub griffin_lim: GriffinLim,
}

impl Rebuilder {
    /// For maps made by `cfg` (log-STFT or log-mel).
    pub fn new(cfg: &FeatureConfig, method: Rebuild, griffin_lim: GriffinLim, device: Device) -> Result<Self> {
        let mel = match cfg.kind {
            FeatureKind::LogStft => None,
            FeatureKind::Logmel => Some(MelInverse::new(cfg, device)?),
            k => {
                return Err(ToolsError::invalid("feature kind", k.name(), "log-stft or logmel (the spectrograms a waveform is rebuilt from)"))
            }
        };
        Ok(Rebuilder { kind: cfg.kind, stft: StftTch::new(&cfg.stft, device)?, mel, method, griffin_lim })
    }

    /// The linear STFT magnitude `[N, frames, bins]` a map `[N, (1,) frames, features]` in dB
    /// stands for: `10^(dB/20)` of the log-STFT; for log-mel, the square root of the
    /// non-negative least-squares linear power under the mel power `10^(dB/10)`.
    pub fn magnitude(&self, map: &Tensor) -> Tensor {
        let map = if map.dim() == 4 { map.squeeze_dim(1) } else { map.shallow_clone() };
        let map = map.to_kind(Kind::Double);
        match &self.mel {
            None => pow10(&(map / 20.0)),
            Some(inv) => inv.power(&pow10(&(map / 10.0)), MEL_INVERSE_ITERATIONS).sqrt(),
        }
    }

    /// Waveforms `[N, samples]` from the maps `[N, (1,) frames, features]`; `clean` `[N,
    /// samples]` is the clip each map was made from (its phase is used by [`Rebuild::Istft`],
    /// its length by both); `keys` name the examples (Griffin-Lim's starting phases).
    pub fn rebuild(&self, map: &Tensor, clean: &Tensor, keys: &[u64]) -> Result<Tensor> {
        let mag = self.magnitude(map);
        let len = clean.size()[clean.dim() - 1];
        let frames = self.stft.stft(&clean.to_device(mag.device()));
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

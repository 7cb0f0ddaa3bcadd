//! A differentiable tch twin of the engine's log-mel front end (`soundproof::dsp`, 003 §5's
//! features), for attacks that need gradients from the model back to the waveform (DESIGN.md
//! "Attacks"; 004's psychoacoustic attack, 002's waveform transfer).
//!
//! Same arithmetic as `dsp::FrontEnd` with `FeatureKind::Logmel`: the per-sample gain policy
//! (fixed gain, clip), framing with `n_fft/2` zeros at both ends when centred, the periodic
//! Hann window of `win_length` centred in `n_fft` (the engine's own `window::hann_padded`),
//! `|rfft|²`, the engine's mel weights (`MelFilterbank::weight(m, k)`, so librosa's slaney or
//! htk banks bit for bit), and `10·log10(max(amin, ·))`. `tools/tests/frontend_parity.rs` holds
//! it equal to the engine on FSDD clips.

use crate::error::{Result, ToolsError};
use crate::tensor_ops::{power, stft};
use soundproof::dsp::{window, FeatureConfig, FeatureKind, GainPolicy, MelFilterbank, MAX_N_FFT};
use tch::{Device, Kind, Tensor};

/// Log-mel of waveforms `[N, samples]` (or `[samples]`) → `[N, frames, n_mels]`.
#[derive(Debug)]
pub struct LogMelTch {
    n_fft: i64,
    hop: i64,
    center: bool,
    gain: f64,
    clip: Option<f64>,
    /// `[n_fft]`.
    window: Tensor,
    /// `[n_fft/2 + 1, n_mels]`.
    mel: Tensor,
    amin: f64,
}

impl LogMelTch {
    /// The twin of `cfg` (which must be a log-mel config), its constants on `device` in `kind`
    /// (`Kind::Float` for attacks, `Kind::Double` for reference computations).
    pub fn new(cfg: &FeatureConfig, device: Device, kind: Kind) -> Result<Self> {
        if cfg.kind != FeatureKind::Logmel {
            return Err(ToolsError::invalid("feature kind", cfg.kind.name(), "logmel (the tch front end is log-mel only)"));
        }
        cfg.stft.validate()?;
        cfg.gain.validate()?;
        let (gain, clip) = match cfg.gain {
            GainPolicy::Fixed { gain } => (gain as f64, None),
            GainPolicy::Clip { limit } => (1.0, Some(limit as f64)),
            GainPolicy::Rms { .. } | GainPolicy::Peak { .. } => {
                return Err(ToolsError::invalid(
                    "gain",
                    format!("{:?}", cfg.gain),
                    "a per-sample policy (fixed or clip), as in the engine's front end",
                ))
            }
        };
        let s = &cfg.stft;
        let w = window::hann_padded::<MAX_N_FFT>(s.win_length, s.n_fft)?;
        let bank = Box::new(MelFilterbank::<MAX_N_FFT>::new(s.sample_rate, s.n_fft, &cfg.mel)?);
        let (n_bins, n_mels) = (bank.n_bins(), bank.n_mels());
        let mut dense = vec![0.0f32; n_bins * n_mels];
        for k in 0..n_bins {
            for m in 0..n_mels {
                dense[k * n_mels + m] = bank.weight(m, k);
            }
        }
        let opts = (kind, device);
        Ok(LogMelTch {
            n_fft: s.n_fft as i64,
            hop: s.hop_length as i64,
            center: s.center,
            gain,
            clip,
            window: Tensor::from_slice(&w[..]).to_kind(opts.0).to_device(opts.1),
            mel: Tensor::from_slice(&dense).reshape([n_bins as i64, n_mels as i64]).to_kind(opts.0).to_device(opts.1),
            amin: cfg.mel.amin as f64,
        })
    }

    /// Frames a clip of `len` samples yields (the engine's count).
    pub fn frame_count(&self, len: i64) -> i64 {
        if self.center {
            1 + len / self.hop
        } else if len < self.n_fft {
            0
        } else {
            1 + (len - self.n_fft) / self.hop
        }
    }

    /// Mel power `[N, frames, n_mels]` (before the log).
    pub fn mel_power(&self, x: &Tensor) -> Tensor {
        let x = if x.dim() == 1 { x.unsqueeze(0) } else { x.shallow_clone() };
        let mut x = x * self.gain;
        if let Some(l) = self.clip {
            x = x.clamp(-l, l);
        }
        power(&stft(&x, self.n_fft, self.hop, &self.window, self.center)).matmul(&self.mel)
    }

    /// Log-mel in dB `[N, frames, n_mels]`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        self.mel_power(x).clamp_min(self.amin).log10() * 10.0
    }
}

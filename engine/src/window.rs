//! From a clip to model windows: the one home of 003's Contract-1 window and its gain.
//!
//! * [`ClipGain`]: how the clip's scalar gain `s` is chosen (the vocabulary of `--gain` on
//!   every command, of the certificate record and of the gain sweep).
//! * [`ClipWindow`]: the certified window of a clip, `x = s · CropPad(a)`, with
//!   `s = target_rms / RMS(a zero-padded to one window)` computed once from the clean clip
//!   (003 §4, Contract 1). Training (`soundproof-tools`), evaluation, attacks, certification
//!   and the CLIs all cut their windows here.
//! * [`WindowPlan`]: the geometry of the windows a stream is cut into (window, hop, frames).
//!
//! What acts on the waveform inside the front end (the no_std per-buffer policies) is
//! `dsp::GainPolicy`; the post-noise transforms of Contract 3 are `smooth::Transform`. Both use
//! `dsp::gain`'s RMS and peak; this module only decides the one scalar `s` of a clip.

use crate::audio::{self, AudioError};
use crate::dsp::{gain, DspError, FeatureConfig, FrontEnd, GainPolicy};
use crate::model::card::ModelCard;
use crate::model::{Model, ModelError};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    #[error("the clip is silent (RMS 0): it cannot be RMS-normalized")]
    Silent,
    #[error("gain `calibration` needs a card's calibration constant, and this window has none")]
    NoCalibration,
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("front end: {0}")]
    Dsp(#[from] DspError),
    #[error("{0}")]
    Config(String),
}

/// How a clip's scalar gain `s` is chosen before the front end (and before any noise).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClipGain {
    /// 003 Contract 1: `s = target_rms / RMS(window)`, computed once from the clean clip as it
    /// is padded to at least one model window (so a short word in a padded window gets the gain
    /// the model was trained with); needs the whole clip.
    ClipRms,
    /// The card's streaming calibration constant.
    Calibration,
    /// A given scalar.
    Fixed(f32),
}

impl ClipGain {
    /// What the choice means, in words (the certificate's `gain_policy` prose).
    pub fn describe(self) -> &'static str {
        match self {
            ClipGain::ClipRms => "clip-rms (s = target_rms / RMS(clean clip), fixed before the noise)",
            ClipGain::Calibration => "calibration (the card's streaming constant)",
            ClipGain::Fixed(_) => "fixed (given)",
        }
    }
}

/// `clip-rms`, `calibration`, or the number itself (as given on the command line).
impl fmt::Display for ClipGain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClipGain::ClipRms => f.write_str("clip-rms"),
            ClipGain::Calibration => f.write_str("calibration"),
            ClipGain::Fixed(g) => write!(f, "{g}"),
        }
    }
}

/// Parses `clip-rms`, `calibration` or a finite number > 0 (the `--gain` of every command).
impl FromStr for ClipGain {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "clip-rms" => ClipGain::ClipRms,
            "calibration" => ClipGain::Calibration,
            x => {
                let g: f32 = x.parse().map_err(|_| format!("--gain {x}: expected clip-rms, calibration or a number"))?;
                if !(g.is_finite() && g > 0.0) {
                    return Err(format!("--gain {x}: a gain must be a finite number > 0"));
                }
                ClipGain::Fixed(g)
            }
        })
    }
}

/// The window a clip is classified, attacked and certified on (003 Contract 1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipWindow {
    /// The model's rate: clips are resampled to it first.
    pub sample_rate: u32,
    pub window_samples: usize,
    /// `s = target_rms / RMS` for [`ClipGain::ClipRms`].
    pub target_rms: f32,
    /// The card's streaming constant for [`ClipGain::Calibration`] (`None` before a model has a
    /// card, e.g. while training).
    pub calibration_gain: Option<f32>,
}

impl ClipWindow {
    /// The window a model card prescribes.
    pub fn of(card: &ModelCard) -> ClipWindow {
        ClipWindow {
            sample_rate: card.features.sample_rate(),
            window_samples: card.window_samples,
            target_rms: card.normalization.target_rms,
            calibration_gain: Some(card.normalization.calibration_gain),
        }
    }

    /// RMS of `samples` zero-padded to at least one window: the padding adds length, not energy.
    pub fn padded_rms(&self, samples: &[f32]) -> f32 {
        let w = self.window_samples.max(samples.len()).max(1);
        gain::rms(samples) * (samples.len() as f32 / w as f32).sqrt()
    }

    /// The scalar gain `s` of a clip (at the model's rate) under `policy`.
    pub fn gain(&self, samples: &[f32], policy: ClipGain) -> Result<f32, WindowError> {
        match policy {
            ClipGain::Fixed(g) => Ok(g),
            ClipGain::Calibration => self.calibration_gain.ok_or(WindowError::NoCalibration),
            ClipGain::ClipRms => {
                gain::gain_to_rms(self.padded_rms(samples), self.target_rms).map_err(|_| WindowError::Silent)
            }
        }
    }

    /// `x = s · CropPad(a)` for a clip `a` at the model's rate; returns `(x, s)`.
    pub fn window(&self, samples: &[f32], policy: ClipGain) -> Result<(Vec<f32>, f32), WindowError> {
        let s = self.gain(samples, policy)?;
        let mut x = crop_pad(samples, self.window_samples);
        x.iter_mut().for_each(|v| *v *= s);
        Ok((x, s))
    }

    /// Reads a WAV file, resamples it to the model's rate and cuts its window; returns `(x, s)`.
    pub fn load(&self, path: &Path, policy: ClipGain) -> Result<(Vec<f32>, f32), WindowError> {
        let samples = self.read(path)?;
        self.window(&samples, policy)
    }

    /// A WAV file as mono samples at the model's rate.
    pub fn read(&self, path: &Path) -> Result<Vec<f32>, WindowError> {
        let clip = audio::read_mono(path)?;
        if clip.sample_rate == self.sample_rate {
            Ok(clip.samples)
        } else {
            Ok(audio::resample(&clip.samples, clip.sample_rate, self.sample_rate)?)
        }
    }
}

/// Centre crop or zero-pad to `len` samples (003's CropPad, as the models were trained): a
/// longer clip keeps its middle, a shorter one sits in the middle of the window.
pub fn crop_pad(x: &[f32], len: usize) -> Vec<f32> {
    if x.len() >= len {
        let start = (x.len() - len) / 2;
        x[start..start + len].to_vec()
    } else {
        let left = (len - x.len()) / 2;
        let mut out = vec![0.0; len];
        out[left..left + x.len()].copy_from_slice(x);
        out
    }
}

/// The card's front end with the gain fixed at `g` (what runs after `s` is chosen).
pub fn front_end_with_gain(card: &ModelCard, g: f32) -> Result<FrontEnd, DspError> {
    FrontEnd::new(&FeatureConfig { gain: GainPolicy::Fixed { gain: g }, ..card.features })
}

/// Window geometry derived from a model card.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowPlan {
    pub window_samples: usize,
    pub hop_samples: usize,
    pub frames_per_window: usize,
    pub hop_frames: usize,
    pub bins: usize,
    pub sample_rate: u32,
}

impl WindowPlan {
    pub fn of(model: &Model) -> Result<WindowPlan, WindowError> {
        let card = model.card();
        let cfg_err = |what: String| WindowError::Config(format!("model {}: {what}", card.name));
        let fe = model.front_end()?;
        let hop = fe.hop_length();
        if card.hop_samples % hop != 0 {
            return Err(cfg_err(format!("window hop {} is not a multiple of the frame hop {hop}", card.hop_samples)));
        }
        let frames = fe.frame_count(card.window_samples);
        if frames * fe.n_features() != model.example_len() {
            return Err(cfg_err(format!(
                "{frames} frames × {} features per window, the model takes {:?}",
                fe.n_features(),
                model.example_shape()
            )));
        }
        Ok(WindowPlan {
            window_samples: card.window_samples,
            hop_samples: card.hop_samples,
            frames_per_window: frames,
            hop_frames: card.hop_samples / hop,
            bins: fe.n_features(),
            sample_rate: card.features.sample_rate(),
        })
    }

    /// Zeros to add (left, right) so a clip of `len` samples holds at least one window: short
    /// clips are centred in one window, as [`crop_pad`] centres them.
    pub fn padding(&self, len: usize) -> (usize, usize) {
        if len >= self.window_samples {
            (0, 0)
        } else {
            let pad = self.window_samples - len;
            (pad / 2, pad - pad / 2)
        }
    }

    /// Start time of window `w`, seconds from the start of the (padded) stream.
    pub fn start_s(&self, w: u64) -> f64 {
        (w as f64 * self.hop_samples as f64) / self.sample_rate as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(len: usize) -> ClipWindow {
        ClipWindow { sample_rate: 8000, window_samples: len, target_rms: 0.1, calibration_gain: None }
    }

    #[test]
    fn crop_pad_centres() {
        assert_eq!(crop_pad(&[1.0, 2.0, 3.0, 4.0, 5.0], 3), vec![2.0, 3.0, 4.0]);
        assert_eq!(crop_pad(&[1.0, 2.0], 5), vec![0.0, 1.0, 2.0, 0.0, 0.0]);
    }

    #[test]
    fn clip_rms_gain_is_taken_over_the_padded_window() {
        // A clip of 4 samples at amplitude 1 in a window of 16: RMS over the window is 1/2.
        let w = window(16);
        let s = w.gain(&[1.0, -1.0, 1.0, -1.0], ClipGain::ClipRms).unwrap();
        assert!((s - 0.2).abs() < 1e-7, "{s}");
        let (x, s2) = w.window(&[1.0, -1.0, 1.0, -1.0], ClipGain::ClipRms).unwrap();
        assert_eq!(s2, s);
        assert!((gain::rms(&x) - 0.1).abs() < 1e-7);
        assert!(matches!(w.gain(&[0.0; 4], ClipGain::ClipRms), Err(WindowError::Silent)));
        assert!(matches!(w.gain(&[1.0], ClipGain::Calibration), Err(WindowError::NoCalibration)));
    }

    #[test]
    fn gains_parse_and_print_as_given() {
        for s in ["clip-rms", "calibration", "0.5", "3"] {
            assert_eq!(s.parse::<ClipGain>().unwrap().to_string(), s);
        }
        assert!("0".parse::<ClipGain>().is_err());
        assert!("loud".parse::<ClipGain>().is_err());
    }
}

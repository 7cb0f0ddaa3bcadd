//! The model card: everything needed to run a model correctly, carried inside the ONNX file
//! (`metadata_props`) so a model cannot be run with the wrong front end.
//!
//! Stored as JSON under the key [`CARD_KEY`] (authoritative), plus one flat `key = value` entry
//! per field under `soundproof.` for people reading the file in a viewer. A readable copy sits
//! beside the model as `NAME.json`.
//!
//! Input layout: `[batch, 1, frames, bins]` for feature models (e.g. log-mel frames × bands),
//! `[batch, 1, samples]` for waveform models. The front end of the card, applied to
//! `window_samples` samples, must produce exactly `frames × bins`: [`ModelCard::validate`]
//! checks it.

use crate::dsp::{FeatureConfig, FrontEnd, GainPolicy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Key of the JSON card in the ONNX `metadata_props`.
pub const CARD_KEY: &str = "soundproof.card";
/// Version of the card schema.
pub const CARD_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    F32,
    F16,
    Int8,
}

/// What the model consumes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputKind {
    /// Feature map `[batch, 1, frames, bins]` from the card's front end.
    Features,
    /// Raw (gain-normalized) waveform `[batch, 1, samples]`.
    Waveform,
}

/// How a clip is scaled before the front end (003 Contract 1: x = s · CropPad(Resample(a))).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    /// Per clip: the scalar `s = target_rms / RMS(window)` is computed once from the clean clip
    /// as centred and zero-padded to one model window (equivalently `GainPolicy::Rms { target:
    /// target_rms }` on that window) and then fixed.
    pub target_rms: f32,
    /// Streaming: the fixed gain used when no clean clip is available (a calibration constant).
    pub calibration_gain: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// Waveform Gaussian noise σ used in training (003 trains with 0.005).
    pub noise_sigma: f32,
    pub dataset: String,
    /// Which examples were used for training, validation and test.
    pub split: String,
    pub epochs: usize,
    pub seed: u64,
    /// Command that reproduces the model.
    pub command: String,
    pub training_seconds: f64,
}

impl Training {
    /// The training σ as the decimal the card records (0.005, not the f32's
    /// 0.004999999888241291), for certifying at the σ the model was trained with.
    pub fn sigma(&self) -> f64 {
        self.noise_sigma.to_string().parse().unwrap_or(self.noise_sigma as f64)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// Accuracy on the test split, in [0, 1].
    pub test_accuracy: f64,
    pub test_examples: usize,
    pub validation_accuracy: Option<f64>,
    /// For quantized models: accuracy of the f32 parent minus this model's, in points.
    pub accuracy_drop_points: Option<f64>,
    /// Cross-validation of the model's training recipe on held-out groups (for FSDD, leave one
    /// speaker out: what a voice the model never heard can expect, which the official split,
    /// other takes of the same five speakers, does not say). Absent when not measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_validation: Option<CrossValidation>,
}

/// Accuracy of one recipe trained once per fold, each fold's held-out group as its test set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CrossValidation {
    /// e.g. `leave-one-speaker-out`.
    pub scheme: String,
    pub folds: Vec<CvFold>,
    /// Mean over the folds of their accuracy, in [0, 1].
    pub mean_accuracy: f64,
    pub min_accuracy: f64,
    /// The command that reproduces the folds.
    pub command: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CvFold {
    /// The held-out group (a speaker, a fold).
    pub held_out: String,
    pub accuracy: f64,
    pub examples: usize,
}

/// The model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelCard {
    pub card_version: u32,
    pub name: String,
    pub architecture: String,
    pub precision: Precision,
    /// Name of the f32 model a quantized model was derived from.
    pub parent: Option<String>,
    pub input: InputKind,
    /// ONNX input tensor name and shape (`-1` = dynamic batch).
    pub input_name: String,
    pub input_shape: Vec<i64>,
    pub output_name: String,
    /// The front end (feature kind, every parameter, FFT backend). Its `gain` is the streaming
    /// per-sample policy (normally `Fixed { gain: normalization.calibration_gain }`).
    pub features: FeatureConfig,
    pub normalization: Normalization,
    /// Model window and hop, in samples at `features.sample_rate()` and in seconds.
    pub window_samples: usize,
    pub hop_samples: usize,
    pub window_s: f64,
    pub hop_s: f64,
    /// Bilinear resize (half-pixel, as `dsp::resize`) the model applies to its input inside the
    /// graph (000/001 feed ResNet-18 128×128 maps); recorded for readers, the engine feeds the
    /// unresized `[frames, bins]` map either way.
    pub resize: Option<[usize; 2]>,
    pub labels: Vec<String>,
    pub training: Training,
    pub metrics: Metrics,
}

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("model card missing: the ONNX file has no `{CARD_KEY}` entry in metadata_props; export models with `soundproof-tools export`")]
    Missing,
    #[error("model card is not valid JSON for card version {CARD_VERSION}: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("model card of `{name}` is inconsistent: {what}")]
    Inconsistent { name: String, what: String },
}

impl ModelCard {
    fn bad(&self, what: impl Into<String>) -> CardError {
        CardError::Inconsistent { name: self.name.clone(), what: what.into() }
    }

    /// Frames the front end yields for one model window.
    pub fn frames_per_window(&self) -> Result<usize, CardError> {
        let cfg = FeatureConfig { gain: GainPolicy::Fixed { gain: 1.0 }, ..self.features };
        let fe: Box<FrontEnd> = Box::new(FrontEnd::new(&cfg).map_err(|e| self.bad(format!("front end: {e}")))?);
        Ok(fe.frame_count(self.window_samples))
    }

    /// Number of features per frame.
    pub fn bins(&self) -> Result<usize, CardError> {
        let cfg = FeatureConfig { gain: GainPolicy::Fixed { gain: 1.0 }, ..self.features };
        let fe: Box<FrontEnd> = Box::new(FrontEnd::new(&cfg).map_err(|e| self.bad(format!("front end: {e}")))?);
        Ok(fe.n_features())
    }

    /// Checks that the card agrees with itself: version, labels, window/hop in samples and
    /// seconds, and the input shape against what the front end produces for one window.
    pub fn validate(&self) -> Result<(), CardError> {
        if self.card_version != CARD_VERSION {
            return Err(self.bad(format!("card version {} (this engine reads {CARD_VERSION})", self.card_version)));
        }
        if self.labels.len() < 2 {
            return Err(self.bad("fewer than two labels"));
        }
        let sr = self.features.sample_rate() as f64;
        if (self.window_samples as f64 / sr - self.window_s).abs() > 1e-6
            || (self.hop_samples as f64 / sr - self.hop_s).abs() > 1e-6
        {
            return Err(self.bad(format!(
                "window/hop {} / {} samples at {sr} Hz disagree with {} s / {} s",
                self.window_samples, self.hop_samples, self.window_s, self.hop_s
            )));
        }
        if self.hop_samples == 0 || self.hop_samples > self.window_samples {
            return Err(self.bad("hop must be in 1..=window"));
        }
        match self.input {
            InputKind::Features => {
                let (frames, bins) = (self.frames_per_window()?, self.bins()?);
                let expect: Vec<i64> = vec![-1, 1, frames as i64, bins as i64];
                if self.input_shape != expect {
                    return Err(self.bad(format!(
                        "input shape {:?}, but the front end ({} features) yields {frames} frames × {bins} bins per \
                         {}-sample window",
                        self.input_shape,
                        self.features.kind.name(),
                        self.window_samples
                    )));
                }
            }
            InputKind::Waveform => {
                if self.input_shape != vec![-1, 1, self.window_samples as i64] {
                    return Err(self.bad(format!(
                        "waveform input shape {:?} should be [-1, 1, {}]",
                        self.input_shape, self.window_samples
                    )));
                }
            }
        }
        if let Some(cv) = &self.metrics.cross_validation {
            let acc: Vec<f64> = cv.folds.iter().map(|f| f.accuracy).collect();
            if acc.is_empty() || acc.iter().any(|a| !(0.0..=1.0).contains(a)) || cv.folds.iter().any(|f| f.examples == 0) {
                return Err(self.bad("cross-validation: no folds, an empty fold or an accuracy outside [0, 1]"));
            }
            let mean = acc.iter().sum::<f64>() / acc.len() as f64;
            let min = acc.iter().cloned().fold(f64::INFINITY, f64::min);
            if (cv.mean_accuracy - mean).abs() > 1e-9 || cv.min_accuracy != min {
                return Err(self.bad(format!(
                    "cross-validation: mean {} / min {} are not the folds' ({mean} / {min})",
                    cv.mean_accuracy, cv.min_accuracy
                )));
            }
        }
        Ok(())
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(s: &str) -> Result<Self, CardError> {
        Ok(serde_json::from_str(s)?)
    }

    /// The `metadata_props` entries: the JSON card plus flat, readable `soundproof.a.b = v` keys.
    pub fn metadata_props(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        out.insert(CARD_KEY.to_string(), serde_json::to_string(self).unwrap_or_default());
        if let Ok(v) = serde_json::to_value(self) {
            flatten("soundproof", &v, &mut out);
        }
        out
    }

    /// Reads the card from `metadata_props` entries.
    pub fn from_metadata<'a>(props: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, CardError> {
        let json = props.into_iter().find(|(k, _)| *k == CARD_KEY).map(|(_, v)| v).ok_or(CardError::Missing)?;
        let card = Self::from_json(json)?;
        card.validate()?;
        Ok(card)
    }
}

fn flatten(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, String>) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m {
                flatten(&format!("{prefix}.{k}"), x, out);
            }
        }
        serde_json::Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> ModelCard {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/kws-fsdd-rt.json");
        ModelCard::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    /// A card's cross-validation summary must be its folds' own mean and minimum.
    #[test]
    fn cross_validation_summary_must_come_from_its_folds() {
        let mut card = shipped();
        let fold = |s: &str, a: f64| CvFold { held_out: s.into(), accuracy: a, examples: 500 };
        let cv = CrossValidation {
            scheme: "leave-one-speaker-out".into(),
            folds: vec![fold("a", 0.9), fold("b", 0.8), fold("c", 1.0)],
            mean_accuracy: 0.9,
            min_accuracy: 0.8,
            command: "cv".into(),
        };
        card.metrics.cross_validation = Some(cv.clone());
        card.validate().unwrap();
        // It survives the JSON round trip, and old cards without it still read.
        assert_eq!(ModelCard::from_json(&card.to_json()).unwrap(), card);
        let mut old = card.clone();
        old.metrics.cross_validation = None;
        assert!(!old.to_json().contains("cross_validation"));
        for bad in [
            CrossValidation { mean_accuracy: 0.95, ..cv.clone() },
            CrossValidation { min_accuracy: 0.9, ..cv.clone() },
            CrossValidation { folds: vec![], mean_accuracy: 0.0, min_accuracy: 0.0, ..cv.clone() },
            CrossValidation { folds: vec![fold("a", 1.5)], mean_accuracy: 1.5, min_accuracy: 1.5, ..cv.clone() },
        ] {
            card.metrics.cross_validation = Some(bad);
            assert!(card.validate().unwrap_err().to_string().contains("cross-validation"));
        }
    }
}

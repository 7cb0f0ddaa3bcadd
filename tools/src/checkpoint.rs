//! A trained model on disk, before and independent of ONNX: `model.safetensors` (the best
//! weights) and `checkpoint.json` (architecture, front end, clip pipeline, labels, training
//! record). Everything the model card needs is here, so `export` rebuilds the model and writes
//! the card without the dataset.

use crate::data::ClipPipeline;
use crate::error::{Result, ToolsError};
use crate::nn::{Model, ModelSpec};
use serde::{Deserialize, Serialize};
use soundproof::dsp::{FeatureConfig, GainPolicy};
use soundproof::model::card::{InputKind, Metrics, ModelCard, Normalization, Precision, Training, CARD_VERSION};
use std::path::{Path, PathBuf};
use tch::{nn, Device};

pub const WEIGHTS: &str = "model.safetensors";
pub const META: &str = "checkpoint.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub spec: ModelSpec,
    /// Front end of a feature model (`None` for waveform models). Its gain is unity: clips are
    /// scaled by their own gain before the front end.
    pub features: Option<FeatureConfig>,
    pub sample_rate: u32,
    pub window_samples: usize,
    pub hop_samples: usize,
    pub target_rms: f32,
    /// Median clip gain of the training set: the fixed gain for streaming without a clean clip.
    pub calibration_gain: f32,
    pub labels: Vec<String>,
    pub dataset: String,
    pub split: String,
    pub noise_sigma: f32,
    pub epochs_run: usize,
    pub seed: u64,
    pub command: String,
    pub training_seconds: f64,
    pub validation_accuracy: f64,
    pub test_accuracy: f64,
    pub test_examples: usize,
    pub macs: u64,
    pub parameters: usize,
}

impl Checkpoint {
    pub fn pipeline(&self) -> ClipPipeline {
        ClipPipeline { sample_rate: self.sample_rate, window_samples: self.window_samples, target_rms: self.target_rms }
    }

    pub fn save(&self, dir: &Path) -> Result<()> {
        let path = dir.join(META);
        let json = serde_json::to_string_pretty(self).map_err(|e| ToolsError::Json { path: path.clone(), source: e })?;
        std::fs::write(&path, json + "\n").map_err(|e| ToolsError::io(&path, e))
    }

    pub fn load(dir: &Path) -> Result<Self> {
        let path = dir.join(META);
        let text = std::fs::read_to_string(&path).map_err(|e| {
            ToolsError::io(&path, std::io::Error::new(e.kind(), format!("{e} (is this a folder written by `soundproof-tools train`?)")))
        })?;
        serde_json::from_str(&text).map_err(|e| ToolsError::Json { path, source: e })
    }

    pub fn weights(dir: &Path) -> PathBuf {
        dir.join(WEIGHTS)
    }

    /// Rebuilds the model on `device` and loads the saved weights.
    pub fn build(&self, dir: &Path, device: Device) -> Result<(nn::VarStore, Model)> {
        let mut vs = nn::VarStore::new(device);
        let model = Model::new(&vs.root(), &self.spec)?;
        vs.load(Self::weights(dir))?;
        Ok((vs, model))
    }

    /// The front end the card records: this checkpoint's (or, for a waveform model, 003's
    /// log-mel at the model rate, unused), with the streaming gain set to the calibration gain.
    pub fn card_features(&self) -> FeatureConfig {
        let base = self
            .features
            .unwrap_or_else(|| FeatureConfig::new(soundproof::dsp::FeatureKind::Logmel).with_sample_rate(self.sample_rate));
        FeatureConfig { gain: GainPolicy::Fixed { gain: self.calibration_gain }, ..base }
    }

    /// The f32 model card.
    pub fn card(&self, name: &str) -> ModelCard {
        let sr = self.sample_rate as f64;
        let mut input_shape = vec![-1];
        input_shape.extend(&self.spec.input_shape);
        ModelCard {
            card_version: CARD_VERSION,
            name: name.to_string(),
            architecture: if self.spec.width == 1.0 {
                self.spec.arch.name().to_string()
            } else {
                format!("{} (width {})", self.spec.arch.name(), self.spec.width)
            },
            precision: Precision::F32,
            parent: None,
            input: if self.spec.arch.takes_waveform() { InputKind::Waveform } else { InputKind::Features },
            input_name: "input".into(),
            input_shape,
            output_name: "logits".into(),
            features: self.card_features(),
            normalization: Normalization { target_rms: self.target_rms, calibration_gain: self.calibration_gain },
            window_samples: self.window_samples,
            hop_samples: self.hop_samples,
            window_s: self.window_samples as f64 / sr,
            hop_s: self.hop_samples as f64 / sr,
            resize: self.spec.arch.resize(),
            labels: self.labels.clone(),
            training: Training {
                noise_sigma: self.noise_sigma,
                dataset: self.dataset.clone(),
                split: self.split.clone(),
                epochs: self.epochs_run,
                seed: self.seed,
                command: self.command.clone(),
                training_seconds: self.training_seconds,
            },
            metrics: Metrics {
                test_accuracy: self.test_accuracy,
                test_examples: self.test_examples,
                validation_accuracy: Some(self.validation_accuracy),
                accuracy_drop_points: None,
            },
        }
    }
}

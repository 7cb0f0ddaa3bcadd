//! A small classifier the tests build themselves (no training, no libtorch): a shared-variance
//! Gaussian (whitened nearest-centroid) linear classifier on the time-averaged log-mel spectrum
//! of 003's windows, fitted on FSDD training takes 5-14:
//! `logits_k = 2·c_kᵀΣ⁻¹·mean_t(x_t) − c_kᵀΣ⁻¹c_k` (scaled, Σ diagonal), which is linear in the
//! flattened window (`W[k, t, m] = 2·c_k[m]/(σ²_m·F)`). It is weak on digits (the mean
//! spectrum hides the word's time course: ~25 %, chance 10 %), which is all pipeline tests need:
//! real, input-dependent predictions.

use crate::{fsdd, onnx::write_linear_model, scratch};
use soundproof::audio;
use soundproof::dsp::{gain, FeatureConfig, FeatureKind, FrontEnd, GainPolicy};
use soundproof::model::card::{InputKind, Metrics, ModelCard, Normalization, Precision, Training, CARD_VERSION};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TARGET_RMS: f32 = 0.05;
const SR: u32 = 16_000;

pub fn card(name: &str) -> ModelCard {
    let features = FeatureConfig::new(FeatureKind::Logmel);
    ModelCard {
        card_version: CARD_VERSION,
        name: name.into(),
        architecture: "nearest-centroid".into(),
        precision: Precision::F32,
        parent: None,
        input: InputKind::Features,
        input_name: "features".into(),
        input_shape: vec![-1, 1, 101, 64],
        output_name: "logits".into(),
        features,
        normalization: Normalization { target_rms: TARGET_RMS, calibration_gain: 1.0 },
        window_samples: 16_000,
        hop_samples: 4_000,
        window_s: 1.0,
        hop_s: 0.25,
        resize: None,
        labels: (0..10).map(|d| d.to_string()).collect(),
        training: Training {
            noise_sigma: 0.0,
            dataset: "fsdd".into(),
            split: "takes 5-14 (centroids)".into(),
            epochs: 0,
            seed: 0,
            command: "tests/tests/pipeline.rs".into(),
            training_seconds: 0.0,
        },
        metrics: Metrics { test_accuracy: 0.0, test_examples: 0, validation_accuracy: None, accuracy_drop_points: None, cross_validation: None },
    }
}

/// Features of one clip's first window, exactly as the pipeline computes them.
pub fn window_features(samples: &[f32]) -> Vec<f32> {
    let plan_pad = |len: usize| if len >= 16_000 { (0, 0) } else { ((16_000 - len) / 2, 16_000 - len - (16_000 - len) / 2) };
    let g = TARGET_RMS / (gain::rms(samples) * (samples.len() as f32 / samples.len().max(16_000) as f32).sqrt());
    let cfg = FeatureConfig { gain: GainPolicy::Fixed { gain: g }, ..FeatureConfig::new(FeatureKind::Logmel) };
    let mut fe: Box<FrontEnd> = Box::new(FrontEnd::new(&cfg).unwrap());
    let (l, r) = plan_pad(samples.len());
    let mut out = Vec::new();
    let mut sink = |f: &[f32]| -> Result<(), soundproof::dsp::DspError> {
        out.extend_from_slice(f);
        Ok(())
    };
    fe.push(&vec![0.0; l], &mut sink).unwrap();
    fe.push(samples, &mut sink).unwrap();
    fe.push(&vec![0.0; r], &mut sink).unwrap();
    fe.finish(&mut sink).unwrap();
    out.truncate(101 * 64);
    out
}

pub fn load16k(path: &Path) -> Vec<f32> {
    let clip = audio::read_mono(path).unwrap();
    audio::resample(&clip.samples, clip.sample_rate, SR).unwrap()
}

/// Fits the centroids once per test process and writes the model.
pub fn model_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        // One folder per test process: several test binaries may build the model at once.
        let dir = scratch(&format!("toy-model-{}", std::process::id()));
        let (frames, bins) = (101usize, 64usize);
        let d = bins;
        let mut centroids = vec![0.0f64; 10 * d];
        let mut counts = [0usize; 10];
        let mut examples: Vec<(usize, Vec<f64>)> = Vec::new();
        for digit in 0..10 {
            for speaker in ["george", "jackson", "nicolas", "theo", "yweweler"] {
                for take in 5..15 {
                    let p = fsdd().join(format!("{digit}_{speaker}_{take}.wav"));
                    let f = window_features(&load16k(&p));
                    let mut mean = vec![0.0f64; d];
                    for t in 0..frames {
                        for (c, v) in mean.iter_mut().zip(&f[t * bins..(t + 1) * bins]) {
                            *c += *v as f64 / frames as f64;
                        }
                    }
                    for (c, v) in centroids[digit * d..(digit + 1) * d].iter_mut().zip(&mean) {
                        *c += v;
                    }
                    examples.push((digit, mean));
                    counts[digit] += 1;
                }
            }
        }
        for k in 0..10 {
            for c in &mut centroids[k * d..(k + 1) * d] {
                *c /= counts[k] as f64;
            }
        }
        // Shared within-class variance per band: a Gaussian classifier with diagonal shared
        // covariance, i.e. nearest centroid after whitening, still linear in the input.
        let mut var = vec![1e-6f64; d];
        for (k, x) in &examples {
            for m in 0..d {
                var[m] += (x[m] - centroids[k * d + m]).powi(2) / examples.len() as f64;
            }
        }
        let scale = 1e-2;
        let mut w = vec![0.0f32; 10 * frames * bins];
        let mut b = vec![0.0f32; 10];
        for k in 0..10 {
            let c = &centroids[k * d..(k + 1) * d];
            for t in 0..frames {
                for (m, v) in c.iter().enumerate() {
                    w[k * frames * bins + t * bins + m] = (2.0 * v / var[m] / frames as f64 * scale) as f32;
                }
            }
            b[k] = (-c.iter().zip(&var).map(|(v, s)| v * v / s).sum::<f64>() * scale) as f32;
        }
        let path = dir.join("centroid.onnx");
        write_linear_model(&path, &card("centroid"), &w, &b);
        path
    })
}


//! The streaming pipeline and the batch classifier on a model the test builds itself: a
//! shared-variance Gaussian (whitened nearest-centroid) linear classifier on the time-averaged log-mel spectrum of 003's windows,
//! fitted on FSDD training takes: `logits_k = 2·c_k·Σ⁻¹·mean_t(x_t) − c_kᵀΣ⁻¹c_k` (scaled, Σ diagonal), which is
//! linear in the flattened window (`W[k, t, m] = 2·c_k[m]/F`), so no trained network is needed.
//! Such a classifier is weak on digits (the mean spectrum hides the word's time course: ~25 %,
//! chance 10 %), which is all these tests need: real, input-dependent predictions. The shipped
//! networks' accuracy is checked separately. Checks: the batch path classifies the test takes
//! above twice chance; streaming gives the
//! same windows, labels and logits as batch; an overloaded consumer drops counted windows and
//! never panics; models whose card is missing or disagrees with the graph are refused.

use soundproof::audio::{self, Pacing};
use soundproof::dsp::{gain, FeatureConfig, FeatureKind, FrontEnd, GainPolicy};
use soundproof::model::card::{InputKind, Metrics, ModelCard, Normalization, Precision, Training, CARD_VERSION};
use soundproof::model::Model;
use soundproof::pipeline::{self, ClipGain, StreamOptions, WindowPlan};
use soundproof_tests::{fsdd, onnx::write_linear_model, scratch};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const TARGET_RMS: f32 = 0.05;
const SR: u32 = 16_000;

fn card(name: &str) -> ModelCard {
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
        metrics: Metrics { test_accuracy: 0.0, test_examples: 0, validation_accuracy: None, accuracy_drop_points: None },
    }
}

/// Features of one clip's first window, exactly as the pipeline computes them.
fn window_features(samples: &[f32]) -> Vec<f32> {
    let plan_pad = |len: usize| if len >= 16_000 { (0, 0) } else { ((16_000 - len) / 2, 16_000 - len - (16_000 - len) / 2) };
    let g = TARGET_RMS / gain::rms(samples);
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

fn load16k(path: &Path) -> Vec<f32> {
    let clip = audio::read_mono(path).unwrap();
    audio::resample(&clip.samples, clip.sample_rate, SR).unwrap()
}

/// Fits the centroids once per test process and writes the model.
fn model_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = scratch("pipeline-model");
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

fn test_files(n_per_digit: usize) -> Vec<(PathBuf, usize)> {
    let mut v = Vec::new();
    for digit in 0..10 {
        for (i, speaker) in ["george", "jackson", "nicolas", "theo", "yweweler"].iter().enumerate() {
            for take in 0..5 {
                if (i * 5 + take) % (25 / n_per_digit) == 0 {
                    v.push((fsdd().join(format!("{digit}_{speaker}_{take}.wav")), digit));
                }
            }
        }
    }
    v
}

#[test]
fn batch_classification_is_far_above_chance() {
    let model = Model::load(model_path()).expect("load");
    let mut correct = 0;
    let files = test_files(5);
    for (path, digit) in &files {
        let windows = pipeline::classify_file(&model, path, ClipGain::ClipRms, 16).expect("classify");
        assert!(!windows.is_empty());
        let d = pipeline::aggregate(&windows, model.labels()).unwrap();
        correct += (d.sum_rule == *digit) as usize;
    }
    let acc = correct as f64 / files.len() as f64;
    println!("linear Gaussian classifier accuracy on {} test takes: {acc:.3}", files.len());
    assert!(acc >= 0.2, "accuracy {acc} (chance 0.1)");
}

#[test]
fn streaming_equals_batch() {
    let model = Model::load(model_path()).expect("load");
    for (path, _) in test_files(1).iter().take(6) {
        for gain in [ClipGain::ClipRms, ClipGain::Calibration] {
            let batch = pipeline::classify_file(&model, path, gain, 7).expect("batch");
            let mut streamed = Vec::new();
            let stats = pipeline::stream_file(&model, path, gain, &StreamOptions::default(), |r| streamed.push(r.clone()))
                .expect("stream");
            assert_eq!(stats.dropped_windows, 0, "unpaced streaming never drops");
            assert_eq!(streamed.len(), batch.len(), "{}: window count", path.display());
            for (s, b) in streamed.iter().zip(&batch) {
                assert_eq!(s.index, b.index);
                assert_eq!(s.label, b.label, "{} window {}", path.display(), s.index);
                for (x, y) in s.logits.iter().zip(&b.logits) {
                    assert!((x - y).abs() <= 1e-4 * (1.0 + y.abs()), "{} window {}: {x} vs {y}", path.display(), s.index);
                }
            }
        }
    }
}

#[test]
fn long_stream_windows_follow_the_hop() {
    let model = Model::load(model_path()).expect("load");
    let plan = WindowPlan::of(&model).unwrap();
    assert_eq!((plan.frames_per_window, plan.hop_frames, plan.bins), (101, 25, 64));
    // 10 s of concatenated digits.
    let dir = scratch("pipeline-long");
    let mut samples = Vec::new();
    for (path, _) in test_files(1).iter().take(10) {
        samples.extend(load16k(path));
        samples.extend(std::iter::repeat(0.0).take(4000));
    }
    let wav = dir.join("digits.wav");
    audio::write_wav(&wav, &samples, SR, audio::WavFormat::Float32).unwrap();
    let mut got = 0u64;
    let stats = pipeline::stream_file(&model, &wav, ClipGain::Calibration, &StreamOptions::default(), |_| got += 1).unwrap();
    let frames = 1 + samples.len() / 160;
    let expect = ((frames - 101) / 25 + 1) as u64;
    assert_eq!((stats.windows, got), (expect, expect));
    assert!(stats.latency_ms_median.is_some() && stats.inference_ms_median.is_some());
}

#[test]
fn overloaded_consumer_drops_counted_windows_without_panic() {
    let model = Model::load(model_path()).expect("load");
    let dir = scratch("pipeline-overload");
    let mut samples = Vec::new();
    for (path, _) in test_files(1).iter().take(8) {
        samples.extend(load16k(path));
    }
    let wav = dir.join("long.wav");
    audio::write_wav(&wav, &samples, SR, audio::WavFormat::Float32).unwrap();
    let opts = StreamOptions { pacing: Pacing::RealTime { speed: 40.0 }, max_pending_windows: 1, stop: None };
    let mut seen = 0u64;
    let stats = pipeline::stream_file(&model, &wav, ClipGain::Calibration, &opts, |_| {
        seen += 1;
        std::thread::sleep(std::time::Duration::from_millis(40));
    })
    .expect("an overloaded pipeline still finishes");
    let frames = 1 + samples.len().max(16_000) / 160;
    let total = ((frames - 101) / 25 + 1) as u64;
    println!("{stats:?}");
    assert!(stats.dropped_windows > 0, "a 40 ms consumer at 40× real time must fall behind");
    assert_eq!(stats.windows + stats.dropped_windows, total, "every window is delivered or counted");
    assert_eq!(seen, stats.windows);
}

#[test]
fn bad_models_are_refused_with_clear_errors() {
    let dir = scratch("pipeline-bad-models");
    // Input shape disagrees with the front end (100 frames instead of 101).
    let mut c = card("wrong-shape");
    c.input_shape = vec![-1, 1, 100, 64];
    let p = dir.join("wrong-shape.onnx");
    write_linear_model(&p, &c, &vec![0.0; 10 * 6400], &[0.0; 10]);
    let e = Model::load(&p).unwrap_err().to_string();
    assert!(e.contains("wrong-shape") && e.contains("101 frames"), "{e}");
    // Labels disagree with the graph's outputs.
    let mut c = card("few-labels");
    let p = dir.join("few-labels.onnx");
    write_linear_model(&p, &c, &vec![0.0; 10 * 6464], &[0.0; 10]);
    c.labels.truncate(5);
    let bytes = std::fs::read(&p).unwrap();
    let _ = bytes;
    // Not an ONNX file at all.
    let p = dir.join("garbage.onnx");
    std::fs::write(&p, b"definitely not protobuf").unwrap();
    let e = Model::load(&p).unwrap_err().to_string();
    assert!(e.contains("garbage.onnx"), "{e}");
    // Missing file.
    let e = Model::load(dir.join("absent.onnx")).unwrap_err().to_string();
    assert!(e.contains("absent.onnx"), "{e}");
    // A source at the wrong rate is refused by the pipeline.
    let model = Model::load(model_path()).unwrap();
    let mut src = audio::WavSource::open(fsdd().join("0_theo_0.wav")).unwrap();
    let e = pipeline::run_stream(&model, &mut src, 1.0, (0, 0), &StreamOptions::default(), |_| {}).unwrap_err().to_string();
    assert!(e.contains("8000 Hz") && e.contains("16000 Hz"), "{e}");
}


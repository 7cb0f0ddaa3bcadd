//! The streaming pipeline and the batch classifier on the linear classifier the tests build
//! themselves (`soundproof_tests::toy`). Checks: the batch path classifies the test takes above
//! twice chance; streaming gives the same windows, labels and logits as batch; windows follow
//! the hop; an overloaded consumer drops counted windows and never panics; models whose card is
//! missing or disagrees with the graph are refused.

use soundproof::audio::{self, Pacing};
use soundproof::model::Model;
use soundproof::pipeline::{self, StreamOptions};
use soundproof::window::{ClipGain, WindowPlan};
use soundproof_tests::{fsdd, onnx::{replace_card, write_linear_model}, scratch, toy::{card, load16k, model_path}};
use std::path::PathBuf;

const SR: u32 = 16_000;

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
    let opts = StreamOptions { pacing: Pacing::RealTime { speed: 40.0 }, max_pending_windows: 1, stop: None, drop_when_behind: false, certify: None };
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
    replace_card(&p, &c);
    let e = Model::load(&p).unwrap_err().to_string();
    assert!(e.contains("few-labels") && e.contains("outputs 10 classes") && e.contains("lists 5 labels"), "{e}");
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


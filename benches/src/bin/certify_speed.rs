//! Noisy samples per second of CERTIFY's inner loop, and where the time goes.
//!
//! `cargo run --release -p soundproof-benches --bin certify_speed -- MODEL.onnx [N] [BATCH]`
//!
//! On the FSDD test clip 0_george_0 (gain-normalized as the model was trained), one thread:
//! - `full`: `Smoother::counts` under the waveform contract (noise, front end, model), N samples;
//! - `feature`: the feature contract (noise on the log-mel tensor, model; no front end);
//! - `front end`: the log-mel of one window (what each waveform sample pays);
//! - `model`: `Model::run` on batches of BATCH clean windows.
//! Prints one JSON object per line.

use soundproof::audio;
use soundproof::model::Model;
use soundproof::pipeline::ClipGain;
use soundproof::smooth::report::clip_window;
use soundproof::smooth::{Contract, Phase, SmoothParams, Smoother};
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: certify_speed MODEL.onnx [N] [BATCH]");
    let n: u64 = args.get(2).map(|s| s.parse().expect("N")).unwrap_or(1000);
    let batch: usize = args.get(3).map(|s| s.parse().expect("BATCH")).unwrap_or(16);
    let model = Model::load(path).expect("model");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fsdd/recordings/0_george_0.wav");
    let clip = audio::read_mono(&root).expect("clip");
    let sr = model.card().features.sample_rate();
    let samples = audio::resample(&clip.samples, clip.sample_rate, sr).expect("resample");
    let (x, _) = clip_window(&model, &samples, ClipGain::ClipRms).expect("window");
    let name = &model.card().name;
    let params = SmoothParams { sigma: 0.005, n0: 100, n, alpha: 0.001, batch, seed: 0 };

    for (label, contract) in [("full", Contract::Waveform), ("feature", Contract::Feature)] {
        let mut s = Smoother::new(&model, contract, params).expect("smoother");
        let _ = s.counts(&x, 1, Phase::Estimation, 0, batch as u64).expect("warm-up");
        let t = Instant::now();
        let c = s.counts(&x, 1, Phase::Estimation, 0, n).expect("counts");
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{{\"model\":\"{name}\",\"part\":\"{label}\",\"batch\":{batch},\"samples\":{n},\"seconds\":{secs:.4},\"samples_per_s\":{:.1},\"top_count\":{}}}",
            n as f64 / secs,
            c.iter().max().unwrap()
        );
    }
    let mut s = Smoother::new(&model, Contract::Waveform, params).expect("smoother");
    let mut input = Vec::new();
    let reps = 200;
    let t = Instant::now();
    for _ in 0..reps {
        input.clear();
        s.input_of(&x, &mut input).expect("features");
    }
    let fe_ms = t.elapsed().as_secs_f64() * 1e3 / reps as f64;
    println!("{{\"model\":\"{name}\",\"part\":\"front end\",\"ms_per_window\":{fe_ms:.4}}}");
    let mut batch_in = Vec::new();
    for _ in 0..batch {
        batch_in.extend_from_slice(&input);
    }
    let _ = model.run(&batch_in, batch).expect("warm-up");
    let runs = (reps / batch).max(5);
    let t = Instant::now();
    for _ in 0..runs {
        let _ = model.run(&batch_in, batch).expect("run");
    }
    let model_ms = t.elapsed().as_secs_f64() * 1e3 / (runs * batch) as f64;
    println!("{{\"model\":\"{name}\",\"part\":\"model\",\"batch\":{batch},\"ms_per_window\":{model_ms:.4}}}");
}

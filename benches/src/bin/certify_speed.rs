//! Noisy samples per second of CERTIFY's inner loop, and where the time goes.
//!
//! `cargo run --release -p soundproof-benches --bin certify_speed -- MODEL.onnx [N] [BATCH] [OUT_DIR]`
//!
//! On the FSDD test clip 0_george_0 (gain-normalized as the model was trained):
//! - `noise`: one window's 16,000 Gaussian draws from a per-sample seeded generator: the
//!   engine's (`smooth::NoiseRng`, xoshiro256++, with its float32 ziggurat `smooth::gaussian`)
//!   beside the two before it, xoshiro256++ and ChaCha12 (rand's `StdRng`) with rand_distr's
//!   float64 ziggurat, measured alternately;
//! - `front end`: the log-mel of one window (what each waveform sample pays);
//! - `model`: `Model::run` on batches of BATCH clean windows (tract);
//! - `full`: `OnlineCertifier::counts` under the waveform contract (noise, front end, model)
//!   with 1 worker and with 2 workers, N samples each, measured alternately (3 rounds, median);
//! - `feature`: the feature contract (noise on the log-mel tensor, model; no front end), 1 worker.
//! Writes the clean model input as `OUT_DIR/input-NAME.npy` (for onnxruntime on the same
//! input) and prints one JSON object per line.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use soundproof::audio;
use soundproof::model::Model;
use soundproof::window::{ClipGain, ClipWindow};
use soundproof::smooth::{sample_seed, Contract, NoiseRng, OnlineCertifier, Phase, SmoothParams, Smoother};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    soundproof::stats::median(&mut v).unwrap_or(f64::NAN)
}

/// ms per window of `reps` noise windows from generator `R`, seeded per window as the engine
/// does, the draws made by `fill` (the engine's float32 ziggurat or rand_distr's), then
/// `x + σ·ε` as `perturb` forms the copy.
fn noise_ms<R: SeedableRng + rand::Rng>(x: &[f32], out: &mut [f32], reps: u64, fill: impl Fn(&mut R, &mut [f32])) -> f64 {
    let mut eps = vec![0.0f32; x.len()];
    let t = Instant::now();
    for i in 0..reps {
        let mut rng = R::seed_from_u64(sample_seed(0, 1, Phase::Estimation, i));
        fill(&mut rng, &mut eps);
        for ((o, &v), e) in out.iter_mut().zip(x).zip(&eps) {
            *o = v + 0.005 * e;
        }
    }
    std::hint::black_box(&out);
    t.elapsed().as_secs_f64() * 1e3 / reps as f64
}

fn rand_distr_fill<R: rand::Rng>(rng: &mut R, eps: &mut [f32]) {
    for e in eps.iter_mut() {
        *e = StandardNormal.sample(rng);
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let path = args.get(1).expect("usage: certify_speed MODEL.onnx [N] [BATCH] [OUT_DIR]");
    let n: u64 = args.get(2).map(|s| s.parse().expect("N")).unwrap_or(1000);
    let batch: usize = args.get(3).map(|s| s.parse().expect("BATCH")).unwrap_or(1);
    let out_dir = args.get(4).map(std::path::PathBuf::from);
    let model = Model::load(path).expect("model");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fsdd/recordings/0_george_0.wav");
    let clip = audio::read_mono(&root).expect("clip");
    let sr = model.card().features.sample_rate();
    let samples = audio::resample(&clip.samples, clip.sample_rate, sr).expect("resample");
    let (x, _) = ClipWindow::of(model.card()).window(&samples, ClipGain::ClipRms).expect("window");
    // The file's stem names the rows (two files may carry one card name, e.g. a model beside
    // its earlier weights).
    let name = std::path::Path::new(&path).file_stem().and_then(|s| s.to_str()).unwrap_or(&model.card().name).to_string();
    let params = SmoothParams { sigma: 0.005, n0: 100, n, alpha: 0.001, batch, seed: 0 };

    // Noise: the three generators alternately, 5 rounds of 200 windows, medians.
    let mut buf = vec![0.0f32; x.len()];
    let (mut zf, mut xo, mut cc) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        zf.push(noise_ms::<NoiseRng>(&x, &mut buf, 200, |r, e| soundproof::smooth::gaussians(r, e)));
        xo.push(noise_ms::<NoiseRng>(&x, &mut buf, 200, rand_distr_fill));
        cc.push(noise_ms::<StdRng>(&x, &mut buf, 200, rand_distr_fill));
    }
    println!(
        "{{\"model\":\"{name}\",\"part\":\"noise\",\"draws\":{},\"engine_ms\":{:.4},\"xoshiro256pp_ms\":{:.4},\"chacha12_ms\":{:.4}}}",
        x.len(),
        median(zf),
        median(xo),
        median(cc)
    );

    let mut s = Smoother::new(&model, Contract::Waveform, params).expect("smoother");
    let mut input = Vec::new();
    s.input_of(&x, &mut input).expect("features");
    if let Some(d) = &out_dir {
        let mut shape = vec![1];
        shape.extend_from_slice(model.example_shape());
        soundproof::npy::write_f32(&d.join(format!("input-{name}.npy")), &shape, &input).expect("write input");
    }
    let reps = 300;
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
    for _ in 0..20 {
        let _ = model.run(&batch_in, batch).expect("warm-up");
    }
    let mut ms = Vec::new();
    for _ in 0..(600 / batch).max(20) {
        let t = Instant::now();
        let _ = model.run(&batch_in, batch).expect("run");
        ms.push(t.elapsed().as_secs_f64() * 1e3 / batch as f64);
    }
    println!("{{\"model\":\"{name}\",\"part\":\"model\",\"batch\":{batch},\"ms_per_window\":{:.4}}}", median(ms));

    let mut pools: Vec<OnlineCertifier> = [1usize, 2].iter().map(|&w| OnlineCertifier::new(&model, Contract::Waveform, params, w).expect("pool")).collect();
    let mut rates = vec![Vec::new(); pools.len()];
    let mut top = 0;
    for round in 0..3u64 {
        for (p, r) in pools.iter_mut().zip(rates.iter_mut()) {
            let _ = p.counts(&x, 1, Phase::Estimation, 0, 64).expect("warm-up");
            let t = Instant::now();
            let c = p.counts(&x, 1 + round, Phase::Estimation, 0, n).expect("counts");
            r.push(n as f64 / t.elapsed().as_secs_f64());
            top = *c.iter().max().unwrap();
        }
    }
    for (p, r) in pools.iter().zip(rates) {
        println!(
            "{{\"model\":\"{name}\",\"part\":\"full\",\"workers\":{},\"batch\":{batch},\"samples\":{n},\"samples_per_s\":{:.1},\"top_count\":{top}}}",
            p.workers(),
            median(r)
        );
    }
    let mut f = OnlineCertifier::new(&model, Contract::Feature, params, 1).expect("pool");
    let _ = f.counts(&x, 1, Phase::Estimation, 0, 64).expect("warm-up");
    let t = Instant::now();
    let _ = f.counts(&x, 1, Phase::Estimation, 0, n).expect("counts");
    println!(
        "{{\"model\":\"{name}\",\"part\":\"feature\",\"workers\":1,\"samples\":{n},\"samples_per_s\":{:.1}}}",
        n as f64 / t.elapsed().as_secs_f64()
    );
}

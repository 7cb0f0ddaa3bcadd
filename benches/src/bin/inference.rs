//! Inference benchmark of the shipped models in tract (through the engine's `Model`, one
//! thread), on real inputs, written as JSON lines; `benches/ort_anchor.py` times onnxruntime on
//! the same inputs and `benches/run_inference_bench.sh` runs both and prints the table.
//!
//! Inputs (written to `--out` so the Python side reads the identical arrays):
//! * `windows.npy` `[W, 1, 101, 64]`: the first model window of W FSDD test clips (takes 0–4,
//!   spread over digits and speakers), through the card's front end exactly as
//!   `pipeline::classify_clip` computes it (resampled to 16 kHz, RMS gain from the clean clip,
//!   centred and zero-padded to one window); `labels.json` their digits.
//! * `noisy.npy` `[B, 1, 101, 64]`: a certification batch, B noisy copies of the first clip
//!   (waveform Gaussian noise of the card's σ, gain of the clean clip).
//!
//! Per model:
//! * latency of `Model::run` at batch 1 (cycling through the windows): median, p90 over
//!   `--repeats` runs after `--warmup`; windows/s = runs / total time;
//! * batch B on the noisy batch: median ms per batch, windows/s;
//! * logits of all windows (batch 1) and of the noisy batch → `logits-NAME.npy`,
//!   `logits-b32-NAME.npy` (the anchor compares onnxruntime's against them);
//! * end to end, the streaming pipeline's own stats (audio in → label out): `stream_file` on
//!   `--stream-input` unpaced (as `soundproof demo --fast`), the same file in real time
//!   (as `soundproof demo`), and the file repeated `--stream-repeat` times, unpaced (throughput).
//!
//! `--profile`: instead, time every node of tract's optimized plan (the engine's plan: batch
//! dimension symbolic; and a plan typed for a concrete batch 1) and print per-node and per-op
//! totals.
//!
//! `cargo run --release -p soundproof-benches --bin inference -- [--out DIR] [--profile] ...`

use serde_json::json;
use soundproof::audio::{self, AudioError, Pacing, Source};
use soundproof::dsp::{FeatureConfig, FrontEnd, GainPolicy};
use soundproof::model::Model;
use soundproof::stats::argmax;
use soundproof::npy;
use soundproof::pipeline::{self, StreamOptions};
use soundproof::window::{ClipGain, ClipWindow, WindowPlan};
use std::error::Error;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn Error>>;

const MODELS: [&str; 4] = ["kws-fsdd", "kws-fsdd-int8", "kws-fsdd-rt", "kws-fsdd-rt-int8"];

struct Args {
    models_dir: PathBuf,
    data: PathBuf,
    out: PathBuf,
    stream_input: PathBuf,
    only: Vec<String>,
    windows: usize,
    batch: usize,
    warmup: usize,
    repeats: usize,
    repeats_batch: usize,
    stream_repeat: usize,
    realtime: bool,
    profile: bool,
    profile_iters: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: inference [--models DIR] [--data FSDD_RECORDINGS] [--out DIR] [--only NAME,...]\n\
         \x20                [--windows W] [--batch B] [--warmup N] [--repeats N] [--repeats-batch N]\n\
         \x20                [--stream-input WAV] [--stream-repeat K] [--no-realtime]\n\
         \x20                [--profile [--profile-iters N]]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut a = Args {
        models_dir: "models".into(),
        data: "/work/shared/data/fsdd/recordings".into(),
        out: "target/bench-inference".into(),
        stream_input: "models/demo/digits.wav".into(),
        only: MODELS.iter().map(|s| s.to_string()).collect(),
        windows: 64,
        batch: 32,
        warmup: 20,
        repeats: 200,
        repeats_batch: 30,
        stream_repeat: 6,
        realtime: true,
        profile: false,
        profile_iters: 100,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().unwrap_or_else(|| usage());
        let num = |s: String| s.parse::<usize>().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--models" => a.models_dir = val().into(),
            "--data" => a.data = val().into(),
            "--out" => a.out = val().into(),
            "--stream-input" => a.stream_input = val().into(),
            "--only" => a.only = val().split(',').map(str::to_string).collect(),
            "--windows" => a.windows = num(val()),
            "--batch" => a.batch = num(val()),
            "--warmup" => a.warmup = num(val()),
            "--repeats" => a.repeats = num(val()),
            "--repeats-batch" => a.repeats_batch = num(val()),
            "--stream-repeat" => a.stream_repeat = num(val()),
            "--no-realtime" => a.realtime = false,
            "--profile" => a.profile = true,
            "--profile-iters" => a.profile_iters = num(val()),
            _ => usage(),
        }
    }
    a
}

/// Median (`stats::median`, as `pipeline` computes it) and p90 (nearest rank) of `v`.
fn median_p90(v: &[f64]) -> (f64, f64) {
    let mut s = v.to_vec();
    let median = soundproof::stats::median(&mut s).unwrap_or(f64::NAN);
    let n = s.len();
    let p90 = s[((0.9 * n as f64).ceil() as usize).clamp(1, n) - 1];
    (median, p90)
}

/// FSDD test clips (takes 0–4), sorted by (take, digit, speaker) so the first `n` cover every
/// digit and speaker.
fn test_clips(dir: &Path, n: usize) -> Res<Vec<(PathBuf, usize)>> {
    let mut clips = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))? {
        let p = e?.path();
        let stem = p.file_stem().and_then(|s| s.to_str()).unwrap_or("").to_string();
        let parts: Vec<&str> = stem.split('_').collect();
        if parts.len() != 3 || p.extension().and_then(|x| x.to_str()) != Some("wav") {
            continue;
        }
        let (Ok(digit), Ok(take)) = (parts[0].parse::<usize>(), parts[2].parse::<usize>()) else { continue };
        if take < 5 {
            clips.push((take, digit, parts[1].to_string(), p));
        }
    }
    clips.sort();
    if clips.len() < n {
        return Err(format!("{}: {} test clips, {n} wanted", dir.display(), clips.len()).into());
    }
    Ok(clips.into_iter().take(n).map(|(_, d, _, p)| (p, d)).collect())
}

/// The first model window of a clip (at the model's rate) with gain `g`, as `classify_clip`
/// computes it: centred and zero-padded to one window when shorter.
fn first_window(model: &Model, plan: &WindowPlan, samples: &[f32], g: f32) -> Res<Vec<f32>> {
    let cfg = FeatureConfig { gain: GainPolicy::Fixed { gain: g }, ..model.card().features };
    let mut fe: Box<FrontEnd> = Box::new(FrontEnd::new(&cfg)?);
    let (l, r) = plan.padding(samples.len());
    let zeros = vec![0.0f32; l.max(r)];
    let per = plan.frames_per_window * plan.bins;
    let mut frames: Vec<f32> = Vec::with_capacity(per);
    let mut sink = |f: &[f32]| -> Result<(), soundproof::dsp::DspError> {
        if frames.len() < per {
            frames.extend_from_slice(f);
        }
        Ok(())
    };
    fe.push(&zeros[..l], &mut sink)?;
    fe.push(samples, &mut sink)?;
    fe.push(&zeros[..r], &mut sink)?;
    fe.finish(&mut sink)?;
    if frames.len() < per {
        return Err("clip shorter than one window after padding".into());
    }
    Ok(frames)
}

/// Standard normal deviates from a 64-bit LCG (Box–Muller); deterministic.
struct Gauss(u64);

impl Gauss {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn next(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// Inputs shared by every model (all four cards describe the same front end and window).
struct Inputs {
    windows: Vec<f32>,
    labels: Vec<usize>,
    noisy: Vec<f32>,
    per: usize,
}

fn build_inputs(model: &Model, a: &Args) -> Res<Inputs> {
    let plan = WindowPlan::of(model)?;
    let sr = model.card().features.sample_rate();
    let clips = test_clips(&a.data, a.windows)?;
    let mut windows = Vec::new();
    let mut labels = Vec::new();
    let mut first: Option<(Vec<f32>, f32)> = None;
    for (path, digit) in &clips {
        let clip = audio::read_mono(path)?;
        let samples = audio::resample(&clip.samples, clip.sample_rate, sr)?;
        let g = ClipWindow::of(model.card()).gain(&samples, ClipGain::ClipRms)?;
        windows.extend(first_window(model, &plan, &samples, g)?);
        labels.push(*digit);
        if first.is_none() {
            first = Some((samples, g));
        }
    }
    let (clean, g) = first.ok_or("no clips")?;
    let sigma = model.card().training.sigma();
    let mut rng = Gauss(0x5eed);
    let mut noisy = Vec::new();
    for _ in 0..a.batch {
        let x: Vec<f32> = clean.iter().map(|&s| (f64::from(s) + sigma * rng.next()) as f32).collect();
        noisy.extend(first_window(model, &plan, &x, g)?);
    }
    Ok(Inputs { windows, labels, noisy, per: plan.frames_per_window * plan.bins })
}

/// A clip held in memory, read as a stream.
struct Memory {
    samples: Vec<f32>,
    pos: usize,
    rate: u32,
}

impl Source for Memory {
    fn sample_rate(&self) -> u32 {
        self.rate
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        let k = buf.len().min(self.samples.len() - self.pos);
        buf[..k].copy_from_slice(&self.samples[self.pos..self.pos + k]);
        self.pos += k;
        Ok(k)
    }
}

/// tract plans of a model typed for a concrete batch (`n`), not the engine's symbolic one: what
/// a plan per batch size would cost. Runs like `Model::run` (tensor from a slice, logits out).
struct Concrete {
    plan: std::sync::Arc<tract_onnx::prelude::TypedSimplePlan>,
    shape: Vec<usize>,
}

impl Concrete {
    fn new(path: &Path, example_shape: &[usize], n: usize) -> Res<Concrete> {
        use tract_onnx::prelude::*;
        let shape: Vec<usize> = std::iter::once(n).chain(example_shape.iter().copied()).collect();
        let mut model = soundproof::model::onnx().model_for_path(path)?;
        model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), &shape))?;
        Ok(Concrete { plan: model.into_optimized()?.into_runnable()?, shape })
    }
    fn run(&self, inputs: &[f32]) -> Res<Vec<f32>> {
        use tract_onnx::prelude::*;
        let t = Tensor::from_shape(&self.shape, inputs)?;
        let out = self.plan.run(tvec!(t.into()))?;
        Ok(out[0].to_plain_array_view::<f32>()?.iter().copied().collect())
    }
}

/// Batch-1 (cycling through the windows) and batch-B (the noisy batch) timings of `run`, as a
/// JSON object with `b1` and `batch`.
fn time_runs(
    a: &Args,
    inputs: &Inputs,
    mut run1: impl FnMut(&[f32]) -> Res<Vec<f32>>,
    mut runb: impl FnMut(&[f32]) -> Res<Vec<f32>>,
) -> Res<(serde_json::Value, serde_json::Value)> {
    let (w, b, per) = (inputs.labels.len(), a.batch, inputs.per);
    for i in 0..a.warmup {
        black_box(run1(&inputs.windows[(i % w) * per..][..per])?);
    }
    let mut ms = Vec::with_capacity(a.repeats);
    let t0 = Instant::now();
    for i in 0..a.repeats {
        let t = Instant::now();
        black_box(run1(&inputs.windows[(i % w) * per..][..per])?);
        ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let total1 = t0.elapsed().as_secs_f64();
    let (med1, p901) = median_p90(&ms);
    for _ in 0..a.warmup.div_ceil(10).max(2) {
        black_box(runb(&inputs.noisy)?);
    }
    let mut msb = Vec::with_capacity(a.repeats_batch);
    let t0 = Instant::now();
    for _ in 0..a.repeats_batch {
        let t = Instant::now();
        black_box(runb(&inputs.noisy)?);
        msb.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let totalb = t0.elapsed().as_secs_f64();
    let (medb, p90b) = median_p90(&msb);
    Ok((
        json!({"runs": a.repeats, "median_ms": med1, "p90_ms": p901,
               "mean_ms": total1 * 1e3 / a.repeats as f64,
               "min_ms": ms.iter().cloned().fold(f64::INFINITY, f64::min),
               "windows_per_s": a.repeats as f64 / total1}),
        json!({"batch": b, "runs": a.repeats_batch, "median_ms": medb, "p90_ms": p90b,
               "median_ms_per_window": medb / b as f64,
               "windows_per_s": (a.repeats_batch * b) as f64 / totalb}),
    ))
}

fn stream_line(model: &Model, mode: &str, input: String, audio_s: f64, stats: &pipeline::PipelineStats, lat: &[f64]) -> serde_json::Value {
    let el = stats.elapsed.as_secs_f64();
    let (_, p90) = if lat.is_empty() { (f64::NAN, f64::NAN) } else { median_p90(lat) };
    json!({
        "kind": "stream", "model": model.card().name, "precision": model.card().precision,
        "mode": mode, "input": input, "audio_s": audio_s,
        "windows": stats.windows, "dropped_windows": stats.dropped_windows,
        "audio_overruns": stats.audio_overruns,
        "elapsed_s": el, "windows_per_s": stats.windows as f64 / el, "realtime_factor": audio_s / el,
        "inference_ms_median": stats.inference_ms_median,
        "latency_ms_median": stats.latency_ms_median, "latency_ms_p90": p90,
        "latency_ms_max": stats.latency_ms_max,
    })
}

fn bench(a: &Args) -> Res<()> {
    std::fs::create_dir_all(&a.out)?;
    let t = Instant::now();
    let reference = Model::load(a.models_dir.join(format!("{}.onnx", a.only[0])))?;
    let inputs = build_inputs(&reference, a)?;
    let (w, b, per) = (inputs.labels.len(), a.batch, inputs.per);
    let shape = reference.example_shape().to_vec();
    let with_batch = |n: usize| -> Vec<usize> { std::iter::once(n).chain(shape.iter().copied()).collect() };
    npy::write_f32(&a.out.join("windows.npy"), &with_batch(w), &inputs.windows)?;
    npy::write_f32(&a.out.join("noisy.npy"), &with_batch(b), &inputs.noisy)?;
    std::fs::write(a.out.join("labels.json"), serde_json::to_string(&inputs.labels)?)?;
    println!(
        "{}",
        json!({
            "kind": "setup", "windows": w, "batch": b, "example_shape": shape,
            "warmup": a.warmup, "repeats": a.repeats, "repeats_batch": a.repeats_batch,
            "inputs_from": a.data.display().to_string(), "features_ms": t.elapsed().as_secs_f64() * 1e3,
            "noise_sigma": reference.card().training.noise_sigma,
        })
    );
    let features = format!("{:?}", reference.card().features);
    drop(reference);

    for name in &a.only {
        let path = a.models_dir.join(format!("{name}.onnx"));
        let t = Instant::now();
        let model = Model::load(&path)?;
        let load_ms = t.elapsed().as_secs_f64() * 1e3;
        if format!("{:?}", model.card().features) != features || model.example_len() != per {
            return Err(format!("{name}: front end or input differs from {}'s", a.only[0]).into());
        }
        let c = model.n_classes();

        // Logits at batch 1 (every window) and of the noisy batch, for the anchor's comparison.
        let mut logits = Vec::with_capacity(w * c);
        for i in 0..w {
            logits.extend(model.run(&inputs.windows[i * per..(i + 1) * per], 1)?);
        }
        let correct = logits.chunks(c).zip(&inputs.labels).filter(|(l, &y)| argmax(l) == y).count();
        npy::write_f32(&a.out.join(format!("logits-{name}.npy")), &[w, c], &logits)?;
        let logits_b = model.run(&inputs.noisy, b)?;
        npy::write_f32(&a.out.join(format!("logits-b{b}-{name}.npy")), &[b, c], &logits_b)?;

        // The engine (`Model::run`: a plan per batch size, made on first use), batch 1 and batch B.
        let (b1, bb) = time_runs(a, &inputs, |x| Ok(model.run(x, 1)?), |x| Ok(model.run(x, b)?))?;
        println!(
            "{}",
            json!({
                "kind": "model", "engine": "tract", "plan": "engine (Model::run)", "model": name,
                "precision": model.card().precision, "load_ms": load_ms,
                "accuracy": correct as f64 / w as f64, "b1": b1, "batch": bb,
            })
        );
        // Plans typed for the concrete batch sizes.
        let c1 = Concrete::new(&path, model.example_shape(), 1)?;
        let cb = Concrete::new(&path, model.example_shape(), b)?;
        let mut diff = 0.0f32;
        for i in 0..w {
            let l = c1.run(&inputs.windows[i * per..(i + 1) * per])?;
            diff = l.iter().zip(&logits[i * c..(i + 1) * c]).fold(diff, |m, (x, y)| m.max((x - y).abs()));
        }
        let diff_b = cb.run(&inputs.noisy)?.iter().zip(&logits_b).fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
        let (b1, bb) = time_runs(a, &inputs, |x| c1.run(x), |x| cb.run(x))?;
        println!(
            "{}",
            json!({
                "kind": "model", "engine": "tract-concrete", "plan": "concrete-batch", "model": name,
                "precision": model.card().precision,
                "max_abs_diff_vs_engine_plan": [diff, diff_b], "b1": b1, "batch": bb,
            })
        );

        // End to end: the pipeline's own statistics.
        let sr = model.card().features.sample_rate();
        let input = a.stream_input.display().to_string();
        let clip = audio::read_mono(&a.stream_input)?;
        let audio_s = clip.duration_s();
        let unpaced = StreamOptions::default();
        let mut lat = Vec::new();
        let stats = pipeline::stream_file(&model, &a.stream_input, ClipGain::Calibration, &unpaced, |r| {
            lat.extend(r.latency_ms)
        })?;
        println!("{}", stream_line(&model, "unpaced", input.clone(), audio_s, &stats, &lat));

        let samples = audio::resample(&clip.samples, clip.sample_rate, sr)?;
        let long: Vec<f32> = samples.iter().copied().cycle().take(samples.len() * a.stream_repeat).collect();
        let long_s = long.len() as f64 / f64::from(sr);
        let g = ClipWindow::of(model.card()).gain(&long, ClipGain::Calibration)?;
        let mut src = Memory { samples: long, pos: 0, rate: sr };
        let mut lat = Vec::new();
        let stats = pipeline::run_stream(&model, &mut src, g, (0, 0), &unpaced, |r| lat.extend(r.latency_ms))?;
        println!("{}", stream_line(&model, "unpaced", format!("{input} ×{}", a.stream_repeat), long_s, &stats, &lat));

        if a.realtime {
            let rt = StreamOptions { pacing: Pacing::RealTime { speed: 1.0 }, drop_when_behind: true, ..Default::default() };
            let mut lat = Vec::new();
            let stats = pipeline::stream_file(&model, &a.stream_input, ClipGain::Calibration, &rt, |r| {
                lat.extend(r.latency_ms)
            })?;
            println!("{}", stream_line(&model, "realtime", input, audio_s, &stats, &lat));
        }
    }
    Ok(())
}

/// Per-node timing of tract's optimized plan for `name`, batch `batch`. `symbolic`: the
/// engine's plan (batch dimension `N`); otherwise the input is typed with the concrete batch.
fn profile_model(a: &Args, name: &str, symbolic: bool, batch: usize, input: &[f32]) -> Res<()> {
    use tract_onnx::prelude::*;
    use tract_onnx::tract_core::plan::{eval, SimpleState};
    let path = a.models_dir.join(format!("{name}.onnx"));
    let engine = Model::load(&path)?;
    let shape: Vec<usize> = std::iter::once(batch).chain(engine.example_shape().iter().copied()).collect();
    let mut model = soundproof::model::onnx().model_for_path(&path)?;
    if symbolic {
        let n = model.sym("N");
        let mut dims: TVec<TDim> = tvec![n.into()];
        dims.extend(shape[1..].iter().map(|&d| TDim::from(d as i64)));
        model.set_input_fact(0, f32::fact(dims).into())?;
    } else {
        model.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), &shape))?;
    }
    let plan = model.into_optimized()?.into_runnable()?;
    let x: TValue = Tensor::from_shape(&shape, input)?.into_tvalue();
    let n = plan.model().nodes().len();
    let mut times = vec![0.0f64; n];
    let mut state = SimpleState::new(&plan)?;
    let warm = (a.profile_iters / 10).max(2);
    // Whole runs first (no per-node hook), then per-node timing.
    for _ in 0..warm {
        black_box(state.run(tvec![x.clone()])?);
    }
    let mut whole = Vec::new();
    for _ in 0..a.profile_iters {
        let t = Instant::now();
        black_box(state.run(tvec![x.clone()])?);
        whole.push(t.elapsed().as_secs_f64() * 1e3);
    }
    for _ in 0..a.profile_iters {
        state.run_plan_with_eval(tvec![x.clone()], |ctx, st, node, inputs| {
            let t = Instant::now();
            let r = eval(ctx, st, node, inputs);
            times[node.id] += t.elapsed().as_secs_f64() * 1e3;
            r
        })?;
    }
    let iters = a.profile_iters as f64;
    let m = plan.model();
    let plan_kind = if symbolic { "symbolic-batch" } else { "concrete-batch" };
    let total: f64 = times.iter().sum::<f64>() / iters;
    let (whole_med, _) = median_p90(&whole);
    println!(
        "{}",
        json!({"kind": "profile-total", "model": name, "plan": plan_kind, "batch": batch,
               "run_median_ms": whole_med, "sum_of_nodes_ms": total, "nodes": n, "iters": a.profile_iters})
    );
    let mut by_op: Vec<(String, f64, usize)> = Vec::new();
    for i in m.eval_order()? {
        let nd = m.node(i);
        let op = nd.op().name().to_string();
        let ms = times[i] / iters;
        let dt = nd.outputs.first().map(|o| format!("{:?}", o.fact.datum_type)).unwrap_or_default();
        let shp = nd.outputs.first().map(|o| format!("{:?}", o.fact.shape)).unwrap_or_default();
        println!(
            "{}",
            json!({"kind": "profile-node", "model": name, "plan": plan_kind, "batch": batch, "node": nd.name,
                   "op": op, "out": format!("{dt} {shp}"), "ms": ms, "share": ms / total})
        );
        match by_op.iter_mut().find(|(o, _, _)| *o == op) {
            Some(e) => {
                e.1 += ms;
                e.2 += 1
            }
            None => by_op.push((op, ms, 1)),
        }
    }
    by_op.sort_by(|x, y| y.1.total_cmp(&x.1));
    for (op, ms, count) in by_op {
        println!(
            "{}",
            json!({"kind": "profile-op", "model": name, "plan": plan_kind, "batch": batch, "op": op,
                   "nodes": count, "ms": ms, "share": ms / total})
        );
    }
    Ok(())
}

fn profile(a: &Args) -> Res<()> {
    let reference = Model::load(a.models_dir.join(format!("{}.onnx", a.only[0])))?;
    let inputs = build_inputs(&reference, a)?;
    drop(reference);
    for name in &a.only {
        for symbolic in [true, false] {
            profile_model(a, name, symbolic, 1, &inputs.windows[..inputs.per])?;
        }
        profile_model(a, name, true, a.batch, &inputs.noisy)?;
    }
    Ok(())
}

fn main() {
    let a = parse_args();
    let r = if a.profile { profile(&a) } else { bench(&a) };
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

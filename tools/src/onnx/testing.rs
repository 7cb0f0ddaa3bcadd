//! Fixtures for the export tests and the speed example: model cards, seeded random weights,
//! 003's log-mel CNN built through [`Graph`], FSDD log-mel windows from the engine's own front
//! end, and the onnxruntime reference (`tests/reference/onnx_ref.py`).

use soundproof::dataset::{wav_files, FsddName, FsddSplit};
use super::{Array, Graph, ModelProto};
use anyhow::{bail, ensure, Context};
use soundproof::dsp::{FeatureConfig, FeatureKind, FrontEnd, GainPolicy};
use soundproof::model::card::{InputKind, Metrics, Normalization, Training, CARD_VERSION};
use soundproof::model::{ModelCard, Precision};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Samples per model window (1 s at 16 kHz) and the log-mel map it yields (003).
pub const WINDOW: usize = 16000;
pub const FRAMES: usize = 101;
pub const MELS: usize = 64;
/// RMS every clip is scaled to before the front end (003 Contract 1).
pub const TARGET_RMS: f32 = 0.05;

/// A valid f32 card for a model on 1 s windows: log-mel features `[-1, 1, 101, 64]`, or the raw
/// waveform `[-1, 1, 16000]`.
pub fn card(name: &str, input: InputKind, labels: usize) -> ModelCard {
    let features = FeatureConfig::new(FeatureKind::Logmel);
    let sr = features.sample_rate() as f64;
    let input_shape = match input {
        InputKind::Features => vec![-1, 1, FRAMES as i64, MELS as i64],
        InputKind::Waveform => vec![-1, 1, WINDOW as i64],
    };
    ModelCard {
        card_version: CARD_VERSION,
        name: name.into(),
        architecture: "test".into(),
        precision: Precision::F32,
        parent: None,
        input,
        input_name: "features".into(),
        input_shape,
        output_name: "logits".into(),
        features,
        normalization: Normalization {
            target_rms: TARGET_RMS,
            calibration_gain: 1.0,
        },
        window_samples: WINDOW,
        hop_samples: WINDOW / 2,
        window_s: WINDOW as f64 / sr,
        hop_s: (WINDOW / 2) as f64 / sr,
        resize: None,
        labels: (0..labels).map(|i| i.to_string()).collect(),
        training: Training {
            noise_sigma: 0.0,
            dataset: "none (random weights)".into(),
            split: "none".into(),
            epochs: 0,
            seed: 0,
            command: String::new(),
            training_seconds: 0.0,
        },
        metrics: Metrics {
            test_accuracy: 0.0,
            test_examples: 0,
            validation_accuracy: None,
            accuracy_drop_points: None,
            cross_validation: None,
        },
    }
}

/// Seeded generator (splitmix64) for reproducible weights without a dependency on an RNG API.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x2545_f491_4f6c_dd1d)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box-Muller).
    pub fn normal(&mut self) -> f32 {
        let u1 = (self.uniform() as f64).max(1e-12);
        let u2 = self.uniform() as f64;
        ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
    }

    /// An array of `shape` with normal entries of standard deviation `std` around `mean`.
    pub fn array(&mut self, shape: &[usize], mean: f32, std: f32) -> Array {
        let n = shape.iter().product();
        Array {
            shape: shape.to_vec(),
            data: (0..n).map(|_| mean + std * self.normal()).collect(),
        }
    }
}

/// Conv (He-initialized, with bias) + BatchNorm (gamma ≈ 1, beta ≈ 0, running stats near the
/// identity) + ReLU + 2×2 max-pool: one block of 003's CNN.
pub fn conv_block(g: &mut Graph, rng: &mut Rng, x: &str, c_in: usize, c_out: usize) -> String {
    let std = (2.0 / (9 * c_in) as f32).sqrt();
    let w = rng.array(&[c_out, c_in, 3, 3], 0.0, std);
    let b = rng.array(&[c_out], 0.0, 0.05);
    let y = g.conv(x, w, Some(b), &[1, 1], &[1, 1], &[1, 1], 1);
    let y = g.batch_norm(
        &y,
        rng.array(&[c_out], 1.0, 0.1),
        rng.array(&[c_out], 0.0, 0.1),
        rng.array(&[c_out], 0.0, 0.1),
        Array {
            shape: vec![c_out],
            data: (0..c_out).map(|_| 0.8 + 0.4 * rng.uniform()).collect(),
        },
        1e-5,
    );
    let y = g.relu(&y);
    g.max_pool(&y, &[2, 2], &[2, 2], &[0, 0])
}

/// 003's log-mel CNN body: conv blocks of `widths` channels on `[N, 1, 101, 64]`, global mean.
/// Returns the `[N, widths.last()]` embedding.
pub fn kws_cnn_body(g: &mut Graph, rng: &mut Rng, widths: &[usize]) -> String {
    let mut x = g.input();
    let mut c_in = 1;
    for &c in widths {
        x = conv_block(g, rng, &x, c_in, c);
        c_in = c;
    }
    let x = g.global_average_pool(&x);
    g.flatten(&x)
}

/// 003's CNN (`widths` = 32-64-128-128: ~75 M multiply-adds per window) with seeded random
/// weights and a random linear head to `classes`.
pub fn kws_cnn(seed: u64, widths: &[usize], classes: usize) -> anyhow::Result<ModelProto> {
    let mut rng = Rng::new(seed);
    let mut g = Graph::new("features", &[-1, 1, FRAMES as i64, MELS as i64]);
    let h = kws_cnn_body(&mut g, &mut rng, widths);
    let c = *widths.last().context("no conv blocks")?;
    let w = rng.array(&[classes, c], 0.0, (1.0 / c as f32).sqrt());
    let b = rng.array(&[classes], 0.0, 0.1);
    let y = g.linear(&h, w, Some(b));
    let mut card = card("kws-cnn-random", InputKind::Features, classes);
    card.architecture = format!("kws-cnn {widths:?}");
    card.training.seed = seed;
    g.finish(&y, &card)
}

/// Runs `model` in tract on `windows` (each `[1, ...]`) in batches of 16; returns the output
/// rows, each flattened.
fn run_rows(model: &ModelProto, windows: &[&Array]) -> anyhow::Result<Vec<Vec<f32>>> {
    let mut rows = Vec::new();
    for chunk in windows.chunks(16) {
        let batch = stack(&chunk.iter().map(|a| (*a).clone()).collect::<Vec<_>>())?;
        let y = super::run_tract(model, &batch)?;
        let per = y.data.len() / chunk.len();
        rows.extend(y.data.chunks(per).map(<[f32]>::to_vec));
    }
    Ok(rows)
}

/// 003's CNN as a stand-in for a trained model, without training: random He-initialized
/// convolutions whose BatchNorm statistics are those of the training windows (as a trained
/// network's running statistics are, so every block sees normalized activations), and a
/// nearest-class-mean head on the embeddings of `train` (`(window [1, 1, 101, 64], label)`):
/// logit_c = s·(w_c·h + b_c), w_c = μ_c − m, b_c = −w_c·m − |w_c|²/2 (μ_c: mean embedding of
/// class c, m: mean of the class means), `s` setting the mean logit spread of a window to 10.
/// Its decisions depend on the input and its logits have a trained model's scale.
pub fn kws_cnn_fitted(
    seed: u64,
    widths: &[usize],
    train: &[(Array, usize)],
    classes: usize,
) -> anyhow::Result<ModelProto> {
    let mut rng = Rng::new(seed);
    let mut g = Graph::new("features", &[-1, 1, FRAMES as i64, MELS as i64]);
    let mut card = card("kws-cnn-ncm", InputKind::Features, classes);
    card.architecture = format!(
        "kws-cnn {widths:?}, BN statistics of the training windows, nearest-class-mean head"
    );
    card.training.seed = seed;
    card.output_name = "probe".into();
    let windows: Vec<&Array> = train.iter().map(|(a, _)| a).collect();
    let bn_windows = &windows[..windows.len().min(128)];
    let mut x = g.input();
    let mut c_in = 1;
    for &c in widths {
        let std = (2.0 / (9 * c_in) as f32).sqrt();
        let y = g.conv(
            &x,
            rng.array(&[c, c_in, 3, 3], 0.0, std),
            Some(rng.array(&[c], 0.0, 0.05)),
            &[1, 1],
            &[1, 1],
            &[1, 1],
            1,
        );
        let rows = run_rows(&g.clone().finish(&y, &card)?, bn_windows)?;
        let plane = rows[0].len() / c;
        let (mut mean, mut var) = (vec![0.0f64; c], vec![0.0f64; c]);
        for r in &rows {
            for (k, v) in r.iter().enumerate() {
                mean[k / plane] += *v as f64;
                var[k / plane] += *v as f64 * *v as f64;
            }
        }
        let n = (rows.len() * plane) as f64;
        let mean: Vec<f32> = mean.iter().map(|s| (s / n) as f32).collect();
        let var: Vec<f32> = var
            .iter()
            .zip(&mean)
            .map(|(s, m)| ((s / n) as f32 - m * m).max(1e-6))
            .collect();
        let y = g.batch_norm(
            &y,
            rng.array(&[c], 1.0, 0.1),
            rng.array(&[c], 0.0, 0.1),
            Array {
                shape: vec![c],
                data: mean,
            },
            Array {
                shape: vec![c],
                data: var,
            },
            1e-5,
        );
        let y = g.relu(&y);
        x = g.max_pool(&y, &[2, 2], &[2, 2], &[0, 0]);
        c_in = c;
    }
    let h = g.global_average_pool(&x);
    let h = g.flatten(&h);
    let c = c_in;
    let emb = run_rows(&g.clone().finish(&h, &card)?, &windows)?;
    let mut sums = vec![vec![0.0f64; c]; classes];
    let mut counts = vec![0usize; classes];
    for (e, (_, label)) in emb.iter().zip(train) {
        counts[*label] += 1;
        for (s, v) in sums[*label].iter_mut().zip(e) {
            *s += *v as f64;
        }
    }
    ensure!(
        counts.iter().all(|&n| n > 0),
        "every class needs training windows: {counts:?}"
    );
    let mu: Vec<Vec<f64>> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &n)| s.iter().map(|v| v / n as f64).collect())
        .collect();
    let m: Vec<f64> = (0..c)
        .map(|j| mu.iter().map(|u| u[j]).sum::<f64>() / classes as f64)
        .collect();
    let mut w = Vec::with_capacity(classes * c);
    let mut b = Vec::with_capacity(classes);
    for u in &mu {
        let wc: Vec<f64> = u.iter().zip(&m).map(|(a, b)| a - b).collect();
        let dot: f64 = wc.iter().zip(&m).map(|(a, b)| a * b).sum();
        let norm2: f64 = wc.iter().map(|a| a * a).sum();
        b.push(-dot - norm2 / 2.0);
        w.extend(wc);
    }
    let spread: f64 = emb
        .iter()
        .map(|e| {
            let l: Vec<f64> = (0..classes)
                .map(|k| (0..c).map(|j| w[k * c + j] * e[j] as f64).sum::<f64>() + b[k])
                .collect();
            l.iter().cloned().fold(f64::MIN, f64::max) - l.iter().cloned().fold(f64::MAX, f64::min)
        })
        .sum::<f64>()
        / emb.len() as f64;
    let s = if spread > 0.0 { 10.0 / spread } else { 1.0 };
    let w = Array {
        shape: vec![classes, c],
        data: w.iter().map(|v| (v * s) as f32).collect(),
    };
    let b = Array {
        shape: vec![classes],
        data: b.iter().map(|v| (v * s) as f32).collect(),
    };
    let y = g.linear(&h, w, Some(b));
    card.output_name = "logits".into();
    g.finish(&y, &card)
}

/// Stacks windows `[1, ...]` into one batch `[n, ...]`.
pub fn stack(windows: &[Array]) -> anyhow::Result<Array> {
    ensure!(!windows.is_empty(), "nothing to stack");
    let mut shape = windows[0].shape.clone();
    ensure!(
        windows.iter().all(|w| w.shape == shape),
        "windows of different shapes"
    );
    shape[0] = windows.iter().map(|w| w.shape[0]).sum();
    Ok(Array {
        shape,
        data: windows
            .iter()
            .flat_map(|w| w.data.iter().copied())
            .collect(),
    })
}

/// The workspace root (parent of the `tools` crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// FSDD split of DESIGN.md: recordings 0-4 of each speaker and digit are the test set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

/// Up to `n` log-mel windows `[1, 1, 101, 64]` of FSDD recordings of `split`, with their digit,
/// computed by the engine's front end (003 Contract 1: clip scaled to RMS [`TARGET_RMS`],
/// resampled to 16 kHz, cropped or zero-padded to 1 s). Files are taken evenly over the sorted
/// list so that every speaker and digit appears.
pub fn fsdd_windows(split: Split, n: usize) -> anyhow::Result<Vec<(Array, usize)>> {
    let dir = workspace_root()
        .join("..")
        .join("shared")
        .join("data")
        .join("fsdd")
        .join("recordings");
    let want = if split == Split::Test { FsddSplit::Test } else { FsddSplit::Train };
    let files: Vec<(PathBuf, usize)> = wav_files(&dir, false)
        .with_context(|| "FSDD recordings (clone the project beside ../shared)")?
        .into_iter()
        .filter_map(|p| {
            let name = FsddName::of(&p)?;
            let side = if name.split() == FsddSplit::Test { FsddSplit::Test } else { FsddSplit::Train };
            (side == want).then_some((p.clone(), name.digit as usize))
        })
        .collect();
    if files.is_empty() {
        bail!("no FSDD recordings in {}", dir.display());
    }
    let cfg = FeatureConfig::new(FeatureKind::Logmel);
    let mut fe: Box<FrontEnd> = Box::new(FrontEnd::new(&cfg)?);
    let mut out = Vec::new();
    // Every `len / n`-th file from the first: the windows these fixtures were calibrated and
    // measured on (not `dataset::evenly`, whose picks differ when n does not divide the list).
    let step = (files.len() / n.max(1)).max(1);
    for (path, digit) in files.iter().step_by(step).take(n) {
        let clip = soundproof::audio::read_mono(path)?;
        let mut x =
            soundproof::audio::resample(&clip.samples, clip.sample_rate, cfg.sample_rate())?;
        GainPolicy::Rms { target: TARGET_RMS }.apply(&mut x).ok();
        x.resize(WINDOW, 0.0);
        fe.reset();
        let mut data = Vec::with_capacity(FRAMES * MELS);
        fe.push(
            &x,
            &mut |f: &[f32]| -> Result<(), soundproof::dsp::DspError> {
                data.extend_from_slice(f);
                Ok(())
            },
        )?;
        fe.finish(&mut |f: &[f32]| -> Result<(), soundproof::dsp::DspError> {
            data.extend_from_slice(f);
            Ok(())
        })?;
        ensure!(
            data.len() == FRAMES * MELS,
            "{}: {} features, expected {FRAMES}×{MELS}",
            path.display(),
            data.len()
        );
        out.push((
            Array {
                shape: vec![1, 1, FRAMES, MELS],
                data,
            },
            *digit,
        ));
    }
    Ok(out)
}

/// The reference interpreter: `$SOUNDPROOF_PYTHON`, else the workspace's `.venv`.
pub fn python() -> PathBuf {
    std::env::var_os("SOUNDPROOF_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join(".venv").join("bin").join("python"))
}

fn onnx_ref(args: &[&str]) -> anyhow::Result<String> {
    let script = workspace_root()
        .join("tests")
        .join("reference")
        .join("onnx_ref.py");
    let out = Command::new(python())
        .arg(&script)
        .args(args)
        .output()
        .with_context(|| format!("starting {} (set SOUNDPROOF_PYTHON)", python().display()))?;
    if !out.status.success() {
        bail!(
            "{} {args:?} failed:\n{}",
            script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs the saved model at `model` in onnxruntime (one thread, after onnx.checker) on `input`;
/// `scratch` holds the .npy files.
pub fn ort_run(model: &Path, input: &Array, scratch: &Path) -> anyhow::Result<Array> {
    let stem = model
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("model");
    let (inp, outp) = (
        scratch.join(format!("{stem}.in.npy")),
        scratch.join(format!("{stem}.out.npy")),
    );
    soundproof::npy::write_f32(&inp, &input.shape, &input.data)?;
    onnx_ref(&["run", path_str(model)?, path_str(&inp)?, path_str(&outp)?])?;
    let a = soundproof::npy::read(&outp)?;
    Array::new(&a.shape, a.data.iter().map(|v| *v as f32).collect())
}

/// onnxruntime timing of the saved model (see `onnx_ref.py bench`): median ms per run of a
/// batch of `batch`.
pub fn ort_bench(model: &Path, batch: usize, iters: usize) -> anyhow::Result<serde_json::Value> {
    let out = onnx_ref(&[
        "bench",
        path_str(model)?,
        &batch.to_string(),
        &iters.to_string(),
    ])?;
    Ok(serde_json::from_str(out.trim())?)
}

fn path_str(p: &Path) -> anyhow::Result<&str> {
    p.to_str()
        .with_context(|| format!("path {} is not UTF-8", p.display()))
}

/// `max |a − b| / max |b|`: the error relative to the reference's output scale.
pub fn rel_max_diff(a: &Array, b: &Array) -> f32 {
    assert_eq!(a.shape, b.shape, "shapes differ");
    let d = a
        .data
        .iter()
        .zip(&b.data)
        .fold(0.0f32, |m, (x, y)| m.max((x - y).abs()));
    d / b.max_abs().max(f32::MIN_POSITIVE)
}

/// Index of the largest value of each row of a `[n, k]` array.
pub fn argmax_rows(a: &Array) -> Vec<usize> {
    let k = *a.shape.last().unwrap_or(&1);
    a.data
        .chunks(k)
        .map(|r| {
            r.iter()
                .enumerate()
                .fold(
                    (0, f32::NEG_INFINITY),
                    |b, (i, &v)| if v > b.1 { (i, v) } else { b },
                )
                .0
        })
        .collect()
}

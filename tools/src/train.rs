//! Training through tch with 003 §5's recipe: AdamW (lr 1e-3, weight decay 1e-4), gradient
//! clipping at global norm 1.0, cosine decay of the learning rate per step, waveform Gaussian
//! noise augmentation (σ = 0.005, in the certified space) plus a random time shift, early
//! stopping on validation accuracy with a patience, best checkpoint kept. 003 also trains in
//! bfloat16 mixed precision; we train in f32 (CPU-first; the exported model is f32 either way).
//!
//! Output folder: `model.safetensors` + `checkpoint.json` (the best epoch), `train_log.json`
//! (rewritten after every epoch: loss, train/validation accuracy, lr, seconds, clips/s) and
//! `training_curve.png`.

use crate::checkpoint::Checkpoint;
use crate::data::augment::{Augment, Background, Banks, Rooms};
use crate::data::features::{Augmenting, Batcher};
use crate::data::{prepare, DatasetSpec, Prepared};
use soundproof::window::ClipWindow;
use crate::device::{self, derive_seed, DeviceChoice};
use crate::error::{Result, ToolsError};
use crate::nn::{Arch, Model, ModelSpec};
use crate::plot;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use soundproof::dsp::{FeatureConfig, FeatureKind};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{nn, nn::OptimizerConfig, Device, Kind, Tensor};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainConfig {
    pub arch: Arch,
    pub width: f64,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Global gradient-norm clip.
    pub clip_norm: f64,
    /// Epochs without a better validation accuracy before stopping.
    pub patience: usize,
    pub augment: Augment,
    /// Mixup's α (Zhang et al. 2018): each training batch is mixed with a permutation of
    /// itself, `λ·x + (1 − λ)·x[π]` with `λ ~ Beta(α, α)` drawn per batch, and the loss is
    /// `λ·CE(y) + (1 − λ)·CE(y[π])`. The model inputs are mixed (maps for feature models,
    /// after SpecAugment). 0 (the default) draws nothing.
    #[serde(default)]
    pub mixup: f64,
    /// Folder of `.wav` clips mixed in as background noise (`augment.background_prob`).
    #[serde(default)]
    pub background: Option<PathBuf>,
    /// Only the background clips of these ESC folds (file names `K-…`; `None`: all).
    #[serde(default)]
    pub background_folds: Option<Vec<u32>>,
    /// More training clips in FSDD's naming (e.g. synthetic voices), added to the training
    /// split only ([`crate::data::fsdd::extra`]); FSDD datasets only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_train: Option<PathBuf>,
    pub seed: u64,
    pub device: DeviceChoice,
    /// libtorch CPU threads (`None`: libtorch's default).
    pub threads: Option<usize>,
    /// Gain normalization target: `s = target_rms / RMS(window)` (003 normalizes to RMS 1).
    pub target_rms: f32,
    pub sample_rate: u32,
    /// Window length in seconds (`None`: the dataset's, 1 s keywords, 5 s ESC).
    pub seconds: Option<f64>,
    /// Streaming hop as a fraction of the window (recorded in the card).
    pub hop_fraction: f64,
    /// Front end of feature models: 003's defaults of this kind at `sample_rate`...
    pub features: FeatureKind,
    /// ...unless the whole front end is given (its sample rate is set to `sample_rate`).
    #[serde(default)]
    pub feature_config: Option<FeatureConfig>,
    /// Keep at most this many examples per split (quick runs, tests).
    pub max_per_split: Option<usize>,
    /// Exact command line, for the card.
    pub command: String,
    /// No progress bars or per-epoch lines.
    pub quiet: bool,
}

impl TrainConfig {
    /// 003's recipe for `arch`.
    pub fn new(arch: Arch) -> Self {
        TrainConfig {
            arch,
            width: 1.0,
            epochs: 30,
            batch_size: 64,
            lr: 1e-3,
            weight_decay: 1e-4,
            clip_norm: 1.0,
            patience: 10,
            augment: Augment { sigma: 0.005, noise_prob: 1.0, max_shift: 1600, ..Augment::NONE },
            mixup: 0.0,
            background: None,
            background_folds: None,
            extra_train: None,
            seed: 0,
            device: DeviceChoice::Auto,
            threads: None,
            target_rms: 1.0,
            sample_rate: 16_000,
            seconds: None,
            hop_fraction: 0.25,
            features: FeatureKind::Logmel,
            feature_config: None,
            max_per_split: None,
            command: String::new(),
            quiet: false,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EpochLog {
    pub epoch: usize,
    pub loss: f64,
    pub train_accuracy: f64,
    pub val_accuracy: f64,
    pub lr: f64,
    pub seconds: f64,
    pub clips_per_s: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainReport {
    pub config: TrainConfig,
    pub dataset: String,
    pub split: String,
    pub device: String,
    pub threads: i32,
    pub train_examples: usize,
    pub validation_examples: usize,
    pub test_examples: usize,
    pub input_shape: Vec<i64>,
    pub macs: u64,
    pub parameters: usize,
    /// Seconds to read, resample and normalize every clip.
    pub prepare_seconds: f64,
    pub epochs: Vec<EpochLog>,
    pub best_epoch: usize,
    pub best_val_accuracy: f64,
    pub test_accuracy: f64,
    /// Sum of the epochs' seconds (feature extraction + forward/backward + validation).
    pub training_seconds: f64,
    /// Training clips per second over all epochs (training passes only).
    pub clips_per_s: f64,
    pub stopped_early: bool,
    pub out: PathBuf,
}

/// The streaming hop: `hop_fraction` of the window, rounded to whole frames of the front end
/// (the engine slices windows from its frame stream, so the hop must be a multiple of the
/// frame hop: at 8 kHz a quarter second is 2000 samples, 12.5 hops of 160).
fn window_hop(window: usize, hop_fraction: f64, features: Option<&FeatureConfig>) -> usize {
    let want = window as f64 * hop_fraction;
    match features.map(|f| f.framing().1).filter(|&h| h > 0) {
        Some(h) => (((want / h as f64).round() as usize).max(1) * h).min(window.max(h)),
        None => (want.round() as usize).clamp(1, window),
    }
}

/// Mixup of a batch `x` `[B, ...]`: `(λ·x + (1 − λ)·x[π], π, λ)` with `λ ~ Beta(α, α)` and
/// `π` a uniform permutation, both from `rng`.
pub fn mixup(x: &Tensor, alpha: f64, rng: &mut StdRng) -> Result<(Tensor, Tensor, f64)> {
    use rand_distr::Distribution;
    let beta = rand_distr::Beta::new(alpha, alpha).map_err(|_| ToolsError::invalid("mixup", alpha, "α > 0"))?;
    let lambda: f64 = beta.sample(rng);
    let mut order: Vec<i64> = (0..x.size()[0]).collect();
    order.shuffle(rng);
    let perm = Tensor::from_slice(&order).to_device(x.device());
    let mixed = x * lambda + x.index_select(0, &perm) * (1.0 - lambda);
    Ok((mixed, perm, lambda))
}

/// Cosine decay from `lr` at step 0 to 0 at `total`.
/// Scales the gradients of `vs`'s trainable variables so that their global L2 norm is at most
/// `max` (tch's `Optimizer::clip_grad_norm`, same arithmetic: the norm of the per-variable
/// norms, the factor `max / (norm + 1e-6)` in float64, applied when below 1), computed on the
/// device: tch's reads the norm back to the host at every step, which stalls a GPU.
pub fn clip_grad_norm(vs: &nn::VarStore, max: f64) {
    tch::no_grad(|| {
        let vars = vs.trainable_variables();
        let norms: Vec<Tensor> = vars.iter().map(|v| v.grad()).filter(|g| g.defined()).map(|g| g.norm()).collect();
        if norms.is_empty() {
            return;
        }
        let total = Tensor::stack(&norms, 0).norm().to_kind(Kind::Double) + 1e-6;
        // Factors ≥ 1 become exactly 1 (a no-op multiplication), as tch skips them.
        let coef = (Tensor::full([], max, (Kind::Double, total.device())) / total).clamp_max(1.0).to_kind(Kind::Float);
        for v in &vars {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.g_mul_(&coef.to_kind(g.kind()));
            }
        }
    })
}

pub fn cosine_lr(lr: f64, step: usize, total: usize) -> f64 {
    if total == 0 {
        return lr;
    }
    0.5 * lr * (1.0 + (std::f64::consts::PI * step as f64 / total as f64).cos())
}

/// Accuracy and predictions of `model` on `data` (eval mode, clean inputs).
pub fn evaluate(model: &Model, batcher: &mut Batcher, data: &Prepared, batch: usize, device: Device) -> Result<(f64, Vec<i64>)> {
    let mut preds = Vec::with_capacity(data.len());
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let (x, _) = batcher.batch(data, chunk, None)?;
        let p = tch::no_grad(|| model.forward_t(&x.to_device(device), false).argmax(-1, false));
        preds.extend(Vec::<i64>::try_from(p.to_device(Device::Cpu))?);
    }
    let correct = preds.iter().zip(&data.labels).filter(|(a, b)| a == b).count();
    Ok((correct as f64 / data.len().max(1) as f64, preds))
}

struct Progress {
    multi: MultiProgress,
    epochs: ProgressBar,
    batches: ProgressBar,
    plain: bool,
}

impl Progress {
    fn new(epochs: usize, quiet: bool) -> Self {
        let target = if quiet || !std::io::stderr().is_terminal() { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        let multi = MultiProgress::with_draw_target(target);
        let style = |t: &str| ProgressStyle::with_template(t).unwrap_or_else(|_| ProgressStyle::default_bar());
        let epochs = multi.add(ProgressBar::new(epochs as u64));
        epochs.set_style(style("epoch {pos}/{len} [{bar:30}] {elapsed_precise} (eta {eta}) {msg}"));
        let batches = multi.add(ProgressBar::new(0));
        batches.set_style(style("  batch {pos}/{len} [{bar:30}] {per_sec} {msg}"));
        Progress { multi, epochs, batches, plain: !quiet && !std::io::stderr().is_terminal() }
    }

    fn line(&self, s: &str) {
        if self.plain {
            eprintln!("{s}");
        } else {
            let _ = self.multi.println(s);
        }
    }
}

fn write_json<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(v).map_err(|e| ToolsError::Json { path: path.to_path_buf(), source: e })?;
    std::fs::write(path, json + "\n").map_err(|e| ToolsError::io(path, e))
}

/// The median of the finite values of `v` (1 when there are none).
fn median(v: &[f32]) -> f32 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).map(f64::from).collect();
    soundproof::stats::median(&mut s).map_or(1.0, |m| m as f32)
}

/// Simulated rooms drawn for reverberation (`--reverb`), and the length their responses are cut
/// at (the late tail of the most reverberant rooms, RT60 about 0.6 s, is dropped).
const ROOMS: usize = 200;
const ROOM_SECONDS: f64 = 0.5;

/// Trains `cfg.arch` on `dataset`, writing everything into `out`.
pub fn train(cfg: &TrainConfig, dataset: &DatasetSpec, out: &Path) -> Result<TrainReport> {
    if cfg.batch_size < 2 {
        return Err(ToolsError::invalid("batch size", cfg.batch_size, ">= 2 (batch norm needs two examples)"));
    }
    if cfg.epochs == 0 {
        return Err(ToolsError::invalid("epochs", 0, ">= 1"));
    }
    if !(cfg.augment.sigma >= 0.0 && cfg.augment.sigma.is_finite()) {
        return Err(ToolsError::invalid("sigma", cfg.augment.sigma, "a finite value >= 0"));
    }
    let a = &cfg.augment;
    if !(a.speed >= 0.0 && a.speed < 0.5) {
        return Err(ToolsError::invalid("speed", a.speed, "a value in [0, 0.5)"));
    }
    if !(a.pitch >= 0.0 && a.pitch <= 12.0) {
        return Err(ToolsError::invalid("pitch", a.pitch, "a range in semitones in [0, 12]"));
    }
    if !(a.gain_db >= 0.0 && a.gain_db <= 60.0) {
        return Err(ToolsError::invalid("gain", a.gain_db, "a range in dB in [0, 60]"));
    }
    if !((0.0..=1.0).contains(&a.reverb_prob)) {
        return Err(ToolsError::invalid("reverberation probability", a.reverb_prob, "a probability in [0, 1]"));
    }
    if !((0.0..=1.0).contains(&a.background_prob)) {
        return Err(ToolsError::invalid("background probability", a.background_prob, "a probability in [0, 1]"));
    }
    if !(a.snr_db[0].is_finite() && a.snr_db[1].is_finite() && a.snr_db[0] <= a.snr_db[1]) {
        return Err(ToolsError::invalid("SNR", format!("{:?}", a.snr_db), "LOW:HIGH in dB with LOW <= HIGH"));
    }
    if (a.background_prob > 0.0) != cfg.background.is_some() {
        return Err(ToolsError::invalid("background", format!("{:?}", cfg.background), "a folder of clips exactly when the background probability is > 0"));
    }
    if (a.freq_mask > 0 || a.time_mask > 0) && cfg.arch.takes_waveform() {
        return Err(ToolsError::invalid("SpecAugment masks", cfg.arch.name(), "a model on features (a waveform model has no spectrogram to mask)"));
    }
    std::fs::create_dir_all(out).map_err(|e| ToolsError::io(out, e))?;
    // Resolve first: it loads libtorch's CUDA backend, which seeding must see.
    let dev = device::resolve(cfg.device)?;
    device::seed_everything(cfg.seed, cfg.threads);
    let progress = Progress::new(cfg.epochs, cfg.quiet);

    let mut index = dataset.index()?;
    if let Some(max) = cfg.max_per_split {
        index = index.subsample(max);
    }
    if let Some(dir) = &cfg.extra_train {
        if index.name != "fsdd" {
            return Err(ToolsError::invalid("extra training clips", index.name.clone(), "an FSDD dataset (the clips are labelled by FSDD's file names)"));
        }
        let extra = crate::data::fsdd::extra(dir, &index)?;
        index.split = format!("{}; plus {} extra training clips from {}", index.split, extra.len(), dir.display());
        index.train.extend(extra);
    }
    let seconds = cfg.seconds.unwrap_or(index.clip_seconds);
    if !(seconds > 0.0 && seconds.is_finite()) {
        return Err(ToolsError::invalid("seconds", seconds, "a window length > 0"));
    }
    let window = (seconds * cfg.sample_rate as f64).round() as usize;
    let clip_window = ClipWindow { sample_rate: cfg.sample_rate, window_samples: window, target_rms: cfg.target_rms, calibration_gain: None };
    let t0 = Instant::now();
    progress.line(&format!(
        "{}: preparing {} / {} / {} clips (train / validation / test) at {} Hz, {} samples",
        index.name,
        index.train.len(),
        index.validation.len(),
        index.test.len(),
        cfg.sample_rate,
        window
    ));
    let banks = Banks {
        background: match &cfg.background {
            Some(dir) => Some(Background::load(dir, cfg.sample_rate, cfg.background_folds.as_deref())?),
            None => None,
        },
        rooms: match cfg.augment.reverb_prob > 0.0 {
            true => Some(Rooms::new(ROOMS, ROOM_SECONDS, cfg.sample_rate, window, cfg.seed)?),
            false => None,
        },
    };
    let train = prepare(&clip_window, &index.train)?;
    let val = prepare(&clip_window, &index.validation)?;
    let test = prepare(&clip_window, &index.test)?;
    let prepare_seconds = t0.elapsed().as_secs_f64();

    let features = (!cfg.arch.takes_waveform())
        .then(|| cfg.feature_config.unwrap_or_else(|| FeatureConfig::new(cfg.features)).with_sample_rate(cfg.sample_rate));
    let mut batcher = Batcher::cached(features.as_ref(), window)?;
    let spec = ModelSpec {
        arch: cfg.arch,
        n_classes: index.labels.len(),
        input_shape: batcher.example_shape(),
        width: cfg.width,
        sample_rate: cfg.sample_rate,
        folded: false,
    };
    let vs = nn::VarStore::new(dev);
    let model = Model::new(&vs.root(), &spec)?;
    let parameters: usize = vs.trainable_variables().iter().map(|t| t.numel()).sum();
    let macs = model.macs();
    progress.line(&format!(
        "{}: input {:?}, {:.2} M multiply-adds per window, {} trainable parameters, device {}, {} threads",
        cfg.arch.name(),
        spec.input_shape,
        macs as f64 / 1e6,
        parameters,
        device::name(dev),
        tch::get_num_threads()
    ));

    let mut opt = nn::AdamW { beta1: 0.9, beta2: 0.999, wd: cfg.weight_decay, eps: 1e-8, amsgrad: false }.build(&vs, cfg.lr)?;
    let steps_per_epoch = train.len().div_ceil(cfg.batch_size);
    let total_steps = steps_per_epoch * cfg.epochs;
    let weights = Checkpoint::weights(out);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut log: Vec<EpochLog> = Vec::new();
    let (mut best_epoch, mut best_val) = (0usize, -1.0f64);
    let mut step = 0usize;
    let mut stopped_early = false;
    let mut report = TrainReport {
        config: cfg.clone(),
        dataset: index.name.clone(),
        split: index.split.clone(),
        device: device::name(dev),
        threads: tch::get_num_threads(),
        train_examples: train.len(),
        validation_examples: val.len(),
        test_examples: test.len(),
        input_shape: spec.input_shape.clone(),
        macs,
        parameters,
        prepare_seconds,
        epochs: Vec::new(),
        best_epoch: 0,
        best_val_accuracy: 0.0,
        test_accuracy: 0.0,
        training_seconds: 0.0,
        clips_per_s: 0.0,
        stopped_early: false,
        out: out.to_path_buf(),
    };
    let mut train_clip_seconds = 0.0;
    let aug = |epoch| Augmenting { augment: &cfg.augment, banks: &banks, seed: cfg.seed, epoch };

    for epoch in 1..=cfg.epochs {
        let te = Instant::now();
        order.shuffle(&mut StdRng::seed_from_u64(derive_seed(cfg.seed, &[u64::MAX, epoch as u64])));
        // Loss and accuracy accumulate on the device and are read once per epoch (and for the
        // progress message at most once a second): no host round trip per step.
        let mut loss_sum = Tensor::zeros([], (Kind::Double, dev));
        let mut correct = Tensor::zeros([], (Kind::Int64, dev));
        let mut seen = 0usize;
        let mut shown = Instant::now();
        progress.batches.set_length(steps_per_epoch as u64);
        progress.batches.set_position(0);
        let mut lr = cfg.lr;
        for chunk in order.chunks(cfg.batch_size) {
            if chunk.len() < 2 {
                continue;
            }
            lr = cosine_lr(cfg.lr, step, total_steps);
            opt.set_lr(lr);
            let (x, y) = batcher.batch(&train, chunk, Some(&aug(epoch as u64)))?;
            let (x, y) = (x.to_device(dev), y.to_device(dev));
            let (logits, loss) = if cfg.mixup > 0.0 {
                let mut rng = StdRng::seed_from_u64(derive_seed(cfg.seed, &[u64::MAX - 1, epoch as u64, step as u64]));
                let (xm, perm, lambda) = mixup(&x, cfg.mixup, &mut rng)?;
                let logits = model.forward_t(&xm, true);
                let loss = logits.cross_entropy_for_logits(&y) * lambda + logits.cross_entropy_for_logits(&y.index_select(0, &perm)) * (1.0 - lambda);
                (logits, loss)
            } else {
                let logits = model.forward_t(&x, true);
                let loss = logits.cross_entropy_for_logits(&y);
                (logits, loss)
            };
            opt.zero_grad();
            loss.backward();
            clip_grad_norm(&vs, cfg.clip_norm);
            opt.step();
            loss_sum += loss.detach().to_kind(Kind::Double) * chunk.len() as f64;
            correct += logits.argmax(-1, false).eq_tensor(&y).sum(Kind::Int64);
            seen += chunk.len();
            step += 1;
            progress.batches.inc(1);
            if shown.elapsed().as_secs_f64() >= 1.0 {
                shown = Instant::now();
                progress.batches.set_message(format!("loss {:.4}", f64::try_from(&loss_sum)? / seen as f64));
            }
        }
        let (loss_sum, correct) = (f64::try_from(&loss_sum)?, i64::try_from(&correct)?);
        if !loss_sum.is_finite() {
            return Err(ToolsError::model(cfg.arch.name(), format!("loss became {loss_sum} in epoch {epoch}: lower --lr")));
        }
        let train_seconds = te.elapsed().as_secs_f64();
        train_clip_seconds += train_seconds;
        let (val_acc, _) = evaluate(&model, &mut batcher, &val, cfg.batch_size, dev)?;
        let seconds = te.elapsed().as_secs_f64();
        let entry = EpochLog {
            epoch,
            loss: loss_sum / seen.max(1) as f64,
            train_accuracy: correct as f64 / seen.max(1) as f64,
            val_accuracy: val_acc,
            lr,
            seconds,
            clips_per_s: seen as f64 / train_seconds.max(1e-9),
        };
        progress.epochs.inc(1);
        progress.line(&format!(
            "epoch {epoch:3}: loss {:.4}  train {:.2}%  val {:.2}%  lr {:.2e}  {:.1} s  {:.0} clips/s",
            entry.loss,
            100.0 * entry.train_accuracy,
            100.0 * entry.val_accuracy,
            entry.lr,
            entry.seconds,
            entry.clips_per_s
        ));
        if val_acc > best_val {
            best_val = val_acc;
            best_epoch = epoch;
            vs.save(&weights)?;
        }
        log.push(entry);
        report.epochs = log.clone();
        report.best_epoch = best_epoch;
        report.best_val_accuracy = best_val;
        report.training_seconds = log.iter().map(|e| e.seconds).sum();
        report.clips_per_s = (seen * log.len()) as f64 / train_clip_seconds.max(1e-9);
        write_json(&out.join("train_log.json"), &report)?;
        if epoch - best_epoch >= cfg.patience {
            stopped_early = true;
            progress.line(&format!("early stop: no better validation accuracy for {} epochs", cfg.patience));
            break;
        }
    }
    progress.batches.finish_and_clear();
    progress.epochs.finish_and_clear();

    // Back to the best epoch's weights for the test and the checkpoint.
    let mut vs = vs;
    vs.load(&weights)?;
    let (test_acc, _) = evaluate(&model, &mut batcher, &test, cfg.batch_size, dev)?;
    report.test_accuracy = test_acc;
    report.stopped_early = stopped_early;
    report.clips_per_s = train.len() as f64 * log.len() as f64 / train_clip_seconds.max(1e-9);
    write_json(&out.join("train_log.json"), &report)?;
    progress.line(&format!(
        "best epoch {best_epoch}: validation {:.2}%, test {:.2}% ({} clips); {:.0} s training, {:.0} clips/s",
        100.0 * best_val,
        100.0 * test_acc,
        test.len(),
        report.training_seconds,
        report.clips_per_s
    ));

    let checkpoint = Checkpoint {
        spec,
        features,
        sample_rate: cfg.sample_rate,
        window_samples: window,
        hop_samples: window_hop(window, cfg.hop_fraction, features.as_ref()),
        target_rms: cfg.target_rms,
        calibration_gain: median(&train.gains),
        labels: index.labels.clone(),
        dataset: index.name.clone(),
        split: index.split.clone(),
        noise_sigma: cfg.augment.sigma,
        epochs_run: log.len(),
        seed: cfg.seed,
        command: cfg.command.clone(),
        training_seconds: report.training_seconds,
        validation_accuracy: best_val,
        test_accuracy: test_acc,
        test_examples: test.len(),
        macs,
        parameters,
    };
    checkpoint.save(out)?;
    // A missing font must not throw away a finished training run.
    let curve: Vec<plot::CurvePoint> = log
        .iter()
        .map(|e| plot::CurvePoint { epoch: e.epoch, loss: e.loss, train_accuracy: e.train_accuracy, val_accuracy: e.val_accuracy })
        .collect();
    if let Err(e) = plot::training_curve(&curve, &format!("{} on {}", cfg.arch.name(), index.name), &out.join("training_curve.png")) {
        progress.line(&format!("warning: no training curve: {e}"));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixup_mixes_each_example_with_one_other_at_lambda() {
        let x = Tensor::from_slice(&(0..24).map(|v| v as f32).collect::<Vec<_>>()).reshape([6, 4]);
        let mut rng = StdRng::seed_from_u64(7);
        let (m, perm, lambda) = mixup(&x, 0.4, &mut rng).unwrap();
        assert!((0.0..=1.0).contains(&lambda));
        let mut p = Vec::<i64>::try_from(&perm).unwrap();
        let xs = Vec::<f32>::try_from(x.flatten(0, -1)).unwrap();
        let ms = Vec::<f32>::try_from(m.flatten(0, -1)).unwrap();
        for (i, &j) in p.iter().enumerate() {
            for k in 0..4 {
                let want = lambda * xs[i * 4 + k] as f64 + (1.0 - lambda) * xs[j as usize * 4 + k] as f64;
                assert!((ms[i * 4 + k] as f64 - want).abs() < 1e-4);
            }
        }
        p.sort();
        assert_eq!(p, (0..6).collect::<Vec<i64>>(), "a permutation");
        // Seeded: the same generator state gives the same λ and π.
        let (_, perm2, lambda2) = mixup(&x, 0.4, &mut StdRng::seed_from_u64(7)).unwrap();
        assert_eq!((lambda, Vec::<i64>::try_from(&perm).unwrap()), (lambda2, Vec::<i64>::try_from(&perm2).unwrap()));
        assert!(mixup(&x, 0.0, &mut rng).is_err());
    }

    /// The device-side clipping equals tch's `Optimizer::clip_grad_norm` bit for bit, when it
    /// scales and when it does not.
    #[test]
    fn clip_grad_norm_equals_tch() {
        for (max, scale) in [(1.0, 10.0), (1.0, 1e-3), (0.5, 1.0)] {
            let grads = |clip: &dyn Fn(&nn::VarStore, &mut nn::Optimizer)| {
                tch::manual_seed(3);
                let vs = nn::VarStore::new(Device::Cpu);
                let lin = nn::linear(vs.root() / "a", 7, 5, Default::default());
                let lin2 = nn::linear(vs.root() / "b", 5, 3, Default::default());
                let mut opt = nn::Adam::default().build(&vs, 1e-3).unwrap();
                let x = Tensor::randn([4, 7], (Kind::Float, Device::Cpu)) * scale;
                let loss = x.apply(&lin).relu().apply(&lin2).square().sum(Kind::Float);
                opt.zero_grad();
                loss.backward();
                clip(&vs, &mut opt);
                vs.trainable_variables().iter().map(|v| Vec::<f32>::try_from(v.grad().flatten(0, -1)).unwrap()).collect::<Vec<_>>()
            };
            let ours = grads(&|vs, _| clip_grad_norm(vs, max));
            let theirs = grads(&|_, opt| opt.clip_grad_norm(max));
            let untouched = grads(&|_, _| ());
            assert_eq!(ours, theirs, "max {max}, scale {scale}");
            let norm = untouched.iter().flatten().map(|&g| (g as f64).powi(2)).sum::<f64>().sqrt();
            assert_eq!(ours == untouched, norm <= max, "clipped exactly when the norm {norm} exceeds {max}");
        }
    }
}

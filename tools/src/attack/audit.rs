//! Certificate audit: attack the smoothed classifier the engine certified, inside and outside
//! its certified radius.
//!
//! For a clip the engine certifies with label `A` and radius `R` (003's CERTIFY on the shipped
//! ONNX model in tract), the certificate says: the smoothed classifier
//! `g(x') = argmax_k P[f(x' + ε) = k]`, `ε ~ N(0, σ²I)`, returns `A` for every `‖x' − x‖₂ < R`
//! (with probability ≥ 1 − α over the certification's own sampling). The audit tries to break
//! that with the strongest attack we know on a smoothed classifier, PGD in L2 on the *soft*
//! smoothed classifier (Salman et al. 2019, "Provably robust deep learning via adversarially
//! trained smoothed classifiers", SmoothAdv):
//!
//! `max_{‖δ‖₂ ≤ ε} −log( (1/m) Σⱼ softmax(f(x + δ + σηⱼ))_A )`, `ηⱼ ~ N(0, I)` fresh each step,
//!
//! `steps` steps of length `2.5 ε / steps` along the L2-normalized gradient, each followed by
//! the projection onto the ball (no box: the certificate covers the whole ball). The attacked
//! point is then judged by the engine's own PREDICT (n samples, level α) on the same model in
//! tract: a *flip* is a smoothed prediction other than `A`; an abstention is reported apart (it
//! is no wrong answer). Budgets are multiples of `R`: below 1 a flip would contradict the
//! certificate (expected ≈ 0, up to the α's); above 1 flips show the attack is not toothless.
//!
//! Second, the cheapest successful attack on the *base* model `f` (no noise): DeepFool L2 from
//! the clean window, whose distance is set against `R` (the ratio says how conservative the
//! certificate is for this clip, or, below 1, that the base model is less robust than the
//! smoothed one is certified to be).
//!
//! Contracts: `waveform` and `post:fixed` (the noise and δ on the gain-normalized waveform; the
//! tch model runs the log-mel twin of the engine's front end) and `feature` (noise and δ on the
//! log-mel map, judged with [`Smoother::predict_features`]). The other post-processed
//! contracts put a data-dependent transform after the noise that this attack does not model.

use super::{deepfool, AttackTarget, Bounds, BoxSpec, Domain};
use crate::checkpoint::Checkpoint;
use crate::error::{Result, ToolsError};
use serde::Serialize;
use soundproof::model::Model;
use soundproof::smooth::report::RunInputs;
use soundproof::stats::median;
use soundproof::window::{ClipGain, ClipWindow};
use soundproof::smooth::{clip_key, Certificate, Contract, Prediction, SmoothParams, Smoother, Transform};
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::{Device, Kind, Tensor};

/// The attack on the smoothed classifier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct SmoothedAttack {
    /// σ of the smoothing noise (the certificate's).
    pub sigma: f64,
    /// PGD steps.
    pub steps: usize,
    /// Noise samples per step (the Monte Carlo estimate of the soft smoothed classifier).
    pub noise_samples: usize,
}

/// PGD-L2 on the soft smoothed classifier (module docs) from `x` (`[1, ...]`) away from
/// `label`, within `‖δ‖₂ ≤ eps`. Returns `x + δ`. Uses libtorch's global generator: seed it
/// (`tch::manual_seed`) for a reproducible run.
pub fn smoothed_pgd(target: &AttackTarget, x: &Tensor, label: i64, eps: f64, p: &SmoothedAttack) -> Tensor {
    let m = p.noise_samples.max(1) as i64;
    let mut shape = x.size();
    shape[0] = m;
    let step = 2.5 * eps / p.steps.max(1) as f64;
    let mut delta = x.zeros_like();
    let l2 = |t: &Tensor| t.to_kind(Kind::Double).square().sum(Kind::Double).sqrt().double_value(&[]);
    for _ in 0..p.steps {
        let noisy = (x + &delta).expand(shape.as_slice(), false) + Tensor::randn(shape.as_slice(), (Kind::Float, x.device())) * p.sigma;
        let (g, _) = target.loss_gradient(&noisy, |logits| -logits.softmax(-1, Kind::Float).mean_dim([0].as_slice(), false, Kind::Float).get(label).log());
        let g = g.sum_dim_intlist([0].as_slice(), true, Kind::Float);
        let gn = l2(&g);
        if !(gn > 0.0 && gn.is_finite()) {
            break;
        }
        delta += g * (step / gn);
        let dn = l2(&delta);
        if dn > eps {
            delta *= eps / dn;
        }
    }
    (x + delta).detach()
}

/// What the audit runs.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AuditConfig {
    /// `waveform`, `post:fixed` or `feature`.
    pub contract: String,
    pub sigma: f64,
    pub n0: u64,
    pub n: u64,
    pub alpha: f64,
    pub seed: u64,
    /// Attack budgets as multiples of each clip's radius R.
    pub budgets: Vec<f64>,
    pub attack: SmoothedAttack,
    /// Samples of the engine's PREDICT at each attacked point (level `alpha`).
    pub predict_n: u64,
    /// DeepFool iterations on the base model.
    pub deepfool_steps: usize,
}

/// One budget on one clip.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BudgetResult {
    /// ε / R.
    pub multiple: f64,
    pub eps: f64,
    /// ‖δ‖₂ of the attack's point (≤ ε).
    pub delta_l2: f64,
    /// The engine's PREDICT at `x + δ`.
    pub smoothed: Prediction,
    /// PREDICT returned a label other than the certified one.
    pub flipped: bool,
    pub abstained: bool,
    /// The base model's label at `x + δ` (no noise).
    pub base_label: i64,
    pub gradients: u64,
    pub seconds: f64,
}

/// One clip.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ClipAudit {
    pub name: String,
    pub truth: Option<i64>,
    pub certificate: Certificate,
    /// L2 of DeepFool's successful perturbation of the base model (None: it did not succeed).
    pub base_min_l2: Option<f64>,
    /// `base_min_l2 / R`.
    pub base_min_over_radius: Option<f64>,
    /// Empty when the clip was not certified.
    pub budgets: Vec<BudgetResult>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct BudgetSummary {
    pub multiple: f64,
    /// Certified clips attacked at this budget.
    pub attacked: usize,
    pub flipped: usize,
    pub abstained: usize,
    pub flip_rate: f64,
    /// The base model's label changed at the attacked point (no noise).
    pub base_fooled: usize,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct AuditReport {
    pub checkpoint: PathBuf,
    pub onnx: PathBuf,
    pub config: AuditConfig,
    pub device: String,
    /// `[i, N]`: this report holds the clips i, i + N, … of the run (`[0, 1]`: all).
    #[serde(default = "whole")]
    pub shard: [usize; 2],
    /// The whole run's clips (all shards).
    #[serde(default)]
    pub inputs: RunInputs,
    pub clips: usize,
    pub certified: usize,
    pub summary: Vec<BudgetSummary>,
    pub median_radius: Option<f64>,
    pub median_base_min_over_radius: Option<f64>,
    pub min_base_min_over_radius: Option<f64>,
    pub seconds: f64,
    pub results: Vec<ClipAudit>,
}

/// One clip to audit: samples at the model's rate and the dataset label.
#[derive(Debug, Clone)]
pub struct AuditClip {
    pub path: PathBuf,
    pub samples: Vec<f32>,
    pub truth: Option<i64>,
}

/// Audits `clips` certified with the ONNX model `onnx` against the same model's checkpoint.
pub fn run_audit(checkpoint: &Path, onnx: &Path, clips: &[AuditClip], cfg: &AuditConfig, device: Device, mut progress: impl FnMut(&ClipAudit)) -> Result<AuditReport> {
    let start = Instant::now();
    let contract: Contract = cfg.contract.parse().map_err(|_: soundproof::smooth::SmoothError| ToolsError::invalid("contract", &cfg.contract, "waveform, post:fixed or feature"))?;
    let domain = match contract {
        Contract::Waveform | Contract::Post(Transform::Fixed) => Domain::Waveform,
        Contract::Feature => Domain::Features,
        Contract::Post(_) => return Err(ToolsError::invalid("contract", &cfg.contract, "waveform, post:fixed or feature (a data-dependent post-noise transform is not modelled by the attack)")),
    };
    if cfg.budgets.iter().any(|b| !(b.is_finite() && *b > 0.0)) {
        return Err(ToolsError::invalid("budgets", format!("{:?}", cfg.budgets), "positive multiples of R"));
    }
    let model = Model::load(onnx).map_err(|e| ToolsError::model(onnx.display().to_string(), e.to_string()))?;
    let (target, ck) = AttackTarget::from_checkpoint(checkpoint, domain, device)?;
    check_same_model(checkpoint, &ck, &model, onnx)?;
    let params = SmoothParams { sigma: cfg.sigma, n0: cfg.n0, n: cfg.n, alpha: cfg.alpha, batch: 1, seed: cfg.seed };
    let smooth_err = |e: soundproof::smooth::SmoothError| ToolsError::model(onnx.display().to_string(), e.to_string());
    let mut smoother = Smoother::new(&model, contract, params).map_err(smooth_err)?;
    let mut results = Vec::with_capacity(clips.len());
    for clip in clips {
        let name = clip.path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
        let key = clip_key(&name);
        let (x, s) = ClipWindow::of(model.card())
            .window(&clip.samples, ClipGain::ClipRms)
            .map_err(|e| ToolsError::model(onnx.display().to_string(), e.to_string()))?;
        let certificate = smoother.certify(&x, key, ClipGain::ClipRms.into(), s).map_err(smooth_err)?;
        // The attacked object: the window, or its feature map for the feature contract.
        let clean: Vec<f32> = match domain {
            Domain::Waveform => x.clone(),
            Domain::Features => {
                let mut z = Vec::new();
                smoother.input_of(&x, &mut z).map_err(smooth_err)?;
                z
            }
        };
        let shape: Vec<i64> = match domain {
            Domain::Waveform => vec![1, x.len() as i64],
            Domain::Features => std::iter::once(1).chain(model.card().input_shape[1..].iter().copied()).collect(),
        };
        let xt = Tensor::from_slice(&clean).reshape(shape.as_slice()).to_device(device);
        let mut audit = ClipAudit { name, truth: clip.truth, certificate: certificate.clone(), base_min_l2: None, base_min_over_radius: None, budgets: Vec::new() };
        if let Some(a) = certificate.prediction {
            let r = certificate.radius;
            let a_t = Tensor::from_slice(&[a as i64]).to_device(device);
            let df = deepfool::attack(&target, &xt, &a_t, &Bounds::of(&xt, BoxSpec::Unbounded, domain), cfg.deepfool_steps, deepfool::OVERSHOOT);
            if i64::try_from(target.predict(&df.adversarial))? != a as i64 {
                let d = super::distortion(&xt, &df.adversarial)[0].l2;
                audit.base_min_l2 = Some(d);
                audit.base_min_over_radius = Some(d / r);
            }
            for (bi, &mult) in cfg.budgets.iter().enumerate() {
                let t0 = Instant::now();
                let g0 = target.counts().1;
                tch::manual_seed((cfg.seed ^ key).wrapping_add(bi as u64) as i64);
                let eps = mult * r;
                let adv = smoothed_pgd(&target, &xt, a as i64, eps, &cfg.attack);
                let delta_l2 = super::distortion(&xt, &adv)[0].l2;
                let base_label = i64::try_from(target.predict(&adv))?;
                let row = Vec::<f32>::try_from(adv.to_device(Device::Cpu).flatten(0, -1))?;
                let smoothed = match domain {
                    Domain::Waveform => smoother.predict(&row, key, cfg.predict_n, cfg.alpha),
                    Domain::Features => smoother.predict_features(&row, key, cfg.predict_n, cfg.alpha),
                }
                .map_err(smooth_err)?;
                audit.budgets.push(BudgetResult {
                    multiple: mult,
                    eps,
                    delta_l2,
                    flipped: smoothed.prediction.is_some_and(|k| k != a),
                    abstained: smoothed.prediction.is_none(),
                    smoothed,
                    base_label,
                    gradients: target.counts().1 - g0,
                    seconds: t0.elapsed().as_secs_f64(),
                });
            }
        }
        progress(&audit);
        results.push(audit);
    }
    let mut report = AuditReport {
        checkpoint: checkpoint.to_path_buf(),
        onnx: onnx.to_path_buf(),
        config: cfg.clone(),
        device: crate::device::name(device),
        shard: whole(),
        inputs: RunInputs::of_paths(&clips.iter().map(|c| c.path.clone()).collect::<Vec<_>>()),
        clips: 0,
        certified: 0,
        summary: Vec::new(),
        median_radius: None,
        median_base_min_over_radius: None,
        min_base_min_over_radius: None,
        seconds: start.elapsed().as_secs_f64(),
        results,
    };
    report.tabulate();
    Ok(report)
}

fn whole() -> [usize; 2] {
    [0, 1]
}

impl AuditReport {
    /// The counts, the per-budget summary and the medians, from the per-clip results.
    pub fn tabulate(&mut self) {
        let (cfg, results) = (&self.config, &self.results);
        let certified: Vec<&ClipAudit> = results.iter().filter(|c| c.certificate.prediction.is_some()).collect();
        let summary = cfg
            .budgets
            .iter()
            .enumerate()
            .map(|(bi, &multiple)| {
                let rows: Vec<&BudgetResult> = certified.iter().filter_map(|c| c.budgets.get(bi)).collect();
                let flipped = rows.iter().filter(|b| b.flipped).count();
                BudgetSummary {
                    multiple,
                    attacked: rows.len(),
                    flipped,
                    abstained: rows.iter().filter(|b| b.abstained).count(),
                    flip_rate: flipped as f64 / rows.len().max(1) as f64,
                    base_fooled: certified.iter().zip(&rows).filter(|(c, b)| c.certificate.prediction.is_some_and(|a| b.base_label != a as i64)).count(),
                }
            })
            .collect();
        let ratios: Vec<f64> = certified.iter().filter_map(|c| c.base_min_over_radius).collect();
        let median_radius = median(&mut certified.iter().map(|c| c.certificate.radius).collect::<Vec<_>>());
        let (clips, n_certified) = (results.len(), certified.len());
        self.clips = clips;
        self.certified = n_certified;
        self.summary = summary;
        self.median_radius = median_radius;
        self.median_base_min_over_radius = median(&mut ratios.clone());
        self.min_base_min_over_radius = ratios.iter().copied().reduce(f64::min);
    }
}

/// The checkpoint (attacked in tch) and the ONNX model (certified in tract) must be the same
/// classifier: their labels must agree, and their logits on a test window (a chirp through the
/// card's own gain) to 1e-3 of the logit scale.
fn check_same_model(dir: &Path, ck: &Checkpoint, model: &Model, onnx: &Path) -> Result<()> {
    let mismatch = |what: String| ToolsError::model(onnx.display().to_string(), format!("{what}: the ONNX model is not this checkpoint's (export it with `soundproof-tools export`)"));
    if model.labels() != ck.labels.as_slice() {
        return Err(mismatch(format!("labels {:?} against the checkpoint's {:?}", model.labels(), ck.labels)));
    }
    if model.card().window_samples != ck.window_samples {
        return Err(mismatch(format!("a window of {} samples against {}", model.card().window_samples, ck.window_samples)));
    }
    let w = ck.window_samples;
    let sr = ck.sample_rate as f64;
    let x: Vec<f32> = (0..w).map(|i| {
        let t = i as f64 / sr;
        (0.1 * (2.0 * std::f64::consts::PI * (200.0 * t + 1500.0 * t * t)).sin()) as f32
    }).collect();
    let contract = if ck.spec.arch.takes_waveform() { Contract::Waveform } else { Contract::Feature };
    let mut sm = Smoother::new(model, contract, SmoothParams::new(0.01)).map_err(|e| mismatch(e.to_string()))?;
    let mut input = Vec::new();
    sm.input_of(&x, &mut input).map_err(|e| mismatch(e.to_string()))?;
    let tract = model.run(&input, 1).map_err(|e| mismatch(e.to_string()))?;
    let (target, _) = AttackTarget::from_checkpoint(dir, Domain::Waveform, Device::Cpu)?;
    let tch_logits = Vec::<f32>::try_from(target.logits(&Tensor::from_slice(&x).reshape([1, w as i64])).flatten(0, -1))?;
    let scale = tract.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let diff = tract.iter().zip(&tch_logits).fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
    if diff > 1e-3 * scale {
        return Err(mismatch(format!("logits differ by {diff} (scale {scale})")));
    }
    Ok(())
}

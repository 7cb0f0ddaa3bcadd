//! Adversarial attacks (000/001 §II): one differentiable target, [`AttackTarget`], and one
//! module per attack on it.
//!
//! * [`fgsm`]: Fast Gradient Sign Method, L∞ (Eq. 3, `x' = x + ε·sign(∇J)`) and L2 (Eq. 4,
//!   `x' = x + ε·∇J/‖∇J‖₂`), one gradient per example;
//! * [`bim`]: Basic Iterative Method (Eq. 5-6), L∞ steps of size α projected on the ε-ball
//!   around `x` and clipped to the box: BIM-a stops each example at its first success, BIM-b
//!   runs the fixed number of steps;
//! * [`deepfool`]: DeepFool L2 and L∞ (untargeted, no ε: the smallest step onto the
//!   linearized boundary in that norm, repeated), `C` gradients per iteration;
//! * [`jsma`]: Jacobian-based Saliency Map Attack (Eq. 7-8), L0: raise (or lower) the most
//!   salient features one by one, at most a fraction γ of them, `C` gradients per iteration;
//! * [`cw`]: Carlini-Wagner L2 (Eq. 9-12): Adam on the tanh variable of the box, the margin
//!   loss with confidence κ, binary search on c, one gradient per iteration;
//! * [`lbfgs`]: the L-BFGS baseline (Eq. 2), `c·‖δ‖₂² + J(x + δ, l')` minimized in the box by
//!   projected L-BFGS, with a search on c;
//! * [`audit`]: not an attack on the base model but on the *smoothed* classifier the engine
//!   certifies (expectation over its noise), to audit certificates.
//! * [`psycho`]: the imperceptible attack of 004 (Algorithm 1: an L∞ sign-gradient stage, then
//!   Adam under the psychoacoustic masking threshold), waveform domain only, with its own
//!   [`psycho::PsychoConfig`]; its room-robust variant averages over simulated [`room`]s;
//!
//! FGSM and BIM are untargeted (ascend the cross-entropy of the reference label) or targeted
//! (descend the cross-entropy of the target label); CW-L2 follows the logit margin of Eq. 10
//! (targeted) or Eq. 12 (untargeted); JSMA and L-BFGS are targeted in the paper and, run
//! untargeted, aim at the runner-up class ([`runner_up`]); DeepFool is untargeted. Every attack
//! works in either [`Domain`]:
//!
//! * [`Domain::Features`]: the model on the log-mel map `[N, 1, frames, bins]`, the map the
//!   engine serves (computed by the engine's own front end);
//! * [`Domain::Waveform`]: the waveform `[N, samples]` after the clip gain (RMS 1 for 003's
//!   pipeline) through [`LogMelTch`], the tch twin of the engine's front end, then the model
//!   (for a waveform model, the model itself on `[N, 1, samples]`).
//!
//! The box (the valid inputs, Eq. 6's `[0, M]`) is per example, see [`BoxSpec`]. The target
//! counts forward passes and gradient computations (each backward pass through a batch of `B`
//! examples counts `B` gradients, and its forward pass `B` forwards); attacks report them per
//! example.

pub mod audit;
pub mod bim;
pub mod cw;
pub mod deepfool;
pub mod fgsm;
pub mod jsma;
pub mod lbfgs;
pub mod psycho;
pub mod room;
pub mod runner;

use crate::checkpoint::Checkpoint;
use crate::error::{Result, ToolsError};
use crate::frontend::LogMelTch;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// Where the perturbation lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    /// The model's log-mel input `[N, 1, frames, bins]`.
    Features,
    /// The gain-normalized waveform `[N, samples]` (front end in the graph).
    Waveform,
}

/// The valid inputs around a clean example `x`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BoxSpec {
    /// Waveform: `[-P, P]` with `P = max |x|`, the clean window's own peak (the attack may not
    /// make the clip louder at its peak). Features: `[min x, max x]`, the range of the clean
    /// log-mel map (so no band goes below the quietest or above the loudest value the front
    /// end produced for this clip; the floor is `10·log10(amin)`).
    Clean,
    /// `[lo, hi]` for every example.
    Fixed { lo: f64, hi: f64 },
    /// No box (ε-ball only).
    Unbounded,
}

/// Per-example bounds, broadcastable to the batch (`[N, 1, ...]`).
#[derive(Debug)]
pub struct Bounds {
    pub lo: Tensor,
    pub hi: Tensor,
}

impl Bounds {
    pub fn of(x: &Tensor, spec: BoxSpec, domain: Domain) -> Bounds {
        let n = x.size()[0];
        let mut shape = vec![n];
        shape.extend(std::iter::repeat_n(1, x.dim() - 1));
        let flat = x.detach().reshape([n, -1]);
        match spec {
            BoxSpec::Clean => match domain {
                Domain::Waveform => {
                    let p = flat.abs().amax([1].as_slice(), false).reshape(&shape);
                    Bounds { lo: -&p, hi: p }
                }
                Domain::Features => Bounds {
                    lo: flat.amin([1].as_slice(), false).reshape(&shape),
                    hi: flat.amax([1].as_slice(), false).reshape(&shape),
                },
            },
            BoxSpec::Fixed { lo, hi } => Bounds {
                lo: Tensor::full(shape.as_slice(), lo, (x.kind(), x.device())),
                hi: Tensor::full(shape.as_slice(), hi, (x.kind(), x.device())),
            },
            BoxSpec::Unbounded => Bounds {
                lo: Tensor::full(shape.as_slice(), f64::NEG_INFINITY, (x.kind(), x.device())),
                hi: Tensor::full(shape.as_slice(), f64::INFINITY, (x.kind(), x.device())),
            },
        }
    }

    /// Rows `idx` of the bounds.
    pub fn select(&self, idx: &Tensor) -> Bounds {
        Bounds { lo: self.lo.index_select(0, idx), hi: self.hi.index_select(0, idx) }
    }

    pub fn clip(&self, x: &Tensor) -> Tensor {
        x.clamp_tensor(Some(&self.lo), Some(&self.hi))
    }
}

/// What the attack aims for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Goal {
    /// Any label but the reference one.
    Untargeted,
    /// This label.
    Targeted(i64),
}

impl Goal {
    /// The labels whose cross-entropy the attack follows, and the direction: `+1` ascends (away
    /// from the reference label), `-1` descends (towards the target).
    pub fn loss_labels(&self, reference: &Tensor) -> (Tensor, f64) {
        match *self {
            Goal::Untargeted => (reference.shallow_clone(), 1.0),
            Goal::Targeted(t) => (reference.full_like(t), -1.0),
        }
    }

    /// Per example: does `pred` achieve the goal against `reference`? (bool tensor `[N]`)
    pub fn achieved(&self, pred: &Tensor, reference: &Tensor) -> Tensor {
        match *self {
            Goal::Untargeted => pred.ne_tensor(reference),
            Goal::Targeted(t) => pred.eq(t),
        }
    }
}

/// A differentiable classifier `f(input) → logits` in one domain, counting its use.
pub struct AttackTarget {
    f: Box<dyn Fn(&Tensor) -> Tensor>,
    pub domain: Domain,
    pub device: Device,
    forwards: Cell<u64>,
    gradients: Cell<u64>,
    _vs: Option<nn::VarStore>,
}

impl AttackTarget {
    /// A target from any logits function (inputs and logits on `device`).
    pub fn new(domain: Domain, device: Device, f: impl Fn(&Tensor) -> Tensor + 'static) -> Self {
        AttackTarget { f: Box::new(f), domain, device, forwards: Cell::new(0), gradients: Cell::new(0), _vs: None }
    }

    /// The trained model at `dir` (a checkpoint folder, or a shipped model's .onnx file with its
    /// checkpoint beside it: see [`Checkpoint::load`]), eval mode, weights frozen, in `domain`.
    pub fn from_checkpoint(dir: &Path, domain: Domain, device: Device) -> Result<(Self, Checkpoint)> {
        let ck = Checkpoint::load(dir)?;
        let (mut vs, model) = ck.build(dir, device)?;
        vs.freeze();
        let arch = ck.spec.arch;
        let f: Box<dyn Fn(&Tensor) -> Tensor> = if arch.takes_waveform() {
            if domain == Domain::Features {
                return Err(ToolsError::invalid("domain", "features", "waveform (this model takes the waveform)"));
            }
            Box::new(move |x: &Tensor| model.forward_t(&x.unsqueeze(1), false))
        } else {
            match domain {
                Domain::Features => Box::new(move |x: &Tensor| model.forward_t(x, false)),
                Domain::Waveform => {
                    let cfg = ck.features.ok_or_else(|| ToolsError::model(arch.name(), "feature model without a front end"))?;
                    let fe = LogMelTch::new(&cfg, device, Kind::Float)?;
                    Box::new(move |x: &Tensor| model.forward_t(&fe.forward(x).unsqueeze(1), false))
                }
            }
        };
        let mut t = AttackTarget::new(domain, device, move |x| f(x));
        t._vs = Some(vs);
        Ok((t, ck))
    }

    /// Logits without gradient (counts `N` forwards).
    pub fn logits(&self, x: &Tensor) -> Tensor {
        self.forwards.set(self.forwards.get() + x.size()[0] as u64);
        tch::no_grad(|| (self.f)(x))
    }

    /// Predicted labels `[N]` (counts `N` forwards).
    pub fn predict(&self, x: &Tensor) -> Tensor {
        self.logits(x).argmax(-1, false)
    }

    /// `(∇ₓ J, logits)`: the gradient of each example's own cross-entropy `J(x, labels)` (the
    /// batch loss is the sum, so examples do not scale each other). Counts `N` gradients and
    /// `N` forwards.
    pub fn gradient(&self, x: &Tensor, labels: &Tensor) -> (Tensor, Tensor) {
        let n = x.size()[0] as u64;
        self.forwards.set(self.forwards.get() + n);
        self.gradients.set(self.gradients.get() + n);
        let xg = x.detach().set_requires_grad(true);
        let logits = (self.f)(&xg);
        let loss = -logits.log_softmax(-1, Kind::Float).gather(1, &labels.unsqueeze(1), false).sum(Kind::Float);
        let g = Tensor::run_backward(&[loss], &[&xg], false, false).remove(0);
        (g, logits.detach())
    }

    /// `(∇ₓ Σₙ loss(logits)ₙ, logits)`: the gradient of any per-example loss of the logits
    /// (`loss` maps `[N, C]` to `[N]`; examples do not mix, so row `n` of the gradient is
    /// example `n`'s own). Counts `N` gradients and `N` forwards.
    pub fn loss_gradient(&self, x: &Tensor, loss: impl Fn(&Tensor) -> Tensor) -> (Tensor, Tensor) {
        let n = x.size()[0] as u64;
        self.forwards.set(self.forwards.get() + n);
        self.gradients.set(self.gradients.get() + n);
        let xg = x.detach().set_requires_grad(true);
        let logits = (self.f)(&xg);
        let total = loss(&logits).sum(Kind::Float);
        let g = Tensor::run_backward(&[total], &[&xg], false, false).remove(0);
        (g, logits.detach())
    }

    /// `(logits, J)` with `J = ∂logits/∂x` of shape `[N, C, ...input]`: one forward and `C`
    /// backward passes (counts `N` forwards and `C·N` gradients).
    pub fn jacobian(&self, x: &Tensor) -> (Tensor, Tensor) {
        let xg = x.detach().set_requires_grad(true);
        let logits = (self.f)(&xg);
        let (n, c) = (x.size()[0] as u64, logits.size()[1]);
        self.forwards.set(self.forwards.get() + n);
        self.gradients.set(self.gradients.get() + n * c as u64);
        let rows: Vec<Tensor> = (0..c)
            .map(|k| Tensor::run_backward(&[logits.select(1, k).sum(Kind::Float)], &[&xg], k + 1 < c, false).remove(0))
            .collect();
        (logits.detach(), Tensor::stack(&rows, 1))
    }

    /// `(forwards, gradients)` so far, in examples.
    pub fn counts(&self) -> (u64, u64) {
        (self.forwards.get(), self.gradients.get())
    }
}

/// Which attack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AttackKind {
    /// FGSM L∞ (Eq. 3).
    Fgsm,
    /// FGSM L2 (Eq. 4).
    FgsmL2,
    /// BIM stopping each example at its first success.
    BimA,
    /// BIM with a fixed number of steps.
    BimB,
    /// DeepFool L2 (untargeted; `steps` iterations at most, ε unused).
    Deepfool,
    /// DeepFool L∞ (untargeted; `steps` iterations at most, ε unused).
    DeepfoolLinf,
    /// JSMA (Eq. 7-8), L0; θ, γ and the features changed per iteration from the optimization
    /// settings (`attack --theta`, `--gamma`, `--features-per-step`).
    Jsma,
    /// Carlini-Wagner L2 (Eq. 9-12); `steps` Adam iterations per value of c.
    CwL2,
    /// L-BFGS (Eq. 2); `steps` L-BFGS iterations per value of c.
    Lbfgs,
    /// 004's imperceptible attack (waveform; its stages' settings: `attack --stage1-*`,
    /// `--stage2-*`, `--masking-alpha`).
    Psycho,
    /// The same, robust over simulated rooms (Algorithm 1 with the room-averaged loss).
    PsychoRoom,
    /// Imperceptible and robust (004 §4.2, then §4.3's two stages; `attack --robust-*`).
    PsychoRobust,
}

impl AttackKind {
    /// ε when none is given: `None` where the attack needs one (FGSM, BIM), 0 where ε is
    /// unused (DeepFool, JSMA, CW-L2, L-BFGS), 004's initial bound 0.1 for the psychoacoustic
    /// attacks.
    pub fn default_eps(self) -> Option<f64> {
        match self {
            AttackKind::Fgsm | AttackKind::FgsmL2 | AttackKind::BimA | AttackKind::BimB => None,
            AttackKind::Deepfool | AttackKind::DeepfoolLinf | AttackKind::Jsma | AttackKind::CwL2 | AttackKind::Lbfgs => Some(0.0),
            AttackKind::Psycho | AttackKind::PsychoRoom | AttackKind::PsychoRobust => Some(0.1),
        }
    }

    /// Iterations when none are given: CW-L2's Adam iterations per value of c (100), L-BFGS's
    /// iterations per value of c (30), otherwise 10 (BIM's steps, DeepFool's limit).
    pub fn default_steps(self) -> usize {
        match self {
            AttackKind::CwL2 => 100,
            AttackKind::Lbfgs => 30,
            _ => 10,
        }
    }

    /// BIM's step α when none is given: ε / 4.
    pub fn default_alpha(eps: f64) -> f64 {
        eps / 4.0
    }

    /// Is this one of 004's psychoacoustic attacks (run by `attack::psycho`)?
    pub fn is_psycho(self) -> bool {
        matches!(self, AttackKind::Psycho | AttackKind::PsychoRoom | AttackKind::PsychoRobust)
    }

    /// Does this attack read [`OptParams`]?
    pub fn uses_opt_params(&self) -> bool {
        matches!(self, AttackKind::Jsma | AttackKind::CwL2 | AttackKind::Lbfgs)
    }
}

/// Settings of the optimization attacks (JSMA, CW-L2, L-BFGS; the others ignore them).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct OptParams {
    /// JSMA θ: the change of a selected feature, in the units of the domain (dB of the log-mel
    /// map, or waveform samples), clipped to the box; > 0 raises features (Papernot's JSMA+),
    /// < 0 lowers them (JSMA−). A θ wider than the box sets the feature to the bound.
    pub theta: f64,
    /// JSMA γ: at most `⌊γ·d⌋` of the `d` features change.
    pub gamma: f64,
    /// JSMA: features changed per iteration (the top of the saliency map).
    pub features_per_step: usize,
    /// CW-L2 κ (Eq. 10, 12): the logit margin a success must reach.
    pub confidence: f64,
    /// CW-L2 and L-BFGS: the first value of c.
    pub c_init: f64,
    /// CW-L2 and L-BFGS: values of c tried (the binary search steps).
    pub search_steps: usize,
    /// CW-L2: Adam's learning rate on the tanh variable (Adam's first steps move every
    /// coordinate by about `lr·(hi − lo)/2`: 10⁻³ suits both the log-mel map in dB and the
    /// waveform; Carlini and Wagner's 10⁻² overshoots on inputs of 10⁴ features).
    pub lr: f64,
    /// CW-L2: end a value of c early once the objective stops decreasing (checked every tenth
    /// of the iterations).
    pub abort_early: bool,
}

impl Default for OptParams {
    fn default() -> Self {
        OptParams::DEFAULT
    }
}

impl OptParams {
    /// The defaults: JSMA θ = 1, γ = 0.1, one feature per step; CW-L2 κ = 0, c from 1 over 5
    /// values, Adam at 10⁻³ with early abort.
    pub const DEFAULT: OptParams =
        OptParams { theta: 1.0, gamma: 0.1, features_per_step: 1, confidence: 0.0, c_init: 1.0, search_steps: 5, lr: 1e-3, abort_early: true };

    /// The defaults of `kind`: [`OptParams::DEFAULT`], except that L-BFGS starts at c = 10⁻²
    /// and tries 6 values of c.
    pub fn for_kind(kind: AttackKind) -> OptParams {
        match kind {
            AttackKind::Lbfgs => OptParams { c_init: 1e-2, search_steps: 6, ..OptParams::DEFAULT },
            _ => OptParams::DEFAULT,
        }
    }

    fn check(&self, kind: AttackKind) -> Result<()> {
        let pos = |v: f64| v.is_finite() && v > 0.0;
        match kind {
            AttackKind::Jsma => {
                if !(self.theta.is_finite() && self.theta != 0.0) {
                    return Err(ToolsError::invalid("theta", self.theta, "a finite non-zero change"));
                }
                if !(self.gamma > 0.0 && self.gamma <= 1.0) {
                    return Err(ToolsError::invalid("gamma", self.gamma, "a fraction in (0, 1]"));
                }
                if self.features_per_step == 0 {
                    return Err(ToolsError::invalid("features-per-step", 0, "at least one feature"));
                }
            }
            AttackKind::CwL2 | AttackKind::Lbfgs => {
                if !pos(self.c_init) {
                    return Err(ToolsError::invalid("c-init", self.c_init, "a finite c > 0"));
                }
                if self.search_steps == 0 {
                    return Err(ToolsError::invalid("search-steps", 0, "at least one value of c"));
                }
                if kind == AttackKind::CwL2 {
                    if !(self.confidence.is_finite() && self.confidence >= 0.0) {
                        return Err(ToolsError::invalid("confidence", self.confidence, "a finite κ >= 0"));
                    }
                    if !pos(self.lr) {
                        return Err(ToolsError::invalid("lr", self.lr, "a finite rate > 0"));
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A per-example tensor `[N]` (or `[N, 1, ...]`) as f64 values.
pub(crate) fn per_example(t: &Tensor) -> Result<Vec<f64>> {
    let n = t.size()[0];
    Ok(Vec::<f64>::try_from(t.to_kind(Kind::Double).reshape([n]))?)
}

/// Per example, the class with the highest logit other than `reference` (the target of the
/// targeted-only attacks, JSMA and L-BFGS, when they run untargeted).
pub fn runner_up(logits: &Tensor, reference: &Tensor) -> Tensor {
    let c = logits.size()[1];
    logits.masked_fill(&reference.one_hot(c).to_kind(Kind::Bool), f64::NEG_INFINITY).argmax(-1, false)
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct AttackConfig {
    pub kind: AttackKind,
    /// L∞ radius (FGSM, BIM) or L2 radius (FGSM-L2).
    pub eps: f64,
    /// BIM step size.
    pub alpha: f64,
    /// BIM iterations, DeepFool's iteration limit.
    pub steps: usize,
    pub goal: Goal,
}

impl AttackConfig {
    /// `kind` towards `goal`, with ε, BIM's step α and the iterations at the attack's defaults
    /// where not given ([`AttackKind::default_eps`], [`AttackKind::default_alpha`],
    /// [`AttackKind::default_steps`]).
    pub fn with_defaults(kind: AttackKind, eps: Option<f64>, alpha: Option<f64>, steps: Option<usize>, goal: Goal) -> Result<AttackConfig> {
        let eps = eps.or(kind.default_eps()).ok_or_else(|| ToolsError::invalid("eps", "none", "a radius: this attack needs --eps"))?;
        Ok(AttackConfig {
            kind,
            eps,
            alpha: alpha.unwrap_or(AttackKind::default_alpha(eps)),
            steps: steps.unwrap_or(kind.default_steps()),
            goal,
        })
    }
}

/// An attack's raw output on a batch.
#[derive(Debug)]
pub struct AttackOutput {
    pub adversarial: Tensor,
    /// Per example.
    pub gradients: Vec<u64>,
    /// Per example (the forward pass of each gradient included).
    pub forwards: Vec<u64>,
}

/// An attack with all its settings: what [`attack_batch`], the one entry point, runs. Each
/// family owns its parameters, with their defaults in one place ([`AttackConfig::with_defaults`],
/// [`OptParams::for_kind`], [`psycho::PsychoConfig::new`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Attack {
    /// FGSM, BIM, DeepFool, JSMA, CW-L2 or L-BFGS: `config` names the attack, its radius, BIM
    /// step, iterations and goal; `opt` holds the optimization attacks' settings.
    Gradient { config: AttackConfig, opt: OptParams },
    /// 004's psychoacoustic attack, plain or over `config.rooms` simulated rooms per step.
    Psycho { config: psycho::PsychoConfig, goal: Goal },
    /// 004's imperceptible and robust attack (§4.2, then §4.3's two stages).
    PsychoRobust { config: psycho::PsychoConfig, goal: Goal },
}

/// `config` with its attack's default optimization settings ([`OptParams::for_kind`]).
impl From<AttackConfig> for Attack {
    fn from(config: AttackConfig) -> Attack {
        Attack::Gradient { config, opt: OptParams::for_kind(config.kind) }
    }
}

impl Attack {
    pub fn goal(&self) -> Goal {
        match self {
            Attack::Gradient { config, .. } => config.goal,
            Attack::Psycho { goal, .. } | Attack::PsychoRobust { goal, .. } => *goal,
        }
    }

    /// Runs the attack on the batch `x` against reference labels `reference` `[N]`.
    pub fn run(&self, target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds) -> Result<AttackOutput> {
        match self {
            Attack::Gradient { config, opt } => run_gradient(target, x, reference, bounds, config, opt),
            Attack::Psycho { config, goal } => psycho::attack(target, x, reference, bounds, *goal, config),
            Attack::PsychoRobust { config, goal } => psycho::attack_robust(target, x, reference, bounds, *goal, config, &config.robust),
        }
    }
}

/// The gradient and optimization attacks (everything but 004's).
fn run_gradient(target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds, cfg: &AttackConfig, opt: &OptParams) -> Result<AttackOutput> {
    opt.check(cfg.kind)?;
    if !(cfg.eps.is_finite() && cfg.eps >= 0.0) {
        return Err(ToolsError::invalid("eps", cfg.eps, "a finite value >= 0"));
    }
    Ok(match cfg.kind {
        AttackKind::Fgsm => fgsm::attack(target, x, reference, bounds, cfg.eps, fgsm::Norm::Linf, cfg.goal),
        AttackKind::FgsmL2 => fgsm::attack(target, x, reference, bounds, cfg.eps, fgsm::Norm::L2, cfg.goal),
        AttackKind::BimA | AttackKind::BimB => {
            if !(cfg.alpha.is_finite() && cfg.alpha > 0.0) {
                return Err(ToolsError::invalid("alpha", cfg.alpha, "a finite step > 0"));
            }
            if cfg.steps == 0 {
                return Err(ToolsError::invalid("steps", 0, "at least one iteration"));
            }
            bim::attack(target, x, reference, bounds, cfg.eps, cfg.alpha, cfg.steps, cfg.kind == AttackKind::BimA, cfg.goal)
        }
        AttackKind::Deepfool => {
            if cfg.goal != Goal::Untargeted {
                return Err(ToolsError::invalid("target", "a class", "no target: DeepFool is untargeted"));
            }
            deepfool::attack(target, x, reference, bounds, cfg.steps, deepfool::OVERSHOOT)
        }
        AttackKind::DeepfoolLinf => {
            if cfg.goal != Goal::Untargeted {
                return Err(ToolsError::invalid("target", "a class", "no target: DeepFool is untargeted"));
            }
            deepfool::attack_norm(target, x, reference, bounds, cfg.steps, deepfool::OVERSHOOT, fgsm::Norm::Linf)
        }
        AttackKind::Jsma => jsma::attack(target, x, reference, bounds, cfg.goal, opt.theta, opt.gamma, opt.features_per_step)?,
        AttackKind::CwL2 | AttackKind::Lbfgs => {
            if cfg.steps == 0 {
                return Err(ToolsError::invalid("steps", 0, "at least one iteration per value of c"));
            }
            if cfg.kind == AttackKind::CwL2 {
                cw::attack(target, x, reference, bounds, cfg.goal, opt, cfg.steps)?
            } else {
                lbfgs::attack(target, x, reference, bounds, cfg.goal, opt.c_init, opt.search_steps, cfg.steps)?
            }
        }
        AttackKind::Psycho | AttackKind::PsychoRoom | AttackKind::PsychoRobust => {
            return Err(ToolsError::invalid(
                "attack",
                "psycho",
                "Attack::Psycho or Attack::PsychoRobust with a PsychoConfig (the `attack` command makes one)",
            ))
        }
    })
}

/// Size of one perturbation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Distortion {
    /// Entries changed (`δ ≠ 0`).
    pub l0: u64,
    pub l2: f64,
    pub linf: f64,
    /// `20·log10(‖x‖₂ / ‖δ‖₂)` (infinite, written as null, when `δ = 0`).
    #[serde(deserialize_with = "crate::shard::null_as_inf")]
    pub snr_db: f64,
}

/// Per-example distortion of `adv` against `clean` (same shape `[N, ...]`), in f64.
pub fn distortion(clean: &Tensor, adv: &Tensor) -> Vec<Distortion> {
    let n = clean.size()[0];
    let x = clean.to_kind(Kind::Double).reshape([n, -1]);
    let d = adv.to_kind(Kind::Double).reshape([n, -1]) - &x;
    let l0 = Vec::<i64>::try_from(d.ne(0.0).sum_dim_intlist(1, false, Kind::Int64)).unwrap_or_default();
    let l2 = Vec::<f64>::try_from(d.square().sum_dim_intlist(1, false, Kind::Double).sqrt()).unwrap_or_default();
    let linf = Vec::<f64>::try_from(d.abs().amax([1].as_slice(), false)).unwrap_or_default();
    let xn = Vec::<f64>::try_from(x.square().sum_dim_intlist(1, false, Kind::Double).sqrt()).unwrap_or_default();
    (0..n as usize)
        .map(|i| Distortion { l0: l0[i] as u64, l2: l2[i], linf: linf[i], snr_db: 20.0 * (xn[i] / l2[i]).log10() })
        .collect()
}

/// One attacked example.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ExampleResult {
    pub name: String,
    /// Dataset label, when known.
    pub true_label: Option<i64>,
    /// The model's label on the clean input.
    pub original: i64,
    /// The model's label on the adversarial input.
    pub adversarial: i64,
    pub target: Option<i64>,
    /// The label the attack moves away from (the true label, else the clean prediction).
    pub reference: i64,
    /// The goal is reached on the adversarial input.
    pub success: bool,
    /// Counted in the fooling rate: the clean input was classified as the reference label and
    /// (targeted) the target differs from it.
    pub counted: bool,
    #[serde(flatten)]
    pub distortion: Distortion,
    pub gradients: u64,
    pub forwards: u64,
    /// The model's softmax probability of its label on the adversarial input.
    pub confidence: f64,
    /// This example's share of its batch's wall time.
    pub seconds: f64,
    /// Waveform attacks: the perturbation against the clean clip's masking threshold (004).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masking: Option<psycho::MaskingStats>,
    /// When evaluated: the adversarial input in held-out simulated rooms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rooms: Option<room::RoomStats>,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Summary {
    pub examples: usize,
    pub counted: usize,
    pub successes: usize,
    /// Successes among counted examples.
    pub fooling_rate: f64,
    /// Means over the counted examples.
    pub mean_l2: f64,
    pub mean_linf: f64,
    /// Mean over counted examples with a non-zero perturbation.
    pub mean_snr_db: f64,
    pub mean_gradients: f64,
    pub mean_forwards: f64,
    /// Mean confidence of the adversarial label over the counted successes.
    pub mean_confidence: f64,
    pub seconds: f64,
    /// Means over the counted successful examples that have them: fraction of frames and of
    /// bins where the perturbation is under the masking threshold, and of held-out rooms fooled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_frames_under: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_bins_under: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mean_rooms_fooled: Option<f64>,
}

pub fn summarize(results: &[ExampleResult]) -> Summary {
    let c: Vec<&ExampleResult> = results.iter().filter(|r| r.counted).collect();
    let m = |f: &dyn Fn(&ExampleResult) -> f64| c.iter().map(|r| f(r)).sum::<f64>() / c.len().max(1) as f64;
    let snr: Vec<f64> = c.iter().map(|r| r.distortion.snr_db).filter(|s| s.is_finite()).collect();
    let fooled: Vec<f64> = c.iter().filter(|r| r.success).map(|r| r.confidence).collect();
    let mean_of = |f: &dyn Fn(&ExampleResult) -> Option<f64>| {
        let v: Vec<f64> = c.iter().filter(|r| r.success).filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    };
    Summary {
        examples: results.len(),
        counted: c.len(),
        successes: c.iter().filter(|r| r.success).count(),
        fooling_rate: c.iter().filter(|r| r.success).count() as f64 / c.len().max(1) as f64,
        mean_l2: m(&|r| r.distortion.l2),
        mean_linf: m(&|r| r.distortion.linf),
        mean_snr_db: snr.iter().sum::<f64>() / snr.len().max(1) as f64,
        mean_gradients: m(&|r| r.gradients as f64),
        mean_forwards: m(&|r| r.forwards as f64),
        mean_confidence: fooled.iter().sum::<f64>() / fooled.len().max(1) as f64,
        seconds: results.iter().map(|r| r.seconds).sum(),
        mean_frames_under: mean_of(&|r| r.masking.map(|m| m.frames_under)),
        mean_bins_under: mean_of(&|r| r.masking.map(|m| m.bins_under)),
        mean_rooms_fooled: mean_of(&|r| r.rooms.map(|m| m.fooled)),
    }
}

/// Attacks one batch end to end: clean prediction, `attack`, adversarial prediction,
/// distortion. `names` and `true_labels` are per example; returns the adversarial batch and the
/// results.
pub fn attack_batch(
    target: &AttackTarget,
    x: &Tensor,
    true_labels: &[Option<i64>],
    names: &[String],
    box_spec: BoxSpec,
    attack: &Attack,
) -> Result<(Tensor, Vec<ExampleResult>)> {
    let goal = attack.goal();
    let start = std::time::Instant::now();
    let n = x.size()[0] as usize;
    let x = x.to_device(target.device).to_kind(Kind::Float);
    let clean_pred = Vec::<i64>::try_from(target.predict(&x))?;
    let reference: Vec<i64> = (0..n).map(|i| true_labels[i].unwrap_or(clean_pred[i])).collect();
    let ref_t = Tensor::from_slice(&reference).to_device(target.device);
    let bounds = Bounds::of(&x, box_spec, target.domain);
    let out = attack.run(target, &x, &ref_t, &bounds)?;
    let adv_logits = target.logits(&out.adversarial);
    let adv_pred_t = adv_logits.argmax(-1, false);
    let confidence = Vec::<f64>::try_from(
        adv_logits.softmax(-1, Kind::Double).gather(1, &adv_pred_t.unsqueeze(1), false).squeeze_dim(1),
    )?;
    let achieved = Vec::<bool>::try_from(goal.achieved(&adv_pred_t, &ref_t))?;
    let adv_pred = Vec::<i64>::try_from(adv_pred_t)?;
    let dist = distortion(&x, &out.adversarial);
    let seconds = start.elapsed().as_secs_f64() / n.max(1) as f64;
    let tgt = match goal {
        Goal::Targeted(t) => Some(t),
        Goal::Untargeted => None,
    };
    let results = (0..n)
        .map(|i| ExampleResult {
            name: names[i].clone(),
            true_label: true_labels[i],
            original: clean_pred[i],
            adversarial: adv_pred[i],
            target: tgt,
            reference: reference[i],
            success: achieved[i],
            counted: clean_pred[i] == reference[i] && tgt != Some(reference[i]),
            distortion: dist[i],
            // +1 clean and +1 adversarial prediction per example.
            gradients: out.gradients[i],
            forwards: out.forwards[i] + 2,
            confidence: confidence[i],
            seconds,
            masking: None,
            rooms: None,
        })
        .collect();
    Ok((out.adversarial, results))
}

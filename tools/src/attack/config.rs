//! Which attack and its settings, with every default in one place: [`AttackKind`] (the
//! default ε, iterations and BIM step), [`OptParams`] (the optimization attacks' settings),
//! [`AttackConfig`], and [`Attack`], the one value [`super::attack_batch`] runs.

use super::target::{AttackTarget, Bounds, Goal};
use super::{bim, cw, deepfool, fgsm, jsma, lbfgs, psycho};
use crate::error::{Result, ToolsError};
use serde::{Deserialize, Serialize};
use tch::Tensor;

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


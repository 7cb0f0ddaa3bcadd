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
pub use crate::room;
pub mod runner;

mod batch;
mod config;
mod target;

pub use batch::{attack_batch, distortion, summarize, Distortion, ExampleResult, Summary};
pub use config::{Attack, AttackConfig, AttackKind, AttackOutput, OptParams};
pub(crate) use target::per_example;
pub use target::{runner_up, AttackTarget, Bounds, BoxSpec, Domain, Goal};


//! The imperceptible attack of 004 (Qin et al., supplement Algorithm 1 and §4.1) on a waveform
//! classifier, and its room-robust variant (§4.2), with the masking threshold θx of
//! `soundproof::dsp::masking` (computed once per clip by the engine) and [`PsdTch`], the tch twin
//! of the perturbation's PSD (Eq. 12), in the loss.
//!
//! Stage 1 (minimize ‖δ‖∞): from `δ = 0`, `T1` sign-gradient steps
//! `δ ← clip_ε(δ − lr1 · sign(∇δ ℓnet))`; every 10 iterations, if `x + δ` reaches the goal,
//! `ε ← 0.8 · min(ε, max|δ|)` and that `δ` is kept. Stage 2 (minimize perceptibility): from the
//! kept `δ`, `T2` Adam steps on `ℓnet + α · ℓθ` with
//! `ℓθ = mean over frames and bins of max(p̄δ − θx, 0)` in the stable powers of Eq. 13-14;
//! every 20 iterations `α ← 1.2 α` if the goal is reached, every 50 iterations `α ← 0.8 α` if
//! not; the learning rate drops to `lr2 / 10` for the last quarter (004: 3000 of 4000). The
//! output is the successful `δ` of lowest `ℓθ` seen in stage 2 (else stage 1's, else the last).
//!
//! For classification, `ℓnet` is the cross-entropy of the target label (targeted, as 004's
//! target phrase) or, untargeted, the cross-entropy of "not the reference label",
//! `−log(1 − p_ref)`. Both are bounded below and their gradients vanish once the goal is reached
//! with confidence, so that stage 2 can trade `ℓnet` against `ℓθ`; `−CE(ref)` has no minimum
//! and its gradient never vanishes, it would outweigh `ℓθ` for ever. Its gradient is the
//! reference label's cross-entropy gradient times `−p_ref / (1 − p_ref)` (one model gradient
//! either way). Each example has its own ε, α and Adam state. The goal
//! test of every check reuses the forward pass of that iteration's gradient (it tests the `δ`
//! the step starts from), so checks cost no extra forward. `x + δ` stays in the box.
//!
//! Masking analysis: θx from the clean clip, frames centred (`n_fft / 2` zeros at both ends, as
//! the model's front end frames), so that the first and last samples of the clip are not left
//! under the zero tails of an uncentred first or last window where a perturbation would escape
//! `ℓθ`. The PSD of δ is normalized with the clean clip's largest PSD (Eq. 13).
//!
//! Room-robust variant (`rooms = K > 0`): `ℓnet` is the mean over `K` rooms drawn per
//! iteration and example from a seeded pool of simulated rooms (see [`super::room`]) of the
//! loss on `t(x + δ)`; the goal counts as reached when it is reached in at least
//! `room_success · K` of them. `ℓθ` stays on δ itself. Each room is one model gradient.
//!
//! Imperceptible and robust ([`attack_robust`], 004 §4.2 then §4.3): a room-robust δ first
//! (sign steps, then Adam on the room-averaged `ℓnet` under a fixed L∞ bound), then Adam on
//! room-averaged `ℓnet + α · ℓθ` twice: a stage that favours the masking loss (α doubled when
//! 4 of 10 rooms are fooled) and one that restores robustness (8 of 10).
//!
//! Every per-example quantity (ε, α, the best `ℓθ`, the goal test) lives in a tensor on the
//! attack's device, so an iteration never waits for the device: on a GPU the host only queues
//! work, and the per-example metrics are read once, at the end.

use super::room::{reverberate, RirPool, RoomDistribution};
use super::{AttackOutput, AttackTarget, Bounds, Domain, Goal};
use crate::device::derive_seed;
use crate::error::{Result, ToolsError};
use crate::tensor_ops::{self, Adam};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use soundproof::dsp::masking::{self, db_to_power, MaskingParams, MaskingThreshold};
use soundproof::dsp::FftBackend;
use tch::{Device, Kind, Tensor};

/// Success checks of Algorithm 1: ε update (stage 1), α up, α down (stage 2).
const EPS_CHECK: usize = 10;
const ALPHA_UP_CHECK: usize = 20;
const ALPHA_DOWN_CHECK: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct PsychoConfig {
    /// Stage 1: initial L∞ bound ε on δ, in waveform units after the clip gain (004 §4.1:
    /// 2000 of the 16-bit full scale).
    pub eps: f64,
    /// Stage 1 step (004: 100 = ε/20) and iterations T1 (004: 1000).
    pub lr1: f64,
    pub steps1: usize,
    /// Stage 2 Adam learning rate (004: 1 = ε/2000, ÷10 for the last quarter) and iterations
    /// T2 (004: 4000).
    pub lr2: f64,
    pub steps2: usize,
    /// Initial α (004: 0.05).
    pub alpha: f64,
    /// Framing of the masking threshold (004: 16 kHz, 2048, 512).
    pub masking: MaskingParams,
    /// Rooms per iteration K (0: the plain attack; 004 §4.2: M = 10).
    pub rooms: usize,
    /// Simulated rooms in the pool the K are drawn from.
    pub room_pool: usize,
    /// Fraction of the K rooms in which the goal must be reached to count as success.
    pub room_success: f64,
    /// Length of the room impulse responses in samples.
    pub rir_len: usize,
    /// The stages of the imperceptible and robust attack (`psycho-robust`, 004 §4.2-4.3).
    pub robust: RobustStages,
    pub seed: u64,
}

impl PsychoConfig {
    /// 004's settings for audio at `sample_rate`, with ε and the learning rates in the units of
    /// a waveform of RMS 1 (ε = 0.1, lr1 = ε/20, lr2 = ε/100), and the iteration counts of
    /// §4.1-4.3.
    pub fn new(sample_rate: u32) -> Self {
        let eps = 0.1;
        PsychoConfig {
            eps,
            lr1: PsychoConfig::default_lr1(eps),
            lr2: PsychoConfig::default_lr2(eps),
            steps1: 1000,
            steps2: 4000,
            alpha: 0.05,
            masking: MaskingParams { sample_rate, ..MaskingParams::default() },
            rooms: 0,
            room_pool: 100,
            room_success: 0.8,
            rir_len: (sample_rate as usize) / 4,
            robust: RobustStages::default(),
            seed: 0,
        }
    }

    /// Stage 1's step for the bound ε: ε / 20 (004: 100 for ε = 2000).
    pub fn default_lr1(eps: f64) -> f64 {
        eps / 20.0
    }

    /// Stage 2's Adam learning rate for the bound ε: ε / 100.
    pub fn default_lr2(eps: f64) -> f64 {
        eps / 100.0
    }

    pub fn validate(&self) -> Result<()> {
        let pos = |name: &'static str, v: f64| if v.is_finite() && v > 0.0 { Ok(()) } else { Err(ToolsError::invalid(name, v, "a finite value > 0")) };
        pos("eps", self.eps)?;
        pos("lr1", self.lr1)?;
        pos("lr2", self.lr2)?;
        pos("alpha", self.alpha)?;
        self.masking.validate()?;
        if self.rooms > 0 {
            if self.room_pool == 0 || self.rir_len == 0 {
                return Err(ToolsError::invalid("room pool", format!("{} rooms of {} samples", self.room_pool, self.rir_len), "at least one room of one sample"));
            }
            if !(self.room_success > 0.0 && self.room_success <= 1.0) {
                return Err(ToolsError::invalid("room success", self.room_success, "a fraction in (0, 1]"));
            }
        }
        Ok(())
    }
}

/// `n_fft / 2` zeros at both ends of `x` (the centred analysis frames).
pub fn centre_pad(x: &[f32], n_fft: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; x.len() + 2 * (n_fft / 2)];
    out[n_fft / 2..n_fft / 2 + x.len()].copy_from_slice(x);
    out
}

/// The tch twin of the engine's `MaskingThreshold::clip_psd_power`: PSD powers
/// `|s(k) / N|²` (004 Eq. 12) with the √(8/3)-scaled periodic Hann window, differentiable.
#[derive(Debug)]
pub struct PsdTch {
    n_fft: i64,
    hop: i64,
    /// `[n_fft]`.
    window: Tensor,
}

impl PsdTch {
    pub fn new(params: &MaskingParams, device: Device, kind: Kind) -> Result<Self> {
        params.validate()?;
        let w: Vec<f64> = (0..params.n_fft).map(|n| masking::window_value(n, params.n_fft)).collect();
        // The engine holds its window in f32: round the same way so both see one window.
        let w: Vec<f32> = w.into_iter().map(|v| v as f32).collect();
        Ok(PsdTch { n_fft: params.n_fft as i64, hop: params.hop_length as i64, window: Tensor::from_slice(&w).to_kind(kind).to_device(device) })
    }

    /// `[N, T]` → `[N, frames, n_fft/2 + 1]` on the uncentred frames of `x` as given.
    pub fn power(&self, x: &Tensor) -> Tensor {
        self.psd(x, false)
    }

    /// The same on centred frames (`n_fft / 2` zeros at both ends).
    pub fn power_centred(&self, x: &Tensor) -> Tensor {
        self.psd(x, true)
    }

    fn psd(&self, x: &Tensor, center: bool) -> Tensor {
        tensor_ops::power(&tensor_ops::stft(x, self.n_fft, self.hop, &self.window, center)) / (self.n_fft * self.n_fft) as f64
    }
}

/// How far a perturbation is from audible, against the clean clip's masking threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct MaskingStats {
    /// Analysis frames (centred).
    pub frames: usize,
    /// Fraction of frames where `p̄δ <= θx` in every bin.
    pub frames_under: f64,
    /// Fraction of (frame, bin) pairs with `p̄δ <= θx`.
    pub bins_under: f64,
    /// `ℓθ`: mean over frames and bins of `max(p̄δ − θx, 0)` in powers (Eq. 13-14).
    pub loss_theta: f64,
    /// Largest `p̄δ − θx` in dB over frames and bins (negative: under everywhere).
    pub max_excess_db: f64,
}

fn threshold_engine(params: &MaskingParams) -> Result<Box<MaskingThreshold>> {
    Ok(Box::new(MaskingThreshold::new(params, FftBackend::default())?))
}

/// θx in dB of the clip `x` (centred frames) and its largest PSD in dB; `(θ [frames × bins], max)`.
pub fn clip_threshold(x: &[f32], params: &MaskingParams) -> Result<(Vec<f32>, f32)> {
    let mut m = threshold_engine(params)?;
    let xp = centre_pad(x, params.n_fft);
    let mut theta = vec![0.0f32; params.frame_count(xp.len()) * params.n_bins()];
    let max_db = m.clip_threshold(&xp, &mut theta)?;
    Ok((theta, max_db))
}

/// [`MaskingStats`] of `adv − clean` against the threshold of `clean` (both the same length),
/// computed by the engine in f32/f64.
pub fn masking_stats(clean: &[f32], adv: &[f32], params: &MaskingParams) -> Result<MaskingStats> {
    if clean.len() != adv.len() {
        return Err(ToolsError::invalid("adversarial length", adv.len(), "the clean clip's length"));
    }
    let (theta, max_db) = clip_threshold(clean, params)?;
    let delta: Vec<f32> = adv.iter().zip(clean).map(|(a, c)| a - c).collect();
    let mut m = threshold_engine(params)?;
    let dp = centre_pad(&delta, params.n_fft);
    let mut p = vec![0.0f32; theta.len()];
    m.clip_psd_power(&dp, &mut p)?;
    let max_px = db_to_power(max_db);
    let bins = params.n_bins();
    let (mut under, mut frames_under, mut loss, mut excess) = (0usize, 0usize, 0.0f64, f64::NEG_INFINITY);
    for (prow, trow) in p.chunks(bins).zip(theta.chunks(bins)) {
        let mut all = true;
        for (&pd, &t) in prow.iter().zip(trow) {
            let pn = masking::normalized_perturbation_psd(pd, max_px) as f64;
            let tp = db_to_power(t) as f64;
            if pn <= tp {
                under += 1;
            } else {
                all = false;
                loss += pn - tp;
            }
            if t.is_finite() {
                excess = excess.max(10.0 * pn.max(1e-30).log10() - t as f64);
            }
        }
        frames_under += all as usize;
    }
    let frames = theta.len() / bins;
    Ok(MaskingStats {
        frames,
        frames_under: frames_under as f64 / frames as f64,
        bins_under: under as f64 / theta.len() as f64,
        loss_theta: loss / theta.len() as f64,
        max_excess_db: excess,
    })
}

/// Per-batch constants of `ℓθ`: θx as powers `[B, frames, bins]` (`+∞` outside the hearing
/// range) and the Eq. 13 factor `10^{9.6} / max p_x` `[B, 1, 1]`.
struct Masks {
    theta: Tensor,
    scale: Tensor,
}

impl Masks {
    fn of(x: &Tensor, params: &MaskingParams) -> Result<Masks> {
        let n = x.size()[0];
        let xs = Vec::<f32>::try_from(x.to_device(Device::Cpu).to_kind(Kind::Float).reshape([-1]))?;
        let t = xs.len() / n as usize;
        let (mut theta, mut scale) = (Vec::new(), Vec::new());
        let mut frames = 0;
        for row in xs.chunks(t) {
            let (th, max_db) = clip_threshold(row, params)?;
            frames = th.len() / params.n_bins();
            theta.extend(th.into_iter().map(db_to_power));
            scale.push(10f64.powf((masking::NORMALIZED_PEAK_DB - max_db as f64) / 10.0) as f32);
        }
        let dev = x.device();
        Ok(Masks {
            theta: Tensor::from_slice(&theta).reshape([n, frames as i64, params.n_bins() as i64]).to_device(dev),
            scale: Tensor::from_slice(&scale).reshape([n, 1, 1]).to_device(dev),
        })
    }

    /// `ℓθ` per example `[B]`.
    fn loss(&self, psd: &PsdTch, delta: &Tensor) -> Tensor {
        (psd.power_centred(delta) * &self.scale - &self.theta).relu().mean_dim([1i64, 2].as_slice(), false, Kind::Float)
    }
}

/// `ℓθ` of each perturbation `delta` `[B, T]` against the threshold of its clean clip `x`
/// `[B, T]` (the attack's loss; differentiable in `delta`, on `delta`'s device).
pub fn masking_loss(x: &Tensor, delta: &Tensor, params: &MaskingParams) -> Result<Tensor> {
    let masks = Masks::of(&x.to_device(delta.device()), params)?;
    Ok(masks.loss(&PsdTch::new(params, delta.device(), Kind::Float)?, delta))
}

/// The loss-gradient oracle `∇δ ℓnet` and the goal test, plain or through rooms. Everything it
/// returns stays on the device: the goal test is a boolean tensor, so an iteration of the
/// attack never waits for the device (no host round trip in the inner loop).
struct Net<'a> {
    target: &'a AttackTarget,
    x: &'a Tensor,
    labels: Tensor,
    reference: &'a Tensor,
    goal: Goal,
    /// `(pool, K, rng)` of the room-robust variants.
    rooms: Option<(RirPool, usize, StdRng)>,
    /// Rooms (of the K) in which the goal must be reached for a success.
    need: usize,
}

impl Net<'_> {
    /// `(∇δ ℓnet [B, T], goal reached per example [B] (bool, on the device), model gradients per
    /// example)` at `δ`.
    fn eval(&mut self, delta: &Tensor) -> Result<(Tensor, Tensor, u64)> {
        let n = self.x.size()[0];
        match &mut self.rooms {
            None => {
                let (g, logits) = self.target.gradient(&(self.x + delta), &self.labels);
                let ok = self.goal.achieved(&logits.argmax(-1, false), self.reference);
                Ok((g * self.factor(&logits, &self.labels), ok, 1))
            }
            Some((pool, k, rng)) => {
                let k = *k as i64;
                let idx: Vec<i64> = (0..n * k).map(|_| rng.random_range(0..pool.len() as i64)).collect();
                let idx = Tensor::from_slice(&idx).reshape([n, k]).to_device(self.x.device());
                let d = delta.detach().set_requires_grad(true);
                let xin = reverberate(pool, &idx, self.x, &(self.x + &d));
                let rep = |t: &Tensor| t.unsqueeze(1).repeat([1, k]).reshape([-1]);
                let (g_in, logits) = self.target.gradient(&xin.detach(), &rep(&self.labels));
                // Vector-Jacobian product through the (linear) room: ∇δ Σ_k J(t_k(x + δ)).
                let g_in = g_in * self.factor(&logits, &rep(&self.labels));
                let g = Tensor::run_backward(&[(&xin * g_in).sum(Kind::Float)], &[&d], false, false).remove(0);
                let fooled = self.goal.achieved(&logits.argmax(-1, false), &rep(self.reference)).reshape([n, k]).sum_dim_intlist(1, false, Kind::Int64);
                Ok((g / k as f64, fooled.ge(self.need as i64), k as u64))
            }
        }
    }

    /// Per input `[N, 1]`: `∇ℓnet = factor · ∇CE(labels)`. Targeted: 1. Untargeted:
    /// `∇(−log(1 − p_ref)) = −p_ref / (1 − p_ref) · ∇CE(ref)`, from the logits of the same pass
    /// (capped at 1e6 where `p_ref` rounds to 1).
    fn factor(&self, logits: &Tensor, labels: &Tensor) -> Tensor {
        match self.goal {
            Goal::Targeted(_) => logits.ones_like().narrow(1, 0, 1),
            Goal::Untargeted => {
                let lsm = logits.detach().log_softmax(-1, Kind::Float);
                let lp = lsm.gather(1, &labels.unsqueeze(1), false);
                let others = lsm.scatter_value(1, &labels.unsqueeze(1), f64::NEG_INFINITY).logsumexp([1i64].as_slice(), true);
                -(lp - others).exp().clamp_max(1e6)
            }
        }
    }
}

/// Per-example values `[B]` in float64 on `device`, all `v`.
fn per_example(n: usize, v: f64, device: Device) -> Tensor {
    Tensor::full([n as i64], v, (Kind::Double, device))
}

/// Everything the stages share: the clips, the goal oracle, the masks, the box and the cost.
struct Run<'a> {
    x: &'a Tensor,
    net: Net<'a>,
    masks: Masks,
    psd: PsdTch,
    bounds: &'a Bounds,
    /// Model gradients per example so far (the same for every example: each iteration costs
    /// every example the same).
    gradients: u64,
}

impl Run<'_> {
    fn box_clip(&self, d: &Tensor) -> Tensor {
        self.bounds.clip(&(self.x + d)) - self.x
    }

    /// Stage 1 of Algorithm 1 (minimize ‖δ‖∞): from `δ = 0`, `steps` sign-gradient steps of
    /// `lr` under the bound `ε` (`[B]`, float64), which shrinks to `0.8 · min(ε, max|δ|)` at every
    /// tenth iteration where the goal is reached. Returns the last `δ` that reached the goal
    /// (else the last `δ`), whether one did `[B]`, and the final `ε` `[B]`.
    fn sign_stage(&mut self, eps0: f64, lr: f64, steps: usize) -> Result<(Tensor, Tensor, Tensor)> {
        let (n, dev) = (self.x.size()[0] as usize, self.x.device());
        let mut delta = self.x.zeros_like();
        let mut eps = per_example(n, eps0, dev);
        let mut kept = self.x.zeros_like();
        let mut found = Tensor::zeros([n as i64], (Kind::Bool, dev));
        for i in 0..steps {
            let (g, ok, cost) = self.net.eval(&delta)?;
            self.gradients += cost;
            if i % EPS_CHECK == 0 {
                let peak = delta.abs().amax([1].as_slice(), false).to_kind(Kind::Double);
                eps = eps.minimum(&peak).g_mul_scalar(0.8).where_self(&ok, &eps);
                found = found.logical_or(&ok);
                kept = delta.where_self(&ok.unsqueeze(1), &kept);
            }
            let e = eps.to_kind(Kind::Float).unsqueeze(1);
            delta = self.box_clip(&(&delta - g.sign() * lr).clamp_tensor(Some(&-&e), Some(&e)));
        }
        Ok((kept.where_self(&found.unsqueeze(1), &delta), found, eps))
    }

    /// An Adam stage on `ℓnet + α · ℓθ` from `delta` (see [`AdamStage`]). Returns the `δ` of
    /// lowest `ℓθ` among those that reached the goal, whether one did `[B]`, and the last `δ`.
    fn adam_stage(&mut self, delta: &Tensor, stage: &AdamStage) -> Result<(Tensor, Tensor, Tensor)> {
        let (n, dev) = (self.x.size()[0] as usize, self.x.device());
        let mut delta = delta.shallow_clone();
        let mut alpha = per_example(n, stage.alpha, dev);
        let mut adam = Adam::new(&delta);
        let mut best = delta.copy();
        let mut best_loss = per_example(n, f64::INFINITY, dev);
        let linf = stage.linf.as_ref().map(|e| e.to_kind(Kind::Float).unsqueeze(1));
        for i in 0..stage.steps {
            let d = delta.detach().set_requires_grad(true);
            let lt = self.masks.loss(&self.psd, &d);
            let g_theta = if stage.alpha > 0.0 {
                Some(Tensor::run_backward(&[(&lt * alpha.to_kind(Kind::Float)).sum(Kind::Float)], &[&d], false, false).remove(0))
            } else {
                None
            };
            let lt = lt.detach().to_kind(Kind::Double);
            let (g_net, ok, cost) = self.net.eval(&delta)?;
            self.gradients += cost;
            let better = ok.logical_and(&lt.lt_tensor(&best_loss));
            best_loss = lt.where_self(&better, &best_loss);
            best = delta.where_self(&better.unsqueeze(1), &best);
            if i % ALPHA_UP_CHECK == 0 {
                alpha = alpha.g_mul_scalar(stage.alpha_up).where_self(&ok, &alpha);
            }
            if i % ALPHA_DOWN_CHECK == 0 {
                alpha = alpha.g_mul_scalar(stage.alpha_down).where_self(&ok.logical_not(), &alpha);
            }
            let lr = if stage.lr_drop && i >= stage.steps - stage.steps / 4 { stage.lr / 10.0 } else { stage.lr };
            let g = match g_theta {
                Some(gt) => g_net + gt,
                None => g_net,
            };
            let mut next = &delta - adam.step(&g, lr);
            if let Some(e) = &linf {
                next = next.clamp_tensor(Some(&-e), Some(e));
            }
            delta = self.box_clip(&next);
        }
        Ok((best, best_loss.isfinite(), delta))
    }
}

impl Run<'_> {
    /// An Adam stage whose output is its best successful `δ`, else its start.
    fn chained(&mut self, start: &Tensor, stage: &AdamStage) -> Result<Tensor> {
        let (best, found, _) = self.adam_stage(start, stage)?;
        Ok(best.where_self(&found.unsqueeze(1), start))
    }
}

/// One Adam stage: `steps` iterations of rate `lr` on `ℓnet + α · ℓθ`, α starting at `alpha`
/// (0: `ℓnet` alone), multiplied by `alpha_up` at every 20th iteration where the goal is
/// reached and by `alpha_down` at every 50th where it is not (Algorithm 1's schedule); `lr_drop`:
/// the rate falls to `lr / 10` for the last quarter; `linf`: an L∞ bound `[B]` on δ.
struct AdamStage {
    steps: usize,
    lr: f64,
    lr_drop: bool,
    alpha: f64,
    alpha_up: f64,
    alpha_down: f64,
    linf: Option<Tensor>,
}

fn setup<'a>(target: &'a AttackTarget, x: &'a Tensor, reference: &'a Tensor, bounds: &'a Bounds, goal: Goal, cfg: &PsychoConfig, rooms: usize) -> Result<Run<'a>> {
    cfg.validate()?;
    if target.domain != Domain::Waveform || x.dim() != 2 {
        return Err(ToolsError::invalid("domain", format!("{:?} input of shape {:?}", target.domain, x.size()), "waveform [N, samples] (004's attack perturbs the waveform)"));
    }
    let dev = x.device();
    let masks = Masks::of(x, &cfg.masking)?;
    let psd = PsdTch::new(&cfg.masking, dev, Kind::Float)?;
    let (labels, _) = goal.loss_labels(reference);
    let need = (cfg.room_success * rooms as f64).ceil() as usize;
    let rooms = if rooms > 0 {
        let pool = RirPool::new(&RoomDistribution::default(), cfg.room_pool, cfg.masking.sample_rate, cfg.rir_len, cfg.seed, dev)?;
        Some((pool, rooms, StdRng::seed_from_u64(derive_seed(cfg.seed, &[u64::MAX]))))
    } else {
        None
    };
    Ok(Run { x, net: Net { target, x, labels, reference, goal, rooms, need }, masks, psd, bounds, gradients: 0 })
}

fn output(run: &Run, delta: &Tensor) -> AttackOutput {
    let n = run.x.size()[0] as usize;
    // One forward per model gradient.
    AttackOutput { adversarial: (run.x + delta).detach(), forwards: vec![run.gradients; n], gradients: vec![run.gradients; n] }
}

/// Algorithm 1 of 004 on the batch `x` `[B, T]` (waveform domain) against `reference` `[B]`.
pub fn attack(target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds, goal: Goal, cfg: &PsychoConfig) -> Result<AttackOutput> {
    let x = x.to_kind(Kind::Float);
    let mut run = setup(target, &x, reference, bounds, goal, cfg, cfg.rooms)?;
    let (delta, _, _) = run.sign_stage(cfg.eps, cfg.lr1, cfg.steps1)?;
    let stage2 = AdamStage { steps: cfg.steps2, lr: cfg.lr2, lr_drop: true, alpha: cfg.alpha, alpha_up: 1.2, alpha_down: 0.8, linf: None };
    // The successful δ of lowest ℓθ, else stage 1's, else the last.
    let (best, found, last) = run.adam_stage(&delta, &stage2)?;
    Ok(output(&run, &best.where_self(&found.unsqueeze(1), &last)))
}

/// The four stages of the imperceptible and room-robust attack (004 §4.2, then §4.3), with
/// 004's settings as defaults (see [`attack_robust`]).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct RobustStages {
    /// Iterations: §4.2 stage 1 (sign steps, 004: 2000) and stage 2 (Adam on the room-averaged
    /// ℓnet under a fixed L∞ bound, 4000); §4.3 stage 1 (imperceptibility, 4000) and stage 2
    /// (robustness again, 6000).
    pub steps: [usize; 4],
    /// ∆ of §4.2 stage 2: the L∞ bound is `ε*_r · (1 + delta)` (004 leaves ∆ open).
    pub delta: f64,
    /// Rooms of the K in which §4.3 stage 1 must reach the goal to raise α (004: 4 of 10).
    pub low_success: f64,
}

impl Default for RobustStages {
    fn default() -> Self {
        RobustStages { steps: [2000, 4000, 4000, 6000], delta: 0.25, low_success: 0.4 }
    }
}

/// 004's imperceptible and robust attack: §4.2 builds a room-robust `δ`, §4.3 makes it
/// imperceptible and then robust again. With the learning rates of [`PsychoConfig`] as the
/// units of 004's (`lr1` ↔ 100, `lr2` ↔ 1):
///
/// 1. §4.2 stage 1: `steps[0]` sign-gradient steps of `lr1 / 2` (004: 50) on the mean `ℓnet`
///    over `K = cfg.rooms` rooms drawn per iteration, ε shrinking from `cfg.eps` as in
///    Algorithm 1, success = the goal in `room_success · K` rooms;
/// 2. §4.2 stage 2: `steps[1]` Adam steps of `5 · lr2` (004: 5) on the room-averaged `ℓnet`
///    alone, δ held in the L∞ ball of `ε*_r · (1 + delta)` (004's `ε*_r + ∆`);
/// 3. §4.3 stage 1: `steps[2]` Adam steps of `lr2` (004: 1) on room-averaged `ℓnet + α · ℓθ`,
///    α from 0.01, doubled at every 20th iteration where the goal is reached in
///    `low_success · K` rooms (004: 4 of 10), halved at every 50th where it is not;
/// 4. §4.3 stage 2: `steps[3]` Adam steps of `1.5 · lr2` (004: 1.5), α from 0.00005, ×1.2 at
///    every 20th iteration with the goal in `room_success · K` rooms (004: 8 of 10), ×0.8 at
///    every 50th without (Algorithm 1's decrease; 004 states only the increase).
///
/// Both §4.3 stages end as Algorithm 1's stage 2 does, at a tenth of their rate for the last
/// quarter (004 states no decay for §4.3; without it the final iterates keep Adam's step-size
/// jitter, and at 004's counts on kws-cnn only 14 % of frames ended fully under θx).
///
/// Each stage starts from the previous one's output: the successful `δ` of lowest `ℓθ` it saw,
/// or its own start when none succeeded. `ℓθ` is on δ itself (the perturbation as played),
/// `ℓnet` on the reverberated `t(x + δ)`. Each iteration costs K model gradients per example.
pub fn attack_robust(target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds, goal: Goal, cfg: &PsychoConfig, stages: &RobustStages) -> Result<AttackOutput> {
    if cfg.rooms == 0 {
        return Err(ToolsError::invalid("rooms", 0, "at least one room per iteration (the robust attack averages over rooms)"));
    }
    if !(stages.delta.is_finite() && stages.delta >= 0.0) || !(stages.low_success > 0.0 && stages.low_success <= 1.0) {
        return Err(ToolsError::invalid("robust stages", format!("∆ {} and low success {}", stages.delta, stages.low_success), "∆ ≥ 0 and a fraction in (0, 1]"));
    }
    let x = x.to_kind(Kind::Float);
    let mut run = setup(target, &x, reference, bounds, goal, cfg, cfg.rooms)?;
    let (need_high, need_low) = (run.net.need, ((stages.low_success * cfg.rooms as f64).ceil() as usize).max(1));
    let [s1, s2, s3, s4] = stages.steps;
    // §4.2 stage 1.
    let (delta, _, eps) = run.sign_stage(cfg.eps, cfg.lr1 / 2.0, s1)?;
    // §4.2 stage 2: ε fixed at ε*_r + ∆, ℓnet alone.
    let bound = eps.g_mul_scalar(1.0 + stages.delta);
    let robust = AdamStage { steps: s2, lr: 5.0 * cfg.lr2, lr_drop: false, alpha: 0.0, alpha_up: 1.0, alpha_down: 1.0, linf: Some(bound) };
    let delta = run.chained(&delta, &robust)?;
    // §4.3 stage 1: imperceptibility, success in fewer rooms.
    run.net.need = need_low;
    let quiet = AdamStage { steps: s3, lr: cfg.lr2, lr_drop: true, alpha: 0.01, alpha_up: 2.0, alpha_down: 0.5, linf: None };
    let delta = run.chained(&delta, &quiet)?;
    // §4.3 stage 2: robustness again.
    run.net.need = need_high;
    let again = AdamStage { steps: s4, lr: 1.5 * cfg.lr2, lr_drop: true, alpha: 5e-5, alpha_up: 1.2, alpha_down: 0.8, linf: None };
    let delta = run.chained(&delta, &again)?;
    Ok(output(&run, &delta))
}

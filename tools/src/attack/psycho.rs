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

use super::room::{reverberate, RirPool, RoomDistribution};
use super::{AttackOutput, AttackTarget, Bounds, Domain, Goal};
use crate::device::derive_seed;
use crate::error::{Result, ToolsError};
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
    pub seed: u64,
}

impl PsychoConfig {
    /// 004's settings for audio at `sample_rate`, with ε and the learning rates in the units of
    /// a waveform of RMS 1, and the iteration counts of §4.1.
    pub fn new(sample_rate: u32) -> Self {
        let eps = 0.1;
        PsychoConfig {
            eps,
            lr1: eps / 20.0,
            steps1: 1000,
            lr2: eps / 100.0,
            steps2: 4000,
            alpha: 0.05,
            masking: MaskingParams { sample_rate, ..MaskingParams::default() },
            rooms: 0,
            room_pool: 100,
            room_success: 0.8,
            rir_len: (sample_rate as usize) / 4,
            seed: 0,
        }
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
        let frames = x.unfold(-1, self.n_fft, self.hop) * &self.window;
        let spec = frames.fft_rfft(None, -1, "backward");
        spec.view_as_real().square().sum_dim_intlist(-1, false, None::<Kind>) / (self.n_fft * self.n_fft) as f64
    }

    /// The same on centred frames (`n_fft / 2` zeros at both ends).
    pub fn power_centred(&self, x: &Tensor) -> Tensor {
        self.power(&x.constant_pad_nd([self.n_fft / 2, self.n_fft / 2]))
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

/// Adam (Kingma & Ba 2014) with the usual β1 = 0.9, β2 = 0.999, ε = 1e-8, elementwise.
struct Adam {
    m: Tensor,
    v: Tensor,
    t: i32,
}

impl Adam {
    fn new(like: &Tensor) -> Self {
        Adam { m: like.zeros_like(), v: like.zeros_like(), t: 0 }
    }

    /// The step to subtract for gradient `g`.
    fn step(&mut self, g: &Tensor, lr: f64) -> Tensor {
        let (b1, b2) = (0.9, 0.999);
        self.t += 1;
        self.m = &self.m * b1 + g * (1.0 - b1);
        self.v = &self.v * b2 + g.square() * (1.0 - b2);
        let mh = &self.m / (1.0 - f64::powi(b1, self.t));
        let vh = &self.v / (1.0 - f64::powi(b2, self.t));
        mh / (vh.sqrt() + 1e-8) * lr
    }
}

/// The loss-gradient oracle `∇δ ℓnet` and the goal test, plain or through rooms.
struct Net<'a> {
    target: &'a AttackTarget,
    x: &'a Tensor,
    labels: Tensor,
    reference: &'a Tensor,
    goal: Goal,
    rooms: Option<(RirPool, usize, usize, StdRng)>,
}

impl Net<'_> {
    /// `(∇δ ℓnet [B, T], goal reached per example, model gradients per example)` at `δ`.
    fn eval(&mut self, delta: &Tensor) -> Result<(Tensor, Vec<bool>, u64)> {
        let n = self.x.size()[0];
        match &mut self.rooms {
            None => {
                let (g, logits) = self.target.gradient(&(self.x + delta), &self.labels);
                let ok = Vec::<bool>::try_from(self.goal.achieved(&logits.argmax(-1, false), self.reference))?;
                Ok((g * self.factor(&logits, &self.labels), ok, 1))
            }
            Some((pool, k, need, rng)) => {
                let (k, need) = (*k as i64, *need);
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
                let ok = Vec::<i64>::try_from(fooled)?.into_iter().map(|c| c as usize >= need).collect();
                Ok((g / k as f64, ok, k as u64))
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

fn per_example(v: &[f64], device: Device) -> Tensor {
    Tensor::from_slice(v).to_kind(Kind::Float).reshape([-1, 1]).to_device(device)
}

/// Algorithm 1 of 004 on the batch `x` `[B, T]` (waveform domain) against `reference` `[B]`.
pub fn attack(target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds, goal: Goal, cfg: &PsychoConfig) -> Result<AttackOutput> {
    cfg.validate()?;
    if target.domain != Domain::Waveform || x.dim() != 2 {
        return Err(ToolsError::invalid("domain", format!("{:?} input of shape {:?}", target.domain, x.size()), "waveform [N, samples] (004's attack perturbs the waveform)"));
    }
    let (n, dev) = (x.size()[0] as usize, x.device());
    let x = x.to_kind(Kind::Float);
    let masks = Masks::of(&x, &cfg.masking)?;
    let psd = PsdTch::new(&cfg.masking, dev, Kind::Float)?;
    let (labels, _) = goal.loss_labels(reference);
    let rooms = if cfg.rooms > 0 {
        let pool = RirPool::new(&RoomDistribution::default(), cfg.room_pool, cfg.masking.sample_rate, cfg.rir_len, cfg.seed, dev)?;
        let need = (cfg.room_success * cfg.rooms as f64).ceil() as usize;
        Some((pool, cfg.rooms, need, StdRng::seed_from_u64(derive_seed(cfg.seed, &[u64::MAX]))))
    } else {
        None
    };
    let mut net = Net { target, x: &x, labels, reference, goal, rooms };
    let mut gradients = vec![0u64; n];
    let box_clip = |d: Tensor| bounds.clip(&(&x + d)) - &x;

    // Stage 1.
    let mut delta = x.zeros_like();
    let mut eps = vec![cfg.eps; n];
    let mut kept1 = x.zeros_like();
    let mut found1 = vec![false; n];
    for i in 0..cfg.steps1 {
        let (g, ok, cost) = net.eval(&delta)?;
        gradients.iter_mut().for_each(|c| *c += cost);
        if i % EPS_CHECK == 0 && ok.iter().any(|&s| s) {
            let peak = Vec::<f64>::try_from(delta.abs().amax([1].as_slice(), false).to_kind(Kind::Double))?;
            let won: Vec<i64> = (0..n).filter(|&b| ok[b]).map(|b| b as i64).collect();
            for &b in &won {
                let b = b as usize;
                eps[b] = eps[b].min(peak[b]) * 0.8;
                found1[b] = true;
            }
            let idx = Tensor::from_slice(&won).to_device(dev);
            kept1 = kept1.index_copy(0, &idx, &delta.index_select(0, &idx));
        }
        let e = per_example(&eps, dev);
        delta = box_clip((&delta - g.sign() * cfg.lr1).clamp_tensor(Some(&-&e), Some(&e)));
    }
    let f1 = Tensor::from_slice(&found1).to_device(dev).unsqueeze(1);
    delta = kept1.where_self(&f1, &delta);

    // Stage 2.
    let mut alpha = vec![cfg.alpha; n];
    let mut adam = Adam::new(&delta);
    let mut best = delta.copy();
    let mut best_loss = vec![f64::INFINITY; n];
    for i in 0..cfg.steps2 {
        let d = delta.detach().set_requires_grad(true);
        let lt = masks.loss(&psd, &d);
        let g_theta = Tensor::run_backward(&[(&lt * per_example(&alpha, dev).squeeze_dim(1)).sum(Kind::Float)], &[&d], false, false).remove(0);
        let lt = Vec::<f64>::try_from(lt.detach().to_kind(Kind::Double))?;
        let (g_net, ok, cost) = net.eval(&delta)?;
        gradients.iter_mut().for_each(|c| *c += cost);
        let better: Vec<i64> = (0..n).filter(|&b| ok[b] && lt[b] < best_loss[b]).map(|b| b as i64).collect();
        if !better.is_empty() {
            for &b in &better {
                best_loss[b as usize] = lt[b as usize];
            }
            let idx = Tensor::from_slice(&better).to_device(dev);
            best = best.index_copy(0, &idx, &delta.index_select(0, &idx));
        }
        for b in 0..n {
            if i % ALPHA_UP_CHECK == 0 && ok[b] {
                alpha[b] *= 1.2;
            }
            if i % ALPHA_DOWN_CHECK == 0 && !ok[b] {
                alpha[b] *= 0.8;
            }
        }
        let lr = if i >= cfg.steps2 - cfg.steps2 / 4 { cfg.lr2 / 10.0 } else { cfg.lr2 };
        delta = box_clip(&delta - adam.step(&(g_net + g_theta), lr));
    }
    let found2: Vec<bool> = best_loss.iter().map(|l| l.is_finite()).collect();
    let f2 = Tensor::from_slice(&found2).to_device(dev).unsqueeze(1);
    let out = best.where_self(&f2, &delta);
    // One forward per model gradient.
    Ok(AttackOutput { adversarial: (&x + out).detach(), forwards: gradients.clone(), gradients })
}

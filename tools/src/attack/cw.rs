//! Carlini-Wagner L2 (000/001 §II-E, Eq. 9-12): minimize `‖x' − x‖₂² + c·f(x')` (Eq. 9) over
//! the tanh variable `w` of the box (Eq. 11, for the per-example box `[lo, hi]`:
//! `x' = (hi + lo)/2 + (hi − lo)/2 · tanh(w)`, so every iterate lies in the box without
//! clipping), with the margin of the logits `Z` and the confidence κ:
//!
//! * targeted (Eq. 10): `f(x') = max(max_{i≠t} Z_i − Z_t, −κ)`;
//! * untargeted (Eq. 12): `f(x') = max(Z_l − max_{i≠l} Z_i, −κ)`, `l` the reference label.
//!
//! For each value of c, Adam (β = 0.9, 0.999) runs from the clean input for `iterations`
//! steps, or fewer with `abort_early`: every tenth of the iterations the objective must have
//! fallen below 0.9999 of its last check. Unlike Carlini and Wagner's code, the first check
//! (iteration 0, at the clean input) only records: there the objective is `c·f(x)` alone, and
//! Adam's first steps move every coordinate by about the learning rate, so on inputs of
//! thousands of features the distance term outgrows it before the loss can fall and every
//! value of c would end after a tenth of its iterations. An iterate succeeds when its label reaches the goal
//! with a margin of at least κ (`f = −κ`); the successful iterate of smallest L2 over the whole
//! search is the output (the clean input where none succeeded). Binary search on c per example,
//! as Carlini and Wagner's: a success sets `c_hi = c`, a failure `c_lo = c`, and the next c is
//! `(c_lo + c_hi)/2`, or `10·c` while no success is known. One gradient (whose forward pass
//! gives the logits of the success check) per example and iteration. Without a box
//! ([`super::BoxSpec::Unbounded`]) the variable is `x'` itself.

use super::{per_example, AttackOutput, AttackTarget, Bounds, Goal, OptParams};
use crate::error::Result;
use crate::tensor_ops::adam_update;
use tch::{Kind, Tensor};

/// Per example, the logit margin towards the goal: `Z_t − max_{i≠t} Z_i` (targeted, `labels`
/// the target) or `max_{i≠l} Z_i − Z_l` (untargeted, `labels` the reference). `f = max(−margin, −κ)`.
pub fn margin(logits: &Tensor, labels: &Tensor, goal: Goal) -> Tensor {
    let c = logits.size()[1];
    let own = logits.gather(1, &labels.unsqueeze(1), false).squeeze_dim(1);
    let other = logits.masked_fill(&labels.one_hot(c).to_kind(Kind::Bool), f64::NEG_INFINITY).amax([1].as_slice(), false);
    match goal {
        Goal::Targeted(_) => own - other,
        Goal::Untargeted => other - own,
    }
}

pub fn attack(target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds, goal: Goal, p: &OptParams, iterations: usize) -> Result<AttackOutput> {
    let n = x.size()[0] as usize;
    let dev = x.device();
    let x = x.detach();
    let bshape: Vec<i64> = std::iter::once(-1).chain(std::iter::repeat_n(1, x.dim() - 1)).collect();
    let boxed = bool::try_from(bounds.lo.isfinite().logical_and(&bounds.hi.isfinite()).all())?;
    let (mid, half) = ((&bounds.hi + &bounds.lo) / 2.0, (&bounds.hi - &bounds.lo) / 2.0);
    // Eq. 11: x' = mid + half·tanh(w), dx'/dw = half·(1 − tanh²w).
    let to_x = |w: &Tensor, idx: &Tensor| if boxed { mid.index_select(0, idx) + half.index_select(0, idx) * w.tanh() } else { w.shallow_clone() };
    let dxdw = |w: &Tensor, idx: &Tensor| if boxed { half.index_select(0, idx) * (1.0 - w.tanh().square()) } else { w.ones_like() };
    let w0 = if boxed {
        // A clean value on the bound maps to ±(1 − 10⁻⁶) (atanh(±1) is infinite); a box of
        // zero width keeps w at 0.
        let r = ((&x - &mid) / &half).where_self(&half.gt(0.0).expand_as(&x), &x.zeros_like());
        r.clamp(-(1.0 - 1e-6), 1.0 - 1e-6).atanh()
    } else {
        x.shallow_clone()
    };
    let labels = match goal {
        Goal::Targeted(t) => reference.full_like(t),
        Goal::Untargeted => reference.shallow_clone(),
    };
    let kappa = p.confidence;
    let mut c = vec![p.c_init; n];
    let (mut c_lo, mut c_hi) = (vec![0.0f64; n], vec![f64::INFINITY; n]);
    let mut best_l2 = vec![f64::INFINITY; n];
    let mut best = x.copy();
    let mut gradients = vec![0u64; n];
    let mut forwards = vec![0u64; n];
    let check_every = (iterations / 10).max(1);
    for _ in 0..p.search_steps {
        let mut w = w0.copy();
        let mut m = w.zeros_like();
        let mut v = w.zeros_like();
        let mut active: Vec<i64> = (0..n as i64).collect();
        let mut prev = vec![f64::INFINITY; n];
        let mut reached = vec![false; n];
        for it in 0..iterations {
            if active.is_empty() {
                break;
            }
            let idx = Tensor::from_slice(&active).to_device(dev);
            let na = active.len() as i64;
            let (wa, xa) = (w.index_select(0, &idx), x.index_select(0, &idx));
            let xp = to_x(&wa, &idx);
            let la = labels.index_select(0, &idx);
            let (gf, logits) = target.loss_gradient(&xp, |z| (-margin(z, &la, goal)).clamp_min(-kappa));
            for &i in &active {
                gradients[i as usize] += 1;
                forwards[i as usize] += 1;
            }
            let marg = margin(&logits, &la, goal);
            let ok = goal.achieved(&logits.argmax(-1, false), &reference.index_select(0, &idx)).logical_and(&marg.ge(kappa));
            let diff = &xp - &xa;
            let l2 = diff.reshape([na, -1]).to_kind(Kind::Double).square().sum_dim_intlist(1, false, Kind::Double);
            let ca: Vec<f64> = active.iter().map(|&i| c[i as usize]).collect();
            let ct = Tensor::from_slice(&ca).to_device(dev);
            let obj = &l2 + &ct * (-&marg).clamp_min(-kappa).to_kind(Kind::Double);
            // ∇_w of Eq. 9 by the chain rule through Eq. 11.
            let g = (diff * 2.0 + gf * ct.to_kind(x.kind()).view(bshape.as_slice())) * dxdw(&wa, &idx);
            let t = (it + 1) as i32;
            let (ma, va, step) = adam_update(&m.index_select(0, &idx), &v.index_select(0, &idx), &g, t, p.lr);
            w = w.index_copy(0, &idx, &(wa - step));
            m = m.index_copy(0, &idx, &ma);
            v = v.index_copy(0, &idx, &va);
            let (ok, l2, obj) = (Vec::<bool>::try_from(ok)?, per_example(&l2)?, per_example(&obj)?);
            let better: Vec<i64> = (0..active.len()).filter(|&j| ok[j] && l2[j] < best_l2[active[j] as usize]).map(|j| j as i64).collect();
            if !better.is_empty() {
                let local = Tensor::from_slice(&better).to_device(dev);
                let global: Vec<i64> = better.iter().map(|&j| active[j as usize]).collect();
                best = best.index_copy(0, &Tensor::from_slice(&global).to_device(dev), &xp.index_select(0, &local));
                for &j in &better {
                    best_l2[active[j as usize] as usize] = l2[j as usize];
                }
            }
            let mut still = Vec::with_capacity(active.len());
            for (j, &i) in active.iter().enumerate() {
                let i = i as usize;
                reached[i] |= ok[j];
                if p.abort_early && it % check_every == 0 && it > 0 {
                    if obj[j] > prev[i] * 0.9999 {
                        continue;
                    }
                    prev[i] = obj[j];
                }
                still.push(i as i64);
            }
            active = still;
        }
        for i in 0..n {
            if reached[i] {
                c_hi[i] = c_hi[i].min(c[i]);
            } else {
                c_lo[i] = c_lo[i].max(c[i]);
            }
            c[i] = if c_hi[i].is_finite() { (c_lo[i] + c_hi[i]) / 2.0 } else { c[i] * 10.0 };
        }
    }
    Ok(AttackOutput { adversarial: best.detach(), gradients, forwards })
}

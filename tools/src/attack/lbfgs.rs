//! L-BFGS (Szegedy et al.; 000/001 §II-A, Eq. 2), the baseline attack: for the target `l'`,
//! minimize `c·‖δ‖₂² + J(x + δ, l')` (J the cross-entropy) over `x' = x + δ` in the box, and
//! search c for the largest value whose minimizer is still adversarial (c weighs the
//! distance: the larger c, the smaller δ).
//!
//! The minimizer: tch has no L-BFGS-B, so this is a projected L-BFGS (memory [`MEMORY`]). At
//! `x_k` the free variables are those the gradient does not push out of the box (held: at `lo`
//! with `g > 0`, at `hi` with `g < 0`); the two-loop recursion on the free variables gives the
//! direction, with `H₀ = sᵀy / yᵀy` of the newest pair (`1/(2c)` before any pair: the exact
//! Newton step of the distance term), and falls back to the scaled projected gradient where it
//! is not a descent direction; a backtracking line search (Armijo 10⁻⁴, halving, at most
//! [`LINE_TRIALS`] trials) along the projected path `P(x_k + t·d)` from `t = 1`. Pairs with
//! `sᵀy ≤ 10⁻¹⁰` are skipped. An example stops after `iterations` iterations, when its line
//! search fails, or when the objective falls by less than 10⁻⁹ of itself. This is not
//! L-BFGS-B's generalized Cauchy point and subspace minimization, but it has the same fixed
//! points (the projected gradient vanishes) and reduces to L-BFGS inside the box.
//!
//! The search on c, per example, `search_steps` values: from `c_init`, c ← c/10 while every
//! value failed, c ← 10·c while every value succeeded, then bisection in log scale between the
//! largest success `c_s` and the smallest failure `c_f`, c ← √(c_s·c_f) (the line search of
//! Eq. 2). A value succeeds when its minimizer reaches the goal. Every accepted iterate that
//! reaches the goal is a candidate; the output is the candidate of smallest L2 (the clean input
//! where there is none).
//!
//! Untargeted: the target is the runner-up class at the clean input (as for JSMA), success any
//! label but the reference. Cost per example: one gradient at the clean input (shared by all
//! values of c: the distance term vanishes there), one per iteration, and one forward per
//! line-search trial.

use super::{per_example, runner_up, AttackOutput, AttackTarget, Bounds, Goal};
use crate::error::Result;
use std::collections::VecDeque;
use tch::{Kind, Tensor};

/// Pairs `(s, y)` kept by the two-loop recursion.
pub const MEMORY: usize = 10;
/// Line-search trials per iteration.
pub const LINE_TRIALS: usize = 20;

fn on(v: &[i64], dev: tch::Device) -> Tensor {
    Tensor::from_slice(v).to_device(dev)
}

/// Row sums of `[n, d]` in f64.
fn dot(a: &Tensor, b: &Tensor) -> Tensor {
    (a.to_kind(Kind::Double) * b.to_kind(Kind::Double)).sum_dim_intlist(1, false, Kind::Double)
}

/// One stored pair, over the whole batch (rows of examples that did not move have `ρ = 0`,
/// which makes the pair a no-op in the recursion).
struct Pair {
    s: Tensor,
    y: Tensor,
    rho: Tensor,
}

#[allow(clippy::too_many_arguments)]
pub fn attack(
    target: &AttackTarget,
    x: &Tensor,
    reference: &Tensor,
    bounds: &Bounds,
    goal: Goal,
    c_init: f64,
    search_steps: usize,
    iterations: usize,
) -> Result<AttackOutput> {
    let n = x.size()[0] as usize;
    let shape = x.size();
    let dev = x.device();
    let kind = x.kind();
    let flat = x.detach().reshape([n as i64, -1]);
    let d = flat.size()[1];
    let (lo, hi) = (bounds.lo.reshape([n as i64, 1]).to_kind(kind), bounds.hi.reshape([n as i64, 1]).to_kind(kind));
    let shaped = |t: &Tensor| {
        let mut s = shape.clone();
        s[0] = t.size()[0];
        t.reshape(s.as_slice())
    };
    let mut gradients = vec![0u64; n];
    let mut forwards = vec![0u64; n];
    let tgt = match goal {
        Goal::Targeted(t) => reference.full_like(t),
        Goal::Untargeted => {
            forwards.iter_mut().for_each(|f| *f += 1);
            runner_up(&target.logits(x), reference)
        }
    };
    // Eq. 2's objective at x' (rows `idx`), from the logits there; f64.
    let objective = |logits: &Tensor, xp: &Tensor, idx: &Tensor, c: &Tensor| {
        let ce = -logits.log_softmax(-1, Kind::Double).gather(1, &tgt.index_select(0, idx).unsqueeze(1), false).squeeze_dim(1);
        ce + c * (xp - flat.index_select(0, idx)).to_kind(Kind::Double).square().sum_dim_intlist(1, false, Kind::Double)
    };
    let mut best = flat.copy();
    let mut best_l2 = vec![f64::INFINITY; n];
    let mut c = vec![c_init; n];
    let (mut c_s, mut c_f) = (vec![f64::NAN; n], vec![f64::NAN; n]);
    let all: Vec<i64> = (0..n as i64).collect();
    let (g0, logits0) = target.gradient(x, &tgt);
    gradients.iter_mut().for_each(|g| *g += 1);
    forwards.iter_mut().for_each(|f| *f += 1);
    let g0 = g0.reshape([n as i64, d]);
    let clean_at_goal = Vec::<bool>::try_from(goal.achieved(&logits0.argmax(-1, false), reference))?;
    for i in 0..n {
        if clean_at_goal[i] {
            best_l2[i] = 0.0;
        }
    }
    for _ in 0..search_steps {
        let ct = Tensor::from_slice(&c).to_device(dev);
        let c_col = ct.to_kind(kind).unsqueeze(1);
        let mut xk = flat.copy();
        let mut g = g0.copy();
        let mut fk = objective(&logits0, &xk, &on(&all, dev), &ct);
        let mut at_goal = clean_at_goal.clone();
        let mut history: VecDeque<Pair> = VecDeque::new();
        let mut active = all.clone();
        for _ in 0..iterations {
            if active.is_empty() {
                break;
            }
            let idx = on(&active, dev);
            let (xa, ga, fa) = (xk.index_select(0, &idx), g.index_select(0, &idx), fk.index_select(0, &idx));
            let (la, ha) = (lo.index_select(0, &idx), hi.index_select(0, &idx));
            let ca = ct.index_select(0, &idx);
            let held = xa.le_tensor(&la).logical_and(&ga.gt(0.0)).logical_or(&xa.ge_tensor(&ha).logical_and(&ga.lt(0.0)));
            let free = held.logical_not().to_kind(Kind::Double);
            // Two-loop recursion on the free variables, in f64.
            let mut q = ga.to_kind(Kind::Double) * &free;
            let mut h0 = (&ca * 2.0).reciprocal();
            let mut alphas = Vec::with_capacity(history.len());
            for p in history.iter().rev() {
                let (s, y, rho) = (p.s.index_select(0, &idx), p.y.index_select(0, &idx), p.rho.index_select(0, &idx));
                let a = &rho * dot(&s, &q);
                q = q - (&y * &free) * a.unsqueeze(1);
                alphas.push((s, y, rho, a));
            }
            // H₀ from the newest pair with ρ > 0.
            for (_, y, rho, _) in alphas.iter().rev() {
                h0 = (rho * dot(y, y)).reciprocal().where_self(&rho.gt(0.0), &h0);
            }
            let mut r = &q * h0.unsqueeze(1);
            for (s, y, rho, a) in alphas.iter().rev() {
                let b = rho * dot(y, &r);
                r = r + (s * &free) * (a - b).unsqueeze(1);
            }
            let steep = -(ga.to_kind(Kind::Double) * &free) * h0.unsqueeze(1);
            let dir = -r;
            let descent = dot(&ga, &dir).lt(0.0).unsqueeze(1);
            let dir = dir.where_self(&descent, &steep).to_kind(kind);
            // Backtracking along the projected path.
            let na = active.len();
            let mut t = vec![1.0f64; na];
            let mut accepted = vec![false; na];
            let mut x_new = xa.copy();
            let mut pending: Vec<i64> = (0..na as i64).collect();
            for _ in 0..LINE_TRIALS {
                if pending.is_empty() {
                    break;
                }
                let pl = on(&pending, dev);
                let pg = on(&pending.iter().map(|&j| active[j as usize]).collect::<Vec<_>>(), dev);
                let tt = Tensor::from_slice(&pending.iter().map(|&j| t[j as usize]).collect::<Vec<_>>()).to_device(dev).to_kind(kind).unsqueeze(1);
                let xs = xa.index_select(0, &pl);
                let xt = (&xs + dir.index_select(0, &pl) * tt).clamp_tensor(Some(&la.index_select(0, &pl)), Some(&ha.index_select(0, &pl)));
                let logits = target.logits(&shaped(&xt));
                for &j in &pending {
                    forwards[active[j as usize] as usize] += 1;
                }
                let ft = objective(&logits, &xt, &pg, &ct.index_select(0, &pg));
                let armijo = fa.index_select(0, &pl) + dot(&ga.index_select(0, &pl), &(&xt - &xs)) * 1e-4;
                let ok = Vec::<bool>::try_from(ft.le_tensor(&armijo))?;
                let acc: Vec<i64> = (0..pending.len()).filter(|&k| ok[k]).map(|k| k as i64).collect();
                if !acc.is_empty() {
                    let al = on(&acc, dev);
                    let rows_l: Vec<i64> = acc.iter().map(|&k| pending[k as usize]).collect();
                    x_new = x_new.index_copy(0, &on(&rows_l, dev), &xt.index_select(0, &al));
                    for &j in &rows_l {
                        accepted[j as usize] = true;
                    }
                }
                pending = (0..pending.len()).filter(|&k| !ok[k]).map(|k| pending[k]).collect();
                for &j in &pending {
                    t[j as usize] *= 0.5;
                }
            }
            // Examples whose line search failed stop here.
            let moved: Vec<i64> = (0..na as i64).filter(|&j| accepted[j as usize]).collect();
            if moved.is_empty() {
                break;
            }
            let ml = on(&moved, dev);
            let mg_v: Vec<i64> = moved.iter().map(|&j| active[j as usize]).collect();
            let mg = on(&mg_v, dev);
            let xm = x_new.index_select(0, &ml);
            let (gm, logits) = target.gradient(&shaped(&xm), &tgt.index_select(0, &mg));
            for &i in &mg_v {
                gradients[i as usize] += 1;
                forwards[i as usize] += 1;
            }
            let gm = gm.reshape([moved.len() as i64, d]) + (&xm - flat.index_select(0, &mg)) * c_col.index_select(0, &mg) * 2.0;
            let fm = objective(&logits, &xm, &mg, &ct.index_select(0, &mg));
            let ok = Vec::<bool>::try_from(goal.achieved(&logits.argmax(-1, false), &reference.index_select(0, &mg)))?;
            let l2 = per_example(&(&xm - flat.index_select(0, &mg)).to_kind(Kind::Double).square().sum_dim_intlist(1, false, Kind::Double))?;
            for (k, &i) in mg_v.iter().enumerate() {
                let i = i as usize;
                at_goal[i] = ok[k];
                if ok[k] && l2[k] < best_l2[i] {
                    best_l2[i] = l2[k];
                    best = best.index_copy(0, &on(&[i as i64], dev), &xm.narrow(0, k as i64, 1));
                }
            }
            let s = &xm - xa.index_select(0, &ml);
            let y = &gm - ga.index_select(0, &ml);
            let sy = dot(&s, &y);
            let rho = sy.clamp_min(1e-300).reciprocal().where_self(&sy.gt(1e-10), &sy.zeros_like());
            history.push_back(Pair {
                s: Tensor::zeros([n as i64, d], (kind, dev)).index_copy(0, &mg, &s),
                y: Tensor::zeros([n as i64, d], (kind, dev)).index_copy(0, &mg, &y),
                rho: Tensor::zeros([n as i64], (Kind::Double, dev)).index_copy(0, &mg, &rho),
            });
            if history.len() > MEMORY {
                history.pop_front();
            }
            let (f_old, f_new) = (per_example(&fa.index_select(0, &ml))?, per_example(&fm)?);
            xk = xk.index_copy(0, &mg, &xm);
            g = g.index_copy(0, &mg, &gm);
            fk = fk.index_copy(0, &mg, &fm);
            active = mg_v.iter().enumerate().filter(|&(k, _)| f_old[k] - f_new[k] > 1e-9 * f_old[k].abs().max(1.0)).map(|(_, &i)| i).collect();
        }
        for i in 0..n {
            if at_goal[i] {
                c_s[i] = if c_s[i].is_nan() { c[i] } else { c_s[i].max(c[i]) };
            } else {
                c_f[i] = if c_f[i].is_nan() { c[i] } else { c_f[i].min(c[i]) };
            }
            c[i] = match (c_s[i].is_nan(), c_f[i].is_nan()) {
                (true, _) => c[i] / 10.0,
                (false, true) => c[i] * 10.0,
                (false, false) => (c_s[i] * c_f[i]).sqrt(),
            };
        }
    }
    Ok(AttackOutput { adversarial: shaped(&best).detach(), gradients, forwards })
}

//! DeepFool, L2 (Moosavi-Dezfooli et al.; 000/001 §II's DeepFool, untargeted): at the current
//! point, linearize every class's margin against the reference label `l`,
//! `f_k = z_k − z_l`, `w_k = ∇ₓf_k`, step onto the nearest linearized boundary,
//! `r = (|f_k̂| + 10⁻⁴) / ‖w_k̂‖₂² · w_k̂` with `k̂ = argmin_{k≠l} |f_k| / ‖w_k‖₂`, accumulate
//! `r_tot`, and evaluate at `x + (1 + overshoot) · r_tot` (clipped to the box) until the label
//! leaves `l` or the iterations run out. Each iteration takes the full Jacobian: `C` gradients
//! per example for `C` classes (and one forward, whose prediction is the success check).
//!
//! L∞ (same iteration, the dual norm q = 1 in place of q = 2): `k̂ = argmin |f_k| / ‖w_k‖₁`
//! and `r = (|f_k̂| + 10⁻⁴) / ‖w_k̂‖₁ · sign(w_k̂)`, the smallest L∞ step onto the linearized
//! boundary.

use super::fgsm::Norm;
use super::{AttackOutput, AttackTarget, Bounds};
use tch::{Kind, Tensor};

/// The usual overshoot.
pub const OVERSHOOT: f64 = 0.02;

/// DeepFool L2.
pub fn attack(target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds, steps: usize, overshoot: f64) -> AttackOutput {
    attack_norm(target, x, reference, bounds, steps, overshoot, Norm::L2)
}

/// DeepFool in `norm` (L2 or L∞).
pub fn attack_norm(target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds, steps: usize, overshoot: f64, norm: Norm) -> AttackOutput {
    let n = x.size()[0] as usize;
    let x = x.detach();
    let mut r_tot = x.zeros_like();
    let mut active: Vec<i64> = (0..n as i64).collect();
    let mut gradients = vec![0u64; n];
    let mut forwards = vec![0u64; n];
    let point = |r: &Tensor, idx: &Tensor| bounds.select(idx).clip(&(x.index_select(0, idx) + r.index_select(0, idx) * (1.0 + overshoot)));
    // steps updates, each checked by the next Jacobian's forward pass.
    for it in 0..=steps {
        if active.is_empty() {
            break;
        }
        let idx = Tensor::from_slice(&active).to_device(x.device());
        let xa = point(&r_tot, &idx);
        let (logits, jac) = target.jacobian(&xa);
        let classes = logits.size()[1];
        for &i in &active {
            gradients[i as usize] += classes as u64;
            forwards[i as usize] += 1;
        }
        let ref_a = reference.index_select(0, &idx);
        let done = Vec::<bool>::try_from(logits.argmax(-1, false).ne_tensor(&ref_a)).unwrap_or_default();
        if it == steps {
            break;
        }
        let na = active.len() as i64;
        let jf = jac.reshape([na, classes, -1]);
        let dim = jf.size()[2];
        let j0 = jf.gather(1, &ref_a.view([-1, 1, 1]).expand([na, 1, dim], false), false);
        let w = jf - j0;
        let f = &logits - logits.gather(1, &ref_a.unsqueeze(1), false);
        // The dual norm of the step's: ‖w‖₂ for L2, ‖w‖₁ for L∞.
        let wn = match norm {
            Norm::L2 => w.square().sum_dim_intlist(2, false, Kind::Float).sqrt(),
            Norm::Linf => w.abs().sum_dim_intlist(2, false, Kind::Float),
        };
        let ratio = (f.abs() / (&wn + 1e-12)).masked_fill(&ref_a.one_hot(classes).to_kind(Kind::Bool), f64::INFINITY);
        let l = ratio.argmin(1, true);
        let fl = f.gather(1, &l, false).abs();
        let wl = w.gather(1, &l.view([-1, 1, 1]).expand([na, 1, dim], false), false).squeeze_dim(1);
        let wln = wn.gather(1, &l, false);
        let r = match norm {
            Norm::L2 => (fl + 1e-4) / (wln.square() + 1e-24) * wl,
            Norm::Linf => (fl + 1e-4) / (wln + 1e-12) * wl.sign(),
        }
        .reshape(xa.size());
        // Examples already past the boundary keep their r_tot.
        let keep = Tensor::from_slice(&done.iter().map(|&d| if d { 0.0f32 } else { 1.0 }).collect::<Vec<_>>()).to_device(x.device());
        let mut shape = vec![na];
        shape.extend(std::iter::repeat_n(1, xa.dim() - 1));
        r_tot = r_tot.index_add(0, &idx, &(r * keep.reshape(shape.as_slice())));
        active = active.iter().zip(&done).filter(|(_, &d)| !d).map(|(&i, _)| i).collect();
    }
    let all = Tensor::arange(n as i64, (Kind::Int64, x.device()));
    AttackOutput { adversarial: point(&r_tot, &all).detach(), gradients, forwards }
}

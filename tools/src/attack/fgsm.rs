//! Fast Gradient Sign Method (000/001 §II-B): one gradient, one step of size ε,
//!
//! * L∞ (Eq. 3): `x' = clip(x + ε · sign(∇ₓJ(x, l)))`;
//! * L2 (Eq. 4): `x' = clip(x + ε · ∇ₓJ(x, l) / ‖∇ₓJ(x, l)‖₂)`, the norm per example;
//!
//! `clip` the box (Eq. 4's truncation to the valid range). Untargeted: `J` is the cross-entropy
//! of the reference label, ascended; targeted: the cross-entropy of the target, descended.

use super::{AttackOutput, AttackTarget, Bounds, Goal};
use tch::{Kind, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Norm {
    Linf,
    L2,
}

/// The unit step of `g` in `norm` (sign for L∞; `g / ‖g‖₂` per example for L2, 0 where the
/// gradient vanishes).
pub fn unit_step(g: &Tensor, norm: Norm) -> Tensor {
    match norm {
        Norm::Linf => g.sign(),
        Norm::L2 => {
            let n = g.size()[0];
            let mut shape = vec![n];
            shape.extend(std::iter::repeat_n(1, g.dim() - 1));
            let norms = g.reshape([n, -1]).to_kind(Kind::Double).square().sum_dim_intlist(1, false, Kind::Double).sqrt();
            let scale = norms.clamp_min(f64::MIN_POSITIVE).reciprocal().where_self(&norms.gt(0.0), &norms.zeros_like());
            g * scale.to_kind(g.kind()).reshape(&shape)
        }
    }
}

pub fn attack(target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds, eps: f64, norm: Norm, goal: Goal) -> AttackOutput {
    let n = x.size()[0] as usize;
    let (labels, dir) = goal.loss_labels(reference);
    let (g, _) = target.gradient(x, &labels);
    let adv = bounds.clip(&(x + unit_step(&g, norm) * (dir * eps)));
    AttackOutput { adversarial: adv.detach(), gradients: vec![1; n], forwards: vec![1; n] }
}

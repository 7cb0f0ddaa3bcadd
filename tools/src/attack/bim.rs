//! Basic Iterative Method (000/001 §II-C, Eq. 5-6): L∞ steps of size α,
//!
//! `x'ₙ₊₁ = min{M, x + ε, max{m, x − ε, x'ₙ + α · sign(∇ₓJ(x'ₙ, l))}}`,
//!
//! i.e. each iterate is projected on the ε-ball around the clean `x` and clipped to the box
//! `[m, M]`. BIM-a stops an example at its first success (one extra forward per step to check);
//! BIM-b runs every example for the fixed number of steps (exactly `steps` gradients each).
//! Targeted: descend the target's cross-entropy instead of ascending the reference's.

use super::{AttackOutput, AttackTarget, Bounds, Goal};
use tch::Tensor;

#[allow(clippy::too_many_arguments)]
pub fn attack(
    target: &AttackTarget,
    x: &Tensor,
    reference: &Tensor,
    bounds: &Bounds,
    eps: f64,
    alpha: f64,
    steps: usize,
    early_stop: bool,
    goal: Goal,
) -> AttackOutput {
    let n = x.size()[0] as usize;
    let (labels, dir) = goal.loss_labels(reference);
    // Eq. 6: the ε-ball intersected with the box.
    let lo = (x - eps).maximum(&bounds.lo);
    let hi = (x + eps).minimum(&bounds.hi);
    let mut adv = x.detach();
    let mut gradients = vec![0u64; n];
    let mut forwards = vec![0u64; n];
    if !early_stop {
        // BIM-b: every example takes every step, so the whole batch steps at once, with no
        // active set to gather from and scatter back into at each step (the same arithmetic as
        // the loop below with every example active).
        for _ in 0..steps {
            let (g, _) = target.gradient(&adv, &labels);
            adv = (adv + g.sign() * (dir * alpha)).clamp_tensor(Some(&lo), Some(&hi));
        }
        return AttackOutput { adversarial: adv.detach(), gradients: vec![steps as u64; n], forwards: vec![steps as u64; n] };
    }
    let mut active: Vec<i64> = (0..n as i64).collect();
    for _ in 0..steps {
        if active.is_empty() {
            break;
        }
        let idx = Tensor::from_slice(&active).to_device(x.device());
        let xa = adv.index_select(0, &idx);
        let (g, _) = target.gradient(&xa, &labels.index_select(0, &idx));
        let next = (xa + g.sign() * (dir * alpha)).clamp_tensor(Some(&lo.index_select(0, &idx)), Some(&hi.index_select(0, &idx)));
        for &i in &active {
            gradients[i as usize] += 1;
            forwards[i as usize] += 1;
        }
        if early_stop {
            let done = Vec::<bool>::try_from(goal.achieved(&target.predict(&next), &reference.index_select(0, &idx))).unwrap_or_default();
            for &i in &active {
                forwards[i as usize] += 1;
            }
            adv = adv.index_copy(0, &idx, &next);
            active = active.iter().zip(&done).filter(|(_, &d)| !d).map(|(&i, _)| i).collect();
        } else {
            adv = adv.index_copy(0, &idx, &next);
        }
    }
    AttackOutput { adversarial: adv.detach(), gradients, forwards }
}

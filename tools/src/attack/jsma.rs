//! Jacobian-based Saliency Map Attack (Papernot et al.; 000/001 §II-D, Eq. 7-8): targeted,
//! L0, greedy.
//!
//! Each iteration takes the Jacobian of the logits, `∂Z_j(x)/∂x_i` (Eq. 7: `C` gradients and
//! one forward per example), and for the target `t` the saliency of every feature still in the
//! search domain (Eq. 8), with `α_i = ∂Z_t/∂x_i` and `β_i = Σ_{j≠t} ∂Z_j/∂x_i`:
//!
//! * θ > 0 (JSMA+, raise features): `S[i] = α_i · |β_i|` where `α_i > 0` and `β_i < 0`, else 0;
//! * θ < 0 (JSMA−, lower features): `S[i] = |α_i| · β_i` where `α_i < 0` and `β_i > 0`, else 0.
//!
//! The `k` features of highest positive saliency change by θ (clipped to the box) and leave the
//! search domain, so each feature changes at most once and at most `⌊γ·d⌋` of the `d` features
//! change (the iteration budget `γ·d / k` of cleverhans' JSMA). An example stops when it reaches
//! the goal (seen by the next Jacobian's forward pass), when the budget is spent, or when no
//! feature has a positive saliency left. Features already at the box bound in θ's direction
//! start outside the search domain.
//!
//! Choices, where the paper leaves them open:
//!
//! * single features (Eq. 8 as 000 writes it), the top `k` per iteration, not Papernot's pairs:
//!   the pairwise map has `d²` entries per example and iteration (4·10⁷ for a 101 × 64 log-mel
//!   map); `k = 1` is the one-feature JSMA, a larger `k` divides the number of Jacobians by `k`;
//! * the Jacobian of the logits (Carlini and Wagner's JSMA-Z, as in cleverhans and foolbox),
//!   not of the softmax (JSMA-F): the softmax outputs sum to 1, so `β = −α` and the map
//!   reduces to `α²`, blind to what the other classes do;
//! * untargeted: the target is the runner-up class at the clean input (the class with the
//!   highest logit after the reference), fixed for the run; success is any label but the
//!   reference.

use super::{runner_up, AttackOutput, AttackTarget, Bounds, Goal};
use crate::error::Result;
use tch::{Kind, Tensor};

#[allow(clippy::too_many_arguments)]
pub fn attack(target: &AttackTarget, x: &Tensor, reference: &Tensor, bounds: &Bounds, goal: Goal, theta: f64, gamma: f64, per_step: usize) -> Result<AttackOutput> {
    let n = x.size()[0];
    let shape = x.size();
    let dev = x.device();
    let flat = x.detach().reshape([n, -1]);
    let d = flat.size()[1];
    let budget = (gamma * d as f64 + 1e-9).floor() as i64;
    let k = (per_step as i64).clamp(1, d);
    let (lo, hi) = (bounds.lo.reshape([n, 1]).to_kind(flat.kind()), bounds.hi.reshape([n, 1]).to_kind(flat.kind()));
    let mut adv = flat.shallow_clone();
    let mut domain = if theta > 0.0 { flat.lt_tensor(&hi) } else { flat.gt_tensor(&lo) };
    let mut used = vec![0i64; n as usize];
    let mut gradients = vec![0u64; n as usize];
    let mut forwards = vec![0u64; n as usize];
    let mut targets: Option<Tensor> = None;
    let mut active: Vec<i64> = if budget > 0 { (0..n).collect() } else { Vec::new() };
    while !active.is_empty() {
        let idx = Tensor::from_slice(&active).to_device(dev);
        let na = active.len() as i64;
        let xa = adv.index_select(0, &idx);
        let mut in_shape = shape.clone();
        in_shape[0] = na;
        let (logits, jac) = target.jacobian(&xa.reshape(in_shape.as_slice()));
        let classes = logits.size()[1];
        for &i in &active {
            gradients[i as usize] += classes as u64;
            forwards[i as usize] += 1;
        }
        // The first pass runs on the whole (clean) batch: the untargeted target comes from it.
        let tgt = targets
            .get_or_insert_with(|| match goal {
                Goal::Targeted(t) => reference.full_like(t),
                Goal::Untargeted => runner_up(&logits, reference),
            })
            .index_select(0, &idx);
        let done = goal.achieved(&logits.argmax(-1, false), &reference.index_select(0, &idx));
        let jf = jac.reshape([na, classes, d]);
        let alpha = jf.gather(1, &tgt.view([-1, 1, 1]).expand([na, 1, d], false), false).squeeze_dim(1);
        let beta = jf.sum_dim_intlist(1, false, jf.kind()) - &alpha;
        let (saliency, valid) = if theta > 0.0 {
            (&alpha * beta.abs(), alpha.gt(0.0).logical_and(&beta.lt(0.0)))
        } else {
            (alpha.abs() * &beta, alpha.lt(0.0).logical_and(&beta.gt(0.0)))
        };
        let valid = valid.logical_and(&domain.index_select(0, &idx));
        let saliency = saliency.masked_fill(&valid.logical_not(), -1.0);
        let (vals, ids) = saliency.topk(k, 1, true, true);
        let used_a = Tensor::from_slice(&active.iter().map(|&i| used[i as usize]).collect::<Vec<_>>()).to_device(dev);
        let rank = Tensor::arange(k, (Kind::Int64, dev)).unsqueeze(0);
        let pick = vals
            .gt(0.0)
            .logical_and(&rank.lt_tensor(&(-used_a + budget).unsqueeze(1)))
            .logical_and(&done.logical_not().unsqueeze(1));
        let picked = Vec::<i64>::try_from(pick.sum_dim_intlist(1, false, Kind::Int64))?;
        let step = Tensor::zeros([na, d], (flat.kind(), dev)).scatter(1, &ids, &(pick.to_kind(flat.kind()) * theta));
        let moved = Tensor::zeros([na, d], (Kind::Bool, dev)).scatter(1, &ids, &pick);
        let next = (xa + step).clamp_tensor(Some(&lo.index_select(0, &idx)), Some(&hi.index_select(0, &idx)));
        adv = adv.index_copy(0, &idx, &next);
        domain = domain.index_copy(0, &idx, &domain.index_select(0, &idx).logical_and(&moved.logical_not()));
        let done = Vec::<bool>::try_from(done)?;
        let mut still = Vec::with_capacity(active.len());
        for (j, &i) in active.iter().enumerate() {
            used[i as usize] += picked[j];
            // Reached, exhausted (nothing salient left) or out of budget.
            if !done[j] && picked[j] > 0 && used[i as usize] < budget {
                still.push(i);
            }
        }
        active = still;
    }
    Ok(AttackOutput { adversarial: adv.reshape(shape.as_slice()).detach(), gradients, forwards })
}

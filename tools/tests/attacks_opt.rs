//! JSMA, Carlini-Wagner L2, DeepFool L∞ and L-BFGS against closed forms on linear classifiers.
//!
//! * Binary `z = [0, w·x + b]`: the smallest L2 perturbation that gives class 1 a logit margin
//!   κ over class 0 (or the reverse) is `(|w·x + b| + κ) / ‖w‖₂` along `±w`, and the smallest
//!   L∞ one `|w·x + b| / ‖w‖₁` along `±sign(w)`. CW-L2 (with κ) and L-BFGS must land within a
//!   few per cent above the L2 minimum (never below), DeepFool L∞ on the L∞ one.
//! * Multi-class `z = Wx + b`: the Jacobian is `W` everywhere, so JSMA's saliency map (Eq. 8)
//!   is fixed and its choices are known in advance: the features in decreasing order of
//!   `α_i·|β_i|` (θ > 0) or `|α_i|·β_i` (θ < 0), each moved once by θ within the box, until the
//!   target wins. DeepFool L∞ leaves class `l` in one step of L∞ size
//!   `min_k |z_k − z_l| / ‖W_k − W_l‖₁`, the exact distance to the class's region boundary.
//! * Every output stays in the box; the per-example gradient counts add up to the target's.

use soundproof_tools::attack::{attack_batch, Attack, AttackConfig, AttackKind, AttackTarget, BoxSpec, Domain, ExampleResult, Goal, OptParams};
use tch::{Device, Kind, Tensor};

const SHAPE: [i64; 3] = [1, 4, 3];
const D: usize = 12;

/// Weights with distinct magnitudes and signs, and a batch of inputs on both sides (the
/// binary classifier of `attacks.rs`).
fn binary() -> (Vec<f64>, f64, Tensor) {
    let w: Vec<f64> = (0..D).map(|i| ((i as f64 * 0.7).sin() + 0.3) * if i % 3 == 0 { -1.0 } else { 1.0 }).collect();
    let x: Vec<f32> = (0..5 * D).map(|i| ((i as f64 * 1.3).cos() * 0.8) as f32).collect();
    (w, 0.25, Tensor::from_slice(&x).reshape([5, SHAPE[0], SHAPE[1], SHAPE[2]]))
}

/// `x ↦ x·Wᵀ + b` on the flattened input, `W` row-major `[C, D]`.
fn linear_target(domain: Domain, w: &[f64], b: &[f64]) -> AttackTarget {
    let c = b.len() as i64;
    let wt = Tensor::from_slice(w).to_kind(Kind::Float).reshape([c, D as i64]);
    let bt = Tensor::from_slice(b).to_kind(Kind::Float);
    AttackTarget::new(domain, Device::Cpu, move |x: &Tensor| {
        let n = x.size()[0];
        x.reshape([n, -1]).matmul(&wt.tr()) + &bt
    })
}

/// The binary classifier as `W = [0; w]`, `b = [0, b]`.
fn binary_target(domain: Domain, w: &[f64], b: f64) -> AttackTarget {
    let mut wf = vec![0.0; D];
    wf.extend_from_slice(w);
    linear_target(domain, &wf, &[0.0, b])
}

fn rows(x: &Tensor) -> Vec<Vec<f64>> {
    let n = x.size()[0];
    let v = Vec::<f64>::try_from(x.to_kind(Kind::Double).reshape([-1])).unwrap();
    v.chunks(v.len() / n as usize).map(|r| r.to_vec()).collect()
}

fn dotp(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(p, q)| p * q).sum()
}

fn run(target: &AttackTarget, x: &Tensor, kind: AttackKind, steps: usize, goal: Goal, box_spec: BoxSpec, opt: &OptParams) -> (Tensor, Vec<ExampleResult>) {
    let cfg = AttackConfig { kind, eps: 0.0, alpha: 0.0, steps, goal };
    let names = vec!["x".to_string(); x.size()[0] as usize];
    attack_batch(target, x, &vec![None; names.len()], &names, box_spec, &Attack::Gradient { config: cfg, opt: *opt }).unwrap()
}

/// Every row of `adv` in `[lo, hi]`.
fn assert_in_box(adv: &Tensor, lo: &[f64], hi: &[f64], what: &str) {
    for (i, r) in rows(adv).iter().enumerate() {
        for &v in r {
            assert!(v >= lo[i] - 1e-5 && v <= hi[i] + 1e-5, "{what}: example {i}: {v} outside [{}, {}]", lo[i], hi[i]);
        }
    }
}

/// The per-example counts add up to the target's (the clean and final predictions included).
fn assert_counts_add_up(target: &AttackTarget, res: &[ExampleResult]) {
    let (f, g) = target.counts();
    assert_eq!(res.iter().map(|r| r.gradients).sum::<u64>(), g);
    assert_eq!(res.iter().map(|r| r.forwards).sum::<u64>(), f);
}

fn cw_params(confidence: f64) -> OptParams {
    OptParams { confidence, c_init: 1.0, search_steps: 6, lr: 1e-2, abort_early: true, ..OptParams::default() }
}

#[test]
fn cw_l2_reaches_the_closed_form_minimum_with_margin_kappa() {
    let (w, b, x) = binary();
    let l2w = dotp(&w, &w).sqrt();
    let xs = rows(&x);
    let m: Vec<f64> = xs.iter().map(|r| dotp(r, &w) + b).collect();
    let cases = [
        (BoxSpec::Unbounded, 0.0, Goal::Untargeted),
        (BoxSpec::Unbounded, 0.5, Goal::Targeted(1)),
        (BoxSpec::Fixed { lo: -3.0, hi: 3.0 }, 0.0, Goal::Targeted(1)),
        (BoxSpec::Fixed { lo: -3.0, hi: 3.0 }, 0.5, Goal::Untargeted),
    ];
    for (box_spec, kappa, goal) in cases {
        let target = binary_target(Domain::Features, &w, b);
        let (adv, res) = run(&target, &x, AttackKind::CwL2, 300, goal, box_spec, &cw_params(kappa));
        for (i, (r, &z)) in res.iter().zip(&m).enumerate() {
            if goal == Goal::Targeted(1) && z > 0.0 {
                assert!(!r.counted);
                continue;
            }
            let expect = (z.abs() + kappa) / l2w;
            // The minimizer x − sign(z)·expect·w/‖w‖ lies inside the box.
            assert!(xs[i].iter().zip(&w).all(|(a, c)| (a - z.signum() * expect * c / l2w).abs() < 3.0));
            assert!(r.success && r.counted, "{box_spec:?} κ {kappa} {goal:?} example {i}: {r:?}");
            let l2 = r.distortion.l2;
            assert!(l2 >= expect * (1.0 - 1e-4) && l2 <= expect * 1.02, "{box_spec:?} κ {kappa} example {i}: L2 {l2} vs minimum {expect}");
            // The margin towards the other class, in f64 from the output.
            let za = dotp(&rows(&adv)[i], &w) + b;
            assert!(-z.signum() * za >= kappa - 1e-4, "κ {kappa}: margin {} (z {z} → {za})", -z.signum() * za);
        }
        assert_counts_add_up(&target, &res);
    }
}

#[test]
fn cw_l2_in_the_waveform_domain_stays_in_the_clean_peak_box() {
    let (w, b, x) = binary();
    let x = x.reshape([5, D as i64]);
    let target = binary_target(Domain::Waveform, &w, b);
    let (adv, res) = run(&target, &x, AttackKind::CwL2, 300, Goal::Untargeted, BoxSpec::Clean, &cw_params(0.0));
    let peak: Vec<f64> = rows(&x).iter().map(|r| r.iter().fold(0.0f64, |a, v| a.max(v.abs()))).collect();
    assert_in_box(&adv, &peak.iter().map(|p| -p).collect::<Vec<_>>(), &peak, "CW-L2 waveform");
    let l2w = dotp(&w, &w).sqrt();
    for (r, xr) in res.iter().zip(rows(&x)) {
        let expect = (dotp(&xr, &w) + b).abs() / l2w;
        assert!(r.distortion.l2 >= expect * (1.0 - 1e-4), "below the minimum without the box: {} < {expect}", r.distortion.l2);
    }
    assert!(res.iter().filter(|r| r.success).count() >= 3, "{res:?}");
    assert_counts_add_up(&target, &res);
}

#[test]
fn lbfgs_reaches_the_closed_form_minimum() {
    let (w, b, x) = binary();
    let l2w = dotp(&w, &w).sqrt();
    let xs = rows(&x);
    let opt = OptParams { c_init: 1.0, search_steps: 12, ..OptParams::default() };
    for box_spec in [BoxSpec::Unbounded, BoxSpec::Fixed { lo: -3.0, hi: 3.0 }] {
        for targeted in [false, true] {
            let target = binary_target(Domain::Features, &w, b);
            let goal = if targeted { Goal::Targeted(1) } else { Goal::Untargeted };
            let (adv, res) = run(&target, &x, AttackKind::Lbfgs, 50, goal, box_spec, &opt);
            for (i, r) in res.iter().enumerate() {
                let z = dotp(&xs[i], &w) + b;
                if targeted && z > 0.0 {
                    // Already class 1: not counted, left as is.
                    assert!(!r.counted && r.distortion.l2 == 0.0, "{r:?}");
                    continue;
                }
                let expect = z.abs() / l2w;
                assert!(r.success && r.counted, "{box_spec:?} targeted {targeted} example {i}: {r:?}");
                assert!(r.distortion.l2 >= expect * (1.0 - 1e-4) && r.distortion.l2 <= expect * 1.02, "example {i}: L2 {} vs minimum {expect}", r.distortion.l2);
                // Along w: the perturbation is parallel to the normal of the boundary.
                let d: Vec<f64> = rows(&adv)[i].iter().zip(&xs[i]).map(|(a, c)| a - c).collect();
                let cos = dotp(&d, &w).abs() / (dotp(&d, &d).sqrt() * l2w);
                assert!(cos > 0.999, "example {i}: cos(δ, w) = {cos}");
            }
            assert_counts_add_up(&target, &res);
        }
    }
}

#[test]
fn deepfool_linf_lands_on_the_l1_dual_distance() {
    let (w, b, x) = binary();
    let l1w = w.iter().map(|v| v.abs()).sum::<f64>();
    let target = binary_target(Domain::Features, &w, b);
    let (_, res) = run(&target, &x, AttackKind::DeepfoolLinf, 50, Goal::Untargeted, BoxSpec::Unbounded, &OptParams::default());
    for (r, xr) in res.iter().zip(rows(&x)) {
        let z = dotp(&xr, &w) + b;
        let expect = (1.0 + soundproof_tools::attack::deepfool::OVERSHOOT) * (z.abs() + 1e-4) / l1w;
        assert!(r.success, "{r:?}");
        assert!((r.distortion.linf - expect).abs() <= 1e-4 * expect, "DeepFool L∞ {} vs {expect}", r.distortion.linf);
        // A sign step: every feature moves by the same amount.
        assert!((r.distortion.l2 - expect * (D as f64).sqrt()).abs() <= 1e-4 * expect * (D as f64).sqrt());
        assert_eq!((r.gradients, r.forwards), (4, 4));
    }
    let cfg = AttackConfig { kind: AttackKind::DeepfoolLinf, eps: 0.0, alpha: 0.0, steps: 5, goal: Goal::Targeted(0) };
    assert!(attack_batch(&target, &x, &[None; 5], &vec!["x".into(); 5], BoxSpec::Unbounded, &Attack::Gradient { config: cfg, opt: OptParams::default() }).is_err());
}

/// A 4-class linear classifier and inputs.
fn multiclass() -> (Vec<f64>, Vec<f64>, Tensor) {
    const C: usize = 4;
    let w: Vec<f64> = (0..C * D).map(|k| (k as f64 * 2.3 + 0.4).sin() * 1.5 + (k % 5) as f64 * 0.1 - 0.2).collect();
    let b = vec![0.3, -0.1, 0.2, 0.0];
    let x: Vec<f32> = (0..4 * D).map(|i| ((i as f64 * 0.9 + 0.2).sin() * 0.6) as f32).collect();
    (w, b, Tensor::from_slice(&x).reshape([4, SHAPE[0], SHAPE[1], SHAPE[2]]))
}

fn logits_of(w: &[f64], b: &[f64], x: &[f64]) -> Vec<f64> {
    b.iter().enumerate().map(|(k, bk)| dotp(&w[k * D..(k + 1) * D], x) + bk).collect()
}

fn argmax(v: &[f64]) -> usize {
    (0..v.len()).fold(0, |a, k| if v[k] > v[a] { k } else { a })
}

#[test]
fn deepfool_linf_leaves_a_linear_region_at_its_exact_distance() {
    let (w, b, x) = multiclass();
    let target = linear_target(Domain::Features, &w, &b);
    let (_, res) = run(&target, &x, AttackKind::DeepfoolLinf, 50, Goal::Untargeted, BoxSpec::Unbounded, &OptParams::default());
    for (r, xr) in res.iter().zip(rows(&x)) {
        let z = logits_of(&w, &b, &xr);
        let l = argmax(&z);
        let dist = (0..b.len())
            .filter(|&k| k != l)
            .map(|k| (z[k] - z[l]).abs() / (0..D).map(|i| (w[k * D + i] - w[l * D + i]).abs()).sum::<f64>())
            .fold(f64::INFINITY, f64::min);
        let expect = (1.0 + soundproof_tools::attack::deepfool::OVERSHOOT) * dist;
        assert!(r.success && r.adversarial != l as i64, "{r:?}");
        assert!((r.distortion.linf - expect).abs() <= 1e-3 * expect, "L∞ {} vs {expect}", r.distortion.linf);
    }
}

/// JSMA's run on a linear classifier, computed apart: the features in decreasing saliency,
/// each moved once by θ within `[lo, hi]`, `k` per iteration, until `t` has the top logit or the
/// budget `⌊γ·d⌋` is spent. Returns the final input and the number of iterations that moved.
#[allow(clippy::too_many_arguments)]
fn jsma_reference(w: &[f64], b: &[f64], x: &[f64], t: usize, theta: f64, budget: usize, k: usize, lo: f64, hi: f64) -> (Vec<f64>, usize) {
    let c = b.len();
    let mut order: Vec<(f64, usize)> = (0..D)
        .filter_map(|i| {
            let a = w[t * D + i];
            let be: f64 = (0..c).filter(|&j| j != t).map(|j| w[j * D + i]).sum();
            let room = if theta > 0.0 { x[i] < hi } else { x[i] > lo };
            let s = if theta > 0.0 && a > 0.0 && be < 0.0 { a * be.abs() } else if theta < 0.0 && a < 0.0 && be > 0.0 { a.abs() * be } else { 0.0 };
            (room && s > 0.0).then_some((s, i))
        })
        .collect();
    order.sort_by(|p, q| q.0.total_cmp(&p.0));
    let mut adv = x.to_vec();
    let (mut used, mut iters) = (0, 0);
    while argmax(&logits_of(w, b, &adv)) != t && used < budget && used < order.len() {
        for &(_, i) in order.iter().skip(used).take(k.min(budget - used)) {
            adv[i] = (adv[i] + theta).clamp(lo, hi);
            used += 1;
        }
        iters += 1;
    }
    (adv, iters)
}

#[test]
fn jsma_follows_the_saliency_map_of_a_linear_classifier() {
    let (w, b, x) = multiclass();
    let (lo, hi) = (-1.0, 1.0);
    let c = b.len();
    let mut reached = 0;
    for (theta, k, gamma) in [(0.7, 1, 0.5), (-0.7, 1, 0.5), (2.0, 3, 0.5), (0.4, 2, 0.2)] {
        for t in 0..c {
            let target = linear_target(Domain::Features, &w, &b);
            let opt = OptParams { theta, gamma, features_per_step: k, ..OptParams::default() };
            let (adv, res) = run(&target, &x, AttackKind::Jsma, 0, Goal::Targeted(t as i64), BoxSpec::Fixed { lo, hi }, &opt);
            let budget = (gamma * D as f64 + 1e-9).floor() as usize;
            for (i, xr) in rows(&x).iter().enumerate() {
                let (expect, iters) = jsma_reference(&w, &b, xr, t, theta, budget, k, lo, hi);
                let got = &rows(&adv)[i];
                for f in 0..D {
                    assert!((got[f] - expect[f]).abs() < 1e-5, "θ {theta} k {k} target {t} example {i} feature {f}: {} vs {}", got[f], expect[f]);
                }
                let r = &res[i];
                assert!(r.distortion.l0 as usize <= budget, "L0 {} > ⌊γ·d⌋ = {budget}", r.distortion.l0);
                let hit = argmax(&logits_of(&w, &b, &expect)) == t;
                assert_eq!(r.success, hit);
                if hit && r.counted {
                    reached += 1;
                }
                // One Jacobian (C gradients) per iteration, and one more to see the last
                // one's effect unless the budget ran out.
                let used = (0..D).filter(|&f| expect[f] != xr[f]).count();
                let jacobians = iters + usize::from(used < budget);
                assert_eq!(r.gradients as usize, c * jacobians, "θ {theta} k {k} target {t} example {i}: {iters} iterations, {used} features");
            }
            assert_counts_add_up(&target, &res);
        }
    }
    assert!(reached >= 10, "too few targets reached ({reached}): not an easy enough case");
}

#[test]
fn jsma_untargeted_aims_at_the_runner_up_and_respects_gamma() {
    let (w, b, x) = multiclass();
    let target = linear_target(Domain::Features, &w, &b);
    let opt = OptParams { theta: 1.0, gamma: 0.25, ..OptParams::default() };
    let (adv, res) = run(&target, &x, AttackKind::Jsma, 0, Goal::Untargeted, BoxSpec::Fixed { lo: -1.0, hi: 1.0 }, &opt);
    for (i, xr) in rows(&x).iter().enumerate() {
        let z = logits_of(&w, &b, xr);
        let l = argmax(&z);
        let second = (0..b.len()).filter(|&k| k != l).fold(usize::MAX, |a, k| if a == usize::MAX || z[k] > z[a] { k } else { a });
        let (expect, _) = jsma_reference(&w, &b, xr, second, 1.0, 3, 1, -1.0, 1.0);
        let got = &rows(&adv)[i];
        assert!((0..D).all(|f| (got[f] - expect[f]).abs() < 1e-5), "example {i}: {got:?} vs {expect:?}");
        assert!(res[i].distortion.l0 <= 3);
    }
}

#[test]
fn every_attack_stays_in_a_tight_box() {
    let (w, b, x) = binary();
    let xs = rows(&x);
    let lo: Vec<f64> = xs.iter().map(|r| r.iter().cloned().fold(f64::INFINITY, f64::min)).collect();
    let hi: Vec<f64> = xs.iter().map(|r| r.iter().cloned().fold(f64::NEG_INFINITY, f64::max)).collect();
    for kind in [AttackKind::CwL2, AttackKind::Lbfgs, AttackKind::Jsma, AttackKind::DeepfoolLinf] {
        for goal in [Goal::Untargeted, Goal::Targeted(1)] {
            if kind == AttackKind::DeepfoolLinf && goal != Goal::Untargeted {
                continue;
            }
            let target = binary_target(Domain::Features, &w, b);
            let opt = OptParams { theta: 5.0, gamma: 1.0, search_steps: 4, ..OptParams::default() };
            let (adv, res) = run(&target, &x, kind, 50, goal, BoxSpec::Clean, &opt);
            assert_in_box(&adv, &lo, &hi, &format!("{kind:?} {goal:?}"));
            assert_counts_add_up(&target, &res);
        }
    }
}

#[test]
fn invalid_settings_are_errors() {
    let (w, b, x) = binary();
    let target = binary_target(Domain::Features, &w, b);
    let names = vec!["x".to_string(); 5];
    let bad = [
        (AttackKind::Jsma, OptParams { gamma: 0.0, ..OptParams::default() }),
        (AttackKind::Jsma, OptParams { theta: 0.0, ..OptParams::default() }),
        (AttackKind::Jsma, OptParams { features_per_step: 0, ..OptParams::default() }),
        (AttackKind::CwL2, OptParams { c_init: 0.0, ..OptParams::default() }),
        (AttackKind::CwL2, OptParams { confidence: -1.0, ..OptParams::default() }),
        (AttackKind::CwL2, OptParams { lr: f64::NAN, ..OptParams::default() }),
        (AttackKind::Lbfgs, OptParams { search_steps: 0, ..OptParams::default() }),
    ];
    for (kind, opt) in bad {
        let cfg = AttackConfig { kind, eps: 0.0, alpha: 0.0, steps: 10, goal: Goal::Untargeted };
        assert!(attack_batch(&target, &x, &[None; 5], &names, BoxSpec::Unbounded, &Attack::Gradient { config: cfg, opt }).is_err(), "{kind:?} {opt:?}");
    }
}

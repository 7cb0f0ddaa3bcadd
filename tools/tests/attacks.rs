//! The attack suite against closed forms and a trained model.
//!
//! * On a binary linear classifier (logits `[0, w·x + b]`) the distance from `x` to the
//!   decision boundary is `|w·x + b| / ‖w‖₂` in L2 and `|w·x + b| / ‖w‖₁` in L∞, and FGSM's
//!   step points straight at it: FGSM-L2 (resp. FGSM L∞) with ε just above that distance must
//!   flip the label, just below must not; untargeted and targeted alike. BIM-a with step α
//!   moves `w·x + b` by `α‖w‖₁` per step, so it must stop after exactly
//!   `⌈|w·x + b| / (α‖w‖₁)⌉` gradients. DeepFool reaches the boundary in one step, so its
//!   perturbation is `(1 + overshoot)·(|w·x + b| + 10⁻⁴) / ‖w‖₂`.
//! * Every attack's perturbation stays in the ε-ball (L∞, or L2 for FGSM-L2) and in the box.
//! * BIM-b on the shipped kws-cnn (`models/kws-fsdd.onnx` and the checkpoint beside it): a
//!   high fooling rate on 10 FSDD test clips in the waveform domain, with
//!   exactly `steps × examples` gradients.

use soundproof_tools::attack::{attack_batch, Attack, AttackConfig, AttackKind, AttackTarget, BoxSpec, Domain, Goal};
use soundproof_tools::data::{fsdd, load_window};
use soundproof::dataset::evenly;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

const SHAPE: [i64; 3] = [1, 4, 3];
const D: usize = 12;

/// Weights with distinct magnitudes and signs, and a batch of inputs on both sides.
fn linear() -> (Vec<f64>, f64, Tensor) {
    let w: Vec<f64> = (0..D).map(|i| ((i as f64 * 0.7).sin() + 0.3) * if i % 3 == 0 { -1.0 } else { 1.0 }).collect();
    let b = 0.25;
    let x: Vec<f32> = (0..5 * D).map(|i| ((i as f64 * 1.3).cos() * 0.8) as f32).collect();
    (w, b, Tensor::from_slice(&x).reshape([5, SHAPE[0], SHAPE[1], SHAPE[2]]))
}

fn linear_target(w: &[f64], b: f64) -> AttackTarget {
    let wt = Tensor::from_slice(w).to_kind(Kind::Float);
    AttackTarget::new(Domain::Features, Device::Cpu, move |x: &Tensor| {
        let n = x.size()[0];
        let z = x.reshape([n, -1]).matmul(&wt) + b;
        Tensor::stack(&[z.zeros_like(), z], 1)
    })
}

/// `w·x + b` per example, in f64.
fn margins(w: &[f64], b: f64, x: &Tensor) -> Vec<f64> {
    let n = x.size()[0];
    let xs = Vec::<f64>::try_from(x.to_kind(Kind::Double).reshape([-1])).unwrap();
    (0..n as usize).map(|i| xs[i * D..(i + 1) * D].iter().zip(w).map(|(a, c)| a * c).sum::<f64>() + b).collect()
}

fn run_one(target: &AttackTarget, x: &Tensor, kind: AttackKind, eps: f64, goal: Goal, box_spec: BoxSpec) -> (Tensor, Vec<soundproof_tools::attack::ExampleResult>) {
    let cfg = AttackConfig { kind, eps, alpha: eps / 4.0, steps: 10, goal };
    let names = vec!["x".to_string(); x.size()[0] as usize];
    attack_batch(target, x, &vec![None; names.len()], &names, box_spec, &Attack::from(cfg)).unwrap()
}

#[test]
fn fgsm_flips_a_linear_classifier_exactly_at_the_boundary() {
    let (w, b, x) = linear();
    let target = linear_target(&w, b);
    let l2w = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    let l1w = w.iter().map(|v| v.abs()).sum::<f64>();
    let m = margins(&w, b, &x);
    assert!(m.iter().any(|&z| z > 0.0) && m.iter().any(|&z| z < 0.0), "inputs on both sides: {m:?}");
    for (kind, wnorm) in [(AttackKind::FgsmL2, l2w), (AttackKind::Fgsm, l1w)] {
        for (i, &z) in m.iter().enumerate() {
            let xi = x.narrow(0, i as i64, 1);
            let dist = z.abs() / wnorm;
            let other = if z > 0.0 { 0 } else { 1 };
            for goal in [Goal::Untargeted, Goal::Targeted(other)] {
                let (_, above) = run_one(&target, &xi, kind, dist * 1.001, goal, BoxSpec::Unbounded);
                let (_, below) = run_one(&target, &xi, kind, dist * 0.999, goal, BoxSpec::Unbounded);
                assert!(above[0].success && above[0].counted, "{kind:?} {goal:?} example {i}: ε = 1.001 × {dist} fails: {:?}", above[0]);
                assert!(!below[0].success, "{kind:?} {goal:?} example {i}: ε = 0.999 × {dist} succeeds: {:?}", below[0]);
                assert_eq!(above[0].adversarial, other);
                assert_eq!((above[0].gradients, above[0].forwards), (1, 3));
                // The step is the whole budget in its own norm.
                let size = if kind == AttackKind::FgsmL2 { above[0].distortion.l2 } else { above[0].distortion.linf };
                assert!((size - dist * 1.001).abs() <= 1e-5 * dist, "{kind:?}: step {size} vs ε {}", dist * 1.001);
            }
        }
    }
    // Target counters: per call 1 gradient (+1 forward) and 2 predictions per example.
    let calls = 2 * 2 * 2 * m.len() as u64;
    assert_eq!(target.counts(), (3 * calls, calls));
}

#[test]
fn bim_a_stops_at_the_first_success_and_bim_b_runs_every_step() {
    let (w, b, x) = linear();
    let target = linear_target(&w, b);
    let l1w = w.iter().map(|v| v.abs()).sum::<f64>();
    let m = margins(&w, b, &x);
    let alpha = 0.01;
    let steps = 200;
    let cfg = |kind| AttackConfig { kind, eps: 10.0, alpha, steps, goal: Goal::Untargeted };
    let names = vec!["x".to_string(); m.len()];
    let (_, a) = attack_batch(&target, &x, &vec![None; m.len()], &names, BoxSpec::Unbounded, &Attack::from(cfg(AttackKind::BimA))).unwrap();
    for (r, &z) in a.iter().zip(&m) {
        let k = z.abs() / (alpha * l1w);
        assert!((k - k.round()).abs() > 1e-3, "margin too close to a whole number of steps");
        let expect = k.ceil() as u64;
        assert!(expect < steps as u64);
        assert!(r.success);
        assert_eq!(r.gradients, expect, "BIM-a gradients for margin {z}");
        // One forward per gradient, one success check per step, clean and final predictions.
        assert_eq!(r.forwards, 2 * expect + 2);
    }
    let (_, bb) = attack_batch(&target, &x, &vec![None; m.len()], &names, BoxSpec::Unbounded, &Attack::from(cfg(AttackKind::BimB))).unwrap();
    for r in &bb {
        assert!(r.success);
        assert_eq!((r.gradients, r.forwards), (steps as u64, steps as u64 + 2));
    }
}

#[test]
fn deepfool_lands_just_past_the_boundary_of_a_linear_classifier() {
    let (w, b, x) = linear();
    let target = linear_target(&w, b);
    let l2w = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    let m = margins(&w, b, &x);
    let cfg = AttackConfig { kind: AttackKind::Deepfool, eps: 0.0, alpha: 0.0, steps: 50, goal: Goal::Untargeted };
    let names = vec!["x".to_string(); m.len()];
    let (_, res) = attack_batch(&target, &x, &vec![None; m.len()], &names, BoxSpec::Unbounded, &Attack::from(cfg)).unwrap();
    for (r, &z) in res.iter().zip(&m) {
        // One step onto the (exact) boundary, (1 + overshoot) of it; the second Jacobian's
        // forward pass sees the flip: 2 iterations × 2 classes.
        let expect = (1.0 + soundproof_tools::attack::deepfool::OVERSHOOT) * (z.abs() + 1e-4) / l2w;
        assert!(r.success, "{r:?}");
        assert!((r.distortion.l2 - expect).abs() <= 1e-4 * expect, "DeepFool L2 {} vs {expect}", r.distortion.l2);
        assert_eq!((r.gradients, r.forwards), (4, 4));
    }
    assert!(attack_batch(&target, &x, &vec![None; m.len()], &names, BoxSpec::Unbounded, &Attack::from(AttackConfig { goal: Goal::Targeted(0), ..cfg })).is_err());
}

#[test]
fn perturbations_stay_in_the_eps_ball_and_the_box() {
    let (w, b, x) = linear();
    let target = linear_target(&w, b);
    let eps = 0.3;
    let boxes = [BoxSpec::Clean, BoxSpec::Fixed { lo: -0.9, hi: 0.85 }];
    for box_spec in boxes {
        for kind in [AttackKind::Fgsm, AttackKind::FgsmL2, AttackKind::BimA, AttackKind::BimB] {
            for goal in [Goal::Untargeted, Goal::Targeted(1)] {
                let (adv, res) = run_one(&target, &x, kind, eps, goal, box_spec);
                let n = x.size()[0];
                let d = (adv.to_kind(Kind::Double) - x.to_kind(Kind::Double)).reshape([n, -1]);
                let (lo, hi) = match box_spec {
                    BoxSpec::Fixed { lo, hi } => (vec![lo; n as usize], vec![hi; n as usize]),
                    _ => (
                        Vec::<f64>::try_from(x.reshape([n, -1]).amin([1].as_slice(), false).to_kind(Kind::Double)).unwrap(),
                        Vec::<f64>::try_from(x.reshape([n, -1]).amax([1].as_slice(), false).to_kind(Kind::Double)).unwrap(),
                    ),
                };
                let a = Vec::<f64>::try_from(adv.reshape([-1]).to_kind(Kind::Double)).unwrap();
                for i in 0..n as usize {
                    let r = &res[i];
                    let size = if kind == AttackKind::FgsmL2 { r.distortion.l2 } else { r.distortion.linf };
                    assert!(size <= eps * (1.0 + 1e-6), "{kind:?} {box_spec:?}: size {size} > ε {eps}");
                    for &v in &a[i * D..(i + 1) * D] {
                        assert!(v >= lo[i] - 1e-6 && v <= hi[i] + 1e-6, "{kind:?} {box_spec:?}: {v} outside [{}, {}]", lo[i], hi[i]);
                    }
                }
                let l2 = Vec::<f64>::try_from(d.to_kind(Kind::Double).square().sum_dim_intlist(1, false, Kind::Double).sqrt()).unwrap();
                for (r, l) in res.iter().zip(l2) {
                    assert!((r.distortion.l2 - l).abs() <= 1e-9 * (1.0 + l));
                }
            }
        }
    }
}

/// The shipped model, whose checkpoint ships beside it (`soundproof-tools import`: batch norms folded, every weight the ONNX file's, checked on load).
fn checkpoint_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/kws-fsdd.onnx")
}

/// L∞ ε on the waveform after the clip gain (RMS 1): 0.05 (SNR ≈ 31 dB). The checkpoint,
/// trained with σ = 0.005 waveform noise, resists much smaller ε (0.002: 1 of 10 fooled).
const KWS_EPS: f64 = 0.05;

#[test]
fn bim_b_fools_the_trained_kws_cnn_in_the_waveform_domain() {
    let recordings = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fsdd/recordings");
    let dir = checkpoint_dir();
    assert!(recordings.is_dir(), "no FSDD at {} (../shared/data beside the repository)", recordings.display());
    tch::set_num_threads(2);
    let (target, ck) = AttackTarget::from_checkpoint(&dir, Domain::Waveform, Device::Cpu).unwrap();
    let examples = evenly(&fsdd::index(&recordings).unwrap().test, 10);
    let pipeline = ck.clip_window();
    let mut buf = Vec::new();
    for e in &examples {
        buf.extend(load_window(&pipeline, &e.path).unwrap().0);
    }
    let x = Tensor::from_slice(&buf).reshape([examples.len() as i64, ck.window_samples as i64]);
    let labels: Vec<Option<i64>> = examples.iter().map(|e| Some(e.label as i64)).collect();
    let names: Vec<String> = examples.iter().map(|e| e.path.display().to_string()).collect();
    let steps = 10;
    let cfg = AttackConfig { kind: AttackKind::BimB, eps: KWS_EPS, alpha: KWS_EPS / 4.0, steps, goal: Goal::Untargeted };
    let (adv, res) = attack_batch(&target, &x, &labels, &names, BoxSpec::Clean, &Attack::from(cfg)).unwrap();
    let s = soundproof_tools::attack::summarize(&res);
    eprintln!(
        "BIM-b, {steps} steps, waveform L∞ ε = {KWS_EPS}: fooling rate {:.2} ({}/{}), mean L2 {:.4}, mean SNR {:.1} dB, {:.1} s",
        s.fooling_rate, s.successes, s.counted, s.mean_l2, s.mean_snr_db, s.seconds
    );
    assert!(s.counted >= 9, "the clean model should classify these clips: {res:?}");
    assert!(s.fooling_rate >= 0.9, "fooling rate {}", s.fooling_rate);
    let (_, grads) = target.counts();
    assert_eq!(grads, (steps * examples.len()) as u64);
    for r in &res {
        assert_eq!(r.gradients, steps as u64);
        assert!(r.distortion.linf <= KWS_EPS * (1.0 + 1e-5));
    }
    // The clean window's own peak bounds the adversarial one.
    let peak = x.abs().amax([1].as_slice(), false);
    let adv_peak = adv.abs().amax([1].as_slice(), false);
    assert!(bool::try_from(adv_peak.le_tensor(&peak).all()).unwrap());
}

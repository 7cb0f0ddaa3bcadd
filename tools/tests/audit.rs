//! The certificate audit.
//!
//! * On a binary linear classifier the smoothed classifier is the base classifier (Gaussian
//!   noise is symmetric about the boundary), and the soft smoothed classifier's gradient points
//!   along the weight vector `w`. So PGD on the smoothed classifier must move straight at the
//!   boundary (δ parallel to `w`), stay inside its L2 budget, cross the boundary when the
//!   budget is 1.2× the distance `|w·x + b| / ‖w‖₂` and cannot when it is 0.8×.
//! * End to end on the shipped kws-cnn (`models/kws-fsdd.onnx`, attacked through the checkpoint
//!   beside it, certified in tract): no flip inside the certified radius, flips far
//!   outside it.

use soundproof_tools::attack::audit::{run_audit, smoothed_pgd, AuditClip, AuditConfig, SmoothedAttack};
use soundproof_tools::attack::{AttackTarget, Domain};
use soundproof::dataset::evenly;
use std::path::PathBuf;
use tch::{Device, Kind, Tensor};

const D: usize = 16;

fn linear_target(w: &[f64], b: f64) -> AttackTarget {
    let wt = Tensor::from_slice(w).to_kind(Kind::Float);
    AttackTarget::new(Domain::Waveform, Device::Cpu, move |x: &Tensor| {
        let n = x.size()[0];
        let z = x.reshape([n, -1]).matmul(&wt) + b;
        Tensor::stack(&[z.zeros_like(), z], 1)
    })
}

#[test]
fn pgd_on_the_smoothed_linear_classifier_goes_straight_at_the_boundary() {
    tch::manual_seed(7);
    let w: Vec<f64> = (0..D).map(|i| (i as f64 * 0.9).sin() + 0.2).collect();
    let b = -0.1;
    let wn = w.iter().map(|v| v * v).sum::<f64>().sqrt();
    let target = linear_target(&w, b);
    let sigma = 0.3;
    let p = SmoothedAttack { sigma, steps: 40, noise_samples: 64 };
    for k in 0..4 {
        let x: Vec<f32> = (0..D).map(|i| ((i + 3 * k) as f64 * 1.7).cos() as f32 * 0.5).collect();
        let xt = Tensor::from_slice(&x).reshape([1, D as i64]);
        let m: f64 = x.iter().zip(&w).map(|(a, c)| *a as f64 * c).sum::<f64>() + b;
        let dist = m.abs() / wn;
        let label = i64::from(m > 0.0);
        for (mult, must_flip) in [(1.2, true), (0.8, false)] {
            let eps = mult * dist;
            let adv = smoothed_pgd(&target, &xt, label, eps, &p);
            let d = Vec::<f64>::try_from((&adv - &xt).to_kind(Kind::Double).reshape([-1])).unwrap();
            let dn = d.iter().map(|v| v * v).sum::<f64>().sqrt();
            assert!(dn <= eps * (1.0 + 1e-5), "‖δ‖ = {dn} over the budget {eps}");
            // δ points from x towards the other side: along −sign(m)·w.
            let cos = -m.signum() * d.iter().zip(&w).map(|(a, c)| a * c).sum::<f64>() / (dn * wn);
            assert!(cos > 0.999, "example {k}, budget {mult}: cos(δ, towards the boundary) = {cos}");
            let adv_m: f64 = Vec::<f64>::try_from(adv.to_kind(Kind::Double).reshape([-1])).unwrap().iter().zip(&w).map(|(a, c)| a * c).sum::<f64>() + b;
            assert_eq!(adv_m.signum() != m.signum(), must_flip, "example {k}, budget {mult}·d: margin {m} → {adv_m}");
        }
    }
}

/// The shipped model, whose checkpoint ships beside it (`soundproof-tools import`: batch norms folded, every weight the ONNX file's, checked on load).
fn checkpoint_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../models/kws-fsdd.onnx")
}

#[test]
fn no_flip_inside_the_certified_radius_of_the_trained_kws_cnn() {
    let recordings = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/fsdd/recordings");
    let dir = checkpoint_dir();
    assert!(recordings.is_dir(), "no FSDD at {} (../shared/data beside the repository)", recordings.display());
    tch::set_num_threads(2);
    let rate = soundproof_tools::checkpoint::Checkpoint::load(&dir).unwrap().sample_rate;
    let examples = evenly(&soundproof_tools::data::fsdd::index(&recordings).unwrap().test, 2);
    let clips: Vec<AuditClip> = examples
        .iter()
        .map(|e| {
            let c = soundproof::audio::read_mono(&e.path).unwrap();
            AuditClip { path: e.path.clone(), samples: soundproof::audio::resample(&c.samples, c.sample_rate, rate).unwrap(), truth: Some(e.label as i64) }
        })
        .collect();
    let cfg = AuditConfig {
        contract: "waveform".into(),
        sigma: 0.005,
        n0: 100,
        n: 300,
        alpha: 0.001,
        seed: 0,
        budgets: vec![0.99, 100.0],
        attack: SmoothedAttack { sigma: 0.005, steps: 20, noise_samples: 8 },
        predict_n: 300,
        deepfool_steps: 50,
    };
    let r = run_audit(&dir, &dir, &clips, &cfg, Device::Cpu, |_| {}).unwrap();
    eprintln!("{:?}", r.summary);
    assert_eq!(r.certified, 2, "both clips should be certified: {:?}", r.results.iter().map(|c| &c.certificate).collect::<Vec<_>>());
    assert_eq!(r.summary[0].flipped, 0, "a flip inside the certified radius: {:?}", r.results);
    assert!(r.summary[1].flipped >= 1, "the attack should flip the smoothed prediction at 100 R: {:?}", r.results);
    for c in &r.results {
        assert!(c.budgets[0].delta_l2 <= 0.99 * c.certificate.radius * (1.0 + 1e-5));
    }
}

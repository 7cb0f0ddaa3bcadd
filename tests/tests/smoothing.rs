//! Randomized smoothing against closed forms.
//!
//! The base classifier is linear and binary, built as ONNX by the test:
//! logits = [0, w·u + b] for the model input u. Under Gaussian noise N(0, σ²I) on u the
//! smoothed classifier is the base classifier itself, with
//! pA = Φ(|w·u + b| / (σ‖w‖)) and the true L2 radius R* = |w·u + b| / ‖w‖ (Cohen et al. 2019,
//! the linear case). We place a window x at true radius R* = 2σ from the decision boundary.
//!
//! - validity: over 500 independent certifications (different clip keys) at α = 0.05 of a
//!   window at R* = σ/2 (pA = Φ(1/2), where a bound at level α does exceed pA, at a rate just
//!   under α), the number whose certified radius exceeds R* must be consistent with a rate ≤ α
//!   (binomial upper tail 1e-4) and not zero, and the pooled noise counts must equal pA in
//!   distribution (checks that σ is applied, in the right space);
//! - convergence: the radius grows toward R* as n grows (n = 100 … 100,000 at α = 0.001),
//!   each within the band the binomial law of nA allows around its closed-form value;
//! - the feature contract: noise on the feature tensor of a feature-input linear model gives
//!   pA = Φ(margin/(σ‖w‖)) in feature units;
//! - the online certifier (`smooth::online`): the same check over 500 certifications whose
//!   sample count is planned from the measured throughput of two workers under a 12-ms budget,
//!   with the Clopper-Pearson bound at the full α (the planned-n argument of the module doc);
//! - reproducibility: results depend on the seed only, not on the batch size nor on the number
//!   of certifier workers.

use soundproof::model::card::{InputKind, ModelCard};
use soundproof::model::Model;
use soundproof::smooth::{Budget, Contract, OnlineBound, OnlineCertifier, Phase, Plan, SmoothParams, Smoother};
use soundproof::stats::{binom_sf, clopper_pearson_lower, norm_cdf, norm_ppf};
use soundproof_tests::{onnx::write_linear_model, scratch, toy};
use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

const WINDOW: usize = 512;

fn waveform_card() -> ModelCard {
    let mut c = toy::card("linear-waveform");
    c.input = InputKind::Waveform;
    c.input_shape = vec![-1, 1, WINDOW as i64];
    c.window_samples = WINDOW;
    c.hop_samples = WINDOW;
    c.window_s = WINDOW as f64 / 16_000.0;
    c.hop_s = c.window_s;
    c.labels = vec!["negative".into(), "positive".into()];
    c
}

fn randn(n: usize, seed: u64) -> Vec<f32> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| StandardNormal.sample(&mut rng)).collect()
}

/// A binary linear model on inputs of `d` values whose margin at `x` is exactly `radius`
/// (in L2 units of the input): returns the model and ‖w‖.
fn linear_at_radius(card: &ModelCard, x: &[f32], radius: f64, name: &str) -> (Model, f64) {
    let d = x.len();
    let w = randn(d, 11);
    let norm = w.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
    let wx: f64 = w.iter().zip(x).map(|(&a, &b)| a as f64 * b as f64).sum();
    let b = radius * norm - wx;
    let mut weight = vec![0.0f32; d];
    weight.extend_from_slice(&w);
    // One scratch folder per model: `scratch` empties its folder, and the tests run in parallel.
    let path = scratch(&format!("smoothing-{name}")).join(format!("{name}.onnx"));
    write_linear_model(&path, card, &weight, &[0.0, b as f32]);
    (Model::load(&path).expect("linear model"), norm)
}

/// Smallest k with P[Binomial(n, p) > k] ≤ tail.
fn binom_upper(n: u64, p: f64, tail: f64) -> u64 {
    (0..=n).find(|&k| binom_sf(k, n, p).unwrap() <= tail).unwrap()
}

/// The rate of certified radii above the true radius R* = 0.5σ (pA = Φ(0.5) = 0.69, so that a
/// Clopper-Pearson bound at α = 0.05 lands above pA, and the radius above R*, at a rate close
/// to α: the check can fail) over `trials` certifications by `certify(key)`; asserts it is
/// consistent with a rate ≤ α (binomial upper tail 1e-4) and that some radii do exceed R*.
/// Returns (certifications with R > R*, certified, total nA, total n).
fn check_rate_alpha(trials: u64, alpha: f64, label: &str, mut certify: impl FnMut(u64) -> soundproof::smooth::Certificate) -> (u64, u64, u64, u64) {
    let r_true = 0.5 * VALIDITY_SIGMA;
    let (mut above, mut certified, mut n_a_total, mut n_total) = (0u64, 0u64, 0u64, 0u64);
    for key in 0..trials {
        let c = certify(key);
        if c.radius > 0.0 {
            certified += 1;
            assert_eq!(c.prediction, Some(1));
        }
        if c.radius > r_true {
            above += 1;
        }
        if c.candidate == 1 {
            n_a_total += c.n_a;
            n_total += c.samples;
        }
    }
    let limit = binom_upper(trials, alpha, 1e-4);
    println!("{label}: {above} of {trials} certified radii above R* = {r_true} (limit {limit} for rate α = {alpha}); {certified} certified");
    assert!(above <= limit, "{label}: {above} radii above the true radius");
    assert!(above >= 1, "{label}: no radius above R*: the check would not see an invalid bound");
    (above, certified, n_a_total, n_total)
}

const VALIDITY_SIGMA: f64 = 0.05;

#[test]
fn certified_radii_exceed_the_true_radius_at_most_at_rate_alpha() {
    let sigma = VALIDITY_SIGMA;
    let x: Vec<f32> = randn(WINDOW, 3).iter().map(|v| 0.3 * v).collect();
    let (model, _) = linear_at_radius(&waveform_card(), &x, 0.5 * sigma, "validity");
    let params = SmoothParams { sigma, n0: 20, n: 400, alpha: 0.05, batch: 64, seed: 5 };
    let mut s = Smoother::new(&model, Contract::Waveform, params).unwrap();
    let trials = 500u64;
    let (_, certified, n_a_total, total) = check_rate_alpha(trials, params.alpha, "fixed n", |key| s.certify(&x, key, soundproof::smooth::GainRecord::Fixed, 1.0).unwrap());
    assert!(certified >= trials * 9 / 10, "pA = Φ(0.5) = 0.69 at n = 400 should certify almost always: {certified}");
    // Pooled counts: nA over the estimation samples is Binomial(total, Φ(0.5)).
    let p = norm_cdf(0.5);
    let sd = (total as f64 * p * (1.0 - p)).sqrt();
    let z = (n_a_total as f64 - total as f64 * p) / sd;
    println!("pooled pA {:.5} vs Φ(0.5) = {p:.5} (z = {z:.2})", n_a_total as f64 / total as f64);
    assert!(z.abs() < 4.5, "pooled noise counts disagree with the closed form: z = {z}");
}

#[test]
fn radius_approaches_the_true_radius_as_n_grows() {
    let sigma = 0.02;
    let r_true = 2.0 * sigma;
    let x: Vec<f32> = randn(WINDOW, 4).iter().map(|v| 0.3 * v).collect();
    let (model, _) = linear_at_radius(&waveform_card(), &x, r_true, "convergence");
    let p = norm_cdf(2.0);
    let mut last = 0.0;
    for n in [100u64, 1_000, 10_000, 100_000] {
        let alpha = 0.001;
        let params = SmoothParams { sigma, n0: 100, n, alpha, batch: 256, seed: 9 };
        let c = Smoother::new(&model, Contract::Waveform, params).unwrap().certify(&x, 1, soundproof::smooth::GainRecord::Fixed, 1.0).unwrap();
        // Closed form: nA ~ Binomial(n, pA); the radius must lie between the radii at
        // nA = n·pA ∓ 4.5 standard deviations.
        let radius_at = |k: f64| {
            let k = k.clamp(0.0, n as f64).round() as u64;
            let lo = clopper_pearson_lower(k, n, alpha).unwrap();
            if lo > 0.5 { sigma * norm_ppf(lo).unwrap() } else { 0.0 }
        };
        let sd = (n as f64 * p * (1.0 - p)).sqrt();
        let (lo, hi) = (radius_at(n as f64 * p - 4.5 * sd), radius_at(n as f64 * p + 4.5 * sd));
        println!(
            "n = {n:>6}: R = {:.5} = {:.3} R* (closed form {:.3}-{:.3} R*), pA_lower {:.5}",
            c.radius,
            c.radius / r_true,
            lo / r_true,
            hi / r_true,
            c.p_a_lower
        );
        assert!(c.radius >= lo && c.radius <= hi, "n = {n}: radius {} outside [{lo}, {hi}]", c.radius);
        last = c.radius;
        // The record says what it certified.
        assert_eq!(c.contract, Contract::Waveform);
        assert_eq!(c.n, n);
        assert!(c.snr_cert_db.is_some());
    }
    assert!(last >= 0.95 * r_true && last <= r_true, "at n = 100,000 the radius should be within 5 % below R*: {last}");
}

#[test]
fn feature_contract_adds_noise_to_the_features() {
    // A feature-input linear model on the toy's log-mel windows; margin 1.5σ in feature units.
    let card = toy::card("linear-features");
    let x = toy::load16k(&soundproof_tests::fsdd().join("4_george_2.wav"));
    let x = soundproof::window::crop_pad(&x, 16_000);
    let g = 0.05 / soundproof::dsp::gain::rms(&x);
    let x: Vec<f32> = x.iter().map(|v| v * g).collect();
    let z = {
        let mut dummy = toy::card("d");
        dummy.labels = vec!["a".into(), "b".into()];
        let (m, _) = linear_at_radius(&dummy, &vec![0.0; 101 * 64], 1.0, "dummy");
        let mut s = Smoother::new(&m, Contract::Feature, SmoothParams::new(1.0)).unwrap();
        let mut z = Vec::new();
        s.input_of(&x, &mut z).unwrap();
        z
    };
    let sigma = 0.5; // dB
    let mut card2 = card.clone();
    card2.labels = vec!["negative".into(), "positive".into()];
    let (model, _) = linear_at_radius(&card2, &z, 1.5 * sigma, "features");
    let params = SmoothParams { sigma, n0: 10, n: 2_000, alpha: 0.001, batch: 32, seed: 2 };
    let mut s = Smoother::new(&model, Contract::Feature, params).unwrap();
    let counts = s.counts(&x, 7, Phase::Estimation, 0, params.n).unwrap();
    let p = norm_cdf(1.5);
    let z_score = (counts[1] as f64 - params.n as f64 * p) / (params.n as f64 * p * (1.0 - p)).sqrt();
    println!("feature contract: {} of {} positive, Φ(1.5) = {p:.4} (z = {z_score:.2})", counts[1], params.n);
    assert!(z_score.abs() < 4.5);
    // The same σ on the waveform would barely move a log-mel linear model: the contracts differ.
    let c = s.certify(&x, 7, soundproof::smooth::GainRecord::ClipRms, g).unwrap();
    assert_eq!(c.contract, Contract::Feature);
    assert!(c.snr_cert_db.is_none(), "no waveform SNR for a feature-space certificate");
    assert!(c.certified_object.contains("feature space"));
    // PREDICT at a feature map draws the same noise as PREDICT at the waveform whose map it is.
    let at_x = s.predict(&x, 7, 500, 0.001).unwrap();
    let at_z = s.predict_features(&z, 7, 500, 0.001).unwrap();
    assert_eq!(at_x, at_z);
    assert_eq!(at_z.prediction, Some(1), "{at_z:?}");
    assert!(s.predict_features(&z[1..], 7, 10, 0.001).is_err(), "a map of the wrong size must be refused");
}

#[test]
fn results_depend_on_the_seed_only() {
    let x: Vec<f32> = randn(WINDOW, 5).iter().map(|v| 0.3 * v).collect();
    let (model, _) = linear_at_radius(&waveform_card(), &x, 0.02, "batch");
    let run = |batch: usize, seed: u64| {
        let params = SmoothParams { sigma: 0.02, n0: 50, n: 500, alpha: 0.001, batch, seed };
        let c = Smoother::new(&model, Contract::Waveform, params).unwrap().certify(&x, 3, soundproof::smooth::GainRecord::Fixed, 1.0).unwrap();
        (c.candidate, c.n_a, c.p_a_lower.to_bits(), c.radius.to_bits())
    };
    let reference = run(1, 1);
    for batch in [7, 64, 500] {
        assert_eq!(run(batch, 1), reference, "batch {batch}");
    }
    assert_ne!(run(7, 2).1, reference.1, "another seed, other noise");
}

#[test]
fn planned_online_radii_exceed_the_true_radius_at_most_at_rate_alpha() {
    let sigma = VALIDITY_SIGMA;
    let x: Vec<f32> = randn(WINDOW, 6).iter().map(|v| 0.3 * v).collect();
    let (model, _) = linear_at_radius(&waveform_card(), &x, 0.5 * sigma, "online-validity");
    let params = SmoothParams { sigma, n0: 32, n: 4_000, alpha: 0.05, batch: 16, seed: 8 };
    let mut oc = OnlineCertifier::new(&model, Contract::Waveform, params, 2).unwrap();
    // n is planned from the throughput the previous window measured (timing only, never the
    // outcomes); the bound is fixed-n Clopper-Pearson at the full α.
    let bound = OnlineBound::Planned(Plan { margin: 0.85, n_min: 32 });
    let budget = Budget { time: Some(std::time::Duration::from_millis(12)) };
    let trials = 500u64;
    let mut ns = Vec::new();
    let (_, certified, n_a_total, total) = check_rate_alpha(trials, params.alpha, "planned n", |key| {
        let c = oc.certify(&x, 10_000 + key, soundproof::smooth::GainRecord::Fixed, 1.0, &bound, budget).unwrap();
        assert_eq!(c.samples, c.n, "the planned n is drawn whole");
        assert!(c.n >= 32 && c.n <= params.n);
        assert!(matches!(c.bound, soundproof::smooth::BoundRecord::Planned { .. }), "{}", c.bound);
        // The record's bound is the fixed-n Clopper-Pearson bound at the full α on its n.
        assert_eq!(c.p_a_lower, clopper_pearson_lower(c.n_a, c.n, params.alpha).unwrap());
        ns.push(c.n);
        c
    });
    ns.sort();
    println!("planned n from {} to {} (median {})", ns[0], ns[ns.len() - 1], ns[ns.len() / 2]);
    assert!(certified >= trials * 9 / 10, "pA = Φ(0.5) should certify almost always: {certified}");
    let p = norm_cdf(0.5);
    let z = (n_a_total as f64 - total as f64 * p) / (total as f64 * p * (1.0 - p)).sqrt();
    assert!(z.abs() < 4.5, "pooled noise counts disagree with the closed form: z = {z}");
}

#[test]
fn online_results_depend_on_the_seed_only_not_on_the_workers() {
    let x: Vec<f32> = randn(WINDOW, 5).iter().map(|v| 0.3 * v).collect();
    let (model, _) = linear_at_radius(&waveform_card(), &x, 0.02, "workers");
    let params = SmoothParams { sigma: 0.02, n0: 50, n: 700, alpha: 0.001, batch: 1, seed: 1 };
    let fixed = Smoother::new(&model, Contract::Waveform, params).unwrap().certify(&x, 3, soundproof::smooth::GainRecord::Fixed, 1.0).unwrap();
    let counts = Smoother::new(&model, Contract::Waveform, params).unwrap().counts(&x, 3, Phase::Estimation, 5, 333).unwrap();
    for workers in [1, 2, 3] {
        let mut oc = OnlineCertifier::new(&model, Contract::Waveform, params, workers).unwrap();
        assert_eq!(oc.counts(&x, 3, Phase::Estimation, 5, 333).unwrap(), counts, "{workers} workers");
        // Without a time budget the planned n is n: fixed-n CERTIFY, whatever the pool.
        let c = oc.certify(&x, 3, soundproof::smooth::GainRecord::Fixed, 1.0, &OnlineBound::Planned(Plan::default()), Budget { time: None }).unwrap();
        assert_eq!((c.candidate, c.n_a, c.n, c.p_a_lower.to_bits()), (fixed.candidate, fixed.n_a, fixed.n, fixed.p_a_lower.to_bits()));
    }
}

//! Randomized smoothing with explicit contracts (paper 003 §3-4, after Cohen, Rosenfeld &
//! Kolter 2019, "Certified adversarial robustness via randomized smoothing").
//!
//! The base classifier f is a [`Model`] with its front end; the smoothed classifier is
//! g(x) = argmax_k P[f(T(x + ε)) = k], ε ~ N(0, σ²I) added in the space the [`Contract`] names.
//!
//! - [`Smoother::predict`] is PREDICT: n samples, top two counts nA, nB, return A when the
//!   two-sided binomial test of nA out of nA + nB at p = 1/2 has p-value ≤ α, else abstain.
//! - [`Smoother::certify`] is CERTIFY: n0 selection samples choose the candidate A, n fresh
//!   samples count nA, pA_lower is the one-sided (1 − α) Clopper-Pearson lower bound
//!   B(α; nA, n − nA + 1) (`stats::clopper_pearson_lower`), and the result is A with radius
//!   R = σ Φ⁻¹(pA_lower) when pA_lower > 1/2, else abstain.
//! - [`OnlineCertifier`] is CERTIFY under a time budget on a pool of workers, with the sample
//!   count planned before sampling and the bound at the full α: see [`online`].
//!
//! Every result is a [`Certificate`]: the record of 003's reporting contract (what was
//! certified, where the noise went, gain policy and constant, post-noise transform, σ, n0, n,
//! α, nA, pA_lower, radius, SNR_cert, seed).
//!
//! Noise is reproducible by construction: sample `i` of phase `p` (selection, estimation,
//! prediction) of the clip with key `k` is drawn from its own generator ([`NoiseRng`],
//! xoshiro256++, Gaussian draws by the float32 ziggurat [`gaussians`]) seeded with
//! `mix(seed, k, p, i)`. Counts therefore depend only on (seed, key, σ, n0, n), never on the
//! batch size, the number of threads or how a dataset is sharded.

mod certificate;
mod contract;
mod diagnostics;
pub mod experiments;
mod noise;
pub mod online;
pub mod report;
pub mod runs;

pub use certificate::{BoundRecord, Certificate, GainRecord, Prediction};
pub use contract::{Contract, Transform};
pub use diagnostics::NormStats;
pub use noise::{clip_key, gaussians, sample_seed, NoiseRng, Phase};
use diagnostics::delta_and_noise_norms;
use noise::perturb;

use crate::dsp::{gain, DspError, FrontEnd};
use crate::model::card::InputKind;
use crate::model::{Model, ModelError};
use crate::stats::argmax;
use crate::stats::{self, StatsError};
use rand::SeedableRng;
use std::time::Instant;

pub use online::{all_agree_radius, planned_n, Budget, LookSchedule, OnlineBound, OnlineCertifier, Plan};

#[derive(Debug, thiserror::Error)]
pub enum SmoothError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("front end: {0}")]
    Dsp(#[from] DspError),
    #[error("statistics: {0}")]
    Stats(#[from] StatsError),
    #[error(transparent)]
    Window(#[from] crate::window::WindowError),
    #[error("{0}")]
    Config(String),
}

/// Parameters of PREDICT / CERTIFY. Defaults are 003's: n0 = 100, n = 10,000, α = 0.001.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SmoothParams {
    pub sigma: f64,
    pub n0: u64,
    pub n: u64,
    pub alpha: f64,
    /// Noisy copies per model run (speed only: results do not depend on it). Default 1: tract
    /// runs the shipped CNNs fastest one window at a time (BENCHMARKS.md, certification).
    pub batch: usize,
    pub seed: u64,
}

impl SmoothParams {
    pub fn new(sigma: f64) -> Self {
        SmoothParams { sigma, n0: 100, n: 10_000, alpha: 0.001, batch: 1, seed: 0 }
    }

    pub fn validate(&self) -> Result<(), SmoothError> {
        if !(self.sigma.is_finite() && self.sigma > 0.0) {
            return Err(SmoothError::Config(format!("σ = {} must be finite and > 0", self.sigma)));
        }
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return Err(SmoothError::Config(format!("α = {} must be in (0, 1)", self.alpha)));
        }
        if self.n0 == 0 || self.n == 0 {
            return Err(SmoothError::Config("n0 and n must be ≥ 1".into()));
        }
        if self.batch == 0 {
            return Err(SmoothError::Config("batch must be ≥ 1".into()));
        }
        Ok(())
    }
}

/// The base classifier under noise, for one model and contract. Holds its buffers: sampling
/// allocates nothing per noisy copy.
pub struct Smoother<'m> {
    model: &'m Model,
    contract: Contract,
    params: SmoothParams,
    fe: Option<Box<FrontEnd>>,
    per: usize,
    frames: usize,
    batch_in: Vec<f32>,
    noisy: Vec<f32>,
    eps: Vec<f32>,
}

impl<'m> Smoother<'m> {
    /// A smoother for `model`; refuses a contract the model cannot serve (feature noise on a
    /// waveform-input model).
    pub fn new(model: &'m Model, contract: Contract, params: SmoothParams) -> Result<Self, SmoothError> {
        params.validate()?;
        let card = model.card();
        let fe = match card.input {
            InputKind::Features => {
                Some(Box::new(crate::window::front_end_with_gain(card, 1.0)?))
            }
            InputKind::Waveform => {
                if contract == Contract::Feature {
                    return Err(SmoothError::Config(format!(
                        "model {} takes waveforms: the feature contract needs a feature-input model",
                        card.name
                    )));
                }
                None
            }
        };
        let per = model.example_len();
        let frames = fe.as_ref().map(|f| f.frame_count(card.window_samples)).unwrap_or(0);
        Ok(Smoother {
            model,
            contract,
            params,
            fe,
            per,
            frames,
            batch_in: Vec::with_capacity(params.batch * per),
            noisy: vec![0.0; card.window_samples.max(per)],
            eps: vec![0.0; card.window_samples.max(per)],
        })
    }

    pub fn params(&self) -> &SmoothParams {
        &self.params
    }
    pub fn contract(&self) -> Contract {
        self.contract
    }
    pub fn model(&self) -> &Model {
        self.model
    }

    /// Samples per model window.
    fn window_samples(&self) -> usize {
        self.model.card().window_samples
    }

    /// Model input of the waveform window `x` (the front end with unit gain: `x` carries its gain).
    pub fn input_of(&mut self, x: &[f32], out: &mut Vec<f32>) -> Result<(), SmoothError> {
        let start = out.len();
        match self.fe.as_mut() {
            None => out.extend_from_slice(x),
            Some(fe) => {
                fe.clip(x, |f: &[f32]| -> Result<(), DspError> {
                    out.extend_from_slice(f);
                    Ok(())
                })?;
            }
        }
        if out.len() - start != self.per {
            return Err(SmoothError::Config(format!(
                "a window of {} samples gave {} model inputs, the model takes {} ({} frames expected)",
                x.len(),
                out.len() - start,
                self.per,
                self.frames
            )));
        }
        Ok(())
    }

    fn check_window(&self, x: &[f32]) -> Result<(), SmoothError> {
        let w = self.window_samples();
        if x.len() != w {
            return Err(SmoothError::Config(format!("the certified window must hold {w} samples, got {}", x.len())));
        }
        if let Some(i) = x.iter().position(|v| !v.is_finite()) {
            return Err(SmoothError::Config(format!("sample {i} of the window is not finite")));
        }
        Ok(())
    }

    /// The base classifier's label on the clean window.
    pub(super) fn clean_prediction(&mut self, x: &[f32]) -> Result<usize, SmoothError> {
        self.check_window(x)?;
        let mut input = Vec::with_capacity(self.per);
        self.input_of(x, &mut input)?;
        Ok(argmax(&self.model.run(&input, 1)?))
    }

    /// Adds to `counts` the base classifier's labels on noise samples `[start, start + count)`
    /// of `phase` for the clip `key` around the waveform window `x` (with `z` = ψ(x) for the
    /// feature contract). `norms` collects ‖T(x+ε) − x‖ against ‖ε‖ for waveform contracts.
    #[allow(clippy::too_many_arguments)]
    fn sample(
        &mut self,
        x: &[f32],
        z: &[f32],
        key: u64,
        phase: Phase,
        start: u64,
        count: u64,
        counts: &mut [u64],
        mut norms: Option<&mut NormStats>,
    ) -> Result<(), SmoothError> {
        let sigma = self.params.sigma as f32;
        let transform = self.contract.transform();
        let (clean_rms, clean_peak) = (gain::rms(x), gain::peak(x));
        let mut i = start;
        let end = start + count;
        while i < end {
            let nb = (end - i).min(self.params.batch as u64) as usize;
            let mut input = std::mem::take(&mut self.batch_in);
            input.clear();
            for j in 0..nb as u64 {
                let mut rng = NoiseRng::seed_from_u64(sample_seed(self.params.seed, key, phase, i + j));
                match self.contract {
                    Contract::Feature => {
                        let base = input.len();
                        input.extend_from_slice(z);
                        let eps = &mut self.eps[..z.len()];
                        noise::gaussians(&mut rng, eps);
                        for (v, e) in input[base..].iter_mut().zip(eps.iter()) {
                            *v += sigma * e;
                        }
                    }
                    _ => {
                        let n = x.len();
                        let (noisy, eps) = (&mut self.noisy[..n], &mut self.eps[..n]);
                        perturb(&mut rng, x, sigma, transform, clean_rms, clean_peak, noisy, eps);
                        if let Some(ns) = norms.as_deref_mut() {
                            let (d, e) = delta_and_noise_norms(x, noisy, eps);
                            ns.add(d, e);
                        }
                        let noisy = std::mem::take(&mut self.noisy);
                        let r = self.input_of(&noisy[..n], &mut input);
                        self.noisy = noisy;
                        r?;
                    }
                }
            }
            let logits = self.model.run(&input, nb)?;
            self.batch_in = input;
            for l in logits.chunks(self.model.n_classes()) {
                counts[argmax(l)] += 1;
            }
            i += nb as u64;
        }
        Ok(())
    }

    /// ψ(x) when the contract perturbs features, else nothing.
    fn clean_features(&mut self, x: &[f32]) -> Result<Vec<f32>, SmoothError> {
        let mut z = Vec::new();
        if self.contract == Contract::Feature {
            self.input_of(x, &mut z)?;
        }
        Ok(z)
    }

    /// Label counts over noise samples `[start, start + count)` of `phase` (public for
    /// validity tests and the online schedule).
    pub fn counts(&mut self, x: &[f32], key: u64, phase: Phase, start: u64, count: u64) -> Result<Vec<u64>, SmoothError> {
        self.check_window(x)?;
        let z = self.clean_features(x)?;
        let mut counts = vec![0u64; self.model.n_classes()];
        self.sample(x, &z, key, phase, start, count, &mut counts, None)?;
        Ok(counts)
    }

    /// PREDICT. With probability ≥ 1 − `alpha` over the noise, a returned class is the smoothed
    /// classifier's g(x) (Cohen et al. 2019, Theorem 2); otherwise it abstains. `n` samples; the
    /// two-sided binomial test of nA out of nA + nB at p = 1/2 decides (003 §3).
    pub fn predict(&mut self, x: &[f32], key: u64, n: u64, alpha: f64) -> Result<Prediction, SmoothError> {
        let counts = self.counts(x, key, Phase::Prediction, 0, n)?;
        Self::decide(&counts, alpha)
    }

    /// PREDICT of the feature contract at the feature map `z` itself, with the same guarantee:
    /// with probability ≥ 1 − `alpha`, a returned class is g(z). `z` need not be the front
    /// end's output of any waveform (e.g. an attacked map), `frames × bins` as the model takes
    /// it. Noise as [`Smoother::predict`] draws it for the clip `key`.
    pub fn predict_features(&mut self, z: &[f32], key: u64, n: u64, alpha: f64) -> Result<Prediction, SmoothError> {
        if self.contract != Contract::Feature {
            return Err(SmoothError::Config("predict_features needs the feature contract".into()));
        }
        if z.len() != self.per || z.iter().any(|v| !v.is_finite()) {
            return Err(SmoothError::Config(format!("the feature map must hold {} finite values, got {}", self.per, z.len())));
        }
        let mut counts = vec![0u64; self.model.n_classes()];
        self.sample(&[], z, key, Phase::Prediction, 0, n, &mut counts, None)?;
        Self::decide(&counts, alpha)
    }

    fn decide(counts: &[u64], alpha: f64) -> Result<Prediction, SmoothError> {
        let (a, b) = top_two(counts);
        let (n_a, n_b) = (counts[a], counts[b]);
        let p_value = if n_a + n_b == 0 { 1.0 } else { stats::binom_test_two_sided(n_a, n_a + n_b, 0.5)? };
        Ok(Prediction { prediction: (p_value <= alpha).then_some(a), n_a, n_b, p_value })
    }

    /// CERTIFY. With probability ≥ 1 − α over the noise, when the certificate names a class A
    /// with radius R, the smoothed classifier returns A on every input within L2 distance R of
    /// `x` in the space the contract perturbs (Cohen et al. 2019, Theorem 1; for Contract 3 it
    /// is f∘T that is smoothed). n0 selection samples choose A, n fresh samples count nA,
    /// pA_lower is the one-sided Clopper-Pearson bound and R = σ Φ⁻¹(pA_lower); abstains when
    /// pA_lower ≤ 1/2. `gain_policy` and `gain` describe how `x` was scaled (the record).
    pub fn certify(&mut self, x: &[f32], key: u64, gain_policy: GainRecord, gain: f32) -> Result<Certificate, SmoothError> {
        let t0 = Instant::now();
        self.check_window(x)?;
        let z = self.clean_features(x)?;
        let c = self.model.n_classes();
        let mut sel = vec![0u64; c];
        self.sample(x, &z, key, Phase::Selection, 0, self.params.n0, &mut sel, None)?;
        let candidate = argmax(&sel);
        let mut est = vec![0u64; c];
        let mut norms = NormStats::default();
        let track = matches!(self.contract, Contract::Post(_));
        self.sample(x, &z, key, Phase::Estimation, 0, self.params.n, &mut est, track.then_some(&mut norms))?;
        let n_a = est[candidate];
        let p_a_lower = stats::clopper_pearson_lower(n_a, self.params.n, self.params.alpha)?;
        let bound = BoundRecord::ClopperPearson { alpha: self.params.alpha, n: self.params.n };
        let clean = self.clean_prediction(x)?;
        self.record(x, &z, key, gain_policy, gain, candidate, n_a, p_a_lower, self.params.n, track.then_some(norms), clean, bound, t0)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        x: &[f32],
        z: &[f32],
        key: u64,
        gain_policy: GainRecord,
        gain: f32,
        candidate: usize,
        n_a: u64,
        p_a_lower: f64,
        samples: u64,
        norms: Option<NormStats>,
        clean_prediction: usize,
        bound: BoundRecord,
        t0: Instant,
    ) -> Result<Certificate, SmoothError> {
        let p = &self.params;
        let certified = p_a_lower > 0.5;
        let radius = if certified { p.sigma * stats::norm_ppf(p_a_lower)? } else { 0.0 };
        let obj = if self.contract.is_waveform() { x } else { z };
        let x_norm = obj.iter().map(|&v| v as f64 * v as f64).sum::<f64>().sqrt();
        let card = self.model.card();
        let sr = card.features.sample_rate();
        let (certified_object, perturbation) = match self.contract {
            Contract::Waveform => (
                format!(
                    "the L2 ball of radius R around the gain-normalized waveform window x = s·CropPad(a) ({} samples at {sr} Hz, s = {gain}); waveform space",
                    x.len()
                ),
                "waveform, after the fixed gain".to_string(),
            ),
            Contract::Feature => (
                format!(
                    "the L2 ball of radius R (dB) around the log-mel tensor z = ψ(x) ({} values); feature space, not a waveform statement",
                    z.len()
                ),
                format!("{} features (model input)", card.features.kind.name()),
            ),
            Contract::Post(t) => (
                format!(
                    "f∘T_{} on the L2 ball of radius R around the gain-normalized waveform window x ({} samples at {sr} Hz, s = {gain}); waveform space",
                    t.name(),
                    x.len()
                ),
                format!("waveform, before the post-noise transform T_{}", t.name()),
            ),
        };
        Ok(Certificate {
            contract: self.contract,
            certified_object,
            perturbation,
            gain_policy,
            gain,
            transform: self.contract.transform(),
            sigma: p.sigma,
            n0: p.n0,
            n: p.n,
            alpha: p.alpha,
            seed: p.seed,
            key,
            prediction: certified.then_some(candidate),
            label: certified.then(|| self.model.labels()[candidate].clone()),
            candidate,
            n_a,
            p_a_lower,
            radius,
            x_norm,
            snr_cert_db: (self.contract.is_waveform() && radius > 0.0).then(|| 20.0 * (x_norm / radius).log10()),
            d_geom: norms.and_then(|s| s.d_geom()),
            effective_ratio: norms.and_then(|s| s.effective_ratio()),
            clean_prediction,
            bound,
            samples,
            seconds: t0.elapsed().as_secs_f64(),
        })
    }

    /// Norm diagnostics of the contract's transform at σ over `n` noise samples (no model
    /// runs): D_geom and the effective ratio of 003 Table 3.
    pub(super) fn diagnose(&mut self, x: &[f32], key: u64, n: u64) -> Result<NormStats, SmoothError> {
        self.check_window(x)?;
        let sigma = self.params.sigma as f32;
        let t = self.contract.transform();
        let (clean_rms, clean_peak) = (gain::rms(x), gain::peak(x));
        let mut ns = NormStats::default();
        let len = x.len();
        for i in 0..n {
            let mut rng = NoiseRng::seed_from_u64(sample_seed(self.params.seed, key, Phase::Estimation, i));
            let (noisy, eps) = (&mut self.noisy[..len], &mut self.eps[..len]);
            perturb(&mut rng, x, sigma, t, clean_rms, clean_peak, noisy, eps);
            let (d, e) = delta_and_noise_norms(x, noisy, eps);
            ns.add(d, e);
        }
        Ok(ns)
    }
}

/// The two largest counts' indices (A first; B ≠ A).
pub fn top_two(c: &[u64]) -> (usize, usize) {
    let a = argmax(c);
    let mut b = if a == 0 { 1.min(c.len().saturating_sub(1)) } else { 0 };
    for (i, &v) in c.iter().enumerate() {
        if i != a && v > c[b] {
            b = i;
        }
    }
    (a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_two_picks_distinct_classes() {
        assert_eq!(top_two(&[5, 9, 2]), (1, 0));
        assert_eq!(top_two(&[0, 0, 7]), (2, 0));
        assert_eq!(top_two(&[7, 0, 0]), (0, 1));
    }
}

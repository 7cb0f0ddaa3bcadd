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
//! xoshiro256++, Gaussian draws by rand_distr's ziggurat) seeded with `mix(seed, k, p, i)`. Counts therefore depend only on (seed, key, σ, n0, n), never on the
//! batch size, the number of threads or how a dataset is sharded.

pub mod online;
pub mod report;
pub mod runs;

use crate::dsp::{gain, DspError, FrontEnd};
use crate::model::card::InputKind;
use crate::model::{argmax, Model, ModelError};
use crate::stats::{self, StatsError};
use rand::rngs::Xoshiro256PlusPlus;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use std::fmt;
use std::str::FromStr;
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

/// The post-noise transform T of a post-processed waveform contract (003 §4, Contract 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    /// T = identity: the gain was fixed before the noise (Contract 1's transform).
    Fixed,
    /// T(x̃) = x̃ · RMS(x) / RMS(x̃): RMS normalization after the noise.
    Rms,
    /// T(x̃) = clip(x̃, −1, 1).
    Clip,
    /// T(x̃) = x̃ · ‖x‖∞ / ‖x̃‖∞: peak normalization after the noise (003's definition).
    Peak,
    /// T(x̃) = x̃ / ‖x̃‖∞: normalization to unit peak, as many pipelines do (not in 003's list;
    /// the diagnostics show it reproduces 003's Table 3 peak figures, see `soundproof diagnose`).
    UnitPeak,
}

impl Transform {
    pub fn name(self) -> &'static str {
        match self {
            Transform::Fixed => "fixed",
            Transform::Rms => "rms",
            Transform::Clip => "clip",
            Transform::Peak => "peak",
            Transform::UnitPeak => "unit-peak",
        }
    }

    /// Applies T to the noisy window `noisy` in place, given the clean window's RMS and peak.
    pub fn apply(self, noisy: &mut [f32], clean_rms: f32, clean_peak: f32) {
        match self {
            Transform::Fixed => {}
            Transform::Clip => noisy.iter_mut().for_each(|v| *v = v.clamp(-1.0, 1.0)),
            Transform::Rms => {
                let r = gain::rms(noisy);
                if r > 0.0 {
                    let s = clean_rms / r;
                    noisy.iter_mut().for_each(|v| *v *= s);
                }
            }
            Transform::Peak | Transform::UnitPeak => {
                let p = gain::peak(noisy);
                if p > 0.0 {
                    let s = if self == Transform::Peak { clean_peak / p } else { 1.0 / p };
                    noisy.iter_mut().for_each(|v| *v *= s);
                }
            }
        }
    }
}

/// Where the noise goes and what is certified (003 §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// Contract 1: fixed gain, noise on the gain-normalized waveform window x, T = identity.
    /// Certifies the L2 ball of radius R around x in waveform space.
    Waveform,
    /// Contract 2: noise on the feature tensor z = ψ(x) (log-mel, in dB). Certifies a ball in
    /// feature space; never a statement about waveforms.
    Feature,
    /// Contract 3: noise on x, then T, then the front end. Certifies f∘T on the waveform ball.
    Post(Transform),
}

impl Contract {
    pub fn is_waveform(self) -> bool {
        !matches!(self, Contract::Feature)
    }
    pub fn transform(self) -> Transform {
        match self {
            Contract::Post(t) => t,
            _ => Transform::Fixed,
        }
    }
}

impl fmt::Display for Contract {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contract::Waveform => write!(f, "waveform"),
            Contract::Feature => write!(f, "feature"),
            Contract::Post(t) => write!(f, "post:{}", t.name()),
        }
    }
}

impl FromStr for Contract {
    type Err = SmoothError;
    fn from_str(s: &str) -> Result<Self, SmoothError> {
        Ok(match s {
            "waveform" => Contract::Waveform,
            "feature" => Contract::Feature,
            "post:fixed" => Contract::Post(Transform::Fixed),
            "post:rms" => Contract::Post(Transform::Rms),
            "post:clip" => Contract::Post(Transform::Clip),
            "post:peak" => Contract::Post(Transform::Peak),
            "post:unit-peak" => Contract::Post(Transform::UnitPeak),
            _ => {
                return Err(SmoothError::Config(format!(
                    "unknown contract `{s}`: use waveform, feature, post:fixed, post:rms, post:clip, post:peak or post:unit-peak"
                )))
            }
        })
    }
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

/// Which stream of noise a sample belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Selection = 1,
    Estimation = 2,
    Prediction = 3,
}

/// The generator of one noisy copy: xoshiro256++ (Blackman & Vigna 2021), seeded per sample
/// through `seed_from_u64` (a PCG32 expansion of the 64-bit per-sample seed into its 256-bit
/// state). Any generator whose per-sample streams are independent and seeded keeps CERTIFY
/// valid and the results a function of the seed; xoshiro256++ passes BigCrush and PractRand
/// and draws the 16,000 Gaussians of a 1-s window 1.9× faster than ChaCha12, the previous
/// `StdRng` (0.081 against 0.157 ms, measured alternately: BENCHMARKS.md, online certificates).
pub type NoiseRng = Xoshiro256PlusPlus;

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of one noise sample: a hash of (run seed, clip key, phase, sample index).
pub fn sample_seed(seed: u64, key: u64, phase: Phase, index: u64) -> u64 {
    splitmix(splitmix(splitmix(seed ^ splitmix(key)) ^ phase as u64) ^ index)
}

/// A stable key for a clip from its name (FNV-1a): the same file gets the same noise in any
/// listing or shard.
pub fn clip_key(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Norm statistics of Δ = T(x + ε) − x against ε over the samples (003 Eq. 7-9).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NormStats {
    pub samples: u64,
    sum_delta: f64,
    sum_eps: f64,
    sum_rel: f64,
}

impl NormStats {
    pub fn add(&mut self, delta_norm: f64, eps_norm: f64) {
        self.samples += 1;
        self.sum_delta += delta_norm;
        self.sum_eps += eps_norm;
        if eps_norm > 0.0 {
            self.sum_rel += (delta_norm - eps_norm).abs() / eps_norm;
        }
    }
    /// Pools another set of samples into this one.
    pub fn merge(&mut self, o: &NormStats) {
        self.samples += o.samples;
        self.sum_delta += o.sum_delta;
        self.sum_eps += o.sum_eps;
        self.sum_rel += o.sum_rel;
    }
    /// D_geom = E[ |‖Δ‖₂ − ‖ε‖₂| / ‖ε‖₂ ].
    pub fn d_geom(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.sum_rel / self.samples as f64)
    }
    /// Effective norm ratio E‖Δ‖₂ / E‖ε‖₂.
    pub fn effective_ratio(&self) -> Option<f64> {
        (self.samples > 0 && self.sum_eps > 0.0).then(|| self.sum_delta / self.sum_eps)
    }
}

/// The record every certification emits (003's reporting contract (ρ, P, T, m)).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Certificate {
    /// `waveform`, `feature`, `post:rms`, ...
    pub contract: String,
    /// What the radius is about, in words.
    pub certified_object: String,
    /// Where the noise was added.
    pub perturbation: String,
    /// How the clip gain s was chosen (`clip-rms`, `calibration`, `fixed`) and its value.
    pub gain_policy: String,
    pub gain: f32,
    /// Post-noise transform T (`fixed` = identity).
    pub transform: String,
    pub sigma: f64,
    pub n0: u64,
    pub n: u64,
    pub alpha: f64,
    pub seed: u64,
    pub key: u64,
    /// The smoothed prediction, or `None` for abstain.
    pub prediction: Option<usize>,
    pub label: Option<String>,
    /// The selection phase's candidate (reported even on abstain).
    pub candidate: usize,
    pub n_a: u64,
    pub p_a_lower: f64,
    /// σ Φ⁻¹(pA_lower), 0 on abstain; L2, in the units of the perturbed space.
    pub radius: f64,
    /// ‖x‖₂ of the certified object (waveform window or feature tensor).
    pub x_norm: f64,
    /// 20 log10(‖x‖₂ / R) for waveform contracts with R > 0.
    pub snr_cert_db: Option<f64>,
    /// Post-processed contracts: D_geom and the effective norm ratio ‖Δ‖₂/‖ε‖₂ (003 Eq. 7-9),
    /// over the estimation samples.
    pub d_geom: Option<f64>,
    pub effective_ratio: Option<f64>,
    /// The base classifier on the clean input.
    pub clean_prediction: usize,
    /// How pA_lower was bounded: fixed-n Clopper-Pearson, or the online look schedule.
    pub bound: String,
    /// Estimation samples the bound used (= n for fixed-n CERTIFY).
    pub samples: u64,
    pub seconds: f64,
}

impl Certificate {
    pub fn abstained(&self) -> bool {
        self.prediction.is_none()
    }
}

/// The outcome of PREDICT.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prediction {
    pub prediction: Option<usize>,
    pub n_a: u64,
    pub n_b: u64,
    pub p_value: f64,
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
    pub fn window_samples(&self) -> usize {
        self.model.card().window_samples
    }

    /// Model input of the waveform window `x` (the front end with unit gain: `x` carries its gain).
    pub fn input_of(&mut self, x: &[f32], out: &mut Vec<f32>) -> Result<(), SmoothError> {
        let start = out.len();
        match self.fe.as_mut() {
            None => out.extend_from_slice(x),
            Some(fe) => {
                fe.reset();
                let mut sink = |f: &[f32]| -> Result<(), DspError> {
                    out.extend_from_slice(f);
                    Ok(())
                };
                fe.push(x, &mut sink)?;
                fe.finish(&mut sink)?;
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
    pub fn clean_prediction(&mut self, x: &[f32]) -> Result<usize, SmoothError> {
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
                        for v in &mut input[base..] {
                            let e: f32 = StandardNormal.sample(&mut rng);
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

    /// PREDICT (Cohen et al. Algorithm, 003 §3) with `n` samples at level `alpha`.
    pub fn predict(&mut self, x: &[f32], key: u64, n: u64, alpha: f64) -> Result<Prediction, SmoothError> {
        let counts = self.counts(x, key, Phase::Prediction, 0, n)?;
        Self::decide(&counts, alpha)
    }

    /// PREDICT of the feature contract at the feature map `z` itself (a map that need not be the
    /// front end's output of any waveform, e.g. an attacked one), `frames × bins` as the model
    /// takes it. Noise as [`Smoother::predict`] draws it for the clip `key`.
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

    /// CERTIFY with the parameters' n0, n and α. `gain_policy` and `gain` describe how `x`
    /// was scaled (they go into the record).
    pub fn certify(&mut self, x: &[f32], key: u64, gain_policy: &str, gain: f32) -> Result<Certificate, SmoothError> {
        let t0 = Instant::now();
        self.check_window(x)?;
        let z = self.clean_features(x)?;
        let c = self.model.n_classes();
        let mut sel = vec![0u64; c];
        self.sample(x, &z, key, Phase::Selection, 0, self.params.n0, &mut sel, None)?;
        let candidate = argmax_u64(&sel);
        let mut est = vec![0u64; c];
        let mut norms = NormStats::default();
        let track = matches!(self.contract, Contract::Post(_));
        self.sample(x, &z, key, Phase::Estimation, 0, self.params.n, &mut est, track.then_some(&mut norms))?;
        let n_a = est[candidate];
        let p_a_lower = stats::clopper_pearson_lower(n_a, self.params.n, self.params.alpha)?;
        let bound = format!("one-sided Clopper-Pearson lower bound at level α = {}, n = {}", self.params.alpha, self.params.n);
        let clean = self.clean_prediction(x)?;
        self.record(x, &z, key, gain_policy, gain, candidate, n_a, p_a_lower, self.params.n, track.then_some(norms), clean, bound, t0)
    }

    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        x: &[f32],
        z: &[f32],
        key: u64,
        gain_policy: &str,
        gain: f32,
        candidate: usize,
        n_a: u64,
        p_a_lower: f64,
        samples: u64,
        norms: Option<NormStats>,
        clean_prediction: usize,
        bound: String,
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
            contract: self.contract.to_string(),
            certified_object,
            perturbation,
            gain_policy: gain_policy.to_string(),
            gain,
            transform: self.contract.transform().name().to_string(),
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
    pub fn diagnose(&mut self, x: &[f32], key: u64, n: u64) -> Result<NormStats, SmoothError> {
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

/// One noisy copy of the waveform window: ε = σ·N(0, I) into `eps`, T(x + ε) into `noisy`.
#[allow(clippy::too_many_arguments)]
fn perturb(rng: &mut NoiseRng, x: &[f32], sigma: f32, t: Transform, clean_rms: f32, clean_peak: f32, noisy: &mut [f32], eps: &mut [f32]) {
    for ((o, e), &v) in noisy.iter_mut().zip(eps.iter_mut()).zip(x) {
        let g: f32 = StandardNormal.sample(rng);
        *e = sigma * g;
        *o = v + *e;
    }
    t.apply(noisy, clean_rms, clean_peak);
}

/// (‖Δ‖₂, ‖ε‖₂) with Δ = T(x + ε) − x, in f64.
fn delta_and_noise_norms(x: &[f32], noisy: &[f32], eps: &[f32]) -> (f64, f64) {
    let (mut d2, mut e2) = (0.0f64, 0.0f64);
    for ((&o, &e), &v) in noisy.iter().zip(eps).zip(x) {
        let d = o as f64 - v as f64;
        d2 += d * d;
        e2 += e as f64 * e as f64;
    }
    (d2.sqrt(), e2.sqrt())
}

/// Index of the largest count (first on ties).
pub fn argmax_u64(c: &[u64]) -> usize {
    let mut best = 0;
    for (i, &v) in c.iter().enumerate() {
        if v > c[best] {
            best = i;
        }
    }
    best
}

/// The two largest counts' indices (A first; B ≠ A).
pub fn top_two(c: &[u64]) -> (usize, usize) {
    let a = argmax_u64(c);
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
    fn contracts_parse_and_print() {
        for s in ["waveform", "feature", "post:fixed", "post:rms", "post:clip", "post:peak", "post:unit-peak"] {
            assert_eq!(s.parse::<Contract>().unwrap().to_string(), s);
        }
        assert!("post:loud".parse::<Contract>().is_err());
    }

    #[test]
    fn transforms_follow_their_definitions() {
        let mut v = vec![0.5f32, -2.0, 1.5];
        Transform::Clip.apply(&mut v, 0.0, 0.0);
        assert_eq!(v, vec![0.5, -1.0, 1.0]);
        let mut v = vec![2.0f32, -2.0];
        Transform::Rms.apply(&mut v, 1.0, 0.0);
        assert!((gain::rms(&v) - 1.0).abs() < 1e-6);
        let mut v = vec![4.0f32, -1.0];
        Transform::Peak.apply(&mut v, 0.0, 0.5);
        assert_eq!(v, vec![0.5, -0.125]);
    }

    #[test]
    fn seeds_differ_by_every_coordinate() {
        let s = sample_seed(1, 2, Phase::Estimation, 3);
        assert_ne!(s, sample_seed(0, 2, Phase::Estimation, 3));
        assert_ne!(s, sample_seed(1, 3, Phase::Estimation, 3));
        assert_ne!(s, sample_seed(1, 2, Phase::Selection, 3));
        assert_ne!(s, sample_seed(1, 2, Phase::Estimation, 4));
    }

    #[test]
    fn top_two_picks_distinct_classes() {
        assert_eq!(top_two(&[5, 9, 2]), (1, 0));
        assert_eq!(top_two(&[0, 0, 7]), (2, 0));
        assert_eq!(top_two(&[7, 0, 0]), (0, 1));
    }
}

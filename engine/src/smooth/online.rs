//! CERTIFY under a time budget, for streams: every window certified in its second, with the
//! largest sample count the machine can draw in that second, at a bound that stays valid.
//!
//! # The planned-n bound (the default, [`OnlineBound::Planned`])
//!
//! The window's estimation sample count n is chosen *before any estimation sample is drawn*,
//! from the measured throughput of the certifier's workers: n = ⌊rate × time left × margin⌋,
//! capped at `params.n`. The rate is the copies per second of the previous window's estimation
//! phase (or, for the first window, of this window's selection phase). Then exactly n
//! estimation samples are drawn, however long they take, and the one-sided Clopper-Pearson
//! bound is computed at the full level α.
//!
//! Why this is valid: CERTIFY's guarantee (Cohen et al. 2019, Prop. 2 / Thm. 1) needs, given
//! the candidate A and the sample count n, nA ~ Binomial(n, pA) with the estimation noise
//! independent of everything that chose A and n. Here n is a function of wall-clock timings
//! and of the selection counts only: the estimation samples of this window are drawn from
//! their own seeds (`sample_seed(seed, key, Estimation, i)`) after n is fixed, and the model's
//! running time does not depend on which label it outputs. So conditionally on (A, n) the n
//! outcomes are i.i.d. Bernoulli(pA), the Clopper-Pearson bound holds with probability
//! ≥ 1 − α for every (A, n), and therefore unconditionally. This is a stopping rule that never
//! looks at the outcomes: an optional-stopping problem does not arise, because the data never
//! influence when sampling stops (contrast a rule that stops "once the bound is good enough",
//! which would need α-spending). The price of planning ahead is the margin: a window whose
//! copies run slower than planned (a load spike) finishes late rather than early, and is
//! reported with its time (`Certificate::seconds`); it is never cut short. (A cut at the
//! deadline would not look at the outcomes either, but its n would depend on the timing of the
//! estimation phase itself, independent of the outcomes only if the model's running time is;
//! the planned n needs no such assumption: what chose it ran before the estimation noise
//! existed.)
//! `tests/tests/smoothing.rs` checks the rate of radii above the true radius on a linear
//! classifier with a closed-form margin over ≥ 500 planned-n certifications.
//!
//! # The look-schedule bound ([`OnlineBound::Looks`], the former design, kept for comparison)
//!
//! A pre-declared look schedule with α split across the looks (Bonferroni α-spending, the
//! simplest group-sequential design; Jennison & Turnbull, "Group Sequential Methods with
//! Applications to Clinical Trials", 2000, ch. 1-2). The schedule n_1 < n_2 < … < n_K is fixed
//! before any sample is drawn; at look k the one-sided Clopper-Pearson bound on the first n_k
//! estimation samples is computed at level α/K. By the union bound, with probability ≥ 1 − α
//! all K bounds hold at once, so the certificate may use any completed look — we take the
//! largest bound among the completed ones — and stopping at any time (the budget runs out,
//! the stream moves on) cannot invalidate it. The price is the level α/K and the doubling
//! schedule's last incomplete look: at equal throughput it certifies a smaller radius than the
//! planned n (BENCHMARKS.md, certification).
//!
//! The selection phase (n0 samples choosing the candidate) runs first in both designs; its
//! samples are independent of the estimation samples, as in fixed-n CERTIFY.
//!
//! # Workers
//!
//! [`OnlineCertifier`] spreads a window's noisy copies over a pool of workers, each with its own
//! [`Smoother`] (front end, buffers) on its own persistent thread (a rayon pool), and so its
//! own tract plan and state (`Model::plan_for` keeps a plan per thread); they take chunks of
//! [`CHUNK`] consecutive sample indices from a shared counter. Counts are sums over a fixed set
//! of per-sample seeded copies, so results depend on the seed only, never on the number of
//! workers or on which worker drew which copy (the norm statistics are merged in chunk order
//! for the same reason).

use super::{BoundRecord, Certificate, Contract, GainRecord, NormStats, Phase, SmoothError, SmoothParams, Smoother};
use crate::model::Model;
use crate::stats;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Sample indices a worker takes at a time (a multiple of any batch up to 16).
pub const CHUNK: u64 = 16;

/// How an online certification chooses its estimation samples and its bound.
#[derive(Debug, Clone, PartialEq)]
pub enum OnlineBound {
    /// n planned before sampling from the measured throughput, one Clopper-Pearson bound at the
    /// full α (see the module doc).
    Planned(Plan),
    /// Bonferroni α-spending over a look schedule (see the module doc).
    Looks(LookSchedule),
}

impl Default for OnlineBound {
    fn default() -> Self {
        OnlineBound::Planned(Plan::default())
    }
}

/// Settings of the planned-n bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    /// Fraction of the time left after selection that the planned copies should take (< 1
    /// leaves room for a slower second than the last one). The default, 0.95, is of a budget
    /// that is itself 90 % of the second in `demo` and `listen`: the estimation is planned to end
    /// about 0.86 s into the window's second (0.85 left a quarter of the second unused: the
    /// certificates ended 0.77 s in; BENCHMARKS.md, online certificates).
    pub margin: f64,
    /// Smallest n planned (a window whose budget is gone still gets this many).
    pub n_min: u64,
}

impl Default for Plan {
    fn default() -> Self {
        Plan { margin: 0.95, n_min: 64 }
    }
}

/// The looks at which the bound is computed (nested sample counts) and the level of each.
#[derive(Debug, Clone, PartialEq)]
pub struct LookSchedule {
    pub looks: Vec<u64>,
}

impl LookSchedule {
    /// Doubling from `first` up to `n_max` (the last look is exactly `n_max`).
    pub fn doubling(first: u64, n_max: u64) -> Self {
        let mut looks = Vec::new();
        let mut n = first.max(1).min(n_max);
        while n < n_max {
            looks.push(n);
            n = n.saturating_mul(2);
        }
        looks.push(n_max);
        LookSchedule { looks }
    }

    /// α spent at each look.
    pub fn alpha_per_look(&self, alpha: f64) -> f64 {
        alpha / self.looks.len() as f64
    }
}

/// The radius CERTIFY gives when all `n` estimation samples vote for the candidate, at level
/// `alpha`: the one-sided Clopper-Pearson lower bound is then exactly `alpha^(1/n)`, so
/// R = σ Φ⁻¹(α^(1/n)). It is the largest radius `n` samples can certify, and the reference an
/// online certificate is compared with (n = 10,000 at α = 0.001: 003's fixed-n setting).
pub fn all_agree_radius(sigma: f64, n: u64, alpha: f64) -> f64 {
    if n == 0 || !(alpha > 0.0 && alpha < 1.0) {
        return 0.0;
    }
    let p_lower = (alpha.ln() / n as f64).exp();
    match stats::norm_ppf(p_lower) {
        Ok(z) if p_lower > 0.5 => sigma * z,
        _ => 0.0,
    }
}

/// The planned n: ⌊rate × left × margin⌋ clamped to [n_min, n_max] (n_max when there is no
/// time budget).
pub fn planned_n(rate: f64, left: Option<Duration>, plan: &Plan, n_max: u64) -> u64 {
    match left {
        None => n_max,
        Some(left) => {
            let n = (rate.max(0.0) * left.as_secs_f64() * plan.margin).floor();
            let n = if n.is_finite() { n as u64 } else { n_max };
            n.clamp(plan.n_min.min(n_max), n_max)
        }
    }
}

/// When to stop sampling a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Wall-clock time for the whole certification (selection + estimation).
    pub time: Option<Duration>,
}

/// Online CERTIFY on a pool of workers (see the module doc).
pub struct OnlineCertifier<'m> {
    workers: Vec<Smoother<'m>>,
    /// One persistent thread per worker (more than one worker): each keeps its own tract plan
    /// (`Model::plan_for`), made once, not per window.
    pool: Option<rayon::ThreadPool>,
    /// Copies per second of the pool in the last estimation phase.
    last_rate: Option<f64>,
}

/// Label counts (and norm statistics) of a range of samples, and whether it was drawn whole.
struct Drawn {
    counts: Vec<u64>,
    norms: NormStats,
    complete: bool,
}

impl<'m> OnlineCertifier<'m> {
    /// `workers` smoothers for `model` (at least one; the caller's thread is one of them).
    pub fn new(model: &'m Model, contract: Contract, params: SmoothParams, workers: usize) -> Result<Self, SmoothError> {
        let workers = (0..workers.max(1)).map(|_| Smoother::new(model, contract, params)).collect::<Result<Vec<_>, _>>()?;
        let pool = if workers.len() > 1 {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(workers.len())
                .thread_name(|i| format!("certifier-{i}"))
                .build()
                .map_err(|e| SmoothError::Config(format!("cannot start the certifier's workers: {e}")))?;
            Some(pool)
        } else {
            None
        };
        Ok(OnlineCertifier { workers, pool, last_rate: None })
    }

    /// Workers of the pool.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    pub fn params(&self) -> &SmoothParams {
        self.workers[0].params()
    }

    pub fn model(&self) -> &'m Model {
        self.workers[0].model
    }

    /// Copies per second of the pool in the last estimation phase, if any.
    pub fn last_rate(&self) -> Option<f64> {
        self.last_rate
    }

    /// Label counts over noise samples `[start, start + count)` of `phase` for the clip `key`,
    /// drawn by all workers (the same counts as [`Smoother::counts`]).
    pub fn counts(&mut self, x: &[f32], key: u64, phase: Phase, start: u64, count: u64) -> Result<Vec<u64>, SmoothError> {
        self.workers[0].check_window(x)?;
        let z = self.workers[0].clean_features(x)?;
        Ok(self.draw(x, &z, key, phase, start, count, false, None)?.counts)
    }

    /// Draws samples `[start, start + count)` over the workers. With a `deadline`, workers stop
    /// taking chunks once it has passed (then `complete` is false).
    #[allow(clippy::too_many_arguments)]
    fn draw(
        &mut self,
        x: &[f32],
        z: &[f32],
        key: u64,
        phase: Phase,
        start: u64,
        count: u64,
        track: bool,
        deadline: Option<Instant>,
    ) -> Result<Drawn, SmoothError> {
        let c = self.workers[0].model.n_classes();
        let next = AtomicU64::new(0);
        let failed = AtomicBool::new(false);
        let job = |sm: &mut Smoother<'m>| -> Result<(Vec<u64>, Vec<(u64, NormStats)>, bool), SmoothError> {
            let mut counts = vec![0u64; c];
            let mut norms = Vec::new();
            loop {
                if failed.load(Ordering::Relaxed) {
                    return Ok((counts, norms, false));
                }
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok((counts, norms, false));
                }
                let i = next.fetch_add(CHUNK, Ordering::Relaxed);
                if i >= count {
                    return Ok((counts, norms, true));
                }
                let k = CHUNK.min(count - i);
                let mut ns = NormStats::default();
                let r = sm.sample(x, z, key, phase, start + i, k, &mut counts, track.then_some(&mut ns));
                if let Err(e) = r {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
                if track {
                    norms.push((i, ns));
                }
            }
        };
        let results: Vec<Result<_, SmoothError>> = match &self.pool {
            Some(pool) if count > CHUNK => {
                // Each worker's job on a pool thread (rayon's scope lets the jobs borrow the
                // workers and the window); the pool's threads live as long as the certifier.
                let out = std::sync::Mutex::new(Vec::with_capacity(self.workers.len()));
                pool.scope(|s| {
                    for sm in self.workers.iter_mut() {
                        let (job, out) = (&job, &out);
                        s.spawn(move |_| {
                            let r = job(sm);
                            out.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(r);
                        });
                    }
                });
                out.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner)
            }
            _ => vec![job(&mut self.workers[0])],
        };
        let mut drawn = Drawn { counts: vec![0u64; c], norms: NormStats::default(), complete: true };
        let mut chunks = Vec::new();
        for r in results {
            let (counts, norms, _) = r?;
            for (d, v) in drawn.counts.iter_mut().zip(counts) {
                *d += v;
            }
            chunks.extend(norms);
        }
        // Complete when every chunk below `count` was drawn (a worker may have seen the deadline
        // after another took the last chunk).
        drawn.complete = drawn.counts.iter().sum::<u64>() == count;
        chunks.sort_by_key(|(i, _)| *i);
        for (_, ns) in &chunks {
            drawn.norms.merge(ns);
        }
        Ok(drawn)
    }

    /// Online CERTIFY. With probability ≥ 1 − α over the noise, when the certificate names a
    /// class A with radius R, the smoothed classifier returns A within L2 distance R of `x`, as
    /// for [`Smoother::certify`]: the estimation sample count is fixed before sampling
    /// (planned n) or every look is bounded at its Bonferroni share of α, so stopping at the
    /// budget never spends more than α (see the module doc). `gain_policy` and `gain` describe
    /// how `x` was scaled.
    pub fn certify(
        &mut self,
        x: &[f32],
        key: u64,
        gain_policy: GainRecord,
        gain: f32,
        bound: &OnlineBound,
        budget: Budget,
    ) -> Result<Certificate, SmoothError> {
        let t0 = Instant::now();
        let deadline = budget.time.map(|d| t0 + d);
        self.workers[0].check_window(x)?;
        let z = self.workers[0].clean_features(x)?;
        let p = *self.params();
        let clean = self.workers[0].clean_prediction(x)?;
        let t_sel = Instant::now();
        let sel = self.draw(x, &z, key, Phase::Selection, 0, p.n0, false, None)?;
        let sel_rate = p.n0 as f64 / t_sel.elapsed().as_secs_f64().max(1e-9);
        let candidate = crate::stats::argmax(&sel.counts);
        let track = matches!(self.workers[0].contract, Contract::Post(_));
        let (n_a, p_a_lower, samples, n_planned, norms, bound_text) = match bound {
            OnlineBound::Planned(plan) => {
                // n is fixed here, before the first estimation sample exists.
                let rate = self.last_rate.unwrap_or(sel_rate);
                let left = deadline.map(|d| d.saturating_duration_since(Instant::now()));
                let n = planned_n(rate, left, plan, p.n);
                let t_est = Instant::now();
                let est = self.draw(x, &z, key, Phase::Estimation, 0, n, track, None)?;
                let secs = t_est.elapsed().as_secs_f64();
                // The next window's rate. A small n under-reads it (the spawn is a larger share)
                // and plans a larger n next time, so n climbs to its level within a few windows.
                if secs > 0.0 {
                    self.last_rate = Some(n as f64 / secs);
                }
                let lower = stats::clopper_pearson_lower(est.counts[candidate], n, p.alpha)?;
                let text = BoundRecord::Planned {
                    n,
                    rate,
                    workers: self.workers.len(),
                    budget_left_ms: left.map(|l| l.as_secs_f64() * 1e3),
                    margin: plan.margin,
                    alpha: p.alpha,
                };
                (est.counts[candidate], lower, n, n, est.norms, text)
            }
            OnlineBound::Looks(schedule) => {
                let alpha_k = schedule.alpha_per_look(p.alpha);
                let mut est = vec![0u64; sel.counts.len()];
                let mut norms = NormStats::default();
                let mut n = 0u64;
                let mut best: Option<(f64, u64, u64)> = None; // (pA_lower, nA, samples)
                let mut completed = 0usize;
                let t_est = Instant::now();
                for &look in &schedule.looks {
                    if look <= n {
                        continue;
                    }
                    let d = self.draw(x, &z, key, Phase::Estimation, n, look - n, track, deadline)?;
                    if !d.complete {
                        break;
                    }
                    for (e, v) in est.iter_mut().zip(&d.counts) {
                        *e += v;
                    }
                    norms.merge(&d.norms);
                    n = look;
                    completed += 1;
                    let lower = stats::clopper_pearson_lower(est[candidate], n, alpha_k)?;
                    if best.is_none_or(|(b, _, _)| lower > b) {
                        best = Some((lower, est[candidate], n));
                    }
                }
                if n > 0 {
                    self.last_rate = Some(n as f64 / t_est.elapsed().as_secs_f64().max(1e-9));
                }
                let (lower, n_a, samples) = best.unwrap_or((0.0, 0, 0));
                let text = BoundRecord::Looks { looks: schedule.looks.clone(), alpha_per_look: alpha_k, completed, best_n: samples };
                (n_a, lower, samples, schedule.looks.last().copied().unwrap_or(0), norms, text)
            }
        };
        let mut cert = self.workers[0].record(
            x,
            &z,
            key,
            gain_policy,
            gain,
            candidate,
            n_a,
            p_a_lower,
            samples,
            track.then_some(norms),
            clean,
            bound_text,
            t0,
        )?;
        cert.n = n_planned;
        Ok(cert)
    }
}

impl<'m> Smoother<'m> {
    /// Online CERTIFY on this thread alone (an [`OnlineCertifier`] of one worker).
    pub fn certify_online(
        &mut self,
        x: &[f32],
        key: u64,
        gain_policy: GainRecord,
        gain: f32,
        bound: &OnlineBound,
        budget: Budget,
    ) -> Result<Certificate, SmoothError> {
        let mut oc = OnlineCertifier::new(self.model, self.contract, self.params, 1)?;
        oc.certify(x, key, gain_policy, gain, bound, budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_agree_radius_is_the_clopper_pearson_bound_at_n_of_n() {
        for &(n, alpha) in &[(256u64, 0.001), (1000, 0.001), (10_000, 0.001), (10_000, 0.05)] {
            let lower = stats::clopper_pearson_lower(n, n, alpha).unwrap();
            let r = 0.005 * stats::norm_ppf(lower).unwrap();
            assert!((all_agree_radius(0.005, n, alpha) - r).abs() < 1e-12 * r.max(1e-12), "n = {n}");
        }
        // The demo's former cap: n = 256 at α/9 (nine Bonferroni looks) gives R = 0.0091 at σ = 0.005.
        assert!((all_agree_radius(0.005, 256, 0.001 / 9.0) - 0.0091).abs() < 5e-5);
        assert_eq!(all_agree_radius(0.005, 0, 0.001), 0.0);
    }

    #[test]
    fn planned_n_is_rate_times_time_left_times_margin_clamped() {
        let plan = Plan { margin: 0.8, n_min: 64 };
        assert_eq!(planned_n(5000.0, Some(Duration::from_millis(900)), &plan, 10_000), 3600);
        assert_eq!(planned_n(50_000.0, Some(Duration::from_millis(900)), &plan, 10_000), 10_000);
        assert_eq!(planned_n(10.0, Some(Duration::from_millis(900)), &plan, 10_000), 64);
        assert_eq!(planned_n(5000.0, Some(Duration::ZERO), &plan, 10_000), 64);
        assert_eq!(planned_n(5000.0, None, &plan, 10_000), 10_000);
        assert_eq!(planned_n(5000.0, Some(Duration::ZERO), &plan, 20), 20);
        assert_eq!(planned_n(f64::INFINITY, Some(Duration::from_millis(1)), &plan, 300), 300);
    }

    #[test]
    fn doubling_schedule_ends_at_n_max() {
        assert_eq!(LookSchedule::doubling(100, 1000).looks, vec![100, 200, 400, 800, 1000]);
        assert_eq!(LookSchedule::doubling(100, 100).looks, vec![100]);
        assert_eq!(LookSchedule::doubling(100, 50).looks, vec![50]);
        let s = LookSchedule::doubling(100, 10_000);
        assert_eq!(s.looks.len(), 8);
        assert!((s.alpha_per_look(0.001) - 0.000125).abs() < 1e-15);
    }
}

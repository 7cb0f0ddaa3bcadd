//! CERTIFY under a budget, for streams: a bound that stays valid when sampling stops early.
//!
//! Method: a pre-declared look schedule with α split across the looks (Bonferroni α-spending,
//! the simplest group-sequential design; Jennison & Turnbull, "Group Sequential Methods with
//! Applications to Clinical Trials", 2000, ch. 1-2). The schedule n_1 < n_2 < … < n_K is fixed
//! before any sample is drawn; at look k the one-sided Clopper-Pearson bound on the first n_k
//! estimation samples is computed at level α/K. By the union bound, with probability ≥ 1 − α
//! all K bounds hold at once, so the certificate may use any completed look — we take the
//! largest bound among the completed ones — and stopping at any time (the budget runs out,
//! the stream moves on) cannot invalidate it. The price is the level: α/K instead of α, which
//! costs little radius (Φ⁻¹ moves slowly in the tail: at n = 10,000, nA = n, α = 0.001 vs
//! 0.001/8 changes R by about 7 %).
//!
//! The selection phase (n0 samples choosing the candidate) runs first and is not part of the
//! schedule; its samples are independent of the estimation samples, as in fixed-n CERTIFY.

use super::{argmax_u64, Certificate, NormStats, Phase, SmoothError, Smoother};
use crate::stats;
use std::time::{Duration, Instant};

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

/// When to stop sampling a window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// Wall-clock time for the whole certification (selection + estimation).
    pub time: Option<Duration>,
}

impl<'m> Smoother<'m> {
    /// CERTIFY with the estimation samples drawn look by look until `schedule` completes or
    /// `budget` runs out (see the module doc). Abstains when no look completed or no completed
    /// look's bound exceeds 1/2.
    pub fn certify_online(
        &mut self,
        x: &[f32],
        key: u64,
        gain_policy: &str,
        gain: f32,
        schedule: &LookSchedule,
        budget: Budget,
    ) -> Result<Certificate, SmoothError> {
        let t0 = Instant::now();
        let deadline = budget.time.map(|d| t0 + d);
        let out_of_time = || deadline.is_some_and(|d| Instant::now() >= d);
        self.check_window(x)?;
        let z = self.clean_features(x)?;
        let c = self.model.n_classes();
        let p = self.params;
        let clean = self.clean_prediction(x)?;
        let mut sel = vec![0u64; c];
        let mut drawn = 0;
        while drawn < p.n0 {
            let k = (p.n0 - drawn).min(p.batch as u64);
            self.sample(x, &z, key, Phase::Selection, drawn, k, &mut sel, None)?;
            drawn += k;
        }
        let candidate = argmax_u64(&sel);
        let alpha_k = schedule.alpha_per_look(p.alpha);
        let track = matches!(self.contract, super::Contract::Post(_));
        let mut norms = NormStats::default();
        let mut est = vec![0u64; c];
        let mut n = 0u64;
        let mut best: Option<(f64, u64, u64)> = None; // (pA_lower, nA, samples)
        let mut completed = 0usize;
        'looks: for &look in &schedule.looks {
            while n < look {
                if out_of_time() {
                    break 'looks;
                }
                let k = (look - n).min(p.batch as u64);
                self.sample(x, &z, key, Phase::Estimation, n, k, &mut est, track.then_some(&mut norms))?;
                n += k;
            }
            completed += 1;
            let lower = stats::clopper_pearson_lower(est[candidate], n, alpha_k)?;
            if best.is_none_or(|(b, _, _)| lower > b) {
                best = Some((lower, est[candidate], n));
            }
        }
        let (p_a_lower, n_a, samples) = best.unwrap_or((0.0, 0, 0));
        let bound = format!(
            "online: Bonferroni look schedule {:?}, one-sided Clopper-Pearson at α/{} = {:.3e} per look; {completed} of {} looks completed in the budget; best look n = {samples}",
            schedule.looks,
            schedule.looks.len(),
            alpha_k,
            schedule.looks.len()
        );
        let mut cert =
            self.record(x, &z, key, gain_policy, gain, candidate, n_a, p_a_lower, samples, track.then_some(norms), clean, bound, t0)?;
        cert.n = schedule.looks.last().copied().unwrap_or(0);
        Ok(cert)
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
    fn doubling_schedule_ends_at_n_max() {
        assert_eq!(LookSchedule::doubling(100, 1000).looks, vec![100, 200, 400, 800, 1000]);
        assert_eq!(LookSchedule::doubling(100, 100).looks, vec![100]);
        assert_eq!(LookSchedule::doubling(100, 50).looks, vec![50]);
        let s = LookSchedule::doubling(100, 10_000);
        assert_eq!(s.looks.len(), 8);
        assert!((s.alpha_per_look(0.001) - 0.000125).abs() < 1e-15);
    }
}

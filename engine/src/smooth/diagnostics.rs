//! The geometry of a post-noise transform (003 Eq. 7-9): how far Δ = T(x + ε) − x is from
//! the noise ε that was added, pooled over noise samples. Reported in post-processed
//! certificates and in `soundproof diagnose` (003 Table 3).

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

/// (‖Δ‖₂, ‖ε‖₂) with Δ = T(x + ε) − x, in f64.
pub(super) fn delta_and_noise_norms(x: &[f32], noisy: &[f32], eps: &[f32]) -> (f64, f64) {
    let (mut d2, mut e2) = (0.0f64, 0.0f64);
    for ((&o, &e), &v) in noisy.iter().zip(eps).zip(x) {
        let d = o as f64 - v as f64;
        d2 += d * d;
        e2 += e as f64 * e as f64;
    }
    (d2.sqrt(), e2.sqrt())
}


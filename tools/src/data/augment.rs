//! Training-time augmentation in the certified space (003 §5): an optional speed perturbation
//! (the window resampled about its centre by a random factor, which moves pitch and tempo
//! together, as a different vocal tract and speaking rate do), a random time shift of the
//! gain-normalized window, then waveform Gaussian noise N(0, σ²I) added after the gain, as
//! randomized smoothing adds it (003 trains with σ = 0.005). Every draw comes from a generator
//! seeded by (seed, epoch, example), so an epoch's data do not depend on batch order or threads.

use crate::device::derive_seed;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Standard deviation of the waveform noise (0 = none).
    pub sigma: f32,
    /// Probability that a clip gets noise at all (1 = always, as in 003).
    pub noise_prob: f32,
    /// Largest time shift in samples, either way; the vacated samples are zeros.
    pub max_shift: usize,
    /// Largest relative speed change, either way (0.1: factors in [0.9, 1.1]; 0 = none).
    #[serde(default)]
    pub speed: f32,
}

impl Augment {
    pub const NONE: Augment = Augment { sigma: 0.0, noise_prob: 0.0, max_shift: 0, speed: 0.0 };

    /// The generator of one example in one epoch.
    pub fn rng(seed: u64, epoch: u64, example: u64) -> StdRng {
        StdRng::seed_from_u64(derive_seed(seed, &[epoch, example]))
    }

    /// Writes the augmented `clean` into `out` (same length). Without a speed change the draws
    /// are those of the earlier versions (shift, then noise), so their runs are unchanged.
    pub fn apply(&self, clean: &[f32], rng: &mut StdRng, out: &mut [f32]) {
        let n = clean.len();
        if self.speed > 0.0 {
            let r = 1.0 + rng.random_range(-self.speed..=self.speed) as f64;
            resample_about_centre(clean, r, out);
        } else {
            out.copy_from_slice(clean);
        }
        let max = self.max_shift.min(n.saturating_sub(1)) as i64;
        let shift = if max > 0 { rng.random_range(-max..=max) } else { 0 };
        if shift >= 0 {
            let k = shift as usize;
            out.copy_within(..n - k, k);
            out[..k].fill(0.0);
        } else {
            let k = (-shift) as usize;
            out.copy_within(k.., 0);
            out[n - k..].fill(0.0);
        }
        if self.sigma > 0.0 && self.noise_prob > 0.0 && (self.noise_prob >= 1.0 || rng.random::<f32>() < self.noise_prob) {
            for v in out.iter_mut() {
                let z: f32 = StandardNormal.sample(rng);
                *v += self.sigma * z;
            }
        }
    }
}

/// `out[i] = x(c + (i - c)·r)` with `c` the window's centre, linear interpolation between
/// samples and zeros outside: played `r` times faster (`r > 1`: shorter and higher), still
/// centred.
fn resample_about_centre(x: &[f32], r: f64, out: &mut [f32]) {
    let n = x.len();
    let c = (n as f64 - 1.0) / 2.0;
    for (i, o) in out.iter_mut().enumerate() {
        let t = c + (i as f64 - c) * r;
        let j = t.floor();
        let f = (t - j) as f32;
        let at = |k: f64| if k >= 0.0 && (k as usize) < n { x[k as usize] } else { 0.0 };
        *o = (1.0 - f) * at(j) + f * at(j + 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::{resample_about_centre, Augment};

    /// A sine resampled by r has r times its frequency (zero crossings counted), keeps its
    /// centre sample, and r = 1 is the identity.
    #[test]
    fn speed_perturbation_scales_the_frequency_about_the_centre() {
        let n = 16_001;
        let x: Vec<f32> = (0..n).map(|i| (2.0 * std::f64::consts::PI * 200.0 * (i as f64 - 8000.0) / 16_000.0).sin() as f32).collect();
        let crossings = |v: &[f32]| v[4000..12000].windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count() as f64;
        let mut y = vec![0.0; n];
        resample_about_centre(&x, 1.0, &mut y);
        assert_eq!(x, y);
        for r in [0.9, 1.1] {
            resample_about_centre(&x, r, &mut y);
            assert_eq!(y[8000], x[8000]);
            let ratio = crossings(&y) / crossings(&x);
            assert!((ratio - r).abs() < 0.01, "r {r}: {ratio}");
        }
        let a = Augment { sigma: 0.0, noise_prob: 0.0, max_shift: 0, speed: 0.1 };
        let (mut p, mut q) = (vec![0.0; n], vec![0.0; n]);
        a.apply(&x, &mut Augment::rng(1, 2, 3), &mut p);
        a.apply(&x, &mut Augment::rng(1, 2, 3), &mut q);
        assert_eq!(p, q);
        let ratio = crossings(&p) / crossings(&x);
        assert!((0.89..=1.11).contains(&ratio), "{ratio}");
    }

    #[test]
    fn seeded_and_shifted() {
        let clean: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let a = Augment { sigma: 0.0, noise_prob: 1.0, max_shift: 10, speed: 0.0 };
        let (mut x, mut y) = (vec![0.0; 100], vec![0.0; 100]);
        a.apply(&clean, &mut Augment::rng(1, 2, 3), &mut x);
        a.apply(&clean, &mut Augment::rng(1, 2, 3), &mut y);
        assert_eq!(x, y);
        // A pure shift: consecutive differences stay 1 where both samples are real.
        let ones = x.windows(2).filter(|w| w[0] != 0.0 && (w[1] - w[0] - 1.0).abs() < 1e-6).count();
        assert!(ones >= 80);
        let noisy = Augment { sigma: 0.5, noise_prob: 1.0, max_shift: 0, speed: 0.0 };
        noisy.apply(&clean, &mut Augment::rng(1, 2, 3), &mut x);
        let var: f32 = x.iter().zip(&clean).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / 100.0;
        assert!((var - 0.25).abs() < 0.1, "noise variance {var}");
    }
}

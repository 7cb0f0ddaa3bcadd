//! Training-time augmentation in the certified space (003 §5): a random time shift of the
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
}

impl Augment {
    pub const NONE: Augment = Augment { sigma: 0.0, noise_prob: 0.0, max_shift: 0 };

    /// The generator of one example in one epoch.
    pub fn rng(seed: u64, epoch: u64, example: u64) -> StdRng {
        StdRng::seed_from_u64(derive_seed(seed, &[epoch, example]))
    }

    /// Writes the augmented `clean` into `out` (same length).
    pub fn apply(&self, clean: &[f32], rng: &mut StdRng, out: &mut [f32]) {
        let n = clean.len();
        let max = self.max_shift.min(n.saturating_sub(1)) as i64;
        let shift = if max > 0 { rng.random_range(-max..=max) } else { 0 };
        out.fill(0.0);
        if shift >= 0 {
            let k = shift as usize;
            out[k..].copy_from_slice(&clean[..n - k]);
        } else {
            let k = (-shift) as usize;
            out[..n - k].copy_from_slice(&clean[k..]);
        }
        if self.sigma > 0.0 && self.noise_prob > 0.0 && (self.noise_prob >= 1.0 || rng.random::<f32>() < self.noise_prob) {
            for v in out.iter_mut() {
                let z: f32 = StandardNormal.sample(rng);
                *v += self.sigma * z;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Augment;

    #[test]
    fn seeded_and_shifted() {
        let clean: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let a = Augment { sigma: 0.0, noise_prob: 1.0, max_shift: 10 };
        let (mut x, mut y) = (vec![0.0; 100], vec![0.0; 100]);
        a.apply(&clean, &mut Augment::rng(1, 2, 3), &mut x);
        a.apply(&clean, &mut Augment::rng(1, 2, 3), &mut y);
        assert_eq!(x, y);
        // A pure shift: consecutive differences stay 1 where both samples are real.
        let ones = x.windows(2).filter(|w| w[0] != 0.0 && (w[1] - w[0] - 1.0).abs() < 1e-6).count();
        assert!(ones >= 80);
        let noisy = Augment { sigma: 0.5, noise_prob: 1.0, max_shift: 0 };
        noisy.apply(&clean, &mut Augment::rng(1, 2, 3), &mut x);
        let var: f32 = x.iter().zip(&clean).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / 100.0;
        assert!((var - 0.25).abs() < 0.1, "noise variance {var}");
    }
}

//! Reproducible noise: sample `i` of phase `p` (selection, estimation, prediction) of the clip
//! with key `k` is drawn from its own generator ([`NoiseRng`], xoshiro256++, Gaussian draws by
//! the float32 ziggurat [`gaussians`]) seeded with [`sample_seed`]`(seed, k, p, i)`. Counts therefore depend
//! only on (seed, key, σ, n0, n), never on the batch size, the number of threads or how a
//! dataset is sharded.

use super::Transform;
use rand::rngs::Xoshiro256PlusPlus;
use rand::{Rng, RngExt};
use std::sync::OnceLock;

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
/// valid and the results a function of the seed; xoshiro256++ passes BigCrush and PractRand.
/// With the float32 ziggurat below, two draws per 64-bit word, the 16,000 Gaussians of a 1-s
/// window cost 0.025 ms, against 0.033 with rand_distr's ziggurat on the same generator and
/// 0.068 on ChaCha12, the `StdRng` before it (measured alternately: BENCHMARKS.md, online
/// certificates).
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

/// One noisy copy of the waveform window: ε = σ·N(0, I) into `eps`, T(x + ε) into `noisy`.
#[allow(clippy::too_many_arguments)]
pub(super) fn perturb(rng: &mut NoiseRng, x: &[f32], sigma: f32, t: Transform, clean_rms: f32, clean_peak: f32, noisy: &mut [f32], eps: &mut [f32]) {
    Ziggurat::get().fill(rng, eps);
    for ((o, e), &v) in noisy.iter_mut().zip(eps.iter_mut()).zip(x) {
        *e *= sigma;
        *o = v + *e;
    }
    t.apply(noisy, clean_rms, clean_peak);
}

/// Standard normal draws in float32 into `out`: the noise of every copy ([`perturb`], and the
/// feature contract's noise on the front-end map).
pub fn gaussians<R: Rng + ?Sized>(rng: &mut R, out: &mut [f32]) {
    Ziggurat::get().fill(rng, out)
}

/// Marsaglia and Tsang's ziggurat (J. Stat. Softw. 5(8), 2000) for N(0, 1) in float32, with 256
/// layers and one 32-bit word per draw in 98.5 % of draws: 8 bits choose the layer, 1 the sign,
/// 23 the position in it. This is numpy's float32 normal (`random_standard_normal_f`, same
/// tables and the same tail and wedge tests); its tables are built here from their closed form
/// instead of copied.
///
/// Written here rather than taken from rand_distr: its `StandardNormal` is the float64
/// ziggurat, one 64-bit word per draw with the value rounded to float32 afterwards, and the
/// 16,000 draws of every noisy 1-s copy are a tenth of a copy's cost (BENCHMARKS.md). Built
/// with `-C target-cpu=x86-64-v3` its loop also ran 2.4× slower than without the flag (a
/// store-forwarding stall in a spill of its float64 state).
///
/// Exactness: the ziggurat is an exact rejection sampler for the density; what remains is
/// the resolution of the 23-bit position (float32's own) and of the float32 tables, as in
/// numpy. Checked against the normal CDF in the tests below and, through CERTIFY, by the
/// validity test on the closed-form linear classifier (`tests/tests/smoothing.rs`).
struct Ziggurat {
    /// Acceptance thresholds on the 23-bit position, per layer.
    k: [u32; 256],
    /// Position → x scale, per layer.
    w: [f32; 256],
    /// The density `exp(−x²/2)` at each layer's edge.
    f: [f32; 256],
}

/// Right edge of the base strip and area of every layer of the 256-layer normal ziggurat
/// (Marsaglia and Tsang 2000).
const ZIG_R: f64 = 3.654_152_885_361_008_8;
const ZIG_V: f64 = 0.004_928_673_233_99;

impl Ziggurat {
    fn get() -> &'static Ziggurat {
        static TABLES: OnceLock<Ziggurat> = OnceLock::new();
        TABLES.get_or_init(Ziggurat::build)
    }

    fn build() -> Ziggurat {
        let m1 = (1u64 << 23) as f64;
        let f = |x: f64| (-0.5 * x * x).exp();
        let (mut k, mut w, mut fz) = ([0u32; 256], [0f32; 256], [0f32; 256]);
        let q = ZIG_V / f(ZIG_R);
        k[0] = (ZIG_R / q * m1) as u32;
        k[1] = 0;
        w[0] = (q / m1) as f32;
        w[255] = (ZIG_R / m1) as f32;
        fz[0] = 1.0;
        fz[255] = f(ZIG_R) as f32;
        let (mut dn, mut tn) = (ZIG_R, ZIG_R);
        for i in (1..255).rev() {
            dn = (-2.0 * (ZIG_V / dn + f(dn)).ln()).sqrt();
            k[i + 1] = (dn / tn * m1) as u32;
            tn = dn;
            fz[i] = f(dn) as f32;
            w[i] = (dn / m1) as f32;
        }
        Ziggurat { k, w, f: fz }
    }

    #[inline]
    fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> f32 {
        let r = rng.next_u32();
        self.from_word(rng, r)
    }

    /// `out.len()` draws, two from each 64-bit word of the generator (xoshiro256++'s low bits
    /// are as good as its high ones, unlike xoshiro256+'s).
    #[inline]
    fn fill<R: Rng + ?Sized>(&self, rng: &mut R, out: &mut [f32]) {
        let mut pairs = out.chunks_exact_mut(2);
        for p in &mut pairs {
            let r = rng.next_u64();
            p[0] = self.from_word(rng, r as u32);
            p[1] = self.from_word(rng, (r >> 32) as u32);
        }
        if let [last] = pairs.into_remainder() {
            *last = self.sample(rng);
        }
    }

    /// The draw that the 32-bit word `r` starts: returned at once in 99 % of draws, else the
    /// tail or wedge test decides, drawing from `rng` as it needs (a rejected draw starts
    /// over with a fresh word).
    #[inline]
    fn from_word<R: Rng + ?Sized>(&self, rng: &mut R, mut r: u32) -> f32 {
        loop {
            let idx = (r & 0xff) as usize;
            let pos = (r >> 9) & 0x007f_ffff;
            // bit 8 is the sign, set without a branch (a random sign mispredicts half the time)
            let x = f32::from_bits((pos as f32 * self.w[idx]).to_bits() | ((r & 0x100) << 23));
            if pos < self.k[idx] {
                return x; // 98.5 % of draws
            }
            if let Some(v) = self.slow(rng, idx, x, pos) {
                return v;
            }
            r = rng.next_u32();
        }
    }

    /// The base layer's tail beyond `ZIG_R` (layer 0) or the wedge test of another layer.
    #[cold]
    #[inline(never)]
    fn slow<R: Rng + ?Sized>(&self, rng: &mut R, idx: usize, x: f32, pos: u32) -> Option<f32> {
        let r = ZIG_R as f32;
        if idx == 0 {
            loop {
                // 1 − U in (0, 1]: the logarithms stay finite
                let xx = -(1.0 / r) * (-rng.random::<f32>()).ln_1p();
                let yy = -(-rng.random::<f32>()).ln_1p();
                if yy + yy > xx * xx {
                    return Some(if (pos >> 8) & 1 == 1 { -(r + xx) } else { r + xx });
                }
            }
        }
        let u: f32 = rng.random();
        if (self.f[idx - 1] - self.f[idx]) * u + self.f[idx] < (-0.5 * x * x).exp() {
            Some(x)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_differ_by_every_coordinate() {
        let s = sample_seed(1, 2, Phase::Estimation, 3);
        assert_ne!(s, sample_seed(0, 2, Phase::Estimation, 3));
        assert_ne!(s, sample_seed(1, 3, Phase::Estimation, 3));
        assert_ne!(s, sample_seed(1, 2, Phase::Selection, 3));
        assert_ne!(s, sample_seed(1, 2, Phase::Estimation, 4));
    }

    /// Standard normal CDF from the closed form `Φ(x) = erfc(−x/√2)/2`.
    fn phi(x: f64) -> f64 {
        0.5 * libm::erfc(-x / core::f64::consts::SQRT_2)
    }

    /// The float32 ziggurat against N(0, 1): Kolmogorov-Smirnov distance over 2·10⁶ draws
    /// (the 0.001 critical value is 1.95/√n = 0.0014), the moments, and the tail masses
    /// beyond 2, 3, 3.6541 (the base strip's edge, where the tail sampler takes over) and 4.5
    /// against Φ within 5 binomial standard deviations; and the draws are a function of the
    /// seed alone.
    #[test]
    fn float32_ziggurat_is_standard_normal() {
        use rand::SeedableRng;
        let n = 2_000_000usize;
        let mut draws = Vec::with_capacity(n);
        for s in 0..(n / 1000) as u64 {
            let mut rng = NoiseRng::seed_from_u64(sample_seed(7, 1, Phase::Estimation, s));
            let mut block = [0.0f32; 1000];
            gaussians(&mut rng, &mut block);
            draws.extend(block.iter().map(|&v| v as f64));
        }
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
        let kurt = draws.iter().map(|v| (v - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
        assert!(mean.abs() < 5.0 / (n as f64).sqrt(), "mean {mean}");
        assert!((var - 1.0).abs() < 5.0 * (2.0 / n as f64).sqrt(), "variance {var}");
        assert!((kurt - 3.0).abs() < 5.0 * (24.0 / n as f64).sqrt(), "kurtosis {kurt}");
        for t in [2.0, 3.0, ZIG_R, 4.5] {
            let p = 2.0 * phi(-t);
            let got = draws.iter().filter(|v| v.abs() > t).count() as f64;
            let sd = (n as f64 * p * (1.0 - p)).sqrt();
            assert!((got - n as f64 * p).abs() < 5.0 * sd + 1.0, "|x| > {t}: {got} draws, {} expected", n as f64 * p);
        }
        let mut sorted = draws.clone();
        sorted.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let ks = sorted
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let c = phi(v);
                (c - i as f64 / n as f64).abs().max(((i + 1) as f64 / n as f64 - c).abs())
            })
            .fold(0.0, f64::max);
        assert!(ks < 1.95 / (n as f64).sqrt(), "KS distance {ks}");
        let again: Vec<f32> = {
            let mut rng = NoiseRng::seed_from_u64(sample_seed(7, 1, Phase::Estimation, 0));
            let mut block = vec![0.0f32; 1000];
            gaussians(&mut rng, &mut block);
            block
        };
        assert!(again.iter().zip(&draws).all(|(a, b)| *a as f64 == *b));
    }
}

//! Shared pieces of the benchmarks in `benches/`: the fixed test signal every front-end
//! benchmark (and `benches/librosa_anchor.py`, which must compute the identical samples) runs on.
//!
//! Run everything with `benches/run_frontend_bench.sh`; it prints the comparison table.

/// Sample rate of the benchmark signal, Hz.
pub const SAMPLE_RATE: u32 = 16_000;
/// Length of the streaming benchmark clip, seconds.
pub const CLIP_SECONDS: usize = 60;

/// Deterministic test signal: three tones plus uniform noise from a 32-bit LCG.
///
/// ```text
/// x[n] = 0.30 sin(2π·440·t) + 0.20 sin(2π·1250·t + 0.5) + 0.10 sin(2π·3100·t + 1.0) + 0.05 u[n]
/// t = n / sample_rate
/// s[n] = (1664525 s[n-1] + 1013904223) mod 2^32,  s[-1] = 12345
/// u[n] = 2 (s[n] >> 8) / 2^24 - 1                  (uniform in [-1, 1))
/// ```
///
/// Computed in f64 and rounded to f32 once. `benches/librosa_anchor.py` implements the same
/// formula, so both sides time the same audio (the bench prints a checksum the script compares).
pub fn test_signal(n_samples: usize, sample_rate: u32) -> Vec<f32> {
    use core::f64::consts::TAU;
    let sr = f64::from(sample_rate);
    let mut state: u32 = 12_345;
    (0..n_samples)
        .map(|n| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let u = 2.0 * f64::from(state >> 8) / f64::from(1u32 << 24) - 1.0;
            let t = n as f64 / sr;
            let x = 0.30 * (TAU * 440.0 * t).sin()
                + 0.20 * (TAU * 1250.0 * t + 0.5).sin()
                + 0.10 * (TAU * 3100.0 * t + 1.0).sin()
                + 0.05 * u;
            x as f32
        })
        .collect()
}

/// `(sum, sum of squares)` of `x` accumulated in f64: a cheap fingerprint to check that two
/// implementations of [`test_signal`] agree.
pub fn checksum(x: &[f32]) -> (f64, f64) {
    x.iter().fold((0.0, 0.0), |(s, q), &v| {
        let v = f64::from(v);
        (s + v, q + v * v)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_is_deterministic_and_bounded() {
        let a = test_signal(16_000, SAMPLE_RATE);
        assert_eq!(a, test_signal(16_000, SAMPLE_RATE));
        assert!(a.iter().all(|x| x.abs() <= 0.65));
        // The LCG's first draw from seed 12345 is 87628868; the first sample is pure noise
        // plus the phase-shifted tones at t = 0.
        let u0 = 2.0 * f64::from(87_628_868u32 >> 8) / f64::from(1u32 << 24) - 1.0;
        let x0 = 0.20 * 0.5f64.sin() + 0.10 * 1.0f64.sin() + 0.05 * u0;
        assert_eq!(a[0], x0 as f32);
    }
}

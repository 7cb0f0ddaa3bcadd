//! Real-input FFT with two interchangeable backends under one interface.
//!
//! * [`FftBackend::Microfft`]: `microfft`, radix-2, no heap, the backend of `no_std` builds
//!   (n_fft ∈ {256, 512, 1024, 2048, 4096}).
//! * [`FftBackend::Realfft`] (feature `std`): `realfft`/`rustfft` with SIMD, about 3× faster on
//!   hosts; its plan and scratch are allocated once in [`RealFft::new`].
//!
//! Both produce the `n_fft/2 + 1` non-negative-frequency bins of the unnormalized DFT
//! `X[k] = Σ x[n] e^{-2πikn/N}` (numpy's `rfft` convention), and both run under the same parity
//! tests.

use super::{check_len, DspError};
pub use microfft::Complex32;

#[cfg(feature = "std")]
extern crate std;
#[cfg(feature = "std")]
use std::{sync::Arc, vec, vec::Vec};

/// Which FFT implementation a [`RealFft`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "lowercase"))]
pub enum FftBackend {
    Microfft,
    #[cfg(feature = "std")]
    Realfft,
}

impl Default for FftBackend {
    /// The fastest backend of the build: `Realfft` with `std`, `Microfft` without.
    fn default() -> Self {
        #[cfg(feature = "std")]
        {
            FftBackend::Realfft
        }
        #[cfg(not(feature = "std"))]
        {
            FftBackend::Microfft
        }
    }
}

enum Inner {
    Micro,
    #[cfg(feature = "std")]
    Real { plan: Arc<dyn realfft::RealToComplex<f32>>, scratch: Vec<Complex32>, power: HalfPower },
}

/// The power spectrum of a real frame of even length `n` from one complex FFT of length `n/2`,
/// fused with the untangling step (for the `Realfft` backend).
///
/// Written here rather than taken from `realfft`: realfft's untangling runs in place over the
/// spectrum from both ends at once, which the compiler leaves scalar, and it then needs a second
/// pass for `|X[k]|²`. The noisy copies of online certification pay this per frame (in a
/// profile of `kws-fsdd-strided`'s copies the untangling was 12 % of all time, more than the
/// complex FFT itself); here the mirrored half is first copied forward, so the loop that
/// computes both powers of each pair reads and writes every array in order and vectorizes.
///
/// With `z[m] = x[2m] + i·x[2m+1]`, `Z = FFT_{n/2}(z)`, `M = n/2`, for `0 < k <= M/2`:
/// `E = (Z[k] + conj Z[M−k])/2`, `O = (Z[k] − conj Z[M−k])/2`, `T = e^{−2πik/n}·O`;
/// then `X[k] = E − i·T` and `X[M−k] = conj(E + i·T)`; `X[0] = Re Z[0] + Im Z[0]`,
/// `X[M] = Re Z[0] − Im Z[0]` (numpy's `rfft` convention, as `realfft`).
#[cfg(feature = "std")]
struct HalfPower {
    fft: Arc<dyn rustfft::Fft<f32>>,
    scratch: Vec<Complex32>,
    z: Vec<Complex32>,
    /// `Z[M−k]` for `k = 1..=K` (`K = M/2`), in `k` order.
    mirror: Vec<Complex32>,
    /// `|X[M−k]|²` for `k = 1..=K`, in `k` order.
    hi: Vec<f32>,
    /// `cos(2πk/n)` and `−sin(2πk/n)` for `k = 1..=K`.
    cos: Vec<f32>,
    sin: Vec<f32>,
}

#[cfg(feature = "std")]
impl HalfPower {
    fn new(n: usize) -> Self {
        let m = n / 2;
        let fft = rustfft::FftPlanner::<f32>::new().plan_fft_forward(m);
        let scratch = vec![Complex32::new(0.0, 0.0); fft.get_inplace_scratch_len()];
        let k_max = m / 2;
        let (mut cos, mut sin) = (Vec::with_capacity(k_max), Vec::with_capacity(k_max));
        for k in 1..=k_max {
            let phase = 2.0 * core::f64::consts::PI * k as f64 / n as f64;
            cos.push(phase.cos() as f32);
            sin.push(-phase.sin() as f32);
        }
        HalfPower {
            fft,
            scratch,
            z: vec![Complex32::new(0.0, 0.0); m],
            mirror: vec![Complex32::new(0.0, 0.0); k_max],
            hi: vec![0.0; k_max],
            cos,
            sin,
        }
    }

    fn power(&mut self, input: &[f32], power: &mut [f32]) {
        let m = self.z.len();
        for (z, x) in self.z.iter_mut().zip(input.chunks_exact(2)) {
            *z = Complex32::new(x[0], x[1]);
        }
        self.fft.process_with_scratch(&mut self.z, &mut self.scratch);
        let z = &self.z;
        let k_max = self.mirror.len();
        power[0] = (z[0].re + z[0].im) * (z[0].re + z[0].im);
        power[m] = (z[0].re - z[0].im) * (z[0].re - z[0].im);
        // Z[M−k] for k = 1..=K, in k order
        for (r, v) in self.mirror.iter_mut().zip(z[m - k_max..m].iter().rev()) {
            *r = *v;
        }
        let lo = &mut power[1..=k_max];
        for (((((p, h), a), b), &c), &s) in
            lo.iter_mut().zip(self.hi.iter_mut()).zip(&z[1..=k_max]).zip(&self.mirror).zip(&self.cos).zip(&self.sin)
        {
            // b is Z[M−k]; conj(b) = (b.re, −b.im)
            let (er, ei) = (0.5 * (a.re + b.re), 0.5 * (a.im - b.im));
            let (or, oi) = (0.5 * (a.re - b.re), 0.5 * (a.im + b.im));
            let (tr, ti) = (c * or - s * oi, c * oi + s * or);
            *p = (er + ti) * (er + ti) + (ei - tr) * (ei - tr);
            *h = (er - ti) * (er - ti) + (ei + tr) * (ei + tr);
        }
        // |X[M−k]|² for k = K..1 is power[M−K..M]
        for (p, h) in power[m - k_max..m].iter_mut().zip(self.hi.iter().rev()) {
            *p = *h;
        }
    }
}

/// A planned real FFT of fixed length `n`.
pub struct RealFft {
    n: usize,
    inner: Inner,
}

impl core::fmt::Debug for RealFft {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RealFft").field("n", &self.n).field("backend", &self.backend()).finish()
    }
}

/// FFT lengths the `microfft` backend supports.
pub const MICROFFT_SIZES: [usize; 5] = [256, 512, 1024, 2048, 4096];

impl RealFft {
    /// An unplanned FFT of length 0 (a placeholder, e.g. in a `static`, until [`RealFft::new`]).
    pub const fn empty() -> Self {
        RealFft { n: 0, inner: Inner::Micro }
    }

    /// Plans a forward real FFT of length `n` (allocates only for the `Realfft` backend, here).
    pub fn new(n: usize, backend: FftBackend) -> Result<Self, DspError> {
        match backend {
            FftBackend::Microfft => {
                if !MICROFFT_SIZES.contains(&n) {
                    return Err(DspError::InvalidParameter {
                        name: "n_fft",
                        value: n as f64,
                        expected: "one of 256, 512, 1024, 2048, 4096 (microfft backend)",
                    });
                }
                Ok(RealFft { n, inner: Inner::Micro })
            }
            #[cfg(feature = "std")]
            FftBackend::Realfft => {
                if n < 2 || n % 2 != 0 {
                    return Err(DspError::InvalidParameter {
                        name: "n_fft",
                        value: n as f64,
                        expected: "an even length >= 2 (realfft backend)",
                    });
                }
                let plan = realfft::RealFftPlanner::<f32>::new().plan_fft_forward(n);
                let scratch = plan.make_scratch_vec();
                Ok(RealFft { n, inner: Inner::Real { plan, scratch, power: HalfPower::new(n) } })
            }
        }
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Number of output bins, `n/2 + 1`.
    pub fn n_bins(&self) -> usize {
        self.n / 2 + 1
    }

    pub fn backend(&self) -> FftBackend {
        match self.inner {
            Inner::Micro => FftBackend::Microfft,
            #[cfg(feature = "std")]
            Inner::Real { .. } => FftBackend::Realfft,
        }
    }

    /// Complex spectrum of `input` (length `n`; used as scratch, undefined afterwards) into
    /// `spectrum` (length `n/2 + 1`).
    pub fn process(&mut self, input: &mut [f32], spectrum: &mut [Complex32]) -> Result<(), DspError> {
        check_len("input", input.len(), self.n)?;
        check_len("spectrum", spectrum.len(), self.n / 2 + 1)?;
        match &mut self.inner {
            Inner::Micro => {
                let half = micro_rfft(input)?;
                // microfft packs the (real) Nyquist bin into the imaginary part of bin 0.
                let nyquist = half[0].im;
                spectrum[0] = Complex32::new(half[0].re, 0.0);
                spectrum[1..self.n / 2].copy_from_slice(&half[1..]);
                spectrum[self.n / 2] = Complex32::new(nyquist, 0.0);
                Ok(())
            }
            #[cfg(feature = "std")]
            Inner::Real { plan, scratch, .. } => plan
                .process_with_scratch(input, spectrum, scratch)
                .map_err(|_| DspError::Length { name: "input", expected: self.n, got: input.len() }),
        }
    }

    /// Power spectrum `|X[k]|²` of `input` (length `n`; used as scratch) into `power`
    /// (length `n/2 + 1`), without an intermediate complex buffer on the microfft path.
    pub fn power(&mut self, input: &mut [f32], power: &mut [f32]) -> Result<(), DspError> {
        check_len("input", input.len(), self.n)?;
        check_len("power", power.len(), self.n / 2 + 1)?;
        let half_n = self.n / 2;
        match &mut self.inner {
            Inner::Micro => {
                let half = micro_rfft(input)?;
                let nyquist = half[0].im;
                power[0] = half[0].re * half[0].re;
                for (p, c) in power[1..half_n].iter_mut().zip(&half[1..]) {
                    *p = c.re * c.re + c.im * c.im;
                }
                power[half_n] = nyquist * nyquist;
            }
            #[cfg(feature = "std")]
            Inner::Real { power: half, .. } => half.power(input, power),
        }
        Ok(())
    }
}

fn micro_rfft(input: &mut [f32]) -> Result<&mut [Complex32], DspError> {
    macro_rules! dispatch {
        ($($n:literal => $f:ident),*) => {
            match input.len() {
                $($n => {
                    let arr: &mut [f32; $n] = input.try_into().map_err(|_| DspError::Length {
                        name: "input", expected: $n, got: 0 })?;
                    Ok(&mut microfft::real::$f(arr)[..])
                })*
                n => Err(DspError::InvalidParameter {
                    name: "n_fft", value: n as f64,
                    expected: "one of 256, 512, 1024, 2048, 4096 (microfft backend)" }),
            }
        };
    }
    dispatch!(256 => rfft_256, 512 => rfft_512, 1024 => rfft_1024, 2048 => rfft_2048, 4096 => rfft_4096)
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;

    /// The fused power spectrum of the `Realfft` backend against the direct DFT in f64, for
    /// lengths with `n/2` even and odd, and against microfft at the lengths it has.
    #[test]
    fn fused_power_matches_the_dft() {
        for n in [2usize, 4, 6, 10, 64, 400, 512, 1022, 1024] {
            let x: Vec<f32> = (0..n).map(|i| ((i * 7919) % 113) as f32 / 56.0 - 1.0 + (i as f32 * 0.05).sin()).collect();
            let mut fft = RealFft::new(n, FftBackend::Realfft).unwrap();
            let mut buf = x.clone();
            let mut power = vec![0.0f32; n / 2 + 1];
            fft.power(&mut buf, &mut power).unwrap();
            let peak = (0..=n / 2)
                .map(|k| {
                    let (mut re, mut im) = (0.0f64, 0.0f64);
                    for (t, &v) in x.iter().enumerate() {
                        let ph = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                        re += v as f64 * ph.cos();
                        im += v as f64 * ph.sin();
                    }
                    re * re + im * im
                })
                .collect::<Vec<f64>>();
            let top = peak.iter().cloned().fold(0.0, f64::max);
            for k in 0..=n / 2 {
                assert!((power[k] as f64 - peak[k]).abs() <= 1e-5 * top, "n = {n}, bin {k}: {} against {}", power[k], peak[k]);
            }
            if MICROFFT_SIZES.contains(&n) {
                let mut micro = RealFft::new(n, FftBackend::Microfft).unwrap();
                let (mut buf, mut mp) = (x.clone(), vec![0.0f32; n / 2 + 1]);
                micro.power(&mut buf, &mut mp).unwrap();
                for k in 0..=n / 2 {
                    assert!((power[k] - mp[k]).abs() <= 1e-5 * top as f32, "n = {n}, bin {k}: {} against microfft {}", power[k], mp[k]);
                }
            }
        }
    }
}

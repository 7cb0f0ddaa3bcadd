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
use std::{sync::Arc, vec::Vec};

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
    Real { plan: Arc<dyn realfft::RealToComplex<f32>>, scratch: Vec<Complex32>, out: Vec<Complex32> },
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
                let out = plan.make_output_vec();
                Ok(RealFft { n, inner: Inner::Real { plan, scratch, out } })
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
            Inner::Real { plan, scratch, out } => {
                plan.process_with_scratch(input, out, scratch)
                    .map_err(|_| DspError::Length { name: "input", expected: self.n, got: input.len() })?;
                for (p, c) in power.iter_mut().zip(out.iter()) {
                    *p = c.re * c.re + c.im * c.im;
                }
            }
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

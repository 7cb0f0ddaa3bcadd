//! Everything numeric about one frame of audio: windows, FFT, framing, STFT power, mel
//! filterbank and log, MFCC, wavelet features, gain policies, feature-map resizing and the
//! psychoacoustic masking threshold of 004.
//!
//! This module is `no_std` and never touches the heap. Every object follows one shape (after
//! rustfft's planners): a constructor that validates its parameters and sizes every buffer, and
//! a `process(&mut self, input, output)` that does not allocate. Capacities are const generic
//! parameters (`N`, the largest frame / FFT length the object can hold; default
//! [`MAX_N_FFT`]), so a microcontroller build can pick `LogMel<1024>` and pay for 1024-sample
//! buffers only. Parameter names follow librosa (`n_fft`, `hop_length`, `win_length`, `n_mels`,
//! `fmin`, `fmax`, `htk`-style `mel_scale`, `norm`).

pub mod fft;
pub mod framer;
pub mod frontend;
pub mod gain;
pub mod masking;
pub mod math;
pub mod mel;
pub mod mfcc;
pub mod resize;
pub mod stft;
pub mod wavelet;
pub mod window;

pub use fft::{FftBackend, RealFft};
pub use framer::Framer;
pub use frontend::{FeatureConfig, FeatureKind, FrontEnd};
pub use gain::GainPolicy;
pub use masking::{MaskingParams, MaskingThreshold};
pub use mel::{LogMel, MelFilterbank, MelNorm, MelParams, MelScale};
pub use mfcc::{DctNorm, Mfcc, MfccParams};
pub use stft::{Stft, StftParams};

/// Largest FFT / frame length any `dsp` object supports (and the default capacity `N`).
pub const MAX_N_FFT: usize = 4096;
/// Largest number of mel bands.
pub const MAX_MELS: usize = 256;
/// Largest number of cepstral coefficients.
pub const MAX_MFCC: usize = 128;

/// Errors of the `dsp` layer. Each names the parameter at fault and the accepted range.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DspError {
    /// A parameter is outside its accepted range.
    InvalidParameter { name: &'static str, value: f64, expected: &'static str },
    /// A requested size exceeds the object's capacity (the const generic `N` or a module limit).
    Capacity { name: &'static str, requested: usize, capacity: usize },
    /// A buffer handed to `process` has the wrong length.
    Length { name: &'static str, expected: usize, got: usize },
    /// The input has no energy where the operation divides by it (RMS or peak of silence).
    Silent { name: &'static str },
}

impl core::fmt::Display for DspError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DspError::InvalidParameter { name, value, expected } => {
                write!(f, "invalid {name} = {value}: expected {expected}")
            }
            DspError::Capacity { name, requested, capacity } => write!(
                f,
                "{name} = {requested} exceeds the capacity {capacity} of this object \
                 (build it with a larger capacity, or lower {name})"
            ),
            DspError::Length { name, expected, got } => {
                write!(f, "buffer {name} has length {got}, expected {expected}")
            }
            DspError::Silent { name } => {
                write!(f, "{name} of the input is zero: silence cannot be normalized")
            }
        }
    }
}

impl core::error::Error for DspError {}

pub(crate) fn check_len(name: &'static str, buf: usize, expected: usize) -> Result<(), DspError> {
    if buf == expected {
        Ok(())
    } else {
        Err(DspError::Length { name, expected, got: buf })
    }
}

pub(crate) fn check_capacity(name: &'static str, requested: usize, capacity: usize) -> Result<(), DspError> {
    if requested <= capacity {
        Ok(())
    } else {
        Err(DspError::Capacity { name, requested, capacity })
    }
}

/// One feature vector per frame: the interface the [`FrontEnd`] drives.
pub trait FrameFeature {
    /// Number of samples each frame must hold.
    fn frame_length(&self) -> usize;
    /// Length of the feature vector written per frame.
    fn n_features(&self) -> usize;
    /// Computes the features of one frame. `frame` is left untouched (frames overlap);
    /// `out` must have length [`n_features`](Self::n_features). Never allocates.
    fn process(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError>;
}

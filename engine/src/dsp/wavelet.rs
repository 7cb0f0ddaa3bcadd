//! Wavelet features (000/001 "DWT" representation, and a true discrete wavelet transform).
//! SKELETON: the public API below is fixed; the implementation is being written.

use super::{DspError, FftBackend, FrameFeature};

/// Mother function of the framed scalogram (000/001: Haar, Mexican hat, complex Morlet).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(tag = "wavelet", rename_all = "kebab-case"))]
pub enum ContinuousWavelet {
    Haar,
    MexicanHat,
    /// PyWavelets `cmorB-C`: bandwidth B, centre frequency C.
    ComplexMorlet { bandwidth: f32, center_frequency: f32 },
}

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct ScalogramParams {
    pub sample_rate: u32,
    pub frame_length: usize,
    pub hop_length: usize,
    pub center: bool,
    pub wavelet: ContinuousWavelet,
    pub n_scales: usize,
    pub fmin: f32,
    pub fmax: f32,
    pub amin: f32,
}

impl Default for ScalogramParams {
    fn default() -> Self {
        ScalogramParams {
            sample_rate: 16_000,
            frame_length: 800,
            hop_length: 400,
            center: true,
            wavelet: ContinuousWavelet::ComplexMorlet { bandwidth: 1.5, center_frequency: 1.0 },
            n_scales: 64,
            fmin: 50.0,
            fmax: 8000.0,
            amin: 1e-10,
        }
    }
}

/// Framed wavelet scalogram.
pub struct Scalogram<const N: usize = { super::MAX_N_FFT }> {
    p: ScalogramParams,
}

impl<const N: usize> Scalogram<N> {
    pub fn new(p: &ScalogramParams, _backend: FftBackend) -> Result<Self, DspError> {
        Ok(Scalogram { p: *p })
    }
}

impl<const N: usize> FrameFeature for Scalogram<N> {
    fn frame_length(&self) -> usize {
        self.p.frame_length
    }
    fn n_features(&self) -> usize {
        self.p.n_scales
    }
    fn process(&mut self, _frame: &[f32], _out: &mut [f32]) -> Result<(), DspError> {
        Err(DspError::InvalidParameter { name: "kind", value: 0.0, expected: "a finished wavelet module" })
    }
}

/// Orthogonal wavelet of the multi-level DWT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "lowercase"))]
pub enum DiscreteWavelet {
    Haar,
    Db4,
}

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct DwtBandsParams {
    pub sample_rate: u32,
    pub frame_length: usize,
    pub hop_length: usize,
    pub center: bool,
    pub wavelet: DiscreteWavelet,
    pub levels: usize,
    pub amin: f32,
}

impl Default for DwtBandsParams {
    fn default() -> Self {
        DwtBandsParams {
            sample_rate: 16_000,
            frame_length: 1024,
            hop_length: 512,
            center: true,
            wavelet: DiscreteWavelet::Db4,
            levels: 5,
            amin: 1e-10,
        }
    }
}

/// Multi-level DWT sub-band log energies of a frame.
pub struct DwtBands<const N: usize = { super::MAX_N_FFT }> {
    p: DwtBandsParams,
}

impl<const N: usize> DwtBands<N> {
    pub fn new(p: &DwtBandsParams) -> Result<Self, DspError> {
        Ok(DwtBands { p: *p })
    }
}

impl<const N: usize> FrameFeature for DwtBands<N> {
    fn frame_length(&self) -> usize {
        self.p.frame_length
    }
    fn n_features(&self) -> usize {
        self.p.levels + 1
    }
    fn process(&mut self, _frame: &[f32], _out: &mut [f32]) -> Result<(), DspError> {
        Err(DspError::InvalidParameter { name: "kind", value: 0.0, expected: "a finished wavelet module" })
    }
}

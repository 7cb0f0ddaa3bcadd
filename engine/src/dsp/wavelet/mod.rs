//! Wavelet features of one frame: the framed continuous-wavelet scalogram that 000/001 call the
//! "DWT" representation (001 Sec. II-C, Eq. 17-20; 000 Sec. II-C), and a true multi-level
//! discrete wavelet transform reduced to sub-band log energies.
//!
//!
//! * [`scalogram`]: the scalogram ([`Scalogram`]), its mother wavelets and parameters;
//! * [`dwt`]: the sub-band energies ([`DwtBands`]), their filters and parameters.

pub mod dwt;
pub mod scalogram;

pub use dwt::{DiscreteWavelet, DwtBands, DwtBandsParams, MAX_DWT_LEVELS};
pub use scalogram::{ContinuousWavelet, Scalogram, ScalogramParams, MAX_SCALES};

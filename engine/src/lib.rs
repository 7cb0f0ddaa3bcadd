//! soundproof: an embedded-first streaming audio inference and certification engine.
//!
//! Data flows one way (see `DESIGN.md` of the project):
//! audio source → ring buffer → framer → gain policy → features → model → smoother → report.
//!
//! * [`dsp`] everything numeric about one frame; `no_std`, no heap, every buffer sized at
//!   construction.
//! * [`nn`] int8 inference of QLinear models: kernels and a statically planned schedule equal
//!   to tract's integer execution bit for bit; `no_std`, no heap (what `firmware-sim` runs).
//! * [`stats`] the bounds certification needs (Φ⁻¹, incomplete beta, Clopper-Pearson); `no_std`.
//! * `audio` (feature `std`): WAV sources, resampling, synthetic sources and the streaming
//!   ring between a producer and the front end.
//! * `model` (feature `std`): ONNX models through tract with their card.
//! * `window` (feature `std`): from a clip to model windows: 003 Contract 1's certified window
//!   `x = s · CropPad(a)`, the clip gain `s` and its vocabulary, and the stream's window plan.
//! * `pipeline` (feature `std`): batch and streaming classification and window aggregation.
//! * `smooth` (feature `std`): randomized smoothing (PREDICT, CERTIFY, online CERTIFY) under
//!   explicit contracts, with the certificate record.
//! * `shard` (feature `std`): cutting a dataset-scale run across a job array (`--shard i/N`,
//!   `auto` from Slurm or Kubernetes) and checking the parts of a merge.
#![cfg_attr(not(feature = "std"), no_std)]
// No unsafe code, with one exception: the SMLAD instruction of `nn::smlad` (one `asm!` line on
// ARM, allowed where it stands and explained there).
#![deny(unsafe_code)]

pub mod dsp;
pub mod nn;
pub mod stats;

#[cfg(feature = "std")]
pub mod audio;
#[cfg(feature = "std")]
pub mod npy;
#[cfg(feature = "std")]
pub mod features;
#[cfg(feature = "std")]
pub mod model;
#[cfg(feature = "std")]
pub mod window;
#[cfg(feature = "std")]
pub mod pipeline;
#[cfg(feature = "std")]
pub mod dataset;
#[cfg(feature = "std")]
pub mod score;
#[cfg(feature = "std")]
pub mod parallel;
#[cfg(feature = "std")]
pub mod smooth;
#[cfg(feature = "std")]
pub mod shard;

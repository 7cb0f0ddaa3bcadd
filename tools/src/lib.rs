//! soundproof-tools: datasets, models, training through tch (libtorch), ONNX export with the
//! model card, quantization, evaluation in tract; adversarial attacks ([`attack`]).
//!
//! Features for training come from `soundproof::dsp`, the very code the engine serves with
//! (train/serve parity by construction). Where gradients must flow through the front end,
//! [`frontend`] holds a tch twin of it, tested equal to `soundproof::dsp`.
//!
//! Stages of a model: [`data`] (clips → certified waveforms → features) → [`nn`] (architecture)
//! → [`train`] (checkpoint) → [`export`] (ONNX + card, f32 / f16 / int8) → [`eval`] (tract).

pub mod attack;
pub mod checkpoint;
pub mod data;
pub mod device;
pub mod error;
pub mod eval;
pub mod export;
pub mod frontend;
pub mod nn;
pub mod onnx;
pub mod plot;
pub mod rebuild;
pub mod room;
pub mod shard;
pub mod study;
pub mod tensor_ops;
pub mod train;
pub mod transfer;

pub use error::{Result, ToolsError};

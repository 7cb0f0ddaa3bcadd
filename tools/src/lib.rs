//! soundproof-tools: datasets, models, training through tch (libtorch), ONNX export with the
//! model card, quantization, evaluation; later, adversarial attacks.
//!
//! Features for training come from `soundproof::dsp`, the very code the engine serves with
//! (train/serve parity by construction). Where gradients must flow through the front end,
//! [`frontend`] holds a tch twin of it, tested equal to `soundproof::dsp`.
pub mod onnx;

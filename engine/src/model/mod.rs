//! Models: the model card every ONNX model carries, and (next) tract loading and batching.
pub mod card;

pub use card::{CardError, ModelCard, Precision};

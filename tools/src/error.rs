//! The one error type of the `soundproof_tools` library. Each variant says what went wrong and,
//! where it can, what to do next; the CLI wraps it in `anyhow`.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ToolsError {
    #[error(transparent)]
    Audio(#[from] soundproof::audio::AudioError),
    #[error("front end: {0}")]
    Dsp(#[from] soundproof::dsp::DspError),
    #[error(transparent)]
    Card(#[from] soundproof::model::CardError),
    #[error(transparent)]
    Npy(#[from] soundproof::npy::NpyError),
    #[error("libtorch: {0}")]
    Torch(#[from] tch::TchError),
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not valid JSON: {source}", .path.display())]
    Json { path: PathBuf, source: serde_json::Error },
    /// A dataset folder or file is missing or malformed.
    #[error("dataset {name}: {what}")]
    Dataset { name: String, what: String },
    /// A model cannot be built for the requested input (e.g. a waveform too short for cnn1d).
    #[error("model {arch}: {what}")]
    Model { arch: String, what: String },
    /// The requested device is not usable.
    #[error("device: {0}")]
    Device(String),
    /// ONNX export, loading or inference failed.
    #[error("onnx: {0}")]
    Onnx(String),
    /// A figure could not be drawn.
    #[error("plot {}: {what}", .path.display())]
    Plot { path: PathBuf, what: String },
    /// An argument is out of range.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidArgument { name: &'static str, value: String, expected: &'static str },
    /// Shards that do not make up one run (missing, doubled, from another run).
    #[error("merge: {0}")]
    Merge(String),
}

impl ToolsError {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ToolsError::Io { path: path.into(), source }
    }
    pub fn dataset(name: impl Into<String>, what: impl Into<String>) -> Self {
        ToolsError::Dataset { name: name.into(), what: what.into() }
    }
    pub fn model(arch: impl Into<String>, what: impl Into<String>) -> Self {
        ToolsError::Model { arch: arch.into(), what: what.into() }
    }
    pub fn invalid(name: &'static str, value: impl std::fmt::Display, expected: &'static str) -> Self {
        ToolsError::InvalidArgument { name, value: value.to_string(), expected }
    }
}

pub type Result<T, E = ToolsError> = std::result::Result<T, E>;

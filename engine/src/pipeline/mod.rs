//! The streaming pipeline: source → `ringbuf` SPSC ring → incremental front end → feature ring
//! → model every window hop → results, plus the same computation on a whole clip (`classify`).
//!
//! Windows are slices of one frame sequence. The front end frames the stream once (centre
//! padding only at the two ends of the stream, as librosa frames a clip); the model window `w`
//! is frames `[w·Hf, w·Hf + F)` with `F` frames per window and `Hf = hop_samples / hop_length`
//! frames per window hop. Each hop computes only its new frames; a ring of `F` frames holds the
//! window, which is copied out (not recomputed) when complete. The batch path
//! ([`classify_clip`]) computes the same frames in one pass and slices the same windows, so
//! streaming and batch agree by construction.
//!
//! Threads: the audio producer (`audio::stream`) never allocates, locks or blocks; the feature
//! thread takes window buffers from a fixed pool (no allocation per window) and hands them to
//! the model thread over a bounded `crossbeam-channel`; when the model falls behind and the
//! pool is empty the window is dropped and counted, the audio never is. Results arrive in order
//! on the caller's callback, called on the model thread.
//!
//! Online certification ([`OnlineCertify`], [`run_stream_certified`]): the feature thread also
//! keeps the last samples of the (gain-scaled) stream in a ring and copies each chosen window's
//! waveform into the window buffer beside its features. The model thread labels the window as
//! usual and hands its waveform to a third thread, the certifier (a pool of two buffers, no
//! allocation), which certifies it under the budget (`smooth::online`) and delivers the
//! certificate on its own callback. On a live (paced) source labels never wait for
//! certificates: when the certifier is still busy the certification is skipped and counted. A
//! file read unpaced waits for the certifier, so every chosen window is certified. The
//! certificate is about that waveform window as an isolated clip (its features recomputed with
//! centre padding), exactly what `certify` would certify offline.
//!
//! Aggregation over a clip (002 §III): majority vote of the windows' decisions and the sum rule
//! (argmax of the summed posteriors).

mod aggregate;
mod batch;
mod certifier;
mod live;
mod stream;

pub use aggregate::{aggregate, ClipDecision, Segment, Segmenter};
pub use batch::{classify_clip, classify_file};
pub use live::{InputSnapshot, LiveGain, LivePolicy};
pub use stream::{
    run_stream, run_stream_certified, run_stream_live, stream_file, stream_file_certified, stream_file_live, OnlineCertify,
    PipelineStats, StreamOptions,
};

use crate::audio::AudioError;
use crate::dsp::{DspError, FrontEnd};
use crate::model::{softmax, Model, ModelError};
use crate::smooth::{Certificate, SmoothError};
use crate::stats::argmax;
use crate::window::{self, WindowError, WindowPlan};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("front end: {0}")]
    Dsp(#[from] DspError),
    #[error("certification: {0}")]
    Smooth(#[from] SmoothError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error("{0}")]
    Config(String),
}

/// The model's verdict on one window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WindowResult {
    pub index: u64,
    pub start_s: f64,
    pub end_s: f64,
    pub label: usize,
    pub label_name: String,
    pub score: f32,
    pub probabilities: Vec<f32>,
    pub logits: Vec<f32>,
    /// Loudest band in the central half of the window, dB (log-mel models; for gating silence).
    pub level_db: Option<f32>,
    /// Audio in → label out: from the arrival of the window's last samples to the result (streaming).
    pub latency_ms: Option<f64>,
    /// Streaming: the window's newest feature frames (all of them for window 0, else the
    /// `hop_samples / hop_length` frames the hop added), row-major `[frames, bins]`, for displays.
    #[serde(skip)]
    pub spectrum: Vec<f32>,
    /// Streams with a [`LiveGain`]: the input gain, policy and level when the window completed.
    pub input: Option<InputSnapshot>,
}

/// An online certificate of a stream window, delivered by the certifier thread.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertifiedWindow {
    pub index: u64,
    pub start_s: f64,
    pub end_s: f64,
    /// The base model's label for the window (what the stream printed).
    pub label: usize,
    pub certificate: Certificate,
    /// Streams with a [`LiveGain`]: the gain and policy the certified waveform was made with.
    pub input: Option<InputSnapshot>,
}

fn result_of(
    model: &Model,
    plan: &WindowPlan,
    index: u64,
    window: &[f32],
    logits: &[f32],
    latency_ms: Option<f64>,
    input: Option<InputSnapshot>,
) -> WindowResult {
    // The central half of the window decides whether it holds sound, so short pauses between
    // words separate them even with long windows.
    let level_db = (model.card().features.kind == crate::dsp::FeatureKind::Logmel).then(|| {
        let (f, b) = (plan.frames_per_window, plan.bins);
        window[(f / 4) * b..(3 * f / 4) * b].iter().cloned().fold(f32::NEG_INFINITY, f32::max)
    });
    let mut probs = vec![0.0f32; logits.len()];
    softmax(logits, &mut probs);
    let label = argmax(&probs);
    let start_s = plan.start_s(index);
    // Streaming results carry their newest frames for displays; the batch path does not.
    let spectrum = if latency_ms.is_some() {
        let new = if index == 0 { plan.frames_per_window } else { plan.hop_frames.min(plan.frames_per_window) };
        window[(plan.frames_per_window - new) * plan.bins..plan.frames_per_window * plan.bins].to_vec()
    } else {
        Vec::new()
    };
    WindowResult {
        index,
        start_s,
        end_s: start_s + plan.window_samples as f64 / plan.sample_rate as f64,
        label,
        label_name: model.labels()[label].clone(),
        score: probs[label],
        probabilities: probs,
        logits: logits.to_vec(),
        level_db,
        latency_ms,
        spectrum,
        input,
    }
}

fn front_end_with_gain(model: &Model, g: f32) -> Result<Box<FrontEnd>, PipelineError> {
    Ok(Box::new(window::front_end_with_gain(model.card(), g)?))
}


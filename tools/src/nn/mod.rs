//! The model architectures of DESIGN.md "Models and the model card", in tch:
//!
//! * `kws-cnn`: 003 §5's log-mel CNN (four 3×3 conv blocks 32-64-128-128 with batch norm,
//!   ReLU and 2×2 max-pool, global mean, linear), input `[N, 1, 101, 64]` for 1 s at 16 kHz;
//! * `kws-rt`: a depthwise-separable variant under 5 M multiply-adds per 1 s window, for
//!   real-time certification (thousands of noisy windows per second);
//! * `resnet18`: ResNet-18 with a 1-channel stem and a width multiplier, the map bilinearly
//!   resized to 128×128 inside the model (000/001 §IV-B);
//! * `cnn2d`: 002 Table I; `cnn1d`: 002 Table II on the waveform, first layer a frozen
//!   gammatone filterbank.
//!
//! Feature models start with a one-channel batch norm that standardizes the dB map (log-mel
//! values sit around -100..+30 dB; the papers' networks assume roughly unit-scale inputs). It
//! is part of the exported graph, so the engine still feeds the raw front-end map.
//!
//! Every model is a list of [`layer::Layer`]s, which gives it its forward pass, its ONNX export
//! and its multiply-add count from one definition.

pub mod cnn1d;
pub mod cnn2d;
pub mod kws;
pub mod layer;
pub mod resnet;

use crate::error::Result;
use crate::onnx::Graph;
use layer::{export_all, forward_all, walk, Builder, Layer};
use tch::{nn, Tensor};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Arch {
    /// 003 §5's log-mel CNN: four 3×3 conv blocks (32-64-128-128 channels), about 75 M
    /// multiply-adds per 1 s window.
    KwsCnn,
    /// Depthwise-separable variant of kws-cnn, about 4.2 M multiply-adds per 1 s window (for
    /// real-time certification).
    KwsRt,
    /// Real-time variant co-designed with tract's kernels: four standard 3×3 convolutions with
    /// stride 2 (no depthwise convolution, no pooling; 16-32-48-64 channels), about 4 M
    /// multiply-adds per 1 s window.
    KwsStrided,
    /// `kws-strided` on a map whose every mel band has its mean over the window subtracted
    /// first (cepstral mean normalization, in the graph): the microphone's and the room's
    /// response, and the speaker's long-term spectral tilt, leave the input.
    KwsStridedCmn,
    /// `kws-strided` after per-band mean normalization over the window's speech frames only
    /// (those within 25 dB of its loudest frame, by mean level over the bands; in the graph):
    /// the channel still cancels, but silence, background noise and reverberant tails no longer
    /// set the means.
    KwsStridedVcmn,
    /// `kws-strided` on a cepstrally smoothed map (each frame's first 20 DCT-II coefficients
    /// kept, in the graph): the spectral envelope stays, the ripple of resolved pitch harmonics
    /// (who speaks, not what is said) goes.
    KwsStridedLift,
    /// Temporal real-time variant: the mel bands as the channels of four convolutions over time
    /// (3-5-5-3 frames, strides 2-2-2-1, 64-96-128-128 channels), about 2.3 M multiply-adds per
    /// 1 s window.
    KwsTc,
    /// ResNet-18 on the feature map resized to 128×128 inside the model (000/001).
    Resnet18,
    /// The 2-D CNN of 002 Table I on the feature map.
    Cnn2d,
    /// The 1-D CNN of 002 Table II on the waveform (frozen gammatone first layer; needs at least
    /// 1.7 s at 16 kHz: ESC clips, not 1 s keywords).
    Cnn1d,
}

impl Arch {
    pub fn name(&self) -> &'static str {
        match self {
            Arch::KwsCnn => "kws-cnn",
            Arch::KwsRt => "kws-rt",
            Arch::KwsStrided => "kws-strided",
            Arch::KwsStridedCmn => "kws-strided-cmn",
            Arch::KwsStridedVcmn => "kws-strided-vcmn",
            Arch::KwsStridedLift => "kws-strided-lift",
            Arch::KwsTc => "kws-tc",
            Arch::Resnet18 => "resnet18",
            Arch::Cnn2d => "cnn2d",
            Arch::Cnn1d => "cnn1d",
        }
    }

    /// True for models that take the waveform (`[N, 1, samples]`) rather than a feature map.
    pub fn takes_waveform(&self) -> bool {
        matches!(self, Arch::Cnn1d)
    }

    /// The in-graph resize, when the architecture has one.
    pub fn resize(&self) -> Option<[usize; 2]> {
        match self {
            Arch::Resnet18 => Some([resnet::SIDE as usize; 2]),
            _ => None,
        }
    }
}

/// Everything needed to rebuild a model (saved beside its weights).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelSpec {
    pub arch: Arch,
    pub n_classes: usize,
    /// One example's shape: `[1, frames, bins]` or `[1, samples]`.
    pub input_shape: Vec<i64>,
    /// Channel multiplier (1.0 = the paper's widths).
    pub width: f64,
    /// Sample rate of the waveform (for the gammatone filterbank of `cnn1d`).
    pub sample_rate: u32,
    /// Batch norms folded into the convolutions before them (each such convolution has a
    /// bias instead), as in the exported ONNX graph: the form of a checkpoint imported from a
    /// shipped model (`soundproof-tools import`), an exact copy of that model's function for
    /// attacks. Not for training (no batch statistics left). Absent in `train`'s checkpoints.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub folded: bool,
}

/// Scales a channel count by the width multiplier (at least 4).
pub fn scaled(c: i64, width: f64) -> i64 {
    ((c as f64 * width).round() as i64).max(4)
}

pub struct Model {
    pub spec: ModelSpec,
    pub layers: Vec<Layer>,
}

impl Model {
    /// Builds the architecture's variables under `p`.
    pub fn new(p: &nn::Path, spec: &ModelSpec) -> Result<Model> {
        let b = Builder::new(p.sub(spec.arch.name()), spec.arch.name(), &spec.input_shape).folded(spec.folded);
        let layers = match spec.arch {
            Arch::KwsCnn => kws::cnn(b, spec)?,
            Arch::KwsRt => kws::rt(b, spec)?,
            Arch::KwsStrided => kws::strided(b, spec)?,
            Arch::KwsStridedCmn => kws::strided_cmn(b, spec)?,
            Arch::KwsStridedVcmn => kws::strided_vcmn(b, spec)?,
            Arch::KwsStridedLift => kws::strided_lift(b, spec)?,
            Arch::KwsTc => kws::temporal(b, spec)?,
            Arch::Resnet18 => resnet::resnet18(b, spec)?,
            Arch::Cnn2d => cnn2d::cnn2d(b, spec)?,
            Arch::Cnn1d => cnn1d::cnn1d(b, spec)?,
        };
        Ok(Model { spec: spec.clone(), layers })
    }

    /// Logits `[N, classes]` of inputs `[N, ...input_shape]`.
    pub fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        forward_all(&self.layers, x, train)
    }

    /// Multiply-adds of one example (convolutions and linear layers).
    pub fn macs(&self) -> u64 {
        walk(&self.layers, &self.spec.input_shape).1
    }

    /// Adds the whole model to `g`, from its input; returns the logits' name.
    pub fn export(&self, g: &mut Graph) -> Result<String> {
        let x = g.input();
        export_all(&self.layers, g, &x)
    }
}

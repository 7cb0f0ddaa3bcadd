//! Keyword-spotting CNNs on log-mel maps `[N, 1, frames, mels]`.
//!
//! `kws-cnn` is 003 §5's classifier: four blocks of 3×3 convolution (padding 1), batch norm,
//! ReLU and 2×2 max-pool with 32-64-128-128 channels, a global mean over time and frequency,
//! and a linear layer; 75 M multiply-adds per 101×64 window.
//!
//! `kws-rt` is the real-time variant: a 3×3 stride-2 stem and four depthwise-separable blocks
//! (3×3 depthwise + 1×1 pointwise, each with batch norm and ReLU; strides 2, 1, 2, 1) with
//! 24-48-64-96-96 channels, a mean over time only (the 8 remaining frequency rows are kept:
//! with so small a receptive field a global mean would forget where in frequency a pattern
//! sits), linear: about 4.2 M multiply-adds per 1 s window, some 18× less than `kws-cnn`, for
//! certification at thousands of noisy windows per second.

use super::layer::{Builder, Layer};
use super::{scaled, ModelSpec};
use crate::error::Result;

pub fn cnn(mut b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    b.bn()?; // input standardization of the dB map
    for c in [32, 64, 128, 128] {
        b.conv_bn_relu(scaled(c, spec.width), 3, 1, 1, 1)?.max_pool(2, 2, 0)?;
    }
    b.global_avg_pool()?.linear(spec.n_classes as i64)?;
    Ok(b.layers)
}

pub fn rt(mut b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    let w = spec.width;
    b.bn()?; // input standardization of the dB map
    b.conv_bn_relu(scaled(24, w), 3, 2, 1, 1)?;
    for (c, stride) in [(48, 2), (64, 1), (96, 2), (96, 1)] {
        let cin = b.channels();
        b.conv_bn_relu(cin, 3, stride, 1, cin)?; // depthwise
        b.conv_bn_relu(scaled(c, w), 1, 1, 0, 1)?; // pointwise
    }
    b.time_mean_flatten()?.linear(spec.n_classes as i64)?;
    Ok(b.layers)
}

/// The temporal real-time model: the mel bands are the channels of a 1-D convolution over time
/// (Choi et al. 2019, "Temporal Convolution for Real-time Keyword Spotting on Mobile Devices"),
/// written as 2-D convolutions so that it needs no transpose: a first `3 × mels` kernel with
/// stride 2 in time spans every band (a 1-D convolution with the mels as input channels), and
/// the rest are `k × 1` kernels over time (strides 2, 2, 1; kernels 5, 5, 3; 64-96-128-128
/// channels; receptive field 43 frames), then the time mean and one linear layer. For tract this
/// is four matrix products with inner dimensions of 192-480 and short im2col gathers (the 2-D
/// `kws-strided`'s first convolution, with one input channel, spends a third of its time
/// gathering a 9-long patch per output): about 2.3 M multiply-adds per 1 s window.
pub fn temporal(mut b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    let w = spec.width;
    let mels = *spec.input_shape.last().unwrap_or(&1);
    b.bn()?; // input standardization of the dB map
    b.conv_rect_bn_relu(scaled(64, w), [3, mels], [2, 1])?;
    for (c, k, stride) in [(96, 5, 2), (128, 5, 2), (128, 3, 1)] {
        b.conv_rect_bn_relu(scaled(c, w), [k, 1], [stride, 1])?;
    }
    b.global_avg_pool()?.linear(spec.n_classes as i64)?;
    Ok(b.layers)
}

/// The real-time model co-designed with tract: standard 3×3 convolutions, each with stride 2
/// and no padding (tract runs them through its im2col and matrix-multiply kernels; it has no
/// fast path for depthwise convolutions, which took 58 % of `kws-rt`'s time, max-pooling is a
/// separate pass, and padding a separate Pad op), channel counts in multiples of 16, then the
/// time mean and one linear layer.
pub fn strided(b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    strided_body(b, spec, Centre::None)
}

/// `kws-strided` after per-band cepstral mean normalization of the window (each mel band minus
/// its mean over the window's frames, in the graph; no weights).
pub fn strided_cmn(b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    strided_body(b, spec, Centre::Window)
}

/// `kws-strided` after per-band mean normalization over the speech frames of the window: the
/// frames whose mean level over the bands is within [`SPEECH_FLOOR_DB`] of the loudest one.
pub fn strided_vcmn(b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    strided_body(b, spec, Centre::Speech)
}

/// `kws-strided` on a cepstrally smoothed map: each frame keeps its first [`LIFTER_KEEP`]
/// DCT-II coefficients (in the graph, one constant `MatMul`; the map keeps its shape).
pub fn strided_lift(b: Builder, spec: &ModelSpec) -> Result<Vec<Layer>> {
    strided_body(b, spec, Centre::Lifter(LIFTER_KEEP))
}

/// Quefrencies `kws-strided-lift` keeps of a 64-band log-mel frame: the spectral envelope at
/// about 3 bands' resolution (a cosine period of at least 6.4 bands), below the ripple of the
/// pitch harmonics that 16-kHz slaney mel bands (≈ 47 Hz wide under 1 kHz) resolve for voices
/// under ≈ 300 Hz; the same share of the bands (≈ 1/3) that 13 MFCCs keep of 40.
pub const LIFTER_KEEP: i64 = 20;

/// How far below the window's loudest frame (mean level over the mel bands, dB) a frame still
/// counts as speech for `kws-strided-vcmn`'s band means.
pub const SPEECH_FLOOR_DB: f64 = 25.0;

enum Centre {
    None,
    Window,
    Speech,
    /// Not a centring: cepstral smoothing keeping this many coefficients.
    Lifter(i64),
}

fn strided_body(mut b: Builder, spec: &ModelSpec, centre: Centre) -> Result<Vec<Layer>> {
    let w = spec.width;
    match centre {
        Centre::None => {}
        Centre::Window => {
            b.time_centre()?;
        }
        Centre::Speech => {
            b.speech_centre(SPEECH_FLOOR_DB)?;
        }
        Centre::Lifter(keep) => {
            b.lifter(keep)?;
        }
    }
    b.bn()?; // input standardization of the dB map
    for c in [16, 32, 48, 64] {
        b.conv_bn_relu(scaled(c, w), 3, 2, 0, 1)?;
    }
    b.time_mean_flatten()?.linear(spec.n_classes as i64)?;
    Ok(b.layers)
}

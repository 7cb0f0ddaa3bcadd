//! `no_std`, heap-free int8 inference of QLinear ONNX models: the kernels `firmware-sim` runs on
//! a Cortex-M4, equal bit for bit to tract's integer execution of the same graph.
//!
//! One op per file, as tract keeps them: [`qlinear_conv`] (regular, grouped and depthwise,
//! stride, padding), [`qlinear_matmul`], [`maxpool`] (u8), [`mean`] (ReduceMean / global
//! average pooling between a DequantizeLinear and a QuantizeLinear), [`quantize`]
//! (QuantizeLinear with an optional BatchNormalization in front, DequantizeLinear with an
//! optional bias after) and [`requant`], the arithmetic they share.
//!
//! A model is a [`Graph`]: a fixed schedule of [`Step`]s, each reading and writing `u8`
//! activations at planned offsets of one arena whose size is known ahead of time. A generator
//! (`firmware-sim`) reads the ONNX file and emits the graph as Rust `static`s for the firmware,
//! or builds the same graph in memory for the host twin; both run [`Graph::run`].
//!
//! What "equal to tract" means here, op by op (tract 0.23, read from its source and checked by
//! `firmware-sim`'s tests on real windows):
//! * QuantizeLinear: `clamp(round_half_even(x · (1/scale)) + zp)`, the reciprocal in f32.
//! * BatchNormalization: `inter + slope · x` with `slope = γ / sqrt(var + ε)` and
//!   `inter = β - (mean · γ) / sqrt(var + ε)`, in f32 (the generator computes both as tract).
//! * QLinearConv / QLinearMatMul: exact i32 accumulation of `(x - x0)(w - w0)` plus the bias
//!   (padding holds `x0`), then requantization by `s = (w_scale · x_scale) / y_scale` (f32):
//!   a per-channel `s` is applied in f32 as `round_half_even(|acc| · s) · sign(acc)`; a
//!   per-tensor `s` in fixed point (a Q0.31 multiplier and a shift, ties to even), as tract's
//!   `Scaler`; then `+ y0`, saturated to `0..=255`.
//! * DequantizeLinear: `(q - zp) as f32 · scale`.
pub mod graph;
pub mod maxpool;
pub mod mean;
pub mod qlinear_conv;
pub mod qlinear_matmul;
pub mod quantize;
pub mod requant;
pub mod smlad;

pub use graph::{Buf, Graph, Op, Step};
pub use maxpool::MaxPool;
pub use mean::{Mean, MeanAxes};
pub use qlinear_conv::QLinearConv;
pub use qlinear_matmul::QLinearMatMul;
pub use quantize::{Dequantize, Quantize};
pub use requant::Requant;

/// Largest `(c_in / group) · kh · kw` a convolution may have (one im2col column on the stack,
/// as `i16`: 2.3 KiB).
pub const MAX_COLUMN: usize = 1152;

/// Errors of the kernels: a graph whose buffers disagree with its ops. A generated graph is
/// checked once ([`Graph::check`]), so a run cannot fail afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NnError {
    /// A buffer of step `step` has the wrong length.
    Length { step: usize, what: &'static str, expected: usize, got: usize },
    /// A buffer of step `step` lies outside the arena.
    Arena { step: usize, end: usize, arena: usize },
    /// The input and output of step `step` overlap in the arena.
    Overlap { step: usize },
    /// An op parameter the kernels do not support.
    Unsupported { step: usize, what: &'static str },
}

impl core::fmt::Display for NnError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            NnError::Length { step, what, expected, got } => {
                write!(f, "step {step}: {what} has {got} values, expected {expected}")
            }
            NnError::Arena { step, end, arena } => {
                write!(f, "step {step}: a buffer ends at byte {end}, past the arena of {arena} bytes")
            }
            NnError::Overlap { step } => write!(f, "step {step}: input and output overlap in the arena"),
            NnError::Unsupported { step, what } => write!(f, "step {step}: unsupported {what}"),
        }
    }
}

impl core::error::Error for NnError {}

//! A model as a fixed schedule over one statically planned arena.
//!
//! The first step quantizes the f32 input into the arena, the last dequantizes into the
//! caller's f32 logits; every step in between reads one u8 buffer of the arena and writes
//! another that does not overlap it. The generator plans the offsets by lifetime (a buffer's
//! bytes are reused once its last reader has run), so the arena's size is a constant of the
//! generated model and a run never allocates.

use super::{Dequantize, Mean, MaxPool, NnError, QLinearConv, QLinearMatMul, Quantize};

/// A byte range of the arena.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Buf {
    pub offset: usize,
    pub len: usize,
}

impl Buf {
    pub const fn end(&self) -> usize {
        self.offset + self.len
    }
    fn overlaps(&self, o: &Buf) -> bool {
        self.offset < o.end() && o.offset < self.end()
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op<'a> {
    Quantize(Quantize<'a>),
    Conv(QLinearConv<'a>),
    MaxPool(MaxPool),
    Mean(Mean),
    MatMul(QLinearMatMul<'a>),
    Dequantize(Dequantize<'a>),
}

impl Op<'_> {
    pub fn name(&self) -> &'static str {
        match self {
            Op::Quantize(_) => "quantize",
            Op::Conv(c) if c.group > 1 && c.group == c.c_in => "conv-depthwise",
            Op::Conv(_) => "conv",
            Op::MaxPool(_) => "maxpool",
            Op::Mean(_) => "mean",
            Op::MatMul(_) => "matmul",
            Op::Dequantize(_) => "dequantize",
        }
    }
    /// Multiply-accumulates of one run (0 for ops without).
    pub fn macs(&self) -> usize {
        match self {
            Op::Conv(c) => c.macs(),
            Op::MatMul(m) => m.macs(),
            _ => 0,
        }
    }
}

/// One op and where it reads and writes. `input` of the first step and `output` of the last
/// are unused (the caller's f32 input and logits).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Step<'a> {
    pub op: Op<'a>,
    pub input: Buf,
    pub output: Buf,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Graph<'a> {
    pub steps: &'a [Step<'a>],
    /// Bytes of arena a run needs.
    pub arena_len: usize,
    /// f32 values of the input (e.g. 1 × 101 × 64).
    pub input_len: usize,
    pub n_classes: usize,
}

fn split(arena: &mut [u8], input: Buf, output: Buf) -> (&[u8], &mut [u8]) {
    if input.offset < output.offset {
        let (a, b) = arena.split_at_mut(output.offset);
        (&a[input.offset..input.end()], &mut b[..output.len])
    } else {
        let (a, b) = arena.split_at_mut(input.offset);
        (&b[..input.len], &mut a[output.offset..output.end()])
    }
}

impl<'a> Graph<'a> {
    /// Checks the schedule once: a quantize first, a dequantize last, buffers inside the arena
    /// and not overlapping, each buffer the length its op reads or writes, op parameters the
    /// kernels support. After it, [`run`](Self::run) cannot fail or panic.
    pub fn check(&self) -> Result<(), NnError> {
        let n = self.steps.len();
        let unsupported = |step, what| Err(NnError::Unsupported { step, what });
        if n < 2 {
            return unsupported(0, "graph of fewer than two steps");
        }
        for (i, s) in self.steps.iter().enumerate() {
            let len = |what, expected: usize, got: usize| {
                if expected == got {
                    Ok(())
                } else {
                    Err(NnError::Length { step: i, what, expected, got })
                }
            };
            let (first, last) = (i == 0, i + 1 == n);
            match (&s.op, first, last) {
                (Op::Quantize(q), true, false) => {
                    len("input", self.input_len, q.len())?;
                    len("output", q.len(), s.output.len)?;
                }
                (Op::Dequantize(d), false, true) => {
                    len("input", d.len, s.input.len)?;
                    len("logits", self.n_classes, d.len)?;
                    if let Some(b) = d.bias {
                        len("bias", d.len, b.len())?;
                    }
                }
                (Op::Conv(c), false, false) => {
                    c.check(i)?;
                    len("input", c.input_len(), s.input.len)?;
                    len("output", c.output_len(), s.output.len)?;
                }
                (Op::MaxPool(p), false, false) => {
                    len("input", p.input_len(), s.input.len)?;
                    len("output", p.output_len(), s.output.len)?;
                }
                (Op::Mean(m), false, false) => {
                    len("input", m.input_len(), s.input.len)?;
                    len("output", m.output_len(), s.output.len)?;
                }
                (Op::MatMul(m), false, false) => {
                    m.check(i)?;
                    len("input", m.k, s.input.len)?;
                    len("output", m.n, s.output.len)?;
                }
                _ => return unsupported(i, "op at this position (quantize first, dequantize last)"),
            }
            for (b, used) in [(s.input, !first), (s.output, !last)] {
                if used && b.end() > self.arena_len {
                    return Err(NnError::Arena { step: i, end: b.end(), arena: self.arena_len });
                }
            }
            if !first && !last && s.input.overlaps(&s.output) {
                return Err(NnError::Overlap { step: i });
            }
            if !first && self.steps[i - 1].output != s.input {
                return unsupported(i, "input that is not the previous step's output");
            }
        }
        Ok(())
    }

    /// The quantizer of the input: the firmware applies it to each feature frame as it arrives
    /// and keeps the window quantized (4× less memory than f32).
    pub fn input_quantizer(&self) -> &Quantize<'a> {
        match &self.steps[0].op {
            Op::Quantize(q) => q,
            _ => unreachable!("checked: the first step quantizes"),
        }
    }

    /// Where the quantized input lives in the arena.
    pub fn input_buf(&self) -> Buf {
        self.steps[0].output
    }

    /// Runs the whole model on f32 input. `arena` must hold at least `arena_len` bytes.
    pub fn run(&self, input: &[f32], arena: &mut [u8], logits: &mut [f32]) {
        let b = self.input_buf();
        self.input_quantizer().run_at(0, input, &mut arena[b.offset..b.end()]);
        self.run_quantized(arena, logits, |_| {});
    }

    /// Runs every step after the input quantization, the quantized input being in place at
    /// [`input_buf`](Self::input_buf); `after_step(i)` is called after step `i` (for profiling).
    pub fn run_quantized(&self, arena: &mut [u8], logits: &mut [f32], mut after_step: impl FnMut(usize)) {
        let n = self.steps.len();
        for (i, s) in self.steps.iter().enumerate().skip(1) {
            match &s.op {
                Op::Dequantize(d) if i + 1 == n => d.run(&arena[s.input.offset..s.input.end()], logits),
                op => {
                    let (x, y) = split(arena, s.input, s.output);
                    match op {
                        Op::Conv(c) => c.run(x, y),
                        Op::MaxPool(p) => p.run(x, y),
                        Op::Mean(m) => m.run(x, y),
                        Op::MatMul(m) => m.run(x, y),
                        Op::Quantize(_) | Op::Dequantize(_) => {}
                    }
                }
            }
            after_step(i);
        }
    }

    /// Multiply-accumulates of one inference.
    pub fn macs(&self) -> usize {
        self.steps.iter().map(|s| s.op.macs()).sum()
    }

    /// Weight and parameter bytes (what the model puts in flash; convolution weights are
    /// stored widened to i16, see [`QLinearConv`]).
    pub fn parameter_bytes(&self) -> usize {
        self.steps
            .iter()
            .map(|s| match &s.op {
                Op::Conv(c) => 2 * c.weights.len() + 4 * c.bias.len() + 4 * c.requant.channels().unwrap_or(0),
                Op::MatMul(m) => m.weights.len() + m.w_zero.len() + 4 * m.requant.channels().unwrap_or(0),
                Op::Quantize(q) => q.affine.map_or(0, |(a, b)| 4 * (a.len() + b.len())),
                Op::Dequantize(d) => d.bias.map_or(0, |b| 4 * b.len()),
                _ => 0,
            })
            .sum()
    }
}

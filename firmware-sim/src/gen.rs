//! The generator: a QLinear ONNX model + its card → an [`nn::Graph`] (weights, fixed op
//! schedule, statically planned arena), in memory for the host twin or as Rust source of
//! `static`s for the firmware. Both forms come from the same [`CompiledModel`], so the twin and
//! the firmware run the same schedule on the same bytes.
//!
//! Supported graphs: the chain the `quantize --precision int8` export writes (optional
//! BatchNormalization → QuantizeLinear → QLinearConv / MaxPool … → DequantizeLinear →
//! ReduceMean over H or GlobalAveragePool → Flatten → QuantizeLinear → QLinearMatMul →
//! DequantizeLinear → Add). Anything else is refused with the node that does not fit.

use anyhow::{anyhow, bail, ensure, Context, Result};
use soundproof::model::ModelCard;
use soundproof::nn::{self, Buf, Dequantize, Graph, MaxPool, Mean, MeanAxes, QLinearConv, QLinearMatMul, Quantize, Requant, Step};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;
use tract_onnx::pb::{NodeProto, TensorProto};
use tract_onnx::prelude::Framework;

#[derive(Debug, Clone, PartialEq)]
pub enum IrRequant {
    PerChannel(Vec<f32>),
    FixedPoint { mult: Option<i32>, shift: i32 },
}

impl IrRequant {
    /// tract's choice: a factor that is the same for every channel is applied in fixed point
    /// (`QScale`), otherwise per channel in f32 (`Scale`).
    fn of(scales: Vec<f32>) -> IrRequant {
        if scales.iter().all(|s| s.to_bits() == scales[0].to_bits()) {
            match Requant::fixed_point(scales[0]) {
                Requant::FixedPoint { mult, shift } => IrRequant::FixedPoint { mult, shift },
                Requant::PerChannel(_) => unreachable!(),
            }
        } else {
            IrRequant::PerChannel(scales)
        }
    }
    fn view(&self) -> Requant<'_> {
        match self {
            IrRequant::PerChannel(s) => Requant::PerChannel(s),
            IrRequant::FixedPoint { mult, shift } => Requant::FixedPoint { mult: *mult, shift: *shift },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum IrOp {
    Quantize { c: usize, plane: usize, affine: Option<(Vec<f32>, Vec<f32>)>, inv_scale: f32, zero: u8 },
    Conv {
        c_in: usize,
        h_in: usize,
        w_in: usize,
        c_out: usize,
        h_out: usize,
        w_out: usize,
        kernel: [usize; 2],
        stride: [usize; 2],
        pad: [usize; 2],
        group: usize,
        /// `w - w0` widened to i16 (what [`QLinearConv`] runs on).
        weights: Vec<i16>,
        bias: Vec<i32>,
        x_zero: u8,
        y_zero: u8,
        requant: IrRequant,
    },
    MaxPool(MaxPool),
    Mean(Mean),
    MatMul { k: usize, n: usize, weights: Vec<i8>, w_zero: Vec<i8>, x_zero: u8, y_zero: u8, requant: IrRequant },
    Dequantize { len: usize, scale: f32, zero: u8, bias: Option<Vec<f32>> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct IrStep {
    /// The ONNX output this step produces.
    pub name: String,
    pub op: IrOp,
    pub input: Buf,
    pub output: Buf,
}

/// A model compiled ahead of time.
#[derive(Debug, Clone)]
pub struct CompiledModel {
    pub card: ModelCard,
    pub steps: Vec<IrStep>,
    pub arena_len: usize,
    pub input_len: usize,
    pub n_classes: usize,
}

impl CompiledModel {
    /// Borrowed steps, for a [`Graph`].
    pub fn steps(&self) -> Vec<Step<'_>> {
        self.steps.iter().map(|s| Step { op: op_view(&s.op), input: s.input, output: s.output }).collect()
    }

    pub fn graph<'a>(&self, steps: &'a [Step<'a>]) -> Graph<'a> {
        Graph { steps, arena_len: self.arena_len, input_len: self.input_len, n_classes: self.n_classes }
    }
}

fn op_view(op: &IrOp) -> nn::Op<'_> {
    match op {
        IrOp::Quantize { c, plane, affine, inv_scale, zero } => nn::Op::Quantize(Quantize {
            c: *c,
            plane: *plane,
            affine: affine.as_ref().map(|(a, b)| (a.as_slice(), b.as_slice())),
            inv_scale: *inv_scale,
            zero: *zero,
        }),
        IrOp::Conv { c_in, h_in, w_in, c_out, h_out, w_out, kernel, stride, pad, group, weights, bias, x_zero, y_zero, requant } => {
            nn::Op::Conv(QLinearConv {
                c_in: *c_in,
                h_in: *h_in,
                w_in: *w_in,
                c_out: *c_out,
                h_out: *h_out,
                w_out: *w_out,
                kernel: *kernel,
                stride: *stride,
                pad: *pad,
                group: *group,
                weights,
                bias,
                x_zero: *x_zero,
                y_zero: *y_zero,
                requant: requant.view(),
            })
        }
        IrOp::MaxPool(p) => nn::Op::MaxPool(*p),
        IrOp::Mean(m) => nn::Op::Mean(*m),
        IrOp::MatMul { k, n, weights, w_zero, x_zero, y_zero, requant } => nn::Op::MatMul(QLinearMatMul {
            k: *k,
            n: *n,
            weights,
            w_zero,
            x_zero: *x_zero,
            y_zero: *y_zero,
            requant: requant.view(),
        }),
        IrOp::Dequantize { len, scale, zero, bias } => {
            nn::Op::Dequantize(Dequantize { len: *len, scale: *scale, zero: *zero, bias: bias.as_deref() })
        }
    }
}

/// An initializer, decoded.
#[derive(Debug, Clone)]
enum Const {
    F32(Vec<f32>),
    U8(Vec<u8>),
    I8(Vec<i8>),
    I32(Vec<i32>),
}

struct Consts<'m> {
    by_name: HashMap<&'m str, (&'m TensorProto, Const)>,
}

fn decode(t: &TensorProto) -> Result<Const> {
    let raw = &t.raw_data;
    Ok(match t.data_type {
        1 if !raw.is_empty() => Const::F32(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
        1 => Const::F32(t.float_data.clone()),
        2 if !raw.is_empty() => Const::U8(raw.clone()),
        2 => Const::U8(t.int32_data.iter().map(|&v| v as u8).collect()),
        3 if !raw.is_empty() => Const::I8(raw.iter().map(|&v| v as i8).collect()),
        3 => Const::I8(t.int32_data.iter().map(|&v| v as i8).collect()),
        6 if !raw.is_empty() => Const::I32(raw.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()),
        6 => Const::I32(t.int32_data.clone()),
        dt => bail!("initializer {}: ONNX data type {dt} is not supported", t.name),
    })
}

impl<'m> Consts<'m> {
    fn get(&self, name: &str) -> Result<&Const> {
        self.by_name.get(name).map(|(_, c)| c).ok_or_else(|| anyhow!("{name} is not a constant (initializer)"))
    }
    fn f32s(&self, name: &str) -> Result<Vec<f32>> {
        match self.get(name)? {
            Const::F32(v) => Ok(v.clone()),
            c => bail!("{name}: expected f32, found {c:?}"),
        }
    }
    fn f32(&self, name: &str) -> Result<f32> {
        let v = self.f32s(name)?;
        ensure!(v.len() == 1, "{name}: expected a scalar, found {} values", v.len());
        Ok(v[0])
    }
    fn u8(&self, name: &str) -> Result<u8> {
        match self.get(name)? {
            Const::U8(v) if v.len() == 1 => Ok(v[0]),
            c => bail!("{name}: expected a u8 scalar (uint8 activations), found {c:?}"),
        }
    }
    fn i8s(&self, name: &str) -> Result<Vec<i8>> {
        match self.get(name)? {
            Const::I8(v) => Ok(v.clone()),
            c => bail!("{name}: expected int8 values, found {:?}", std::mem::discriminant(c)),
        }
    }
    fn i32s(&self, name: &str) -> Result<Vec<i32>> {
        match self.get(name)? {
            Const::I32(v) => Ok(v.clone()),
            c => bail!("{name}: expected int32 values, found {:?}", std::mem::discriminant(c)),
        }
    }
    fn dims(&self, name: &str) -> Result<Vec<usize>> {
        let (t, _) = self.by_name.get(name).ok_or_else(|| anyhow!("{name} is not a constant"))?;
        Ok(t.dims.iter().map(|&d| d as usize).collect())
    }
}

fn ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    node.attribute.iter().find(|a| a.name == name).map(|a| if a.ints.is_empty() { vec![a.i] } else { a.ints.clone() })
}
fn float_attr(node: &NodeProto, name: &str) -> Option<f32> {
    node.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

/// BatchNormalization folded as tract 0.23 folds it (`tract-onnx` `BatchNorm::to_slope_and_inter`):
/// `den = sqrt(var + ε)`, `slope = γ / den`, `inter = β - (mean · γ) / den`, all in f32.
pub fn fold_batch_norm(gamma: &[f32], beta: &[f32], mean: &[f32], var: &[f32], eps: f32) -> (Vec<f32>, Vec<f32>) {
    let den: Vec<f32> = var.iter().map(|v| (v + eps).sqrt()).collect();
    let slope = gamma.iter().zip(&den).map(|(g, d)| g / d).collect();
    let inter = beta.iter().zip(mean).zip(gamma).zip(&den).map(|(((b, m), g), d)| b - (m * g) / d).collect();
    (slope, inter)
}

/// Activation shape through the chain.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Chw(usize, usize, usize),
    Flat(usize),
}

impl Shape {
    fn len(&self) -> usize {
        match *self {
            Shape::Chw(c, h, w) => c * h * w,
            Shape::Flat(n) => n,
        }
    }
}

/// What the current activation is.
#[derive(Debug, Clone)]
enum Act {
    /// The f32 model input, possibly through a folded BatchNormalization.
    Input { affine: Option<(Vec<f32>, Vec<f32>)> },
    /// u8 activations with this scale and zero point.
    Quant { scale: f32, zero: u8 },
    /// f32, dequantized from (scale, zero).
    Dequant { scale: f32, zero: u8 },
    /// f32 mean of dequantized values, waiting for its QuantizeLinear.
    Mean { x_scale: f32, x_zero: u8, axes: MeanAxes, chw: (usize, usize, usize) },
    /// f32 logits after the final dequantization (and bias).
    Logits,
}

/// Compiles the model at `path`.
pub fn compile(path: &Path) -> Result<CompiledModel> {
    let onnx = soundproof::model::onnx();
    let proto = onnx.proto_model_for_path(path).map_err(|e| anyhow!("{}: cannot read the ONNX model: {e:#}", path.display()))?;
    let card = ModelCard::from_metadata(proto.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str())))
        .with_context(|| format!("{}: model card", path.display()))?;
    let graph = proto.graph.as_ref().ok_or_else(|| anyhow!("{}: no graph", path.display()))?;
    let mut by_name = HashMap::new();
    for t in &graph.initializer {
        by_name.insert(t.name.as_str(), (t, decode(t)?));
    }
    let consts = Consts { by_name };
    ensure!(card.input_shape.len() == 4 && card.input_shape[1] >= 1, "input shape {:?}: expected [N, C, H, W]", card.input_shape);
    let (c0, h0, w0) = (card.input_shape[1] as usize, card.input_shape[2] as usize, card.input_shape[3] as usize);
    let mut shape = Shape::Chw(c0, h0, w0);
    let mut act = Act::Input { affine: None };
    let mut current = card.input_name.clone();
    let mut ops: Vec<(String, IrOp, usize, usize)> = Vec::new(); // (name, op, in_len, out_len)
    for node in &graph.node {
        let here = || format!("node {} ({})", node.name, node.op_type);
        ensure!(node.input.first() == Some(&current), "{}: reads {:?}, not the previous output {current}: only chains are supported", here(), node.input.first());
        let out = node.output.first().cloned().ok_or_else(|| anyhow!("{}: no output", here()))?;
        let i = |k: usize| node.input.get(k).map(String::as_str).ok_or_else(|| anyhow!("{}: input {k} missing", here()));
        match (node.op_type.as_str(), &act) {
            ("BatchNormalization", Act::Input { affine: None }) => {
                let Shape::Chw(c, _, _) = shape else { bail!("{}: expected a [C, H, W] input", here()) };
                let eps = float_attr(node, "epsilon").unwrap_or(1e-5);
                let (g, b, m, v) = (consts.f32s(i(1)?)?, consts.f32s(i(2)?)?, consts.f32s(i(3)?)?, consts.f32s(i(4)?)?);
                ensure!(g.len() == c && b.len() == c && m.len() == c && v.len() == c, "{}: parameters are not per channel", here());
                act = Act::Input { affine: Some(fold_batch_norm(&g, &b, &m, &v, eps)) };
            }
            ("QuantizeLinear", Act::Input { affine }) => {
                let Shape::Chw(c, h, w) = shape else { unreachable!() };
                let scale = consts.f32(i(1)?)?;
                let zero = consts.u8(i(2)?)?;
                ops.push((out.clone(), IrOp::Quantize { c, plane: h * w, affine: affine.clone(), inv_scale: scale.recip(), zero }, 0, shape.len()));
                act = Act::Quant { scale, zero };
            }
            ("QLinearConv", Act::Quant { scale, zero }) => {
                let Shape::Chw(c_in, h_in, w_in) = shape else { bail!("{}: input is not [C, H, W]", here()) };
                ensure!(consts.f32(i(1)?)?.to_bits() == scale.to_bits() && consts.u8(i(2)?)? == *zero, "{}: x scale/zero point differ from the producer's", here());
                let wdims = consts.dims(i(3)?)?;
                ensure!(wdims.len() == 4, "{}: weights are not OIHW", here());
                let weights = consts.i8s(i(3)?)?;
                let w_scale = consts.f32s(i(4)?)?;
                let w_zero = consts.i8s(i(5)?)?;
                let y_scale = consts.f32(i(6)?)?;
                let y_zero = consts.u8(i(7)?)?;
                let c_out = wdims[0];
                let bias = if node.input.len() > 8 && !node.input[8].is_empty() { consts.i32s(i(8)?)? } else { vec![0; c_out] };
                let group = ints(node, "group").map_or(1, |g| g[0] as usize);
                let kernel = [wdims[2], wdims[3]];
                let stride = ints(node, "strides").map_or([1, 1], |s| [s[0] as usize, s[1] as usize]);
                let dil = ints(node, "dilations").unwrap_or(vec![1, 1]);
                ensure!(dil.iter().all(|&d| d == 1), "{}: dilation is not supported", here());
                ensure!(node.attribute.iter().all(|a| a.name != "auto_pad" || a.s.is_empty() || a.s == b"NOTSET"), "{}: auto_pad is not supported", here());
                let pads = ints(node, "pads").unwrap_or(vec![0, 0, 0, 0]);
                ensure!(c_in == wdims[1] * group, "{}: {} input channels, weights expect {} × group {group}", here(), c_in, wdims[1]);
                let h_out = (h_in + pads[0] as usize + pads[2] as usize - kernel[0]) / stride[0] + 1;
                let w_out = (w_in + pads[1] as usize + pads[3] as usize - kernel[1]) / stride[1] + 1;
                // tract: combine_scales = (k_scale · x_scale) / y_scale, in f32.
                let per: Vec<f32> = (0..c_out).map(|c| (w_scale[if w_scale.len() == 1 { 0 } else { c }] * scale) / y_scale).collect();
                ensure!(w_zero.len() == 1 || w_zero.len() == c_out, "{}: {} weight zero points for {c_out} output channels", here(), w_zero.len());
                ensure!(weights.len() % c_out == 0, "{}: {} weights for {c_out} output channels", here(), weights.len());
                let per_channel = weights.len() / c_out;
                // The kernels multiply w - w0 in i16 (SMLAD on the Cortex-M4; see QLinearConv).
                let weights: Vec<i16> = weights
                    .iter()
                    .enumerate()
                    .map(|(j, &w)| w as i16 - w_zero[if w_zero.len() == 1 { 0 } else { j / per_channel }] as i16)
                    .collect();
                let op = IrOp::Conv {
                    c_in, h_in, w_in, c_out, h_out, w_out, kernel, stride,
                    pad: [pads[0] as usize, pads[1] as usize], group, weights, bias, x_zero: *zero, y_zero, requant: IrRequant::of(per),
                };
                shape = Shape::Chw(c_out, h_out, w_out);
                ops.push((out.clone(), op, c_in * h_in * w_in, shape.len()));
                act = Act::Quant { scale: y_scale, zero: y_zero };
            }
            ("MaxPool", Act::Quant { .. }) => {
                let Shape::Chw(c, h_in, w_in) = shape else { bail!("{}: input is not [C, H, W]", here()) };
                let k = ints(node, "kernel_shape").ok_or_else(|| anyhow!("{}: no kernel_shape", here()))?;
                let s = ints(node, "strides").unwrap_or(vec![1, 1]);
                let p = ints(node, "pads").unwrap_or(vec![0, 0, 0, 0]);
                ensure!(ints(node, "ceil_mode").is_none_or(|c| c[0] == 0), "{}: ceil_mode is not supported", here());
                let h_out = (h_in + p[0] as usize + p[2] as usize - k[0] as usize) / s[0] as usize + 1;
                let w_out = (w_in + p[1] as usize + p[3] as usize - k[1] as usize) / s[1] as usize + 1;
                let mp = MaxPool {
                    c, h_in, w_in, h_out, w_out,
                    kernel: [k[0] as usize, k[1] as usize], stride: [s[0] as usize, s[1] as usize], pad: [p[0] as usize, p[1] as usize],
                };
                shape = Shape::Chw(c, h_out, w_out);
                ops.push((out.clone(), IrOp::MaxPool(mp), c * h_in * w_in, shape.len()));
            }
            ("DequantizeLinear", Act::Quant { scale, zero }) => {
                ensure!(consts.f32(i(1)?)?.to_bits() == scale.to_bits() && consts.u8(i(2)?)? == *zero, "{}: scale/zero point differ from the producer's", here());
                act = Act::Dequant { scale: *scale, zero: *zero };
            }
            ("ReduceMean" | "GlobalAveragePool", Act::Dequant { scale, zero }) => {
                let Shape::Chw(c, h, w) = shape else { bail!("{}: input is not [C, H, W]", here()) };
                let axes = if node.op_type == "GlobalAveragePool" {
                    shape = Shape::Chw(c, 1, 1);
                    MeanAxes::HeightWidth
                } else {
                    let ax = ints(node, "axes").ok_or_else(|| anyhow!("{}: axes as an input are not supported", here()))?;
                    let keep = ints(node, "keepdims").map_or(1, |k| k[0]);
                    match (ax.as_slice(), keep) {
                        ([2] | [-2], 0) => {
                            shape = Shape::Chw(c, 1, w);
                            MeanAxes::Height
                        }
                        ([2, 3] | [-2, -1], _) => {
                            shape = Shape::Chw(c, 1, 1);
                            MeanAxes::HeightWidth
                        }
                        _ => bail!("{}: mean over axes {ax:?} (keepdims {keep}) is not supported", here()),
                    }
                };
                act = Act::Mean { x_scale: *scale, x_zero: *zero, axes, chw: (c, h, w) };
            }
            ("Flatten" | "Reshape", Act::Mean { .. }) => {
                shape = Shape::Flat(shape.len());
            }
            ("QuantizeLinear", Act::Mean { x_scale, x_zero, axes, chw }) => {
                let y_scale = consts.f32(i(1)?)?;
                let y_zero = consts.u8(i(2)?)?;
                let (c, h, w) = *chw;
                let m = Mean { c, h, w, axes: *axes, x_scale: *x_scale, x_zero: *x_zero, y_inv_scale: y_scale.recip(), y_zero };
                ops.push((out.clone(), IrOp::Mean(m), c * h * w, m.output_len()));
                shape = Shape::Flat(m.output_len());
                act = Act::Quant { scale: y_scale, zero: y_zero };
            }
            ("QLinearMatMul", Act::Quant { scale, zero }) => {
                ensure!(consts.f32(i(1)?)?.to_bits() == scale.to_bits() && consts.u8(i(2)?)? == *zero, "{}: a scale/zero point differ from the producer's", here());
                let bd = consts.dims(i(3)?)?;
                ensure!(bd.len() == 2 && bd[0] == shape.len(), "{}: weights {bd:?} do not take {} inputs", here(), shape.len());
                let (k, n) = (bd[0], bd[1]);
                let weights = consts.i8s(i(3)?)?;
                let b_scale = consts.f32s(i(4)?)?;
                let w_zero = consts.i8s(i(5)?)?;
                let y_scale = consts.f32(i(6)?)?;
                let y_zero = consts.u8(i(7)?)?;
                let per: Vec<f32> = (0..n).map(|j| (*scale * b_scale[if b_scale.len() == 1 { 0 } else { j }]) / y_scale).collect();
                ops.push((out.clone(), IrOp::MatMul { k, n, weights, w_zero, x_zero: *zero, y_zero, requant: IrRequant::of(per) }, k, n));
                shape = Shape::Flat(n);
                act = Act::Quant { scale: y_scale, zero: y_zero };
            }
            ("Add", Act::Dequant { scale, zero }) => {
                let bias = consts.f32s(i(1)?)?;
                ensure!(bias.len() == shape.len(), "{}: bias of {} values for {} outputs", here(), bias.len(), shape.len());
                ops.push((out.clone(), IrOp::Dequantize { len: shape.len(), scale: *scale, zero: *zero, bias: Some(bias) }, shape.len(), 0));
                act = Act::Logits;
            }
            (op, _) => bail!("{}: op {op} after {act:?} is not supported by the int8 firmware kernels", here()),
        }
        current = out;
    }
    // A graph that ends on its DequantizeLinear has no bias step yet.
    if let Act::Dequant { scale, zero } = act {
        ops.push((current.clone(), IrOp::Dequantize { len: shape.len(), scale, zero, bias: None }, shape.len(), 0));
        act = Act::Logits;
    }
    ensure!(matches!(act, Act::Logits), "the graph does not end in dequantized logits (ends in {act:?})");
    ensure!(current == card.output_name, "the chain ends in {current}, the card's output is {}", card.output_name);
    let n_classes = shape.len();
    ensure!(n_classes == card.labels.len(), "{n_classes} outputs, the card lists {} labels", card.labels.len());

    ensure!(ops.len() >= 2, "the graph has {} quantized steps, expected at least a quantize and a dequantize", ops.len());
    // Arena plan: buffer i (the output of step i) lives from step i to step i+1, its reader.
    let lens: Vec<usize> = ops.iter().map(|o| o.3).collect();
    let (offsets, arena_len) = plan_arena(&lens[..lens.len() - 1]);
    let mut steps = Vec::with_capacity(ops.len());
    for (k, (name, op, in_len, out_len)) in ops.into_iter().enumerate() {
        let input = if k == 0 { Buf { offset: 0, len: 0 } } else { Buf { offset: offsets[k - 1], len: in_len } };
        let output = if out_len == 0 { Buf { offset: 0, len: 0 } } else { Buf { offset: offsets[k], len: out_len } };
        steps.push(IrStep { name, op, input, output });
    }
    let m = CompiledModel { card, steps, arena_len, input_len: c0 * h0 * w0, n_classes };
    let views = m.steps();
    m.graph(&views).check().map_err(|e| anyhow!("the compiled schedule is inconsistent: {e}"))?;
    Ok(m)
}

/// Places the buffers of a chain by lifetime: buffer `i` is written by step `i` and read by
/// step `i + 1`, so only neighbours are alive together. Even buffers sit at the bottom of the
/// arena and odd ones at the top, so each buffer reuses the bytes of the one two steps before,
/// and the arena is the largest sum of two neighbours (the lower bound for a chain), rounded to
/// 4 bytes. Returns the offsets and the arena size.
pub fn plan_arena(lens: &[usize]) -> (Vec<usize>, usize) {
    let up = |x: usize| x.div_ceil(4) * 4;
    let mut size = lens.iter().map(|&l| up(l)).max().unwrap_or(0);
    for w in lens.windows(2) {
        // The even one of the pair at the bottom, the odd one at the top.
        size = size.max(up(w[0]) + up(w[1]));
    }
    let offsets = lens.iter().enumerate().map(|(i, &l)| if i % 2 == 0 { 0 } else { (size - l) & !3 }).collect();
    (offsets, size)
}

fn fmt_f32s(v: &[f32]) -> String {
    let mut s = String::from("[");
    for x in v {
        let _ = write!(s, "f32::from_bits(0x{:08x}),", x.to_bits());
    }
    s.push(']');
    s
}
fn fmt_ints<T: std::fmt::Display>(v: &[T]) -> String {
    let mut s = String::from("[");
    for (i, x) in v.iter().enumerate() {
        if i % 32 == 0 {
            s.push_str("\n    ");
        }
        let _ = write!(s, "{x},");
    }
    s.push(']');
    s
}
fn fmt_requant(r: &IrRequant, name: &str, out: &mut String) -> String {
    match r {
        IrRequant::PerChannel(v) => {
            let _ = writeln!(out, "static {name}: [f32; {}] = {};", v.len(), fmt_f32s(v));
            format!("Requant::PerChannel(&{name})")
        }
        IrRequant::FixedPoint { mult, shift } => format!("Requant::FixedPoint {{ mult: {mult:?}, shift: {shift} }}"),
    }
}
fn fb(x: f32) -> String {
    format!("f32::from_bits(0x{:08x})", x.to_bits())
}

impl CompiledModel {
    /// Rust source of the model: weights and parameters as `static`s (flash), the schedule as
    /// a `static` [`Graph`], the arena size and the window geometry as constants.
    pub fn to_rust(&self) -> String {
        let mut out = String::new();
        let mut steps = String::new();
        let _ = writeln!(out, "// Generated by `firmware-sim generate` from the model `{}`; do not edit.", self.card.name);
        let _ = writeln!(out, "#[allow(unused_imports)]\nuse soundproof::nn::{{Buf, Dequantize, Graph, MaxPool, Mean, MeanAxes, Op, QLinearConv, QLinearMatMul, Quantize, Requant, Step}};");
        for (k, s) in self.steps.iter().enumerate() {
            let op = match &s.op {
                IrOp::Quantize { c, plane, affine, inv_scale, zero } => {
                    let aff = match affine {
                        Some((a, b)) => {
                            let _ = writeln!(out, "static S{k}_SLOPE: [f32; {}] = {};", a.len(), fmt_f32s(a));
                            let _ = writeln!(out, "static S{k}_INTER: [f32; {}] = {};", b.len(), fmt_f32s(b));
                            format!("Some((&S{k}_SLOPE, &S{k}_INTER))")
                        }
                        None => "None".into(),
                    };
                    format!("Op::Quantize(Quantize {{ c: {c}, plane: {plane}, affine: {aff}, inv_scale: {}, zero: {zero} }})", fb(*inv_scale))
                }
                IrOp::Conv { c_in, h_in, w_in, c_out, h_out, w_out, kernel, stride, pad, group, weights, bias, x_zero, y_zero, requant } => {
                    let _ = writeln!(out, "static S{k}_W: [i16; {}] = {};", weights.len(), fmt_ints(weights));
                    let _ = writeln!(out, "static S{k}_B: [i32; {}] = {};", bias.len(), fmt_ints(bias));
                    let rq = fmt_requant(requant, &format!("S{k}_RQ"), &mut out);
                    format!(
                        "Op::Conv(QLinearConv {{ c_in: {c_in}, h_in: {h_in}, w_in: {w_in}, c_out: {c_out}, h_out: {h_out}, w_out: {w_out}, \
                         kernel: {kernel:?}, stride: {stride:?}, pad: {pad:?}, group: {group}, weights: &S{k}_W, \
                         bias: &S{k}_B, x_zero: {x_zero}, y_zero: {y_zero}, requant: {rq} }})"
                    )
                }
                IrOp::MaxPool(p) => format!(
                    "Op::MaxPool(MaxPool {{ c: {}, h_in: {}, w_in: {}, h_out: {}, w_out: {}, kernel: {:?}, stride: {:?}, pad: {:?} }})",
                    p.c, p.h_in, p.w_in, p.h_out, p.w_out, p.kernel, p.stride, p.pad
                ),
                IrOp::Mean(m) => format!(
                    "Op::Mean(Mean {{ c: {}, h: {}, w: {}, axes: MeanAxes::{:?}, x_scale: {}, x_zero: {}, y_inv_scale: {}, y_zero: {} }})",
                    m.c, m.h, m.w, m.axes, fb(m.x_scale), m.x_zero, fb(m.y_inv_scale), m.y_zero
                ),
                IrOp::MatMul { k: kk, n, weights, w_zero, x_zero, y_zero, requant } => {
                    let _ = writeln!(out, "static S{k}_W: [i8; {}] = {};", weights.len(), fmt_ints(weights));
                    let _ = writeln!(out, "static S{k}_WZ: [i8; {}] = {};", w_zero.len(), fmt_ints(w_zero));
                    let rq = fmt_requant(requant, &format!("S{k}_RQ"), &mut out);
                    format!("Op::MatMul(QLinearMatMul {{ k: {kk}, n: {n}, weights: &S{k}_W, w_zero: &S{k}_WZ, x_zero: {x_zero}, y_zero: {y_zero}, requant: {rq} }})")
                }
                IrOp::Dequantize { len, scale, zero, bias } => {
                    let b = match bias {
                        Some(b) => {
                            let _ = writeln!(out, "static S{k}_BIAS: [f32; {}] = {};", b.len(), fmt_f32s(b));
                            format!("Some(&S{k}_BIAS)")
                        }
                        None => "None".into(),
                    };
                    format!("Op::Dequantize(Dequantize {{ len: {len}, scale: {}, zero: {zero}, bias: {b} }})", fb(*scale))
                }
            };
            let _ = writeln!(
                steps,
                "    // {} ({})\n    Step {{ op: {op}, input: Buf {{ offset: {}, len: {} }}, output: Buf {{ offset: {}, len: {} }} }},",
                s.name,
                op_view(&s.op).name(),
                s.input.offset,
                s.input.len,
                s.output.offset,
                s.output.len
            );
        }
        let _ = writeln!(out, "static STEPS: [Step<'static>; {}] = [\n{steps}];", self.steps.len());
        let _ = writeln!(
            out,
            "pub static GRAPH: Graph<'static> = Graph {{ steps: &STEPS, arena_len: {}, input_len: {}, n_classes: {} }};",
            self.arena_len, self.input_len, self.n_classes
        );
        let _ = writeln!(out, "pub const ARENA_LEN: usize = {};", self.arena_len);
        let _ = writeln!(out, "pub const N_CLASSES: usize = {};", self.n_classes);
        let _ = writeln!(out, "pub const INPUT_LEN: usize = {};", self.input_len);
        let _ = writeln!(out, "pub const STEP_NAMES: [&str; {}] = {:?};", self.steps.len(), self.steps.iter().map(|s| op_view(&s.op).name()).collect::<Vec<_>>());
        let f = &self.card.features;
        let _ = writeln!(out, "pub const MODEL_NAME: &str = {:?};", self.card.name);
        let _ = writeln!(out, "pub const SAMPLE_RATE: u32 = {};", f.stft.sample_rate);
        let _ = writeln!(out, "pub const N_FFT: usize = {};", f.stft.n_fft);
        let _ = writeln!(out, "pub const WIN_LENGTH: usize = {};", f.stft.win_length);
        let _ = writeln!(out, "pub const HOP_LENGTH: usize = {};", f.stft.hop_length);
        let _ = writeln!(out, "pub const CENTER: bool = {};", f.stft.center);
        let _ = writeln!(out, "pub const N_MELS: usize = {};", f.mel.n_mels);
        let _ = writeln!(out, "pub const FMIN: f32 = {};", fb(f.mel.fmin));
        let _ = writeln!(out, "pub const FMAX: Option<f32> = {};", f.mel.fmax.map_or("None".to_string(), |x| format!("Some({})", fb(x))));
        let _ = writeln!(out, "pub const MEL_SCALE: soundproof::dsp::MelScale = soundproof::dsp::MelScale::{:?};", f.mel.mel_scale);
        let _ = writeln!(out, "pub const MEL_NORM: soundproof::dsp::MelNorm = soundproof::dsp::MelNorm::{:?};", f.mel.norm);
        let _ = writeln!(out, "pub const AMIN: f32 = {};", fb(f.mel.amin));
        let _ = writeln!(out, "pub const WINDOW_SAMPLES: usize = {};", self.card.window_samples);
        let _ = writeln!(out, "pub const HOP_SAMPLES: usize = {};", self.card.hop_samples);
        out
    }
}

//! Reduced-precision copies of an exported f32 model (DESIGN "Models and the model card":
//! f32, f16, int8 calibrated on training features).
//!
//! - [`to_f16`]: weights and activations in IEEE half precision; the graph still takes and
//!   returns f32 (Cast nodes at both ends), so the engine feeds it like its parent.
//! - [`to_int8`]: post-training static quantization. Activations: uint8, asymmetric, one scale
//!   per tensor from the min/max the f32 model reaches on the calibration windows.
//!   Weights: int8, symmetric, one scale per output channel. Bias: int32 at scale
//!   `x_scale · w_scale`. The operator form is [`Int8Form::QLinear`] (QLinearConv with the
//!   following ReLU folded into its output range, uint8 MaxPool, QLinearMatMul): it is the form
//!   tract runs in integer arithmetic end to end and the fastest of the two measured (see
//!   `tools/examples/onnx_speed.rs`). [`Int8Form::Integer`] (ConvInteger / MatMulInteger with
//!   the rescale, bias and activations in f32) is kept for comparison.
//!
//! Both return a model whose card says so (`precision`, `name` with a `-f16` / `-int8` suffix,
//! `parent` = the f32 model). The metrics are the parent's until the caller measures the new
//! model and stores them with [`crate::onnx::set_card`] (`accuracy_drop_points` in particular).

use super::proto::{
    attr_int, node, tensor_f16, tensor_f32, tensor_i32, tensor_i8, tensor_to_array, tensor_u8,
};
use super::run::run_tract_outputs;
use super::{card_of, set_card, Array, ModelProto};
use anyhow::{bail, ensure, Context};
use soundproof::model::Precision;
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{AttributeProto, GraphProto, NodeProto, TensorProto};

/// Which ONNX operators carry the int8 arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Form {
    /// QuantizeLinear once at the input; QLinearConv (ReLU folded into the output range),
    /// MaxPool on uint8, QLinearMatMul; DequantizeLinear where a float operator follows.
    QLinear,
    /// QuantizeLinear before every ConvInteger / MatMulInteger; their int32 result is cast to
    /// f32, rescaled and biased in f32, and everything between two layers runs in f32.
    Integer,
}

/// Windows per tract run while calibrating (bounds the memory the exposed intermediate
/// tensors take: about 1.6 MB per window for the 003 CNN).
const CALIBRATION_CHUNK: usize = 16;

/// Half-precision copy of `model` (see the module doc). Float initializers become f16, except
/// the `roi` / `scales` inputs of Resize, which ONNX keeps in f32.
pub fn to_f16(model: &ModelProto) -> ModelProto {
    let mut m = model.clone();
    let Some(g) = m.graph.as_mut() else { return m };
    let keep_f32: HashSet<String> = g
        .node
        .iter()
        .filter(|n| n.op_type == "Resize")
        .flat_map(|n| n.input.iter().skip(1).take(2).cloned())
        .collect();
    for t in g.initializer.iter_mut() {
        if t.data_type == DataType::Float as i32 && !keep_f32.contains(&t.name) {
            if let Ok(a) = tensor_to_array(t) {
                *t = tensor_f16(&t.name, &a);
            }
        }
    }
    let input = g.input.first().map(|v| v.name.clone()).unwrap_or_default();
    let output = g.output.first().map(|v| v.name.clone()).unwrap_or_default();
    let (input16, output16) = (format!("{input}.f16"), format!("{output}.f16"));
    for n in g.node.iter_mut() {
        for t in n.input.iter_mut() {
            if *t == input {
                *t = input16.clone();
            } else if *t == output {
                *t = output16.clone();
            }
        }
        for t in n.output.iter_mut() {
            if *t == output {
                *t = output16.clone();
            }
        }
    }
    let to = |dt: DataType| attr_int("to", dt as i64);
    g.node.insert(
        0,
        node(
            "Cast",
            &input16,
            &[input.clone()],
            &[&input16],
            vec![to(DataType::Float16)],
        ),
    );
    g.node.push(node(
        "Cast",
        &format!("{output}.f32"),
        &[output16.clone()],
        &[&output],
        vec![to(DataType::Float)],
    ));
    g.doc_string = "float16 weights and activations; float32 input and output through Cast".into();
    if let Ok(mut card) = card_of(model) {
        card.precision = Precision::F16;
        card.parent = Some(card.name.clone());
        card.name = format!("{}-f16", card.name);
        card.metrics.accuracy_drop_points = None;
        // Cannot fail: the graph was only re-typed; a failure would leave the parent's card,
        // which `card_of` then refuses for its precision.
        let _ = set_card(&mut m, &card);
    }
    m
}

/// How [`to_int8_with`] quantizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Int8Options {
    pub form: Int8Form,
    /// Activations in int8 (zero point in -128..=127) instead of uint8.
    pub signed_activations: bool,
    /// One weight scale per output channel (else one per tensor).
    pub per_channel_weights: bool,
    /// Fraction of the calibration values of each activation tensor its range must hold, the
    /// rest split evenly between the two tails (1.0: min/max).
    pub coverage: f64,
}

impl Default for Int8Options {
    /// The choice measured best for tract (see the module doc).
    fn default() -> Self {
        Int8Options {
            form: Int8Form::QLinear,
            signed_activations: false,
            per_channel_weights: false,
            coverage: 1.0,
        }
    }
}

/// Int8 copy of `model` calibrated on `calibration` (feature windows shaped as the model input,
/// any batch each), with the default [`Int8Options`].
pub fn to_int8(model: &ModelProto, calibration: &[Array]) -> anyhow::Result<ModelProto> {
    to_int8_with(model, calibration, &Int8Options::default())
}

/// Int8 copy of `model` with the given options; see [`to_int8`].
pub fn to_int8_with(
    model: &ModelProto,
    calibration: &[Array],
    opts: &Int8Options,
) -> anyhow::Result<ModelProto> {
    let mut card = card_of(model).context("quantizing to int8")?;
    ensure!(
        card.precision == Precision::F32,
        "`{}` is {:?}: int8 models are made from f32 models",
        card.name,
        card.precision
    );
    ensure!(
        opts.coverage > 0.5 && opts.coverage <= 1.0,
        "coverage {} must be in (0.5, 1]",
        opts.coverage
    );
    let stats = calibrate(model, calibration)?;
    let g = model.graph.as_ref().context("the model has no graph")?;
    let mut q = Quantizer::new(g, stats, *opts);
    let graph = q.rewrite()?;
    let mut m = ModelProto {
        graph: Some(graph),
        ..model.clone()
    };
    card.precision = Precision::Int8;
    card.parent = Some(card.name.clone());
    card.name = format!("{}-int8", card.name);
    card.metrics.accuracy_drop_points = None;
    set_card(&mut m, &card)?;
    Ok(m)
}

/// Values of one tensor over the calibration windows: exact extremes and a strided sample
/// for quantiles.
#[derive(Debug, Clone, Default)]
pub struct TensorStats {
    pub min: f32,
    pub max: f32,
    pub sample: Vec<f32>,
}

/// Sampled values per tensor and calibration chunk.
const SAMPLE_PER_CHUNK: usize = 16384;

impl TensorStats {
    fn add(&mut self, v: &[f32]) {
        if self.sample.is_empty() && self.min == 0.0 && self.max == 0.0 {
            (self.min, self.max) = (f32::INFINITY, f32::NEG_INFINITY);
        }
        for &x in v {
            self.min = self.min.min(x);
            self.max = self.max.max(x);
        }
        let stride = (v.len() / SAMPLE_PER_CHUNK).max(1);
        // An odd offset per chunk, so a stride that divides a row length does not sample the
        // same column every time.
        let offset = (self.sample.len() * 7 + 1) % stride;
        self.sample.extend(v.iter().skip(offset).step_by(stride));
    }

    /// `(lo, hi)` holding a fraction `coverage` of the values (exact min/max at 1.0).
    pub fn range(&self, coverage: f64) -> (f32, f32) {
        if coverage >= 1.0 || self.sample.is_empty() {
            return (self.min, self.max);
        }
        let mut s = self.sample.clone();
        s.sort_by(f32::total_cmp);
        let tail = (1.0 - coverage) / 2.0;
        let at = |q: f64| s[((q * (s.len() - 1) as f64).round() as usize).min(s.len() - 1)];
        (at(tail), at(1.0 - tail))
    }
}

/// Statistics of the input and of every float tensor of the graph over the calibration
/// windows, from the f32 model run in tract with every intermediate tensor exposed.
pub fn calibrate(
    model: &ModelProto,
    calibration: &[Array],
) -> anyhow::Result<HashMap<String, TensorStats>> {
    let g = model.graph.as_ref().context("the model has no graph")?;
    ensure!(!calibration.is_empty(), "no calibration windows");
    let names = float_tensors(g);
    let windows: Vec<Array> = calibration.iter().flat_map(split_batch).collect();
    let mut stats: HashMap<String, TensorStats> = HashMap::new();
    for chunk in windows.chunks(CALIBRATION_CHUNK) {
        let batch = stack(chunk)?;
        for v in &g.input {
            stats.entry(v.name.clone()).or_default().add(&batch.data);
        }
        let outs = run_tract_outputs(model, &batch, &names)
            .context("running the f32 model on calibration windows")?;
        for (name, a) in names.iter().zip(&outs) {
            ensure!(
                a.data.iter().all(|v| v.is_finite()),
                "calibration: tensor `{name}` is not finite"
            );
            stats.entry(name.clone()).or_default().add(&a.data);
        }
    }
    Ok(stats)
}

/// Names of the float tensors the nodes produce (not the int64 shape arithmetic of a Resize).
fn float_tensors(g: &GraphProto) -> Vec<String> {
    let mut ints: HashSet<&str> = HashSet::new();
    let inits: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut out = Vec::new();
    for n in &g.node {
        let data: Vec<&str> = n
            .input
            .iter()
            .map(String::as_str)
            .filter(|s| !s.is_empty() && !inits.contains(s))
            .collect();
        if n.op_type == "Shape" || (!data.is_empty() && data.iter().all(|s| ints.contains(s))) {
            ints.extend(n.output.iter().map(String::as_str));
        } else {
            out.extend(n.output.iter().cloned());
        }
    }
    out
}

fn split_batch(a: &Array) -> Vec<Array> {
    let n = a.shape.first().copied().unwrap_or(0);
    let per = if n == 0 { 0 } else { a.data.len() / n };
    let mut shape = a.shape.clone();
    if let Some(s) = shape.first_mut() {
        *s = 1;
    }
    (0..n)
        .map(|i| Array {
            shape: shape.clone(),
            data: a.data[i * per..(i + 1) * per].to_vec(),
        })
        .collect()
}

fn stack(windows: &[Array]) -> anyhow::Result<Array> {
    let mut shape = windows[0].shape.clone();
    ensure!(
        windows.iter().all(|w| w.shape == shape),
        "calibration windows of different shapes"
    );
    shape[0] = windows.len();
    Ok(Array {
        shape,
        data: windows
            .iter()
            .flat_map(|w| w.data.iter().copied())
            .collect(),
    })
}

fn initializer(g: &GraphProto, name: &str) -> anyhow::Result<Array> {
    let t = g
        .initializer
        .iter()
        .find(|t| t.name == name)
        .with_context(|| format!("no initializer `{name}`"))?;
    tensor_to_array(t)
}

/// 8-bit affine quantization of one activation tensor: `x ≈ scale · (q - zero_point)`.
#[derive(Debug, Clone, Copy)]
struct QParam {
    scale: f32,
    zero_point: i32,
    signed: bool,
}

impl QParam {
    /// The range is widened to contain 0 so that 0 (ReLU, padding) is exact.
    fn from_range(lo: f32, hi: f32, signed: bool) -> Self {
        let (lo, hi) = (lo.min(0.0), hi.max(0.0));
        let scale = if hi > lo { (hi - lo) / 255.0 } else { 1.0 };
        let qmin = if signed { -128.0 } else { 0.0 };
        let zero_point = (qmin - lo / scale).round().clamp(qmin, qmin + 255.0) as i32;
        QParam {
            scale,
            zero_point,
            signed,
        }
    }

    fn zero_tensor(&self, name: &str) -> TensorProto {
        if self.signed {
            tensor_i8(name, &[], &[self.zero_point as i8])
        } else {
            tensor_u8(name, &[], &[self.zero_point as u8])
        }
    }
}

/// Symmetric int8 quantization of `w` (zero point 0, codes in -127..=127) with one scale per
/// group, `index(i)` being the group of value `i` (an output channel of a conv weight, a
/// column of a matmul weight); one group when `per_channel` is false. Returns the codes and
/// one scale per group (all equal without `per_channel`).
fn quantize_weights(
    w: &[f32],
    groups: usize,
    per_channel: bool,
    index: impl Fn(usize) -> usize,
) -> (Vec<i8>, Vec<f32>) {
    let index = |i| if per_channel { index(i) } else { 0 };
    let mut max = vec![0.0f32; groups];
    for (i, v) in w.iter().enumerate() {
        let g = index(i);
        max[g] = max[g].max(v.abs());
    }
    let scales: Vec<f32> = max
        .iter()
        .map(|&m| if m > 0.0 { m / 127.0 } else { 1.0 })
        .collect();
    let q = w
        .iter()
        .enumerate()
        .map(|(i, v)| (v / scales[index(i)]).round().clamp(-127.0, 127.0) as i8)
        .collect();
    let scales = if per_channel {
        scales
    } else {
        vec![scales[0]; groups]
    };
    (q, scales)
}

struct Quantizer<'a> {
    g: &'a GraphProto,
    stats: HashMap<String, TensorStats>,
    opts: Int8Options,
    nodes: Vec<NodeProto>,
    inits: Vec<TensorProto>,
    /// Tensors available in f32 / as uint8 (name of the quantized tensor and its parameters).
    f32_avail: HashSet<String>,
    q_avail: HashMap<String, (String, QParam)>,
}

impl<'a> Quantizer<'a> {
    fn new(g: &'a GraphProto, stats: HashMap<String, TensorStats>, opts: Int8Options) -> Self {
        let f32_avail = g.input.iter().map(|v| v.name.clone()).collect();
        Quantizer {
            g,
            stats,
            opts,
            nodes: Vec::new(),
            inits: Vec::new(),
            f32_avail,
            q_avail: HashMap::new(),
        }
    }

    fn qparam(&self, t: &str) -> anyhow::Result<QParam> {
        let st = self
            .stats
            .get(t)
            .with_context(|| format!("no calibration statistics for tensor `{t}`"))?;
        let (lo, hi) = st.range(self.opts.coverage);
        Ok(QParam::from_range(lo, hi, self.opts.signed_activations))
    }

    fn scalar_f32(&mut self, name: String, v: f32) -> String {
        self.inits.push(tensor_f32(
            &name,
            &Array {
                shape: vec![],
                data: vec![v],
            },
        ));
        name
    }

    fn zero(&mut self, name: String, p: &QParam) -> String {
        self.inits.push(p.zero_tensor(&name));
        name
    }

    /// Name of the uint8 version of `t`, adding a QuantizeLinear when there is none yet.
    fn ensure_q(&mut self, t: &str) -> anyhow::Result<(String, QParam, String, String)> {
        if !self.q_avail.contains_key(t) {
            let p = self.qparam(t)?;
            let (s, z) = (
                self.scalar_f32(format!("{t}.q.scale"), p.scale),
                self.zero(format!("{t}.q.zero"), &p),
            );
            let qn = format!("{t}.q");
            self.nodes.push(node(
                "QuantizeLinear",
                &qn,
                &[t.to_string(), s, z],
                &[&qn],
                vec![],
            ));
            self.q_avail.insert(t.to_string(), (qn, p));
        }
        let (qn, p) = self.q_avail[t].clone();
        Ok((qn.clone(), p, format!("{t}.q.scale"), format!("{t}.q.zero")))
    }

    /// Records `t` as produced in uint8 with `p`, under the name `qn`; adds its scale and zero
    /// point initializers.
    fn produce_q(&mut self, t: &str, p: QParam) -> (String, String, String) {
        let qn = format!("{t}.q");
        let s = self.scalar_f32(format!("{t}.q.scale"), p.scale);
        let z = self.zero(format!("{t}.q.zero"), &p);
        self.q_avail.insert(t.to_string(), (qn.clone(), p));
        (qn, s, z)
    }

    /// Makes `t` available in f32, adding a DequantizeLinear when it exists only in uint8.
    fn ensure_f32(&mut self, t: &str) -> anyhow::Result<()> {
        if self.f32_avail.contains(t) || self.is_init(t) || t.is_empty() {
            return Ok(());
        }
        let Some((qn, _)) = self.q_avail.get(t).cloned() else {
            bail!("tensor `{t}` is used before it is produced")
        };
        let (s, z) = (format!("{t}.q.scale"), format!("{t}.q.zero"));
        self.nodes.push(node(
            "DequantizeLinear",
            &format!("{t}.dq"),
            &[qn, s, z],
            &[t],
            vec![],
        ));
        self.f32_avail.insert(t.to_string());
        Ok(())
    }

    fn is_init(&self, t: &str) -> bool {
        self.g.initializer.iter().any(|i| i.name == t)
    }

    fn consumers(&self, t: &str) -> Vec<usize> {
        (0..self.g.node.len())
            .filter(|&i| self.g.node[i].input.iter().any(|x| x == t))
            .collect()
    }

    fn is_output(&self, t: &str) -> bool {
        self.g.output.iter().any(|o| o.name == t)
    }

    fn rewrite(&mut self) -> anyhow::Result<GraphProto> {
        let mut skip: HashSet<usize> = HashSet::new();
        for (i, n) in self.g.node.iter().enumerate() {
            if skip.contains(&i) {
                continue;
            }
            match (n.op_type.as_str(), self.opts.form) {
                ("Conv", Int8Form::QLinear) => {
                    // ReLU right after the conv: clamping at 0 is the saturation of a uint8
                    // output whose range starts at 0, so the ReLU disappears.
                    let y = &n.output[0];
                    let relu = match self.consumers(y).as_slice() {
                        [j] if self.g.node[*j].op_type == "Relu" && !self.is_output(y) => Some(*j),
                        _ => None,
                    };
                    let out = relu
                        .map(|j| self.g.node[j].output[0].clone())
                        .unwrap_or_else(|| y.clone());
                    if let Some(j) = relu {
                        skip.insert(j);
                    }
                    self.qlinear_conv(n, &out)?;
                }
                ("Conv", Int8Form::Integer) => self.integer_conv(n)?,
                ("MatMul", _) if self.is_init(&n.input[1]) => self.matmul(n)?,
                ("MaxPool", Int8Form::QLinear)
                    if self.q_avail.contains_key(&n.input[0])
                        && n.attribute
                            .iter()
                            .find(|a| a.name == "pads")
                            .is_none_or(|a| a.ints.iter().all(|&p| p == 0)) =>
                {
                    // Max commutes with a monotone quantization: pool the uint8 codes.
                    let (xq, p, _, _) = self.ensure_q(&n.input[0])?;
                    let (yq, _, _) = self.produce_q(&n.output[0], p);
                    let mut m = n.clone();
                    m.input = vec![xq];
                    m.output = vec![yq];
                    self.nodes.push(m);
                }
                _ => self.float_node(n)?,
            }
        }
        let out = self.g.output[0].name.clone();
        self.ensure_f32(&out)?;
        // Keep the original initializers the float nodes still use.
        let used: HashSet<&str> = self
            .nodes
            .iter()
            .flat_map(|n| n.input.iter().map(String::as_str))
            .collect();
        let mut inits: Vec<TensorProto> = self
            .g
            .initializer
            .iter()
            .filter(|t| used.contains(t.name.as_str()))
            .cloned()
            .collect();
        inits.append(&mut self.inits);
        Ok(GraphProto {
            node: std::mem::take(&mut self.nodes),
            initializer: inits,
            doc_string: format!(
                "int8: {:?}; activations {} per tensor, weights int8 symmetric per {}",
                self.opts.form,
                if self.opts.signed_activations {
                    "int8"
                } else {
                    "uint8"
                },
                if self.opts.per_channel_weights {
                    "output channel"
                } else {
                    "tensor"
                }
            ),
            ..self.g.clone()
        })
    }

    fn float_node(&mut self, n: &NodeProto) -> anyhow::Result<()> {
        for x in &n.input {
            self.ensure_f32(x)?;
        }
        self.f32_avail.extend(n.output.iter().cloned());
        self.nodes.push(n.clone());
        Ok(())
    }

    /// The conv weight as int8 with per-output-channel scales; the bias as int32 at scale
    /// `x_scale · w_scale[c]`.
    fn conv_weights(
        &self,
        n: &NodeProto,
        x_scale: f32,
    ) -> anyhow::Result<(Array, Vec<i8>, Vec<f32>, Vec<i32>)> {
        let w = initializer(self.g, &n.input[1]).with_context(|| format!("conv `{}`", n.name))?;
        let out = w.shape[0];
        let per = w.data.len() / out;
        let (wq, ws) = quantize_weights(&w.data, out, self.opts.per_channel_weights, |i| i / per);
        let b = match n.input.get(2).filter(|s| !s.is_empty()) {
            Some(b) => initializer(self.g, b)?.data,
            None => vec![0.0; out],
        };
        let bq = b
            .iter()
            .zip(&ws)
            .map(|(b, s)| (*b as f64 / (x_scale as f64 * *s as f64)).round() as i32)
            .collect();
        Ok((w, wq, ws, bq))
    }

    fn qlinear_conv(&mut self, n: &NodeProto, out: &str) -> anyhow::Result<()> {
        let (xq, xp, xs, xz) = self.ensure_q(&n.input[0])?;
        let (w, wq, ws, bq) = self.conv_weights(n, xp.scale)?;
        let yp = self.qparam(out)?;
        let name = &n.name;
        self.inits
            .push(tensor_i8(&format!("{name}.wq"), &w.shape, &wq));
        self.inits.push(tensor_f32(
            &format!("{name}.wq.scale"),
            &Array {
                shape: vec![ws.len()],
                data: ws.clone(),
            },
        ));
        self.inits
            .push(tensor_i8(&format!("{name}.wq.zero"), &[], &[0]));
        self.inits
            .push(tensor_i32(&format!("{name}.bq"), &[bq.len()], &bq));
        let (yq, ys, yz) = self.produce_q(out, yp);
        let inputs = [
            xq,
            xs,
            xz,
            format!("{name}.wq"),
            format!("{name}.wq.scale"),
            format!("{name}.wq.zero"),
            ys,
            yz,
            format!("{name}.bq"),
        ];
        self.nodes.push(node(
            "QLinearConv",
            name,
            &inputs,
            &[&yq],
            n.attribute.clone(),
        ));
        Ok(())
    }

    fn integer_conv(&mut self, n: &NodeProto) -> anyhow::Result<()> {
        let (xq, xp, _, xz) = self.ensure_q(&n.input[0])?;
        let (w, wq, ws, _) = self.conv_weights(n, xp.scale)?;
        let name = &n.name;
        let c = w.shape[0];
        // [1, C, 1(, 1)]: broadcasts over the batch and the spatial axes.
        let mut cshape = vec![1, c];
        cshape.extend(std::iter::repeat_n(1, w.shape.len() - 2));
        let scale: Vec<f32> = ws.iter().map(|s| s * xp.scale).collect();
        let bias = match n.input.get(2).filter(|s| !s.is_empty()) {
            Some(b) => initializer(self.g, b)?.data,
            None => vec![0.0; c],
        };
        self.inits
            .push(tensor_i8(&format!("{name}.wq"), &w.shape, &wq));
        self.inits.push(tensor_f32(
            &format!("{name}.rescale"),
            &Array {
                shape: cshape.clone(),
                data: scale,
            },
        ));
        self.inits.push(tensor_f32(
            &format!("{name}.bias4"),
            &Array {
                shape: cshape,
                data: bias,
            },
        ));
        let scaled = format!("{name}.scaled");
        self.integer_op("ConvInteger", name, [xq, format!("{name}.wq"), xz], n.attribute.clone(), &scaled);
        let y = &n.output[0];
        self.nodes.push(node(
            "Add",
            y,
            &[scaled, format!("{name}.bias4")],
            &[y],
            vec![],
        ));
        self.f32_avail.insert(y.clone());
        Ok(())
    }

    /// The Integer form's core: `op` (ConvInteger / MatMulInteger) on `[xq, wq, x_zero]`, its
    /// int32 result cast to f32 and multiplied by the initializer `{name}.rescale` into `out`.
    fn integer_op(&mut self, op: &str, name: &str, inputs: [String; 3], attrs: Vec<AttributeProto>, out: &str) {
        let (acc, accf) = (format!("{name}.acc"), format!("{name}.accf"));
        self.nodes.push(node(op, name, &inputs, &[&acc], attrs));
        self.nodes.push(node("Cast", &accf, &[acc], &[&accf], vec![attr_int("to", DataType::Float as i64)]));
        self.nodes.push(node("Mul", &format!("{out}.rescale"), &[accf, format!("{name}.rescale")], &[out], vec![]));
    }

    /// `MatMul(x, B)` with a constant `[k, n]` matrix `B`, quantized per column.
    fn matmul(&mut self, n: &NodeProto) -> anyhow::Result<()> {
        let b = initializer(self.g, &n.input[1])?;
        let [k, cols] = b.shape[..] else {
            return self.float_node(n);
        };
        let (bq, bs) = quantize_weights(&b.data, cols, self.opts.per_channel_weights, |i| i % cols);
        let name = n.name.clone();
        let y = n.output[0].clone();
        let (xq, xp, xs, xz) = self.ensure_q(&n.input[0])?;
        self.inits
            .push(tensor_i8(&format!("{name}.bq"), &[k, cols], &bq));
        match self.opts.form {
            Int8Form::QLinear => {
                let p = self.qparam(&y)?;
                self.inits.push(tensor_f32(
                    &format!("{name}.bq.scale"),
                    &Array {
                        shape: vec![cols],
                        data: bs,
                    },
                ));
                self.inits.push(tensor_i8(
                    &format!("{name}.bq.zero"),
                    &[cols],
                    &vec![0; cols],
                ));
                let (yq, ys, yz) = self.produce_q(&y, p);
                let inputs = [
                    xq,
                    xs,
                    xz,
                    format!("{name}.bq"),
                    format!("{name}.bq.scale"),
                    format!("{name}.bq.zero"),
                    ys,
                    yz,
                ];
                self.nodes
                    .push(node("QLinearMatMul", &name, &inputs, &[&yq], vec![]));
            }
            Int8Form::Integer => {
                let scale: Vec<f32> = bs.iter().map(|s| s * xp.scale).collect();
                self.inits.push(tensor_f32(
                    &format!("{name}.rescale"),
                    &Array {
                        shape: vec![cols],
                        data: scale,
                    },
                ));
                self.integer_op("MatMulInteger", &name, [xq, format!("{name}.bq"), xz], vec![], &y);
                self.f32_avail.insert(y);
            }
        }
        Ok(())
    }
}

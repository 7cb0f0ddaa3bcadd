//! A small builder of ONNX (opset 17) inference graphs: the layers our architectures use, with
//! weights handed over as dense row-major [`Array`]s in torch layout, so the tch models can
//! export themselves without going through Python.
//!
//! Each builder method appends one node and returns the name of its output tensor. Mistakes
//! (a bias of the wrong length, an unknown tensor) are recorded against the node and reported
//! together by [`Graph::finish`], so a model is either complete and consistent or refused.
//! `finish` folds every BatchNormalization into the convolution it follows (when it is that
//! convolution's only consumer), renames the output to the card's `output_name`, checks the
//! card against the graph and stores the card in `metadata_props`.

pub use onnx_proto::Array;
use onnx_proto::{
    attr_float, attr_int, attr_ints, attr_string, node, tensor_f32, tensor_i64, value_info,
};
use crate::onnx::card_check;
use anyhow::{bail, Context};
use soundproof::model::ModelCard;
use std::collections::{BTreeMap, HashSet};
use tract_onnx::pb::{ModelProto, NodeProto, OperatorSetIdProto};

/// ONNX operator set every exported graph declares.
pub const OPSET: i64 = 17;
/// ONNX IR version matching [`OPSET`] (IR 8 came with opset 17).
pub const IR_VERSION: i64 = 8;

/// A constant of the graph (initializer).
#[derive(Debug, Clone)]
pub(crate) enum Const {
    F32(Array),
    I64(Vec<usize>, Vec<i64>),
}

/// An ONNX graph under construction. See the module doc.
#[derive(Debug, Clone)]
pub struct Graph {
    input_name: String,
    input_shape: Vec<i64>,
    nodes: Vec<NodeProto>,
    consts: BTreeMap<String, Const>,
    errors: Vec<String>,
    next_id: usize,
}

impl Graph {
    /// A graph with one f32 input of `input_shape` (`-1` = dynamic batch).
    pub fn new(input_name: &str, input_shape: &[i64]) -> Self {
        let mut errors = Vec::new();
        if input_name.is_empty() {
            errors.push("input: the input name is empty".to_string());
        }
        if input_shape
            .iter()
            .enumerate()
            .any(|(i, &d)| d == 0 || d < -1 || (d == -1 && i > 0))
        {
            errors.push(format!(
                "input: shape {input_shape:?} (only the batch axis may be -1, no axis may be 0)"
            ));
        }
        Graph {
            input_name: input_name.to_string(),
            input_shape: input_shape.to_vec(),
            nodes: Vec::new(),
            consts: BTreeMap::new(),
            errors,
            next_id: 0,
        }
    }

    /// Name of the input tensor.
    pub fn input(&self) -> String {
        self.input_name.clone()
    }

    /// Convolution (ONNX `Conv`), 1-D or 2-D by the rank of `weight`: `[out, in/group, k]` or
    /// `[out, in/group, kh, kw]` (torch layout). `strides`, `dilations`: one value per spatial
    /// axis, or one value for all, or empty for 1. `pads`: one value per spatial axis (padded
    /// on both sides, as torch's `padding`), or ONNX's `[begins.., ends..]`, or empty for none.
    #[allow(clippy::too_many_arguments)]
    pub fn conv(
        &mut self,
        x: &str,
        weight: Array,
        bias: Option<Array>,
        strides: &[i64],
        pads: &[i64],
        dilations: &[i64],
        group: i64,
    ) -> String {
        let name = self.fresh("conv");
        let rank = weight.shape.len();
        if !(rank == 3 || rank == 4) {
            self.error(
                &name,
                format!(
                    "weight of rank {rank}: expected [out, in/group, k] or [out, in/group, kh, kw]"
                ),
            );
        }
        let spatial = rank.saturating_sub(2).max(1);
        let out = weight.shape.first().copied().unwrap_or(0);
        if group < 1 || out as i64 % group.max(1) != 0 {
            self.error(
                &name,
                format!("group {group} must be ≥ 1 and divide the {out} output channels"),
            );
        }
        let strides = self.per_axis(&name, "strides", strides, spatial, 1);
        let dilations = self.per_axis(&name, "dilations", dilations, spatial, 1);
        let pads = self.pads(&name, pads, spatial);
        let kernel: Vec<i64> = weight.shape.iter().skip(2).map(|&k| k as i64).collect();
        let mut inputs = vec![x.to_string(), self.add_f32(&name, "weight", weight)];
        if let Some(b) = bias {
            if b.volume() != out {
                self.error(
                    &name,
                    format!("bias holds {} values for {out} output channels", b.volume()),
                );
            }
            inputs.push(self.add_f32(
                &name,
                "bias",
                Array {
                    shape: vec![b.volume()],
                    data: b.data,
                },
            ));
        }
        self.push(
            node(
                "Conv",
                &name,
                &inputs,
                &[&name],
                vec![
                    attr_ints("kernel_shape", &kernel),
                    attr_ints("strides", &strides),
                    attr_ints("pads", &pads),
                    attr_ints("dilations", &dilations),
                    attr_int("group", group),
                ],
            ),
            &[x],
        )
    }

    /// Batch normalization in inference mode: `(x - mean) / sqrt(var + eps) · scale + bias`
    /// over channel axis 1. Folded into the preceding convolution by [`Graph::finish`] when it
    /// is that convolution's only consumer.
    pub fn batch_norm(
        &mut self,
        x: &str,
        scale: Array,
        bias: Array,
        mean: Array,
        var: Array,
        eps: f32,
    ) -> String {
        let name = self.fresh("bn");
        let c = scale.volume();
        for (what, a) in [("bias", &bias), ("mean", &mean), ("var", &var)] {
            if a.volume() != c {
                self.error(
                    &name,
                    format!("{what} holds {} values, scale {c}", a.volume()),
                );
            }
        }
        if var.data.iter().any(|v| !(*v + eps > 0.0)) {
            self.error(&name, "var + eps must be > 0");
        }
        let flat = |a: Array| Array {
            shape: vec![a.volume()],
            data: a.data,
        };
        let inputs = [
            x.to_string(),
            self.add_f32(&name, "scale", flat(scale)),
            self.add_f32(&name, "bias", flat(bias)),
            self.add_f32(&name, "mean", flat(mean)),
            self.add_f32(&name, "var", flat(var)),
        ];
        self.push(
            node(
                "BatchNormalization",
                &name,
                &inputs,
                &[&name],
                vec![attr_float("epsilon", eps)],
            ),
            &[x],
        )
    }

    pub fn relu(&mut self, x: &str) -> String {
        self.unary("Relu", "relu", x)
    }

    /// Max pooling (floor mode, as torch's default `ceil_mode=False`). `kernel`: one size per
    /// spatial axis; `strides` and `pads` as in [`Graph::conv`] (empty strides = the kernel,
    /// as torch's default).
    pub fn max_pool(&mut self, x: &str, kernel: &[i64], strides: &[i64], pads: &[i64]) -> String {
        self.pool("MaxPool", "maxpool", x, kernel, strides, pads)
    }

    /// Average pooling; padded zeros count in the mean, as torch's default
    /// `count_include_pad=True`. Arguments as [`Graph::max_pool`].
    pub fn avg_pool(&mut self, x: &str, kernel: &[i64], strides: &[i64], pads: &[i64]) -> String {
        self.pool("AveragePool", "avgpool", x, kernel, strides, pads)
    }

    /// Mean over every spatial axis, keeping them as size-1 axes: `[N, C, 1, 1]`.
    pub fn global_average_pool(&mut self, x: &str) -> String {
        self.unary("GlobalAveragePool", "gap", x)
    }

    /// `[N, d1, d2, ..] → [N, d1·d2·..]` (ONNX `Flatten`, axis 1).
    pub fn flatten(&mut self, x: &str) -> String {
        let name = self.fresh("flatten");
        self.push(
            node(
                "Flatten",
                &name,
                &[x.to_string()],
                &[&name],
                vec![attr_int("axis", 1)],
            ),
            &[x],
        )
    }

    /// Fully connected layer `x · weightᵀ + bias` with `weight` `[out, in]` (torch layout).
    /// `x` is `[N, in]`. Written as ONNX `MatMul` by the transposed weight (stored `[in, out]`)
    /// then `Add` of the bias, rather than `Gemm`: tract mistypes an f16 `Gemm`, and int8
    /// quantization maps `MatMul` onto `QLinearMatMul` directly.
    pub fn linear(&mut self, x: &str, weight: Array, bias: Option<Array>) -> String {
        let name = self.fresh("linear");
        let [out, inp] = weight.shape[..] else {
            self.error(
                &name,
                format!("weight of shape {:?}: expected [out, in]", weight.shape),
            );
            return name;
        };
        if weight.data.len() != out * inp {
            self.error(
                &name,
                format!(
                    "weight of shape {:?} holds {} values",
                    weight.shape,
                    weight.data.len()
                ),
            );
            return name;
        }
        let wt = Array {
            shape: vec![inp, out],
            data: (0..inp * out)
                .map(|i| weight.data[(i % out) * inp + i / out])
                .collect(),
        };
        let mm = if bias.is_some() {
            format!("{name}.matmul")
        } else {
            name.clone()
        };
        let inputs = vec![x.to_string(), self.add_f32(&name, "weight", wt)];
        let y = self.push(node("MatMul", &mm, &inputs, &[&mm], vec![]), &[x]);
        let Some(b) = bias else { return y };
        if b.volume() != out {
            self.error(
                &name,
                format!("bias holds {} values for {out} outputs", b.volume()),
            );
        }
        let b = self.add_f32(
            &name,
            "bias",
            Array {
                shape: vec![b.volume()],
                data: b.data,
            },
        );
        self.push(node("Add", &name, &[y, b], &[&name], vec![]), &[])
    }

    /// Elementwise difference `a - b` (with ONNX broadcasting).
    pub fn sub(&mut self, a: &str, b: &str) -> String {
        self.binary("Sub", "sub", a, b)
    }

    /// Elementwise sum (with ONNX broadcasting), e.g. a residual connection.
    pub fn add(&mut self, a: &str, b: &str) -> String {
        self.binary("Add", "add", a, b)
    }

    /// Bilinear resize of the last two axes to `out_hw`, half-pixel centres:
    /// `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`, the same map as
    /// `soundproof::dsp::resize`. The output size is given as ONNX `sizes`, built from the
    /// input's own leading dims so the batch axis stays dynamic.
    pub fn resize_bilinear(&mut self, x: &str, out_hw: [i64; 2]) -> String {
        let name = self.fresh("resize");
        if out_hw.iter().any(|&d| d < 1) {
            self.error(&name, format!("output size {out_hw:?} must be positive"));
        }
        let lead = format!("{name}.lead");
        self.nodes.push(node(
            "Shape",
            &lead,
            &[x.to_string()],
            &[&lead],
            vec![attr_int("start", 0), attr_int("end", 2)],
        ));
        let hw = format!("{name}.hw");
        self.consts
            .insert(hw.clone(), Const::I64(vec![2], out_hw.to_vec()));
        let sizes = format!("{name}.sizes");
        self.nodes.push(node(
            "Concat",
            &sizes,
            &[lead, hw],
            &[&sizes],
            vec![attr_int("axis", 0)],
        ));
        self.push(
            node(
                "Resize",
                &name,
                &[x.to_string(), String::new(), String::new(), sizes],
                &[&name],
                vec![
                    attr_string("mode", "linear"),
                    attr_string("coordinate_transformation_mode", "half_pixel"),
                ],
            ),
            &[x],
        )
    }

    /// Mean over `axes` (ONNX `ReduceMean`; opset 17 takes the axes as an attribute).
    pub fn reduce_mean(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        let name = self.fresh("mean");
        if axes.is_empty() {
            self.error(&name, "no axes given (ONNX would reduce over all of them)");
        }
        self.push(
            node(
                "ReduceMean",
                &name,
                &[x.to_string()],
                &[&name],
                vec![
                    attr_ints("axes", axes),
                    attr_int("keepdims", keepdims as i64),
                ],
            ),
            &[x],
        )
    }

    /// Maximum over `axes` (ONNX `ReduceMax`; opset 17 takes the axes as an attribute).
    pub fn reduce_max(&mut self, x: &str, axes: &[i64], keepdims: bool) -> String {
        let name = self.fresh("max");
        if axes.is_empty() {
            self.error(&name, "no axes given (ONNX would reduce over all of them)");
        }
        self.push(
            node("ReduceMax", &name, &[x.to_string()], &[&name], vec![attr_ints("axes", axes), attr_int("keepdims", keepdims as i64)]),
            &[x],
        )
    }

    /// Elementwise product (with ONNX broadcasting).
    pub fn mul(&mut self, a: &str, b: &str) -> String {
        self.binary("Mul", "mul", a, b)
    }

    /// Elementwise quotient `a / b` (with ONNX broadcasting).
    pub fn div(&mut self, a: &str, b: &str) -> String {
        self.binary("Div", "div", a, b)
    }

    /// −1, 0 or 1 by the sign of each element.
    pub fn sign(&mut self, x: &str) -> String {
        self.unary("Sign", "sign", x)
    }

    /// A constant tensor (an initializer), e.g. an offset to [`Graph::add`].
    pub fn constant(&mut self, value: Array) -> String {
        let name = self.fresh("const");
        self.add_f32(&name, "value", value)
    }

    pub fn abs(&mut self, x: &str) -> String {
        self.unary("Abs", "abs", x)
    }

    /// Natural logarithm.
    pub fn log(&mut self, x: &str) -> String {
        self.unary("Log", "log", x)
    }

    /// Completes the graph: folds BatchNormalization into a preceding Conv when it is the
    /// conv's only consumer, drops nodes the output does not depend on, renames `output` to
    /// `card.output_name`, and stores the card in `metadata_props`. Fails, naming the node or
    /// the card field at fault, when a builder call was wrong or the card does not fit the
    /// graph (input name and shape, precision, in-graph resize) or itself (`card.validate()`).
    pub fn finish(mut self, output: &str, card: &ModelCard) -> anyhow::Result<ModelProto> {
        if !self.errors.is_empty() {
            bail!(
                "graph for `{}` is not valid:\n  {}",
                card.name,
                self.errors.join("\n  ")
            );
        }
        if !self
            .nodes
            .iter()
            .any(|n| n.output.iter().any(|o| o == output))
        {
            bail!(
                "graph for `{}`: output `{output}` is not produced by any node",
                card.name
            );
        }
        self.fold_batch_norms(output);
        self.prune(output);
        if card.output_name != output {
            if self.known(&card.output_name) {
                bail!(
                    "graph for `{}`: card output name `{}` is already the name of another tensor",
                    card.name,
                    card.output_name
                );
            }
            for n in &mut self.nodes {
                for t in n.input.iter_mut().chain(n.output.iter_mut()) {
                    if t == output {
                        *t = card.output_name.clone();
                    }
                }
            }
        }
        let initializer = self
            .consts
            .iter()
            .map(|(name, c)| match c {
                Const::F32(a) => tensor_f32(name, a),
                Const::I64(shape, v) => tensor_i64(name, shape, v),
            })
            .collect();
        let graph = tract_onnx::pb::GraphProto {
            name: card.name.clone(),
            node: self.nodes,
            initializer,
            input: vec![value_info(&self.input_name, 1, Some(&self.input_shape))],
            output: vec![value_info(&card.output_name, 1, None)],
            ..Default::default()
        };
        let mut model = ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "soundproof-tools".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(graph),
            ..Default::default()
        };
        // The output's shape, as tract infers it (batch axis symbolic like the input's).
        let concrete: Vec<usize> = self
            .input_shape
            .iter()
            .map(|&d| d.max(1) as usize)
            .collect();
        let shape = super::run::output_shape(&model, &concrete)
            .with_context(|| format!("graph for `{}`: inferring the output shape", card.name))?;
        let dims: Vec<i64> = shape
            .iter()
            .enumerate()
            .map(|(i, &d)| {
                if i == 0 && self.input_shape.first() == Some(&-1) {
                    -1
                } else {
                    d as i64
                }
            })
            .collect();
        if let Some(g) = model.graph.as_mut() {
            g.output = vec![value_info(&card.output_name, 1, Some(&dims))];
        }
        set_card(&mut model, card)?;
        Ok(model)
    }

    // ---- internals ----

    fn fresh(&mut self, kind: &str) -> String {
        self.next_id += 1;
        format!("{kind}_{}", self.next_id)
    }

    fn error(&mut self, node: &str, what: impl Into<String>) {
        self.errors.push(format!("{node}: {}", what.into()));
    }

    fn known(&self, t: &str) -> bool {
        t == self.input_name
            || self.consts.contains_key(t)
            || self.nodes.iter().any(|n| n.output.iter().any(|o| o == t))
    }

    /// Appends `n` after checking that its data inputs exist; returns its (single) output.
    fn push(&mut self, n: NodeProto, data_inputs: &[&str]) -> String {
        for x in data_inputs {
            if !self.known(x) {
                self.error(
                    &n.name,
                    format!(
                        "input `{x}` is neither the graph input nor the output of an earlier node"
                    ),
                );
            }
        }
        let out = n.output[0].clone();
        self.nodes.push(n);
        out
    }

    fn binary(&mut self, op: &str, kind: &str, a: &str, b: &str) -> String {
        let name = self.fresh(kind);
        self.push(node(op, &name, &[a.to_string(), b.to_string()], &[&name], vec![]), &[a, b])
    }

    fn unary(&mut self, op: &str, kind: &str, x: &str) -> String {
        let name = self.fresh(kind);
        self.push(node(op, &name, &[x.to_string()], &[&name], vec![]), &[x])
    }

    fn pool(
        &mut self,
        op: &str,
        kind: &str,
        x: &str,
        kernel: &[i64],
        strides: &[i64],
        pads: &[i64],
    ) -> String {
        let name = self.fresh(kind);
        if kernel.is_empty() || kernel.iter().any(|&k| k < 1) {
            self.error(
                &name,
                format!("kernel {kernel:?} must hold one positive size per spatial axis"),
            );
        }
        let spatial = kernel.len().max(1);
        let strides = if strides.is_empty() {
            kernel.to_vec()
        } else {
            self.per_axis(&name, "strides", strides, spatial, 1)
        };
        let pads = self.pads(&name, pads, spatial);
        let mut attrs = vec![
            attr_ints("kernel_shape", kernel),
            attr_ints("strides", &strides),
            attr_ints("pads", &pads),
        ];
        if op == "AveragePool" {
            attrs.push(attr_int("count_include_pad", 1));
        }
        self.push(node(op, &name, &[x.to_string()], &[&name], attrs), &[x])
    }

    fn per_axis(
        &mut self,
        node: &str,
        what: &str,
        v: &[i64],
        spatial: usize,
        default: i64,
    ) -> Vec<i64> {
        let out = match v.len() {
            0 => vec![default; spatial],
            1 => vec![v[0]; spatial],
            n if n == spatial => v.to_vec(),
            n => {
                self.error(
                    node,
                    format!("{what} {v:?}: {n} values for {spatial} spatial axes"),
                );
                vec![default; spatial]
            }
        };
        if out.iter().any(|&s| s < 1) {
            self.error(node, format!("{what} {v:?} must be ≥ 1"));
        }
        out
    }

    fn pads(&mut self, node: &str, v: &[i64], spatial: usize) -> Vec<i64> {
        let out = match v.len() {
            0 => vec![0; 2 * spatial],
            n if n == spatial => v.iter().chain(v).copied().collect(),
            n if n == 2 * spatial => v.to_vec(),
            n => {
                self.error(
                    node,
                    format!("pads {v:?}: {n} values for {spatial} spatial axes"),
                );
                vec![0; 2 * spatial]
            }
        };
        if out.iter().any(|&p| p < 0) {
            self.error(node, format!("pads {v:?} must be ≥ 0"));
        }
        out
    }

    fn add_f32(&mut self, node: &str, what: &str, a: Array) -> String {
        if a.volume() != a.data.len() {
            self.error(
                node,
                format!(
                    "{what} of shape {:?} holds {} values",
                    a.shape,
                    a.data.len()
                ),
            );
        }
        if a.data.iter().any(|v| !v.is_finite()) {
            self.error(node, format!("{what} holds a non-finite value"));
        }
        let name = format!("{node}.{what}");
        self.consts.insert(name.clone(), Const::F32(a));
        name
    }

    fn consumers(&self, t: &str) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].input.iter().any(|x| x == t))
            .collect()
    }

    /// `conv → bn` with the conv output used by the BatchNormalization alone becomes one conv
    /// with `w' = w · s`, `b' = (b - mean) · s + beta`, `s = scale / sqrt(var + eps)` per output
    /// channel.
    fn fold_batch_norms(&mut self, output: &str) {
        let mut i = 0;
        while i < self.nodes.len() {
            let bn = &self.nodes[i];
            if bn.op_type != "BatchNormalization" {
                i += 1;
                continue;
            }
            let x = bn.input[0].clone();
            let Some(ci) = self
                .nodes
                .iter()
                .position(|n| n.op_type == "Conv" && n.output[0] == x)
            else {
                i += 1;
                continue;
            };
            if x == output || self.consumers(&x) != [i] {
                i += 1;
                continue;
            }
            let eps = bn
                .attribute
                .iter()
                .find(|a| a.name == "epsilon")
                .map(|a| a.f)
                .unwrap_or(1e-5);
            let get = |name: &str| match self.consts.get(name) {
                Some(Const::F32(a)) => a.data.clone(),
                _ => Vec::new(),
            };
            let (scale, beta, mean, var) = (
                get(&bn.input[1]),
                get(&bn.input[2]),
                get(&bn.input[3]),
                get(&bn.input[4]),
            );
            let bn_out = bn.output[0].clone();
            let bn_consts: Vec<String> = bn.input[1..].to_vec();
            let conv = &self.nodes[ci];
            let w_name = conv.input[1].clone();
            let b_name = conv
                .input
                .get(2)
                .cloned()
                .unwrap_or_else(|| format!("{}.bias", conv.name));
            let Some(Const::F32(w)) = self.consts.get(&w_name).cloned() else {
                i += 1;
                continue;
            };
            let out_ch = w.shape[0];
            if scale.len() != out_ch {
                // Reported as an error below by shape inference in any runtime; leave unfolded.
                i += 1;
                continue;
            }
            let per = w.data.len() / out_ch;
            let b = match self.consts.get(&b_name) {
                Some(Const::F32(b)) => b.data.clone(),
                _ => vec![0.0; out_ch],
            };
            let mut w2 = w.clone();
            let mut b2 = vec![0.0f32; out_ch];
            for o in 0..out_ch {
                // In f64 so that folding adds no rounding beyond the final cast.
                let s = scale[o] as f64 / (var[o] as f64 + eps as f64).sqrt();
                for v in &mut w2.data[o * per..(o + 1) * per] {
                    *v = (*v as f64 * s) as f32;
                }
                b2[o] = ((b[o] as f64 - mean[o] as f64) * s + beta[o] as f64) as f32;
            }
            self.consts.insert(w_name, Const::F32(w2));
            self.consts.insert(
                b_name.clone(),
                Const::F32(Array {
                    shape: vec![out_ch],
                    data: b2,
                }),
            );
            let conv = &mut self.nodes[ci];
            if conv.input.len() < 3 {
                conv.input.push(b_name);
            }
            conv.output[0] = bn_out;
            for c in bn_consts {
                self.consts.remove(&c);
            }
            self.nodes.remove(i);
        }
    }

    /// Removes nodes and constants the output does not depend on.
    fn prune(&mut self, output: &str) {
        let mut needed: HashSet<String> = HashSet::from([output.to_string()]);
        let mut keep = vec![false; self.nodes.len()];
        for (i, n) in self.nodes.iter().enumerate().rev() {
            if n.output.iter().any(|o| needed.contains(o)) {
                keep[i] = true;
                needed.extend(n.input.iter().filter(|s| !s.is_empty()).cloned());
            }
        }
        let mut k = keep.into_iter();
        self.nodes.retain(|_| k.next().unwrap_or(false));
        self.consts.retain(|name, _| needed.contains(name));
    }
}

/// Stores `card` in `model.metadata_props` (replacing any card there) after checking it against
/// itself and against the graph.
pub fn set_card(model: &mut ModelProto, card: &ModelCard) -> anyhow::Result<()> {
    card.validate()
        .with_context(|| format!("model card of `{}`", card.name))?;
    card_check::check_graph(card, model)?;
    model
        .metadata_props
        .retain(|e| !e.key.starts_with("soundproof."));
    model.metadata_props.extend(onnx_proto::card_props(card));
    Ok(())
}

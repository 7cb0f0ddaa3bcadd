//! Does a model card describe the graph it sits in? The card checks itself
//! (`ModelCard::validate`); here it is held against the graph: input name and shape, output
//! name, precision of the arithmetic, and the in-graph resize.

use super::proto::{value_info_elem, value_info_shape};
use anyhow::{bail, Context};
use soundproof::model::{ModelCard, Precision};
use std::collections::{HashMap, HashSet};
use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::{GraphProto, ModelProto, TensorProto};

/// Operators that only an int8 graph holds.
const INT8_OPS: [&str; 6] = [
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "QuantizeLinear",
    "DequantizeLinear",
];

/// The precision the graph computes in: int8 when it holds quantized operators, f16 when it
/// holds f16 weights, else f32.
pub fn graph_precision(model: &ModelProto) -> Precision {
    let Some(g) = &model.graph else {
        return Precision::F32;
    };
    if g.node
        .iter()
        .any(|n| INT8_OPS.contains(&n.op_type.as_str()))
    {
        Precision::Int8
    } else if g
        .initializer
        .iter()
        .any(|t| t.data_type == DataType::Float16 as i32)
    {
        Precision::F16
    } else {
        Precision::F32
    }
}

/// Output sizes `[h, w]` of every Resize in the graph (as [`crate::onnx::Graph::resize_bilinear`]
/// writes them: `sizes` = Concat(Shape(x)[0..2], [h, w]), or a constant `sizes`).
pub fn graph_resizes(g: &GraphProto) -> Vec<[i64; 2]> {
    let inits: HashMap<&str, &TensorProto> =
        g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let i64s = |name: &str| -> Option<Vec<i64>> {
        let t = inits.get(name)?;
        (t.data_type == DataType::Int64 as i32).then(|| {
            if t.raw_data.is_empty() {
                t.int64_data.clone()
            } else {
                t.raw_data
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])))
                    .collect()
            }
        })
    };
    let mut out = Vec::new();
    for n in g.node.iter().filter(|n| n.op_type == "Resize") {
        let Some(sizes) = n.input.get(3) else {
            continue;
        };
        let hw = i64s(sizes).or_else(|| {
            let concat = g
                .node
                .iter()
                .find(|m| m.op_type == "Concat" && m.output.first() == Some(sizes))?;
            i64s(concat.input.get(1)?)
        });
        if let Some(v) = hw.filter(|v| v.len() >= 2) {
            out.push([v[v.len() - 2], v[v.len() - 1]]);
        }
    }
    out
}

/// Checks `card` against the graph of `model`; the error names the field that disagrees.
pub fn check_graph(card: &ModelCard, model: &ModelProto) -> anyhow::Result<()> {
    let bad = |what: String| -> anyhow::Result<()> {
        bail!(
            "model card of `{}` does not fit its graph: {what}",
            card.name
        )
    };
    let g = model.graph.as_ref().context("the model has no graph")?;
    let init: HashSet<&str> = g.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<_> = g
        .input
        .iter()
        .filter(|v| !init.contains(v.name.as_str()))
        .collect();
    let [input] = inputs.as_slice() else {
        return bad(format!(
            "the graph has {} inputs, the card describes one",
            inputs.len()
        ));
    };
    if input.name != card.input_name {
        return bad(format!(
            "input_name `{}`, the graph's input is `{}`",
            card.input_name, input.name
        ));
    }
    if value_info_elem(input) != DataType::Float as i32 {
        return bad(format!("the graph's input `{}` is not float32", input.name));
    }
    match value_info_shape(input) {
        Some(s) if s == card.input_shape => {}
        s => {
            return bad(format!(
                "input_shape {:?}, the graph's input has shape {s:?}",
                card.input_shape
            ))
        }
    }
    let [output] = g.output.as_slice() else {
        return bad(format!(
            "the graph has {} outputs, the card describes one",
            g.output.len()
        ));
    };
    if output.name != card.output_name {
        return bad(format!(
            "output_name `{}`, the graph's output is `{}`",
            card.output_name, output.name
        ));
    }
    if value_info_elem(output) != DataType::Float as i32 {
        return bad(format!(
            "the graph's output `{}` is not float32",
            output.name
        ));
    }
    let p = graph_precision(model);
    if p != card.precision {
        return bad(format!(
            "precision {:?}, the graph computes in {p:?}",
            card.precision
        ));
    }
    let resizes = graph_resizes(g);
    match card.resize {
        Some([h, w]) if !resizes.contains(&[h as i64, w as i64]) => bad(format!(
            "resize {:?}, the graph resizes to {resizes:?}",
            card.resize
        )),
        None if !resizes.is_empty() => bad(format!("no resize, the graph resizes to {resizes:?}")),
        _ => Ok(()),
    }
}

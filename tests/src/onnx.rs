//! Small ONNX models the tests write themselves (no training, no libtorch): a linear classifier
//! `logits = W · flatten(x) + b`, with a model card. Used before the shipped models exist, and
//! where a closed form is needed (a linear classifier's smoothed prediction and radius are
//! known exactly).

use prost::Message;
use soundproof::model::ModelCard;
use std::path::Path;
use tract_onnx::pb::{
    tensor_shape_proto::{dimension, Dimension},
    type_proto, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, StringStringEntryProto,
    TensorProto, TensorShapeProto, TypeProto, ValueInfoProto,
};

fn value_info(name: &str, shape: &[i64]) -> ValueInfoProto {
    let dim = shape
        .iter()
        .map(|&d| Dimension {
            value: Some(if d < 0 { dimension::Value::DimParam("N".into()) } else { dimension::Value::DimValue(d) }),
            ..Default::default()
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: 1,
                shape: Some(TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn tensor(name: &str, dims: &[i64], data: &[f32]) -> TensorProto {
    TensorProto { name: name.into(), dims: dims.to_vec(), data_type: 1, float_data: data.to_vec(), ..Default::default() }
}

fn int_attr(name: &str, v: i64) -> AttributeProto {
    AttributeProto { name: name.into(), r#type: 2, i: v, ..Default::default() }
}

/// Writes `logits[N, C] = flatten(input[N, ...]) · Wᵀ + b` with the card in `metadata_props`.
/// `weight` is row-major `[C, D]` with `D` = the product of the card's per-example input shape.
pub fn write_linear_model(path: &Path, card: &ModelCard, weight: &[f32], bias: &[f32]) {
    let c = card.labels.len();
    let d: i64 = card.input_shape[1..].iter().product();
    assert_eq!(weight.len(), c * d as usize, "weight must be [C, D]");
    assert_eq!(bias.len(), c);
    let graph = GraphProto {
        name: card.name.clone(),
        node: vec![
            NodeProto {
                op_type: "Flatten".into(),
                input: vec![card.input_name.clone()],
                output: vec!["flat".into()],
                attribute: vec![int_attr("axis", 1)],
                name: "flatten".into(),
                ..Default::default()
            },
            NodeProto {
                op_type: "Gemm".into(),
                input: vec!["flat".into(), "W".into(), "b".into()],
                output: vec![card.output_name.clone()],
                attribute: vec![int_attr("transB", 1)],
                name: "linear".into(),
                ..Default::default()
            },
        ],
        initializer: vec![tensor("W", &[c as i64, d], weight), tensor("b", &[c as i64], bias)],
        input: vec![value_info(&card.input_name, &card.input_shape)],
        output: vec![value_info(&card.output_name, &[-1, c as i64])],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        producer_name: "soundproof-tests".into(),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(graph),
        metadata_props: card
            .metadata_props()
            .into_iter()
            .map(|(key, value)| StringStringEntryProto { key, value })
            .collect(),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec()).expect("write ONNX model");
}

/// Replaces the card in the metadata of the ONNX model at `path`, leaving its graph as it is
/// (for models whose card disagrees with their graph).
pub fn replace_card(path: &Path, card: &ModelCard) {
    let bytes = std::fs::read(path).expect("read ONNX model");
    let mut model = ModelProto::decode(bytes.as_slice()).expect("an ONNX model");
    model.metadata_props =
        card.metadata_props().into_iter().map(|(key, value)| StringStringEntryProto { key, value }).collect();
    std::fs::write(path, model.encode_to_vec()).expect("write ONNX model");
}

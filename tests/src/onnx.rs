//! Small ONNX models the tests write themselves (no training, no libtorch): a linear classifier
//! `logits = W · flatten(x) + b`, with a model card. Used before the shipped models exist, and
//! where a closed form is needed (a linear classifier's smoothed prediction and radius are
//! known exactly).

use onnx_proto::pb::tensor_proto::DataType;
use onnx_proto::pb::{GraphProto, ModelProto, OperatorSetIdProto};
use onnx_proto::{attr_int, card_props, node, tensor_f32, value_info, Array};
use prost::Message;
use soundproof::model::ModelCard;
use std::path::Path;

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
            node("Flatten", "flatten", &[card.input_name.clone()], &["flat"], vec![attr_int("axis", 1)]),
            node("Gemm", "linear", &["flat".into(), "W".into(), "b".into()], &[&card.output_name], vec![attr_int("transB", 1)]),
        ],
        initializer: vec![
            tensor_f32("W", &Array::new(&[c, d as usize], weight.to_vec()).expect("weight [C, D]")),
            tensor_f32("b", &Array::new(&[c], bias.to_vec()).expect("bias [C]")),
        ],
        input: vec![value_info(&card.input_name, DataType::Float as i32, Some(&card.input_shape))],
        output: vec![value_info(&card.output_name, DataType::Float as i32, Some(&[-1, c as i64]))],
        ..Default::default()
    };
    let model = ModelProto {
        ir_version: 8,
        producer_name: "soundproof-tests".into(),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 17 }],
        graph: Some(graph),
        metadata_props: card_props(card),
        ..Default::default()
    };
    std::fs::write(path, model.encode_to_vec()).expect("write ONNX model");
}

/// Replaces the card in the metadata of the ONNX model at `path`, leaving its graph as it is
/// (for models whose card disagrees with their graph).
pub fn replace_card(path: &Path, card: &ModelCard) {
    let bytes = std::fs::read(path).expect("read ONNX model");
    let mut model = ModelProto::decode(bytes.as_slice()).expect("an ONNX model");
    model.metadata_props = card_props(card);
    std::fs::write(path, model.encode_to_vec()).expect("write ONNX model");
}

//! ONNX export: a small graph builder over tract-onnx's protobuf types, the model card in
//! `metadata_props`, quantization (f16, int8) and tract runners for tests and timing.
//!
//! Stages, as the engine will see them: [`Graph`] → [`Graph::finish`] (BN folding, card
//! checks) → [`save`] (`NAME.onnx` + `NAME.json`) → [`quantize::to_f16`] /
//! [`quantize::to_int8`] → [`load`] + [`card_of`] (card read back and held against the graph).

mod card_check;
pub mod graph;
pub mod quantize;
pub mod run;
pub mod testing;

pub use card_check::{check_graph, graph_precision};
pub use onnx_proto as proto;
pub use graph::{set_card, Array, Graph, IR_VERSION, OPSET};
pub use quantize::{to_f16, to_int8, Int8Form};
pub use run::{bench_tract, optimized_ops, profile_tract, run_tract, BenchStats};
pub use tract_onnx::pb::ModelProto;

use anyhow::Context;
use prost::Message;
use soundproof::model::ModelCard;
use std::path::{Path, PathBuf};

/// Writes `model` to `path` and its card, pretty-printed, to `NAME.json` beside it (`path`
/// with the extension `json`). Refuses a model without a card that fits its graph.
pub fn save(model: &ModelProto, path: &Path) -> anyhow::Result<()> {
    let card = card_of(model).with_context(|| format!("refusing to save {}", path.display()))?;
    std::fs::write(path, model.encode_to_vec())
        .with_context(|| format!("writing {}", path.display()))?;
    let json = card_path(path);
    std::fs::write(&json, card.to_json() + "\n")
        .with_context(|| format!("writing {}", json.display()))?;
    Ok(())
}

/// The readable card's path beside the model at `path`.
pub fn card_path(path: &Path) -> PathBuf {
    path.with_extension("json")
}

/// Reads an ONNX model (does not check its card: see [`card_of`]).
pub fn load(path: &Path) -> anyhow::Result<ModelProto> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    ModelProto::decode(bytes.as_slice())
        .with_context(|| format!("{} is not an ONNX model", path.display()))
}

/// The model card in `model.metadata_props`, checked against itself and against the graph
/// (input name and shape, output name, precision, resize).
pub fn card_of(model: &ModelProto) -> anyhow::Result<ModelCard> {
    let card = ModelCard::from_metadata(
        model
            .metadata_props
            .iter()
            .map(|e| (e.key.as_str(), e.value.as_str())),
    )
    .map_err(anyhow::Error::new)?;
    check_graph(&card, model)?;
    Ok(card)
}

//! From a checkpoint to the served files (DESIGN.md "Models and the model card"): the f32 ONNX
//! model with its card in `metadata_props` and `NAME.json` beside it, then its f16 and int8
//! siblings (int8 calibrated on clean training-split inputs made by the card's own pipeline).

use crate::checkpoint::Checkpoint;
use crate::data::features::Batcher;
use crate::data::{prepare, DatasetSpec};
use soundproof::dataset::evenly;
use soundproof::window::ClipWindow;
use crate::error::{Result, ToolsError};
use crate::onnx::{self, Array, Graph, ModelProto};
use soundproof::dsp::FftBackend;
use soundproof::model::card::{InputKind, ModelCard, Precision};
use std::path::{Path, PathBuf};
use tch::Device;

fn onnx_err(e: anyhow::Error) -> ToolsError {
    ToolsError::Onnx(format!("{e:#}"))
}

/// The ONNX graph of the checkpoint at `path` (f32), with its card.
pub fn to_onnx(path: &Path, name: &str) -> Result<(ModelProto, ModelCard)> {
    let ck = Checkpoint::load(path)?;
    onnx_of(&ck, path, name)
}

/// The ONNX graph (f32) and card of `ck`, whose weights are at `path` (as in [`Checkpoint::load`]).
pub fn onnx_of(ck: &Checkpoint, path: &Path, name: &str) -> Result<(ModelProto, ModelCard)> {
    let (_vs, model) = ck.build(path, Device::Cpu)?;
    proto_of(&model, &ck.card(name))
}

/// The ONNX graph of `model` (as built, f32) with `card`.
pub fn proto_of(model: &crate::nn::Model, card: &ModelCard) -> Result<(ModelProto, ModelCard)> {
    let card = card.clone();
    card.validate()?;
    let mut g = Graph::new(&card.input_name, &card.input_shape);
    let out = model.export(&mut g)?;
    let proto = g.finish(&out, &card).map_err(onnx_err)?;
    Ok((proto, card))
}

/// Writes `path` (and `NAME.json` beside it) from the checkpoint in `dir`.
pub fn export(dir: &Path, name: &str, path: &Path) -> Result<ModelCard> {
    let (proto, card) = to_onnx(dir, name)?;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| ToolsError::io(parent, e))?;
    }
    onnx::save(&proto, path).map_err(onnx_err)?;
    Ok(card)
}

/// The input batcher a card prescribes (its front end, or the waveform).
pub fn batcher_of(card: &ModelCard) -> Result<Batcher> {
    match card.input {
        InputKind::Features => Batcher::new(Some(&card.features), card.window_samples),
        InputKind::Waveform => Batcher::new(None, card.window_samples),
    }
}

/// Clean model inputs of `clips` training-split examples, in batches of `batch`: the int8
/// calibration set.
pub fn calibration_inputs(card: &ModelCard, dataset: &DatasetSpec, clips: usize, batch: usize) -> Result<Vec<Array>> {
    let index = dataset.index()?;
    let examples = evenly(&index.train, clips);
    let data = prepare(&ClipWindow::of(card), &examples)?;
    let mut batcher = batcher_of(card)?;
    let mut shape = vec![0usize];
    shape.extend(batcher.example_shape().iter().map(|&d| d as usize));
    let mut out = Vec::new();
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch.max(1)) {
        let mut buf = Vec::new();
        for &i in chunk {
            batcher.push_input(data.clip(i), &mut buf)?;
        }
        shape[0] = chunk.len();
        out.push(Array { shape: shape.clone(), data: buf });
    }
    Ok(out)
}

/// `MODEL-f16.onnx` / `MODEL-int8.onnx` beside `model`.
pub fn quantized_path(model: &Path, precision: Precision) -> PathBuf {
    let stem = model.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let suffix = match precision {
        Precision::F32 => "f32",
        Precision::F16 => "f16",
        Precision::Int8 => "int8",
    };
    model.with_file_name(format!("{stem}-{suffix}.onnx"))
}

/// Quantizes the f32 model at `model` to `precision`, writes it to `out`, returns its card.
///
/// `fft_backend`, when given, is the FFT the new model is served with (its card's
/// `features.fft_backend`; the parent's otherwise): int8 ranges are calibrated on features
/// computed with it. A model meant for a microcontroller takes `Microfft`, the `no_std`
/// backend the firmware runs, so that the host engine computes the very features (and logits)
/// the device does.
pub fn quantize(
    model: &Path,
    precision: Precision,
    dataset: &DatasetSpec,
    calibration_clips: usize,
    fft_backend: Option<FftBackend>,
    out: &Path,
) -> Result<ModelCard> {
    let proto = onnx::load(model).map_err(onnx_err)?;
    let mut card = onnx::card_of(&proto).map_err(onnx_err)?;
    if let Some(b) = fft_backend {
        card.features.fft_backend = b;
    }
    if card.precision != Precision::F32 {
        return Err(ToolsError::Onnx(format!("{} is {:?}; quantize its f32 parent", model.display(), card.precision)));
    }
    let q = match precision {
        Precision::F32 => return Err(ToolsError::invalid("precision", "f32", "f16 or int8")),
        Precision::F16 => onnx::quantize::to_f16(&proto),
        Precision::Int8 => {
            let calib = calibration_inputs(&card, dataset, calibration_clips, 16)?;
            onnx::quantize::to_int8(&proto, &calib).map_err(onnx_err)?
        }
    };
    let mut q = q;
    let mut qcard = onnx::card_of(&q).map_err(onnx_err)?;
    if qcard.features.fft_backend != card.features.fft_backend {
        qcard.features.fft_backend = card.features.fft_backend;
        onnx::set_card(&mut q, &qcard).map_err(onnx_err)?;
    }
    onnx::save(&q, out).map_err(onnx_err)?;
    onnx::card_of(&q).map_err(onnx_err)
}

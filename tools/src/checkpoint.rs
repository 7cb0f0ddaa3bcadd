//! A trained model on disk, before and independent of ONNX: `model.safetensors` (the best
//! weights) and `checkpoint.json` (architecture, front end, clip pipeline, labels, training
//! record). Everything the model card needs is here, so `export` rebuilds the model and writes
//! the card without the dataset.

use soundproof::window::ClipWindow;
use crate::error::{Result, ToolsError};
use crate::nn::{Arch, Model, ModelSpec};
use std::collections::HashMap;
use tract_onnx::pb::{GraphProto, TensorProto};
use serde::{Deserialize, Serialize};
use soundproof::dsp::{FeatureConfig, GainPolicy};
use soundproof::model::card::{InputKind, Metrics, ModelCard, Normalization, Precision, Training, CARD_VERSION};
use std::path::{Path, PathBuf};
use tch::{nn, Device};

pub const WEIGHTS: &str = "model.safetensors";
pub const META: &str = "checkpoint.json";

/// Whether `path` names an ONNX model file (rather than a checkpoint folder).
pub fn is_onnx(path: &Path) -> bool {
    path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx"))
}

/// The two files of the checkpoint at `path` (its record, its weights): in a folder written by
/// `train`, `checkpoint.json` and `model.safetensors`; for a shipped model `NAME.onnx`,
/// `NAME.checkpoint.json` and `NAME.safetensors` beside it (`models/` ships them so).
pub fn files(path: &Path) -> (PathBuf, PathBuf) {
    if is_onnx(path) {
        (path.with_extension(META), path.with_extension("safetensors"))
    } else {
        (path.join(META), path.join(WEIGHTS))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub spec: ModelSpec,
    /// Front end of a feature model (`None` for waveform models). Its gain is unity: clips are
    /// scaled by their own gain before the front end.
    pub features: Option<FeatureConfig>,
    pub sample_rate: u32,
    pub window_samples: usize,
    pub hop_samples: usize,
    pub target_rms: f32,
    /// Median clip gain of the training set: the fixed gain for streaming without a clean clip.
    pub calibration_gain: f32,
    pub labels: Vec<String>,
    pub dataset: String,
    pub split: String,
    pub noise_sigma: f32,
    pub epochs_run: usize,
    pub seed: u64,
    pub command: String,
    pub training_seconds: f64,
    pub validation_accuracy: f64,
    pub test_accuracy: f64,
    pub test_examples: usize,
    pub macs: u64,
    pub parameters: usize,
}

impl Checkpoint {
    /// The window the checkpoint's clips are cut to (003 Contract 1, as the engine cuts it).
    pub fn clip_window(&self) -> ClipWindow {
        ClipWindow { sample_rate: self.sample_rate, window_samples: self.window_samples, target_rms: self.target_rms, calibration_gain: None }
    }

    /// Writes the record of the checkpoint at `path` (a `train` folder, or beside a model's
    /// .onnx file: see [`files`]).
    pub fn save(&self, path: &Path) -> Result<()> {
        let path = files(path).0;
        let json = serde_json::to_string_pretty(self).map_err(|e| ToolsError::Json { path: path.clone(), source: e })?;
        std::fs::write(&path, json + "\n").map_err(|e| ToolsError::io(&path, e))
    }

    /// Reads the checkpoint at `path`: a folder written by `train`, or a shipped model's ONNX
    /// file with its checkpoint beside it (see [`files`]). From an ONNX file, the checkpoint is
    /// held against the model: it must rebuild exactly the ONNX file's graph (every
    /// initializer, bit for bit) and front end, else it is refused with what differs.
    pub fn load(path: &Path) -> Result<Self> {
        let (meta, _) = files(path);
        let text = std::fs::read_to_string(&meta).map_err(|e| {
            let hint = if is_onnx(path) {
                format!(
                    "{e}: no checkpoint beside {} (a shipped model's is NAME.checkpoint.json + NAME.safetensors; \
                     a quantized model has none: attack its f32 parent, the card's `parent`)",
                    path.display()
                )
            } else {
                format!("{e} (is this a folder written by `soundproof-tools train`, or a model's .onnx file?)")
            };
            ToolsError::io(&meta, std::io::Error::new(e.kind(), hint))
        })?;
        let ck: Checkpoint = serde_json::from_str(&text).map_err(|e| ToolsError::Json { path: meta.clone(), source: e })?;
        if is_onnx(path) {
            ck.check_against_onnx(path)?;
        }
        Ok(ck)
    }

    /// The weights file of the checkpoint at `path` (a `train` folder or a model's .onnx).
    pub fn weights(path: &Path) -> PathBuf {
        files(path).1
    }

    /// Refuses a checkpoint that is not the one the ONNX model at `onnx_path` was exported
    /// from: the model must be f32 (a quantized copy has no checkpoint of its own), its front
    /// end, labels, input and windowing must be the checkpoint's, and the graph the checkpoint
    /// exports must have the file's operators and read exactly its weight tensors, bit for bit.
    fn check_against_onnx(&self, onnx_path: &Path) -> Result<()> {
        let refuse = |what: String| ToolsError::Onnx(format!("{}: its checkpoint disagrees with the model: {what}", onnx_path.display()));
        let (proto, card) = f32_model(onnx_path)?;
        let mine = self.card(&card.name);
        let fields = [
            ("front end", format!("{:?}", mine.features), format!("{:?}", card.features)),
            ("labels", format!("{:?}", mine.labels), format!("{:?}", card.labels)),
            ("input shape", format!("{:?}", mine.input_shape), format!("{:?}", card.input_shape)),
            ("window / hop", format!("{} / {}", mine.window_samples, mine.hop_samples), format!("{} / {}", card.window_samples, card.hop_samples)),
            ("normalization", format!("{:?}", mine.normalization), format!("{:?}", card.normalization)),
        ];
        for (what, a, b) in fields {
            if a != b {
                return Err(refuse(format!("{what}: checkpoint {a}, model {b}")));
            }
        }
        let (rebuilt, _) = crate::export::onnx_of(self, onnx_path, &card.name)?;
        let (ops_a, a) = weights_in_node_order(&rebuilt.graph.unwrap_or_default());
        let (ops_b, b) = weights_in_node_order(&proto.graph.unwrap_or_default());
        if ops_a != ops_b || a.len() != b.len() {
            return Err(refuse(format!(
                "the checkpoint exports {} operators and {} weight tensors, the model has {} and {}",
                ops_a.len(),
                a.len(),
                ops_b.len(),
                b.len()
            )));
        }
        if let Some(k) = a.iter().zip(&b).position(|(x, y)| x != y) {
            return Err(refuse(format!("weight tensor {k} (in node order, of dims {:?}) differs", b[k].dims)));
        }
        Ok(())
    }

    /// Rebuilds the model on `device` and loads the saved weights (`path`: as in [`Self::load`]).
    pub fn build(&self, path: &Path, device: Device) -> Result<(nn::VarStore, Model)> {
        let mut vs = nn::VarStore::new(device);
        let model = Model::new(&vs.root(), &self.spec)?;
        vs.load(Self::weights(path))?;
        Ok((vs, model))
    }

    /// The front end the card records: this checkpoint's (or, for a waveform model, 003's
    /// log-mel at the model rate, unused), with the streaming gain set to the calibration gain.
    pub fn card_features(&self) -> FeatureConfig {
        let base = self
            .features
            .unwrap_or_else(|| FeatureConfig::new(soundproof::dsp::FeatureKind::Logmel).with_sample_rate(self.sample_rate));
        FeatureConfig { gain: GainPolicy::Fixed { gain: self.calibration_gain }, ..base }
    }

    /// The f32 model card.
    pub fn card(&self, name: &str) -> ModelCard {
        let sr = self.sample_rate as f64;
        let mut input_shape = vec![-1];
        input_shape.extend(&self.spec.input_shape);
        ModelCard {
            card_version: CARD_VERSION,
            name: name.to_string(),
            architecture: if self.spec.width == 1.0 {
                self.spec.arch.name().to_string()
            } else {
                format!("{} (width {})", self.spec.arch.name(), self.spec.width)
            },
            precision: Precision::F32,
            parent: None,
            input: if self.spec.arch.takes_waveform() { InputKind::Waveform } else { InputKind::Features },
            input_name: "input".into(),
            input_shape,
            output_name: "logits".into(),
            features: self.card_features(),
            normalization: Normalization { target_rms: self.target_rms, calibration_gain: self.calibration_gain },
            window_samples: self.window_samples,
            hop_samples: self.hop_samples,
            window_s: self.window_samples as f64 / sr,
            hop_s: self.hop_samples as f64 / sr,
            resize: self.spec.arch.resize(),
            labels: self.labels.clone(),
            training: Training {
                noise_sigma: self.noise_sigma,
                dataset: self.dataset.clone(),
                split: self.split.clone(),
                epochs: self.epochs_run,
                seed: self.seed,
                command: self.command.clone(),
                training_seconds: self.training_seconds,
            },
            metrics: Metrics {
                test_accuracy: self.test_accuracy,
                test_examples: self.test_examples,
                validation_accuracy: Some(self.validation_accuracy),
                accuracy_drop_points: None,
                cross_validation: None,
            },
        }
    }
}

/// The weight tensors a graph's nodes read, in node order and input order, without their
/// names, beside the sequence of operators: two exports of one function compare equal however
/// their tensors were named (a folded checkpoint's export numbers its nodes differently).
fn weights_in_node_order(g: &GraphProto) -> (Vec<String>, Vec<TensorProto>) {
    let inits: HashMap<&str, &TensorProto> = g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
    let ops = g.node.iter().map(|n| n.op_type.clone()).collect();
    let mut weights = Vec::new();
    for n in &g.node {
        for i in &n.input {
            if let Some(t) = inits.get(i.as_str()) {
                let mut t = (*t).clone();
                t.name.clear();
                weights.push(t);
            }
        }
    }
    (ops, weights)
}

/// The f32 values of an initializer (`float_data` or little-endian `raw_data`); `None` for
/// other element types.
fn f32_values(t: &TensorProto) -> Option<Vec<f32>> {
    if t.data_type != 1 {
        return None;
    }
    Some(if t.float_data.is_empty() {
        t.raw_data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    } else {
        t.float_data.clone()
    })
}

/// `kws-rt`, `resnet18 (width 0.5)`: the architecture and width a card names (as
/// [`Checkpoint::card`] writes them; the name is the `--model` value of `train`).
fn parse_architecture(s: &str) -> Option<(Arch, f64)> {
    let (name, width) = match s.split_once(" (width ") {
        Some((n, w)) => (n, w.strip_suffix(')')?.parse().ok()?),
        None => (s, 1.0),
    };
    Some((<Arch as clap::ValueEnum>::from_str(name, false).ok()?, width))
}

/// The ONNX model at `path` and its card, refused unless it is f32: only an f32 model has a
/// checkpoint (a quantized copy's is its parent's).
fn f32_model(path: &Path) -> Result<(tract_onnx::pb::ModelProto, ModelCard)> {
    let onnx_err = |e: anyhow::Error| ToolsError::Onnx(format!("{}: {e:#}", path.display()));
    let proto = crate::onnx::load(path).map_err(onnx_err)?;
    let card = crate::onnx::card_of(&proto).map_err(onnx_err)?;
    if card.precision != Precision::F32 {
        return Err(ToolsError::Onnx(format!(
            "{}: the model is {:?}, and only an f32 model has a checkpoint; use its parent {}",
            path.display(),
            card.precision,
            card.parent.as_deref().unwrap_or("(none named)")
        )));
    }
    Ok((proto, card))
}

impl Checkpoint {
    /// The checkpoint of a shipped f32 model, read back from its ONNX file and written beside
    /// it (`NAME.checkpoint.json`, `NAME.safetensors`): the architecture in its folded form
    /// ([`ModelSpec::folded`]: each batch norm the export folded is its convolution's bias),
    /// every weight copied from the graph, the record (front end, labels, training, metrics)
    /// from the card. It computes the model's function in tch, so `attack`, `audit` and
    /// `transfer` can take the ONNX path; it cannot be trained further (no batch statistics).
    ///
    /// Which graph tensor is which variable is found by exporting the folded model twice, once
    /// with every variable filled with its own tag and once with each element's index (so a
    /// transposed export, such as a linear layer's, is undone), then reading the ONNX file's
    /// tensors at the same places. The result is then held against the file by
    /// [`Checkpoint::load`]: the checkpoint must export exactly the file's weights.
    pub fn import(onnx_path: &Path) -> Result<Checkpoint> {
        let (proto, card) = f32_model(onnx_path)?;
        let (arch, width) = parse_architecture(&card.architecture)
            .ok_or_else(|| ToolsError::Onnx(format!("{}: unknown architecture {:?}", onnx_path.display(), card.architecture)))?;
        let spec = ModelSpec {
            arch,
            n_classes: card.labels.len(),
            input_shape: card.input_shape[1..].to_vec(),
            width,
            sample_rate: card.features.sample_rate(),
            folded: true,
        };
        let vs = nn::VarStore::new(Device::Cpu);
        let model = Model::new(&vs.root(), &spec)?;
        let mut vars: Vec<(String, tch::Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let export = |card: &ModelCard| -> Result<(Vec<String>, Vec<TensorProto>)> {
            let (p, _) = crate::export::proto_of(&model, card)?;
            Ok(weights_in_node_order(&p.graph.unwrap_or_default()))
        };
        const TAG0: f64 = 10_000.0;
        tch::no_grad(|| {
            for (i, (_, t)) in vars.iter().enumerate() {
                let _ = t.shallow_clone().fill_(TAG0 + i as f64);
            }
        });
        let (ops_tag, tagged) = export(&card)?;
        tch::no_grad(|| {
            for (_, t) in &vars {
                let idx = tch::Tensor::arange(t.numel() as i64, (tch::Kind::Float, Device::Cpu)).reshape(t.size());
                t.shallow_clone().copy_(&idx);
            }
        });
        let (_, indexed) = export(&card)?;
        let (ops, shipped) = weights_in_node_order(proto.graph.as_ref().ok_or_else(|| ToolsError::Onnx("no graph".into()))?);
        let refuse = |what: String| ToolsError::Onnx(format!("{}: cannot import: {what}", onnx_path.display()));
        if ops != ops_tag || shipped.len() != tagged.len() {
            return Err(refuse(format!(
                "the {} architecture exports {} operators and {} weight tensors, the file has {} and {}",
                arch.name(),
                ops_tag.len(),
                tagged.len(),
                ops.len(),
                shipped.len()
            )));
        }
        let mut filled = vec![false; vars.len()];
        for ((tag, index), want) in tagged.iter().zip(&indexed).zip(&shipped) {
            let (Some(tag), Some(index), Some(want)) = (f32_values(tag), f32_values(index), f32_values(want)) else {
                continue;
            };
            let i = (tag.first().copied().unwrap_or(0.0) as f64 - TAG0) as usize;
            let Some((name, t)) = vars.get(i).filter(|_| tag.iter().all(|&v| v as f64 == TAG0 + i as f64)) else {
                continue;
            };
            if want.len() != t.numel() || index.len() != want.len() {
                return Err(refuse(format!("{name}: {} values in the file, {} in the model", want.len(), t.numel())));
            }
            let mut flat = vec![0f32; want.len()];
            for (&k, &v) in index.iter().zip(&want) {
                flat[k as usize] = v;
            }
            tch::no_grad(|| t.shallow_clone().copy_(&tch::Tensor::from_slice(&flat).reshape(t.size())));
            filled[i] = true;
        }
        if let Some(i) = filled.iter().position(|f| !f) {
            return Err(refuse(format!("variable {} has no tensor in the graph", vars[i].0)));
        }
        let features = match card.input {
            InputKind::Features => Some(FeatureConfig { gain: GainPolicy::default(), ..card.features }),
            InputKind::Waveform => None,
        };
        let ck = Checkpoint {
            spec,
            features,
            sample_rate: card.features.sample_rate(),
            window_samples: card.window_samples,
            hop_samples: card.hop_samples,
            target_rms: card.normalization.target_rms,
            calibration_gain: card.normalization.calibration_gain,
            labels: card.labels.clone(),
            dataset: card.training.dataset.clone(),
            split: card.training.split.clone(),
            noise_sigma: card.training.noise_sigma,
            epochs_run: card.training.epochs,
            seed: card.training.seed,
            command: card.training.command.clone(),
            training_seconds: card.training.training_seconds,
            validation_accuracy: card.metrics.validation_accuracy.unwrap_or(f64::NAN),
            test_accuracy: card.metrics.test_accuracy,
            test_examples: card.metrics.test_examples,
            macs: model.macs(),
            parameters: vs.trainable_variables().iter().map(|t| t.numel()).sum(),
        };
        vs.save(Self::weights(onnx_path))?;
        ck.save(onnx_path)?;
        Checkpoint::load(onnx_path)
    }
}

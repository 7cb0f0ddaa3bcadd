//! Models: the card every ONNX model carries, and running them with tract.
//!
//! A model goes through explicit stages (after tract's own): parse the protobuf → read and
//! check the card → build the front end the card describes and check the input shape against
//! it → type the graph with a symbolic batch dimension (checks the output against the card) →
//! per batch size actually run, an optimized plan typed for that batch, made on first use and
//! cached. Every refusal names the file and the disagreement.
pub mod card;

pub use card::{CardError, CrossValidation, CvFold, InputKind, ModelCard, Precision};

use crate::dsp::{FeatureConfig, FrontEnd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tract_onnx::prelude::*;
use tract_onnx::tract_hir::infer::Factoid;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: cannot read the ONNX model: {reason}", .path.display())]
    Load { path: PathBuf, reason: String },
    #[error("{}: {source}", .path.display())]
    Card { path: PathBuf, source: CardError },
    #[error("{}: the graph disagrees with its card: {what}", .path.display())]
    Shape { path: PathBuf, what: String },
    #[error("{}: tract cannot prepare the model: {reason}", .path.display())]
    Plan { path: PathBuf, reason: String },
    #[error("model {name}: {what}")]
    Input { name: String, what: String },
    #[error("model {name}: inference failed: {reason}")]
    Run { name: String, reason: String },
}

/// A loaded, optimized model and its card.
pub struct Model {
    path: PathBuf,
    card: ModelCard,
    /// The parsed ONNX graph, from which a plan per batch size and thread is made on first use
    /// (see [`Model::load`] and [`Model::plan_for`]), and those plans.
    proto: Box<tract_onnx::pb::ModelProto>,
    plans: std::sync::Mutex<Vec<((usize, std::thread::ThreadId), Arc<TypedSimplePlan>)>>,
    /// Per-example input shape, without the batch dimension.
    example_shape: Vec<usize>,
    n_classes: usize,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("path", &self.path).field("name", &self.card.name).finish()
    }
}

/// tract's ONNX front end, with the project's kernel policy applied before tract first looks at
/// the CPU. Every tract model in the workspace (engine, tools, benches, firmware-sim's parity
/// tests) is read through this function.
///
/// The policy: tract 0.23.9's Intel AMX int8 matrix kernel (`avx512amx_mmm_i32_16x16`) is
/// taken out of tract's kernel pool (its `TRACT_CPU_ISA` knob, `-amx-int8`). On CPUs with
/// AMX it crashed with a segmentation fault inside the kernel: in the certifier's threads, in
/// `demo` on the int8 model, and in CI in plain single-threaded test threads that each built
/// their own plan. Integer matrix products are exact whichever kernel computes them (i32
/// accumulation), so the outputs are the same bits with the AVX-512 VNNI kernels tract falls
/// back to. A `TRACT_CPU_ISA` set in the environment is left as the user gave it.
pub fn onnx() -> tract_onnx::Onnx {
    static POLICY: std::sync::Once = std::sync::Once::new();
    POLICY.call_once(|| {
        if std::env::var_os("TRACT_CPU_ISA").is_none() {
            tract_onnx::tract_core::tract_linalg::knobs::TRACT_CPU_ISA.set(Some("-amx-int8".to_string()));
        }
    });
    tract_onnx::onnx()
}

fn dims_of(fact: &InferenceFact) -> Option<Vec<Option<i64>>> {
    let shape = fact.shape.concretize()?;
    Some(shape.iter().map(|d| d.to_i64().ok()).collect())
}

impl Model {
    /// Loads `path`, reads and checks its card, and prepares a plan with a dynamic batch.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, ModelError> {
        let path = path.as_ref().to_path_buf();
        let load_err = |reason: String| ModelError::Load { path: path.clone(), reason };
        let onnx = onnx();
        let proto = onnx.proto_model_for_path(&path).map_err(|e| load_err(format!("{e:#}")))?;
        let card = ModelCard::from_metadata(proto.metadata_props.iter().map(|p| (p.key.as_str(), p.value.as_str())))
            .map_err(|source| ModelError::Card { path: path.clone(), source })?;
        let mut model = onnx.model_for_proto_model(&proto).map_err(|e| load_err(format!("{e:#}")))?;
        // A plan per batch size: tract optimizes a graph with a concrete batch much further than
        // one with a symbolic batch (fused bias/ReLU, its pooling and depthwise kernels): 3.9×
        // faster on kws-fsdd-rt at batch 1 (BENCHMARKS.md, inference). A graph with an in-graph
        // Resize to fixed sizes also only evaluates with a known batch. The symbolic model is
        // still typed at load, to check the output against the card.

        // The declared input must be the card's, batch aside.
        let shape_err = |what: String| ModelError::Shape { path: path.clone(), what };
        let declared = model.input_fact(0).map_err(|e| shape_err(format!("no input: {e}")))?.clone();
        let example_shape: Vec<usize> = card.input_shape[1..].iter().map(|&d| d as usize).collect();
        if let Some(dims) = dims_of(&declared) {
            let tail: Vec<Option<i64>> = dims.iter().skip(1).cloned().collect();
            let want: Vec<Option<i64>> = card.input_shape[1..].iter().map(|&d| Some(d)).collect();
            if dims.len() != card.input_shape.len() || tail != want {
                return Err(shape_err(format!(
                    "input `{}` is declared {:?}, the card says {:?}",
                    card.input_name, dims, card.input_shape
                )));
            }
        }
        let batch = model.sym("N");
        let mut dims: TVec<TDim> = tvec![batch.into()];
        dims.extend(example_shape.iter().map(|&d| TDim::from(d as i64)));
        model
            .set_input_fact(0, f32::fact(dims).into())
            .map_err(|e| shape_err(format!("cannot set the input shape: {e:#}")))?;
        let plan_err = |e: TractError| ModelError::Plan { path: path.clone(), reason: format!("{e:#}") };
        let typed = model.into_typed().and_then(|m| m.into_decluttered()).map_err(plan_err)?;
        let out_fact = typed.output_fact(0).map_err(plan_err)?.clone();
        let n_classes = out_fact
            .shape
            .last()
            .and_then(|d| d.to_i64().ok())
            .ok_or_else(|| shape_err(format!("output shape {:?} has no fixed class dimension", out_fact.shape)))?
            as usize;
        if n_classes != card.labels.len() {
            return Err(shape_err(format!("the graph outputs {n_classes} classes, the card lists {} labels", card.labels.len())));
        }
        let m = Model { path, card, proto: Box::new(proto), plans: std::sync::Mutex::new(Vec::new()), example_shape, n_classes };
        // Build (and check) the batch-1 plan now, so a model tract cannot run is refused at load.
        m.plan_for(1).map_err(|e| ModelError::Plan { path: m.path.clone(), reason: format!("{e:#}") })?;
        Ok(m)
    }

    /// The plan for batches of `n` on the calling thread, made (and cached) on first use.
    ///
    /// One plan per thread: the threads that run models are long-lived (the pipeline's model
    /// thread, the certifier's worker pool, `certify --threads`), so this is a handful of plans,
    /// and no thread waits on another's scratch space.
    fn plan_for(&self, n: usize) -> TractResult<Arc<TypedSimplePlan>> {
        let key = (n, std::thread::current().id());
        let mut cache = self.plans.lock().map_err(|_| tract_onnx::tract_core::internal::anyhow!("plan cache poisoned"))?;
        if let Some((_, p)) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(p.clone());
        }
        let mut m = onnx().model_for_proto_model(&self.proto)?;
        let mut dims: TVec<usize> = tvec![n];
        dims.extend(self.example_shape.iter().copied());
        m.set_input_fact(0, f32::fact(dims).into())?;
        let plan = m.into_optimized()?.into_runnable()?;
        // A few batch sizes (1, the certification batch, a tail) on a few threads in practice;
        // the oldest plan goes first beyond that (a thread that ended never asks again).
        if cache.len() >= 64 {
            cache.remove(0);
        }
        cache.push((key, plan.clone()));
        Ok(plan)
    }

    pub fn card(&self) -> &ModelCard {
        &self.card
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn labels(&self) -> &[String] {
        &self.card.labels
    }

    pub fn n_classes(&self) -> usize {
        self.n_classes
    }

    /// Values per example (e.g. 101 × 64).
    pub fn example_len(&self) -> usize {
        self.example_shape.iter().product()
    }

    pub fn example_shape(&self) -> &[usize] {
        &self.example_shape
    }

    /// The front end the card describes, with the card's streaming gain.
    pub fn front_end(&self) -> Result<Box<FrontEnd>, ModelError> {
        let cfg: FeatureConfig = self.card.features;
        FrontEnd::new(&cfg).map(Box::new).map_err(|e| ModelError::Input {
            name: self.card.name.clone(),
            what: format!("the card's front end cannot be built: {e}"),
        })
    }

    /// Logits of a batch: `inputs` holds `n` examples of [`example_len`](Self::example_len)
    /// values each; returns `n × n_classes` logits.
    pub fn run(&self, inputs: &[f32], n: usize) -> Result<Vec<f32>, ModelError> {
        let per = self.example_len();
        if n == 0 || inputs.len() != n * per {
            return Err(ModelError::Input {
                name: self.card.name.clone(),
                what: format!("batch of {n} needs {} values ({per} each), got {}", n * per, inputs.len()),
            });
        }
        if let Some(i) = inputs.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::Input { name: self.card.name.clone(), what: format!("input value {i} is not finite") });
        }
        let mut shape = vec![n];
        shape.extend_from_slice(&self.example_shape);
        let run_err = |e: TractError| ModelError::Run { name: self.card.name.clone(), reason: format!("{e:#}") };
        let t = Tensor::from_shape(&shape, inputs).map_err(run_err)?;
        let out = self.plan_for(n).map_err(run_err)?.run(tvec!(t.into())).map_err(run_err)?;
        let logits: Vec<f32> = out[0].to_plain_array_view::<f32>().map_err(run_err)?.iter().copied().collect();
        if logits.len() != n * self.n_classes {
            return Err(ModelError::Run {
                name: self.card.name.clone(),
                reason: format!("output holds {} values, expected {n} × {}", logits.len(), self.n_classes),
            });
        }
        Ok(logits)
    }
}

/// Softmax of logits into probabilities (stable).
pub fn softmax(logits: &[f32], out: &mut [f32]) {
    let m = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let mut s = 0.0f32;
    for (o, &l) in out.iter_mut().zip(logits) {
        *o = (l - m).exp();
        s += *o;
    }
    for o in out.iter_mut() {
        *o /= s;
    }
}

#[cfg(test)]
mod tests {
    use tract_onnx::tract_core::tract_linalg::isa::{native, Isa};

    /// Once a model has been read through [`super::onnx`], tract's kernel pool holds no AMX
    /// int8 kernel, whatever the CPU (on one without AMX the set never had it). The CI machine
    /// has AMX: there this is the check that the crash-prone kernel is really out.
    #[test]
    fn reading_a_model_takes_the_amx_int8_kernel_out_of_tracts_pool() {
        let _ = super::onnx();
        if std::env::var_os("TRACT_CPU_ISA").is_none() {
            assert!(!native().has(Isa::X86_64AmxInt8), "{:?}", native());
        }
    }
}

//! Running exported models in tract (as the engine does: load → typed → optimized → runnable,
//! one thread), for parity tests, calibration and timing.

use super::{card_of, Array, ModelProto};
use anyhow::{ensure, Context};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tract_onnx::prelude::*;

/// The model parsed by tract with its input fixed to `shape` (a concrete batch), before
/// optimization. `outputs`: tensors to expose instead of the graph output.
fn inference_model(
    model: &ModelProto,
    shape: &[usize],
    outputs: Option<&[String]>,
) -> anyhow::Result<InferenceModel> {
    let mut m = soundproof::model::onnx()
        .model_for_proto_model(model)
        .context("tract could not load the model")?;
    m.set_input_fact(0, InferenceFact::dt_shape(f32::datum_type(), shape))?;
    if let Some(names) = outputs {
        m.select_outputs_by_name(names)?;
    }
    Ok(m)
}

/// The optimized, runnable tract plan of `model` for inputs of `shape`.
pub fn plan(model: &ModelProto, shape: &[usize]) -> anyhow::Result<Arc<TypedRunnableModel>> {
    Ok(inference_model(model, shape, None)?
        .into_optimized()?
        .into_runnable()?)
}

fn to_array(t: &TValue) -> anyhow::Result<Array> {
    let v = t.cast_to::<f32>()?;
    let view = v.to_plain_array_view::<f32>()?;
    Array::new(view.shape(), view.iter().copied().collect())
}

fn to_tvalue(a: &Array) -> anyhow::Result<TValue> {
    Ok(Tensor::from_shape(&a.shape, &a.data)?.into_tvalue())
}

/// Runs `model` in tract on `input` (its shape fixes the batch); returns the graph output.
pub fn run_tract(model: &ModelProto, input: &Array) -> anyhow::Result<Array> {
    let out = plan(model, &input.shape)?.run(tvec![to_tvalue(input)?])?;
    to_array(&out[0])
}

/// Runs `model` in tract on `input` and returns the tensors named `names` (any intermediate
/// tensor of the graph), widened to f32.
pub fn run_tract_outputs(
    model: &ModelProto,
    input: &Array,
    names: &[String],
) -> anyhow::Result<Vec<Array>> {
    let plan = inference_model(model, &input.shape, Some(names))?
        .into_optimized()?
        .into_runnable()?;
    let out = plan.run(tvec![to_tvalue(input)?])?;
    out.iter().map(to_array).collect()
}

/// The operators of tract's optimized model for a batch of `batch`, as `(node name, op name)`
/// in evaluation order: shows which layers run as integer or float kernels.
pub fn optimized_ops(model: &ModelProto, batch: usize) -> anyhow::Result<Vec<(String, String)>> {
    let typed = inference_model(model, &input_shape(model, batch)?, None)?.into_optimized()?;
    let order = typed.eval_order()?;
    Ok(order
        .into_iter()
        .map(|i| {
            let n = typed.node(i);
            (
                n.name.clone(),
                format!("{} {:?}", n.op().name(), n.outputs[0].fact.datum_type),
            )
        })
        .collect())
}

/// Time per node of tract's optimized plan, summed over `iters` runs (after one warm-up) and
/// divided by `iters`: `(node name, op name and output type, ms per run)` in evaluation order.
pub fn profile_tract(
    model: &ModelProto,
    batch: usize,
    iters: usize,
) -> anyhow::Result<Vec<(String, String, f64)>> {
    use tract_onnx::tract_core::plan::{eval, SimpleState};
    let shape = input_shape(model, batch)?;
    let plan = plan(model, &shape)?;
    let input = to_tvalue(&pseudo_features(&shape, 0x5eed))?;
    let n = plan.model().nodes().len();
    let mut times = vec![0.0f64; n];
    let mut state = SimpleState::new(&plan)?;
    for it in 0..=iters {
        state.run_plan_with_eval(tvec![input.clone()], |ctx, st, node, inputs| {
            let t = Instant::now();
            let r = eval(ctx, st, node, inputs);
            if it > 0 {
                times[node.id] += t.elapsed().as_secs_f64() * 1e3;
            }
            r
        })?;
    }
    let m = plan.model();
    Ok(m.eval_order()?
        .into_iter()
        .map(|i| {
            let nd = m.node(i);
            (
                nd.name.clone(),
                format!("{} {:?}", nd.op().name(), nd.outputs[0].fact.datum_type),
                times[i] / iters as f64,
            )
        })
        .collect())
}

/// The card's input shape with the batch axis set to `batch`.
pub fn input_shape(model: &ModelProto, batch: usize) -> anyhow::Result<Vec<usize>> {
    let card = card_of(model)?;
    Ok(card
        .input_shape
        .iter()
        .map(|&d| if d < 0 { batch } else { d as usize })
        .collect())
}

/// Timing of one model in tract at one batch size, one thread.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BenchStats {
    pub batch: usize,
    pub iters: usize,
    /// Median, fastest and slowest wall time of one `run` of the whole batch, in ms.
    pub median_ms: f64,
    pub min_ms: f64,
    pub max_ms: f64,
    /// `median_ms / batch`: latency per model window.
    pub per_window_ms: f64,
    /// Loading, optimizing and planning the model, in ms.
    pub load_ms: f64,
}

/// Times `iters` runs (after 3 warm-up runs) of the model at `path` on a batch of `batch`
/// deterministic pseudo-random log-mel-like windows, single thread (tract's default executor).
pub fn bench_tract(path: &Path, batch: usize, iters: usize) -> anyhow::Result<BenchStats> {
    ensure!(batch > 0 && iters > 0, "batch and iters must be positive");
    let model = super::load(path)?;
    let shape = input_shape(&model, batch)?;
    let t0 = Instant::now();
    let plan = plan(&model, &shape)?;
    let load_ms = t0.elapsed().as_secs_f64() * 1e3;
    let input = pseudo_features(&shape, 0x5eed);
    let tv = to_tvalue(&input)?;
    for _ in 0..3 {
        plan.run(tvec![tv.clone()])?;
    }
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            plan.run(tvec![tv.clone()])
                .map(|_| t.elapsed().as_secs_f64() * 1e3)
        })
        .collect::<TractResult<_>>()?;
    times.sort_by(f64::total_cmp);
    let median_ms = times[iters / 2];
    Ok(BenchStats {
        batch,
        iters,
        median_ms,
        min_ms: times[0],
        max_ms: times[iters - 1],
        per_window_ms: median_ms / batch as f64,
        load_ms,
    })
}

/// Deterministic stand-in for normalized log-mel windows: values in about [-4, 2] with a smooth
/// structure along frames and bins (so that quantization ranges look like real features).
pub fn pseudo_features(shape: &[usize], seed: u64) -> Array {
    let n: usize = shape.iter().product();
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        // splitmix64
        s = s.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 40) as f32 / (1u64 << 24) as f32
    };
    let w = *shape.last().unwrap_or(&1);
    let data = (0..n)
        .map(|i| {
            let (r, c) = ((i / w) as f32, (i % w) as f32);
            -1.0 + 1.5 * (0.07 * r).sin() * (0.11 * c + 0.3).cos() - 0.03 * c + 1.2 * (next() - 0.5)
        })
        .collect();
    Array {
        shape: shape.to_vec(),
        data,
    }
}

/// Shape of the graph output tract infers for an input of `input` shape (used by the builder
/// to declare the output's shape, which the ONNX checker requires).
pub fn output_shape(model: &ModelProto, input: &[usize]) -> anyhow::Result<Vec<usize>> {
    let typed = inference_model(model, input, None)?.into_typed()?;
    let fact = typed.output_fact(0)?;
    let shape = fact
        .shape
        .as_concrete()
        .context("tract could not infer a concrete output shape")?;
    Ok(shape.to_vec())
}

//! `soundproof-tools quantize`: an f32 ONNX model to f16 or int8, then its test-split evaluation.

use crate::common::{FftBackendArg, OptionalDataArgs};
use anyhow::Context;
use clap::Args;
use soundproof::model::card::Precision;
use soundproof_tools::eval::{evaluate, record_metrics, EvalOptions};
use soundproof_tools::export::{quantize, quantized_path};
use soundproof_tools::onnx;
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
enum QuantPrecision {
    /// Weights and activations in IEEE half precision (the graph still takes and returns f32).
    F16,
    /// Post-training static quantization: int8 weights with one scale per output channel, uint8
    /// activations with ranges calibrated on training-split features (--calibration-clips).
    Int8,
}

#[derive(Args)]
pub struct QuantizeArgs {
    /// The f32 model.
    model: PathBuf,
    /// Precision of the copy.
    #[arg(long, value_enum)]
    precision: QuantPrecision,
    /// Output file (default: MODEL-f16.onnx / MODEL-int8.onnx beside the model).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Training-split clips whose features calibrate int8 ranges.
    #[arg(long, default_value_t = 256)]
    calibration_clips: usize,
    #[command(flatten)]
    data: OptionalDataArgs,
    /// The FFT the new model is served with (written into its card; calibration and the
    /// evaluation use it): microfft for a model that runs on a microcontroller (firmware-sim),
    /// so that the host computes the device's features bit for bit. Default: the parent's.
    #[arg(long, value_enum)]
    fft_backend: Option<FftBackendArg>,
    /// Skip the test-split evaluation that records the new model's accuracy in its card.
    #[arg(long)]
    no_eval: bool,
    /// Print the new model's path, card and evaluation as JSON on stdout.
    #[arg(long)]
    json: bool,
}

pub fn run(a: QuantizeArgs) -> anyhow::Result<()> {
    let precision = match a.precision {
        QuantPrecision::F16 => Precision::F16,
        QuantPrecision::Int8 => Precision::Int8,
    };
    let parent = onnx::load(&a.model).and_then(|m| onnx::card_of(&m)).with_context(|| format!("reading {}", a.model.display()))?;
    let spec = a.data.spec(&parent.training.dataset);
    let out = a.out.clone().unwrap_or_else(|| quantized_path(&a.model, precision));
    let card = quantize(&a.model, precision, &spec, a.calibration_clips, a.fft_backend.map(Into::into), &out).with_context(|| format!("quantizing {}", a.model.display()))?;
    let mut result = serde_json::json!({ "model": out, "card": card });
    if !a.no_eval {
        let opts = EvalOptions::test();
        let (mut report, proto, card) = evaluate(&out, &spec, &opts).context("evaluating the quantized model")?;
        record_metrics(&mut report, proto, card)?;
        if !a.json {
            eprintln!(
                "{}: {:.2}% test accuracy ({} clips), drop {} points against {}",
                out.display(),
                100.0 * report.accuracy,
                report.examples,
                report.accuracy_drop_points.map(|d| format!("{d:.2}")).unwrap_or_else(|| "?".into()),
                parent.name
            );
        }
        result["eval"] = serde_json::to_value(&report)?;
    } else if !a.json {
        eprintln!("wrote {}", out.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}

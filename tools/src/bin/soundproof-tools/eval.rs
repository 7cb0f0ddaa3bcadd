//! `soundproof-tools eval`: an ONNX model in tract on a dataset split; accuracy, confusion
//! matrix (text and PNG), per-class recall.

use crate::common::{parse_shard, DataArgs};
use anyhow::Context;
use clap::Args;
use soundproof_tools::data::Split;
use soundproof_tools::eval::{evaluate, record_metrics, EvalOptions};
use soundproof_tools::plot;
use soundproof_tools::shard::{shard_dir, write_json};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvalArgs {
    /// The ONNX model.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Split of the dataset to evaluate.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// Waveform noise σ added after the gain (0 = clean).
    #[arg(long, default_value_t = 0.0)]
    sigma: f32,
    /// Seed of the --sigma noise (each clip's noise is drawn from the seed and the clip's place in
    /// the whole run, so shards see the unsharded run's noise).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Windows per tract run (the model is planned for this batch size; shards are whole batches).
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// At most this many clips (evenly spaced through the split).
    #[arg(long)]
    max_clips: Option<usize>,
    /// Folder for the confusion-matrix PNG.
    #[arg(long, default_value = "out/eval")]
    out: PathBuf,
    /// Do not store the accuracy in the model card (only a whole, clean test-split run is ever
    /// stored: --split test, --sigma 0, no --max-clips, no --shard).
    #[arg(long)]
    no_record: bool,
    /// `i/N`: this task's share of the clips (whole batches i, i + N, …), written into
    /// OUT/shard-I-of-N/; `auto`: i and N from a Slurm job array; `auto/N`: i from
    /// SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX. Combine with `soundproof-tools merge`.
    #[arg(long)]
    shard: Option<String>,
    /// Print the report as JSON on stdout (with the path of the confusion-matrix PNG).
    #[arg(long)]
    json: bool,
}

pub fn run(a: EvalArgs) -> anyhow::Result<()> {
    let shard = parse_shard(a.shard.as_deref())?;
    let opts = EvalOptions { split: a.split, batch: a.batch_size, sigma: a.sigma, seed: a.seed, max_clips: a.max_clips, shard, ..EvalOptions::test() };
    let (mut report, proto, card) = evaluate(&a.model, &a.data.spec(), &opts).with_context(|| format!("evaluating {}", a.model.display()))?;
    if !a.no_record && a.max_clips.is_none() && shard.is_whole() {
        record_metrics(&mut report, proto, card)?;
    }
    let out = shard_dir(&a.out, shard);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    write_json(&out.join("eval.json"), &report)?;
    print_eval(&report, a.json, &out, &a.model)
}

/// The confusion-matrix PNG of an evaluation (in `out`) and its text (or JSON) on stdout.
pub(crate) fn print_eval(report: &soundproof_tools::eval::EvalReport, json: bool, out: &Path, model: &Path) -> anyhow::Result<()> {
    let split = serde_json::to_value(report.split)?.as_str().unwrap_or("split").to_string();
    let png = out.join(format!("{}-{}-confusion.png", report.model, split));
    let title = format!("{} on {} {} (σ = {}): {:.2}%", report.model, report.dataset, split, report.sigma, 100.0 * report.accuracy);
    let plotted = plot::confusion(&report.confusion, &report.labels, &title, &png);
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["confusion_png"] = serde_json::json!(plotted.as_ref().map(|_| png.clone()).ok());
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{} ({:?}) on {} {} split, σ = {}: accuracy {:.2}% ({} clips), {:.0} windows/s in tract",
            report.model, report.precision, report.dataset, split, report.sigma, 100.0 * report.accuracy, report.examples, report.windows_per_s
        );
        print!("{}", report.confusion_matrix().text());
        if report.metrics_recorded {
            println!("recorded in the card of {}", model.display());
        }
        match plotted {
            Ok(()) => println!("confusion matrix: {}", png.display()),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    Ok(())
}

//! `soundproof classify`: files, folders and globs through the batch (or streaming) pipeline;
//! clip decisions by the 002 sum rule or majority vote; accuracy, confusion matrix and
//! per-class recall when the files' labels can be read.

use anyhow::{bail, Context, Result};
use clap::Args;
use soundproof::dataset::{fsdd_split_files, match_label, wav_files, LabelReader};
use soundproof::model::Model;
use soundproof::score::Confusion;
use soundproof::pipeline::{self, aggregate, StreamOptions, WindowResult};
use soundproof::window::ClipGain;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct ClassifyArgs {
    /// Model: an .onnx file with a soundproof model card.
    #[arg(long)]
    model: PathBuf,
    /// WAV files, folders (searched recursively for .wav) or glob patterns.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Gain before the front end: `clip-rms` (003 Contract 1: s = target_rms / RMS(clip), once
    /// per clip, as the model was trained), `calibration` (the card's streaming constant), or a
    /// number.
    #[arg(long, default_value = "clip-rms")]
    gain: String,
    /// Keep only the FSDD official test split (takes 0-4).
    #[arg(long, value_parser = ["test", "train"])]
    split: Option<String>,
    /// Clip decision: `sum` (sum rule over window posteriors) or `majority` (vote).
    #[arg(long, default_value = "sum", value_parser = ["sum", "majority"])]
    rule: String,
    /// Run each file through the streaming pipeline (ring, feature ring, model thread).
    #[arg(long)]
    streaming: bool,
    /// Windows per inference batch (batch path).
    #[arg(long, default_value_t = 32)]
    batch: usize,
    /// Print every window, not only the clip decision.
    #[arg(long)]
    windows: bool,
    /// Print a JSON report on stdout.
    #[arg(long)]
    json: bool,
}

pub fn parse_gain(s: &str) -> Result<ClipGain> {
    s.parse::<ClipGain>().map_err(anyhow::Error::msg)
}

/// Expands files, folders and glob patterns into a sorted list of WAV files.
pub fn expand_inputs(inputs: &[String]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for i in inputs {
        let p = Path::new(i);
        if p.is_dir() {
            files.extend(wav_files(p, true)?);
        } else if p.exists() {
            files.push(p.to_path_buf());
        } else if i.contains(['*', '?', '[']) {
            let before = files.len();
            for m in glob::glob(i).with_context(|| format!("bad glob pattern {i}"))? {
                files.push(m?);
            }
            if files.len() == before {
                bail!("{i}: the pattern matches no file");
            }
        } else {
            bail!("{i}: no such file or folder");
        }
    }
    if files.is_empty() {
        bail!("no WAV files found in {inputs:?}");
    }
    Ok(files)
}

#[derive(serde::Serialize)]
struct FileReport {
    path: PathBuf,
    truth: Option<String>,
    label: String,
    score: f32,
    correct: Option<bool>,
    decision: pipeline::ClipDecision,
    #[serde(skip_serializing_if = "Option::is_none")]
    windows: Option<Vec<WindowResult>>,
}

pub fn run(a: ClassifyArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let gain = parse_gain(&a.gain)?;
    let mut files = expand_inputs(&a.inputs)?;
    if let Some(split) = &a.split {
        fsdd_split_files(&mut files, split).map_err(anyhow::Error::msg)?;
        if files.is_empty() {
            bail!("--split {split}: no FSDD-named files ({{digit}}_{{speaker}}_{{take}}.wav) among the inputs");
        }
    }
    let labels = model.labels().to_vec();
    let mut reader = LabelReader::default();
    let mut reports = Vec::with_capacity(files.len());
    let mut confusion = Confusion::new(&labels);
    let mut unknown_truth = 0usize;
    let start = std::time::Instant::now();
    for path in &files {
        let windows = if a.streaming {
            let mut v = Vec::new();
            pipeline::stream_file(&model, path, gain, &StreamOptions::default(), |r| {
                v.push(r.clone())
            })?;
            v
        } else {
            pipeline::classify_file(&model, path, gain, a.batch)?
        };
        let decision = aggregate(&windows, &labels).context("no window")?;
        let label_idx = if a.rule == "sum" {
            decision.sum_rule
        } else {
            decision.majority
        };
        let truth = reader.label(path);
        let truth_idx = truth.as_ref().and_then(|t| match_label(t, &labels));
        match truth_idx {
            Some(t) => confusion.add(t, label_idx),
            None => unknown_truth += (truth.is_some()) as usize,
        }
        let r = FileReport {
            path: path.clone(),
            truth: truth.clone(),
            label: labels[label_idx].clone(),
            score: decision.mean_probabilities[label_idx],
            correct: truth_idx.map(|t| t == label_idx),
            decision,
            windows: a.windows.then_some(windows),
        };
        if !a.json {
            let mark = match r.correct {
                Some(true) => "  ok".to_string(),
                Some(false) => format!("  WRONG (truth {})", truth.unwrap_or_default()),
                None => String::new(),
            };
            println!("{}  {}  {:.3}{mark}", path.display(), r.label, r.score);
            if let Some(ws) = &r.windows {
                for w in ws {
                    println!(
                        "    [{:6.2} s – {:6.2} s]  {}  {:.3}",
                        w.start_s, w.end_s, w.label_name, w.score
                    );
                }
            }
        }
        reports.push(r);
    }
    let (scored, correct, accuracy) = (confusion.scored(), confusion.correct(), confusion.accuracy());
    let recall: Vec<Option<f64>> = (0..labels.len()).map(|k| confusion.recall(k)).collect();
    if a.json {
        let j = serde_json::json!({
            "model": a.model,
            "card_accuracy": model.card().metrics.test_accuracy,
            "files": reports,
            "scored": scored,
            "accuracy": accuracy,
            "labels": labels,
            "confusion": confusion.counts,
            "recall": recall,
            "rule": a.rule,
            "elapsed_s": start.elapsed().as_secs_f64(),
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(());
    }
    if let Some(acc) = accuracy {
        println!();
        println!(
            "accuracy {:.2} % ({correct}/{scored}, {} rule); model card: {:.2} % on {} examples",
            acc * 100.0,
            a.rule,
            model.card().metrics.test_accuracy * 100.0,
            model.card().metrics.test_examples
        );
        print!("{}", confusion.text());
    }
    if unknown_truth > 0 {
        eprintln!("note: {unknown_truth} files have labels the model does not know");
    }
    Ok(())
}

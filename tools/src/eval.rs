//! Evaluation of an exported model as the engine runs it: the ONNX file through tract, inputs
//! made by the card's own clip pipeline and front end. Reports accuracy, the confusion matrix
//! (text and PNG) and per-class recall, optionally under waveform noise N(0, σ²) (the base
//! classifier as randomized smoothing queries it), and records clean test accuracy in the
//! card's `metrics` (with the drop against the f32 parent for quantized models).

use crate::data::augment::Augment;
use crate::data::{DatasetSpec, Split};
use crate::error::{Result, ToolsError};
use crate::data::prepare;
use crate::export::batcher_of;
use soundproof::score::Confusion;
use soundproof::dataset::evenly;
use soundproof::window::ClipWindow;
use crate::onnx::{self, ModelProto};
use serde::Serialize;
use soundproof::shard::Shard;
use soundproof::smooth::report::RunInputs;
use soundproof::model::card::{ModelCard, Precision};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub split: Split,
    /// Windows per tract run.
    pub batch: usize,
    /// Waveform noise σ added after the gain (0 = clean).
    pub sigma: f32,
    pub seed: u64,
    /// Evaluate at most this many clips (evenly spaced).
    pub max_clips: Option<usize>,
    /// The share of the clips this run evaluates (whole batches i, i + N, …).
    pub shard: Shard,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct ClassRecall {
    pub label: String,
    pub recall: f64,
    pub support: usize,
}

#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct EvalReport {
    pub model: String,
    pub path: PathBuf,
    pub precision: Precision,
    pub dataset: String,
    pub split: Split,
    pub sigma: f32,
    /// Windows per tract run (a shard takes whole batches).
    pub batch: usize,
    /// `[i, N]`: this report counts batches i, i + N, … of the run (`[0, 1]`: all).
    pub shard: [usize; 2],
    /// The whole run's clips (all shards).
    pub inputs: RunInputs,
    pub examples: usize,
    pub accuracy: f64,
    pub per_class: Vec<ClassRecall>,
    pub labels: Vec<String>,
    /// `confusion[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
    pub inference_seconds: f64,
    pub windows_per_s: f64,
    /// For quantized models: f32 parent's test accuracy minus this one's, in points.
    pub accuracy_drop_points: Option<f64>,
    pub metrics_recorded: bool,
}

/// Evaluates the model at `path` on `dataset`.
pub fn evaluate(path: &Path, dataset: &DatasetSpec, opts: &EvalOptions) -> Result<(EvalReport, ModelProto, ModelCard)> {
    let proto = onnx::load(path).map_err(|e| ToolsError::Onnx(format!("{e:#}")))?;
    let card = onnx::card_of(&proto).map_err(|e| ToolsError::Onnx(format!("{e:#}")))?;
    let index = dataset.index()?;
    if index.labels != card.labels {
        return Err(ToolsError::dataset(
            &index.name,
            format!("labels {:?} differ from the model's {:?}: evaluate on the dataset it was trained for", index.labels, card.labels),
        ));
    }
    let examples = match opts.max_clips {
        Some(n) => evenly(index.split(opts.split), n),
        None => index.split(opts.split).to_vec(),
    };
    let inputs = RunInputs::of_paths(&examples.iter().map(|e| e.path.clone()).collect::<Vec<_>>());
    let batch = opts.batch.max(1);
    // This shard's clips, and their places in the whole run (the noise of clip i is seeded by i).
    let global = opts.shard.indices(examples.len(), batch);
    let examples: Vec<_> = global.iter().map(|&i| examples[i].clone()).collect();
    let data = prepare(&ClipWindow::of(&card), &examples)?;
    let mut batcher = batcher_of(&card)?;
    // The engine's own model: its card checked against the graph, a tract plan per batch size.
    let model = soundproof::model::Model::load(path).map_err(|e| ToolsError::Onnx(e.to_string()))?;
    let k = card.labels.len();
    let mut confusion = Confusion::new(&card.labels);
    let noise = Augment { sigma: opts.sigma, noise_prob: 1.0, max_shift: 0, speed: 0.0 };
    let mut wave = vec![0.0f32; data.window];
    let mut seconds = 0.0;
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch) {
        let mut buf = Vec::new();
        for &i in chunk {
            if opts.sigma > 0.0 {
                noise.apply(data.clip(i), &mut Augment::rng(opts.seed, u64::MAX - 1, global[i] as u64), &mut wave);
                batcher.push_input(&wave, &mut buf)?;
            } else {
                batcher.push_input(data.clip(i), &mut buf)?;
            }
        }
        let t = Instant::now();
        let logits = model.run(&buf, chunk.len()).map_err(|e| ToolsError::Onnx(e.to_string()))?;
        seconds += t.elapsed().as_secs_f64();
        for (&i, row) in chunk.iter().zip(logits.chunks(k)) {
            let truth = data.labels[i] as usize;
            let pred = soundproof::stats::argmax(row);
            if truth < k && pred < k {
                confusion.add(truth, pred);
            }
        }
    }
    let mut report = EvalReport {
        model: card.name.clone(),
        path: path.to_path_buf(),
        precision: card.precision,
        dataset: index.name.clone(),
        split: opts.split,
        sigma: opts.sigma,
        batch,
        shard: opts.shard.pair(),
        inputs,
        examples: data.len(),
        accuracy: 0.0,
        per_class: Vec::new(),
        labels: card.labels.clone(),
        confusion: confusion.counts,
        inference_seconds: seconds,
        windows_per_s: 0.0,
        accuracy_drop_points: None,
        metrics_recorded: false,
    };
    report.tabulate();
    Ok((report, proto, card))
}

impl EvalReport {
    /// The report's confusion matrix as the engine scores it.
    pub fn confusion_matrix(&self) -> Confusion {
        Confusion { labels: self.labels.clone(), counts: self.confusion.clone() }
    }

    /// Accuracy, per-class recall and throughput from the confusion matrix and the time.
    pub fn tabulate(&mut self) {
        let c = self.confusion_matrix();
        self.per_class = (0..self.labels.len())
            .map(|i| ClassRecall { label: self.labels[i].clone(), recall: c.recall(i).unwrap_or(0.0), support: c.support(i) })
            .collect();
        self.accuracy = c.correct() as f64 / self.examples.max(1) as f64;
        self.windows_per_s = self.examples as f64 / self.inference_seconds.max(1e-9);
    }
}


/// Stores a clean, full test-split evaluation in the model's card (and `NAME.json`); for a
/// quantized model, also the drop against its f32 parent found beside it.
pub fn record_metrics(report: &mut EvalReport, mut proto: ModelProto, mut card: ModelCard) -> Result<()> {
    if report.split != Split::Test || report.sigma != 0.0 {
        return Ok(());
    }
    card.metrics.test_accuracy = report.accuracy;
    card.metrics.test_examples = report.examples;
    if let Some(parent) = &card.parent {
        let parent_path = report.path.with_file_name(format!("{parent}.onnx"));
        if let Ok(p) = onnx::load(&parent_path).and_then(|m| onnx::card_of(&m)) {
            let drop = 100.0 * (p.metrics.test_accuracy - report.accuracy);
            card.metrics.accuracy_drop_points = Some(drop);
            card.metrics.validation_accuracy = p.metrics.validation_accuracy.or(card.metrics.validation_accuracy);
            report.accuracy_drop_points = Some(drop);
        }
    }
    onnx::set_card(&mut proto, &card).map_err(|e| ToolsError::Onnx(format!("{e:#}")))?;
    onnx::save(&proto, &report.path).map_err(|e| ToolsError::Onnx(format!("{e:#}")))?;
    report.metrics_recorded = true;
    Ok(())
}

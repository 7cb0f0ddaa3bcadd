//! Evaluation of an exported model as the engine runs it: the ONNX file through tract, inputs
//! made by the card's own clip pipeline and front end. Reports accuracy, the confusion matrix
//! (text and PNG) and per-class recall, optionally under waveform noise N(0, σ²) (the base
//! classifier as randomized smoothing queries it), and records clean test accuracy in the
//! card's `metrics` (with the drop against the f32 parent for quantized models).

use crate::data::augment::{Augment, Background, Banks, Rooms};
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

/// A corruption of every test window (the robustness table, models/README.md), applied to the
/// gain-normalized window before the front end and before the optional noise σ.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Corruption {
    Clean,
    /// A random stretch of a random clip of the background bank mixed in at exactly this SNR.
    Background { snr_db: f32 },
    /// Reverberated in a random simulated room of the bank ([`eval_rooms`]).
    Room,
    /// Scaled by this gain: what a pipeline with a fixed gain (the streaming calibration
    /// constant) feeds the model when the talker is this much louder; a per-clip RMS
    /// normalization undoes it exactly.
    Gain { db: f32 },
}

impl Corruption {
    pub fn name(&self) -> String {
        match self {
            Corruption::Clean => "clean".into(),
            Corruption::Background { snr_db } => format!("background {snr_db} dB SNR"),
            Corruption::Room => "room".into(),
            Corruption::Gain { db } => format!("gain {db:+} dB"),
        }
    }
}

/// The rooms of robustness evaluation: 200 of the training distribution's offices and living
/// rooms, drawn from their own seed (not those any training run draws from its `--seed`).
pub fn eval_rooms(sample_rate: u32, window: usize) -> Result<Rooms> {
    Rooms::new(200, 0.5, sample_rate, window, 0xE7A1_5EED)
}

/// The banks a corruption needs: `background` from `dir` (only `folds`, if given), and the
/// evaluation rooms.
pub fn eval_banks(background: Option<(&Path, Option<&[u32]>)>, sample_rate: u32, window: usize) -> Result<Banks> {
    Ok(Banks {
        background: background.map(|(d, f)| Background::load(d, sample_rate, f)).transpose()?,
        rooms: Some(eval_rooms(sample_rate, window)?),
    })
}

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
    /// A corruption of every window ([`Corruption::Clean`]: none), with the banks it needs.
    pub corruption: Corruption,
    pub banks: Option<std::sync::Arc<Banks>>,
}

impl EvalOptions {
    /// The clean test split, all of it, in batches of 16.
    pub fn test() -> Self {
        EvalOptions { split: Split::Test, batch: 16, sigma: 0.0, seed: 0, max_clips: None, shard: Shard::WHOLE, corruption: Corruption::Clean, banks: None }
    }
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
    #[serde(default = "clean")]
    pub corruption: Corruption,
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

fn clean() -> Corruption {
    Corruption::Clean
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
    // The corruption's draws come first, then the noise's, from one generator per clip (seeded
    // by the clip's place in the run), so a clean run under noise draws what it always drew.
    let none = Banks::NONE;
    let banks = opts.banks.as_deref().unwrap_or(&none);
    let (noise, gain) = match opts.corruption {
        Corruption::Clean => (Augment::noise(opts.sigma), 1.0),
        Corruption::Background { snr_db } => {
            if banks.background.is_none() {
                return Err(ToolsError::invalid("corruption", opts.corruption.name(), "a background bank (--background DIR)"));
            }
            (Augment { background_prob: 1.0, snr_db: [snr_db, snr_db], ..Augment::noise(opts.sigma) }, 1.0)
        }
        Corruption::Room => {
            if banks.rooms.is_none() {
                return Err(ToolsError::invalid("corruption", opts.corruption.name(), "a bank of rooms"));
            }
            (Augment { reverb_prob: 1.0, ..Augment::noise(opts.sigma) }, 1.0)
        }
        Corruption::Gain { db } => (Augment::noise(opts.sigma), 10f32.powf(db / 20.0)),
    };
    let corrupted = opts.sigma > 0.0 || opts.corruption != Corruption::Clean;
    let mut wave = vec![0.0f32; data.window];
    let mut seconds = 0.0;
    let idx: Vec<usize> = (0..data.len()).collect();
    for chunk in idx.chunks(batch) {
        let mut buf = Vec::new();
        for &i in chunk {
            if corrupted {
                noise.apply(data.clip(i), banks, &mut Augment::rng(opts.seed, u64::MAX - 1, global[i] as u64), &mut wave);
                if gain != 1.0 {
                    wave.iter_mut().for_each(|v| *v *= gain);
                }
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
        corruption: opts.corruption,
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
    if report.split != Split::Test || report.sigma != 0.0 || report.corruption != Corruption::Clean {
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

//! `soundproof-tools cv`: cross-validation of a training recipe, one fold per FSDD speaker or
//! ESC-10 fold, optionally recorded in model cards.

use crate::common::{command_line, FftBackendArg};
use crate::train::{train_config, TrainArgs};
use anyhow::Context;
use clap::Args;
use soundproof::model::card::Precision;
use soundproof::shard::Shard;
use soundproof_tools::data::{DatasetSpec, Split};
use soundproof_tools::eval::{eval_banks, evaluate, Corruption, EvalOptions};
use soundproof_tools::export::{export, quantize, quantized_path};
use soundproof_tools::onnx;
use soundproof_tools::shard::write_json;
use soundproof_tools::train::{train, TrainConfig};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct CvArgs {
    #[command(flatten)]
    train: TrainArgs,
    /// Also quantize each fold's model to int8 (calibrated on the fold's training clips) and
    /// evaluate it on the held-out speaker or fold.
    #[arg(long)]
    int8: bool,
    /// The FFT of the int8 copies (as `quantize --fft-backend`; default: the f32 model's).
    #[arg(long, value_enum)]
    int8_fft_backend: Option<FftBackendArg>,
    /// Model files whose cards receive the result (`metrics.cross_validation`): f32 cards the
    /// f32 folds, int8 cards the int8 folds (needs --int8). Repeat for several.
    #[arg(long)]
    record: Vec<PathBuf>,
    /// Also score each fold's f32 model on its held-out clips under corruptions (the robustness
    /// table): background noise from this folder at 20, 10 and 0 dB SNR (only the clips of
    /// --robustness-folds), a simulated room, and ±20 dB gain as a fixed-gain pipeline hears it.
    #[arg(long, value_name = "DIR")]
    robustness: Option<PathBuf>,
    /// ESC folds of the robustness noise (file names `K-…`; default: all clips of the folder).
    #[arg(long, value_delimiter = ',', value_name = "K,...")]
    robustness_folds: Option<Vec<u32>>,
    /// ESC-10 cross-validation: each fold's robustness noise is the other recordings of its own
    /// held-out fold (ESC-10 sounds its model never heard), instead of --robustness-folds.
    #[arg(long, conflicts_with = "robustness_folds", requires = "robustness")]
    robustness_held_out: bool,
    /// Run only these folds (speaker names, or `fold-K` for ESC-10), e.g. a first look at a
    /// recipe on the hardest voices. The mean is then over these folds only, so it cannot be
    /// recorded in a card (--record needs every fold).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    only: Option<Vec<String>>,
    /// Score the fold models an earlier run of the same recipe left in --out instead of training
    /// them again (e.g. to add --robustness or --int8 afterwards). Refused when a fold's training
    /// log names another recipe. With --record, the card's command is the one that trained the
    /// folds, then this one.
    #[arg(long)]
    reuse: bool,
}

/// The corruptions of `--robustness`.
const CONDITIONS: [Corruption; 7] = [
    Corruption::Clean,
    Corruption::Background { snr_db: 20.0 },
    Corruption::Background { snr_db: 10.0 },
    Corruption::Background { snr_db: 0.0 },
    Corruption::Room,
    Corruption::Gain { db: 20.0 },
    Corruption::Gain { db: -20.0 },
];

pub fn run(a: CvArgs) -> anyhow::Result<()> {
    use soundproof::model::{CrossValidation, CvFold};
    let t = &a.train;
    let cfg = train_config(t)?;
    // The folds: FSDD, one per speaker (that voice held out entirely); ESC-10, one per fold
    // present (that fold tests, the next one validates, the rest train: the ESC protocol).
    let (scheme, dataset, folds): (&str, &str, Vec<(String, DatasetSpec)>) = match t.data.spec() {
        DatasetSpec::Fsdd { recordings } => {
            let speakers = soundproof_tools::data::fsdd::speakers(&recordings)?;
            let folds = speakers.into_iter().map(|s| (s.clone(), DatasetSpec::FsddSpeaker { recordings: recordings.clone(), held_out: s })).collect();
            ("leave-one-speaker-out", "fsdd", folds)
        }
        DatasetSpec::Esc10 { root, .. } => {
            let folds = soundproof_tools::data::esc10::folds(&root)?;
            // --val-fold 0 (validation from the other folds' recordings) carries over to each fold.
            let val = match t.data.val_fold {
                Some(0) => Some(0),
                _ => None,
            };
            let folds = folds.into_iter().map(|f| (format!("fold-{f}"), DatasetSpec::Esc10 { root: root.clone(), test_fold: f, validation_fold: val })).collect();
            ("leave-one-fold-out", "esc10", folds)
        }
        DatasetSpec::FsddSpeaker { .. } | DatasetSpec::Folder { .. } => {
            anyhow::bail!("cv: --dataset fsdd (one fold per speaker) or esc10 (one fold per ESC fold)")
        }
    };
    let folds = match &a.only {
        Some(only) => {
            anyhow::ensure!(a.record.is_empty(), "cv: --record needs every fold, not --only {}", only.join(","));
            for o in only {
                anyhow::ensure!(
                    folds.iter().any(|(h, _)| h == o),
                    "cv: --only {o}: no such fold (the folds are {})",
                    folds.iter().map(|(h, _)| h.as_str()).collect::<Vec<_>>().join(", ")
                );
            }
            folds.into_iter().filter(|(h, _)| only.contains(h)).collect()
        }
        None => {
            anyhow::ensure!(folds.len() >= 2, "cv: {} folds", folds.len());
            folds
        }
    };
    let name = t.name.clone().unwrap_or_else(|| format!("{}-{dataset}", t.model.name()));
    let out = t.out.clone().unwrap_or_else(|| Path::new("out").join("cv").join(&name));
    let (mut f32_folds, mut int8_folds) = (Vec::new(), Vec::new());
    // --reuse: the command that trained the folds (recorded with this one).
    let mut trained_by: Option<String> = None;
    let mut robustness: Vec<serde_json::Value> = Vec::new();
    anyhow::ensure!(!a.robustness_held_out || dataset == "esc10", "cv: --robustness-held-out is for ESC-10 folds; FSDD's noise comes from --robustness-folds");
    // The banks of the robustness noise and rooms: one for all folds, or (--robustness-held-out)
    // one per fold, made when the fold is scored; the rooms are made for the training window
    // (as `train` sets it).
    let window = match (&a.robustness, cfg.seconds) {
        (None, _) => 0,
        (Some(_), Some(s)) => (s * cfg.sample_rate as f64).round() as usize,
        (Some(_), None) => (folds[0].1.index()?.clip_seconds * cfg.sample_rate as f64).round() as usize,
    };
    let banks_of = |noise_folds: Option<&[u32]>| -> anyhow::Result<Option<std::sync::Arc<soundproof_tools::data::augment::Banks>>> {
        a.robustness.as_ref().map(|dir| Ok(std::sync::Arc::new(eval_banks(Some((dir, noise_folds)), cfg.sample_rate, window)?))).transpose()
    };
    let shared_banks = if a.robustness_held_out { None } else { banks_of(a.robustness_folds.as_deref())? };
    let n_folds = folds.len();
    for (k, (held, spec)) in folds.into_iter().enumerate() {
        let dir = out.join(&held);
        if !t.json {
            eprintln!("fold {}/{n_folds}: {held} held out", k + 1);
        }
        let onnx_path = dir.join(format!("{name}.onnx"));
        let trained_accuracy = if a.reuse {
            let (accuracy, command) = reused_fold(&dir, &cfg, &onnx_path).with_context(|| format!("cv --reuse: fold {held}"))?;
            trained_by.get_or_insert(command);
            accuracy
        } else {
            let report = train(&cfg, &spec, &dir).with_context(|| format!("training the fold without {held}"))?;
            export(&dir, &name, &onnx_path).with_context(|| format!("exporting {}", dir.display()))?;
            report.test_accuracy
        };
        // Both precisions are scored by the engine's runtime (tract) on the same clips of the
        // held-out fold (all of its clips, or --max-clips evenly spaced).
        let opts = EvalOptions { split: Split::Test, batch: 16, sigma: 0.0, seed: 0, max_clips: t.max_clips, shard: Shard::WHOLE, ..EvalOptions::test() };
        let (r, _, _) = evaluate(&onnx_path, &spec, &opts)?;
        f32_folds.push(CvFold { held_out: held.clone(), accuracy: r.accuracy, examples: r.examples });
        let banks = match (&spec, a.robustness_held_out) {
            (DatasetSpec::Esc10 { test_fold, .. }, true) => banks_of(Some(&[*test_fold]))?,
            _ => shared_banks.clone(),
        };
        if let Some(banks) = &banks {
            let mut row = serde_json::Map::new();
            for c in CONDITIONS {
                // Clean is the fold's own score, computed above.
                if c == Corruption::Clean {
                    row.insert(c.name(), serde_json::json!(r.accuracy));
                    continue;
                }
                let o = EvalOptions { corruption: c, banks: Some(banks.clone()), ..opts.clone() };
                let (rc, _, _) = evaluate(&onnx_path, &spec, &o).with_context(|| format!("fold {held}, {}", c.name()))?;
                row.insert(c.name(), serde_json::json!(rc.accuracy));
            }
            let noise_clips = banks.background.as_ref().map_or(0, |b| b.clips.len());
            robustness.push(serde_json::json!({ "held_out": held, "accuracy": row, "noise_clips": noise_clips }));
        }
        if a.int8 {
            let q = quantized_path(&onnx_path, Precision::Int8);
            quantize(&onnx_path, Precision::Int8, &spec, 256, a.int8_fft_backend.map(Into::into), &q)?;
            let (r, _, _) = evaluate(&q, &spec, &opts)?;
            int8_folds.push(CvFold { held_out: held.clone(), accuracy: r.accuracy, examples: r.examples });
        }
        if !t.json {
            let i8 = int8_folds.last().filter(|_| a.int8).map(|f| format!(", int8 {:.2} %", 100.0 * f.accuracy)).unwrap_or_default();
            eprintln!("fold {held}: {:.2} % of {} clips (tract; {:.2} % in training){i8}", 100.0 * r.accuracy, r.examples, 100.0 * trained_accuracy);
        }
    }
    let summary = |folds: Vec<CvFold>| CrossValidation {
        scheme: scheme.into(),
        mean_accuracy: folds.iter().map(|f| f.accuracy).sum::<f64>() / folds.len() as f64,
        min_accuracy: folds.iter().map(|f| f.accuracy).fold(f64::INFINITY, f64::min),
        folds,
        // Reused folds: the command that trained them, then the one that scored them.
        command: match &trained_by {
            Some(t) => format!("{t}; {}", command_line()),
            None => command_line(),
        },
    };
    let f32_cv = summary(f32_folds);
    let int8_cv = (!int8_folds.is_empty()).then(|| summary(int8_folds));
    std::fs::create_dir_all(&out)?;
    let robustness = a.robustness.as_ref().map(|_| {
        let mean: serde_json::Map<String, serde_json::Value> = CONDITIONS
            .iter()
            .map(|c| {
                let v: Vec<f64> = robustness.iter().filter_map(|r| r["accuracy"][c.name()].as_f64()).collect();
                (c.name(), serde_json::json!(v.iter().sum::<f64>() / v.len().max(1) as f64))
            })
            .collect();
        serde_json::json!({
            "conditions": CONDITIONS,
            "noise": a.robustness,
            "noise_folds": if a.robustness_held_out { serde_json::json!("held-out") } else { serde_json::json!(a.robustness_folds) },
            "folds": robustness,
            "mean": mean,
        })
    });
    write_json(&out.join("cross_validation.json"), &serde_json::json!({ "f32": f32_cv, "int8": int8_cv, "robustness": robustness }))?;
    for path in &a.record {
        let mut proto = onnx::load(path)?;
        let mut card = onnx::card_of(&proto)?;
        let cv = match card.precision {
            Precision::Int8 => int8_cv.clone().with_context(|| format!("{} is int8: run with --int8", path.display()))?,
            _ => f32_cv.clone(),
        };
        card.metrics.cross_validation = Some(cv);
        onnx::set_card(&mut proto, &card)?;
        onnx::save(&proto, path)?;
    }
    if t.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "f32": f32_cv, "int8": int8_cv, "robustness": robustness }))?);
    } else {
        println!("{scheme}, {} ({} folds):", t.model.name(), f32_cv.folds.len());
        for (i, f) in f32_cv.folds.iter().enumerate() {
            let i8 = int8_cv.as_ref().map(|c| format!("   int8 {:6.2} %", 100.0 * c.folds[i].accuracy)).unwrap_or_default();
            println!("  {:<10} {:6.2} % of {} clips{i8}", f.held_out, 100.0 * f.accuracy, f.examples);
        }
        let i8 = int8_cv.as_ref().map(|c| format!("; int8 mean {:.2} %, min {:.2} %", 100.0 * c.mean_accuracy, 100.0 * c.min_accuracy)).unwrap_or_default();
        println!("  mean {:.2} %, min {:.2} %{i8}", 100.0 * f32_cv.mean_accuracy, 100.0 * f32_cv.min_accuracy);
        if let Some(r) = &robustness {
            println!("  robustness (f32, mean over the held-out folds):");
            for c in CONDITIONS {
                println!("    {:<26} {:6.2} %", c.name(), 100.0 * r["mean"][c.name()].as_f64().unwrap_or(f64::NAN));
            }
        }
        for p in &a.record {
            println!("recorded in the card of {}", p.display());
        }
    }
    Ok(())
}

/// `--reuse`: checks that the fold in `dir` was trained with `cfg` (its `train_log.json`; the
/// command line and the quiet flag aside, fields added since read as their defaults) and that its
/// exported model is there; returns the accuracy training reported on the held-out fold and the
/// command that trained it.
fn reused_fold(dir: &Path, cfg: &TrainConfig, onnx_path: &Path) -> anyhow::Result<(f64, String)> {
    let log_path = dir.join("train_log.json");
    let text = std::fs::read_to_string(&log_path).with_context(|| format!("no earlier training here: {}", log_path.display()))?;
    let log: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("reading {}", log_path.display()))?;
    let then: TrainConfig = serde_json::from_value(log["config"].clone()).with_context(|| format!("the recipe in {}", log_path.display()))?;
    let recipe = |c: &TrainConfig| -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
        let mut v = serde_json::to_value(c)?.as_object().cloned().unwrap_or_default();
        v.remove("command");
        v.remove("quiet");
        Ok(v)
    };
    let (then, now) = (recipe(&then)?, recipe(cfg)?);
    let differ: Vec<String> = now
        .iter()
        .filter(|(k, v)| then.get(*k) != Some(*v))
        .map(|(k, v)| format!("{k}: {} then, {v} now", then.get(k).map(|t| t.to_string()).unwrap_or_else(|| "absent".into())))
        .collect();
    anyhow::ensure!(differ.is_empty(), "{} was trained with another recipe ({})", dir.display(), differ.join("; "));
    anyhow::ensure!(onnx_path.is_file(), "{} is missing (was the earlier run's --name another?)", onnx_path.display());
    let accuracy = log["test_accuracy"].as_f64().with_context(|| format!("{} has no test_accuracy", log_path.display()))?;
    Ok((accuracy, log["config"]["command"].as_str().unwrap_or_default().to_string()))
}

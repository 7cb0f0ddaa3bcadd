//! Sharded `attack`, `audit` and `eval` runs and their merge (the engine's
//! [`soundproof::shard`] cuts the runs; this puts the reports of these three commands back
//! together). A shard of a run given `--out DIR` writes into `DIR/shard-I-of-N/`; `merge`
//! checks that the shards make up one run (same settings and input list, each shard once) and
//! writes what the unsharded run writes into its folder: the report (per-example results in the
//! unsharded order, the summary recomputed from them), and for `attack` the per-clip files
//! (clean/, adversarial/, plots/), for `eval` the confusion-matrix PNG.

use crate::attack::audit::AuditReport;
use crate::attack::runner::Report;
use crate::error::{Result, ToolsError};
use crate::eval::EvalReport;
use serde::Deserialize;
use soundproof::shard::{check_parts, interleave, Part, Shard};
use std::path::{Path, PathBuf};

/// A float written as `null` (serde_json writes ±∞ and NaN so) read back as +∞; used where the
/// only non-finite value is +∞ (an SNR with a zero perturbation).
pub fn null_as_inf<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::INFINITY))
}

/// The folder a shard of a run in `out` writes into.
pub fn shard_dir(out: &Path, shard: Shard) -> PathBuf {
    if shard.is_whole() {
        out.to_path_buf()
    } else {
        out.join(shard.file_tag())
    }
}

fn merge_err(s: impl Into<String>) -> ToolsError {
    ToolsError::Merge(s.into())
}

/// Writes `v` as pretty JSON through a temporary name (a killed run leaves no partial report).
pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    let json = serde_json::to_string_pretty(v).map_err(|e| ToolsError::Json { path: path.to_path_buf(), source: e })?;
    soundproof::shard::write_atomic(path, (json + "\n").as_bytes()).map_err(|e| ToolsError::io(path, e))
}

/// What a report looks like, by its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Attack,
    Audit,
    Eval,
}

impl Kind {
    pub fn of(v: &serde_json::Value) -> Option<Kind> {
        if v.get("box_bounds").is_some() && v.get("results").is_some() {
            Some(Kind::Attack)
        } else if v.get("onnx").is_some() && v.get("results").is_some() {
            Some(Kind::Audit)
        } else if v.get("confusion").is_some() {
            Some(Kind::Eval)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Attack => "attack",
            Kind::Audit => "audit",
            Kind::Eval => "eval",
        }
    }
}

/// The key of a run: the report's JSON without the fields one shard has of its own.
fn run_key(v: &serde_json::Value, own: &[&str]) -> String {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        for k in own {
            o.remove(*k);
        }
    }
    v.to_string()
}

/// Checks that `parts` (file, report as JSON, shard) are one run, each shard once; returns the
/// shards in index order with their files.
fn check(parts: &[(PathBuf, serde_json::Value)], own: &[&str]) -> Result<Vec<(usize, PathBuf)>> {
    let mut described = Vec::new();
    for (file, v) in parts {
        let pair: [usize; 2] = serde_json::from_value(v.get("shard").cloned().unwrap_or(serde_json::json!([0, 1])))
            .map_err(|e| merge_err(format!("{}: shard: {e}", file.display())))?;
        let shard = Shard::from_pair(pair).map_err(|e| merge_err(format!("{}: {e}", file.display())))?;
        described.push(Part { file: file.clone(), shard, run: run_key(v, own) });
    }
    check_parts(&described).map_err(|e| merge_err(e.0))?;
    let mut order: Vec<(usize, PathBuf)> = described.into_iter().map(|p| (p.shard.index, p.file)).collect();
    order.sort();
    Ok(order)
}

fn typed<T: serde::de::DeserializeOwned>(file: &Path, v: serde_json::Value, kind: Kind) -> Result<T> {
    serde_json::from_value(v).map_err(|e| merge_err(format!("{} is not an {} report: {e}", file.display(), kind.name())))
}

/// Merges `attack` shard reports into the unsharded report.
pub fn merge_attack(parts: Vec<(PathBuf, serde_json::Value)>) -> Result<Report> {
    check(&parts, &["shard", "results", "summary", "total_forwards", "total_gradients"])?;
    let mut reports: Vec<Report> = parts.into_iter().map(|(f, v)| typed(&f, v, Kind::Attack)).collect::<Result<_>>()?;
    reports.sort_by_key(|r| r.shard[0]);
    let first = reports[0].clone();
    let (forwards, gradients) = reports.iter().fold((0, 0), |(f, g), r| (f + r.total_forwards, g + r.total_gradients));
    let parts = reports.into_iter().map(|r| (Shard { index: r.shard[0], count: r.shard[1] }, r.results)).collect();
    let results = interleave(first.inputs.count, first.batch.max(1), parts).map_err(|e| merge_err(e.0))?;
    Ok(Report { shard: [0, 1], summary: crate::attack::summarize(&results), total_forwards: forwards, total_gradients: gradients, results, ..first })
}

/// Merges `audit` shard reports into the unsharded report.
pub fn merge_audit(parts: Vec<(PathBuf, serde_json::Value)>) -> Result<AuditReport> {
    let own = ["shard", "results", "summary", "clips", "certified", "median_radius", "median_base_min_over_radius", "min_base_min_over_radius", "seconds"];
    check(&parts, &own)?;
    let mut reports: Vec<AuditReport> = parts.into_iter().map(|(f, v)| typed(&f, v, Kind::Audit)).collect::<Result<_>>()?;
    reports.sort_by_key(|r| r.shard[0]);
    let first = reports[0].clone();
    let seconds = reports.iter().map(|r| r.seconds).sum();
    let parts = reports.into_iter().map(|r| (Shard { index: r.shard[0], count: r.shard[1] }, r.results)).collect();
    let results = interleave(first.inputs.count, 1, parts).map_err(|e| merge_err(e.0))?;
    let mut report = AuditReport { shard: [0, 1], seconds, results, ..first };
    report.tabulate();
    Ok(report)
}

/// Merges `eval` shard reports into the unsharded report (confusion matrices summed).
pub fn merge_eval(parts: Vec<(PathBuf, serde_json::Value)>) -> Result<EvalReport> {
    let own = ["shard", "examples", "accuracy", "per_class", "confusion", "inference_seconds", "windows_per_s"];
    check(&parts, &own)?;
    let mut reports: Vec<EvalReport> = parts.into_iter().map(|(f, v)| typed(&f, v, Kind::Eval)).collect::<Result<_>>()?;
    reports.sort_by_key(|r| r.shard[0]);
    let mut merged = reports[0].clone();
    for r in &reports[1..] {
        for (row, other) in merged.confusion.iter_mut().zip(&r.confusion) {
            for (c, o) in row.iter_mut().zip(other) {
                *c += o;
            }
        }
        merged.inference_seconds += r.inference_seconds;
        merged.examples += r.examples;
    }
    if merged.examples != merged.inputs.count {
        return Err(merge_err(format!("the shards hold {} clips, the run has {}", merged.examples, merged.inputs.count)));
    }
    merged.shard = [0, 1];
    merged.tabulate();
    Ok(merged)
}

/// Copies (hard-links where it can) the per-clip outputs of an attack shard folder into `out`.
pub fn gather_attack_files(shard_dir: &Path, out: &Path) -> Result<usize> {
    let mut n = 0;
    for sub in ["clean", "adversarial", "plots"] {
        let src = shard_dir.join(sub);
        if !src.is_dir() {
            continue;
        }
        let dst = out.join(sub);
        std::fs::create_dir_all(&dst).map_err(|e| ToolsError::io(&dst, e))?;
        for e in std::fs::read_dir(&src).map_err(|e| ToolsError::io(&src, e))? {
            let e = e.map_err(|e| ToolsError::io(&src, e))?;
            let to = dst.join(e.file_name());
            if to.exists() {
                std::fs::remove_file(&to).map_err(|err| ToolsError::io(&to, err))?;
            }
            if std::fs::hard_link(e.path(), &to).is_err() {
                std::fs::copy(e.path(), &to).map_err(|err| ToolsError::io(&to, err))?;
            }
            n += 1;
        }
    }
    Ok(n)
}

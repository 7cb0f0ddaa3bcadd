//! Certifying clips and datasets: the window a clip certifies, one record per clip, the
//! summary table of a run (003's reporting: clean accuracy, certified accuracy at radius
//! thresholds, median radius and SNR_cert), and merging sharded runs.

use super::{clip_key, Budget, Certificate, Contract, OnlineBound, OnlineCertifier, SmoothError, SmoothParams, Smoother};
use crate::model::Model;
use crate::window::{ClipGain, ClipWindow};
use crate::stats::median;
use std::path::{Path, PathBuf};

/// One certified clip.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClipRecord {
    pub path: PathBuf,
    /// Ground truth read from the file name or a meta.csv, and its index among the labels.
    pub truth: Option<String>,
    pub truth_index: Option<usize>,
    pub certificate: Certificate,
}

impl ClipRecord {
    pub fn clean_correct(&self) -> Option<bool> {
        self.truth_index.map(|t| t == self.certificate.clean_prediction)
    }
    /// Correct by the smoothed classifier (abstain counts as wrong).
    pub fn smoothed_correct(&self) -> Option<bool> {
        self.truth_index.map(|t| self.certificate.prediction == Some(t))
    }
}

/// Certifies one clip already at the model's rate: fixed-n CERTIFY.
pub fn certify_clip(
    smoother: &mut Smoother<'_>,
    path: &Path,
    samples: &[f32],
    gain: ClipGain,
    truth: Option<String>,
    truth_index: Option<usize>,
) -> Result<ClipRecord, SmoothError> {
    let (x, s) = ClipWindow::of(smoother.model().card()).window(samples, gain)?;
    let certificate = smoother.certify(&x, clip_key(file_name(path)), gain.into(), s)?;
    Ok(ClipRecord { path: path.to_path_buf(), truth, truth_index, certificate })
}

/// Certifies one clip online: CERTIFY under `budget` on the certifier's workers, the estimation
/// samples chosen by `bound` (`smooth::online`), as a stream certifies each window.
#[allow(clippy::too_many_arguments)]
pub fn certify_clip_online(
    certifier: &mut OnlineCertifier<'_>,
    path: &Path,
    samples: &[f32],
    gain: ClipGain,
    truth: Option<String>,
    truth_index: Option<usize>,
    bound: &OnlineBound,
    budget: Budget,
) -> Result<ClipRecord, SmoothError> {
    let (x, s) = ClipWindow::of(certifier.model().card()).window(samples, gain)?;
    let certificate = certifier.certify(&x, clip_key(file_name(path)), gain.into(), s, bound, budget)?;
    Ok(ClipRecord { path: path.to_path_buf(), truth, truth_index, certificate })
}

fn file_name(path: &Path) -> &str {
    path.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

/// Certified accuracy at one radius threshold.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AtRadius {
    pub radius: f64,
    /// Fraction of labelled clips the smoothed classifier gets right with radius ≥ `radius`
    /// (> 0 for the first row, radius 0).
    pub certified_accuracy: f64,
}

/// The table of a certification run.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    pub clips: usize,
    pub labelled: usize,
    /// Base classifier on the clean windows.
    pub clean_accuracy: Option<f64>,
    /// Smoothed classifier correct with R > 0 (003's positive-radius certified accuracy).
    pub certified_accuracy: Option<f64>,
    pub abstain_rate: f64,
    pub at_radius: Vec<AtRadius>,
    /// Over the clips certified correctly (R > 0 and right).
    pub median_radius: Option<f64>,
    pub median_snr_cert_db: Option<f64>,
    pub mean_seconds_per_clip: f64,
}


/// Default radius thresholds: 0 (positive radius) and σ × {0.25, 0.5, 1, 2, 3}.
pub fn default_thresholds(sigma: f64) -> Vec<f64> {
    let mut t = vec![0.0];
    t.extend([0.25, 0.5, 1.0, 2.0, 3.0].iter().map(|k| k * sigma));
    t
}

impl Summary {
    pub fn of(records: &[ClipRecord], thresholds: &[f64]) -> Summary {
        let labelled: Vec<&ClipRecord> = records.iter().filter(|r| r.truth_index.is_some()).collect();
        let nl = labelled.len();
        let frac = |k: usize| (nl > 0).then(|| k as f64 / nl as f64);
        let clean = labelled.iter().filter(|r| r.clean_correct() == Some(true)).count();
        let good: Vec<&&ClipRecord> = labelled.iter().filter(|r| r.smoothed_correct() == Some(true) && r.certificate.radius > 0.0).collect();
        let at_radius = thresholds
            .iter()
            .map(|&t| AtRadius {
                radius: t,
                certified_accuracy: frac(good.iter().filter(|r| if t == 0.0 { r.certificate.radius > 0.0 } else { r.certificate.radius >= t }).count())
                    .unwrap_or(0.0),
            })
            .collect();
        Summary {
            clips: records.len(),
            labelled: nl,
            clean_accuracy: frac(clean),
            certified_accuracy: frac(good.len()),
            abstain_rate: if records.is_empty() { 0.0 } else { records.iter().filter(|r| r.certificate.abstained()).count() as f64 / records.len() as f64 },
            at_radius,
            median_radius: median(&mut good.iter().map(|r| r.certificate.radius).collect::<Vec<_>>()),
            median_snr_cert_db: median(&mut good.iter().filter_map(|r| r.certificate.snr_cert_db).collect::<Vec<_>>()),
            mean_seconds_per_clip: if records.is_empty() { 0.0 } else { records.iter().map(|r| r.certificate.seconds).sum::<f64>() / records.len() as f64 },
        }
    }

    /// Certified accuracy as a step function of the radius (for the plot): points (r, acc)
    /// at every certified radius, from r = 0 to the largest.
    pub fn curve(records: &[ClipRecord]) -> Vec<(f64, f64)> {
        let nl = records.iter().filter(|r| r.truth_index.is_some()).count().max(1) as f64;
        let mut radii: Vec<f64> = records
            .iter()
            .filter(|r| r.smoothed_correct() == Some(true) && r.certificate.radius > 0.0)
            .map(|r| r.certificate.radius)
            .collect();
        radii.sort_by(|a, b| a.total_cmp(b));
        let mut pts = vec![(0.0, radii.len() as f64 / nl)];
        for (i, &r) in radii.iter().enumerate() {
            pts.push((r, (radii.len() - i) as f64 / nl));
            pts.push((r, (radii.len() - i - 1) as f64 / nl));
        }
        pts
    }
}

/// The inputs of a whole run: how many items, and the [`crate::shard::digest`] of their sorted
/// list. Every shard of a run records the whole run's inputs, so a merge can tell its parts from
/// another run's.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RunInputs {
    pub count: usize,
    pub digest: String,
}

impl RunInputs {
    pub fn of_paths<P: AsRef<Path>>(paths: &[P]) -> RunInputs {
        RunInputs { count: paths.len(), digest: crate::shard::digest_paths(paths) }
    }
}

fn shard_err(e: crate::shard::ShardError) -> SmoothError {
    SmoothError::Config(e.0)
}

/// A whole run, as written by `soundproof certify --json` (one shard or all).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CertifyRun {
    pub model: String,
    pub model_path: PathBuf,
    pub contract: Contract,
    pub sigma: f64,
    pub n0: u64,
    pub n: u64,
    pub alpha: f64,
    pub seed: u64,
    /// `[i, N]`: this run holds the files whose index in the sorted input list is ≡ i mod N.
    pub shard: [usize; 2],
    /// The whole run's input list (all shards).
    #[serde(default)]
    pub inputs: RunInputs,
    pub records: Vec<ClipRecord>,
    pub summary: Summary,
}

impl CertifyRun {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        model: &Model,
        contract: Contract,
        p: &SmoothParams,
        shard: [usize; 2],
        inputs: RunInputs,
        mut records: Vec<ClipRecord>,
        thresholds: &[f64],
    ) -> Self {
        records.sort_by(|a, b| a.path.cmp(&b.path));
        let summary = Summary::of(&records, thresholds);
        CertifyRun {
            model: model.card().name.clone(),
            model_path: model.path().to_path_buf(),
            contract,
            sigma: p.sigma,
            n0: p.n0,
            n: p.n,
            alpha: p.alpha,
            seed: p.seed,
            shard,
            inputs,
            records,
            summary,
        }
    }

    /// What makes two shards parts of one run: the model, the contract, the parameters, the
    /// radius thresholds and the whole input list.
    pub fn run_key(&self) -> String {
        let radii: Vec<f64> = self.summary.at_radius.iter().map(|a| a.radius).collect();
        format!(
            "{} ({}), {}, σ = {}, n0 = {}, n = {}, α = {}, seed {}, radii {:?}, {} inputs (digest {})",
            self.model,
            self.model_path.display(),
            self.contract,
            self.sigma,
            self.n0,
            self.n,
            self.alpha,
            self.seed,
            radii,
            self.inputs.count,
            self.inputs.digest
        )
    }

    /// Merges shards of one run: same model, contract, parameters and inputs, shards 0..N each
    /// once (`files` name the shards in messages). The records are sorted by path, so the result
    /// equals the unsharded run's.
    pub fn merge_files(shards: Vec<(PathBuf, CertifyRun)>) -> Result<CertifyRun, SmoothError> {
        let parts = shards
            .iter()
            .map(|(f, s)| Ok(crate::shard::Part { file: f.clone(), shard: crate::shard::Shard::from_pair(s.shard).map_err(shard_err)?, run: s.run_key() }))
            .collect::<Result<Vec<_>, SmoothError>>()?;
        crate::shard::check_parts(&parts).map_err(shard_err)?;
        let first = shards[0].1.clone();
        let thresholds: Vec<f64> = first.summary.at_radius.iter().map(|a| a.radius).collect();
        let mut records: Vec<ClipRecord> = shards.into_iter().flat_map(|(_, s)| s.records).collect();
        records.sort_by(|a, b| a.path.cmp(&b.path));
        if first.inputs.count > 0 && records.len() != first.inputs.count {
            return Err(SmoothError::Config(format!("the shards hold {} records, the run has {} inputs", records.len(), first.inputs.count)));
        }
        let summary = Summary::of(&records, &thresholds);
        Ok(CertifyRun { shard: [0, 1], records, summary, ..first })
    }

    /// [`CertifyRun::merge_files`] without file names.
    pub fn merge(shards: Vec<CertifyRun>) -> Result<CertifyRun, SmoothError> {
        CertifyRun::merge_files(shards.into_iter().enumerate().map(|(k, s)| (PathBuf::from(format!("part {k}")), s)).collect())
    }
}

/// A clip loaded at the model's rate, with its ground truth.
#[derive(Debug, Clone)]
pub struct LoadedClip {
    pub path: PathBuf,
    pub samples: Vec<f32>,
    pub truth: Option<String>,
    pub truth_index: Option<usize>,
}


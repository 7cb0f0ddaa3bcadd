//! Dataset-scale studies as runs that shard and merge: the gain sweep (003 failure mode 2) and
//! the diagnostics (003 Tables 2 and 3). A run keeps its per-clip results, and its tables are
//! built from them by one function, for a whole run and for a merge of shards alike, so merged
//! shards give exactly the unsharded run's JSON (timings aside).

use super::experiments::{gain_sweep, GeometryRow, SweepCell, SweepPolicy};
use super::report::{certify_clip, ClipRecord, LoadedClip, RunInputs, Summary};
use super::{clip_key, Contract, NormStats, SmoothError, SmoothParams, Smoother, Transform};
use crate::model::Model;
use crate::window::{ClipGain, ClipWindow};
use crate::shard::{check_parts, Part, Shard};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

fn shard_err(e: crate::shard::ShardError) -> SmoothError {
    SmoothError::Config(e.0)
}

/// The key of a run: its JSON with the per-shard parts taken out (equal keys = one run).
fn key_of<T: Serialize>(v: &T) -> Result<String, SmoothError> {
    serde_json::to_string(v).map_err(|e| SmoothError::Config(e.to_string()))
}

/// Checks the parts and returns them sorted by shard index.
fn checked<T>(parts: Vec<(PathBuf, T)>, shard: impl Fn(&T) -> [usize; 2], key: impl Fn(&T) -> Result<String, SmoothError>) -> Result<Vec<T>, SmoothError> {
    let mut described = Vec::with_capacity(parts.len());
    for (file, p) in &parts {
        described.push(Part { file: file.clone(), shard: Shard::from_pair(shard(p)).map_err(shard_err)?, run: key(p)? });
    }
    check_parts(&described).map_err(shard_err)?;
    let mut parts: Vec<T> = parts.into_iter().map(|(_, p)| p).collect();
    parts.sort_by_key(|p| shard(p)[0]);
    Ok(parts)
}

/// A gain sweep, as `soundproof gain-sweep --json` writes it (one shard or all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GainSweepRun {
    /// `gain-sweep`.
    pub kind: String,
    pub model: String,
    pub model_path: PathBuf,
    pub contract: Contract,
    pub sigma: f64,
    pub n0: u64,
    pub n: u64,
    pub alpha: f64,
    pub seed: u64,
    pub gains_db: Vec<f64>,
    pub policies: Vec<SweepPolicy>,
    pub thresholds: Vec<f64>,
    /// `[i, N]`: the clips whose index in the sorted list is ≡ i mod N.
    pub shard: [usize; 2],
    pub inputs: RunInputs,
    /// Gain × policy, each with the summary and the records of its clips (sorted by path).
    pub cells: Vec<SweepCell>,
}

impl GainSweepRun {
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        smoother: &mut Smoother<'_>,
        clips: &[LoadedClip],
        gains_db: &[f64],
        policies: &[SweepPolicy],
        thresholds: &[f64],
        shard: Shard,
        inputs: RunInputs,
        progress: impl FnMut(f64, SweepPolicy),
    ) -> Result<GainSweepRun, SmoothError> {
        let cells = gain_sweep(smoother, clips, gains_db, policies, thresholds, progress)?;
        let model = smoother.model();
        let p = smoother.params();
        Ok(GainSweepRun {
            kind: "gain-sweep".into(),
            model: model.card().name.clone(),
            model_path: model.path().to_path_buf(),
            contract: smoother.contract(),
            sigma: p.sigma,
            n0: p.n0,
            n: p.n,
            alpha: p.alpha,
            seed: p.seed,
            gains_db: gains_db.to_vec(),
            policies: policies.to_vec(),
            thresholds: thresholds.to_vec(),
            shard: shard.pair(),
            inputs,
            cells,
        })
    }

    pub fn run_key(&self) -> Result<String, SmoothError> {
        key_of(&GainSweepRun { shard: [0, 0], cells: Vec::new(), ..self.clone() })
    }

    /// Merges the shards of one sweep (`parts`: file, run) into the unsharded sweep.
    pub fn merge_files(parts: Vec<(PathBuf, GainSweepRun)>) -> Result<GainSweepRun, SmoothError> {
        let parts = checked(parts, |p| p.shard, |p| p.run_key())?;
        let first = parts[0].clone();
        let mut cells = Vec::with_capacity(first.cells.len());
        for (k, cell) in first.cells.iter().enumerate() {
            let mut records: Vec<ClipRecord> = Vec::new();
            for p in &parts {
                let c = p.cells.get(k).filter(|c| c.gain_db == cell.gain_db && c.policy == cell.policy).ok_or_else(|| {
                    SmoothError::Config(format!("shard {}/{} lacks the cell {} dB / {}", p.shard[0], p.shard[1], cell.gain_db, cell.policy))
                })?;
                records.extend(c.records.iter().cloned());
            }
            records.sort_by(|a, b| a.path.cmp(&b.path));
            if records.len() != first.inputs.count {
                return Err(SmoothError::Config(format!("cell {} dB / {}: {} records for a run of {} clips", cell.gain_db, cell.policy, records.len(), first.inputs.count)));
            }
            cells.push(SweepCell { gain_db: cell.gain_db, policy: cell.policy.clone(), summary: Summary::of(&records, &first.thresholds), records });
        }
        Ok(GainSweepRun { shard: [0, 1], cells, ..first })
    }
}

/// One row of 003 Table 2: positive-radius certified accuracy of two certificates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table2Row {
    pub diagnostic: String,
    pub a: Contract,
    pub a_certified_accuracy: Option<f64>,
    pub b: Contract,
    pub b_certified_accuracy: Option<f64>,
}

/// One clip at one level of Table 3: its window's RMS and peak, and the norm statistics of each
/// transform (in the run's transform order).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClipLevel {
    pub rms: f64,
    pub peak: f64,
    pub stats: Vec<NormStats>,
}

/// One clip of a diagnose run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseClip {
    pub path: PathBuf,
    /// Table 3, per level (the run's level order).
    pub levels: Vec<ClipLevel>,
    /// Table 2's certificates, in [`DiagnoseRun::TABLE2`] order (empty with `geometry_only`).
    pub table2: Vec<ClipRecord>,
}

/// What `soundproof diagnose` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseSettings {
    pub sigma: f64,
    pub sigma_representation: f64,
    pub noise_samples: u64,
    pub n0: u64,
    pub n: u64,
    pub alpha: f64,
    pub seed: u64,
    pub geometry_only: bool,
}

/// 003 Tables 2 and 3 on a dataset, as `soundproof diagnose --json` writes it (one shard or all).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiagnoseRun {
    /// `diagnose`.
    pub kind: String,
    pub model: String,
    pub model_path: PathBuf,
    /// σ of Table 3 and of Table 2's clip-vs-waveform row.
    pub sigma: f64,
    pub settings: DiagnoseSettings,
    /// Levels of Table 3 (without the per-run means) and the transforms, in row order.
    pub levels: Vec<String>,
    pub transforms: Vec<Transform>,
    pub shard: [usize; 2],
    pub inputs: RunInputs,
    pub table3: Vec<GeometryRow>,
    pub table2: Vec<Table2Row>,
    pub clips: Vec<DiagnoseClip>,
}

impl DiagnoseRun {
    /// Table 2's certificates per clip: (contract, which σ: false = σ_representation, true = σ).
    pub const TABLE2: [(Contract, bool); 4] =
        [(Contract::Feature, false), (Contract::Waveform, false), (Contract::Post(Transform::Clip), true), (Contract::Waveform, true)];
    pub const TRANSFORMS: [Transform; 5] = [Transform::Fixed, Transform::Rms, Transform::Clip, Transform::Peak, Transform::UnitPeak];

    /// Runs the diagnostics on `clips` (this shard's), clip by clip.
    pub fn run(model: &Model, clips: &[LoadedClip], s: &DiagnoseSettings, shard: Shard, inputs: RunInputs, mut progress: impl FnMut(usize)) -> Result<DiagnoseRun, SmoothError> {
        let card_rms = model.card().normalization.target_rms;
        let levels = [(format!("card gain (RMS {card_rms})"), ClipGain::ClipRms), ("recording level (gain 1)".to_string(), ClipGain::Fixed(1.0))];
        let geometry_params = SmoothParams { sigma: s.sigma, n0: 1, n: 1, alpha: 0.5, batch: 1, seed: s.seed };
        let mut geometry = Self::TRANSFORMS.iter().map(|&t| Smoother::new(model, Contract::Post(t), geometry_params)).collect::<Result<Vec<_>, _>>()?;
        let mut certifiers = if s.geometry_only {
            Vec::new()
        } else {
            Self::TABLE2
                .iter()
                .map(|&(c, at_sigma)| {
                    let sigma = if at_sigma { s.sigma } else { s.sigma_representation };
                    Smoother::new(model, c, SmoothParams { sigma, n0: s.n0, n: s.n, alpha: s.alpha, batch: 1, seed: s.seed })
                })
                .collect::<Result<Vec<_>, _>>()?
        };
        let mut out = Vec::with_capacity(clips.len());
        for (i, c) in clips.iter().enumerate() {
            let key = clip_key(c.path.file_name().and_then(|n| n.to_str()).unwrap_or_default());
            let mut clip_levels = Vec::with_capacity(levels.len());
            for (_, gain) in &levels {
                let (x, _) = ClipWindow::of(model.card()).window(&c.samples, *gain)?;
                let stats = geometry.iter_mut().map(|g| g.diagnose(&x, key, s.noise_samples)).collect::<Result<Vec<_>, _>>()?;
                clip_levels.push(ClipLevel { rms: crate::dsp::gain::rms(&x) as f64, peak: crate::dsp::gain::peak(&x) as f64, stats });
            }
            let table2 = certifiers
                .iter_mut()
                .map(|sm| certify_clip(sm, &c.path, &c.samples, ClipGain::ClipRms, c.truth.clone(), c.truth_index))
                .collect::<Result<Vec<_>, _>>()?;
            out.push(DiagnoseClip { path: c.path.clone(), levels: clip_levels, table2 });
            progress(i + 1);
        }
        let mut run = DiagnoseRun {
            kind: "diagnose".into(),
            model: model.card().name.clone(),
            model_path: model.path().to_path_buf(),
            sigma: s.sigma,
            settings: s.clone(),
            levels: levels.iter().map(|(l, _)| l.clone()).collect(),
            transforms: Self::TRANSFORMS.to_vec(),
            shard: shard.pair(),
            inputs,
            table3: Vec::new(),
            table2: Vec::new(),
            clips: out,
        };
        run.tabulate();
        Ok(run)
    }

    /// Tables 3 and 2 from the per-clip results (pooled in clip order).
    fn tabulate(&mut self) {
        let s = &self.settings;
        let nc = self.clips.len();
        self.table3.clear();
        for (li, level) in self.levels.iter().enumerate() {
            let rms_mean = self.clips.iter().map(|c| c.levels[li].rms).sum::<f64>() / nc.max(1) as f64;
            let peak_mean = self.clips.iter().map(|c| c.levels[li].peak).sum::<f64>() / nc.max(1) as f64;
            let level = format!("{level}; window RMS {rms_mean:.3}, peak {peak_mean:.2} (means)");
            for (ti, t) in self.transforms.iter().enumerate() {
                let mut pooled = NormStats::default();
                for c in &self.clips {
                    pooled.merge(&c.levels[li].stats[ti]);
                }
                self.table3.push(GeometryRow {
                    transform: *t,
                    level: level.clone(),
                    sigma: s.sigma,
                    d_geom: pooled.d_geom().unwrap_or(f64::NAN),
                    effective_ratio: pooled.effective_ratio().unwrap_or(f64::NAN),
                    clips: nc,
                    samples_per_clip: s.noise_samples,
                });
            }
        }
        self.table2.clear();
        if s.geometry_only {
            return;
        }
        let acc = |k: usize| {
            let records: Vec<ClipRecord> = self.clips.iter().filter_map(|c| c.table2.get(k).cloned()).collect();
            Summary::of(&records, &[0.0]).certified_accuracy
        };
        self.table2.push(Table2Row {
            diagnostic: format!("log-mel vs waveform, σ = {}", s.sigma_representation),
            a: Contract::Feature,
            a_certified_accuracy: acc(0),
            b: Contract::Waveform,
            b_certified_accuracy: acc(1),
        });
        self.table2.push(Table2Row {
            diagnostic: format!("clip vs waveform, σ = {}", s.sigma),
            a: Contract::Post(Transform::Clip),
            a_certified_accuracy: acc(2),
            b: Contract::Waveform,
            b_certified_accuracy: acc(3),
        });
    }

    pub fn run_key(&self) -> Result<String, SmoothError> {
        key_of(&DiagnoseRun { shard: [0, 0], table3: Vec::new(), table2: Vec::new(), clips: Vec::new(), ..self.clone() })
    }

    /// Merges the shards of one diagnose run into the unsharded run.
    pub fn merge_files(parts: Vec<(PathBuf, DiagnoseRun)>) -> Result<DiagnoseRun, SmoothError> {
        let parts = checked(parts, |p| p.shard, |p| p.run_key())?;
        let first = parts[0].clone();
        let mut clips: Vec<DiagnoseClip> = parts.into_iter().flat_map(|p| p.clips).collect();
        clips.sort_by(|a, b| a.path.cmp(&b.path));
        if clips.len() != first.inputs.count {
            return Err(SmoothError::Config(format!("the shards hold {} clips, the run has {}", clips.len(), first.inputs.count)));
        }
        let mut run = DiagnoseRun { shard: [0, 1], clips, ..first };
        run.tabulate();
        Ok(run)
    }
}

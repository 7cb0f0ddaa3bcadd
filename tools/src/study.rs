//! The representation study of 000/001 (`soundproof-tools study`): a declared grid of
//! representations × datasets; in every cell a ResNet-18 trained on the engine's own front end
//! (`dsp::FrontEnd`, so `soundproof classify` serves each model exactly), evaluated by the
//! engine (tract), then attacked by 000's six attacks over a ladder of budgets, and the
//! papers' tables written from the stored runs.
//!
//! **Grid** ([`Grid`], a JSON file such as `studies/000-esc10.json`): the training recipe,
//! the datasets with their folds (ESC-10: the held-out test folds, each trained on the others;
//! FSDD: `official` or held-out speakers), the representations ([`Representation`]: MFCC with
//! its rate, `n_mfcc`, DCT norm and lifter; STFT with `n_fft` and window; the scalogram with
//! its mother function and rate, 50 ms frames and 50 % overlap as in 000/001) and the attacks
//! with their budget ladders ([`Ladder`]).
//!
//! **Budgets.** A feature-domain attack's ε is in the units of the map, which differ between
//! representations (dB for STFT, cepstral units for MFCC, log10 for the scalogram). As 000's
//! attacks work on images in `[0, 255]`, the ε ladders of FGSM, BIM-a and BIM-b are fractions
//! of the map's *dynamic range*, the median over the attacked clips of `max − min` of the
//! clean map (recorded per fold as `range`); every attack stays in the box of the clean map's
//! own range. DeepFool's budget is its iteration limit (000: 100-1000 iterations), JSMA's the
//! fraction γ of the map it may change, CW-L2's the number of values of c searched (000:
//! {1, 3, 7, 9} search steps). Goals are untargeted.
//!
//! **Scores** per cell and attack: the fooling rate at each budget (fooled / counted, pooled
//! over the folds; counted = clean input classified correctly), its **AUC**, the trapezoid
//! area under the rate over the budget axis scaled to `[0, 1]` by the largest budget, from the
//! point `(0, 0)` (no budget fools nobody), and the cost, the mean number of gradients per
//! attacked example, as the attack suite counts them (`AttackTarget::counts`), per budget and
//! averaged over the ladder. 000's "AUC score" is a fooling rate averaged over its budgets; the
//! definition here makes that average explicit and reproducible from the stored rates.
//!
//! **Resuming.** Each fold writes `fold.json` when done and each cell `cell.json`; a run skips
//! what exists and was made with the grid's recipe, front end and ladders (a fold's trained
//! model is reused when only its attacks are missing or changed), so a killed run restarts
//! where it stopped and a changed grid redoes what the change touches.

use crate::attack::{attack_batch, Attack, AttackConfig, AttackKind, AttackTarget, BoxSpec, Domain, Goal, OptParams};
use crate::checkpoint::Checkpoint;
use crate::data::features::Featurizer;
use crate::data::{load_window, DatasetSpec};
use crate::error::{Result, ToolsError};
use crate::eval::{evaluate, EvalOptions};
use crate::export::export;
use crate::nn::Arch;
use crate::shard::write_json;
use crate::train::{train, TrainConfig};
use crate::data::augment::Augment;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use soundproof::dsp::wavelet::ContinuousWavelet;
use soundproof::dsp::{DctNorm, FeatureConfig, FeatureKind};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

/// The mother function of a scalogram (000/001 Table IV).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Wavelet {
    Haar,
    /// Mexican hat (PyWavelets `mexh`).
    Mexh,
    /// Complex Morlet `cmor1.5-1.0`.
    Cmor,
}

impl Wavelet {
    pub fn continuous(self) -> ContinuousWavelet {
        match self {
            Wavelet::Haar => ContinuousWavelet::Haar,
            Wavelet::Mexh => ContinuousWavelet::MexicanHat,
            Wavelet::Cmor => ContinuousWavelet::ComplexMorlet { bandwidth: 1.5, center_frequency: 1.0 },
        }
    }
}

/// One representation of the grid: a front end of the engine with the parameters 000/001 vary.
/// Unset fields keep the engine's defaults (003's: n_fft 1024, 400-sample window, hop 160,
/// 64 slaney mel bands, 20 ortho MFCCs; scalogram: 50 ms frames, 50 % overlap, 64 scales from
/// 50 Hz to Nyquist).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Representation {
    /// Row name in the tables (e.g. `mfcc-8k`, `dwt-haar-16k`); also the cell's folder.
    pub label: String,
    /// `mfcc`, `log-stft`, `logmel` or `scalogram` (000/001's "DWT").
    pub kind: FeatureKind,
    #[serde(default = "default_rate")]
    pub sample_rate: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_fft: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub win_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hop_length: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_mels: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_mfcc: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dct_norm: Option<DctNorm>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifter: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wavelet: Option<Wavelet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_scales: Option<usize>,
    /// Scalogram frame in ms (default 50, 000/001).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_ms: Option<f64>,
}

fn default_rate() -> u32 {
    16_000
}

impl Representation {
    /// A scalogram of 000/001 (50 ms frames, 50 % overlap, log scale) at `sample_rate`.
    pub fn scalogram(label: &str, wavelet: Wavelet, sample_rate: u32, n_scales: Option<usize>) -> Self {
        Representation {
            label: label.into(),
            kind: FeatureKind::Scalogram,
            sample_rate,
            n_fft: None,
            win_length: None,
            hop_length: None,
            n_mels: None,
            n_mfcc: None,
            dct_norm: None,
            lifter: None,
            wavelet: Some(wavelet),
            n_scales,
            frame_ms: None,
        }
    }

    /// The engine front end of this representation.
    pub fn config(&self) -> Result<FeatureConfig> {
        let sr = self.sample_rate;
        let mut c = FeatureConfig::new(self.kind).with_sample_rate(sr);
        if let Some(n) = self.n_fft {
            c.stft.n_fft = n;
            c.stft.win_length = c.stft.win_length.min(n);
        }
        if let Some(w) = self.win_length {
            c.stft.win_length = w;
        }
        if let Some(h) = self.hop_length {
            c.stft.hop_length = h;
        }
        if let Some(m) = self.n_mels {
            c.mel.n_mels = m;
        }
        if let Some(m) = self.n_mfcc {
            c.mfcc.n_mfcc = m;
        }
        if let Some(n) = self.dct_norm {
            c.mfcc.norm = n;
        }
        if let Some(l) = self.lifter {
            c.mfcc.lifter = l;
        }
        if self.kind == FeatureKind::Scalogram {
            let s = &mut c.scalogram;
            let ms = self.frame_ms.unwrap_or(50.0);
            if !(ms > 0.0) {
                return Err(ToolsError::invalid("frame_ms", ms, "> 0"));
            }
            s.frame_length = ((ms * 1e-3 * sr as f64).round() as usize).max(2);
            s.hop_length = (s.frame_length / 2).max(1);
            s.wavelet = self.wavelet.unwrap_or(Wavelet::Cmor).continuous();
            if let Some(n) = self.n_scales {
                s.n_scales = n;
            }
            // The circular transform's period must hold the frame plus the spill of the largest
            // scale at both ends (module docs of `dsp::wavelet::scalogram`): its support is about
            // ±3.03·s·√B (complex Morlet), ±5·s (Mexican hat), [0, s] (Haar).
            let smax = s.wavelet.center_frequency() * sr as f64 / s.fmin as f64;
            let spill = match s.wavelet {
                ContinuousWavelet::ComplexMorlet { bandwidth, .. } => 2.0 * 3.03 * smax * (bandwidth as f64).sqrt(),
                ContinuousWavelet::MexicanHat => 10.0 * smax,
                ContinuousWavelet::Haar => smax,
            };
            s.n_fft = ((s.frame_length as f64 + spill).ceil() as usize).next_power_of_two().clamp(256, 4096);
        }
        c.stft.validate()?;
        Ok(c)
    }
}

/// The training recipe of every cell (000/001: ResNet-18, early stopping; no augmentation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    #[serde(default = "default_arch")]
    pub arch: Arch,
    #[serde(default = "one")]
    pub width: f64,
    pub epochs: usize,
    #[serde(default = "default_batch")]
    pub batch_size: usize,
    #[serde(default = "default_patience")]
    pub patience: usize,
    #[serde(default = "default_lr")]
    pub lr: f64,
    #[serde(default)]
    pub seed: u64,
    /// Keep at most this many clips per split (reduced grids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_clips: Option<usize>,
}

fn default_arch() -> Arch {
    Arch::Resnet18
}
fn one() -> f64 {
    1.0
}
fn default_batch() -> usize {
    16
}
fn default_patience() -> usize {
    10
}
fn default_lr() -> f64 {
    1e-3
}

/// A dataset of the grid and its folds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetEntry {
    /// `esc10` or `fsdd`.
    pub name: String,
    /// ESC-10: the test folds (`"1"`..`"4"`, each trained on the others); FSDD: `"official"`
    /// or speakers held out (`"george"`, ...).
    pub folds: Vec<String>,
}

/// One attack of the grid and its budget ladder.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ladder {
    /// `fgsm`, `bim-a`, `bim-b`, `deepfool`, `jsma` or `cw-l2`.
    pub attack: AttackKind,
    /// FGSM / BIM: ε as fractions of the map's dynamic range; DeepFool: iteration limits;
    /// JSMA: γ, the fraction of the map it may change; CW-L2: values of c searched.
    pub budgets: Vec<f64>,
    /// BIM: steps (default 10); CW-L2: Adam iterations per value of c (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
}

impl Ladder {
    /// The attack at budget `b`, for maps of dynamic range `range` and `features` entries.
    fn attack(&self, b: f64, range: f64, features: usize) -> Result<Attack> {
        let goal = Goal::Untargeted;
        let mut opt = OptParams::for_kind(self.attack);
        let config = match self.attack {
            AttackKind::Fgsm | AttackKind::BimA | AttackKind::BimB => {
                let eps = b * range;
                AttackConfig::with_defaults(self.attack, Some(eps), None, Some(self.steps.unwrap_or(10)), goal)?
            }
            AttackKind::Deepfool => AttackConfig::with_defaults(self.attack, None, None, Some(b.round().max(1.0) as usize), goal)?,
            AttackKind::Jsma => {
                // θ: a selected feature goes to the top of the clean map's box (JSMA+ on the
                // map's scale); the map changes in about 50 steps at the largest γ.
                opt.theta = range;
                opt.gamma = b;
                let top = self.budgets.iter().cloned().fold(0.0, f64::max);
                opt.features_per_step = ((top * features as f64 / 50.0).ceil() as usize).max(1);
                AttackConfig::with_defaults(self.attack, None, None, None, goal)?
            }
            AttackKind::CwL2 => {
                opt.search_steps = b.round().max(1.0) as usize;
                AttackConfig::with_defaults(self.attack, None, None, Some(self.steps.unwrap_or(100)), goal)?
            }
            k => return Err(ToolsError::invalid("attack", format!("{k:?}"), "one of 000's six: fgsm, bim-a, bim-b, deepfool, jsma, cw-l2")),
        };
        Ok(Attack::Gradient { config, opt })
    }
}

/// The attacks of the grid.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttackGrid {
    /// Test clips attacked per fold (evenly spaced over the test split).
    pub clips: usize,
    pub ladders: Vec<Ladder>,
}

/// A study: everything `soundproof-tools study` runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub recipe: Recipe,
    pub datasets: Vec<DatasetEntry>,
    pub representations: Vec<Representation>,
    pub attacks: AttackGrid,
    /// 000 Table V: transfer between the representations' models of one fold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<TransferGrid>,
}

/// The transfer table's settings: on `fold`'s held-out clips, each representation's model is
/// attacked in its own map by `attack` at ε = `budget` × its map's dynamic range (the fold's
/// `range`), the map carried back to audio ([`crate::rebuild`]: the clip's own phase, with
/// least squares under the mel bank, DCT and scales), and the audio played to every
/// representation's model of the fold (resampled to its rate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferGrid {
    pub fold: String,
    pub clips: usize,
    /// `fgsm`, `bim-a` or `bim-b`.
    pub attack: AttackKind,
    /// ε as a fraction of the source map's dynamic range.
    pub budget: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<usize>,
}

/// One source's row of the transfer table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TransferRow {
    pub dataset: String,
    pub source: String,
    pub rebuild: String,
    /// The attack's fooling rate in the source's own map.
    pub in_domain: f64,
    /// Per target (grid order): (label, counted, fooled) through audio; the source's own entry
    /// is its verdict on its rebuilt audio (does the attack survive the trip?).
    pub targets: Vec<(String, usize, usize)>,
    /// 002 Eq. 3-4, mean over the clips: rebuilt clean audio vs the clip, and the perturbation
    /// against the rebuilt clean audio, in dB.
    pub snr_rebuild_db: f64,
    pub snr_db: f64,
}

impl Grid {
    pub fn load(path: &Path) -> Result<Grid> {
        let text = std::fs::read_to_string(path).map_err(|e| ToolsError::io(path, e))?;
        let g: Grid = serde_json::from_str(&text).map_err(|e| ToolsError::Json { path: path.to_path_buf(), source: e })?;
        g.check()?;
        Ok(g)
    }

    fn check(&self) -> Result<()> {
        let mut labels: Vec<&str> = self.representations.iter().map(|r| r.label.as_str()).collect();
        labels.sort();
        if let Some(w) = labels.windows(2).find(|w| w[0] == w[1]) {
            return Err(ToolsError::invalid("representation label", w[0], "unique labels"));
        }
        for r in &self.representations {
            if r.label.is_empty() || r.label.contains(['/', '\\']) {
                return Err(ToolsError::invalid("representation label", &r.label, "a non-empty name without slashes"));
            }
            r.config()?;
        }
        for d in &self.datasets {
            for f in &d.folds {
                fold_spec(d, f, Path::new("."))?;
            }
        }
        if self.attacks.clips == 0 {
            return Err(ToolsError::invalid("attacks.clips", 0, "at least one clip per fold"));
        }
        for l in &self.attacks.ladders {
            if l.budgets.is_empty() || l.budgets.iter().any(|b| !(b.is_finite() && *b > 0.0)) || l.budgets.windows(2).any(|w| w[1] <= w[0]) {
                return Err(ToolsError::invalid("budgets", format!("{:?}", l.budgets), "positive and increasing"));
            }
            l.attack(l.budgets[0], 1.0, 100)?;
        }
        if let Some(t) = &self.transfer {
            if !matches!(t.attack, AttackKind::Fgsm | AttackKind::BimA | AttackKind::BimB) || !(t.budget > 0.0) || t.clips == 0 {
                return Err(ToolsError::invalid("transfer", format!("{t:?}"), "fgsm, bim-a or bim-b at a budget > 0 on at least one clip"));
            }
            if !self.datasets.iter().any(|d| d.folds.contains(&t.fold)) {
                return Err(ToolsError::invalid("transfer fold", &t.fold, "a fold of one of the datasets"));
            }
        }
        Ok(())
    }
}

/// The dataset of fold `fold` of `d`.
fn fold_spec(d: &DatasetEntry, fold: &str, data_dir: &Path) -> Result<DatasetSpec> {
    match (d.name.as_str(), fold) {
        ("esc10", f) => {
            let k: u32 = f.parse().map_err(|_| ToolsError::invalid("esc10 fold", f, "a fold number"))?;
            Ok(DatasetSpec::Esc10 { root: data_dir.join("esc10"), test_fold: k, validation_fold: None })
        }
        ("fsdd", "official") => Ok(DatasetSpec::Fsdd { recordings: data_dir.join("fsdd").join("recordings") }),
        ("fsdd", s) => Ok(DatasetSpec::FsddSpeaker { recordings: data_dir.join("fsdd").join("recordings"), held_out: s.into() }),
        (n, _) => Err(ToolsError::invalid("dataset", n, "esc10 or fsdd")),
    }
}

/// One attack at one budget on one fold.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BudgetRun {
    pub budget: f64,
    pub counted: usize,
    pub fooled: usize,
    /// Gradients and forwards summed over the attacked examples (counted or not).
    pub gradients: u64,
    pub forwards: u64,
    pub examples: usize,
}

/// One fold of a cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldResult {
    pub fold: String,
    /// Engine (tract) accuracy on the whole held-out split, and its size.
    pub accuracy: f64,
    pub examples: usize,
    /// The trained model's ONNX file (its card holds the front end).
    pub model: PathBuf,
    /// Median over the attacked clips of `max − min` of the clean map.
    pub range: f64,
    pub attacked: usize,
    /// Per attack (grid order), per budget.
    pub attacks: Vec<(AttackKind, Vec<BudgetRun>)>,
    pub training_seconds: f64,
    pub attack_seconds: f64,
    /// What the fold was run with: a rerun reuses `fold.json` only when these equal the grid's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe: Option<Recipe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<FeatureConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ladders: Option<Vec<Ladder>>,
}

/// One attack's scores in a cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AttackScore {
    pub attack: AttackKind,
    pub budgets: Vec<f64>,
    /// Fooled / counted at each budget, pooled over the folds.
    pub rates: Vec<f64>,
    pub counted: Vec<usize>,
    /// Trapezoid area under the rate over `budget / max budget`, from `(0, 0)`.
    pub auc: f64,
    /// Mean gradients per attacked example at each budget, and their mean over the ladder.
    pub gradients: Vec<f64>,
    pub mean_gradients: f64,
}

/// A cell: one representation on one dataset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CellResult {
    pub dataset: String,
    pub representation: Representation,
    pub features: FeatureConfig,
    /// Mean of the folds' engine accuracies.
    pub accuracy: f64,
    pub folds: Vec<FoldResult>,
    pub attacks: Vec<AttackScore>,
}

/// The trapezoid area under `rates` over `budgets / max(budgets)`, from `(0, 0)`.
pub fn auc(budgets: &[f64], rates: &[f64]) -> f64 {
    let top = budgets.iter().cloned().fold(0.0, f64::max);
    if top <= 0.0 {
        return 0.0;
    }
    let (mut x0, mut y0, mut a) = (0.0, 0.0, 0.0);
    for (b, r) in budgets.iter().zip(rates) {
        let x = b / top;
        a += (x - x0) * (r + y0) / 2.0;
        (x0, y0) = (x, *r);
    }
    a
}

fn score(ladders: &[Ladder], folds: &[FoldResult]) -> Vec<AttackScore> {
    ladders
        .iter()
        .enumerate()
        .map(|(k, l)| {
            let runs: Vec<&Vec<BudgetRun>> = folds.iter().map(|f| &f.attacks[k].1).collect();
            let n = l.budgets.len();
            let sum = |f: &dyn Fn(&BudgetRun) -> f64, j: usize| runs.iter().map(|r| f(&r[j])).sum::<f64>();
            let counted: Vec<usize> = (0..n).map(|j| sum(&|r| r.counted as f64, j) as usize).collect();
            let rates: Vec<f64> = (0..n).map(|j| sum(&|r| r.fooled as f64, j) / (counted[j].max(1)) as f64).collect();
            let gradients: Vec<f64> = (0..n).map(|j| sum(&|r| r.gradients as f64, j) / sum(&|r| r.examples as f64, j).max(1.0)).collect();
            AttackScore {
                attack: l.attack,
                budgets: l.budgets.clone(),
                auc: auc(&l.budgets, &rates),
                mean_gradients: gradients.iter().sum::<f64>() / n as f64,
                rates,
                counted,
                gradients,
            }
        })
        .collect()
}

/// Where and how a study runs.
#[derive(Debug, Clone)]
pub struct StudyOptions {
    pub out: PathBuf,
    pub data_dir: PathBuf,
    pub device: Device,
    /// libtorch threads (`None`: its default).
    pub threads: Option<usize>,
    pub quiet: bool,
    /// The command line, for the model cards.
    pub command: String,
}

/// The cell folder of `rep` on `dataset`.
pub fn cell_dir(out: &Path, dataset: &str, rep: &str) -> PathBuf {
    out.join("cells").join(dataset).join(rep)
}

/// Runs every cell of `grid` not already done, then writes the tables. Returns the cells.
pub fn run(grid: &Grid, opts: &StudyOptions) -> Result<Vec<CellResult>> {
    std::fs::create_dir_all(&opts.out).map_err(|e| ToolsError::io(&opts.out, e))?;
    write_json(&opts.out.join("grid.json"), grid)?;
    let total: usize = grid.datasets.iter().map(|d| d.folds.len()).sum::<usize>() * grid.representations.len();
    let bar = ProgressBar::new(total as u64);
    if opts.quiet {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    bar.set_style(ProgressStyle::with_template("study {pos}/{len} folds [{bar:30}] {elapsed_precise} (eta {eta}) {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()));
    let mut cells = Vec::new();
    for d in &grid.datasets {
        for rep in &grid.representations {
            let dir = cell_dir(&opts.out, &d.name, &rep.label);
            let cell_path = dir.join("cell.json");
            let current = |c: &CellResult| {
                c.representation == *rep
                    && c.folds.iter().map(|f| &f.fold).eq(d.folds.iter())
                    && c.folds.iter().all(|f| f.recipe.as_ref().is_none_or(|r| *r == grid.recipe) && f.ladders.as_ref().is_none_or(|l| *l == grid.attacks.ladders))
            };
            if let Some(c) = read_json::<CellResult>(&cell_path).filter(current) {
                bar.inc(d.folds.len() as u64);
                cells.push(c);
                continue;
            }
            let mut folds = Vec::new();
            for f in &d.folds {
                bar.set_message(format!("{} / {} / fold {f}", d.name, rep.label));
                folds.push(run_fold(grid, d, rep, f, &dir.join(f), opts, &bar)?);
                bar.inc(1);
            }
            let cell = CellResult {
                dataset: d.name.clone(),
                representation: rep.clone(),
                features: rep.config()?,
                accuracy: folds.iter().map(|f| f.accuracy).sum::<f64>() / folds.len().max(1) as f64,
                attacks: score(&grid.attacks.ladders, &folds),
                folds,
            };
            write_json(&cell_path, &cell)?;
            if !opts.quiet {
                bar.println(format!("{} / {}: accuracy {:.2} %, AUC {}", d.name, rep.label, 100.0 * cell.accuracy, cell.attacks.iter().map(|a| format!("{} {:.3}", name(a.attack), a.auc)).collect::<Vec<_>>().join(", ")));
            }
            cells.push(cell);
        }
        if let Some(t) = grid.transfer.as_ref().filter(|t| d.folds.contains(&t.fold)) {
            bar.set_message(format!("{}: transfer between the representations (fold {})", d.name, t.fold));
            run_transfer(grid, d, t, &cells, opts)?;
        }
    }
    bar.finish_and_clear();
    write_tables(grid, &cells, &opts.out)?;
    Ok(cells)
}

/// The transfer rows of dataset `d`, one per source, each written to `transfer/DATASET/SOURCE.json`
/// (a row already there is kept).
fn run_transfer(grid: &Grid, d: &DatasetEntry, t: &TransferGrid, cells: &[CellResult], opts: &StudyOptions) -> Result<Vec<TransferRow>> {
    use crate::transfer::{LabelledClip, Member, MemberSpec, TransferOptions};
    let dir = opts.out.join("transfer").join(&d.name);
    let mut rows = Vec::new();
    // Loading every model is the expensive part: skipped when every row is already there.
    let done: Vec<TransferRow> = grid.representations.iter().filter_map(|r| read_json(&dir.join(format!("{}.json", r.label)))).collect();
    if done.len() == grid.representations.len() {
        return Ok(done);
    }
    let mut members = Vec::new();
    for r in &grid.representations {
        let spec = MemberSpec { name: r.label.clone(), path: cell_dir(&opts.out, &d.name, &r.label).join(&t.fold), engine: false };
        members.push(Member::load(&spec, opts.device)?);
    }
    let spec = fold_spec(d, &t.fold, &opts.data_dir)?;
    let clips: Vec<LabelledClip> = held_out_clips(grid, &spec, t.clips)?.into_iter().map(|e| LabelledClip { path: e.path, label: e.label as i64 }).collect();
    for (s, r) in grid.representations.iter().enumerate() {
        let path = dir.join(format!("{}.json", r.label));
        if let Some(row) = read_json::<TransferRow>(&path) {
            rows.push(row);
            continue;
        }
        let range = cells
            .iter()
            .find(|c| c.dataset == d.name && c.representation.label == r.label)
            .and_then(|c| c.folds.iter().find(|f| f.fold == t.fold))
            .map(|f| f.range)
            .ok_or_else(|| ToolsError::invalid("transfer fold", &t.fold, "a fold the study ran"))?;
        let config = AttackConfig::with_defaults(t.attack, Some(t.budget * range), None, Some(t.steps.unwrap_or(10)), Goal::Untargeted)?;
        let o = TransferOptions {
            features_attack: config,
            waveform_attack: config,
            box_spec: BoxSpec::Clean,
            rebuild: None,
            griffin_lim: crate::rebuild::GriffinLim::default(),
            batch: 10,
            device: opts.device,
            quiet: true,
            save_audio: false,
        };
        let report = crate::transfer::run(&mut members, &[s], &clips, &o, &dir.join(&r.label))?;
        let src = &report.sources[0];
        let row = TransferRow {
            dataset: d.name.clone(),
            source: r.label.clone(),
            rebuild: src.rebuild.map(|x| format!("{x:?}").to_lowercase()).unwrap_or_else(|| "waveform".into()),
            in_domain: src.attack.fooling_rate,
            targets: src.members.iter().map(|m| (m.member.clone(), m.transfer.counted, m.transfer.fooled)).collect(),
            snr_rebuild_db: src.snr_rebuild_db.mean,
            snr_db: src.snr_db.mean,
        };
        write_json(&path, &row)?;
        rows.push(row);
    }
    Ok(rows)
}

/// `n` clips of `spec`'s held-out split (as the grid's recipe subsamples it), evenly spaced
/// through it sorted by (label, path), so every class keeps its share.
fn held_out_clips(grid: &Grid, spec: &DatasetSpec, n: usize) -> Result<Vec<crate::data::Example>> {
    let mut index = spec.index()?;
    if let Some(m) = grid.recipe.max_clips {
        index = index.subsample(m);
    }
    let mut test = index.test;
    test.sort_by(|a, b| (a.label, &a.path).cmp(&(b.label, &b.path)));
    Ok(soundproof::dataset::evenly(&test, n))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    std::fs::read_to_string(path).ok().and_then(|s| serde_json::from_str(&s).ok())
}

fn run_fold(grid: &Grid, d: &DatasetEntry, rep: &Representation, fold: &str, dir: &Path, opts: &StudyOptions, bar: &ProgressBar) -> Result<FoldResult> {
    let fold_path = dir.join("fold.json");
    let features = rep.config()?;
    if let Some(f) = read_json::<FoldResult>(&fold_path) {
        let same_attacks = f.attacks.iter().map(|a| (a.0, a.1.iter().map(|r| r.budget).collect::<Vec<_>>())).eq(grid.attacks.ladders.iter().map(|l| (l.attack, l.budgets.clone())));
        let same = same_attacks
            && f.recipe.as_ref().is_none_or(|r| *r == grid.recipe)
            && f.features.as_ref().is_none_or(|c| *c == features)
            && f.ladders.as_ref().is_none_or(|l| *l == grid.attacks.ladders);
        if same {
            return Ok(f);
        }
    }
    let spec = fold_spec(d, fold, &opts.data_dir)?;
    let model_name = format!("{}-{}-{}", d.name, rep.label, fold);
    let onnx_path = dir.join(format!("{model_name}.onnx"));
    let mut training_seconds = 0.0;
    // A model already there is reused when it was trained on this front end (a fold whose
    // results were removed is attacked again without retraining).
    let trained = onnx_path.exists() && Checkpoint::load(dir).is_ok_and(|ck| ck.features == Some(features));
    if !trained {
        let r = &grid.recipe;
        let mut cfg = TrainConfig::new(r.arch);
        cfg.width = r.width;
        cfg.epochs = r.epochs;
        cfg.batch_size = r.batch_size;
        cfg.patience = r.patience;
        cfg.lr = r.lr;
        cfg.seed = r.seed;
        cfg.augment = Augment::NONE;
        cfg.features = rep.kind;
        cfg.feature_config = Some(features);
        cfg.sample_rate = rep.sample_rate;
        cfg.max_per_split = r.max_clips;
        cfg.device = crate::device::DeviceChoice::Cpu;
        cfg.threads = opts.threads;
        cfg.command = opts.command.clone();
        cfg.quiet = true;
        bar.set_message(format!("{} / {} / fold {fold}: training", d.name, rep.label));
        let report = train(&cfg, &spec, dir)?;
        training_seconds = report.training_seconds;
        export(dir, &model_name, &onnx_path)?;
    }
    bar.set_message(format!("{} / {} / fold {fold}: engine evaluation", d.name, rep.label));
    // The whole held-out split, as `soundproof classify` on the same files scores it.
    let (report, _, _) = evaluate(&onnx_path, &spec, &EvalOptions::test())?;

    // The attacked clips: evenly spaced over the (label-sorted) test split.
    let t0 = std::time::Instant::now();
    let picked = held_out_clips(grid, &spec, grid.attacks.clips)?;
    let n = picked.len();
    let (target, ck) = AttackTarget::from_checkpoint(dir, Domain::Features, opts.device)?;
    let cfg = ck.features.ok_or_else(|| ToolsError::model(ck.spec.arch.name(), "feature model without a front end"))?;
    let mut fz = Featurizer::new(&cfg, ck.window_samples)?;
    let per = fz.frames() * fz.bins();
    let mut buf = vec![0.0f32; n * per];
    let mut ranges = Vec::with_capacity(n);
    for (row, e) in buf.chunks_mut(per).zip(&picked) {
        let (x, _) = load_window(&ck.clip_window(), &e.path)?;
        fz.compute(&x, row)?;
        let (lo, hi) = row.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &v| (l.min(v), h.max(v)));
        ranges.push((hi - lo) as f64);
    }
    ranges.sort_by(f64::total_cmp);
    let range = if ranges.is_empty() { 1.0 } else { ranges[ranges.len() / 2] };
    let x = Tensor::from_slice(&buf).reshape([n as i64, 1, fz.frames() as i64, fz.bins() as i64]).to_device(opts.device);
    let labels: Vec<Option<i64>> = picked.iter().map(|e| Some(e.label as i64)).collect();
    let names: Vec<String> = picked.iter().map(|e| e.path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()).collect();
    let mut attacks = Vec::new();
    for l in &grid.attacks.ladders {
        let mut runs = Vec::new();
        for &b in &l.budgets {
            bar.set_message(format!("{} / {} / fold {fold}: {} at {b}", d.name, rep.label, name(l.attack)));
            let attack = l.attack(b, range, per)?;
            let (_, res) = attack_batch(&target, &x, &labels, &names, BoxSpec::Clean, &attack)?;
            runs.push(BudgetRun {
                budget: b,
                counted: res.iter().filter(|r| r.counted).count(),
                fooled: res.iter().filter(|r| r.counted && r.success).count(),
                gradients: res.iter().map(|r| r.gradients).sum(),
                forwards: res.iter().map(|r| r.forwards).sum(),
                examples: res.len(),
            });
        }
        attacks.push((l.attack, runs));
    }
    if training_seconds == 0.0 {
        training_seconds = read_json::<serde_json::Value>(&dir.join("train_log.json")).and_then(|v| v["training_seconds"].as_f64()).unwrap_or(0.0);
    }
    let f = FoldResult {
        fold: fold.into(),
        accuracy: report.accuracy,
        examples: report.examples,
        model: onnx_path,
        range,
        attacked: n,
        attacks,
        training_seconds,
        attack_seconds: t0.elapsed().as_secs_f64(),
        recipe: Some(grid.recipe.clone()),
        features: Some(features),
        ladders: Some(grid.attacks.ladders.clone()),
    };
    write_json(&fold_path, &f)?;
    Ok(f)
}

/// The attack's name in the tables (000's).
pub fn name(k: AttackKind) -> &'static str {
    match k {
        AttackKind::Fgsm => "FGSM",
        AttackKind::BimA => "BIM-a",
        AttackKind::BimB => "BIM-b",
        AttackKind::Deepfool => "DeepFool",
        AttackKind::Jsma => "JSMA",
        AttackKind::CwL2 => "CW-L2",
        _ => "other",
    }
}

/// Which of 000's tables a representation belongs to.
fn table_of(kind: FeatureKind) -> (&'static str, &'static str) {
    match kind {
        FeatureKind::Mfcc => ("I", "MFCC"),
        FeatureKind::Stft | FeatureKind::LogStft | FeatureKind::Logmel => ("II", "STFT / mel"),
        FeatureKind::Scalogram | FeatureKind::DwtBands => ("III", "DWT (scalogram)"),
    }
}

/// `tables.md` (000 Tables I-IV per dataset: accuracy and "AUC, gradients" per attack for
/// each representation; Table IV: the scalogram rows by mother function, mean AUC over the
/// attacks) and one PNG per table (fooling rate against budget, per attack, one line per
/// representation).
pub fn write_tables(grid: &Grid, cells: &[CellResult], out: &Path) -> Result<String> {
    let mut md = format!("# {}\n\n{}\n\n", grid.name, grid.description);
    md += "Each cell: a `resnet18` per fold, accuracy by the engine (tract) on the held-out fold (mean over folds); per attack `AUC, gradients`: the area under the fooling rate over the budget ladder (scaled to [0, 1], from (0, 0)) and the mean gradients per attacked example, averaged over the ladder. Budgets: ";
    md += &grid.attacks.ladders.iter().map(|l| format!("{} {:?}", name(l.attack), l.budgets)).collect::<Vec<_>>().join("; ");
    md += " (FGSM/BIM: ε as a fraction of the map's dynamic range; DeepFool: iterations; JSMA: γ; CW-L2: values of c).\n\n";
    for d in &grid.datasets {
        for table in ["I", "II", "III"] {
            let rows: Vec<&CellResult> = cells.iter().filter(|c| c.dataset == d.name && table_of(c.representation.kind).0 == table).collect();
            if rows.is_empty() {
                continue;
            }
            let what = table_of(rows[0].representation.kind).1;
            md += &format!("## Table {table} ({what}), {} (folds {})\n\n", d.name, d.folds.join(", "));
            md += "| representation | accuracy (%) |";
            for l in &grid.attacks.ladders {
                md += &format!(" {} |", name(l.attack));
            }
            md += "\n|---|---:|";
            md += &"---:|".repeat(grid.attacks.ladders.len());
            md += "\n";
            for c in &rows {
                md += &format!("| {} | {:.2} |", c.representation.label, 100.0 * c.accuracy);
                for a in &c.attacks {
                    md += &match a.counted.iter().any(|&n| n > 0) {
                        true => format!(" {:.4}, {:.0} |", a.auc, a.mean_gradients),
                        false => " n/a (no clip classified correctly) |".to_string(),
                    };
                }
                md += "\n";
            }
            let png = out.join(format!("table-{table}-{}.png", d.name));
            crate::plot::fooling_curves(&rows.iter().map(|c| (c.representation.label.as_str(), c.attacks.as_slice())).collect::<Vec<_>>(), &format!("Table {table}: {what}, {}", d.name), &png)?;
            md += &format!("\n![fooling rate against budget]({})\n\n", png.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default());
        }
        let dwt: Vec<&CellResult> = cells.iter().filter(|c| c.dataset == d.name && c.representation.kind == FeatureKind::Scalogram).collect();
        if !dwt.is_empty() {
            md += &format!("## Table IV (mother functions), {}\n\n| mother function | rate (kHz) | accuracy (%) | mean AUC over the attacks |\n|---|---:|---:|---:|\n", d.name);
            for c in dwt {
                let w = c.representation.wavelet.unwrap_or(Wavelet::Cmor);
                let mean = c.attacks.iter().map(|a| a.auc).sum::<f64>() / c.attacks.len().max(1) as f64;
                md += &format!("| {w:?} | {} | {:.2} | {:.4} |\n", c.representation.sample_rate as f64 / 1000.0, 100.0 * c.accuracy, mean);
            }
            md += "\n";
        }
    }
    if let Some(t) = &grid.transfer {
        for d in grid.datasets.iter().filter(|d| d.folds.contains(&t.fold)) {
            let dir = out.join("transfer").join(&d.name);
            let rows: Vec<TransferRow> = grid.representations.iter().filter_map(|r| read_json(&dir.join(format!("{}.json", r.label)))).collect();
            if rows.is_empty() {
                continue;
            }
            md += &format!(
                "## Table V (transferability), {} fold {}\n\n{} at ε = {} of each source map's dynamic range on {} held-out clips, the map carried to audio (the clip's own phase), played to every model of the fold. Entry: fooled / counted (clips the source gets right and the target gets right on the clip and on the rebuilt clean audio); the diagonal is the source's own verdict on its rebuilt audio.\n\n| source (rebuild; in its map; SNR rebuilt clean / Eq. 3) |",
                d.name, t.fold, name(t.attack), t.budget, t.clips
            );
            for r in &grid.representations {
                md += &format!(" {} |", r.label);
            }
            md += "\n|---|";
            md += &"---:|".repeat(grid.representations.len());
            md += "\n";
            for row in &rows {
                md += &format!("| {} ({}; {:.0} %; {:.1} / {:.1} dB) |", row.source, row.rebuild, 100.0 * row.in_domain, row.snr_rebuild_db, row.snr_db);
                for (_, counted, fooled) in &row.targets {
                    md += &match counted {
                        0 => " – |".to_string(),
                        c => format!(" {:.2} ({fooled}/{c}) |", *fooled as f64 / *c as f64),
                    };
                }
                md += "\n";
            }
            md += "\n";
        }
    }
    let path = out.join("tables.md");
    std::fs::write(&path, &md).map_err(|e| ToolsError::io(&path, e))?;
    Ok(md)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_is_the_trapezoid_from_the_origin() {
        // Budgets 1, 2, 4 → x = 0.25, 0.5, 1; rates 0.2, 0.6, 1.0.
        let a = auc(&[1.0, 2.0, 4.0], &[0.2, 0.6, 1.0]);
        let expected = 0.25 * 0.2 / 2.0 + 0.25 * (0.2 + 0.6) / 2.0 + 0.5 * (0.6 + 1.0) / 2.0;
        assert!((a - expected).abs() < 1e-12);
        assert!((auc(&[1.0], &[1.0]) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn scalogram_configs_follow_000() {
        let r = Representation::scalogram("dwt", Wavelet::Haar, 8000, None);
        let c = r.config().unwrap();
        assert_eq!((c.scalogram.frame_length, c.scalogram.hop_length), (400, 200));
        assert_eq!(c.scalogram.sample_rate, 8000);
        assert!(c.scalogram.n_fft >= 400 && c.scalogram.n_fft.is_power_of_two());
        let c = Representation::scalogram("dwt", Wavelet::Cmor, 16000, Some(32)).config().unwrap();
        assert_eq!((c.scalogram.frame_length, c.scalogram.hop_length, c.scalogram.n_scales), (800, 400, 32));
        // cmor1.5-1.0 at 50 Hz: s = 320, spill 2·3.03·320·√1.5 = 2375, 800 + 2375 → 4096.
        assert_eq!(c.scalogram.n_fft, 4096);
    }
}

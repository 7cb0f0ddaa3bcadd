//! Datasets for training and evaluation, and the clip pipeline of 003 §4 Contract 1 / §5 that
//! turns a recording into the certified waveform `x = s · CropPad(Resample(a))`.
//!
//! * [`fsdd`]: Free Spoken Digit Dataset, official split (takes 0-4 test), takes 5-9 held out
//!   for validation.
//! * [`esc10`]: ESC-10 from `meta.csv`, cross-validation by fold (ESC protocol).
//! * [`folder`]: any folder of `CLASS/*.wav`.
//! * [`augment`]: waveform Gaussian noise (σ, added after the gain, in the certified space) and
//!   random time shift, each draw seeded by (seed, epoch, example).
//! * [`features`]: the engine's own `dsp::FrontEnd` on each (augmented) waveform, so training
//!   features are the served features by construction.
//!
//! Every path through here returns a [`ToolsError`] naming the file or folder at fault.

pub mod augment;
pub mod esc10;
pub mod features;
pub mod folder;
pub mod fsdd;

use crate::error::{Result, ToolsError};
use soundproof::window::{ClipGain, ClipWindow, WindowError};
use std::path::{Path, PathBuf};

/// One labelled recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub path: PathBuf,
    pub label: usize,
}

/// Which part of a dataset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Split {
    Train,
    Validation,
    Test,
}

/// The files of a dataset, their labels and the split, before any audio is read.
#[derive(Debug, Clone)]
pub struct DatasetIndex {
    /// Short name recorded in the model card (`fsdd`, `esc10`, or the folder's name).
    pub name: String,
    pub labels: Vec<String>,
    pub train: Vec<Example>,
    pub validation: Vec<Example>,
    pub test: Vec<Example>,
    /// Which examples went where, in words (for the model card).
    pub split: String,
    /// The dataset's natural window: 1 s keywords, 5 s ESC clips.
    pub clip_seconds: f64,
}

impl DatasetIndex {
    pub fn split(&self, split: Split) -> &[Example] {
        match split {
            Split::Train => &self.train,
            Split::Validation => &self.validation,
            Split::Test => &self.test,
        }
    }

    /// Keeps at most `max` examples of each split, evenly spaced through the (label-sorted)
    /// list so every class keeps its share. For quick runs and tests.
    pub fn subsample(mut self, max: usize) -> Self {
        for v in [&mut self.train, &mut self.validation, &mut self.test] {
            if v.len() > max {
                v.sort_by(|a, b| (a.label, &a.path).cmp(&(b.label, &b.path)));
                let n = v.len();
                *v = (0..max).map(|i| v[i * n / max].clone()).collect();
            }
        }
        self.split = format!("{} (subsampled to at most {max} per split)", self.split);
        self
    }

    fn check(&self) -> Result<()> {
        if self.labels.len() < 2 {
            return Err(ToolsError::dataset(&self.name, "fewer than two classes"));
        }
        for (what, v) in [
            ("training", &self.train),
            ("validation", &self.validation),
            ("test", &self.test),
        ] {
            if v.is_empty() {
                return Err(ToolsError::dataset(
                    &self.name,
                    format!("the {what} split is empty"),
                ));
            }
        }
        Ok(())
    }
}

/// Which dataset a command works on (`--dataset fsdd|esc10|DIR`).
#[derive(Debug, Clone, PartialEq)]
pub enum DatasetSpec {
    /// FSDD recordings folder.
    Fsdd { recordings: PathBuf },
    /// FSDD with one speaker held out (a fold of leave-one-speaker-out cross-validation): every
    /// clip of `held_out` is the test set, the other speakers train and validate.
    FsddSpeaker { recordings: PathBuf, held_out: String },
    /// ESC-10 root (with `meta.csv` and `audio/`), the fold held out for test and the one for
    /// validation (default: the next fold present, cyclically).
    Esc10 {
        root: PathBuf,
        test_fold: u32,
        validation_fold: Option<u32>,
    },
    /// Folder of `CLASS/*.wav` (or `train/`, `test/` [, `validation/`] of those).
    Folder { root: PathBuf },
}

/// `../shared/data`, or `$SOUNDPROOF_DATA` when set.
pub fn default_data_dir() -> PathBuf {
    std::env::var_os("SOUNDPROOF_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new("..").join("shared").join("data"))
}

impl DatasetSpec {
    /// `fsdd`, `esc10` (under `data_dir`), or a folder path.
    pub fn parse(arg: &str, data_dir: &Path, test_fold: u32, validation_fold: Option<u32>) -> Self {
        match arg {
            "fsdd" => DatasetSpec::Fsdd {
                recordings: data_dir.join("fsdd").join("recordings"),
            },
            "esc10" => DatasetSpec::Esc10 {
                root: data_dir.join("esc10"),
                test_fold,
                validation_fold,
            },
            dir => DatasetSpec::Folder {
                root: PathBuf::from(dir),
            },
        }
    }

    /// Reads the file list and builds the split.
    pub fn index(&self) -> Result<DatasetIndex> {
        let index = match self {
            DatasetSpec::Fsdd { recordings } => fsdd::index(recordings)?,
            DatasetSpec::FsddSpeaker { recordings, held_out } => fsdd::index_without_speaker(recordings, held_out)?,
            DatasetSpec::Esc10 {
                root,
                test_fold,
                validation_fold,
            } => esc10::index(root, *test_fold, *validation_fold)?,
            DatasetSpec::Folder { root } => folder::index(root)?,
        };
        index.check()?;
        Ok(index)
    }
}

/// Waveforms of a split, prepared by [`prepare`], in one flat buffer.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// `n × window` samples, row-major.
    pub samples: Vec<f32>,
    pub labels: Vec<i64>,
    pub window: usize,
    /// The gain `s` of each clip.
    pub gains: Vec<f32>,
}

impl Prepared {
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    pub fn clip(&self, i: usize) -> &[f32] {
        &self.samples[i * self.window..(i + 1) * self.window]
    }
}

/// `x = s · CropPad(a)` under the clip-RMS gain for samples `a` already at the model rate
/// (`what` names them in errors): the engine's certified window, [`ClipWindow::window`].
pub fn clip_window(window: &ClipWindow, samples: &[f32], what: &str) -> Result<(Vec<f32>, f32)> {
    window.window(samples, ClipGain::ClipRms).map_err(|e| window_err(what, e))
}

/// [`clip_window`] of a WAV file, resampled to the model rate first.
pub fn load_window(window: &ClipWindow, path: &Path) -> Result<(Vec<f32>, f32)> {
    window.load(path, ClipGain::ClipRms).map_err(|e| window_err(&path.display().to_string(), e))
}

fn window_err(what: &str, e: WindowError) -> ToolsError {
    match e {
        WindowError::Silent => ToolsError::dataset(
            what,
            "the clip is silent (RMS 0): it cannot be gain-normalized; remove it from the dataset",
        ),
        WindowError::Audio(e) => ToolsError::Audio(e),
        e => ToolsError::dataset(what, e.to_string()),
    }
}

/// Prepares every example's window ([`load_window`]), on all cores (each clip is independent,
/// so the result does not depend on the thread count).
pub fn prepare(window: &ClipWindow, examples: &[Example]) -> Result<Prepared> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8)
        .max(1);
    let results = soundproof::parallel::map_with_states(vec![(); threads], examples, |_, _, e| load_window(window, &e.path));
    let mut samples = Vec::with_capacity(examples.len() * window.window_samples);
    let mut gains = Vec::with_capacity(examples.len());
    for r in results {
        let (x, s) = r?;
        samples.extend_from_slice(&x);
        gains.push(s);
    }
    Ok(Prepared {
        samples,
        labels: examples.iter().map(|e| e.label as i64).collect(),
        window: window.window_samples,
        gains,
    })
}

/// WAV files directly inside `dir`, sorted by name ([`soundproof::dataset::wav_files`]).
pub(crate) fn wav_files(dataset: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    soundproof::dataset::wav_files(dir, false).map_err(|e| {
        ToolsError::dataset(dataset, format!("cannot list {e} (is the data folder beside the checkout, or --data-dir set?)"))
    })
}

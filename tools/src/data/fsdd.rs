//! Free Spoken Digit Dataset (keyword spotting, DESIGN.md "Data"): `{digit}_{speaker}_{take}.wav`
//! at 8 kHz. Official split: takes 0-4 of every speaker and digit are the test set, takes 5-49
//! the training set; takes 5-9 of the training set are held out, deterministically, for
//! validation (early stopping), leaving takes 10-49 to train on.

use super::{wav_files, DatasetIndex, Example};
use soundproof::dataset::{FsddName, FsddSplit, FSDD_TEST_TAKES as TEST_TAKES, FSDD_VALIDATION_TAKES_END as VALIDATION_TAKES_END};
use crate::error::{Result, ToolsError};
use std::path::Path;

pub const LABELS: [&str; 10] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

pub fn index(recordings: &Path) -> Result<DatasetIndex> {
    let mut idx = DatasetIndex {
        name: "fsdd".into(),
        labels: LABELS.iter().map(|s| s.to_string()).collect(),
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
        split: format!(
            "official FSDD split: takes 0-{} test; takes {}-{} validation; takes {}-49 train",
            TEST_TAKES - 1,
            TEST_TAKES,
            VALIDATION_TAKES_END - 1,
            VALIDATION_TAKES_END
        ),
        clip_seconds: 1.0,
    };
    for path in wav_files("fsdd", recordings)? {
        let Some(name) = FsddName::of(&path) else {
            return Err(ToolsError::dataset(
                "fsdd",
                format!("unexpected file {} (expected {{digit}}_{{speaker}}_{{take}}.wav)", path.display()),
            ));
        };
        let e = Example { path: path.clone(), label: name.digit as usize };
        match name.split() {
            FsddSplit::Test => idx.test.push(e),
            FsddSplit::Validation => idx.validation.push(e),
            FsddSplit::Train => idx.train.push(e),
        }
    }
    Ok(idx)
}

/// Extra training clips in FSDD's naming (`{digit}_{voice}_{take}.wav`, any takes), e.g. the
/// synthetic voices of `scripts/make_synthetic_digits.sh`, sorted by path. Refused when a voice
/// is also one of `index`'s speakers: added to a leave-one-speaker-out fold, such clips could be
/// the held-out voice itself.
pub fn extra(dir: &Path, index: &DatasetIndex) -> Result<Vec<Example>> {
    let known: std::collections::BTreeSet<&str> =
        index.train.iter().chain(&index.validation).chain(&index.test).filter_map(|e| FsddName::of(&e.path)).map(|n| n.speaker).collect();
    let mut out = Vec::new();
    for path in wav_files("extra training clips", dir)? {
        let Some(name) = FsddName::of(&path) else {
            return Err(ToolsError::dataset(
                "extra training clips",
                format!("unexpected file {} (expected {{digit}}_{{voice}}_{{take}}.wav)", path.display()),
            ));
        };
        if known.contains(name.speaker) {
            return Err(ToolsError::dataset(
                "extra training clips",
                format!("{} is of voice {:?}, a speaker of the dataset itself", path.display(), name.speaker),
            ));
        }
        let label = name.digit as usize;
        out.push(Example { path, label });
    }
    if out.is_empty() {
        return Err(ToolsError::dataset("extra training clips", format!("no clips in {}", dir.display())));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// The speakers of the recordings folder, sorted.
pub fn speakers(recordings: &Path) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for path in wav_files("fsdd", recordings)? {
        if let Some(name) = FsddName::of(&path) {
            if !out.iter().any(|s| s == name.speaker) {
                out.push(name.speaker.to_string());
            }
        }
    }
    out.sort();
    Ok(out)
}

/// One fold of leave-one-speaker-out cross-validation: every clip of `held_out` (all digits,
/// all takes) is the test set; of the other speakers, takes 5-9 validate (early stopping) and
/// takes 0-4 and 10-49 train. No clip of the held-out voice is seen before the test.
pub fn index_without_speaker(recordings: &Path, held_out: &str) -> Result<DatasetIndex> {
    let all = index(recordings)?;
    let speaker_of = |e: &Example| FsddName::of(&e.path).map(|n| (n.speaker.to_string(), n.split()));
    let mut idx = DatasetIndex {
        split: format!(
            "leave-one-speaker-out fold: speaker {held_out} (all takes) test; other speakers: takes {TEST_TAKES}-{} validation, takes 0-{} and {VALIDATION_TAKES_END}-49 train",
            VALIDATION_TAKES_END - 1,
            TEST_TAKES - 1
        ),
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
        ..all.clone()
    };
    for e in all.test.iter().chain(&all.validation).chain(&all.train) {
        let Some((speaker, split)) = speaker_of(e) else { continue };
        if speaker == held_out {
            idx.test.push(e.clone());
        } else if split == FsddSplit::Validation {
            idx.validation.push(e.clone());
        } else {
            idx.train.push(e.clone());
        }
    }
    if idx.test.is_empty() {
        return Err(ToolsError::dataset("fsdd", format!("no clips of speaker {held_out:?} in {}", recordings.display())));
    }
    idx.test.sort_by(|a, b| a.path.cmp(&b.path));
    idx.train.sort_by(|a, b| a.path.cmp(&b.path));
    idx.validation.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(idx)
}

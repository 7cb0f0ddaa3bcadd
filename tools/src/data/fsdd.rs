//! Free Spoken Digit Dataset (keyword spotting, DESIGN.md "Data"): `{digit}_{speaker}_{take}.wav`
//! at 8 kHz. Official split: takes 0-4 of every speaker and digit are the test set, takes 5-49
//! the training set; takes 5-9 of the training set are held out, deterministically, for
//! validation (early stopping), leaving takes 10-49 to train on.

use super::{wav_files, DatasetIndex, Example};
use crate::error::{Result, ToolsError};
use std::path::Path;

pub const LABELS: [&str; 10] = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
/// Takes `< TEST_TAKES` are the official test split.
pub const TEST_TAKES: u32 = 5;
/// Takes in `TEST_TAKES..VALIDATION_TAKES_END` are held out for validation.
pub const VALIDATION_TAKES_END: u32 = 10;

/// `(digit, speaker, take)` of a file name.
pub fn parse_name(name: &str) -> Option<(usize, &str, u32)> {
    let stem = name.strip_suffix(".wav")?;
    let mut it = stem.splitn(3, '_');
    let digit: usize = it.next()?.parse().ok()?;
    let speaker = it.next()?;
    let take: u32 = it.next()?.parse().ok()?;
    (digit < 10 && !speaker.is_empty()).then_some((digit, speaker, take))
}

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
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let Some((digit, _speaker, take)) = parse_name(name) else {
            return Err(ToolsError::dataset(
                "fsdd",
                format!("unexpected file {} (expected {{digit}}_{{speaker}}_{{take}}.wav)", path.display()),
            ));
        };
        let e = Example { path: path.clone(), label: digit };
        if take < TEST_TAKES {
            idx.test.push(e);
        } else if take < VALIDATION_TAKES_END {
            idx.validation.push(e);
        } else {
            idx.train.push(e);
        }
    }
    Ok(idx)
}

/// The speakers of the recordings folder, sorted.
pub fn speakers(recordings: &Path) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for path in wav_files("fsdd", recordings)? {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if let Some((_, speaker, _)) = parse_name(name) {
            if !out.iter().any(|s| s == speaker) {
                out.push(speaker.to_string());
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
    let speaker_of = |e: &Example| e.path.file_name().and_then(|n| n.to_str()).and_then(parse_name).map(|(_, s, t)| (s.to_string(), t));
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
        let Some((speaker, take)) = speaker_of(e) else { continue };
        if speaker == held_out {
            idx.test.push(e.clone());
        } else if (TEST_TAKES..VALIDATION_TAKES_END).contains(&take) {
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

#[cfg(test)]
mod tests {
    use super::parse_name;

    #[test]
    fn names() {
        assert_eq!(parse_name("7_theo_13.wav"), Some((7, "theo", 13)));
        assert_eq!(parse_name("7_theo.wav"), None);
        assert_eq!(parse_name("x_theo_1.wav"), None);
        assert_eq!(parse_name("12_theo_1.wav"), None);
    }
}

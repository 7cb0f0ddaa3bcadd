//! Ground-truth labels of dataset files, read from their names or a `meta.csv`, so `classify`
//! can score itself: FSDD names `{digit}_{speaker}_{take}.wav`; ESC-style folders with a
//! `meta.csv` (`filename,fold,target,category`) beside or above the audio folder.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Finds labels for files; caches each `meta.csv` it reads.
#[derive(Default)]
pub struct LabelReader {
    meta: HashMap<PathBuf, Option<HashMap<String, String>>>,
}

fn parse_meta(path: &Path) -> Option<HashMap<String, String>> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next()?.split(',').map(str::trim).collect();
    let fi = header.iter().position(|h| *h == "filename")?;
    let ci = header
        .iter()
        .position(|h| *h == "category" || *h == "label")?;
    Some(
        lines
            .filter_map(|l| {
                let cols: Vec<&str> = l.split(',').map(str::trim).collect();
                Some((cols.get(fi)?.to_string(), cols.get(ci)?.to_string()))
            })
            .collect(),
    )
}

impl LabelReader {
    /// The label of `path`, if its name or a nearby `meta.csv` gives one.
    pub fn label(&mut self, path: &Path) -> Option<String> {
        let name = path.file_name()?.to_str()?;
        for dir in path.ancestors().skip(1).take(2) {
            let meta = dir.join("meta.csv");
            let table = self
                .meta
                .entry(meta.clone())
                .or_insert_with(|| parse_meta(&meta));
            if let Some(label) = table.as_ref().and_then(|t| t.get(name)) {
                return Some(label.clone());
            }
        }
        fsdd_digit(name).map(|d| d.to_string())
    }
}

/// The digit of an FSDD file name `{digit}_{speaker}_{take}.wav`.
pub fn fsdd_digit(name: &str) -> Option<u8> {
    let stem = name.strip_suffix(".wav")?;
    let mut parts = stem.split('_');
    let d = parts.next()?;
    let _speaker = parts.next()?;
    let take = parts.next()?;
    if parts.next().is_some() || d.len() != 1 || take.parse::<u32>().is_err() {
        return None;
    }
    d.parse::<u8>().ok().filter(|d| *d <= 9)
}

/// The take number of an FSDD file (the official split: takes 0-4 are the test set).
pub fn fsdd_take(name: &str) -> Option<u32> {
    let stem = name.strip_suffix(".wav")?;
    stem.rsplit('_').next()?.parse().ok()
}

const DIGIT_WORDS: [&str; 10] = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
];

/// Index of the ground-truth label `truth` among a model's `labels`: an exact (ASCII
/// case-insensitive) match, else a spoken digit matched across its two spellings (FSDD file
/// names say `7`, a keyword model's card may say `seven`, or the other way round).
pub fn match_label(truth: &str, labels: &[String]) -> Option<usize> {
    if let Some(i) = labels.iter().position(|l| l.eq_ignore_ascii_case(truth)) {
        return Some(i);
    }
    let digit = |s: &str| -> Option<usize> {
        s.parse::<usize>()
            .ok()
            .filter(|d| *d <= 9)
            .or_else(|| DIGIT_WORDS.iter().position(|w| w.eq_ignore_ascii_case(s)))
    };
    let d = digit(truth)?;
    labels.iter().position(|l| digit(l) == Some(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_match_across_spellings() {
        let words: Vec<String> = DIGIT_WORDS.iter().map(|s| s.to_string()).collect();
        let digits: Vec<String> = (0..10).map(|d| d.to_string()).collect();
        assert_eq!(match_label("7", &words), Some(7));
        assert_eq!(match_label("Seven", &digits), Some(7));
        assert_eq!(match_label("dog", &words), None);
        assert_eq!(match_label("12", &words), None);
        let esc = vec!["dog".to_string(), "rain".to_string()];
        assert_eq!(match_label("rain", &esc), Some(1));
        assert_eq!(match_label("3", &esc), None);
    }
}

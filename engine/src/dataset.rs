//! Datasets as files, one definition each: WAV listing, FSDD names and their official split,
//! `meta.csv` tables, evenly spaced subsets, and the ground-truth label of a file (from its
//! name or a `meta.csv`) matched to a model's labels. The CLIs and `soundproof-tools` use it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: {what}", .path.display())]
    Malformed { path: PathBuf, what: String },
}

/// WAV files (`.wav`, any case) in `dir`, sorted by path; with `recursive`, in its sub-folders
/// too (hidden ones skipped).
pub fn wav_files(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>, DatasetError> {
    fn walk(dir: &Path, recursive: bool, out: &mut Vec<PathBuf>) -> Result<(), DatasetError> {
        let io = |source| DatasetError::Io { path: dir.to_path_buf(), source };
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).map_err(io)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(io)?;
        entries.sort();
        for p in entries {
            if p.is_dir() {
                let hidden = p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.'));
                if recursive && !hidden {
                    walk(&p, recursive, out)?;
                }
            } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("wav")) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, recursive, &mut out)?;
    out.sort();
    Ok(out)
}

/// `n` items evenly spaced through `items` (item ⌊i·len/n⌋ for i < n; all of them when there
/// are no more than `n`, or `n` is 0).
pub fn evenly<T: Clone>(items: &[T], n: usize) -> Vec<T> {
    if items.len() <= n || n == 0 {
        return items.to_vec();
    }
    (0..n).map(|i| items[i * items.len() / n].clone()).collect()
}

/// The Free Spoken Digit Dataset's file name `{digit}_{speaker}_{take}.wav`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FsddName<'a> {
    pub digit: u8,
    pub speaker: &'a str,
    pub take: u32,
}

/// Where a take falls in FSDD's official split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsddSplit {
    /// Takes 0-4: the official test set.
    Test,
    /// Takes 5-9: the training set's deterministic hold-out for early stopping.
    Validation,
    /// Takes 10-49.
    Train,
}

/// Takes `< FSDD_TEST_TAKES` are the official test set.
pub const FSDD_TEST_TAKES: u32 = 5;
/// Takes in `FSDD_TEST_TAKES..FSDD_VALIDATION_TAKES_END` are held out for validation.
pub const FSDD_VALIDATION_TAKES_END: u32 = 10;

impl<'a> FsddName<'a> {
    /// Parses a file name (not a path); `None` unless it is exactly `{0-9}_{speaker}_{take}.wav`.
    pub fn parse(name: &'a str) -> Option<FsddName<'a>> {
        let stem = name.strip_suffix(".wav")?;
        let mut parts = stem.split('_');
        let (d, speaker, take) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || d.len() != 1 || speaker.is_empty() {
            return None;
        }
        let digit = d.parse::<u8>().ok().filter(|d| *d <= 9)?;
        Some(FsddName { digit, speaker, take: take.parse().ok()? })
    }

    /// The name of the file at `path`.
    pub fn of(path: &'a Path) -> Option<FsddName<'a>> {
        FsddName::parse(path.file_name()?.to_str()?)
    }

    /// The official split: takes 0-4 test, 5-9 validation, the rest train.
    pub fn split(&self) -> FsddSplit {
        if self.take < FSDD_TEST_TAKES {
            FsddSplit::Test
        } else if self.take < FSDD_VALIDATION_TAKES_END {
            FsddSplit::Validation
        } else {
            FsddSplit::Train
        }
    }
}

/// Keeps the files of one side of FSDD's official split by name: `test` (takes 0-4) or `train`
/// (takes 5-49, validation included); files not named as FSDD names them are dropped.
pub fn fsdd_split_files(files: &mut Vec<PathBuf>, split: &str) -> Result<(), String> {
    let test = match split {
        "test" => true,
        "train" => false,
        other => return Err(format!("--split {other}: use test or train")),
    };
    files.retain(|p| FsddName::of(p).is_some_and(|n| (n.split() == FsddSplit::Test) == test));
    Ok(())
}

/// One row of a `meta.csv` (ESC-50's `filename,fold,target,category`; `label` is read as the
/// category too). Columns are found by their header name, in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaRow {
    pub filename: String,
    pub fold: Option<u32>,
    pub target: Option<usize>,
    pub category: String,
}

/// Reads a `meta.csv`: a header naming `filename` and `category` (or `label`), optionally
/// `fold` and `target`; blank lines skipped, every other row must parse.
pub fn read_meta(path: &Path) -> Result<Vec<MetaRow>, DatasetError> {
    let bad = |what: String| DatasetError::Malformed { path: path.to_path_buf(), what };
    let text = std::fs::read_to_string(path).map_err(|source| DatasetError::Io { path: path.to_path_buf(), source })?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split(',').map(str::trim).collect();
    let col = |name: &str| header.iter().position(|h| *h == name);
    let fi = col("filename").ok_or_else(|| bad(format!("header `{}` has no `filename` column", header.join(","))))?;
    let ci = col("category").or_else(|| col("label")).ok_or_else(|| bad(format!("header `{}` has no `category` column", header.join(","))))?;
    let (fold_i, target_i) = (col("fold"), col("target"));
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        let row_err = || bad(format!("line {}: cannot parse `{line}`", i + 2));
        if cols.len() != header.len() {
            return Err(row_err());
        }
        let num = |k: Option<usize>| -> Result<Option<u64>, DatasetError> { k.map(|k| cols[k].parse::<u64>().map_err(|_| row_err())).transpose() };
        rows.push(MetaRow {
            filename: cols[fi].to_string(),
            fold: num(fold_i)?.map(|v| v as u32),
            target: num(target_i)?.map(|v| v as usize),
            category: cols[ci].to_string(),
        });
    }
    Ok(rows)
}

/// Finds labels for files; caches each `meta.csv` it reads.
#[derive(Default)]
pub struct LabelReader {
    meta: HashMap<PathBuf, Option<HashMap<String, String>>>,
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
                .or_insert_with(|| read_meta(&meta).ok().map(|rows| rows.into_iter().map(|r| (r.filename, r.category)).collect()));
            if let Some(label) = table.as_ref().and_then(|t| t.get(name)) {
                return Some(label.clone());
            }
        }
        FsddName::parse(name).map(|n| n.digit.to_string())
    }
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
    fn fsdd_names_and_split() {
        assert_eq!(FsddName::parse("7_theo_13.wav"), Some(FsddName { digit: 7, speaker: "theo", take: 13 }));
        for bad in ["7_theo.wav", "x_theo_1.wav", "12_theo_1.wav", "7__1.wav", "7_theo_1_2.wav", "7_theo_1.mp3"] {
            assert_eq!(FsddName::parse(bad), None, "{bad}");
        }
        let take = |t| FsddName { digit: 0, speaker: "a", take: t }.split();
        assert_eq!((take(4), take(5), take(9), take(10)), (FsddSplit::Test, FsddSplit::Validation, FsddSplit::Validation, FsddSplit::Train));
    }

    #[test]
    fn evenly_spaced_subsets() {
        let v: Vec<usize> = (0..10).collect();
        assert_eq!(evenly(&v, 4), vec![0, 2, 5, 7]);
        assert_eq!(evenly(&v, 20), v);
        assert_eq!(evenly(&v, 0), v);
    }

    #[test]
    fn meta_csv_columns_by_name() {
        let dir = std::env::temp_dir().join(format!("soundproof-meta-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("meta.csv");
        std::fs::write(&p, "filename,fold,target,category\n1-100-A.wav,1,0,dog\n\n2-200-B.wav,2,1,rain\n").unwrap();
        let rows = read_meta(&p).unwrap();
        assert_eq!(rows[1], MetaRow { filename: "2-200-B.wav".into(), fold: Some(2), target: Some(1), category: "rain".into() });
        std::fs::write(&p, "filename,fold,target,category\n1-100-A.wav,one,0,dog\n").unwrap();
        assert!(read_meta(&p).unwrap_err().to_string().contains("line 2"));
        std::fs::write(&p, "name,label\nx.wav,dog\n").unwrap();
        assert!(read_meta(&p).unwrap_err().to_string().contains("filename"));
        std::fs::remove_dir_all(&dir).ok();
    }

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

//! ESC-10 (environmental sounds, 10 classes; Piczak 2015) from `meta.csv`
//! (`filename,fold,target,category`) and `audio/`. Clips are 5 s. Evaluation follows the ESC
//! protocol, cross-validation by fold: one fold is the test set; clips from one source
//! recording share a fold, so folds never leak. Early stopping needs a validation set, which
//! is another whole fold (by default the next fold present, cyclically), never part of a
//! training fold. Whatever folds `meta.csv` lists are used (this copy holds folds 1-4).

use super::{DatasetIndex, Example};
use crate::error::{Result, ToolsError};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Folds listed in `meta.csv`, sorted.
pub fn folds(root: &Path) -> Result<Vec<u32>> {
    let rows = read_meta(root)?;
    let mut f: Vec<u32> = rows.iter().map(|r| r.fold).collect();
    f.sort_unstable();
    f.dedup();
    Ok(f)
}

struct Row {
    filename: String,
    fold: u32,
    target: usize,
    category: String,
}

/// `meta.csv` of an ESC folder ([`soundproof::dataset::read_meta`]), every row with its fold and
/// target.
fn read_meta(root: &Path) -> Result<Vec<Row>> {
    let path = root.join("meta.csv");
    let rows = soundproof::dataset::read_meta(&path).map_err(|e| {
        ToolsError::dataset("esc10", format!("{e} (expected ESC-10 with meta.csv, `filename,fold,target,category`, and audio/)"))
    })?;
    let rows = rows
        .into_iter()
        .map(|r| match (r.fold, r.target) {
            (Some(fold), Some(target)) => Ok(Row { filename: r.filename, fold, target, category: r.category }),
            _ => Err(ToolsError::dataset("esc10", format!("{}: every row needs a fold and a target (`{}`)", path.display(), r.filename))),
        })
        .collect::<Result<Vec<_>>>()?;
    if rows.is_empty() {
        return Err(ToolsError::dataset("esc10", format!("{} lists no clips", path.display())));
    }
    Ok(rows)
}

pub fn index(root: &Path, test_fold: u32, validation_fold: Option<u32>) -> Result<DatasetIndex> {
    let rows = read_meta(root)?;
    let mut labels: BTreeMap<usize, String> = BTreeMap::new();
    for r in &rows {
        if let Some(prev) = labels.insert(r.target, r.category.clone()) {
            if prev != r.category {
                return Err(ToolsError::dataset("esc10", format!("target {} is both `{prev}` and `{}`", r.target, r.category)));
            }
        }
    }
    if labels.keys().copied().ne(0..labels.len()) {
        return Err(ToolsError::dataset("esc10", "targets in meta.csv are not 0..K-1"));
    }
    let mut present: Vec<u32> = rows.iter().map(|r| r.fold).collect();
    present.sort_unstable();
    present.dedup();
    if present.len() < 3 {
        return Err(ToolsError::dataset("esc10", format!("folds {present:?}: need at least 3 (test, validation, train)")));
    }
    if !present.contains(&test_fold) {
        return Err(ToolsError::dataset("esc10", format!("test fold {test_fold} not in meta.csv (folds present: {present:?})")));
    }
    let source = |r: &Row| r.filename.split('-').nth(1).unwrap_or(&r.filename).to_string();
    // Which clips validate, and the split in words. Validation fold 0: no fold validates;
    // every fifth source recording of each class (sorted by source id, the second field of
    // `FOLD-SOURCE-TAKE-CLASS.wav`) in the other folds does, so the model trains on all the
    // other folds and no recording straddles training and validation.
    let (held, val_fold, split) = if validation_fold == Some(0) {
        let mut sources: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for r in rows.iter().filter(|r| r.fold != test_fold) {
            let v = sources.entry(r.target).or_default();
            if !v.contains(&source(r)) {
                v.push(source(r));
            }
        }
        let held: BTreeSet<(usize, String)> = sources
            .into_iter()
            .flat_map(|(t, mut v)| {
                v.sort();
                v.into_iter().enumerate().filter(|(i, _)| i % 5 == 2).map(move |(_, s)| (t, s))
            })
            .collect();
        (held, None, format!("ESC folds: test fold {test_fold}, the others train, every fifth source recording of each class in them validates"))
    } else {
        let val_fold = match validation_fold {
            Some(v) if v == test_fold || !present.contains(&v) => {
                return Err(ToolsError::dataset(
                    "esc10",
                    format!("validation fold {v} must be a fold present ({present:?}) other than the test fold {test_fold}"),
                ))
            }
            Some(v) => v,
            None => {
                let i = present.iter().position(|&f| f == test_fold).unwrap_or(0);
                present[(i + 1) % present.len()]
            }
        };
        let train_folds: Vec<u32> = present.iter().copied().filter(|&f| f != test_fold && f != val_fold).collect();
        (BTreeSet::new(), Some(val_fold), format!("ESC folds: test fold {test_fold}, validation fold {val_fold}, train folds {train_folds:?}"))
    };
    let mut idx = DatasetIndex {
        name: "esc10".into(),
        labels: labels.into_values().collect(),
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
        split,
        clip_seconds: 5.0,
    };
    let audio = root.join("audio");
    for r in &rows {
        let path = audio.join(&r.filename);
        if !path.is_file() {
            return Err(ToolsError::dataset("esc10", format!("{} is listed in meta.csv but missing", path.display())));
        }
        let e = Example { path, label: r.target };
        if r.fold == test_fold {
            idx.test.push(e);
        } else if Some(r.fold) == val_fold || held.contains(&(r.target, source(r))) {
            idx.validation.push(e);
        } else {
            idx.train.push(e);
        }
    }
    Ok(idx)
}

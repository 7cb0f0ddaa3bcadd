//! A generic folder-per-class dataset: `ROOT/CLASS/*.wav`, labels are the sorted class folder
//! names. If `ROOT` holds `train/` and `test/` (and optionally `validation/`) folders of that
//! shape, they are the split. Otherwise the split is deterministic per class over the sorted
//! file names: every 10th file (index 0, 10, ...) is test, the next one (1, 11, ...)
//! validation, the rest train. Clips are 1 s unless the command sets another window.

use super::{wav_files, DatasetIndex, Example};
use crate::error::{Result, ToolsError};
use std::path::{Path, PathBuf};

fn class_dirs(root: &Path) -> Result<Vec<(String, PathBuf)>> {
    let rd = std::fs::read_dir(root)
        .map_err(|e| ToolsError::dataset(root.display().to_string(), format!("cannot list the folder: {e}")))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| ToolsError::io(root, e))?;
        let p = entry.path();
        if p.is_dir() {
            if let Some(name) = p.file_name().and_then(|n| n.to_str()) {
                if !name.starts_with('.') {
                    out.push((name.to_string(), p));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

fn collect(name: &str, classes: &[String], dir: &Path) -> Result<Vec<Example>> {
    let mut out = Vec::new();
    for (label, class) in classes.iter().enumerate() {
        let d = dir.join(class);
        if d.is_dir() {
            out.extend(wav_files(name, &d)?.into_iter().map(|path| Example { path, label }));
        }
    }
    Ok(out)
}

pub fn index(root: &Path) -> Result<DatasetIndex> {
    let name = root.file_name().and_then(|n| n.to_str()).unwrap_or("folder").to_string();
    let (train_dir, test_dir) = (root.join("train"), root.join("test"));
    if train_dir.is_dir() && test_dir.is_dir() {
        let classes: Vec<String> = class_dirs(&train_dir)?.into_iter().map(|(n, _)| n).collect();
        let train = collect(&name, &classes, &train_dir)?;
        let test = collect(&name, &classes, &test_dir)?;
        let val_dir = root.join("validation");
        let (train, validation, split) = if val_dir.is_dir() {
            (train, collect(&name, &classes, &val_dir)?, "train/, validation/ and test/ folders".to_string())
        } else {
            let (mut t, mut v) = (Vec::new(), Vec::new());
            let mut seen = vec![0usize; classes.len()];
            for e in train {
                if seen[e.label] % 10 == 0 {
                    v.push(e.clone());
                } else {
                    t.push(e.clone());
                }
                seen[e.label] += 1;
            }
            (t, v, "train/ and test/ folders; every 10th training file per class is validation".to_string())
        };
        return Ok(DatasetIndex { name, labels: classes, train, validation, test, split, clip_seconds: 1.0 });
    }
    let classes = class_dirs(root)?;
    if classes.is_empty() {
        return Err(ToolsError::dataset(name, format!("{} holds no class folders (expected CLASS/*.wav)", root.display())));
    }
    let mut idx = DatasetIndex {
        name: name.clone(),
        labels: classes.iter().map(|(n, _)| n.clone()).collect(),
        train: Vec::new(),
        validation: Vec::new(),
        test: Vec::new(),
        split: "per class, sorted files: index % 10 == 0 test, == 1 validation, else train".into(),
        clip_seconds: 1.0,
    };
    for (label, (_, dir)) in classes.iter().enumerate() {
        for (i, path) in wav_files(&name, dir)?.into_iter().enumerate() {
            let e = Example { path, label };
            match i % 10 {
                0 => idx.test.push(e),
                1 => idx.validation.push(e),
                _ => idx.train.push(e),
            }
        }
    }
    Ok(idx)
}

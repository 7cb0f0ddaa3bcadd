//! `soundproof-tools cv`: leave-one-speaker-out cross-validation of a (tiny) recipe, end to end
//! through the command: one fold per FSDD speaker, each trained without that voice and tested
//! on it; the summary is the mean and minimum of the folds' own accuracies; `--record` writes
//! the f32 folds into an f32 card and the int8 folds into an int8 card, and the engine loads
//! both models afterwards. The recipe uses every augmentation step (so each runs inside a real
//! training), and `--robustness` scores each fold under the corruptions of the robustness table.
//! `--reuse` scores folds trained before without training them again.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn scratch() -> PathBuf {
    let d = std::env::temp_dir().join(format!("soundproof-cv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn card(path: &Path) -> Value {
    serde_json::from_str(&soundproof::model::Model::load(path).unwrap().card().to_json()).unwrap()
}

#[test]
fn cv_trains_one_fold_per_speaker_and_records_the_summary() {
    let dir = scratch();
    let (f32_model, int8_model) = (dir.join("kws-fsdd-rt.onnx"), dir.join("kws-fsdd-rt-int8.onnx"));
    std::fs::copy(root().join("models/kws-fsdd-rt.onnx"), &f32_model).unwrap();
    std::fs::copy(root().join("models/kws-fsdd-rt-int8.onnx"), &int8_model).unwrap();
    let out = dir.join("cv");
    let cv = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_soundproof-tools"))
            .current_dir(root())
            .args(["cv", "--model", "kws-rt", "--dataset", "fsdd", "--epochs", "1", "--batch-size", "16", "--max-clips", "40"])
            .args(["--speed", "0.1", "--gain-db", "20", "--reverb", "0.5", "--freq-mask", "8", "--time-mask", "10"])
            .args(["--background", "../shared/data/esc10/audio", "--background-folds", "1"])
            .args(["--threads", "2", "--device", "cpu", "--int8", "--json", "--out"])
            .arg(&out)
            .arg("--record")
            .arg(&f32_model)
            .arg("--record")
            .arg(&int8_model)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = cv(&["--robustness", "../shared/data/esc10/audio", "--robustness-folds", "4"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let written: Value = serde_json::from_str(&std::fs::read_to_string(out.join("cross_validation.json")).unwrap()).unwrap();
    assert_eq!(v, written);
    for precision in ["f32", "int8"] {
        let cv = &v[precision];
        assert_eq!(cv["scheme"], "leave-one-speaker-out");
        let folds = cv["folds"].as_array().unwrap();
        let held: Vec<&str> = folds.iter().map(|f| f["held_out"].as_str().unwrap()).collect();
        assert_eq!(held, ["george", "jackson", "nicolas", "theo", "yweweler"]);
        let acc: Vec<f64> = folds.iter().map(|f| f["accuracy"].as_f64().unwrap()).collect();
        for (f, a) in folds.iter().zip(&acc) {
            // --max-clips caps each split: 40 test clips of the held-out voice; accuracy a count.
            assert_eq!(f["examples"], 40);
            assert!((a * 40.0 - (a * 40.0).round()).abs() < 1e-9 && (0.0..=1.0).contains(a));
        }
        let mean = acc.iter().sum::<f64>() / 5.0;
        assert!((cv["mean_accuracy"].as_f64().unwrap() - mean).abs() < 1e-12);
        assert_eq!(cv["min_accuracy"].as_f64().unwrap(), acc.iter().cloned().fold(f64::INFINITY, f64::min));
        assert!(cv["command"].as_str().unwrap().contains("cv --model kws-rt"));
        // Each fold's model was written where the command says.
        assert!(out.join(held[0]).join("kws-rt-fsdd.onnx").is_file());
    }
    // Robustness: every condition scored on each fold's 40 held-out clips; "clean" is the fold's
    // own accuracy, and the means are the means of the folds.
    let rob = &v["robustness"];
    let names: Vec<&str> = ["clean", "background 20 dB SNR", "background 10 dB SNR", "background 0 dB SNR", "room", "gain +20 dB", "gain -20 dB"].into();
    let rows = rob["folds"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rob["noise_folds"], serde_json::json!([4]));
    for (row, fold) in rows.iter().zip(v["f32"]["folds"].as_array().unwrap()) {
        assert_eq!(row["held_out"], fold["held_out"]);
        assert_eq!(row["accuracy"]["clean"], fold["accuracy"]);
        for n in &names {
            let a = row["accuracy"][n].as_f64().unwrap_or_else(|| panic!("{n} missing"));
            assert!((a * 40.0 - (a * 40.0).round()).abs() < 1e-9 && (0.0..=1.0).contains(&a), "{n}: {a}");
        }
    }
    for n in &names {
        let mean = rows.iter().map(|r| r["accuracy"][n].as_f64().unwrap()).sum::<f64>() / 5.0;
        assert!((rob["mean"][n].as_f64().unwrap() - mean).abs() < 1e-12, "{n}");
    }
    // Recorded: the f32 card holds the f32 folds, the int8 card the int8 folds.
    assert_eq!(card(&f32_model)["metrics"]["cross_validation"], v["f32"]);
    assert_eq!(card(&int8_model)["metrics"]["cross_validation"], v["int8"]);

    // --reuse --record: the same folds again, no training; the cards' command is the one that
    // trained the folds, then the one that scored them.
    let o = cv(&["--reuse"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["f32"]["folds"], v["f32"]["folds"]);
    assert_eq!(again["int8"]["folds"], v["int8"]["folds"]);
    let command = card(&f32_model)["metrics"]["cross_validation"]["command"].as_str().unwrap().to_string();
    let (trained, scored) = command.split_once("; ").unwrap_or_else(|| panic!("{command}"));
    assert_eq!(trained, v["f32"]["command"].as_str().unwrap());
    assert!(scored.contains("cv --model kws-rt") && scored.ends_with("--reuse"), "{command}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `cv --only`: just the named folds run, in the dataset's order; an unknown fold is refused with
/// the list of folds, and a partial run cannot be recorded in a card. `cv --reuse` then scores
/// those folds' models without training them again, and refuses another recipe.
#[test]
fn cv_only_runs_the_named_folds_and_refuses_to_record_them() {
    // its own folder: scratch() clears the other test's
    let dir = std::env::temp_dir().join(format!("soundproof-cv-only-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cv = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_soundproof-tools"))
            .current_dir(root())
            .args(["cv", "--model", "kws-strided", "--dataset", "fsdd", "--epochs", "1", "--batch-size", "16", "--max-clips", "40"])
            .args(["--threads", "2", "--device", "cpu", "--json", "--out"])
            .arg(&dir)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = cv(&["--only", "nobody"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--only nobody") && err.contains("george, jackson, nicolas, theo, yweweler"), "{err}");
    let o = cv(&["--only", "george", "--record", "models/kws-fsdd-strided.onnx"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--record needs every fold"), "{err}");
    let o = cv(&["--only", "theo,george"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let folds = v["f32"]["folds"].as_array().unwrap();
    let held: Vec<&str> = folds.iter().map(|f| f["held_out"].as_str().unwrap()).collect();
    assert_eq!(held, ["george", "theo"]);
    let mean = folds.iter().map(|f| f["accuracy"].as_f64().unwrap()).sum::<f64>() / 2.0;
    assert!((v["f32"]["mean_accuracy"].as_f64().unwrap() - mean).abs() < 1e-12);
    assert!(!dir.join("jackson").exists() && dir.join("theo").exists());

    // --reuse scores the models that run left (no training: the weights' files are untouched),
    // with the same accuracies, and adds the robustness conditions.
    let weights = dir.join("theo").join("model.safetensors");
    let modified = std::fs::metadata(&weights).unwrap().modified().unwrap();
    let o = cv(&["--only", "theo,george", "--reuse", "--robustness", "../shared/data/esc10/audio", "--robustness-folds", "4"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let again: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again["f32"]["folds"], v["f32"]["folds"]);
    assert_eq!(std::fs::metadata(&weights).unwrap().modified().unwrap(), modified, "the fold was trained again");
    let rows = again["robustness"]["folds"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["accuracy"]["clean"], folds[1]["accuracy"]);
    assert!(rows[1]["accuracy"]["room"].as_f64().is_some());
    // Another recipe and a fold that was never trained are refused.
    let o = cv(&["--only", "george", "--reuse", "--seed", "7"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("another recipe") && err.contains("seed: 0 then, 7 now"), "{err}");
    let o = cv(&["--only", "jackson", "--reuse"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("no earlier training here"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// ESC-10 cross-validation with `--robustness-held-out`: each fold's noise is its own held-out
/// fold's recordings, the same bank `--robustness-folds K` names for fold K (so the scores of
/// the two runs agree on that fold); FSDD has no folds of that kind and is refused.
#[test]
fn cv_esc10_robustness_noise_from_the_held_out_fold() {
    let dir = std::env::temp_dir().join(format!("soundproof-cv-esc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cv = |dataset: &str, extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_soundproof-tools"))
            .current_dir(root())
            .args(["cv", "--model", "kws-strided", "--dataset", dataset, "--epochs", "1", "--batch-size", "8", "--max-clips", "8"])
            .args(["--threads", "2", "--device", "cpu", "--json", "--robustness", "../shared/data/esc10/audio", "--out"])
            .arg(&dir)
            .args(extra)
            .output()
            .unwrap()
    };
    let o = cv("esc10", &["--only", "fold-2", "--robustness-held-out"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let held: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(held["robustness"]["noise_folds"], "held-out");
    let row = &held["robustness"]["folds"][0];
    assert_eq!(row["held_out"], "fold-2");
    assert_eq!(row["accuracy"]["clean"], held["f32"]["folds"][0]["accuracy"]);
    // The bank: every recording of fold 2 (the folder's clips named `2-…`), not the whole folder.
    let files = |prefix: &str| {
        std::fs::read_dir(root().join("../shared/data/esc10/audio"))
            .unwrap()
            .filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().starts_with(prefix))
            .count()
    };
    assert!(files("2-") > 0 && files("2-") < files(""));
    assert_eq!(row["noise_clips"], files("2-"));
    let o = cv("esc10", &["--only", "fold-2", "--reuse", "--robustness-folds", "2"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let named: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(named["robustness"]["folds"][0], *row);
    let o = cv("fsdd", &["--only", "george", "--robustness-held-out"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("--robustness-held-out is for ESC-10"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

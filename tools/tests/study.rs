//! `soundproof-tools study` on the reduced grid `studies/smoke.json` (FSDD, three
//! representations including an 8 kHz Haar scalogram, the six attacks, two budgets each), end to
//! end through the command:
//!
//! * the tables are complete (a row per representation in its table of 000, a value for every
//!   attack) and their numbers are the runs': each fooling rate is fooled / counted summed over
//!   the folds' stored budget runs, each AUC the trapezoid over the stored rates (computed here
//!   again), each table entry the cell's AUC and mean gradients;
//! * the costs are counted as the attack suite counts them: FGSM one gradient per example,
//!   BIM-b its steps, BIM-a at most its steps;
//! * `soundproof classify` (the engine's CLI, tract) on the held-out split reproduces each
//!   model's accuracy, the scalogram model's included, and the card records its front end;
//! * a second run resumes: finished cells are not redone, and a fold whose `fold.json` is gone
//!   is attacked again on its saved model (not retrained) with the same results; a grid with
//!   another budget ladder redoes the attacks at the new budgets on the same models.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))).unwrap()
}

fn study(out: &Path) -> String {
    study_grid(&root().join("studies/smoke.json"), out)
}

fn study_grid(grid: &Path, out: &Path) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_soundproof-tools"))
        .current_dir(root())
        .arg("study")
        .arg(grid)
        .args(["--threads", "2", "--out"])
        .arg(out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The engine's `soundproof` binary: this profile's, else the other profile's (`scripts/test.sh`
/// builds the engine's tests, and with them the binary, before the tools' tests), else built
/// here into a target folder of its own (a nested cargo on this one would wait for the lock
/// the running `cargo test` holds).
fn engine_cli() -> PathBuf {
    let profile_dir = std::env::current_exe().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let target = profile_dir.parent().unwrap().to_path_buf();
    for dir in [profile_dir.clone(), target.join("debug"), target.join("release")] {
        if dir.join("soundproof").is_file() {
            return dir.join("soundproof");
        }
    }
    let own = target.join("study-cli");
    let o = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root())
        .args(["build", "--locked", "--release", "-p", "soundproof", "--bin", "soundproof", "--target-dir"])
        .arg(&own)
        .status()
        .unwrap();
    assert!(o.success(), "building the soundproof CLI");
    own.join("release").join("soundproof")
}

/// 000's trapezoid from (0, 0) over budget / max budget, written out independently.
fn trapezoid(budgets: &[f64], rates: &[f64]) -> f64 {
    let top = budgets[budgets.len() - 1];
    let mut pts = vec![(0.0, 0.0)];
    pts.extend(budgets.iter().zip(rates).map(|(b, r)| (b / top, *r)));
    pts.windows(2).map(|w| (w[1].0 - w[0].0) * (w[1].1 + w[0].1) / 2.0).sum()
}

#[test]
fn study_writes_complete_tables_from_its_runs_and_resumes() {
    let out = std::env::temp_dir().join(format!("soundproof-study-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    study(&out);
    let grid = json(&root().join("studies/smoke.json"));
    let tables = std::fs::read_to_string(out.join("tables.md")).unwrap();
    let reps = grid["representations"].as_array().unwrap();
    let ladders = grid["attacks"]["ladders"].as_array().unwrap();
    let names = ["FGSM", "DeepFool", "BIM-a", "BIM-b", "JSMA", "CW-L2"];
    for (table, kind) in [("I", "mfcc"), ("II", "log-stft"), ("III", "scalogram")] {
        assert!(tables.contains(&format!("## Table {table} ")), "table {table} missing:\n{tables}");
        assert!(out.join(format!("table-{table}-fsdd.png")).metadata().unwrap().len() > 10_000, "table {table} has no figure");
        assert!(reps.iter().any(|r| r["kind"] == kind));
    }
    assert!(tables.contains("## Table IV (mother functions), fsdd"));
    let header = format!("| representation | accuracy (%) | {} |", names.join(" | "));
    assert_eq!(tables.matches(&header).count(), 3, "{tables}");

    let mut fold_jsons = Vec::new();
    for rep in reps {
        let label = rep["label"].as_str().unwrap();
        let cell = json(&out.join("cells/fsdd").join(label).join("cell.json"));
        let folds = cell["folds"].as_array().unwrap();
        assert_eq!(folds.len(), 1);
        let fold = &folds[0];
        fold_jsons.push(out.join("cells/fsdd").join(label).join("official/fold.json"));
        assert_eq!(*fold, json(fold_jsons.last().unwrap()));
        let accuracy = fold["accuracy"].as_f64().unwrap();
        assert_eq!(fold["examples"], 250, "{label}: FSDD's official test split is 250 clips");
        assert!(accuracy > 0.3, "{label}: accuracy {accuracy} (10 classes: chance is 0.1)");
        assert_eq!(cell["accuracy"].as_f64().unwrap(), accuracy);

        // The table row: accuracy, then "AUC, gradients" per attack, from the cell.
        let attacks = cell["attacks"].as_array().unwrap();
        assert_eq!(attacks.len(), ladders.len());
        let mut row = format!("| {label} | {:.2} |", 100.0 * accuracy);
        for (k, (a, l)) in attacks.iter().zip(ladders).enumerate() {
            assert_eq!(a["attack"], l["attack"]);
            let budgets: Vec<f64> = a["budgets"].as_array().unwrap().iter().map(|b| b.as_f64().unwrap()).collect();
            assert_eq!(Value::from(budgets.clone()), l["budgets"].as_array().unwrap().iter().map(|b| b.as_f64().unwrap()).collect::<Value>());
            let runs = fold["attacks"][k][1].as_array().unwrap();
            assert_eq!(fold["attacks"][k][0], l["attack"]);
            let mut rates = Vec::new();
            for (j, run) in runs.iter().enumerate() {
                let (fooled, counted) = (run["fooled"].as_u64().unwrap(), run["counted"].as_u64().unwrap());
                let examples = run["examples"].as_u64().unwrap();
                assert_eq!(examples, 6, "six clips attacked");
                assert!(fooled <= counted && counted <= examples);
                let rate = fooled as f64 / counted.max(1) as f64;
                assert_eq!(a["rates"][j].as_f64().unwrap(), rate, "{label} {}: rate {j}", l["attack"]);
                rates.push(rate);
                let grads = run["gradients"].as_u64().unwrap();
                match l["attack"].as_str().unwrap() {
                    "fgsm" => assert_eq!(grads, examples, "FGSM: one gradient per example"),
                    "bim-b" => assert_eq!(grads, examples * l["steps"].as_u64().unwrap(), "BIM-b: its steps"),
                    "bim-a" => assert!(grads >= examples && grads <= examples * l["steps"].as_u64().unwrap()),
                    _ => assert!(grads > 0),
                }
                assert_eq!(a["gradients"][j].as_f64().unwrap(), grads as f64 / examples as f64);
            }
            let auc = a["auc"].as_f64().unwrap();
            assert!((auc - trapezoid(&budgets, &rates)).abs() < 1e-12, "{label} {}: AUC {auc}", l["attack"]);
            let mean_g = a["mean_gradients"].as_f64().unwrap();
            row += &format!(" {auc:.4}, {mean_g:.0} |");
        }
        assert!(tables.contains(&row), "{row} not in\n{tables}");

        // The engine serves the model as trained: its card's front end, and `soundproof
        // classify` scores the same accuracy on the same split.
        let model = fold["model"].as_str().unwrap();
        let card = json(&PathBuf::from(model).with_extension("json"));
        assert_eq!(card["features"]["kind"], rep["kind"]);
        let rate = rep["sample_rate"].as_u64().unwrap_or(16_000);
        if rep["kind"] == "scalogram" {
            assert_eq!(card["features"]["scalogram"]["sample_rate"], rate);
            assert_eq!(card["features"]["scalogram"]["frame_length"], rate / 20, "50 ms frames");
            assert_eq!(card["features"]["scalogram"]["hop_length"], rate / 40, "50 % overlap");
            assert_eq!(card["features"]["scalogram"]["wavelet"]["wavelet"], "haar");
        }
        let o = Command::new(engine_cli())
            .current_dir(root())
            .args(["classify", "--model", model, "--split", "test", "--json", "../shared/data/fsdd/recordings"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let c: Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(c["scored"], 250);
        assert_eq!(c["accuracy"].as_f64().unwrap(), accuracy, "{label}: soundproof classify");
    }

    // Table V: a row per source with its entries from the stored rows; the transfer ran on the
    // grid's clips, each entry a count of them.
    let t = &grid["transfer"];
    assert!(tables.contains("## Table V (transferability), fsdd fold official"), "{tables}");
    for rep in reps {
        let label = rep["label"].as_str().unwrap();
        let row = json(&out.join("transfer/fsdd").join(format!("{label}.json")));
        assert_eq!(row["source"], label);
        let targets = row["targets"].as_array().unwrap();
        assert_eq!(targets.len(), reps.len());
        let mut line = format!("| {label} ({}; {:.0} %;", row["rebuild"].as_str().unwrap(), 100.0 * row["in_domain"].as_f64().unwrap());
        assert!(tables.contains(&line), "{line} not in the table");
        line = String::new();
        for (target, r) in targets.iter().zip(reps) {
            assert_eq!(target[0], r["label"]);
            let (counted, fooled) = (target[1].as_u64().unwrap(), target[2].as_u64().unwrap());
            assert!(fooled <= counted && counted <= t["clips"].as_u64().unwrap());
            line += &match counted {
                0 => " – |".to_string(),
                c => format!(" {:.2} ({fooled}/{c}) |", fooled as f64 / c as f64),
            };
        }
        assert!(tables.lines().any(|l| l.starts_with(&format!("| {label} (")) && l.ends_with(&line)), "{line} not in\n{tables}");
    }

    // Resume: nothing redone; then one fold's results removed: attacked again on its saved
    // model (the checkpoint is not rewritten), same numbers.
    let cell_path = out.join("cells/fsdd/dwt-haar-8k/cell.json");
    let weights = out.join("cells/fsdd/dwt-haar-8k/official/model.safetensors");
    let (t_cell, t_weights) = (cell_path.metadata().unwrap().modified().unwrap(), weights.metadata().unwrap().modified().unwrap());
    let before = json(&cell_path);
    study(&out);
    assert_eq!(cell_path.metadata().unwrap().modified().unwrap(), t_cell, "a finished cell was redone");
    std::fs::remove_file(&cell_path).unwrap();
    std::fs::remove_file(&fold_jsons[2]).unwrap();
    study(&out);
    assert_eq!(weights.metadata().unwrap().modified().unwrap(), t_weights, "the fold was retrained");
    let after = json(&cell_path);
    for (a, b) in before["attacks"].as_array().unwrap().iter().zip(after["attacks"].as_array().unwrap()) {
        assert_eq!(a["rates"], b["rates"], "{}", a["attack"]);
        assert_eq!(a["gradients"], b["gradients"], "{}", a["attack"]);
    }
    assert_eq!(before["accuracy"], after["accuracy"]);

    // A changed ladder: the attacks are redone at the new budgets on the same models.
    let mut g2 = grid.clone();
    g2["attacks"]["ladders"][0]["budgets"] = serde_json::json!([0.02, 0.04, 0.08]);
    g2["transfer"] = Value::Null;
    let g2_path = out.join("grid2.json");
    std::fs::write(&g2_path, serde_json::to_string(&g2).unwrap()).unwrap();
    study_grid(&g2_path, &out);
    assert_eq!(weights.metadata().unwrap().modified().unwrap(), t_weights, "the fold was retrained for a new ladder");
    let changed = json(&cell_path);
    assert_eq!(changed["attacks"][0]["budgets"], serde_json::json!([0.02, 0.04, 0.08]));
    assert_eq!(changed["attacks"][0]["rates"].as_array().unwrap().len(), 3);
    assert_eq!(changed["attacks"][1]["rates"], after["attacks"][1]["rates"], "DeepFool's ladder did not change");
    let _ = std::fs::remove_dir_all(&out);
}

/// Every grid shipped in `studies/` parses and passes the grid's checks (representations the
/// engine builds, unique labels, increasing budgets, a transfer fold of the grid).
#[test]
fn shipped_grids_are_valid() {
    let mut n = 0;
    for e in std::fs::read_dir(root().join("studies")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "json") {
            let g = soundproof_tools::study::Grid::load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            assert!(!g.representations.is_empty() && !g.datasets.is_empty(), "{}", p.display());
            n += 1;
        }
    }
    assert!(n >= 4, "{n} grids");
}

//! Our attacks against torchattacks and ART (`benches/attack_anchor.py`, run by the reference
//! Python) on the same model and the same inputs.
//!
//! The model is a seeded, untrained `kws-cnn` at width 0.25 (so the test needs no trained
//! checkpoint and runs in CI): its batch-norm statistics are set by training-mode passes over the
//! inputs (so activations have a sane scale), and it is saved as a checkpoint folder that both
//! sides load, tch through `Checkpoint::build`, the Python twin from the same
//! `model.safetensors`. The inputs are the log-mel maps of 8 FSDD test clips (labels unknown:
//! the clean prediction is the reference, so every example counts), attacked in the features
//! domain in our default box, `[min, max]` of each clean map.
//!
//! * The twin's logits equal tch's on the clean maps (max |diff| ≤ 1e-4 × the logit scale).
//! * FGSM and BIM-b are the same algorithm on both sides; torchattacks sees each example mapped
//!   onto `[0, 1]` (its box), where sign(∇) is unchanged, so the adversarial maps must be ours up
//!   to float rounding of that map (relative difference ≤ 1e-3 of the perturbation, median over
//!   examples; measured ~1e-5), hence the same success on every example and the same mean L2
//!   (within 1 %), and the same gradient counts (1 and `steps` per example).
//! * DeepFool: the two libraries iterate differently from ours, so the maps differ and the
//!   checks are on the outcome. ART (adversarial-robustness-toolbox) clamps every step to the box
//!   and applies the overshoot once to the whole perturbation at the end, as ours does to its
//!   accumulated steps: fooling rates within one example (12.5 points on 8) and mean L2 within a
//!   factor 1.25 (measured: 1.4 % apart here; a wrong box or a wrong scale of the map would move
//!   it by orders of magnitude). torchattacks applies the overshoot to each step and clamps each
//!   iterate; where the clean map touches the box (the log-mel floor of the padded frames, half
//!   the map here) the clamp eats the 2 % overshoot and the iterate converges onto the decision
//!   boundary without crossing it: it misses examples that ours and ART fool, each miss sitting
//!   on the boundary (logit margin ≤ 1e-4 × the logit scale; measured ~1e-7), and its mean L2
//!   is still within the factor 1.25 of ours (measured: 0.3 %).
//! * CW-L2, where this soundproof-tools has it (`--attack cw-l2`), with one value of c
//!   (torchattacks' CW has no search over c): the same objective in the same tanh variable of
//!   the box (torchattacks' c is divided by the box width squared to stay ours in dB units, see
//!   the script), but the early aborts differ (torchattacks' on the batch's total loss, ours per
//!   example), so: fooling rates within one example and mean L2 within a factor 1.25 (measured:
//!   0.3 % apart).
//!
//! Our side runs through the CLI (`soundproof-tools attack`, the binary of this package), as
//! benches/run_attack_bench.sh runs it. One thread on both sides (libtorch's thread pools
//! degrade badly when other jobs share the cores). Skipped, with a message, where FSDD is absent. Needs the reference venv's torch,
//! torchattacks and ART (scripts/setup.sh, scripts/tools.sh).

use serde_json::Value;
use soundproof::dsp::{FeatureConfig, FeatureKind};
use soundproof_tools::attack::{AttackTarget, Domain};
use soundproof_tools::checkpoint::Checkpoint;
use soundproof_tools::data::features::Featurizer;
use soundproof_tools::data::{fsdd, load_window};
use soundproof::window::ClipWindow;
use soundproof::dataset::evenly;
use soundproof_tools::nn::{Arch, Model, ModelSpec};
use soundproof_tools::onnx::testing::{python, workspace_root};
use std::path::{Path, PathBuf};
use std::process::Command;
use tch::{nn, Device, Kind, Tensor};

const CLIPS: usize = 8;
/// CW-L2's constant c (dB² of distance per logit of margin) and Adam's rate for this model and
/// these maps: 2 of the 8 examples flip, after 50-100 iterations (larger rates stop both sides
/// at the first early-abort check).
const CW_C: &str = "1000";
const CW_LR: &str = "0.001";
const WINDOW: usize = 16_000;

fn scratch() -> PathBuf {
    let d = workspace_root().join("target").join("test-scratch").join("attack_anchor");
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch folder");
    d
}

fn checkpoint(spec: &ModelSpec, features: FeatureConfig) -> Checkpoint {
    Checkpoint {
        spec: spec.clone(),
        features: Some(features),
        sample_rate: 16_000,
        window_samples: WINDOW,
        hop_samples: WINDOW / 4,
        target_rms: 1.0,
        calibration_gain: 1.0,
        labels: (0..spec.n_classes).map(|i| format!("c{i}")).collect(),
        dataset: "test".into(),
        split: "test".into(),
        noise_sigma: 0.0,
        epochs_run: 0,
        seed: 11,
        command: "test".into(),
        training_seconds: 0.0,
        validation_accuracy: 0.0,
        test_accuracy: 0.0,
        test_examples: 0,
        macs: 0,
        parameters: 0,
    }
}

/// The clean log-mel maps `[N, 1, frames, bins]` of `paths`, as `run_on_clips` computes them.
fn maps(paths: &[PathBuf], features: &FeatureConfig) -> Tensor {
    let pipeline = ClipWindow { sample_rate: 16_000, window_samples: WINDOW, target_rms: 1.0, calibration_gain: None };
    let mut f = Featurizer::new(features, WINDOW).expect("featurizer");
    let mut buf = Vec::new();
    for p in paths {
        let (x, _) = load_window(&pipeline, p).expect("clip");
        let start = buf.len();
        buf.resize(start + f.frames() * f.bins(), 0.0);
        f.compute(&x, &mut buf[start..]).expect("features");
    }
    Tensor::from_slice(&buf).reshape([paths.len() as i64, 1, f.frames() as i64, f.bins() as i64])
}

fn anchor(args: &[&str]) -> String {
    let script = workspace_root().join("benches").join("attack_anchor.py");
    let out = Command::new(python())
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("starting {} (set SOUNDPROOF_PYTHON): {e}", python().display()));
    assert!(
        out.status.success(),
        "{} {args:?} failed (the reference venv needs torch and torchattacks: scripts/setup.sh, scripts/tools.sh):\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn f(v: &Value, path: &[&str]) -> f64 {
    path.iter().fold(v, |v, k| &v[*k]).as_f64().unwrap_or_else(|| panic!("no number at {path:?} in {v}"))
}

#[test]
fn attacks_agree_with_torchattacks_and_art() {
    let recordings = workspace_root().join("../shared/data/fsdd/recordings");
    assert!(recordings.is_dir(), "no FSDD at {} (../shared/data beside the repository)", recordings.display());
    tch::set_num_threads(1);
    let dir = scratch();
    let ck_dir = dir.join("checkpoint");
    std::fs::create_dir_all(&ck_dir).unwrap();
    let examples = evenly(&fsdd::index(&recordings).unwrap().test, CLIPS);
    let paths: Vec<PathBuf> = examples.iter().map(|e| e.path.clone()).collect();
    let features = FeatureConfig::new(FeatureKind::Logmel);
    let x = maps(&paths, &features);
    let spec = ModelSpec { arch: Arch::KwsCnn, n_classes: 10, input_shape: x.size()[1..].to_vec(), width: 0.25, sample_rate: 16_000, folded: false };
    tch::manual_seed(11);
    let vs = nn::VarStore::new(Device::Cpu);
    let model = Model::new(&vs.root(), &spec).unwrap();
    // Batch-norm running statistics towards these inputs' (momentum 0.1: 1 - 0.9^30 = 96 %).
    tch::no_grad(|| {
        for _ in 0..30 {
            let _ = model.forward_t(&x, true);
        }
    });
    vs.save(Checkpoint::weights(&ck_dir)).unwrap();
    checkpoint(&spec, features).save(&ck_dir).unwrap();

    // Our side through the CLI, as benches/run_attack_bench.sh runs it (WAV inputs: labels
    // unknown, the clean prediction is the reference).
    let tools = env!("CARGO_BIN_EXE_soundproof-tools");
    let help = String::from_utf8_lossy(&Command::new(tools).args(["attack", "--help"]).output().expect("soundproof-tools").stdout).into_owned();
    let mut runs: Vec<(&str, Vec<&str>, u64)> = vec![
        ("fgsm", vec!["--attack", "fgsm", "--eps", "0.5"], 1),
        ("bim-b", vec!["--attack", "bim-b", "--eps", "0.5", "--alpha", "0.125", "--steps", "10"], 10),
        ("deepfool", vec!["--attack", "deepfool", "--steps", "50"], 0),
    ];
    if help.contains("cw-l2") {
        // One value of c (torchattacks' CW has no search over c).
        runs.push(("cw-l2", vec!["--attack", "cw-l2", "--steps", "100", "--c-init", CW_C, "--confidence", "0", "--search-steps", "1", "--lr", CW_LR], 0));
    } else {
        eprintln!("no cw-l2 in this soundproof-tools: CW-L2 not compared");
    }
    let mut folders = Vec::new();
    for (name, args, _) in &runs {
        let out = dir.join(name);
        let status = Command::new(tools)
            .args(["attack", "--checkpoint", s(&ck_dir), "--domain", "features", "--batch-size", "4", "--device", "cpu", "--threads", "1", "--json"])
            .args(args)
            .args(["--out", s(&out)])
            .args(paths.iter().map(|p| s(p)))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("soundproof-tools attack");
        assert!(status.success(), "soundproof-tools attack {args:?} failed");
        folders.push(out);
    }

    // The twin against tch on the clean maps (the maps our run wrote are the ones we computed).
    let logits_path = dir.join("twin_logits.npy");
    anchor(&["logits", "--checkpoint", s(&ck_dir), "--out", s(&logits_path), s(&folders[0])]);
    let twin = soundproof::npy::read(&logits_path).unwrap();
    let (target, _) = AttackTarget::from_checkpoint(&ck_dir, Domain::Features, Device::Cpu).unwrap();
    let ours = Vec::<f64>::try_from(target.logits(&x).to_kind(Kind::Double).flatten(0, -1)).unwrap();
    assert_eq!(twin.shape, vec![CLIPS, 10]);
    let scale = ours.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let diff = ours.iter().zip(&twin.data).fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    eprintln!("twin vs tch: max |logit diff| {diff:.2e} (logits up to {scale:.2})");
    assert!(diff <= 1e-4 * scale.max(1.0), "twin logits differ from tch by {diff}");

    let json_path = dir.join("anchor.json");
    let mut args = vec!["compare", "--checkpoint", s(&ck_dir), "--threads", "1", "--batch-size", "4", "--json", s(&json_path)];
    args.extend(folders.iter().map(|p| s(p)));
    eprint!("{}", anchor(&args));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let rows = report["rows"].as_array().unwrap();
    let anchors: Vec<(&str, &str)> = rows.iter().map(|r| (r["attack"].as_str().unwrap(), r["anchor"].as_str().unwrap())).collect();
    let mut expect = vec![("fgsm", "torchattacks"), ("bim-b", "torchattacks"), ("deepfool", "torchattacks"), ("deepfool", "art")];
    if runs.len() == 4 {
        expect.push(("cw-l2", "torchattacks"));
    }
    assert_eq!(anchors, expect);
    for row in rows {
        let (name, lib) = (row["attack"].as_str().unwrap(), row["anchor"].as_str().unwrap());
        let steps = runs.iter().find(|r| r.0 == name).unwrap().2;
        let n = row["examples"].as_u64().unwrap() as f64;
        let (ours_rate, theirs_rate) = (f(row, &["ours", "fooling_rate"]), f(row, &["theirs", "fooling_rate"]));
        let (ours_l2, theirs_l2) = (f(row, &["ours", "mean_l2"]), f(row, &["theirs", "mean_l2"]));
        let agree = &row["agreement"];
        assert_eq!(f(agree, &["clean_prediction_agrees"]), n, "{name}: the twin predicts otherwise on clean maps");
        assert_eq!(f(row, &["counted"]), n);
        match (name, lib) {
            ("fgsm" | "bim-b", _) => {
                assert!(f(agree, &["median_rel_adv_diff"]) <= 1e-3, "{name}: adversarial maps differ: {agree}");
                assert_eq!(f(agree, &["success_agrees"]), n, "{name}: {row}");
                assert!((ours_l2 / theirs_l2 - 1.0).abs() <= 0.01, "{name}: mean L2 {ours_l2} vs {theirs_l2}");
                assert_eq!(f(row, &["theirs", "gradients"]), n * steps as f64, "{name}: torchattacks' gradients");
                assert_eq!(f(row, &["ours", "gradients"]), n * steps as f64, "{name}: our gradients");
                // Neither saturated, or the agreement says little.
                assert!(ours_rate > 0.0 && ours_rate < 1.0, "{name}: pick ε so that some but not all examples flip ({ours_rate})");
            }
            ("deepfool", "art") | ("cw-l2", _) => {
                assert!((ours_rate - theirs_rate).abs() <= 1.0 / n + 1e-9, "{name} vs {lib}: fooling rate {ours_rate} vs {theirs_rate}");
                assert!(ours_l2 / theirs_l2 <= 1.25 && theirs_l2 / ours_l2 <= 1.25, "{name} vs {lib}: mean L2 {ours_l2} vs {theirs_l2}");
            }
            ("deepfool", "torchattacks") => {
                assert!(ours_rate >= theirs_rate, "{name} vs {lib}: fooling rate {ours_rate} vs {theirs_rate}");
                if theirs_rate < 1.0 {
                    let m = f(agree, &["max_failure_margin"]);
                    assert!(m.abs() <= 1e-4 * f(agree, &["logit_scale"]), "{name} vs {lib}: a miss off the boundary, margin {m}");
                }
                assert!(ours_l2 / theirs_l2 <= 1.25 && theirs_l2 / ours_l2 <= 1.25, "{name} vs {lib}: mean L2 {ours_l2} vs {theirs_l2}");
            }
            _ => panic!("unexpected row {name} / {lib}"),
        }
    }
}

//! `soundproof classify` and `soundproof demo` end to end, on the linear test classifier
//! (`soundproof_tests::toy`): labels from FSDD names, accuracy and confusion in the JSON
//! report, folders / globs / `--split`, the streaming path agreeing with the batch path, the
//! demo's live lines and heard sequence, and clear errors.

use soundproof_tests::{fsdd, soundproof_bin, toy::model_path};
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(soundproof_bin()).args(args).output().expect("run soundproof")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "soundproof {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn classify_scores_fsdd_test_takes() {
    let model = model_path().to_str().unwrap().to_string();
    let pattern = fsdd().join("[0-9]_theo_*.wav");
    let j = ok(&["classify", "--model", &model, "--split", "test", "--json", pattern.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_str(&j).expect("json");
    assert_eq!(v["scored"], 50, "10 digits × 5 test takes of one speaker");
    let confusion = v["confusion"].as_array().unwrap();
    let total: u64 = confusion.iter().flat_map(|r| r.as_array().unwrap()).map(|x| x.as_u64().unwrap()).sum();
    assert_eq!(total, 50);
    let acc = v["accuracy"].as_f64().unwrap();
    let diag: u64 = (0..10).map(|k| confusion[k][k].as_u64().unwrap()).sum();
    assert!((acc - diag as f64 / 50.0).abs() < 1e-12, "accuracy is the confusion diagonal");
    for f in v["files"].as_array().unwrap() {
        let truth = f["truth"].as_str().unwrap();
        let name = f["path"].as_str().unwrap().rsplit('/').next().unwrap();
        assert_eq!(&name[..1], truth, "label read from the FSDD name");
    }
}

#[test]
fn streaming_classify_equals_batch_classify() {
    let model = model_path().to_str().unwrap().to_string();
    let files: Vec<String> =
        ["0_george_1.wav", "5_nicolas_2.wav", "9_yweweler_0.wav"].iter().map(|n| fsdd().join(n).display().to_string()).collect();
    let mut args = vec!["classify", "--model", &model, "--json", "--windows"];
    args.extend(files.iter().map(String::as_str));
    let batch: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    args.push("--streaming");
    let stream: serde_json::Value = serde_json::from_str(&ok(&args)).unwrap();
    for (b, s) in batch["files"].as_array().unwrap().iter().zip(stream["files"].as_array().unwrap()) {
        assert_eq!(b["label"], s["label"]);
        let (bw, sw) = (b["windows"].as_array().unwrap(), s["windows"].as_array().unwrap());
        assert_eq!(bw.len(), sw.len());
        for (x, y) in bw.iter().zip(sw) {
            assert_eq!(x["label"], y["label"]);
        }
    }
}

#[test]
fn demo_prints_windows_and_the_heard_sequence() {
    let model = model_path().to_str().unwrap().to_string();
    let out = ok(&["demo", "--model", &model, "--fast", "--gain", "20"]);
    assert!(out.contains("soundproof demo"), "{out}");
    let lines = out.lines().filter(|l| l.contains('[') && l.contains(" s ")).count();
    assert!(lines >= 30, "a line per 0.25 s window over ~10.5 s of audio: {lines}\n{out}");
    assert!(out.contains("heard:"), "{out}");
    assert!(out.contains("windows, 0 dropped"), "{out}");
}

#[test]
fn classify_errors_are_clear() {
    let model = model_path().to_str().unwrap().to_string();
    for (args, needle) in [
        (vec!["classify", "--model", "/nonexistent/m.onnx", "x.wav"], "m.onnx"),
        (vec!["classify", "--model", model.as_str(), "/nonexistent/dir/"], "no such file"),
        (vec!["classify", "--model", model.as_str(), "--gain=-3", "x.wav"], "--gain"),
        (vec!["demo", "--model", "/nonexistent/m.onnx"], "model not found"),
    ] {
        let o = run(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success() && err.contains(needle) && !err.contains("panicked"), "{args:?}: {err}");
    }
    // A missing input is the only thing `demo` says: no header, no window printed first.
    let o = run(&["demo", "--model", model.as_str(), "--input", "/nonexistent/MISSING.wav", "--fast"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && err.contains("MISSING.wav") && !err.contains("panicked"), "{err}");
    assert!(o.stdout.is_empty(), "demo printed before the error: {}", String::from_utf8_lossy(&o.stdout));
}

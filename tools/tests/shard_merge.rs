//! `soundproof-tools eval` and `audit` with `--shard i/N` (and `auto/N` from a Kubernetes
//! Indexed Job's JOB_COMPLETION_INDEX), merged by `soundproof-tools merge`: the merged report
//! equals the unsharded run's apart from the timing lines, and eval's confusion-matrix PNG is the
//! same file; a missing shard is named. (`attack` is checked the same way on a real Slurm by
//! scripts/slurm/test-slurm.sh.)

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn data() -> PathBuf {
    root().join("../shared/data")
}

fn scratch(name: &str) -> PathBuf {
    let d = root().join("target").join("test-scratch").join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("create scratch folder");
    d
}

fn tools(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_soundproof-tools"));
    c.args(args).env_remove("SLURM_ARRAY_TASK_ID").env_remove("JOB_COMPLETION_INDEX");
    c.envs(env.iter().copied());
    c.output().expect("run soundproof-tools")
}

fn ok(args: &[&str], env: &[(&str, &str)]) {
    let o = tools(args, env);
    assert!(o.status.success(), "soundproof-tools {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
}

fn untimed(p: &Path) -> String {
    let text = std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !["\"seconds\": ", "\"inference_seconds\": ", "\"windows_per_s\": "].iter().any(|k| t.starts_with(k))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn eval_shards_merge_to_the_unsharded_evaluation() {
    let dir = scratch("tools_shard_eval");
    let model = root().join("models/kws-fsdd-rt.onnx");
    let d = data();
    // Noise on (σ > 0): each clip's noise is seeded by its index in the whole run, so the
    // shards must see the same noise as the unsharded run.
    let base = ["eval", "--model", s(&model), "--dataset", "fsdd", "--data-dir", s(&d), "--max-clips", "30", "--batch-size", "4", "--sigma", "0.05", "--seed", "3", "--no-record"];
    let whole = dir.join("whole");
    ok(&[&base[..], &["--out", s(&whole)]].concat(), &[]);
    let run = dir.join("run");
    for i in 0..3 {
        let idx = i.to_string();
        ok(&[&base[..], &["--out", s(&run), "--shard", "auto/3"]].concat(), &[("JOB_COMPLETION_INDEX", idx.as_str())]);
    }
    let shards: Vec<PathBuf> = (0..3).map(|i| run.join(format!("shard-{i}-of-3"))).collect();
    let merged = dir.join("merged");
    let mut args = vec!["merge", "--out", s(&merged)];
    args.extend(shards.iter().rev().map(|p| s(p)));
    ok(&args, &[]);
    assert_eq!(untimed(&whole.join("eval.json")), untimed(&merged.join("eval.json")));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(merged.join("eval.json")).unwrap()).unwrap();
    assert_eq!(v["examples"], 30);
    let png = |d: &Path| std::fs::read(d.join("kws-fsdd-rt-test-confusion.png")).expect("confusion PNG");
    assert_eq!(png(&whole), png(&merged), "the merged confusion matrix PNG differs");
    // Shard 1 missing: named.
    let o = tools(&["merge", "--out", s(&merged), s(&shards[0]), s(&shards[2])], &[]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("shard 1/3 is missing"), "{err}");
}

#[test]
fn audit_shards_merge_to_the_unsharded_audit() {
    let dir = scratch("tools_shard_audit");
    let d = data();
    // A seeded kws-cnn, one epoch on 32 clips: the checkpoint and its ONNX export.
    let ck = dir.join("ck");
    ok(&["train", "--model", "kws-cnn", "--dataset", "fsdd", "--data-dir", s(&d), "--epochs", "1", "--max-clips", "32", "--width", "0.25", "--batch-size", "16", "--seed", "5", "--device", "cpu", "--threads", "1", "--out", s(&ck), "--json"], &[]);
    let base = [
        "audit", "--checkpoint", s(&ck), "--dataset", "fsdd", "--data-dir", s(&d), "--max-clips", "5", "--sigma", "0.05", "--n0", "20", "--n", "100", "--alpha", "0.01",
        "--budgets", "0.5,3", "--steps", "3", "--noise-samples", "4", "--predict-n", "50", "--deepfool-steps", "5", "--device", "cpu", "--threads", "1",
    ];
    let whole = dir.join("whole");
    ok(&[&base[..], &["--out", s(&whole)]].concat(), &[]);
    let run = dir.join("run");
    for i in 0..2 {
        let spec = format!("{i}/2");
        ok(&[&base[..], &["--out", s(&run), "--shard", spec.as_str()]].concat(), &[]);
    }
    let merged = dir.join("merged");
    ok(&["merge", "--out", s(&merged), s(&run.join("shard-1-of-2")), s(&run.join("shard-0-of-2").join("audit.json"))], &[]);
    assert_eq!(untimed(&whole.join("audit.json")), untimed(&merged.join("audit.json")));
}

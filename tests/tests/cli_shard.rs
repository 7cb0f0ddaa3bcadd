//! Sharded `gain-sweep`, `diagnose` and `certify` (`--shard i/N`, `auto` from a Slurm array's
//! or a Kubernetes Indexed Job's environment) and `soundproof merge`: the merged JSON is the
//! unsharded run's, byte for byte apart from the timing lines, and so is the plot; a missing or
//! doubled shard, or one from another run, is refused with a message naming it. (The same on a
//! real Slurm, with job arrays and a dependent merge job: scripts/slurm/test-slurm.sh.)

use soundproof_tests::{fsdd, root, scratch, soundproof_bin};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn model() -> String {
    root().join("models/kws-fsdd-rt-int8.onnx").display().to_string()
}

fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(soundproof_bin());
    c.args(args);
    for k in ["SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_COUNT", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP", "JOB_COMPLETION_INDEX"] {
        c.env_remove(k);
    }
    c.envs(env.iter().copied());
    c.output().expect("run soundproof")
}

fn ok_env(args: &[&str], env: &[(&str, &str)]) -> String {
    let o = run_env(args, env);
    assert!(o.status.success(), "soundproof {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(args: &[&str]) -> String {
    ok_env(args, &[])
}

fn fail(args: &[&str]) -> String {
    let o = run_env(args, &[]);
    assert!(!o.status.success(), "soundproof {args:?} should have failed");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The file without its timing lines (serde_json pretty-prints one key per line).
fn untimed(p: &Path) -> String {
    let text = std::fs::read_to_string(p).expect("json file");
    assert!(text.ends_with("}\n"), "{} is not a whole JSON file", p.display());
    text.lines()
        .filter(|l| {
            let t = l.trim_start();
            !(t.starts_with("\"seconds\": ") || t.starts_with("\"mean_seconds_per_clip\": "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Runs `base` unsharded and as `n` shards (shard i through `shard_arg(i)` and its
/// environment), merges in a shuffled order; returns (unsharded, merged, shard files).
fn shard_and_merge(dir: &Path, base: &[&str], n: usize, plot: bool, shard_arg: impl Fn(usize) -> (String, Vec<(String, String)>)) -> (PathBuf, PathBuf, Vec<PathBuf>) {
    let whole = dir.join("whole.json");
    let whole_png = dir.join("whole.png");
    let mut args = base.to_vec();
    args.extend(["--json", s(&whole)]);
    if plot {
        args.extend(["--plot", s(&whole_png)]);
    }
    ok(&args);
    let mut parts = Vec::new();
    for i in 0..n {
        let p = dir.join(format!("shard-{i}.json"));
        let (spec, env) = shard_arg(i);
        let mut args = base.to_vec();
        args.extend(["--shard", spec.as_str(), "--json", s(&p)]);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        ok_env(&args, &env);
        parts.push(p);
    }
    let merged = dir.join("merged.json");
    let merged_png = dir.join("merged.png");
    let mut args = vec!["merge", "--json", s(&merged)];
    if plot {
        args.extend(["--plot", s(&merged_png)]);
    }
    // Any order: the last shard first.
    let mut order: Vec<&PathBuf> = parts.iter().collect();
    order.rotate_right(1);
    args.extend(order.iter().map(|p| s(p)));
    ok(&args);
    assert_eq!(untimed(&whole), untimed(&merged), "merged {} differs from the unsharded run", merged.display());
    if plot {
        assert_eq!(std::fs::read(&whole_png).unwrap(), std::fs::read(&merged_png).unwrap(), "the merged plot differs");
    }
    (whole, merged, parts)
}

#[test]
fn gain_sweep_shards_merge_to_the_unsharded_sweep() {
    let dir = scratch("cli_shard_sweep");
    let data = fsdd().display().to_string();
    let m = model();
    let base = ["gain-sweep", "--model", &m, "--gains-db=-6,0", "--n", "60", "--n0", "10", "--max-clips", "5", "--split", "test", &data];
    let (whole, _, _) = shard_and_merge(&dir, &base, 3, true, |i| (format!("{i}/3"), vec![]));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(whole).unwrap()).unwrap();
    assert_eq!(v["kind"], "gain-sweep");
    assert_eq!(v["inputs"]["count"], 5);
    for c in v["cells"].as_array().unwrap() {
        assert_eq!(c["records"].as_array().unwrap().len(), 5);
        assert_eq!(c["summary"]["clips"], 5);
    }
}

#[test]
fn diagnose_shards_from_a_kubernetes_index_merge_to_the_unsharded_tables() {
    let dir = scratch("cli_shard_diagnose");
    let data = fsdd().display().to_string();
    let m = model();
    let base = ["diagnose", "--model", &m, "--max-clips", "4", "--noise-samples", "10", "--n", "40", "--n0", "10", "--split", "test", &data];
    // `auto/2` with the index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job).
    let (whole, _, parts) = shard_and_merge(&dir, &base, 2, false, |i| ("auto/2".into(), vec![("JOB_COMPLETION_INDEX".into(), i.to_string())]));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(whole).unwrap()).unwrap();
    assert_eq!(v["table3"].as_array().unwrap().len(), 10);
    assert_eq!(v["table2"].as_array().unwrap().len(), 2);
    // A shard given twice is refused, naming it.
    let merged = dir.join("m.json");
    let err = fail(&["merge", "--json", s(&merged), s(&parts[0]), s(&parts[0]), s(&parts[1])]);
    assert!(err.contains("shard 0/2 is given twice"), "{err}");
}

#[test]
fn certify_shards_from_a_slurm_array_and_merge_checks() {
    let dir = scratch("cli_shard_certify");
    let data = fsdd().display().to_string();
    let m = model();
    let base = ["certify", "--model", &m, "--sigma", "0.005", "--n0", "10", "--n", "60", "--split", "test", "--max-clips", "7", "--quiet", "--dataset", &data];
    // `auto`: index and count from a Slurm array 0-3.
    let slurm = |i: usize| {
        let e = [("SLURM_ARRAY_TASK_ID", i.to_string()), ("SLURM_ARRAY_TASK_COUNT", "4".into()), ("SLURM_ARRAY_TASK_MIN", "0".into()), ("SLURM_ARRAY_TASK_MAX", "3".into())];
        ("auto".to_string(), e.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    };
    let (_, _, parts) = shard_and_merge(&dir, &base, 4, true, slurm);
    let merged = dir.join("m.json");
    // A missing shard is named; nothing is written.
    let err = fail(&["merge", "--json", s(&merged), s(&parts[0]), s(&parts[1]), s(&parts[3])]);
    assert!(err.contains("shard 2/4 is missing"), "{err}");
    assert!(!merged.exists());
    // A shard of another run (other σ) is refused.
    let other = dir.join("other.json");
    let mut args = base.to_vec();
    args[4] = "0.006";
    args.extend(["--shard", "2/4", "--json", s(&other)]);
    ok(&args);
    let err = fail(&["merge", "--json", s(&merged), s(&parts[0]), s(&parts[1]), s(&other), s(&parts[3])]);
    assert!(err.contains("not from the same run"), "{err}");
    // A shard cut from another listing (one clip fewer) is refused too.
    let fewer = dir.join("fewer.json");
    let mut args = base.to_vec();
    args[12] = "6";
    args.extend(["--shard", "2/4", "--json", s(&fewer)]);
    ok(&args);
    let err = fail(&["merge", "--json", s(&merged), s(&parts[0]), s(&parts[1]), s(&fewer), s(&parts[3])]);
    assert!(err.contains("not from the same run"), "{err}");
    // A file cut short (a killed writer without the temporary name) is not taken for a shard.
    let cut = dir.join("cut.json");
    let text = std::fs::read_to_string(&parts[2]).unwrap();
    std::fs::write(&cut, &text[..text.len() / 2]).unwrap();
    let err = fail(&["merge", "--json", s(&merged), s(&parts[0]), s(&parts[1]), s(&cut), s(&parts[3])]);
    assert!(err.contains("is not JSON"), "{err}");
    // A resubmitted shard (a Slurm array of that one task, `auto/4`) writes the same file.
    let again = dir.join("again.json");
    let mut args = base.to_vec();
    args.extend(["--shard", "auto/4", "--json", s(&again)]);
    let env = [("SLURM_ARRAY_TASK_ID", "2"), ("SLURM_ARRAY_TASK_COUNT", "1"), ("SLURM_ARRAY_TASK_MIN", "2"), ("SLURM_ARRAY_TASK_MAX", "2")];
    ok_env(&args, &env);
    assert_eq!(untimed(&again), untimed(&parts[2]));
    // `auto` on that partial array is refused with the way out.
    let o = run_env(&[&base[..], &["--shard", "auto", "--json", s(&again)]].concat(), &env);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("auto/N"), "{}", String::from_utf8_lossy(&o.stderr));
}

//! `soundproof-tools merge`: the reports of `attack`, `audit` or `eval` shards merged into the
//! unsharded run's.

use crate::attack::print_attack;
use crate::audit::print_audit;
use crate::eval::print_eval;
use anyhow::Context;
use clap::Args;
use soundproof_tools::shard::{gather_attack_files, merge_attack, merge_audit, merge_eval, write_json, Kind};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct MergeArgs {
    /// Shard reports (report.json, audit.json, eval.json) or the shard folders holding them.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Folder of the merged run.
    #[arg(long)]
    out: PathBuf,
}

pub fn run(a: MergeArgs) -> anyhow::Result<()> {
    let mut parts = Vec::new();
    let mut kind: Option<Kind> = None;
    for given in &a.shards {
        let file = if given.is_dir() {
            let found: Vec<PathBuf> = ["report.json", "audit.json", "eval.json"].iter().map(|n| given.join(n)).filter(|p| p.is_file()).collect();
            anyhow::ensure!(found.len() == 1, "{}: expected one of report.json, audit.json, eval.json in it, found {}", given.display(), found.len());
            found[0].clone()
        } else {
            given.clone()
        };
        let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
        let k = Kind::of(&v).with_context(|| format!("{}: not an attack, audit or eval report (certify, gain-sweep and diagnose shards merge with `soundproof merge`)", file.display()))?;
        if let Some(first) = kind {
            anyhow::ensure!(first == k, "{} is an {} report, {} an {} report: merge one run at a time", file.display(), k.name(), parts.first().map(|(f, _): &(PathBuf, serde_json::Value)| f.display().to_string()).unwrap_or_default(), first.name());
        }
        kind = Some(k);
        parts.push((file, v));
    }
    std::fs::create_dir_all(&a.out).with_context(|| format!("creating {}", a.out.display()))?;
    match kind {
        Some(Kind::Attack) => {
            let dirs: Vec<PathBuf> = parts.iter().map(|(f, _)| f.parent().map(Path::to_path_buf).unwrap_or_default()).collect();
            let report = merge_attack(parts)?;
            let mut files = 0;
            for d in &dirs {
                if d.canonicalize().ok() != a.out.canonicalize().ok() {
                    files += gather_attack_files(d, &a.out)?;
                }
            }
            write_json(&a.out.join("report.json"), &report)?;
            eprintln!("gathered {files} per-clip files into {}", a.out.display());
            print_attack(&report, false, &a.out)
        }
        Some(Kind::Audit) => {
            let report = merge_audit(parts)?;
            let path = a.out.join("audit.json");
            write_json(&path, &report)?;
            print_audit(&report, false, &path)
        }
        Some(Kind::Eval) => {
            let report = merge_eval(parts)?;
            write_json(&a.out.join("eval.json"), &report)?;
            let model = report.path.clone();
            print_eval(&report, false, &a.out, &model)
        }
        None => anyhow::bail!("nothing to merge"),
    }
}

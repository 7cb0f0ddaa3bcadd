//! `soundproof-tools audit`: certify clips in the engine, then attack the smoothed classifier
//! inside and outside the certified radius.

use crate::common::{parse_shard, OptionalDataArgs};
use anyhow::Context;
use clap::Args;
use soundproof_tools::data::Split;
use soundproof_tools::device::DeviceChoice;
use soundproof::dataset::evenly;
use soundproof_tools::shard::{shard_dir, write_json};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct AuditArgs {
    /// The model: a checkpoint folder written by `train`, or a shipped f32 model's .onnx file
    /// with its checkpoint beside it (`models/kws-fsdd.onnx`), attacked through tch.
    #[arg(long, alias = "model")]
    checkpoint: PathBuf,
    /// The same model as ONNX, certified in tract (default: --checkpoint when it is an .onnx
    /// file, else the one .onnx file in the checkpoint folder, as `train` writes it).
    #[arg(long)]
    onnx: Option<PathBuf>,
    /// Smoothing contract (003 §4): waveform or post:fixed (noise and attack on the
    /// gain-normalized waveform) or feature (noise and attack on the log-mel map).
    #[arg(long, default_value = "waveform")]
    contract: String,
    /// Noise standard deviation σ of the smoothed classifier, certified and attacked, in the
    /// units of the perturbed space (waveform after the gain, or dB for the feature contract).
    #[arg(long, default_value_t = 0.005)]
    sigma: f64,
    /// CERTIFY's selection samples (the guess of the top class).
    #[arg(long, default_value_t = 100)]
    n0: u64,
    /// CERTIFY's estimation samples (the bound on the top class's probability, hence R).
    #[arg(long, default_value_t = 1000)]
    n: u64,
    /// Failure probability α of the certificates and of PREDICT at the attacked points.
    #[arg(long, default_value_t = 0.001)]
    alpha: f64,
    /// Seed of the certification noise and of the attack's noise samples.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Attack budgets ε as multiples of each clip's certified radius R (below 1: inside the
    /// certificate; above 1: outside it, to show the attack's strength).
    #[arg(long, value_delimiter = ',', default_value = "0.5,0.99,3,10,30")]
    budgets: Vec<f64>,
    /// PGD steps on the smoothed classifier.
    #[arg(long, default_value_t = 40)]
    steps: usize,
    /// Noise samples per PGD step.
    #[arg(long, default_value_t = 16)]
    noise_samples: usize,
    /// PREDICT samples at each attacked point.
    #[arg(long, default_value_t = 1000)]
    predict_n: u64,
    /// DeepFool iterations for the base model's cheapest attack.
    #[arg(long, default_value_t = 50)]
    deepfool_steps: usize,
    /// `--dataset fsdd|esc10|DIR`, `--data-dir`, `--fold`, `--val-fold`.
    #[command(flatten)]
    data: OptionalDataArgs,
    /// Split of the dataset whose clips are audited.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// At most this many clips (evenly spaced through the split).
    #[arg(long, default_value_t = 20)]
    max_clips: usize,
    /// `i/N`: this task's share of the clips (clips i, i + N, …), written into
    /// OUT/shard-I-of-N/; `auto`: i and N from a Slurm job array; `auto/N`: i from
    /// SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX. Combine with `soundproof-tools merge`.
    #[arg(long)]
    shard: Option<String>,
    /// Output folder: audit.json.
    #[arg(long)]
    out: PathBuf,
    /// Where libtorch runs the model and the attacks (certification runs in tract on the CPU).
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// libtorch CPU threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON on stdout (no progress bar).
    #[arg(long)]
    json: bool,
}

pub fn run(a: AuditArgs) -> anyhow::Result<()> {
    use soundproof_tools::attack::audit::{run_audit, AuditClip, AuditConfig, SmoothedAttack};
    let ck = soundproof_tools::checkpoint::Checkpoint::load(&a.checkpoint).with_context(|| format!("loading {}", a.checkpoint.display()))?;
    let onnx = match &a.onnx {
        Some(p) => p.clone(),
        None if soundproof_tools::checkpoint::is_onnx(&a.checkpoint) => a.checkpoint.clone(),
        None => {
            let found: Vec<PathBuf> = std::fs::read_dir(&a.checkpoint)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "onnx"))
                .collect();
            anyhow::ensure!(found.len() == 1, "{} holds {} .onnx files: name the model with --onnx", a.checkpoint.display(), found.len());
            found[0].clone()
        }
    };
    let index = a.data.spec(a.data.dataset.as_deref().unwrap_or(&ck.dataset)).index()?;
    let shard = parse_shard(a.shard.as_deref())?;
    let all = evenly(index.split(a.split), a.max_clips);
    let inputs = soundproof::smooth::report::RunInputs::of_paths(&all.iter().map(|e| e.path.clone()).collect::<Vec<_>>());
    let clips: Vec<AuditClip> = shard
        .pick(&all, 1)
        .into_iter()
        .map(|e| {
            let samples = ck.clip_window().read(&e.path).with_context(|| format!("reading {}", e.path.display()))?;
            Ok(AuditClip { path: e.path, samples, truth: Some(e.label as i64) })
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!clips.is_empty(), "no clips in that split");
    let device = soundproof_tools::device::resolve(a.device)?;
    if let Some(n) = a.threads {
        tch::set_num_threads(n as i32);
    }
    let cfg = AuditConfig {
        contract: a.contract.clone(),
        sigma: a.sigma,
        n0: a.n0,
        n: a.n,
        alpha: a.alpha,
        seed: a.seed,
        budgets: a.budgets.clone(),
        attack: SmoothedAttack { sigma: a.sigma, steps: a.steps, noise_samples: a.noise_samples },
        predict_n: a.predict_n,
        deepfool_steps: a.deepfool_steps,
    };
    let bar = indicatif::ProgressBar::new(clips.len() as u64);
    if a.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let mut report = run_audit(&a.checkpoint, &onnx, &clips, &cfg, device, |_| bar.inc(1)).with_context(|| format!("auditing {}", onnx.display()))?;
    bar.finish_and_clear();
    report.shard = shard.pair();
    report.inputs = inputs;
    let out = shard_dir(&a.out, shard);
    std::fs::create_dir_all(&out)?;
    let path = out.join("audit.json");
    write_json(&path, &report)?;
    print_audit(&report, a.json, &path)
}

/// The table of an audit report (or its JSON) on stdout.
pub(crate) fn print_audit(report: &soundproof_tools::attack::audit::AuditReport, json: bool, path: &Path) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let c = &report.config;
    println!(
        "{} ({} contract, σ = {}, n = {}, α = {}): {} of {} clips certified, median R = {}",
        report.onnx.display(), c.contract, c.sigma, c.n, c.alpha, report.certified, report.clips,
        report.median_radius.map_or("-".into(), |r| format!("{r:.4}"))
    );
    println!("attack on the smoothed classifier: PGD-L2, {} steps × {} noise samples; judged by PREDICT with n = {}", c.attack.steps, c.attack.noise_samples, c.predict_n);
    println!("{:>10} {:>9} {:>8} {:>10} {:>10} {:>12}", "budget/R", "attacked", "flipped", "abstained", "flip rate", "base fooled");
    for b in &report.summary {
        println!("{:>10} {:>9} {:>8} {:>10} {:>9.1}% {:>12}", b.multiple, b.attacked, b.flipped, b.abstained, 100.0 * b.flip_rate, b.base_fooled);
    }
    if let (Some(m), Some(lo)) = (report.median_base_min_over_radius, report.min_base_min_over_radius) {
        println!("base model's cheapest attack (DeepFool L2) / R: median {m:.1}, smallest {lo:.2}");
    }
    println!("wrote {}", path.display());
    Ok(())
}

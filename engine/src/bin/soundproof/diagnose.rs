//! `soundproof diagnose` (003 Tables 2 and 3 on our data) and `soundproof gain-sweep` (003
//! failure mode 2: what a microphone gain change does to certificates under each policy).

use std::io::IsTerminal;
use anyhow::{Context, Result};
use clap::Args;
use soundproof::dataset::{match_label, LabelReader};
use soundproof::model::Model;
use soundproof::shard::Shard;
use soundproof::smooth::report::{default_thresholds, LoadedClip, RunInputs};
use soundproof::smooth::runs::{DiagnoseRun, DiagnoseSettings, GainSweepRun};
use soundproof::smooth::{Contract, Smoother};
use std::path::PathBuf;

use crate::certify::{files_of, parse_shard, write_json, SamplingArgs};

#[derive(Args)]
pub struct DiagnoseArgs {
    #[arg(long)]
    model: PathBuf,
    /// σ of Table 3 and of the clip-vs-waveform row of Table 2 (003: 0.0025).
    #[arg(long, default_value_t = 0.0025)]
    sigma: f64,
    /// σ of the log-mel-vs-waveform row of Table 2 (003: 0.02), used for both spaces as in 003.
    #[arg(long, default_value_t = 0.02)]
    sigma_representation: f64,
    /// Noise draws per clip for Table 3.
    #[arg(long, default_value_t = 100)]
    noise_samples: u64,
    /// CERTIFY's n for the Table 2 runs.
    #[arg(long, default_value_t = 1000)]
    n: u64,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Clips (evenly spaced over the sorted list).
    #[arg(long, default_value_t = 20)]
    max_clips: usize,
    #[arg(long, value_parser = ["test", "train"])]
    split: Option<String>,
    /// Table 3 only (no certification runs).
    #[arg(long)]
    geometry_only: bool,
    /// `i/N`, `auto` or `auto/N`: this task's share of the clips (see `certify --shard`).
    #[arg(long)]
    shard: Option<String>,
    #[arg(long)]
    json: Option<PathBuf>,
    /// Dataset folders, files or globs.
    #[arg(required = true)]
    inputs: Vec<String>,
}

#[derive(Args)]
pub struct GainSweepArgs {
    #[arg(long)]
    model: PathBuf,
    /// Microphone gain changes, dB (comma-separated).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_value = "-20,-10,0,10,20")]
    gains_db: Vec<f64>,
    /// Gain policies: fixed (s calibrated at 0 dB) and/or rms (s from each recording).
    #[arg(long, value_delimiter = ',', default_value = "fixed,rms")]
    policies: Vec<soundproof::smooth::experiments::SweepPolicy>,
    #[arg(long, default_value_t = 0.005)]
    sigma: f64,
    #[arg(long, default_value_t = 500)]
    n: u64,
    #[command(flatten)]
    sampling: SamplingArgs,
    #[arg(long, default_value_t = 10)]
    max_clips: usize,
    #[arg(long, value_parser = ["test", "train"])]
    split: Option<String>,
    /// `i/N`, `auto` or `auto/N`: this task's share of the clips (see `certify --shard`).
    #[arg(long)]
    shard: Option<String>,
    #[arg(long)]
    json: Option<PathBuf>,
    /// PNG: median SNR_cert and certified accuracy against the gain, per policy.
    #[arg(long)]
    plot: Option<PathBuf>,
    #[arg(required = true)]
    inputs: Vec<String>,
}

/// The clips of a run (`max` evenly spaced over the sorted list), this shard's loaded; and the
/// whole run's inputs.
fn load_clips(model: &Model, inputs: &[String], split: Option<&str>, max: usize, shard: Shard) -> Result<(Vec<LoadedClip>, RunInputs)> {
    let all = files_of(inputs, None, split, Some(max))?;
    let run_inputs = RunInputs::of_paths(&all);
    let window = soundproof::window::ClipWindow::of(model.card());
    let labels = model.labels().to_vec();
    let mut reader = LabelReader::default();
    let clips = shard
        .pick(&all, 1)
        .into_iter()
        .map(|path| {
            let samples = window.read(&path).with_context(|| format!("reading {}", path.display()))?;
            let truth = reader.label(&path);
            let truth_index = truth.as_deref().and_then(|t| match_label(t, &labels));
            Ok(LoadedClip { path, samples, truth, truth_index })
        })
        .collect::<Result<_>>()?;
    Ok((clips, run_inputs))
}

pub fn diagnose(a: DiagnoseArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let shard = parse_shard(a.shard.as_deref())?;
    let (clips, inputs) = load_clips(&model, &a.inputs, a.split.as_deref(), a.max_clips, shard)?;
    let settings = DiagnoseSettings {
        sigma: a.sigma,
        sigma_representation: a.sigma_representation,
        noise_samples: a.noise_samples,
        n0: a.sampling.n0,
        n: a.n,
        alpha: a.sampling.alpha,
        seed: a.sampling.seed,
        geometry_only: a.geometry_only,
    };
    let total = clips.len();
    let run = DiagnoseRun::run(&model, &clips, &settings, shard, inputs, |k| {
        if k == total || k % total.div_ceil(10).max(1) == 0 || std::io::stderr().is_terminal() {
            progress(&format!("diagnose: clip {k}/{total}"))
        }
    })?;
    end_progress();
    print_diagnose(&run);
    if let Some(p) = &a.json {
        write_json(p, &run)?;
    }
    Ok(())
}

/// Tables 3 and 2 of a diagnose run.
pub fn print_diagnose(run: &DiagnoseRun) {
    let s = &run.settings;
    let shard = if run.shard[1] > 1 { format!(", shard {}/{}", run.shard[0], run.shard[1]) } else { String::new() };
    println!("Table 3: perturbation geometry at σ = {} ({} clips × {} noise draws; {}{shard}), Δ = T(x+ε) − x", s.sigma, run.clips.len(), s.noise_samples, run.model);
    println!("{:<10} {:>14} {:>14}   level", "T", "D_geom", "eff. ratio");
    for r in &run.table3 {
        println!("{:<10} {:>14.4e} {:>14.6}   {}", r.transform, r.d_geom, r.effective_ratio, r.level);
    }
    if s.geometry_only {
        return;
    }
    println!();
    println!("Table 2: positive-radius certified accuracy (n0 = {}, n = {}, α = {}, {} clips)", s.n0, s.n, s.alpha, run.clips.len());
    let pct = |v: Option<f64>| v.map(|x| format!("{:.2} %", 100.0 * x)).unwrap_or_else(|| "—".into());
    for r in &run.table2 {
        println!("{:<34} {} {} vs {} {}", r.diagnostic, r.a, pct(r.a_certified_accuracy), r.b, pct(r.b_certified_accuracy));
    }
    println!("(the feature certificate is over the log-mel tensor in dB, the others over the waveform: not comparable as robustness)");
}

pub fn gain_sweep_cmd(a: GainSweepArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let shard = parse_shard(a.shard.as_deref())?;
    let (clips, inputs) = load_clips(&model, &a.inputs, a.split.as_deref(), a.max_clips, shard)?;
    let params = a.sampling.params(a.sigma, a.n);
    let mut s = Smoother::new(&model, Contract::Waveform, params)?;
    let thresholds = default_thresholds(a.sigma);
    let run = GainSweepRun::run(&mut s, &clips, &a.gains_db, &a.policies, &thresholds, shard, inputs, |db, p| progress(&format!("gain {db:+} dB, policy {p}")))?;
    end_progress();
    print_sweep(&run);
    if let Some(p) = &a.json {
        write_json(p, &run)?;
    }
    if let Some(p) = &a.plot {
        plot_sweep(&run, p)?;
    }
    Ok(())
}

/// The table of a gain sweep.
pub fn print_sweep(run: &GainSweepRun) {
    let clips = run.cells.first().map(|c| c.summary.clips).unwrap_or(0);
    println!(
        "gain sweep: {} · {} contract · σ = {} · n0 = {} · n = {} · α = {} · {} clips{}",
        run.model,
        run.contract,
        run.sigma,
        run.n0,
        run.n,
        run.alpha,
        clips,
        if run.shard[1] > 1 { format!(" · shard {}/{}", run.shard[0], run.shard[1]) } else { String::new() }
    );
    println!("{:>8} {:>7} {:>10} {:>10} {:>12} {:>14}", "gain dB", "policy", "clean acc", "cert acc", "median R", "median SNR_cert");
    let pct = |v: Option<f64>| v.map(|x| format!("{:.1} %", 100.0 * x)).unwrap_or_else(|| "—".into());
    for c in &run.cells {
        let s = &c.summary;
        println!(
            "{:>+8.1} {:>7} {:>10} {:>10} {:>12} {:>14}",
            c.gain_db,
            c.policy,
            pct(s.clean_accuracy),
            pct(s.certified_accuracy),
            s.median_radius.map(|r| format!("{r:.5}")).unwrap_or_else(|| "—".into()),
            s.median_snr_cert_db.map(|r| format!("{r:.2} dB")).unwrap_or_else(|| "—".into())
        );
    }
}

/// Median SNR_cert against the microphone gain, per policy.
pub fn plot_sweep(run: &GainSweepRun, p: &std::path::Path) -> Result<()> {
    let mut series = Vec::new();
    for policy in &run.policies {
        let pts: Vec<(f64, f64)> = run.cells.iter().filter(|c| &c.policy == policy).map(|c| (c.gain_db, c.summary.median_snr_cert_db.unwrap_or(f64::NAN))).collect();
        series.push((format!("{policy}: median SNR_cert (dB)"), pts));
    }
    let title = format!("{}: median SNR_cert against microphone gain (σ = {})", run.model, run.sigma);
    crate::plot::lines(&series, &title, "microphone gain change (dB)", "median SNR_cert (dB)", p)?;
    eprintln!("wrote {}", p.display());
    Ok(())
}

/// A progress line on stderr: rewritten in place on a terminal, one line each otherwise (a log
/// file or CI output would run them together).
fn progress(msg: &str) {
    if std::io::stderr().is_terminal() {
        eprint!("\r{msg}   ");
    } else {
        eprintln!("{msg}");
    }
}

fn end_progress() {
    if std::io::stderr().is_terminal() {
        eprint!("\r");
    }
}

//! `soundproof certify` and `soundproof merge`: randomized-smoothing certificates for clips or
//! a dataset, sharded or not; summary table, JSON and the certified-accuracy curve.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use soundproof::parallel::map_with_states;
use soundproof::window::ClipWindow;
use soundproof::dataset::{evenly, fsdd_split_files, match_label, LabelReader};
use soundproof::model::Model;
use soundproof::shard::Shard;
use soundproof::smooth::report::{certify_clip, certify_clip_online, default_thresholds, CertifyRun, ClipRecord, RunInputs, Summary};
use soundproof::smooth::runs::{DiagnoseRun, GainSweepRun};
use soundproof::smooth::{Budget, Contract, LookSchedule, OnlineBound, OnlineCertifier, Plan, SmoothParams, Smoother};
use std::time::Duration;
use std::path::{Path, PathBuf};

use crate::classify::{expand_inputs, parse_gain};

#[derive(Args)]
pub struct CertifyArgs {
    /// Model: an .onnx file with a soundproof model card.
    #[arg(long)]
    model: PathBuf,
    /// waveform | feature | post:fixed | post:rms | post:clip | post:peak (003 §4).
    #[arg(long, default_value = "waveform")]
    contract: String,
    /// Noise standard deviation, in the units of the perturbed space (waveform after gain, or dB).
    #[arg(long)]
    sigma: f64,
    /// Estimation samples.
    #[arg(long, default_value_t = 10_000)]
    n: u64,
    #[command(flatten)]
    sampling: SamplingArgs,
    /// Clips certified in parallel (results do not depend on it).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Gain: clip-rms (003 Contract 1, default), calibration, or a number.
    #[arg(long, default_value = "clip-rms")]
    gain: String,
    /// A dataset folder (searched for .wav); or give files / globs.
    #[arg(long)]
    dataset: Option<PathBuf>,
    /// FSDD split (takes 0-4 = test).
    #[arg(long, value_parser = ["test", "train"])]
    split: Option<String>,
    /// At most this many clips (evenly spaced over the sorted list).
    #[arg(long)]
    max_clips: Option<usize>,
    /// `i/N`: certify only the files whose index in the sorted list is ≡ i mod N; `auto`: i and
    /// N from a Slurm job array (SLURM_ARRAY_TASK_ID / _COUNT); `auto/N`: i from
    /// SLURM_ARRAY_TASK_ID or a Kubernetes Indexed Job's JOB_COMPLETION_INDEX. Combine the
    /// shards' --json files with `soundproof merge`.
    #[arg(long)]
    shard: Option<String>,
    /// Radius thresholds for the table (default: 0 and σ × 0.25, 0.5, 1, 2, 3).
    #[arg(long, value_delimiter = ',')]
    radii: Option<Vec<f64>>,
    /// Write the whole run (records + summary) as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write the certified-accuracy curve here (PNG).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// Online CERTIFY with this many milliseconds per clip (what a stream can afford per
    /// window): the sample count planned from the measured throughput, at most n (see --bound).
    #[arg(long)]
    budget_ms: Option<f64>,
    /// Online bound: `planned` (n fixed before sampling from the measured throughput, one
    /// Clopper-Pearson bound at the full α) or `looks` (a doubling look schedule from 64 up to n,
    /// α split across the looks, stopped at the budget).
    #[arg(long, default_value = "planned", value_parser = ["planned", "looks"])]
    bound: String,
    /// Online: workers sharing each clip's noisy copies (results do not depend on it).
    #[arg(long, default_value_t = 1)]
    workers: usize,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
    /// WAV files, folders or globs.
    inputs: Vec<String>,
}

/// CERTIFY's sampling settings shared by `certify`, `diagnose` and `gain-sweep` (σ and n are
/// each command's own: their defaults differ).
#[derive(Args, Clone)]
pub struct SamplingArgs {
    /// Selection samples.
    #[arg(long, default_value_t = 100)]
    pub n0: u64,
    /// Failure probability of the bound.
    #[arg(long, default_value_t = 0.001)]
    pub alpha: f64,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Noisy copies per model run (speed only; tract runs these models fastest one at a time,
    /// see BENCHMARKS.md).
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
}

impl SamplingArgs {
    pub fn params(&self, sigma: f64, n: u64) -> SmoothParams {
        SmoothParams { sigma, n0: self.n0, n, alpha: self.alpha, batch: self.batch, seed: self.seed }
    }
}

#[derive(Args)]
pub struct MergeArgs {
    /// Shard JSON files written with --shard by `certify`, `gain-sweep` or `diagnose` (one kind,
    /// one run, each shard once).
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// The merged run (what the unsharded run writes with --json).
    #[arg(long)]
    json: PathBuf,
    /// The plot of the run (certify: the certified-accuracy curve; gain-sweep: SNR_cert against
    /// the gain), as the unsharded run's --plot.
    #[arg(long)]
    plot: Option<PathBuf>,
}

/// `--shard` of the dataset commands: `i/N`, `auto` or `auto/N` (see [`Shard::parse`]).
pub fn parse_shard(s: Option<&str>) -> Result<Shard> {
    Ok(s.map(Shard::parse).transpose()?.unwrap_or(Shard::WHOLE))
}

/// Writes `v` as pretty JSON through a temporary file (a killed run leaves no partial file).
pub fn write_json<T: serde::Serialize>(path: &Path, v: &T) -> Result<()> {
    let text = serde_json::to_string_pretty(v)? + "\n";
    soundproof::shard::write_atomic(path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("wrote {}", path.display());
    Ok(())
}

pub fn files_of(inputs: &[String], dataset: Option<&Path>, split: Option<&str>, max: Option<usize>) -> Result<Vec<PathBuf>> {
    let mut all: Vec<String> = inputs.to_vec();
    if let Some(d) = dataset {
        all.push(d.display().to_string());
    }
    if all.is_empty() {
        bail!("give WAV files, folders or globs, or --dataset DIR");
    }
    let mut files = expand_inputs(&all)?;
    files.sort();
    files.dedup();
    if let Some(split) = split {
        fsdd_split_files(&mut files, split).map_err(anyhow::Error::msg)?;
        if files.is_empty() {
            bail!("--split {split}: no FSDD-named files among the inputs");
        }
    }
    if let Some(m) = max {
        if m == 0 {
            bail!("--max-clips must be ≥ 1");
        }
        files = evenly(&files, m);
    }
    Ok(files)
}

pub fn run(a: CertifyArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let contract: Contract = a.contract.parse()?;
    let params = a.sampling.params(a.sigma, a.n);
    params.validate()?;
    let gain = parse_gain(&a.gain)?;
    let shard = parse_shard(a.shard.as_deref())?;
    let files = files_of(&a.inputs, a.dataset.as_deref(), a.split.as_deref(), a.max_clips)?;
    let inputs = RunInputs::of_paths(&files);
    let mine: Vec<PathBuf> = shard.pick(&files, 1);
    let thresholds = a.radii.clone().unwrap_or_else(|| default_thresholds(a.sigma));

    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(mine.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} clips, eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let labels = model.labels().to_vec();
    let bound = if a.bound == "looks" { OnlineBound::Looks(LookSchedule::doubling(64, params.n)) } else { OnlineBound::Planned(Plan::default()) };
    let budget = a.budget_ms.map(|ms| Budget { time: Some(Duration::from_secs_f64(ms.max(0.0) / 1e3)) });
    // One smoother (online: one pool of workers) per thread, made (and the contract checked)
    // before any work.
    enum Certifier<'m> {
        Fixed(Smoother<'m>),
        Online(OnlineCertifier<'m>),
    }
    let certifiers = (0..a.threads.max(1))
        .map(|_| match budget {
            None => Smoother::new(&model, contract, params).map(Certifier::Fixed),
            Some(_) => OnlineCertifier::new(&model, contract, params, a.workers).map(Certifier::Online),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let bound = &bound;
    let window = ClipWindow::of(model.card());
    let states: Vec<_> = certifiers.into_iter().map(|c| (c, LabelReader::default())).collect();
    let results = map_with_states(states, &mine, |(certifier, reader), _, path| {
        let r = (|| -> Result<ClipRecord> {
            let samples = window.read(path)?;
            let truth = reader.label(path);
            let ti = truth.as_deref().and_then(|t| match_label(t, &labels));
            Ok(match &mut *certifier {
                Certifier::Fixed(sm) => certify_clip(sm, path, &samples, gain, truth, ti)?,
                Certifier::Online(oc) => certify_clip_online(oc, path, &samples, gain, truth, ti, bound, budget.unwrap_or(Budget { time: None }))?,
            })
        })()
        .with_context(|| format!("certifying {}", path.display()));
        if let Ok(rec) = &r {
            let c = &rec.certificate;
            bar.set_message(format!(
                "{}: {} R = {:.4}",
                path.file_name().and_then(|n| n.to_str()).unwrap_or(""),
                c.label.as_deref().unwrap_or("abstain"),
                c.radius
            ));
        }
        bar.inc(1);
        r
    });
    bar.finish_and_clear();
    let records = results.into_iter().collect::<Result<Vec<_>>>()?;
    let run = CertifyRun::new(&model, contract, &params, shard.pair(), inputs, records, &thresholds);
    print_run(&run);
    if let Some(p) = &a.json {
        write_json(p, &run)?;
    }
    if let Some(p) = &a.plot {
        plot_run(&run, contract, p)?;
    }
    Ok(())
}

/// The certified-accuracy curve of a run.
pub fn plot_run(run: &CertifyRun, contract: Contract, p: &Path) -> Result<()> {
    let title = format!("{} · {} · σ = {} · n = {}", run.model, run.contract, run.sigma, run.n);
    crate::plot::certified_accuracy(&[(run.contract.to_string(), Summary::curve(&run.records))], &title, radius_unit(contract), p)?;
    eprintln!("wrote {}", p.display());
    Ok(())
}

pub fn radius_unit(c: Contract) -> &'static str {
    if c.is_waveform() {
        "L2 radius (waveform, after gain)"
    } else {
        "L2 radius (log-mel, dB)"
    }
}

pub fn print_run(run: &CertifyRun) {
    for r in &run.records {
        let c = &r.certificate;
        let name = r.path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let verdict = match &c.label {
            Some(l) => format!("{l:>8}  R = {:.5}{}", c.radius, c.snr_cert_db.map(|s| format!("  SNR_cert {s:.1} dB")).unwrap_or_default()),
            None => format!("{:>8}  (candidate {}, pA_lower {:.4})", "abstain", c.candidate, c.p_a_lower),
        };
        let mark = match r.smoothed_correct() {
            Some(true) => "",
            Some(false) => "  ✗",
            None => "",
        };
        println!("{name:<28} {verdict}{mark}");
    }
    let s = &run.summary;
    let pct = |v: Option<f64>| v.map(|x| format!("{:.2} %", 100.0 * x)).unwrap_or_else(|| "—".into());
    println!();
    println!(
        "{} · contract {} · σ = {} · n0 = {} · n = {} · α = {} · seed {}{}",
        run.model,
        run.contract,
        run.sigma,
        run.n0,
        run.n,
        run.alpha,
        run.seed,
        if run.shard[1] > 1 { format!(" · shard {}/{}", run.shard[0], run.shard[1]) } else { String::new() }
    );
    println!("clips {} ({} labelled), {:.2} s per clip", s.clips, s.labelled, s.mean_seconds_per_clip);
    println!("clean accuracy                 {}", pct(s.clean_accuracy));
    println!("certified accuracy (R > 0)     {}", pct(s.certified_accuracy));
    println!("abstain                        {:.2} %", 100.0 * s.abstain_rate);
    for a in &s.at_radius {
        if a.radius > 0.0 {
            println!("certified accuracy at R ≥ {:<8.5} {:.2} %", a.radius, 100.0 * a.certified_accuracy);
        }
    }
    println!("median radius (certified, correct)  {}", s.median_radius.map(|r| format!("{r:.5}")).unwrap_or_else(|| "—".into()));
    if let Some(snr) = s.median_snr_cert_db {
        println!("median SNR_cert                     {snr:.1} dB");
    }
}

pub fn merge(a: MergeArgs) -> Result<()> {
    let mut parts = Vec::new();
    let mut kind = None;
    for p in &a.shards {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON (a shard cut short? rerun it)", p.display()))?;
        let k = match v.get("kind").and_then(|k| k.as_str()) {
            Some(k) => k.to_string(),
            None if v.get("records").is_some() && v.get("contract").is_some() => "certify".to_string(),
            None => bail!("{}: not a shard of certify, gain-sweep or diagnose (attack, audit and eval shards merge with `soundproof-tools merge`)", p.display()),
        };
        match &kind {
            None => kind = Some(k),
            Some(first) if *first != k => bail!("{} is a {k} shard, {} a {first} shard: merge one run at a time", p.display(), a.shards[0].display()),
            _ => {}
        }
        parts.push((p.clone(), v));
    }
    fn typed<T: serde::de::DeserializeOwned>(parts: Vec<(PathBuf, serde_json::Value)>, what: &str) -> Result<Vec<(PathBuf, T)>> {
        parts
            .into_iter()
            .map(|(p, v)| Ok((p.clone(), serde_json::from_value(v).with_context(|| format!("{} is not a {what} --json file", p.display()))?)))
            .collect()
    }
    match kind.as_deref() {
        Some("certify") => {
            let run = CertifyRun::merge_files(typed(parts, "certify")?)?;
            print_run(&run);
            write_json(&a.json, &run)?;
            if let Some(p) = &a.plot {
                plot_run(&run, run.contract, p)?;
            }
        }
        Some("gain-sweep") => {
            let run = GainSweepRun::merge_files(typed(parts, "gain-sweep")?)?;
            crate::diagnose::print_sweep(&run);
            write_json(&a.json, &run)?;
            if let Some(p) = &a.plot {
                crate::diagnose::plot_sweep(&run, p)?;
            }
        }
        Some("diagnose") => {
            let run = DiagnoseRun::merge_files(typed(parts, "diagnose")?)?;
            crate::diagnose::print_diagnose(&run);
            write_json(&a.json, &run)?;
            if a.plot.is_some() {
                bail!("diagnose has no plot");
            }
        }
        Some(k) => bail!("{}: shards of kind `{k}` merge with `soundproof-tools merge`", a.shards[0].display()),
        None => bail!("nothing to merge"),
    }
    Ok(())
}

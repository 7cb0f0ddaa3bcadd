//! `soundproof certify` and `soundproof merge`: randomized-smoothing certificates for clips or
//! a dataset, sharded or not; summary table, JSON and the certified-accuracy curve.

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use soundproof::audio;
use soundproof::labels::{fsdd_take, match_label, LabelReader};
use soundproof::model::Model;
use soundproof::smooth::report::{certify_clip, certify_clip_online, default_thresholds, CertifyRun, ClipRecord, Summary};
use soundproof::smooth::{Budget, Contract, LookSchedule, OnlineBound, OnlineCertifier, Plan, SmoothParams, Smoother};
use std::time::Duration;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

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
    /// `i/N`: certify only the files whose index in the sorted list is ≡ i mod N.
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
    /// Shard JSON files written by `certify --shard i/N --json`.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// The merged run.
    #[arg(long)]
    json: PathBuf,
}

fn parse_shard(s: &str) -> Result<[usize; 2]> {
    let (i, n) = s.split_once('/').with_context(|| format!("--shard {s}: expected i/N"))?;
    let (i, n): (usize, usize) = (i.trim().parse()?, n.trim().parse()?);
    if n == 0 || i >= n {
        bail!("--shard {s}: need 0 ≤ i < N");
    }
    Ok([i, n])
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
        files.retain(|p| {
            let take = p.file_name().and_then(|n| n.to_str()).and_then(fsdd_take);
            matches!((split, take), ("test", Some(0..=4)) | ("train", Some(5..)))
        });
        if files.is_empty() {
            bail!("--split {split}: no FSDD-named files among the inputs");
        }
    }
    if let Some(m) = max {
        if m == 0 {
            bail!("--max-clips must be ≥ 1");
        }
        if files.len() > m {
            let step = files.len() as f64 / m as f64;
            files = (0..m).map(|i| files[(i as f64 * step) as usize].clone()).collect();
        }
    }
    Ok(files)
}

pub fn run(a: CertifyArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let contract: Contract = a.contract.parse()?;
    let params = a.sampling.params(a.sigma, a.n);
    params.validate()?;
    let gain = parse_gain(&a.gain)?;
    let shard = a.shard.as_deref().map(parse_shard).transpose()?.unwrap_or([0, 1]);
    let files = files_of(&a.inputs, a.dataset.as_deref(), a.split.as_deref(), a.max_clips)?;
    let mine: Vec<PathBuf> = files.iter().enumerate().filter(|(i, _)| i % shard[1] == shard[0]).map(|(_, p)| p.clone()).collect();
    let thresholds = a.radii.clone().unwrap_or_else(|| default_thresholds(a.sigma));

    let bar = if a.quiet { ProgressBar::hidden() } else { ProgressBar::new(mine.len() as u64) };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} clips, eta {eta} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let labels = model.labels().to_vec();
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<ClipRecord>>>> = Mutex::new((0..mine.len()).map(|_| None).collect());
    let sr = model.card().features.sample_rate();
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
    std::thread::scope(|s| {
        for mut certifier in certifiers {
            let (next, results, bar, labels, mine) = (&next, &results, &bar, &labels, &mine);
            s.spawn(move || {
                let mut reader = LabelReader::default();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= mine.len() {
                        break;
                    }
                    let path = &mine[i];
                    let r = (|| -> Result<ClipRecord> {
                        let clip = audio::read_mono(path)?;
                        let samples = audio::resample(&clip.samples, clip.sample_rate, sr)?;
                        let truth = reader.label(path);
                        let ti = truth.as_deref().and_then(|t| match_label(t, labels));
                        Ok(match &mut certifier {
                            Certifier::Fixed(sm) => certify_clip(sm, path, &samples, gain, truth, ti)?,
                            Certifier::Online(oc) => {
                                certify_clip_online(oc, path, &samples, gain, truth, ti, bound, budget.unwrap_or(Budget { time: None }))?
                            }
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
                    // A poisoned lock only follows a panicking worker, which the scope re-raises.
                    results.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[i] = Some(r);
                    bar.inc(1);
                }
            });
        }
    });
    bar.finish_and_clear();
    let mut records = Vec::with_capacity(mine.len());
    for (r, path) in results.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner).into_iter().zip(&mine) {
        records.push(r.with_context(|| format!("{} was not certified", path.display()))??);
    }
    let run = CertifyRun::new(&model, contract, &params, shard, records, &thresholds);
    print_run(&run);
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&run)? + "\n").with_context(|| format!("writing {}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &a.plot {
        let title = format!("{} · {} · σ = {} · n = {}", run.model, run.contract, run.sigma, run.n);
        crate::plot::certified_accuracy(&[(run.contract.clone(), Summary::curve(&run.records))], &title, radius_unit(contract), p)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

/// The gain choice as the certificate records it.
pub fn gain_policy_name(g: soundproof::pipeline::ClipGain) -> &'static str {
    soundproof::smooth::report::gain_name(g)
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
    let mut shards = Vec::new();
    for p in &a.shards {
        let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let run: CertifyRun = serde_json::from_str(&text).with_context(|| format!("{} is not a certify --json file", p.display()))?;
        shards.push(run);
    }
    let run = CertifyRun::merge(shards)?;
    print_run(&run);
    std::fs::write(&a.json, serde_json::to_string_pretty(&run)? + "\n").with_context(|| format!("writing {}", a.json.display()))?;
    eprintln!("wrote {}", a.json.display());
    Ok(())
}

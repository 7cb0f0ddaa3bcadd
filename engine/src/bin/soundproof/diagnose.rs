//! `soundproof diagnose` (003 Tables 2 and 3 on our data) and `soundproof gain-sweep` (003
//! failure mode 2: what a microphone gain change does to certificates under each policy).

use anyhow::{Context, Result};
use clap::Args;
use soundproof::audio;
use soundproof::labels::{match_label, LabelReader};
use soundproof::model::Model;
use soundproof::pipeline::ClipGain;
use soundproof::smooth::report::{certify_clips, clip_window, default_thresholds, gain_sweep, geometry, GeometryRow, LoadedClip, Summary};
use soundproof::smooth::{clip_key, Contract, Smoother, Transform};
use std::path::PathBuf;

use crate::certify::{files_of, SamplingArgs};

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
    policies: Vec<String>,
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
    #[arg(long)]
    json: Option<PathBuf>,
    /// PNG: median SNR_cert and certified accuracy against the gain, per policy.
    #[arg(long)]
    plot: Option<PathBuf>,
    #[arg(required = true)]
    inputs: Vec<String>,
}

fn load_clips(model: &Model, inputs: &[String], split: Option<&str>, max: usize) -> Result<Vec<LoadedClip>> {
    let files = files_of(inputs, None, split, Some(max))?;
    let sr = model.card().features.sample_rate();
    let labels = model.labels().to_vec();
    let mut reader = LabelReader::default();
    files
        .into_iter()
        .map(|path| {
            let clip = audio::read_mono(&path).with_context(|| format!("reading {}", path.display()))?;
            let samples = audio::resample(&clip.samples, clip.sample_rate, sr)?;
            let truth = reader.label(&path);
            let truth_index = truth.as_deref().and_then(|t| match_label(t, &labels));
            Ok(LoadedClip { path, samples, truth, truth_index })
        })
        .collect()
}

fn key_of(c: &LoadedClip) -> u64 {
    clip_key(c.path.file_name().and_then(|n| n.to_str()).unwrap_or_default())
}

#[derive(serde::Serialize)]
struct Table2Row {
    diagnostic: String,
    a: String,
    a_certified_accuracy: Option<f64>,
    b: String,
    b_certified_accuracy: Option<f64>,
}

pub fn diagnose(a: DiagnoseArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let clips = load_clips(&model, &a.inputs, a.split.as_deref(), a.max_clips)?;
    let card_rms = model.card().normalization.target_rms;
    let transforms = [Transform::Fixed, Transform::Rms, Transform::Clip, Transform::Peak, Transform::UnitPeak];
    // Table 3 at the card's level (the level the model was trained and is certified at) and at
    // the recordings' own level (no gain), to show how clip and peak depend on the level.
    let mut rows: Vec<GeometryRow> = Vec::new();
    for (level, gain) in [(format!("card gain (RMS {card_rms})"), ClipGain::ClipRms), ("recording level (gain 1)".to_string(), ClipGain::Fixed(1.0))] {
        let windows: Vec<(u64, Vec<f32>)> = clips
            .iter()
            .map(|c| Ok((key_of(c), clip_window(&model, &c.samples, gain)?.0)))
            .collect::<Result<_, soundproof::smooth::SmoothError>>()?;
        let rms_mean = windows.iter().map(|(_, x)| soundproof::dsp::gain::rms(x) as f64).sum::<f64>() / windows.len().max(1) as f64;
        let peak_mean = windows.iter().map(|(_, x)| soundproof::dsp::gain::peak(x) as f64).sum::<f64>() / windows.len().max(1) as f64;
        let level = format!("{level}; window RMS {rms_mean:.3}, peak {peak_mean:.2} (means)");
        rows.extend(geometry(&model, &windows, a.sigma, a.noise_samples, a.sampling.seed, &transforms, &level)?);
    }
    println!("Table 3: perturbation geometry at σ = {} ({} clips × {} noise draws; {}), Δ = T(x+ε) − x", a.sigma, clips.len(), a.noise_samples, model.card().name);
    println!("{:<10} {:>14} {:>14}   level", "T", "D_geom", "eff. ratio");
    for r in &rows {
        println!("{:<10} {:>14.4e} {:>14.6}   {}", r.transform, r.d_geom, r.effective_ratio, r.level);
    }

    let mut table2 = Vec::new();
    if !a.geometry_only {
        let thresholds = [0.0];
        let gains = vec![ClipGain::ClipRms; clips.len()];
        let run = |contract: Contract, sigma: f64| -> Result<Summary> {
            eprint!("\r{contract} σ = {sigma} on {} clips ", clips.len());
            let params = a.sampling.params(sigma, a.n);
            let mut s = Smoother::new(&model, contract, params)?;
            let records = certify_clips(&mut s, &clips, 1.0, &gains)?;
            eprint!("\r");
            Ok(Summary::of(&records, &thresholds))
        };
        let sr = a.sigma_representation;
        let logmel = run(Contract::Feature, sr)?;
        let wave_r = run(Contract::Waveform, sr)?;
        let clip = run(Contract::Post(Transform::Clip), a.sigma)?;
        let wave = run(Contract::Waveform, a.sigma)?;
        table2.push(Table2Row {
            diagnostic: format!("log-mel vs waveform, σ = {sr}"),
            a: "feature".into(),
            a_certified_accuracy: logmel.certified_accuracy,
            b: "waveform".into(),
            b_certified_accuracy: wave_r.certified_accuracy,
        });
        table2.push(Table2Row {
            diagnostic: format!("clip vs waveform, σ = {}", a.sigma),
            a: "post:clip".into(),
            a_certified_accuracy: clip.certified_accuracy,
            b: "waveform".into(),
            b_certified_accuracy: wave.certified_accuracy,
        });
        println!();
        println!("Table 2: positive-radius certified accuracy (n0 = {}, n = {}, α = {}, {} clips)", a.sampling.n0, a.n, a.sampling.alpha, clips.len());
        let pct = |v: Option<f64>| v.map(|x| format!("{:.2} %", 100.0 * x)).unwrap_or_else(|| "—".into());
        for r in &table2 {
            println!("{:<34} {} {} vs {} {}", r.diagnostic, r.a, pct(r.a_certified_accuracy), r.b, pct(r.b_certified_accuracy));
        }
        println!("(the feature certificate is over the log-mel tensor in dB, the others over the waveform: not comparable as robustness)");
    }
    if let Some(p) = &a.json {
        let v = serde_json::json!({ "model": model.card().name, "sigma": a.sigma, "table3": rows, "table2": table2 });
        std::fs::write(p, serde_json::to_string_pretty(&v)? + "\n").with_context(|| format!("writing {}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

pub fn gain_sweep_cmd(a: GainSweepArgs) -> Result<()> {
    let model = Model::load(&a.model)?;
    let clips = load_clips(&model, &a.inputs, a.split.as_deref(), a.max_clips)?;
    let params = a.sampling.params(a.sigma, a.n);
    let mut s = Smoother::new(&model, Contract::Waveform, params)?;
    let thresholds = default_thresholds(a.sigma);
    let cells = gain_sweep(&mut s, &clips, &a.gains_db, &a.policies, &thresholds, |db, p| eprint!("\rgain {db:+} dB, policy {p}   "))?;
    eprint!("\r");
    println!(
        "gain sweep: {} · waveform contract · σ = {} · n0 = {} · n = {} · α = {} · {} clips",
        model.card().name,
        a.sigma,
        a.sampling.n0,
        a.n,
        a.sampling.alpha,
        clips.len()
    );
    println!("{:>8} {:>7} {:>10} {:>10} {:>12} {:>14}", "gain dB", "policy", "clean acc", "cert acc", "median R", "median SNR_cert");
    let pct = |v: Option<f64>| v.map(|x| format!("{:.1} %", 100.0 * x)).unwrap_or_else(|| "—".into());
    for c in &cells {
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
    if let Some(p) = &a.json {
        std::fs::write(p, serde_json::to_string_pretty(&cells)? + "\n").with_context(|| format!("writing {}", p.display()))?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = &a.plot {
        let mut series = Vec::new();
        for policy in &a.policies {
            let pts: Vec<(f64, f64)> = cells.iter().filter(|c| &c.policy == policy).map(|c| (c.gain_db, c.summary.median_snr_cert_db.unwrap_or(f64::NAN))).collect();
            series.push((format!("{policy}: median SNR_cert (dB)"), pts));
        }
        let title = format!("{}: median SNR_cert against microphone gain (σ = {})", model.card().name, a.sigma);
        crate::plot::lines(&series, &title, "microphone gain change (dB)", "median SNR_cert (dB)", p)?;
        eprintln!("wrote {}", p.display());
    }
    Ok(())
}

//! `soundproof-tools transfer`: cross-representation transfer and the transferability matrix.

use crate::common::DataArgs;
use anyhow::Context;
use clap::Args;
use soundproof_tools::attack::{AttackConfig, AttackKind, BoxSpec, Goal};
use soundproof_tools::data::Split;
use soundproof_tools::device::DeviceChoice;
use soundproof::dataset::evenly;
use soundproof_tools::rebuild::{GriffinLim, PhaseInit, Rebuild};
use soundproof_tools::transfer::{db, LabelledClip, Member, MemberSpec, TransferOptions};
use std::path::PathBuf;

#[derive(Args)]
pub struct TransferArgs {
    /// A model of the matrix: a checkpoint folder written by `train` or a shipped model's .onnx
    /// file with its checkpoint beside it, as NAME=PATH or PATH (named after the folder or
    /// file); repeat for each model. Each is attacked in turn (see --source) and
    /// each is a target.
    #[arg(long = "model", required = true)]
    models: Vec<String>,
    /// An ONNX model run by the engine (tract) as a further target, NAME=FILE or FILE; repeat.
    #[arg(long = "engine")]
    engines: Vec<String>,
    /// Attack only from these models (their names; default: every --model).
    #[arg(long = "source")]
    sources: Vec<String>,
    /// The attack on each source, in its own domain (BIM's step: ε / 4; JSMA, CW-L2 and L-BFGS
    /// with the `attack` command's defaults; not the psycho attacks).
    #[arg(long, value_enum, default_value_t = AttackKind::BimB)]
    attack: AttackKind,
    /// Radius on spectrogram sources, in dB of the map (L∞; L2 for fgsm-l2).
    #[arg(long, default_value_t = 1.0)]
    eps: f64,
    /// Radius on waveform sources, in waveform units after the clip gain (the clip at RMS 1).
    #[arg(long, default_value_t = 0.05)]
    waveform_eps: f64,
    /// BIM iterations (step ε / 4); DeepFool's iteration limit.
    #[arg(long, default_value_t = 10)]
    steps: usize,
    /// Audio from the adversarial spectrograms: istft (the clean clip's phase) or griffin-lim
    /// (default: 002's choice, istft for log-STFT maps, griffin-lim for log-mel maps).
    #[arg(long, value_enum)]
    rebuild: Option<Rebuild>,
    /// Griffin-Lim iterations.
    #[arg(long, default_value_t = 32)]
    gl_iters: usize,
    /// Griffin-Lim momentum (0 = the original algorithm; 0.99 = librosa's fast Griffin-Lim).
    #[arg(long, default_value_t = 0.99)]
    gl_momentum: f64,
    /// Start Griffin-Lim from zero phase instead of a random phase seeded by --seed and the clip.
    #[arg(long)]
    gl_zero_init: bool,
    /// Seed of Griffin-Lim's random starting phase (each clip's drawn from the seed and the
    /// clip's place in the run); unused with --gl-zero-init.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    data: DataArgs,
    /// Split of the dataset whose clips are attacked.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// At most this many clips (evenly spaced through the split).
    #[arg(long)]
    max_clips: Option<usize>,
    /// Output folder: report.json, matrix.json, matrix.md (and SOURCE/audio/ with --save-audio).
    #[arg(long)]
    out: PathBuf,
    /// Write each clip's clean, rebuilt clean and adversarial audio (32-bit float WAV).
    #[arg(long)]
    save_audio: bool,
    /// Clips per batch (of the attacks and the rebuilds).
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// Where libtorch runs the checkpoint models, the attacks and the rebuilds.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// libtorch CPU threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON on stdout (no progress bar).
    #[arg(long)]
    json: bool,
}

pub fn run(a: TransferArgs) -> anyhow::Result<()> {
    let device = soundproof_tools::device::resolve(a.device)?;
    if let Some(n) = a.threads {
        tch::set_num_threads(n as i32);
    }
    let specs: Vec<MemberSpec> =
        a.models.iter().map(|m| MemberSpec::parse(m, false)).chain(a.engines.iter().map(|m| MemberSpec::parse(m, true))).collect();
    let mut members = Vec::with_capacity(specs.len());
    for s in &specs {
        members.push(Member::load(s, device).with_context(|| format!("loading {} ({})", s.name, s.path.display()))?);
    }
    let sources: Vec<usize> = if a.sources.is_empty() {
        (0..a.models.len()).collect()
    } else {
        a.sources
            .iter()
            .map(|n| members.iter().position(|m| &m.name == n).with_context(|| format!("--source {n}: no --model of that name")))
            .collect::<anyhow::Result<_>>()?
    };
    let index = a.data.spec().index()?;
    let ex = index.split(a.split);
    let ex = match a.max_clips {
        Some(n) => evenly(ex, n),
        None => ex.to_vec(),
    };
    let clips: Vec<LabelledClip> = ex.into_iter().map(|e| LabelledClip { path: e.path, label: e.label as i64 }).collect();
    let attack = |eps: f64| AttackConfig::with_defaults(a.attack, Some(eps), None, Some(a.steps), Goal::Untargeted);
    let opts = TransferOptions {
        features_attack: attack(a.eps)?,
        waveform_attack: attack(a.waveform_eps)?,
        box_spec: BoxSpec::Clean,
        rebuild: a.rebuild,
        griffin_lim: GriffinLim {
            iterations: a.gl_iters,
            momentum: a.gl_momentum,
            init: if a.gl_zero_init { PhaseInit::Zero } else { PhaseInit::Random(a.seed) },
        },
        batch: a.batch_size,
        device,
        quiet: a.json,
        save_audio: a.save_audio,
    };
    let report = soundproof_tools::transfer::run(&mut members, &sources, &clips, &opts, &a.out).context("transfer")?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for s in &report.sources {
            println!(
                "{} ({}, {:?} ε = {}): fooling rate {:.1}% in its domain ({}/{}); SNR (dB) rebuilt vs clip {}, Eq. 3 {}, adversarial vs clip {}",
                s.source,
                s.representation,
                s.config.kind,
                s.config.eps,
                100.0 * s.attack.fooling_rate,
                s.attack.successes,
                s.attack.counted,
                db(&s.snr_rebuild_db),
                db(&s.snr_db),
                db(&s.snr_vs_clean_db)
            );
        }
        println!();
        print!("{}", soundproof_tools::transfer::markdown(&report));
        println!("\nwrote {}", a.out.join("report.json").display());
    }
    Ok(())
}

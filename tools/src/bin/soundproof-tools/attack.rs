//! `soundproof-tools attack`: an adversarial attack on clips of a dataset split or WAV files.

use crate::common::{parse_shard, OptionalDataArgs};
use anyhow::Context;
use clap::Args;
use soundproof_tools::attack::psycho::PsychoConfig;
use soundproof_tools::attack::runner::{run_on_clips, Clip, RunOptions};
use soundproof_tools::attack::{AttackConfig, AttackKind, BoxSpec, Domain, Goal, OptParams};
use soundproof_tools::data::Split;
use soundproof_tools::device::DeviceChoice;
use soundproof::dataset::evenly;
use soundproof_tools::shard::shard_dir;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct AttackArgs {
    /// The model to attack: a checkpoint folder written by `train`, or a shipped f32 model's
    /// .onnx file with its checkpoint beside it (`models/kws-fsdd.onnx`; refused when the two
    /// disagree). `--model` is the same.
    #[arg(long, alias = "model")]
    checkpoint: PathBuf,
    /// The attack to run.
    #[arg(long, value_enum)]
    attack: AttackKind,
    /// Radius: L∞ for fgsm / bim-a / bim-b, L2 for fgsm-l2 (in the units of the domain:
    /// waveform samples after the clip gain, or dB of the log-mel map); unused by deepfool,
    /// deepfool-linf, jsma, cw-l2 and lbfgs; psycho: the initial L∞ bound of stage 1 (default 0.1).
    #[arg(long)]
    eps: Option<f64>,
    /// BIM step size (default: ε / 4).
    #[arg(long)]
    alpha: Option<f64>,
    /// BIM iterations; DeepFool's iteration limit; CW-L2's Adam iterations and L-BFGS's
    /// iterations per value of c (default: 10; cw-l2 100; lbfgs 30).
    #[arg(long)]
    steps: Option<usize>,
    /// JSMA θ: change of each selected feature, in the domain's units (> 0 raises, < 0 lowers;
    /// clipped to the box, so a large θ sets the feature to the bound).
    #[arg(long, default_value_t = OptParams::DEFAULT.theta, allow_hyphen_values = true)]
    theta: f64,
    /// JSMA γ: at most this fraction of the features change.
    #[arg(long, default_value_t = OptParams::DEFAULT.gamma)]
    gamma: f64,
    /// JSMA: features changed per iteration (1: the one-feature saliency map).
    #[arg(long, default_value_t = OptParams::DEFAULT.features_per_step)]
    features_per_step: usize,
    /// CW-L2 κ: the logit margin of a success.
    #[arg(long, default_value_t = OptParams::DEFAULT.confidence)]
    confidence: f64,
    /// CW-L2 and L-BFGS: the first value of c (weight of the loss for CW, of the distance for
    /// L-BFGS; default 1 for cw-l2, 1e-2 for lbfgs).
    #[arg(long)]
    c_init: Option<f64>,
    /// CW-L2 and L-BFGS: values of c tried (binary search steps; default 5; lbfgs 6).
    #[arg(long)]
    search_steps: Option<usize>,
    /// CW-L2: Adam's learning rate.
    #[arg(long, default_value_t = OptParams::DEFAULT.lr)]
    lr: f64,
    /// CW-L2: run every value of c for all its iterations (no early stop).
    #[arg(long)]
    no_abort_early: bool,
    /// Targeted attack towards this class index (default: untargeted).
    #[arg(long)]
    target: Option<i64>,
    /// Where the perturbation lives, and so the units of --eps, --theta and --box-bound.
    #[arg(long, value_enum, default_value_t = Domain::Waveform)]
    domain: Domain,
    /// Box [-B, B] instead of the clean example's own range (waveform: [-max|x|, max|x|];
    /// features: [min, max] of the clean map).
    #[arg(long, conflicts_with = "no_box")]
    box_bound: Option<f64>,
    /// No box, the ε-ball only.
    #[arg(long)]
    no_box: bool,
    /// `--dataset fsdd|esc10|DIR` (instead of WAV files), `--data-dir`, `--fold`, `--val-fold`.
    #[command(flatten)]
    data: OptionalDataArgs,
    /// Split of --dataset whose clips are attacked.
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// At most this many clips (evenly spaced through the split).
    #[arg(long)]
    max_clips: Option<usize>,
    /// WAV files to attack (labels unknown: the clean prediction is the reference).
    inputs: Vec<PathBuf>,
    /// Output folder: clean/ and adversarial/ (the inputs as the model saw them) and report.json.
    #[arg(long)]
    out: PathBuf,
    /// Clips per batch (default: 16 on a CPU, 128 on a GPU, where one clip at a time leaves
    /// the device idle: BENCHMARKS.md, "Attacks and training on a GPU").
    #[arg(long)]
    batch_size: Option<usize>,
    /// Where libtorch runs the model and the attack.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// libtorch CPU threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON on stdout (no progress bar).
    #[arg(long)]
    json: bool,
    /// Do not draw plots/NAME.png (original / adversarial / perturbation of each example).
    #[arg(long)]
    no_plots: bool,
    /// `i/N`: this task's share of the clips (whole batches i, i + N, …), written into
    /// OUT/shard-I-of-N/; `auto`: i and N from a Slurm job array; `auto/N`: i from
    /// SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX. Combine with `soundproof-tools merge`.
    #[arg(long)]
    shard: Option<String>,
    #[command(flatten)]
    psycho: PsychoArgs,
}

/// Parameters of `--attack psycho`, `psycho-room` and `psycho-robust` (004 Algorithm 1;
/// defaults: 004 §4.1-4.3).
#[derive(Args)]
struct PsychoArgs {
    /// Stage 1 (L∞ sign-gradient) iterations T1.
    #[arg(long, default_value_t = PsychoConfig::new(16_000).steps1)]
    stage1_steps: usize,
    /// Stage 1 step lr1 (default: ε / 20, 004's 100 for ε = 2000).
    #[arg(long)]
    stage1_lr: Option<f64>,
    /// Stage 2 (Adam on ℓnet + α·ℓθ) iterations T2.
    #[arg(long, default_value_t = PsychoConfig::new(16_000).steps2)]
    stage2_steps: usize,
    /// Stage 2 Adam learning rate lr2 (÷10 for the last quarter; default ε / 100).
    #[arg(long)]
    stage2_lr: Option<f64>,
    /// Initial weight α of the masking loss ℓθ.
    #[arg(long, default_value_t = PsychoConfig::new(16_000).alpha)]
    masking_alpha: f64,
    /// psycho-room and psycho-robust: simulated rooms per iteration K (004 §4.2: 10).
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// psycho-room and psycho-robust: rooms in the pool the K are drawn from.
    #[arg(long, default_value_t = PsychoConfig::new(16_000).room_pool)]
    room_pool: usize,
    /// psycho-room and psycho-robust: fraction of the K rooms that must be fooled to count as
    /// a success (psycho-robust: in its robust stages; 004: 8 of 10).
    #[arg(long, default_value_t = PsychoConfig::new(16_000).room_success)]
    room_success: f64,
    /// psycho-robust: iterations of 004 §4.2 stage 1 and 2 and §4.3 stage 1 and 2.
    #[arg(long, value_delimiter = ',', default_value = "2000,4000,4000,6000")]
    robust_steps: Vec<usize>,
    /// psycho-robust: ∆ of 004 §4.2 stage 2, as a fraction of stage 1's final ε.
    #[arg(long, default_value_t = PsychoConfig::new(16_000).robust.delta)]
    robust_delta: f64,
    /// psycho-robust: fraction of the K rooms that must be fooled in §4.3 stage 1 (004: 4 of 10).
    #[arg(long, default_value_t = PsychoConfig::new(16_000).robust.low_success)]
    robust_low_success: f64,
    /// Held-out simulated rooms to play every adversarial example in (waveform domain;
    /// default 20 for psycho-room and psycho-robust, else 0).
    #[arg(long)]
    eval_rooms: Option<usize>,
    /// Seed of the simulated rooms.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

pub fn run(a: AttackArgs) -> anyhow::Result<()> {
    let clips: Vec<Clip> = match &a.data.dataset {
        Some(name) => {
            anyhow::ensure!(a.inputs.is_empty(), "give either --dataset or WAV files, not both");
            let index = a.data.spec(name).index()?;
            let ex = index.split(a.split);
            let ex = match a.max_clips {
                Some(n) => evenly(ex, n),
                None => ex.to_vec(),
            };
            ex.into_iter().map(|e| Clip { path: e.path, label: Some(e.label as i64) }).collect()
        }
        None => a.inputs.iter().map(|p| Clip { path: p.clone(), label: None }).collect(),
    };
    anyhow::ensure!(!clips.is_empty(), "nothing to attack: give --dataset or WAV files");
    let device = soundproof_tools::device::resolve(a.device)?;
    if let Some(n) = a.threads {
        tch::set_num_threads(n as i32);
    }
    let psycho_kind = a.attack.is_psycho();
    let room_kind = matches!(a.attack, AttackKind::PsychoRoom | AttackKind::PsychoRobust);
    anyhow::ensure!(a.eps.is_some() || a.attack.default_eps().is_some(), "--eps is required for {:?}", a.attack);
    let goal = a.target.map(Goal::Targeted).unwrap_or(Goal::Untargeted);
    let config = AttackConfig::with_defaults(a.attack, a.eps, a.alpha, a.steps, goal)?;
    let eps = config.eps;
    let box_spec = match (a.box_bound, a.no_box) {
        (_, true) => BoxSpec::Unbounded,
        (Some(b), _) => BoxSpec::Fixed { lo: -b, hi: b },
        (None, false) => BoxSpec::Clean,
    };
    let defaults = OptParams::for_kind(a.attack);
    let opt = OptParams {
        theta: a.theta,
        gamma: a.gamma,
        features_per_step: a.features_per_step,
        confidence: a.confidence,
        c_init: a.c_init.unwrap_or(defaults.c_init),
        search_steps: a.search_steps.unwrap_or(defaults.search_steps),
        lr: a.lr,
        abort_early: !a.no_abort_early,
    };
    let p = &a.psycho;
    let psycho = if psycho_kind {
        anyhow::ensure!(a.domain == Domain::Waveform, "--attack {:?} perturbs the waveform: use --domain waveform", a.attack);
        let sample_rate = soundproof_tools::checkpoint::Checkpoint::load(&a.checkpoint)?.sample_rate;
        let mut c = PsychoConfig::new(sample_rate);
        c.eps = eps;
        c.lr1 = p.stage1_lr.unwrap_or(PsychoConfig::default_lr1(eps));
        c.steps1 = p.stage1_steps;
        c.lr2 = p.stage2_lr.unwrap_or(PsychoConfig::default_lr2(eps));
        c.steps2 = p.stage2_steps;
        c.alpha = p.masking_alpha;
        c.rooms = if room_kind { p.rooms } else { 0 };
        anyhow::ensure!(p.robust_steps.len() == 4, "--robust-steps takes four counts (004 §4.2 stages 1-2, §4.3 stages 1-2)");
        c.robust = soundproof_tools::attack::psycho::RobustStages {
            steps: [p.robust_steps[0], p.robust_steps[1], p.robust_steps[2], p.robust_steps[3]],
            delta: p.robust_delta,
            low_success: p.robust_low_success,
        };
        c.room_pool = p.room_pool;
        c.room_success = p.room_success;
        c.seed = p.seed;
        c.validate()?;
        Some(c)
    } else {
        None
    };
    let eval_rooms = p.eval_rooms.unwrap_or(if room_kind { 20 } else { 0 });
    anyhow::ensure!(eval_rooms == 0 || a.domain == Domain::Waveform, "--eval-rooms needs --domain waveform");
    let shard = parse_shard(a.shard.as_deref())?;
    let batch = a.batch_size.unwrap_or(if device.is_cuda() { 128 } else { 16 });
    let opts = RunOptions { config, domain: a.domain, box_spec, batch, device, quiet: a.json, opt, plots: !a.no_plots, psycho, eval_rooms, seed: p.seed, shard };
    let out = shard_dir(&a.out, shard);
    let report = run_on_clips(&a.checkpoint, &clips, &opts, &out).with_context(|| format!("attacking with {}", a.checkpoint.display()))?;
    print_attack(&report, a.json, &out)
}

/// The line of an attack report (or its JSON) on stdout.
pub(crate) fn print_attack(report: &soundproof_tools::attack::runner::Report, json: bool, out: &Path) -> anyhow::Result<()> {
    let (attack, domain, eps) = (report.config.kind, report.domain, report.config.eps);
    let eval_rooms = report.eval_rooms.len();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let s = &report.summary;
        println!(
            "{:?} on {} ({:?} domain, ε = {}): fooling rate {:.1}% ({}/{} counted of {}), mean L2 {:.4}, mean L∞ {:.4}, mean SNR {:.1} dB, mean confidence {:.3}, {:.1} gradients and {:.1} forwards per example, {:.1} s",
            attack, report.model, domain, eps, 100.0 * s.fooling_rate, s.successes, s.counted, s.examples, s.mean_l2, s.mean_linf, s.mean_snr_db, s.mean_confidence, s.mean_gradients, s.mean_forwards, s.seconds
        );
        if let (Some(f), Some(b)) = (s.mean_frames_under, s.mean_bins_under) {
            println!("perturbation under the masking threshold (004) in {:.1}% of frames and {:.2}% of bins (mean over the fooled examples)", 100.0 * f, 100.0 * b);
        }
        if let Some(r) = s.mean_rooms_fooled {
            println!("fooled in {:.1}% of {} held-out simulated rooms (mean over the fooled examples)", 100.0 * r, eval_rooms);
        }
        println!("wrote {}", out.join("report.json").display());
    }
    Ok(())
}

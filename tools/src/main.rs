//! `soundproof-tools`: parses arguments and calls the library.
use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use soundproof::dsp::FeatureKind;
use soundproof_tools::attack::runner::{run_on_clips, Clip, RunOptions};
use soundproof_tools::attack::psycho::PsychoConfig;
use soundproof_tools::attack::{AttackConfig, AttackKind, BoxSpec, Domain, Goal, OptParams};
use soundproof_tools::data::augment::Augment;
use soundproof::model::card::Precision;
use soundproof_tools::data::{default_data_dir, DatasetSpec, Split};
use soundproof_tools::device::DeviceChoice;
use soundproof_tools::eval::{confusion_text, evaluate, record_metrics, EvalOptions};
use soundproof_tools::export::{evenly, export, quantize, quantized_path};
use soundproof_tools::nn::Arch;
use soundproof_tools::train::{train, TrainConfig};
use soundproof_tools::rebuild::{GriffinLim, PhaseInit, Rebuild};
use soundproof_tools::transfer::{db, LabelledClip, Member, MemberSpec, TransferOptions};
use soundproof_tools::{onnx, plot};
use soundproof::shard::Shard;
use soundproof_tools::shard::{gather_attack_files, merge_attack, merge_audit, merge_eval, shard_dir, write_json, Kind};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "soundproof-tools", version, about = "Train, export, quantize, evaluate and attack soundproof models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataArgs {
    /// `fsdd`, `esc10`, or a folder of CLASS/*.wav.
    #[arg(long)]
    dataset: String,
    /// Folder holding fsdd/ and esc10/ (default: $SOUNDPROOF_DATA or ../shared/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// ESC-10: the fold held out for test.
    #[arg(long, default_value_t = 1)]
    fold: u32,
    /// ESC-10: the validation fold (default: the next fold present).
    #[arg(long)]
    val_fold: Option<u32>,
}

impl DataArgs {
    fn spec(&self) -> DatasetSpec {
        let dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        DatasetSpec::parse(&self.dataset, &dir, self.fold, self.val_fold)
    }
}

/// Like [`DataArgs`], with the dataset defaulting to the one the model card names.
#[derive(Args, Clone)]
struct OptionalDataArgs {
    /// `fsdd`, `esc10`, or a folder of CLASS/*.wav (default: the card's dataset).
    #[arg(long)]
    dataset: Option<String>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long, default_value_t = 1)]
    fold: u32,
    #[arg(long)]
    val_fold: Option<u32>,
}

impl OptionalDataArgs {
    fn spec(&self, card_dataset: &str) -> DatasetSpec {
        let dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        DatasetSpec::parse(self.dataset.as_deref().unwrap_or(card_dataset), &dir, self.fold, self.val_fold)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum QuantPrecision {
    F16,
    Int8,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Features {
    Logmel,
    Mfcc,
    Stft,
    LogStft,
}

#[derive(Args)]
struct TrainArgs {
    #[arg(long, value_enum)]
    model: Arch,
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, default_value_t = 30)]
    epochs: usize,
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Waveform Gaussian noise σ added after the gain (003 §5: 0.005; 0 disables).
    #[arg(long, default_value_t = 0.005)]
    sigma: f32,
    /// Probability that a training clip gets the noise.
    #[arg(long, default_value_t = 1.0)]
    noise_prob: f32,
    /// Largest random time shift, in seconds.
    #[arg(long, default_value_t = 0.1)]
    max_shift: f64,
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    #[arg(long, default_value_t = 1e-4)]
    weight_decay: f64,
    #[arg(long, default_value_t = 10)]
    patience: usize,
    /// Channel width multiplier.
    #[arg(long, default_value_t = 1.0)]
    width: f64,
    /// Window length in seconds (default: 1 for keywords, 5 for ESC).
    #[arg(long)]
    seconds: Option<f64>,
    #[arg(long, value_enum, default_value_t = Features::Logmel)]
    features: Features,
    /// Gain normalization target RMS.
    #[arg(long, default_value_t = 1.0)]
    target_rms: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// libtorch CPU threads.
    #[arg(long)]
    threads: Option<usize>,
    /// At most this many clips per split (quick runs).
    #[arg(long)]
    max_clips: Option<usize>,
    /// Output folder (default: out/train/MODEL-DATASET).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Name of the exported model (default: MODEL-DATASET).
    #[arg(long)]
    name: Option<String>,
    /// Print the training report as JSON on stdout (no progress output).
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct CvArgs {
    #[command(flatten)]
    train: TrainArgs,
    /// Also quantize each fold's model to int8 (calibrated on the fold's training clips) and
    /// evaluate it on the held-out speaker.
    #[arg(long)]
    int8: bool,
    /// The FFT of the int8 copies (as `quantize --fft-backend`; default: the f32 model's).
    #[arg(long, value_enum)]
    int8_fft_backend: Option<FftBackendArg>,
    /// Model files whose cards receive the result (`metrics.cross_validation`): f32 cards the
    /// f32 folds, int8 cards the int8 folds (needs --int8). Repeat for several.
    #[arg(long)]
    record: Vec<PathBuf>,
}

#[derive(Args)]
struct ExportArgs {
    /// Folder written by `train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Model name recorded in the card.
    #[arg(long)]
    name: String,
    /// ONNX file to write (NAME.json is written beside it).
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct QuantizeArgs {
    /// The f32 model.
    model: PathBuf,
    #[arg(long, value_enum)]
    precision: QuantPrecision,
    /// Output file (default: MODEL-f16.onnx / MODEL-int8.onnx beside the model).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Training-split clips whose features calibrate int8 ranges.
    #[arg(long, default_value_t = 256)]
    calibration_clips: usize,
    #[command(flatten)]
    data: OptionalDataArgs,
    /// The FFT the new model is served with (written into its card; calibration and the
    /// evaluation use it): microfft for a model that runs on a microcontroller (firmware-sim),
    /// so that the host computes the device's features bit for bit. Default: the parent's.
    #[arg(long, value_enum)]
    fft_backend: Option<FftBackendArg>,
    /// Skip the test-split evaluation that records the new model's accuracy in its card.
    #[arg(long)]
    no_eval: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FftBackendArg {
    Microfft,
    Realfft,
}

impl From<FftBackendArg> for soundproof::dsp::FftBackend {
    fn from(b: FftBackendArg) -> Self {
        match b {
            FftBackendArg::Microfft => soundproof::dsp::FftBackend::Microfft,
            FftBackendArg::Realfft => soundproof::dsp::FftBackend::Realfft,
        }
    }
}

#[derive(Args)]
struct ImportArgs {
    /// The f32 ONNX model (its card names the architecture).
    model: PathBuf,
}

#[derive(Args)]
struct EvalArgs {
    /// The ONNX model.
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
    /// Waveform noise σ added after the gain (0 = clean).
    #[arg(long, default_value_t = 0.0)]
    sigma: f32,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    /// At most this many clips.
    #[arg(long)]
    max_clips: Option<usize>,
    /// Folder for the confusion-matrix PNG.
    #[arg(long, default_value = "out/eval")]
    out: PathBuf,
    /// Do not store the accuracy in the model card.
    #[arg(long)]
    no_record: bool,
    /// `i/N`: this task's share of the clips (whole batches i, i + N, …), written into
    /// OUT/shard-I-of-N/; `auto`: i and N from a Slurm job array; `auto/N`: i from
    /// SLURM_ARRAY_TASK_ID or JOB_COMPLETION_INDEX. Combine with `soundproof-tools merge`.
    #[arg(long)]
    shard: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct AttackArgs {
    /// The model to attack: a checkpoint folder written by `train`, or a shipped f32 model's
    /// .onnx file with its checkpoint beside it (`models/kws-fsdd.onnx`; refused when the two
    /// disagree). `--model` is the same.
    #[arg(long, alias = "model")]
    checkpoint: PathBuf,
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
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    theta: f64,
    /// JSMA γ: at most this fraction of the features change.
    #[arg(long, default_value_t = 0.1)]
    gamma: f64,
    /// JSMA: features changed per iteration (1: the one-feature saliency map).
    #[arg(long, default_value_t = 1)]
    features_per_step: usize,
    /// CW-L2 κ: the logit margin of a success.
    #[arg(long, default_value_t = 0.0)]
    confidence: f64,
    /// CW-L2 and L-BFGS: the first value of c (weight of the loss for CW, of the distance for
    /// L-BFGS; default 1 for cw-l2, 1e-2 for lbfgs).
    #[arg(long)]
    c_init: Option<f64>,
    /// CW-L2 and L-BFGS: values of c tried (binary search steps; default 5; lbfgs 6).
    #[arg(long)]
    search_steps: Option<usize>,
    /// CW-L2: Adam's learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// CW-L2: run every value of c for all its iterations (no early stop).
    #[arg(long)]
    no_abort_early: bool,
    /// Targeted attack towards this class index (default: untargeted).
    #[arg(long)]
    target: Option<i64>,
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
    #[arg(long, default_value_t = 1000)]
    stage1_steps: usize,
    /// Stage 1 step lr1 (default: ε / 20, 004's 100 for ε = 2000).
    #[arg(long)]
    stage1_lr: Option<f64>,
    /// Stage 2 (Adam on ℓnet + α·ℓθ) iterations T2.
    #[arg(long, default_value_t = 4000)]
    stage2_steps: usize,
    /// Stage 2 Adam learning rate lr2 (÷10 for the last quarter; default ε / 100).
    #[arg(long)]
    stage2_lr: Option<f64>,
    /// Initial weight α of the masking loss ℓθ.
    #[arg(long, default_value_t = 0.05)]
    masking_alpha: f64,
    /// psycho-room and psycho-robust: simulated rooms per iteration K (004 §4.2: 10).
    #[arg(long, default_value_t = 10)]
    rooms: usize,
    /// psycho-room and psycho-robust: rooms in the pool the K are drawn from.
    #[arg(long, default_value_t = 100)]
    room_pool: usize,
    /// psycho-room and psycho-robust: fraction of the K rooms that must be fooled to count as
    /// a success (psycho-robust: in its robust stages; 004: 8 of 10).
    #[arg(long, default_value_t = 0.8)]
    room_success: f64,
    /// psycho-robust: iterations of 004 §4.2 stage 1 and 2 and §4.3 stage 1 and 2.
    #[arg(long, value_delimiter = ',', default_value = "2000,4000,4000,6000")]
    robust_steps: Vec<usize>,
    /// psycho-robust: ∆ of 004 §4.2 stage 2, as a fraction of stage 1's final ε.
    #[arg(long, default_value_t = 0.25)]
    robust_delta: f64,
    /// psycho-robust: fraction of the K rooms that must be fooled in §4.3 stage 1 (004: 4 of 10).
    #[arg(long, default_value_t = 0.4)]
    robust_low_success: f64,
    /// Held-out simulated rooms to play every adversarial example in (waveform domain;
    /// default 20 for psycho-room and psycho-robust, else 0).
    #[arg(long)]
    eval_rooms: Option<usize>,
    /// Seed of the simulated rooms.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

#[derive(Args)]
struct AuditArgs {
    /// The model: a checkpoint folder written by `train`, or a shipped f32 model's .onnx file
    /// with its checkpoint beside it (`models/kws-fsdd.onnx`), attacked through tch.
    #[arg(long, alias = "model")]
    checkpoint: PathBuf,
    /// The same model as ONNX, certified in tract (default: --checkpoint when it is an .onnx
    /// file, else the one .onnx file in the checkpoint folder, as `train` writes it).
    #[arg(long)]
    onnx: Option<PathBuf>,
    /// waveform, post:fixed or feature.
    #[arg(long, default_value = "waveform")]
    contract: String,
    #[arg(long, default_value_t = 0.005)]
    sigma: f64,
    #[arg(long, default_value_t = 100)]
    n0: u64,
    #[arg(long, default_value_t = 1000)]
    n: u64,
    #[arg(long, default_value_t = 0.001)]
    alpha: f64,
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
    #[arg(long, value_enum, default_value_t = Split::Test)]
    split: Split,
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
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    #[arg(long)]
    threads: Option<usize>,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct TransferArgs {
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
    #[arg(long, default_value_t = 0)]
    seed: u64,
    #[command(flatten)]
    data: DataArgs,
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
    #[arg(long, default_value_t = 16)]
    batch_size: usize,
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    device: DeviceChoice,
    /// libtorch CPU threads.
    #[arg(long)]
    threads: Option<usize>,
    /// Print the report as JSON on stdout (no progress bar).
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model; writes the checkpoint, train_log.json, training_curve.png and the f32
    /// ONNX model with its card into --out.
    Train(TrainArgs),
    /// Cross-validation of a training recipe: the `train` arguments, once per fold (FSDD: each
    /// speaker held out entirely, --out/SPEAKER; ESC-10: each fold held out, --out/fold-K), each
    /// fold's accuracy on what it never saw (f32, and int8 with --int8); optionally recorded in
    /// model cards (--record). Writes cross_validation.json into --out.
    Cv(CvArgs),
    /// Checkpoint → ONNX (f32) + model card.
    Export(ExportArgs),
    /// f32 ONNX → f16 or int8 (int8 calibrated on training-split features); then evaluates it.
    Quantize(QuantizeArgs),
    /// A shipped f32 ONNX model → its checkpoint beside it (NAME.checkpoint.json +
    /// NAME.safetensors; batch norms folded, every weight from the graph, checked to export
    /// the file's weights bit for bit), so that attack, audit and transfer take NAME.onnx.
    Import(ImportArgs),
    /// Runs an ONNX model in tract on a dataset split: accuracy, confusion matrix, recall.
    Eval(EvalArgs),
    /// Adversarial attack (FGSM L∞/L2, BIM-a, BIM-b, DeepFool L2/L∞, JSMA, CW-L2, L-BFGS, the
    /// psychoacoustic attack of 004 and its room-robust variant) on clips of a dataset split or
    /// WAV files; writes the adversarial inputs, report.json and the triptychs into --out.
    Attack(AttackArgs),
    /// Certificate audit: certify clips in the engine, attack the smoothed classifier with
    /// budgets below and above the certified radius R, judge with the engine's PREDICT; and the
    /// base model's cheapest (DeepFool) attack against R. Writes audit.json into --out.
    Audit(AuditArgs),
    /// Cross-representation transfer (002) and the transferability matrix (000 Table V): attack
    /// each model in its own representation, rebuild the audio, play it to every model and to
    /// the engine's ONNX models; writes report.json, matrix.json and matrix.md into --out.
    Transfer(TransferArgs),
    /// Merges the reports of `attack`, `audit` or `eval` run with --shard (their files or the
    /// shard folders) into what the unsharded run writes into --out: the report with the
    /// per-example results in order and the summary recomputed; attack's per-clip files; eval's
    /// confusion-matrix PNG. Checks that the shards are one run, each present once.
    Merge(MergeArgs),
}

#[derive(Args)]
struct MergeArgs {
    /// Shard reports (report.json, audit.json, eval.json) or the shard folders holding them.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Folder of the merged run.
    #[arg(long)]
    out: PathBuf,
}

fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut parts = vec!["soundproof-tools".to_string()];
    parts.extend(args.into_iter().skip(1));
    parts.join(" ")
}

fn run_train(a: TrainArgs) -> anyhow::Result<()> {
    let cfg = train_config(&a);
    let spec = a.data.spec();
    let default_name = format!("{}-{}", a.model.name(), a.data.dataset.trim_end_matches('/').rsplit('/').next().unwrap_or("data"));
    let name = a.name.clone().unwrap_or(default_name);
    let out = a.out.clone().unwrap_or_else(|| Path::new("out").join("train").join(&name));
    let report = train(&cfg, &spec, &out).with_context(|| format!("training {}", a.model.name()))?;
    let onnx_path = out.join(format!("{name}.onnx"));
    let exported = export(&out, &name, &onnx_path);
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["onnx"] = match &exported {
            Ok(_) => serde_json::json!(onnx_path),
            Err(e) => serde_json::json!({ "error": e.to_string() }),
        };
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        match &exported {
            Ok(_) => eprintln!("exported {}", onnx_path.display()),
            Err(e) => eprintln!("warning: no ONNX export ({e}); the checkpoint in {} can be exported later", out.display()),
        }
    }
    Ok(())
}

fn run_cv(a: CvArgs) -> anyhow::Result<()> {
    use soundproof::model::{CrossValidation, CvFold};
    let t = &a.train;
    let cfg = train_config(t);
    // The folds: FSDD, one per speaker (that voice held out entirely); ESC-10, one per fold
    // present (that fold tests, the next one validates, the rest train: the ESC protocol).
    let (scheme, dataset, folds): (&str, &str, Vec<(String, DatasetSpec)>) = match t.data.spec() {
        DatasetSpec::Fsdd { recordings } => {
            let speakers = soundproof_tools::data::fsdd::speakers(&recordings)?;
            let folds = speakers.into_iter().map(|s| (s.clone(), DatasetSpec::FsddSpeaker { recordings: recordings.clone(), held_out: s })).collect();
            ("leave-one-speaker-out", "fsdd", folds)
        }
        DatasetSpec::Esc10 { root, .. } => {
            let folds = soundproof_tools::data::esc10::folds(&root)?;
            let folds = folds.into_iter().map(|f| (format!("fold-{f}"), DatasetSpec::Esc10 { root: root.clone(), test_fold: f, validation_fold: None })).collect();
            ("leave-one-fold-out", "esc10", folds)
        }
        DatasetSpec::FsddSpeaker { .. } | DatasetSpec::Folder { .. } => {
            anyhow::bail!("cv: --dataset fsdd (one fold per speaker) or esc10 (one fold per ESC fold)")
        }
    };
    anyhow::ensure!(folds.len() >= 2, "cv: {} folds", folds.len());
    let name = t.name.clone().unwrap_or_else(|| format!("{}-{dataset}", t.model.name()));
    let out = t.out.clone().unwrap_or_else(|| Path::new("out").join("cv").join(&name));
    let (mut f32_folds, mut int8_folds) = (Vec::new(), Vec::new());
    let n_folds = folds.len();
    for (k, (held, spec)) in folds.into_iter().enumerate() {
        let dir = out.join(&held);
        if !t.json {
            eprintln!("fold {}/{n_folds}: {held} held out", k + 1);
        }
        let report = train(&cfg, &spec, &dir).with_context(|| format!("training the fold without {held}"))?;
        let onnx_path = dir.join(format!("{name}.onnx"));
        export(&dir, &name, &onnx_path).with_context(|| format!("exporting {}", dir.display()))?;
        // Both precisions are scored by the engine's runtime (tract) on the same clips of the
        // held-out fold (all of its clips, or --max-clips evenly spaced).
        let opts = EvalOptions { split: Split::Test, batch: 16, sigma: 0.0, seed: 0, max_clips: t.max_clips, shard: Shard::WHOLE };
        let (r, _, _) = evaluate(&onnx_path, &spec, &opts)?;
        f32_folds.push(CvFold { held_out: held.clone(), accuracy: r.accuracy, examples: r.examples });
        if a.int8 {
            let q = quantized_path(&onnx_path, Precision::Int8);
            quantize(&onnx_path, Precision::Int8, &spec, 256, a.int8_fft_backend.map(Into::into), &q)?;
            let (r, _, _) = evaluate(&q, &spec, &opts)?;
            int8_folds.push(CvFold { held_out: held.clone(), accuracy: r.accuracy, examples: r.examples });
        }
        if !t.json {
            let i8 = int8_folds.last().filter(|_| a.int8).map(|f| format!(", int8 {:.2} %", 100.0 * f.accuracy)).unwrap_or_default();
            eprintln!("fold {held}: {:.2} % of {} clips (tract; {:.2} % in training){i8}", 100.0 * r.accuracy, r.examples, 100.0 * report.test_accuracy);
        }
    }
    let summary = |folds: Vec<CvFold>| CrossValidation {
        scheme: scheme.into(),
        mean_accuracy: folds.iter().map(|f| f.accuracy).sum::<f64>() / folds.len() as f64,
        min_accuracy: folds.iter().map(|f| f.accuracy).fold(f64::INFINITY, f64::min),
        folds,
        command: command_line(),
    };
    let f32_cv = summary(f32_folds);
    let int8_cv = (!int8_folds.is_empty()).then(|| summary(int8_folds));
    std::fs::create_dir_all(&out)?;
    write_json(&out.join("cross_validation.json"), &serde_json::json!({ "f32": f32_cv, "int8": int8_cv }))?;
    for path in &a.record {
        let mut proto = onnx::load(path)?;
        let mut card = onnx::card_of(&proto)?;
        let cv = match card.precision {
            Precision::Int8 => int8_cv.clone().with_context(|| format!("{} is int8: run with --int8", path.display()))?,
            _ => f32_cv.clone(),
        };
        card.metrics.cross_validation = Some(cv);
        onnx::set_card(&mut proto, &card)?;
        onnx::save(&proto, path)?;
    }
    if t.json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "f32": f32_cv, "int8": int8_cv }))?);
    } else {
        println!("{scheme}, {} ({} folds):", t.model.name(), f32_cv.folds.len());
        for (i, f) in f32_cv.folds.iter().enumerate() {
            let i8 = int8_cv.as_ref().map(|c| format!("   int8 {:6.2} %", 100.0 * c.folds[i].accuracy)).unwrap_or_default();
            println!("  {:<10} {:6.2} % of {} clips{i8}", f.held_out, 100.0 * f.accuracy, f.examples);
        }
        let i8 = int8_cv.as_ref().map(|c| format!("; int8 mean {:.2} %, min {:.2} %", 100.0 * c.mean_accuracy, 100.0 * c.min_accuracy)).unwrap_or_default();
        println!("  mean {:.2} %, min {:.2} %{i8}", 100.0 * f32_cv.mean_accuracy, 100.0 * f32_cv.min_accuracy);
        for p in &a.record {
            println!("recorded in the card of {}", p.display());
        }
    }
    Ok(())
}

/// The training configuration of `train`'s (and `cv`'s) arguments.
fn train_config(a: &TrainArgs) -> TrainConfig {
    let mut cfg = TrainConfig::new(a.model);
    cfg.epochs = a.epochs;
    cfg.batch_size = a.batch_size;
    cfg.lr = a.lr;
    cfg.weight_decay = a.weight_decay;
    cfg.patience = a.patience;
    cfg.width = a.width;
    cfg.seconds = a.seconds;
    cfg.target_rms = a.target_rms;
    cfg.seed = a.seed;
    cfg.device = a.device;
    cfg.threads = a.threads;
    cfg.max_per_split = a.max_clips;
    cfg.features = match a.features {
        Features::Logmel => FeatureKind::Logmel,
        Features::Mfcc => FeatureKind::Mfcc,
        Features::Stft => FeatureKind::Stft,
        Features::LogStft => FeatureKind::LogStft,
    };
    cfg.augment = Augment {
        sigma: a.sigma,
        noise_prob: a.noise_prob,
        max_shift: (a.max_shift.max(0.0) * cfg.sample_rate as f64).round() as usize,
    };
    cfg.command = command_line();
    cfg.quiet = a.json;
    cfg
}

fn run_export(a: ExportArgs) -> anyhow::Result<()> {
    let card = export(&a.checkpoint, &a.name, &a.out).with_context(|| format!("exporting {}", a.checkpoint.display()))?;
    if a.json {
        println!("{}", card.to_json());
    } else {
        eprintln!("exported {} ({}, {:.2}% test accuracy)", a.out.display(), card.architecture, 100.0 * card.metrics.test_accuracy);
    }
    Ok(())
}

fn run_quantize(a: QuantizeArgs) -> anyhow::Result<()> {
    let precision = match a.precision {
        QuantPrecision::F16 => Precision::F16,
        QuantPrecision::Int8 => Precision::Int8,
    };
    let parent = onnx::load(&a.model).and_then(|m| onnx::card_of(&m)).with_context(|| format!("reading {}", a.model.display()))?;
    let spec = a.data.spec(&parent.training.dataset);
    let out = a.out.clone().unwrap_or_else(|| quantized_path(&a.model, precision));
    let card = quantize(&a.model, precision, &spec, a.calibration_clips, a.fft_backend.map(Into::into), &out).with_context(|| format!("quantizing {}", a.model.display()))?;
    let mut result = serde_json::json!({ "model": out, "card": card });
    if !a.no_eval {
        let opts = EvalOptions { split: Split::Test, batch: 16, sigma: 0.0, seed: 0, max_clips: None, shard: Shard::WHOLE };
        let (mut report, proto, card) = evaluate(&out, &spec, &opts).context("evaluating the quantized model")?;
        record_metrics(&mut report, proto, card)?;
        if !a.json {
            eprintln!(
                "{}: {:.2}% test accuracy ({} clips), drop {} points against {}",
                out.display(),
                100.0 * report.accuracy,
                report.examples,
                report.accuracy_drop_points.map(|d| format!("{d:.2}")).unwrap_or_else(|| "?".into()),
                parent.name
            );
        }
        result["eval"] = serde_json::to_value(&report)?;
    } else if !a.json {
        eprintln!("wrote {}", out.display());
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    }
    Ok(())
}

fn run_eval(a: EvalArgs) -> anyhow::Result<()> {
    let shard = parse_shard(a.shard.as_deref())?;
    let opts = EvalOptions { split: a.split, batch: a.batch_size, sigma: a.sigma, seed: a.seed, max_clips: a.max_clips, shard };
    let (mut report, proto, card) = evaluate(&a.model, &a.data.spec(), &opts).with_context(|| format!("evaluating {}", a.model.display()))?;
    if !a.no_record && a.max_clips.is_none() && shard.is_whole() {
        record_metrics(&mut report, proto, card)?;
    }
    let out = shard_dir(&a.out, shard);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    write_json(&out.join("eval.json"), &report)?;
    print_eval(&report, a.json, &out, &a.model)
}

/// The confusion-matrix PNG of an evaluation (in `out`) and its text (or JSON) on stdout.
fn print_eval(report: &soundproof_tools::eval::EvalReport, json: bool, out: &Path, model: &Path) -> anyhow::Result<()> {
    let split = serde_json::to_value(report.split)?.as_str().unwrap_or("split").to_string();
    let png = out.join(format!("{}-{}-confusion.png", report.model, split));
    let title = format!("{} on {} {} (σ = {}): {:.2}%", report.model, report.dataset, split, report.sigma, 100.0 * report.accuracy);
    let plotted = plot::confusion(&report.confusion, &report.labels, &title, &png);
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["confusion_png"] = serde_json::json!(plotted.as_ref().map(|_| png.clone()).ok());
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        println!(
            "{} ({:?}) on {} {} split, σ = {}: accuracy {:.2}% ({} clips), {:.0} windows/s in tract",
            report.model, report.precision, report.dataset, split, report.sigma, 100.0 * report.accuracy, report.examples, report.windows_per_s
        );
        print!("{}", confusion_text(&report));
        if report.metrics_recorded {
            println!("recorded in the card of {}", model.display());
        }
        match plotted {
            Ok(()) => println!("confusion matrix: {}", png.display()),
            Err(e) => eprintln!("warning: {e}"),
        }
    }
    Ok(())
}

fn run_attack(a: AttackArgs) -> anyhow::Result<()> {
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
    let psycho_kind = matches!(a.attack, AttackKind::Psycho | AttackKind::PsychoRoom | AttackKind::PsychoRobust);
    let room_kind = matches!(a.attack, AttackKind::PsychoRoom | AttackKind::PsychoRobust);
    let eps = match (a.eps, a.attack) {
        (Some(e), _) => e,
        (None, AttackKind::Deepfool | AttackKind::DeepfoolLinf | AttackKind::Jsma | AttackKind::CwL2 | AttackKind::Lbfgs) => 0.0,
        (None, _) if psycho_kind => 0.1,
        (None, _) => anyhow::bail!("--eps is required for {:?}", a.attack),
    };
    let config = AttackConfig {
        kind: a.attack,
        eps,
        alpha: a.alpha.unwrap_or(eps / 4.0),
        steps: a.steps.unwrap_or(match a.attack {
            AttackKind::CwL2 => 100,
            AttackKind::Lbfgs => 30,
            _ => 10,
        }),
        goal: a.target.map(Goal::Targeted).unwrap_or(Goal::Untargeted),
    };
    let box_spec = match (a.box_bound, a.no_box) {
        (_, true) => BoxSpec::Unbounded,
        (Some(b), _) => BoxSpec::Fixed { lo: -b, hi: b },
        (None, false) => BoxSpec::Clean,
    };
    let defaults = OptParams::default();
    let opt = OptParams {
        theta: a.theta,
        gamma: a.gamma,
        features_per_step: a.features_per_step,
        confidence: a.confidence,
        c_init: a.c_init.unwrap_or(if a.attack == AttackKind::Lbfgs { 1e-2 } else { defaults.c_init }),
        search_steps: a.search_steps.unwrap_or(if a.attack == AttackKind::Lbfgs { 6 } else { defaults.search_steps }),
        lr: a.lr,
        abort_early: !a.no_abort_early,
    };
    let p = &a.psycho;
    let psycho = if psycho_kind {
        anyhow::ensure!(a.domain == Domain::Waveform, "--attack {:?} perturbs the waveform: use --domain waveform", a.attack);
        let sample_rate = soundproof_tools::checkpoint::Checkpoint::load(&a.checkpoint)?.sample_rate;
        let mut c = PsychoConfig::new(sample_rate);
        c.eps = eps;
        c.lr1 = p.stage1_lr.unwrap_or(eps / 20.0);
        c.steps1 = p.stage1_steps;
        c.lr2 = p.stage2_lr.unwrap_or(eps / 100.0);
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
fn print_attack(report: &soundproof_tools::attack::runner::Report, json: bool, out: &Path) -> anyhow::Result<()> {
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

fn run_audit(a: AuditArgs) -> anyhow::Result<()> {
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
            let clip = soundproof::audio::read_mono(&e.path).with_context(|| format!("reading {}", e.path.display()))?;
            let samples = soundproof::audio::resample(&clip.samples, clip.sample_rate, ck.sample_rate)?;
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
fn print_audit(report: &soundproof_tools::attack::audit::AuditReport, json: bool, path: &Path) -> anyhow::Result<()> {
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

fn parse_shard(s: Option<&str>) -> anyhow::Result<Shard> {
    Ok(s.map(Shard::parse).transpose()?.unwrap_or(Shard::WHOLE))
}

fn run_merge(a: MergeArgs) -> anyhow::Result<()> {
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

fn run_transfer(a: TransferArgs) -> anyhow::Result<()> {
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
    let attack = |eps: f64| AttackConfig { kind: a.attack, eps, alpha: eps / 4.0, steps: a.steps, goal: Goal::Untargeted };
    let opts = TransferOptions {
        features_attack: attack(a.eps),
        waveform_attack: attack(a.waveform_eps),
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


fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Train(a) => run_train(a),
        Command::Export(a) => run_export(a),
        Command::Quantize(a) => run_quantize(a),
        Command::Cv(a) => run_cv(a),
        Command::Import(a) => {
            let ck = soundproof_tools::checkpoint::Checkpoint::import(&a.model).with_context(|| format!("importing {}", a.model.display()))?;
            let (meta, weights) = soundproof_tools::checkpoint::files(&a.model);
            println!(
                "{} ({} folded, {} parameters): wrote {} and {}; it exports the model's weights bit for bit",
                a.model.display(),
                ck.spec.arch.name(),
                ck.parameters,
                meta.display(),
                weights.display()
            );
            Ok(())
        }
        Command::Eval(a) => run_eval(a),
        Command::Attack(a) => run_attack(a),
        Command::Audit(a) => run_audit(a),
        Command::Transfer(a) => run_transfer(a),
        Command::Merge(a) => run_merge(a),
    }
}

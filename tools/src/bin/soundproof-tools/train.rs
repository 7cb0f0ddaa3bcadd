//! `soundproof-tools train`: trains a model, then exports it to ONNX with its card.

use crate::common::{command_line, DataArgs};
use anyhow::Context;
use clap::Args;
use soundproof::dsp::FeatureKind;
use soundproof_tools::data::augment::Augment;
use soundproof_tools::device::DeviceChoice;
use soundproof_tools::export::export;
use soundproof_tools::nn::Arch;
use soundproof_tools::study::{Representation, Wavelet};
use soundproof_tools::train::{train, TrainConfig};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Features {
    /// Log-mel energies in dB, n_mels bands per frame (the engine's default front end).
    Logmel,
    /// MFCCs of the log-mel energies, n_mfcc coefficients per frame.
    Mfcc,
    /// STFT power spectrum, n_fft/2 + 1 bins per frame.
    Stft,
    /// STFT power spectrum in dB, n_fft/2 + 1 bins per frame (the STFT spectrogram of 000/001/002).
    LogStft,
    /// The continuous-wavelet scalogram of 000/001 (their "DWT"): 50 ms frames, 50 % overlap,
    /// log10 of each scale's energy; mother function --wavelet, --n-scales rows.
    Scalogram,
}

#[derive(Args)]
pub struct TrainArgs {
    /// Architecture to train.
    #[arg(long, value_enum)]
    pub model: Arch,
    #[command(flatten)]
    pub data: DataArgs,
    /// Most epochs to train (early stopping may end sooner, see --patience); also the length of
    /// the cosine learning-rate schedule.
    #[arg(long, default_value_t = 30)]
    pub epochs: usize,
    /// Clips per optimizer step (and per batch of the validation and test passes).
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Waveform Gaussian noise σ added after the gain (003 §5: 0.005; 0 disables).
    #[arg(long, default_value_t = 0.005)]
    pub sigma: f32,
    /// Probability that a training clip gets the noise.
    #[arg(long, default_value_t = 1.0)]
    pub noise_prob: f32,
    /// Largest random time shift, in seconds.
    #[arg(long, default_value_t = 0.1)]
    pub max_shift: f64,
    /// Speed perturbation: each training clip resampled about its centre by a random factor in
    /// [1 - S, 1 + S] (pitch and tempo together, as another voice and pace; 0.1 is the usual
    /// 0.9-1.1). 0 (the default) draws nothing, so earlier recipes give the same bytes.
    #[arg(long, default_value_t = 0.0)]
    pub speed: f32,
    /// Pitch shift with the tempo kept: each training clip shifted by a random number of
    /// semitones in [-P, +P] (WSOLA time stretch, then resampling; after --speed). 0 (the
    /// default) draws nothing.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub pitch: f32,
    /// Room reverberation: each training window, with this probability, convolved with the
    /// impulse response of one of 200 simulated rooms (image method; 3-8 m rooms, absorption
    /// 0.2-0.8, speaker 0.5-3 m from the microphone; drawn once from --seed), RMS kept. 0 (the
    /// default) draws nothing.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub reverb: f32,
    /// Random gain: each training window scaled by a gain drawn uniformly in [-G, +G] dB (20:
    /// the ±20 dB a device's microphone gain may differ by; matters for models served with a
    /// fixed gain). 0 (the default) draws nothing.
    #[arg(long, default_value_t = 0.0, value_name = "G")]
    pub gain_db: f32,
    /// Background noise: a folder of `.wav` clips (e.g. ../shared/data/esc10/audio), a random
    /// stretch of one mixed into a training window with probability --background-prob, at an
    /// SNR drawn in --snr.
    #[arg(long, value_name = "DIR")]
    pub background: Option<std::path::PathBuf>,
    /// Only the background clips of these ESC folds (file names `K-…`, e.g. 1,2,3: keep fold 4's
    /// sounds for testing).
    #[arg(long, value_delimiter = ',', value_name = "K,...")]
    pub background_folds: Option<Vec<u32>>,
    /// More training clips, FSDD datasets only: a folder of `{digit}_{voice}_{take}.wav` (e.g.
    /// the synthetic voices of scripts/make_synthetic_digits.sh), added to the training split
    /// (of every cv fold), never to validation or test. Refused when a voice is one of the
    /// dataset's speakers.
    #[arg(long, value_name = "DIR")]
    pub extra_train: Option<std::path::PathBuf>,
    /// Probability that a training window gets background noise (with --background).
    #[arg(long, default_value_t = 0.5)]
    pub background_prob: f32,
    /// SNR range of the background noise in dB, LOW:HIGH.
    #[arg(long, default_value = "0:20", value_parser = parse_snr)]
    pub snr: [f32; 2],
    /// SpecAugment: two frequency masks per window, each of a width drawn in 0..=F bins (feature
    /// models; 0, the default, draws nothing).
    #[arg(long, default_value_t = 0, value_name = "F")]
    pub freq_mask: usize,
    /// SpecAugment: two time masks per window, each of a width drawn in 0..=T frames.
    #[arg(long, default_value_t = 0, value_name = "T")]
    pub time_mask: usize,
    /// Mixup α (0, the default, off; 0.2-0.4 is usual for ESC): each training batch mixed with
    /// a permutation of itself at λ ~ Beta(α, α), the loss mixed the same way.
    #[arg(long, default_value_t = 0.0, value_name = "ALPHA")]
    pub mixup: f64,
    /// AdamW's initial learning rate, decayed to 0 along a cosine over all the steps of --epochs.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// AdamW's (decoupled) weight decay.
    #[arg(long, default_value_t = 1e-4)]
    pub weight_decay: f64,
    /// Early stopping: stop after this many epochs without a better validation accuracy (the
    /// best epoch's weights are kept either way).
    #[arg(long, default_value_t = 10)]
    pub patience: usize,
    /// Channel width multiplier.
    #[arg(long, default_value_t = 1.0)]
    pub width: f64,
    /// Window length in seconds (default: 1 for keywords, 5 for ESC).
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Front end of feature models (cnn1d takes the waveform and ignores it).
    #[arg(long, value_enum, default_value_t = Features::Logmel)]
    pub features: Features,
    /// Scalogram: the mother function.
    #[arg(long, value_enum, default_value_t = Wavelet::Cmor)]
    pub wavelet: Wavelet,
    /// Scalogram: number of scales (50 Hz to Nyquist).
    #[arg(long, default_value_t = 64)]
    pub n_scales: usize,
    /// Model sample rate in Hz (clips are resampled to it; 000/001 compare 8 and 16 kHz).
    #[arg(long, default_value_t = 16_000)]
    pub sample_rate: u32,
    /// Gain normalization target RMS.
    #[arg(long, default_value_t = 1.0)]
    pub target_rms: f32,
    /// Seed of the weight initialization (libtorch), the shuffling and the augmentation draws.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where libtorch trains.
    #[arg(long, value_enum, default_value_t = DeviceChoice::Auto)]
    pub device: DeviceChoice,
    /// libtorch CPU threads.
    #[arg(long)]
    pub threads: Option<usize>,
    /// At most this many clips per split (quick runs).
    #[arg(long)]
    pub max_clips: Option<usize>,
    /// Output folder (default: out/train/MODEL-DATASET).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Name of the exported model (default: MODEL-DATASET).
    #[arg(long)]
    pub name: Option<String>,
    /// Print the training report as JSON on stdout (no progress output).
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: TrainArgs) -> anyhow::Result<()> {
    let cfg = train_config(&a)?;
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

/// The training configuration of `train`'s (and `cv`'s) arguments.
pub fn train_config(a: &TrainArgs) -> anyhow::Result<TrainConfig> {
    let mut cfg = TrainConfig::new(a.model);
    cfg.sample_rate = a.sample_rate;
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
        Features::Scalogram => FeatureKind::Scalogram,
    };
    if let Features::Scalogram = a.features {
        cfg.feature_config = Some(Representation::scalogram("scalogram", a.wavelet, a.sample_rate, Some(a.n_scales)).config()?);
    }
    cfg.augment = Augment {
        sigma: a.sigma,
        noise_prob: a.noise_prob,
        max_shift: (a.max_shift.max(0.0) * cfg.sample_rate as f64).round() as usize,
        speed: a.speed,
        pitch: a.pitch,
        reverb_prob: a.reverb,
        gain_db: a.gain_db,
        background_prob: if a.background.is_some() { a.background_prob } else { 0.0 },
        snr_db: a.snr,
        freq_mask: a.freq_mask,
        time_mask: a.time_mask,
    };
    cfg.background = a.background.clone();
    cfg.background_folds = a.background_folds.clone();
    cfg.extra_train = a.extra_train.clone();
    if !(a.mixup >= 0.0 && a.mixup.is_finite()) {
        anyhow::bail!("--mixup must be a finite α >= 0");
    }
    cfg.mixup = a.mixup;
    cfg.command = command_line();
    cfg.quiet = a.json;
    Ok(cfg)
}

/// `LOW:HIGH` in dB.
fn parse_snr(s: &str) -> Result<[f32; 2], String> {
    let (lo, hi) = s.split_once(':').ok_or_else(|| format!("`{s}`: expected LOW:HIGH in dB, e.g. 0:20"))?;
    let p = |v: &str| v.trim().parse::<f32>().map_err(|e| format!("`{v}`: {e}"));
    let (lo, hi) = (p(lo)?, p(hi)?);
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(format!("`{s}`: LOW must be <= HIGH"));
    }
    Ok([lo, hi])
}

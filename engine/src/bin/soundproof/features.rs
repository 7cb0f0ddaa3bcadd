//! `soundproof features`: arguments → `FeatureConfig`, then `soundproof::features`.

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use soundproof::audio::Pacing;
use soundproof::dsp::{
    wavelet::{ContinuousWavelet, DiscreteWavelet},
    DctNorm, FeatureConfig, FeatureKind, FftBackend, GainPolicy, MelNorm, MelScale,
};
use soundproof::features::{extract_file, FeatureError, Mode};
use soundproof::npy::NpyWriter;
use std::path::PathBuf;

use crate::peak_rss_mib;

#[derive(Clone, Copy, ValueEnum)]
enum Kind {
    Stft,
    LogStft,
    Logmel,
    Mfcc,
    /// Framed continuous-wavelet scalogram (the "DWT" representation of 000/001; `dwt` is
    /// accepted too).
    #[value(alias = "dwt")]
    Scalogram,
    /// Multi-level discrete wavelet transform sub-band log energies.
    DwtBands,
}

#[derive(Clone, Copy, ValueEnum)]
enum Scale {
    Slaney,
    Htk,
}

#[derive(Clone, Copy, ValueEnum)]
enum Norm {
    Slaney,
    None,
}

#[derive(Clone, Copy, ValueEnum)]
enum Dct {
    Ortho,
    None,
}

#[derive(Clone, Copy, ValueEnum)]
enum Fft {
    Microfft,
    Realfft,
}

#[derive(Clone, Copy, ValueEnum)]
enum Mother {
    Haar,
    Mexh,
    Cmor,
}

#[derive(Clone, Copy, ValueEnum)]
enum Orthogonal {
    Haar,
    Db4,
}

#[derive(Args)]
pub struct FeaturesArgs {
    /// Input WAV file (8/16/24/32-bit integer or 32-bit float, any channel count).
    input: PathBuf,
    /// Output .npy file.
    #[arg(long)]
    out: PathBuf,
    #[arg(long, value_enum, default_value = "logmel")]
    kind: Kind,
    /// Rate the features are computed at, Hz; the audio is resampled to it [default: the file's rate].
    #[arg(long)]
    sample_rate: Option<u32>,
    /// FFT length in samples.
    #[arg(long, default_value_t = 1024)]
    n_fft: usize,
    /// Hann window length in samples, centred in n_fft [default: n_fft].
    #[arg(long)]
    win_length: Option<usize>,
    /// Samples between frames [default: win_length / 4, as librosa].
    #[arg(long)]
    hop_length: Option<usize>,
    /// Frames start at sample 0 instead of being centred (no n_fft/2 zero padding).
    #[arg(long)]
    no_center: bool,
    #[arg(long, default_value_t = 64)]
    n_mels: usize,
    /// Lowest mel band edge, Hz.
    #[arg(long, default_value_t = 0.0)]
    fmin: f32,
    /// Highest mel band edge, Hz [default: sample_rate / 2].
    #[arg(long)]
    fmax: Option<f32>,
    #[arg(long, value_enum, default_value = "slaney")]
    mel_scale: Scale,
    #[arg(long, value_enum, default_value = "slaney")]
    mel_norm: Norm,
    /// Floor of 10·log10(max(amin, S)).
    #[arg(long, default_value_t = 1e-10)]
    amin: f32,
    #[arg(long, default_value_t = 20)]
    n_mfcc: usize,
    #[arg(long, value_enum, default_value = "ortho")]
    dct_norm: Dct,
    /// Cepstral lifter L (001 Eq. 21); 0 disables.
    #[arg(long, default_value_t = 0.0)]
    lifter: f32,
    /// Mother wavelet of the scalogram (kind dwt).
    #[arg(long, value_enum, default_value = "cmor")]
    wavelet: Mother,
    /// Complex Morlet bandwidth B and centre frequency C (PyWavelets cmorB-C).
    #[arg(long, default_value_t = 1.5)]
    cmor_bandwidth: f32,
    #[arg(long, default_value_t = 1.0)]
    cmor_center: f32,
    /// Number of scales (kind dwt).
    #[arg(long, default_value_t = 64)]
    n_scales: usize,
    /// Wavelet frame length in ms (kinds dwt, dwt-bands).
    #[arg(long, default_value_t = 50.0)]
    frame_ms: f64,
    /// Overlap between wavelet frames, percent.
    #[arg(long, default_value_t = 50.0)]
    overlap: f64,
    /// Scale frequency range for the scalogram, Hz [default: 50 .. sample_rate / 2].
    #[arg(long)]
    wavelet_fmin: Option<f32>,
    #[arg(long)]
    wavelet_fmax: Option<f32>,
    /// Orthogonal wavelet of dwt-bands.
    #[arg(long, value_enum, default_value = "db4")]
    dwt_wavelet: Orthogonal,
    /// Decomposition levels of dwt-bands.
    #[arg(long, default_value_t = 5)]
    levels: usize,
    /// Gain policy before framing: fixed:G, rms:TARGET, peak:TARGET or clip:LIMIT
    /// (rms and peak need the whole clip, so not with --streaming).
    #[arg(long, default_value = "fixed:1")]
    gain: String,
    /// FFT backend.
    #[arg(long, value_enum, default_value = "realfft")]
    fft: Fft,
    /// Run through the streaming ring (bounded memory; bit-identical to the batch path).
    #[arg(long)]
    streaming: bool,
    /// With --streaming: pace the producer like a device at this multiple of real time.
    #[arg(long)]
    realtime: Option<f64>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

fn parse_gain(s: &str) -> Result<GainPolicy> {
    let (name, value) = s.split_once(':').unwrap_or((s, ""));
    let v = || -> Result<f32> {
        value.parse::<f32>().with_context(|| format!("--gain {s}: expected NAME:NUMBER, e.g. fixed:0.5 or clip:1"))
    };
    let g = match name {
        "fixed" => GainPolicy::Fixed { gain: v()? },
        "rms" => GainPolicy::Rms { target: v()? },
        "peak" => GainPolicy::Peak { target: v()? },
        "clip" => GainPolicy::Clip { limit: if value.is_empty() { 1.0 } else { v()? } },
        _ => bail!("--gain {s}: unknown policy {name:?}; use fixed:G, rms:TARGET, peak:TARGET or clip:LIMIT"),
    };
    g.validate().with_context(|| format!("--gain {s}"))?;
    Ok(g)
}

fn feature_config(a: &FeaturesArgs, file_rate: u32) -> Result<FeatureConfig> {
    let kind = match a.kind {
        Kind::Stft => FeatureKind::Stft,
        Kind::LogStft => FeatureKind::LogStft,
        Kind::Logmel => FeatureKind::Logmel,
        Kind::Mfcc => FeatureKind::Mfcc,
        Kind::Scalogram => FeatureKind::Scalogram,
        Kind::DwtBands => FeatureKind::DwtBands,
    };
    let sr = a.sample_rate.unwrap_or(file_rate);
    let mut c = FeatureConfig::new(kind).with_sample_rate(sr);
    c.stft.n_fft = a.n_fft;
    c.stft.win_length = a.win_length.unwrap_or(a.n_fft);
    c.stft.hop_length = a.hop_length.unwrap_or(c.stft.win_length / 4).max(1);
    c.stft.center = !a.no_center;
    c.mel.n_mels = a.n_mels;
    c.mel.fmin = a.fmin;
    c.mel.fmax = a.fmax;
    c.mel.mel_scale = match a.mel_scale {
        Scale::Slaney => MelScale::Slaney,
        Scale::Htk => MelScale::Htk,
    };
    c.mel.norm = match a.mel_norm {
        Norm::Slaney => MelNorm::Slaney,
        Norm::None => MelNorm::None,
    };
    c.mel.amin = a.amin;
    c.mfcc.n_mfcc = a.n_mfcc;
    c.mfcc.norm = match a.dct_norm {
        Dct::Ortho => DctNorm::Ortho,
        Dct::None => DctNorm::None,
    };
    c.mfcc.lifter = a.lifter;
    if !(a.frame_ms > 0.0) || !(0.0..100.0).contains(&a.overlap) {
        bail!("--frame-ms must be > 0 and --overlap in [0, 100)");
    }
    let frame = (a.frame_ms * 1e-3 * sr as f64).round() as usize;
    let hop = ((frame as f64) * (1.0 - a.overlap / 100.0)).round().max(1.0) as usize;
    c.scalogram.frame_length = frame;
    c.scalogram.hop_length = hop;
    c.scalogram.center = !a.no_center;
    c.scalogram.wavelet = match a.wavelet {
        Mother::Haar => ContinuousWavelet::Haar,
        Mother::Mexh => ContinuousWavelet::MexicanHat,
        Mother::Cmor => ContinuousWavelet::ComplexMorlet { bandwidth: a.cmor_bandwidth, center_frequency: a.cmor_center },
    };
    c.scalogram.n_scales = a.n_scales;
    c.scalogram.fmin = a.wavelet_fmin.unwrap_or(50.0);
    c.scalogram.fmax = a.wavelet_fmax;
    c.scalogram.amin = a.amin;
    c.dwt_bands.frame_length = frame;
    c.dwt_bands.hop_length = hop;
    c.dwt_bands.center = !a.no_center;
    c.dwt_bands.wavelet = match a.dwt_wavelet {
        Orthogonal::Haar => DiscreteWavelet::Haar,
        Orthogonal::Db4 => DiscreteWavelet::Db4,
    };
    c.dwt_bands.levels = a.levels;
    c.dwt_bands.amin = a.amin;
    c.gain = parse_gain(&a.gain)?;
    c.fft_backend = match a.fft {
        Fft::Microfft => FftBackend::Microfft,
        Fft::Realfft => FftBackend::Realfft,
    };
    Ok(c)
}

/// The CLI's error type: anything the library reports, with context.
#[derive(Debug)]
struct CliError(anyhow::Error);

impl<T: Into<FeatureError>> From<T> for CliError {
    fn from(e: T) -> Self {
        CliError(anyhow::Error::new(e.into()))
    }
}

pub fn run(a: FeaturesArgs) -> Result<()> {
    let info = soundproof::audio::WavReader::open(&a.input)?.info();
    let cfg = feature_config(&a, info.sample_rate)?;
    // Build the front end once up front so parameter errors surface before any output file.
    let probe = soundproof::dsp::FrontEnd::<{ soundproof::dsp::MAX_N_FFT }>::new(&soundproof::dsp::FeatureConfig {
        gain: GainPolicy::Fixed { gain: 1.0 },
        ..cfg
    })
    .map(|fe| fe.n_features());
    let n_features = probe.map_err(|e| anyhow::anyhow!("{} features: {e}", cfg.kind.name()))?;
    let mode = if a.streaming {
        Mode::Streaming {
            pacing: match a.realtime {
                Some(speed) => Pacing::RealTime { speed },
                None => Pacing::Unpaced,
            },
        }
    } else {
        if a.realtime.is_some() {
            bail!("--realtime paces the streaming ring: add --streaming");
        }
        Mode::Batch
    };
    let tmp = a.out.with_extension("npy.partial");
    let mut writer = NpyWriter::create(&tmp, n_features)?;
    let report = extract_file(&a.input, &cfg, mode, |row: &[f32]| -> Result<(), CliError> {
        writer.write_row(row)?;
        Ok(())
    });
    let report = match report {
        Ok(r) => r,
        Err(CliError(e)) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    writer.finish()?;
    std::fs::rename(&tmp, &a.out).with_context(|| format!("cannot write {}", a.out.display()))?;
    let per_frame_us = report.elapsed.as_secs_f64() * 1e6 / report.frames.max(1) as f64;
    if a.json {
        let j = serde_json::json!({
            "input": a.input,
            "output": a.out,
            "shape": [report.frames, report.n_features],
            "config": cfg,
            "report": report,
            "peak_rss_mib": peak_rss_mib(),
            "timing": {
                "elapsed_s": report.elapsed.as_secs_f64(),
                "us_per_frame": per_frame_us,
                "realtime_factor": report.duration_s / report.elapsed.as_secs_f64().max(1e-12),
            },
        });
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else {
        eprintln!(
            "{}: {} frames x {} {} features at {} Hz{} -> {} ({:.3} s, {:.2} µs/frame, {}{})",
            a.input.display(),
            report.frames,
            report.n_features,
            cfg.kind.name(),
            report.sample_rate,
            if report.resampled { format!(" (resampled from {} Hz)", report.input_sample_rate) } else { String::new() },
            a.out.display(),
            report.elapsed.as_secs_f64(),
            per_frame_us,
            report.mode,
            match report.overruns {
                Some(o) if o > 0 => format!(", {o} overruns: {} samples dropped", report.dropped_samples.unwrap_or(0)),
                _ => String::new(),
            }
        );
    }
    Ok(())
}


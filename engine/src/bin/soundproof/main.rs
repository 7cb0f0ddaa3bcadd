//! `soundproof` command line: parses arguments and calls the library. No numerics here.

mod certify;
mod classify;
mod demo;
mod diagnose;
mod features;
#[cfg(feature = "mic")]
mod listen;
mod plot;
mod tui;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "soundproof", version, about = "Streaming audio features, inference and certification")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Compute STFT / log-mel / MFCC / wavelet features of a WAV file into a NumPy .npy file
    /// of shape [frames, bins] (float32).
    Features(features::FeaturesArgs),
    /// Classify WAV files (files, folders, globs) with a model: per-window and clip results,
    /// accuracy and confusion matrix when labels can be read from the names or a meta.csv.
    Classify(classify::ClassifyArgs),
    /// Run the shipped default model on the shipped demo recording, in real time.
    Demo(demo::DemoArgs),
    /// Randomized-smoothing certificates (003) for clips or a dataset: per clip the record,
    /// then clean and certified accuracy, radius thresholds, median radius and SNR_cert.
    Certify(certify::CertifyArgs),
    /// Merge the JSON of `certify --shard i/N` runs into the unsharded result.
    Merge(certify::MergeArgs),
    /// 003 Table 3 (perturbation geometry of post-noise transforms) and Table 2 (certified
    /// accuracy: log-mel vs waveform, clip vs waveform) on a dataset.
    Diagnose(diagnose::DiagnoseArgs),
    /// Certificates under microphone gain changes, per gain policy (003 failure mode 2).
    GainSweep(diagnose::GainSweepArgs),
    /// Classify live audio from an input device (build with `--features mic`).
    #[cfg(feature = "mic")]
    Listen(listen::ListenArgs),
    /// List audio input devices (build with `--features mic`).
    #[cfg(feature = "mic")]
    Devices,
}

/// Peak resident memory of this process (Linux `VmHWM`), MiB.
pub(crate) fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Features(a) => features::run(a),
        Command::Classify(a) => classify::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Certify(a) => certify::run(a),
        Command::Merge(a) => certify::merge(a),
        Command::Diagnose(a) => diagnose::diagnose(a),
        Command::GainSweep(a) => diagnose::gain_sweep_cmd(a),
        #[cfg(feature = "mic")]
        Command::Listen(a) => listen::run(a),
        #[cfg(feature = "mic")]
        Command::Devices => listen::devices(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Print the cause chain, skipping links whose text the previous message already holds.
            let mut msg = e.to_string();
            for cause in e.chain().skip(1) {
                let c = cause.to_string();
                if !msg.contains(&c) {
                    msg = format!("{msg}: {c}");
                }
            }
            eprintln!("error: {msg}");
            ExitCode::FAILURE
        }
    }
}

//! Argument groups and helpers shared by several subcommands: the dataset arguments, the FFT
//! backend of a served model, `--shard` parsing and the command line recorded in model cards.

use clap::Args;
use soundproof::shard::Shard;
use soundproof_tools::data::{default_data_dir, DatasetSpec};
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct DataArgs {
    /// `fsdd`, `esc10`, or a folder of CLASS/*.wav.
    #[arg(long)]
    pub dataset: String,
    /// Folder holding fsdd/ and esc10/ (default: $SOUNDPROOF_DATA or ../shared/data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// ESC-10: the fold held out for test.
    #[arg(long, default_value_t = 1)]
    pub fold: u32,
    /// ESC-10: the validation fold (default: the next fold present). 0: no validation fold;
    /// every fifth source recording of each class in the other folds validates instead, so
    /// the model trains on all of them.
    #[arg(long)]
    pub val_fold: Option<u32>,
}

impl DataArgs {
    pub fn spec(&self) -> DatasetSpec {
        let dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        DatasetSpec::parse(&self.dataset, &dir, self.fold, self.val_fold)
    }
}

/// Like DataArgs, with the dataset defaulting to the one the model card names.
#[derive(Args, Clone)]
pub struct OptionalDataArgs {
    /// `fsdd`, `esc10`, or a folder of CLASS/*.wav (default: the card's dataset).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Folder holding fsdd/ and esc10/ (default: $SOUNDPROOF_DATA or ../shared/data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// ESC-10: the fold held out for test.
    #[arg(long, default_value_t = 1)]
    pub fold: u32,
    /// ESC-10: the validation fold (default: the next fold present).
    #[arg(long)]
    pub val_fold: Option<u32>,
}

impl OptionalDataArgs {
    pub fn spec(&self, card_dataset: &str) -> DatasetSpec {
        let dir = self.data_dir.clone().unwrap_or_else(default_data_dir);
        DatasetSpec::parse(self.dataset.as_deref().unwrap_or(card_dataset), &dir, self.fold, self.val_fold)
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FftBackendArg {
    /// microfft, the no_std FFT the firmware runs (the host then computes the device's features).
    Microfft,
    /// realfft, the host engine's default.
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

/// `--shard`: `i/N`, `auto` or `auto/N`; the whole run when absent.
pub fn parse_shard(s: Option<&str>) -> anyhow::Result<Shard> {
    Ok(s.map(Shard::parse).transpose()?.unwrap_or(Shard::WHOLE))
}

/// The command line as typed (program name `soundproof-tools`), recorded in model cards.
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().collect();
    let mut parts = vec!["soundproof-tools".to_string()];
    parts.extend(args.into_iter().skip(1));
    parts.join(" ")
}

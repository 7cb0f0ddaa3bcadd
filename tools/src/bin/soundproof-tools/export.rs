//! `soundproof-tools export`: a `train` checkpoint to an f32 ONNX model with its card.

use anyhow::Context;
use clap::Args;
use soundproof_tools::export::export;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExportArgs {
    /// Folder written by `train`.
    #[arg(long)]
    checkpoint: PathBuf,
    /// Model name recorded in the card.
    #[arg(long)]
    name: String,
    /// ONNX file to write (NAME.json is written beside it).
    #[arg(long)]
    out: PathBuf,
    /// Print the model card as JSON on stdout (instead of the one-line summary on stderr).
    #[arg(long)]
    json: bool,
}

pub fn run(a: ExportArgs) -> anyhow::Result<()> {
    let card = export(&a.checkpoint, &a.name, &a.out).with_context(|| format!("exporting {}", a.checkpoint.display()))?;
    if a.json {
        println!("{}", card.to_json());
    } else {
        eprintln!("exported {} ({}, {:.2}% test accuracy)", a.out.display(), card.architecture, 100.0 * card.metrics.test_accuracy);
    }
    Ok(())
}

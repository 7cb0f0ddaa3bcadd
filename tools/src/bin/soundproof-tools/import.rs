//! `soundproof-tools import`: the checkpoint of a shipped f32 ONNX model, written beside it.

use anyhow::Context;
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct ImportArgs {
    /// The f32 ONNX model (its card names the architecture).
    model: PathBuf,
}

pub fn run(a: ImportArgs) -> anyhow::Result<()> {
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

//! `soundproof-tools` command line: parses arguments and calls the library. One module per
//! subcommand (its arguments, its run function and its printing); `common` holds the argument
//! groups several share.

mod attack;
mod audit;
mod common;
mod cv;
mod eval;
mod export;
mod import;
mod merge;
mod quantize;
mod study;
mod train;
mod transfer;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "soundproof-tools", version, about = "Train, export, quantize, evaluate and attack soundproof models")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a model; writes the checkpoint, train_log.json, training_curve.png and the f32
    /// ONNX model with its card into --out.
    Train(train::TrainArgs),
    /// Cross-validation of a training recipe: the `train` arguments, once per fold (FSDD: each
    /// speaker held out entirely, --out/SPEAKER; ESC-10: each fold held out, --out/fold-K), each
    /// fold's accuracy on what it never saw (f32, and int8 with --int8); optionally recorded in
    /// model cards (--record). Writes cross_validation.json into --out.
    Cv(cv::CvArgs),
    /// Checkpoint → ONNX (f32) + model card.
    Export(export::ExportArgs),
    /// f32 ONNX → f16 or int8 (int8 calibrated on training-split features); then evaluates it.
    Quantize(quantize::QuantizeArgs),
    /// A shipped f32 ONNX model → its checkpoint beside it (NAME.checkpoint.json +
    /// NAME.safetensors; batch norms folded, every weight from the graph, checked to export
    /// the file's weights bit for bit), so that attack, audit and transfer take NAME.onnx.
    Import(import::ImportArgs),
    /// Runs an ONNX model in tract on a dataset split: accuracy, confusion matrix, recall.
    Eval(eval::EvalArgs),
    /// Adversarial attack (FGSM L∞/L2, BIM-a, BIM-b, DeepFool L2/L∞, JSMA, CW-L2, L-BFGS, the
    /// psychoacoustic attack of 004 and its room-robust variant) on clips of a dataset split or
    /// WAV files; writes the adversarial inputs, report.json and the triptychs into --out.
    Attack(attack::AttackArgs),
    /// Certificate audit: certify clips in the engine, attack the smoothed classifier with
    /// budgets below and above the certified radius R, judge with the engine's PREDICT; and the
    /// base model's cheapest (DeepFool) attack against R. Writes audit.json into --out.
    Audit(audit::AuditArgs),
    /// Cross-representation transfer (002) and the transferability matrix (000 Table V): attack
    /// each model in its own representation, rebuild the audio, play it to every model and to
    /// the engine's ONNX models; writes report.json, matrix.json and matrix.md into --out.
    Transfer(transfer::TransferArgs),
    /// The representation study of 000/001 over a grid (JSON, e.g. studies/000-esc10.json):
    /// per representation and dataset, a ResNet-18 per fold on the engine's front end, its
    /// engine accuracy, the six attacks of 000 over budget ladders; writes cell.json per cell,
    /// tables.md (000 Tables I-IV) and a PNG per table into --out. Resumable.
    Study(study::StudyArgs),
    /// Merges the reports of `attack`, `audit` or `eval` run with --shard (their files or the
    /// shard folders) into what the unsharded run writes into --out: the report with the
    /// per-example results in order and the summary recomputed; attack's per-clip files; eval's
    /// confusion-matrix PNG. Checks that the shards are one run, each present once.
    Merge(merge::MergeArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Train(a) => train::run(a),
        Command::Export(a) => export::run(a),
        Command::Quantize(a) => quantize::run(a),
        Command::Cv(a) => cv::run(a),
        Command::Import(a) => import::run(a),
        Command::Eval(a) => eval::run(a),
        Command::Attack(a) => attack::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Transfer(a) => transfer::run(a),
        Command::Study(a) => study::run_study(a),
        Command::Merge(a) => merge::run(a),
    }
}

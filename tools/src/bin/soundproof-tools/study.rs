//! `soundproof-tools study`: the representation study of 000/001 over a declared grid.

use crate::common::command_line;
use anyhow::Context;
use clap::Args;
use soundproof_tools::data::default_data_dir;
use soundproof_tools::study::{run, Grid, StudyOptions};
use std::path::PathBuf;

#[derive(Args)]
pub struct StudyArgs {
    /// The grid (JSON), e.g. studies/000-esc10.json.
    grid: PathBuf,
    /// Output folder (default: out/study/NAME). Cells and folds already there are reused: a
    /// killed run restarts where it stopped.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Folder holding fsdd/ and esc10/ (default: $SOUNDPROOF_DATA or ../shared/data).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// libtorch CPU threads.
    #[arg(long)]
    threads: Option<usize>,
    /// No progress bars or per-cell lines.
    #[arg(long)]
    quiet: bool,
}

pub fn run_study(a: StudyArgs) -> anyhow::Result<()> {
    let grid = Grid::load(&a.grid).with_context(|| format!("reading the grid {}", a.grid.display()))?;
    let out = a.out.clone().unwrap_or_else(|| PathBuf::from("out").join("study").join(&grid.name));
    let opts = StudyOptions {
        out: out.clone(),
        data_dir: a.data_dir.clone().unwrap_or_else(default_data_dir),
        device: tch::Device::Cpu,
        threads: a.threads,
        quiet: a.quiet,
        command: command_line(),
    };
    let t0 = std::time::Instant::now();
    let cells = run(&grid, &opts)?;
    if !a.quiet {
        eprintln!("{} cells in {:.0} s; tables in {}", cells.len(), t0.elapsed().as_secs_f64(), out.join("tables.md").display());
    }
    Ok(())
}

//! `firmware-sim`: builds the firmware for a model, runs it under QEMU (or its host twin) on
//! WAV files, and reports labels, parity with the host engine, memory, instruction counts and
//! deadlines.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use firmware_sim::qemu::{self, FirmwareRun};
use firmware_sim::report::{self, FileReport, RunReport, Timing, WindowReport};
use firmware_sim::twin::{self, CostModel, TwinConfig};
use firmware_sim::{clip, gen};
use soundproof::dsp::{FeatureConfig, FftBackend, FrontEnd, GainPolicy};
use soundproof::model::{softmax, Model};
use soundproof::pipeline::{self, aggregate, WindowResult};
use soundproof::window::{ClipGain, WindowPlan};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(name = "firmware-sim", about = "soundproof on a simulated Cortex-M4F (QEMU mps2-an386) and its host twin")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Builds the firmware for a model, runs it on WAV files and reports.
    Run(RunArgs),
    /// Writes the generated Rust of a model (weights, schedule, arena) to a file.
    Generate {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// Builds the firmware ELF for a model and prints its path and memory report.
    Build {
        #[arg(long)]
        model: PathBuf,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// A QLinear int8 ONNX model with its card.
    #[arg(long)]
    model: PathBuf,
    /// WAV files or folders (searched for .wav).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Run the host twin instead of the firmware under QEMU.
    #[arg(long)]
    host: bool,
    /// Gain: `clip-rms` (as classify), `calibration` or a number.
    #[arg(long, default_value = "clip-rms")]
    gain: String,
    /// Simulated core clock, MHz.
    #[arg(long, default_value_t = 80.0)]
    clock_mhz: f64,
    /// Cycles per instruction assumed for the Cortex-M4F.
    #[arg(long, default_value_t = 1.25)]
    cpi: f64,
    /// Twin only: multiplies the cost of every stage (overload injection).
    #[arg(long, default_value_t = 1.0)]
    slowdown: f64,
    /// Skip the comparison with the host engine (tract).
    #[arg(long)]
    no_compare: bool,
    #[arg(long)]
    json: bool,
}

fn parse_gain(s: &str) -> Result<ClipGain> {
    s.parse::<ClipGain>().map_err(anyhow::Error::msg)
}

fn collect(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        let mut e: Vec<PathBuf> = std::fs::read_dir(d)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        e.sort();
        for p in e {
            if p.is_dir() {
                walk(&p, out)?;
            } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")) {
                out.push(p);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    for i in inputs {
        if i.is_dir() {
            walk(i, &mut files)?;
        } else if i.exists() {
            files.push(i.clone());
        } else {
            bail!("{}: no such file or folder", i.display());
        }
    }
    if files.is_empty() {
        bail!("no WAV files in {inputs:?}");
    }
    Ok(files)
}

/// tract's logits on the firmware's own features (the microfft front end, same gain).
fn tract_on_microfft(model: &Model, stream: &clip::Stream) -> Result<Vec<Vec<f32>>> {
    let cfg = FeatureConfig { gain: GainPolicy::Fixed { gain: stream.gain }, fft_backend: FftBackend::Microfft, ..model.card().features };
    let mut fe = FrontEnd::<1024>::new(&cfg)?;
    let mut frames = Vec::new();
    let mut sink = |f: &[f32]| -> Result<(), soundproof::dsp::DspError> {
        frames.extend_from_slice(f);
        Ok(())
    };
    fe.push(&stream.samples, &mut sink)?;
    fe.finish(&mut sink)?;
    let plan = WindowPlan::of(model)?;
    let total = frames.len() / plan.bins;
    if total < plan.frames_per_window {
        return Ok(vec![]);
    }
    let n = (total - plan.frames_per_window) / plan.hop_frames + 1;
    let per = plan.frames_per_window * plan.bins;
    let mut input = Vec::with_capacity(n * per);
    for w in 0..n {
        let s = w * plan.hop_frames * plan.bins;
        input.extend_from_slice(&frames[s..s + per]);
    }
    let logits = model.run(&input, n)?;
    Ok(logits.chunks(model.n_classes()).map(|c| c.to_vec()).collect())
}

fn window_result(model: &Model, index: u64, logits: &[f32]) -> WindowResult {
    let mut probs = vec![0.0f32; logits.len()];
    softmax(logits, &mut probs);
    let label = soundproof::stats::argmax(&probs);
    WindowResult {
        index,
        start_s: 0.0,
        end_s: 0.0,
        label,
        label_name: model.labels()[label].clone(),
        score: probs[label],
        probabilities: probs,
        logits: logits.to_vec(),
        level_db: None,
        latency_ms: None,
        spectrum: Vec::new(),
        input: None,
    }
}

fn bits_equal(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

fn run(a: RunArgs) -> Result<()> {
    let compiled = gen::compile(&a.model)?;
    let lc = firmware_sim::loop_config(&compiled)?;
    let model = Model::load(&a.model)?;
    let gain = parse_gain(&a.gain)?;
    let files = collect(&a.inputs)?;
    let timing = Timing {
        clock_hz: a.clock_mhz * 1e6,
        cpi: a.cpi,
        hop_s: compiled.card.hop_samples as f64 / lc.stft.sample_rate as f64,
        sample_rate: lc.stft.sample_rate,
        hop_length: lc.stft.hop_length,
    };
    if !(a.cpi > 0.0 && a.clock_mhz > 0.0 && a.slowdown > 0.0) {
        bail!("--cpi, --clock-mhz and --slowdown must be > 0");
    }
    let mut memory = None;
    let elf = if a.host {
        None
    } else {
        let elf = qemu::build(&compiled)?;
        memory = Some(qemu::measure(&elf, compiled.arena_len as u64)?);
        Some(elf)
    };
    let labels = model.labels().to_vec();
    let work = qemu::build_root().join("runs").join(std::process::id().to_string());
    let mut reports = Vec::new();
    let mut fw_runs: Vec<FirmwareRun> = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let stream = clip::stream_of(&model, path, gain)?;
        let (wins, firmware, twin_stats): (Vec<(u64, usize, Vec<u8>, Vec<f32>)>, _, _) = match &elf {
            Some(elf) => {
                let r = qemu::run(elf, &work.join(i.to_string()), &stream.samples, stream.gain, timing.insns_per_half())?;
                let w = r.windows.iter().map(|w| (w.index, w.label, w.quantized.clone(), w.logits.clone())).collect();
                (w, Some(r), None)
            }
            None => {
                let cfg = TwinConfig { insns_per_half: timing.insns_per_half(), cost: CostModel::KWS_RT_INT8, slowdown: a.slowdown };
                let r = twin::run(&compiled, &stream.samples, stream.gain, &cfg)?;
                let w = r.windows.iter().map(|w| (w.index, w.label, w.quantized.clone(), w.logits.clone())).collect();
                (w, None, Some(r.stats))
            }
        };
        // Dropped blocks (overruns) shift every later window: comparing them with the host
        // engine's windows would compare different audio.
        let dropped = firmware.as_ref().map_or(0, |f| f.dropped_blocks) + twin_stats.as_ref().map_or(0, |t| t.dropped_blocks);
        let (tract, classify) = if a.no_compare || dropped > 0 {
            (None, None)
        } else {
            (Some(tract_on_microfft(&model, &stream)?), Some(pipeline::classify_file(&model, path, gain, 32)?))
        };
        let mut results = Vec::new();
        let mut windows = Vec::new();
        let mut max_diff: Option<f32> = None;
        for (idx, label, q, logits) in &wins {
            let r = window_result(&model, *idx, logits);
            debug_assert_eq!(r.label, *label);
            let t = tract.as_ref().and_then(|t| t.get(*idx as usize));
            let c = classify.as_ref().and_then(|c| c.get(*idx as usize));
            if let Some(c) = c {
                let d = c.logits.iter().zip(logits).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
                max_diff = Some(max_diff.unwrap_or(0.0).max(d));
            }
            windows.push(WindowReport {
                index: *idx,
                label: labels[*label].clone(),
                score: r.score,
                quantized: q.clone(),
                logits: logits.clone(),
                equal_to_tract: tract.as_ref().map(|_| t.is_some_and(|t| bits_equal(t, logits))),
                equal_to_classify: classify.as_ref().map(|_| c.is_some_and(|c| bits_equal(&c.logits, logits))),
                classify_label: c.map(|c| c.label_name.clone()),
            });
            results.push(r);
        }
        // Windows lost to overruns are missing here, never silently replaced.
        let (label, score) = match aggregate(&results, &labels) {
            Some(d) => (d.sum_rule_label.clone(), d.mean_probabilities[d.sum_rule]),
            None => ("(no window)".to_string(), 0.0),
        };
        let classify_label = classify.as_ref().and_then(|c| aggregate(c, &labels)).map(|d| d.sum_rule_label);
        reports.push(FileReport {
            path: path.display().to_string(),
            gain: stream.gain,
            samples: stream.samples.len(),
            host_windows: tract.as_ref().map(|t| t.len()),
            label_agrees_with_classify: classify_label.as_ref().map(|c| *c == label),
            label,
            score,
            classify_label,
            max_abs_diff_to_classify: max_diff,
            windows,
            firmware: firmware.clone(),
            twin: twin_stats,
        });
        if let Some(f) = firmware {
            fw_runs.push(f);
        }
    }
    let refs: Vec<&FirmwareRun> = fw_runs.iter().collect();
    let step_ops: Vec<(String, usize)> = compiled.steps().iter().map(|s| (s.op.name().to_string(), s.op.macs())).collect();
    if let (Some(m), Some(first)) = (memory.as_mut(), refs.first()) {
        let hwm = refs.iter().map(|r| r.stack_high_water).max().unwrap_or(first.stack_high_water);
        m.stack_high_water_bytes = Some(hwm);
        m.ram_bytes = Some(m.static_ram_bytes + hwm);
    }
    let all: Vec<&WindowReport> = reports.iter().flat_map(|f| &f.windows).collect();
    let rep = RunReport {
        model: compiled.card.name.clone(),
        mode: if a.host { "host twin" } else { "QEMU mps2-an386 (Cortex-M4F)" },
        card_fft_backend: model.card().features.fft_backend,
        timing,
        windows: all.len(),
        windows_compared: all.iter().filter(|w| w.equal_to_tract.is_some()).count(),
        windows_equal_to_tract: all.iter().filter(|w| w.equal_to_tract == Some(true)).count(),
        windows_equal_to_classify: all.iter().filter(|w| w.equal_to_classify == Some(true)).count(),
        clips_agreeing_with_classify: reports.iter().filter(|f| f.label_agrees_with_classify == Some(true)).count(),
        files: reports,
        memory,
        stages: report::stages(&refs, &timing, &step_ops),
        deadline: report::deadline(&refs),
    };
    let _ = std::fs::remove_dir_all(&work);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
    } else {
        report::print_table(&rep);
    }
    Ok(())
}

fn main() -> Result<()> {
    match Cli::parse().cmd {
        Cmd::Run(a) => run(a),
        Cmd::Generate { model, out } => {
            let m = gen::compile(&model)?;
            std::fs::write(&out, m.to_rust()).with_context(|| format!("cannot write {}", out.display()))?;
            eprintln!(
                "{}: {} steps, arena {} bytes, {} parameter bytes, {} multiply-accumulates → {}",
                m.card.name,
                m.steps.len(),
                m.arena_len,
                m.graph(&m.steps()).parameter_bytes(),
                m.graph(&m.steps()).macs(),
                out.display()
            );
            Ok(())
        }
        Cmd::Build { model, json } => {
            let m = gen::compile(&model)?;
            firmware_sim::loop_config(&m)?;
            let elf = qemu::build(&m)?;
            let mem = qemu::measure(&elf, m.arena_len as u64)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&mem)?);
            } else {
                println!("{}\n{mem:#?}", elf.display());
            }
            Ok(())
        }
    }
}

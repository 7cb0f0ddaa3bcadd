//! The reports of `firmware-sim run`: per file the window labels and the clip label (the sum
//! rule of `classify`), the comparison with the host engine, and the memory / stage / deadline
//! figures of the firmware.

use crate::qemu::{FirmwareRun, MemoryReport};
use serde::Serialize;

/// How instruction counts become time: an assumed clock and CPI.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Timing {
    pub clock_hz: f64,
    /// Cycles per instruction assumed for the Cortex-M4F (QEMU counts instructions, not cycles).
    pub cpi: f64,
    pub hop_s: f64,
    pub sample_rate: u32,
    pub hop_length: usize,
}

impl Timing {
    /// Instructions the core executes in one DMA half (one window hop) at this clock and CPI.
    pub fn insns_per_half(&self) -> u64 {
        (self.hop_s * self.clock_hz / self.cpi).round() as u64
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowReport {
    pub index: u64,
    pub label: String,
    pub score: f32,
    /// The model's int8 output (u8 with zero point), before dequantization.
    pub quantized: Vec<u8>,
    pub logits: Vec<f32>,
    /// Logits bit-equal to tract's on the same (microfft) features.
    pub equal_to_tract: Option<bool>,
    /// Logits bit-equal to `soundproof classify` (tract on the front end the card names: the
    /// same bits as the firmware when the card says `microfft`).
    pub equal_to_classify: Option<bool>,
    pub classify_label: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct FileReport {
    pub path: String,
    pub gain: f32,
    pub samples: usize,
    /// Windows the host engine computes for the file (the firmware's can be fewer when
    /// overruns dropped audio).
    pub host_windows: Option<usize>,
    pub windows: Vec<WindowReport>,
    pub label: String,
    pub score: f32,
    pub classify_label: Option<String>,
    pub label_agrees_with_classify: Option<bool>,
    /// Largest |logit difference| to classify's logits over the file's windows.
    pub max_abs_diff_to_classify: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub firmware: Option<FirmwareRun>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub twin: Option<crate::twin::TwinStats>,
}

/// Stage figures in instructions (from timer ticks × instructions per tick).
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub insns_per_tick: f64,
    pub frames: u64,
    pub inferences: u64,
    pub framing_per_frame: f64,
    pub fft_per_frame: f64,
    pub mel_per_frame: f64,
    pub log_per_frame: f64,
    pub front_end_per_frame: f64,
    pub inference: f64,
    /// Per graph step: (op, multiply-accumulates, instructions per inference).
    pub steps: Vec<(String, usize, f64)>,
    /// Front end of one second of audio (sample_rate / hop_length frames) + the inferences of
    /// one second (1 / hop_s).
    pub per_second: f64,
    /// Clock that sustains real time at the assumed CPI, and its margin to the assumed clock.
    pub required_clock_hz: f64,
    pub clock_margin: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeadlineReport {
    pub period_insns: f64,
    pub hops: u64,
    pub missed: u64,
    pub worst_latency_insns: f64,
    /// `1 - worst latency / period` over every hop of every file.
    pub worst_margin: f64,
    pub overruns: u64,
    pub dropped_blocks: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub model: String,
    pub mode: &'static str,
    /// The FFT the model's card serves it with on the host (`classify`); the firmware always
    /// runs microfft, so bit-equal logits to classify need a card that says `microfft`.
    pub card_fft_backend: soundproof::dsp::FftBackend,
    pub timing: Timing,
    pub files: Vec<FileReport>,
    pub windows: usize,
    /// Windows compared with the host engine (none of a file whose audio lost blocks).
    pub windows_compared: usize,
    pub windows_equal_to_tract: usize,
    pub windows_equal_to_classify: usize,
    pub clips_agreeing_with_classify: usize,
    pub memory: Option<MemoryReport>,
    pub stages: Option<StageReport>,
    pub deadline: Option<DeadlineReport>,
}

pub fn stages(runs: &[&FirmwareRun], t: &Timing, ops: &[(String, usize)]) -> Option<StageReport> {
    let first = runs.first()?;
    let ipt = first.insns_per_tick();
    let mut s = [0u64; 5];
    let (mut frames, mut inf) = (0u64, 0u64);
    for r in runs {
        for (a, b) in s.iter_mut().zip(&r.stages_ticks) {
            *a += b;
        }
        frames += r.frames;
        inf += r.inferences;
    }
    let pf = |k: usize| s[k] as f64 * ipt / frames.max(1) as f64;
    let front = pf(0) + pf(1) + pf(2) + pf(3);
    let inference = s[4] as f64 * ipt / inf.max(1) as f64;
    let mut step_ticks = vec![0u64; ops.len()];
    for r in runs {
        for (a, b) in step_ticks.iter_mut().zip(&r.step_ticks) {
            *a += b;
        }
    }
    let steps = ops
        .iter()
        .zip(&step_ticks)
        .skip(1)
        .map(|((name, macs), &tk)| (name.clone(), *macs, tk as f64 * ipt / inf.max(1) as f64))
        .collect();
    let per_second = front * t.sample_rate as f64 / t.hop_length as f64 + inference / t.hop_s;
    let required = per_second * t.cpi;
    Some(StageReport {
        insns_per_tick: ipt,
        frames,
        inferences: inf,
        framing_per_frame: pf(0),
        fft_per_frame: pf(1),
        mel_per_frame: pf(2),
        log_per_frame: pf(3),
        front_end_per_frame: front,
        inference,
        steps,
        per_second,
        required_clock_hz: required,
        clock_margin: 1.0 - required / t.clock_hz,
    })
}

pub fn deadline(runs: &[&FirmwareRun]) -> Option<DeadlineReport> {
    let first = runs.first()?;
    let ipt = first.insns_per_tick();
    let worst = runs.iter().map(|r| r.worst_latency_ticks).max().unwrap_or(0) as f64 * ipt;
    let period = first.period_ticks as f64 * ipt;
    Some(DeadlineReport {
        period_insns: period,
        hops: runs.iter().map(|r| r.hops).sum(),
        missed: runs.iter().map(|r| r.missed_deadlines).sum(),
        worst_latency_insns: worst,
        worst_margin: 1.0 - worst / period,
        overruns: runs.iter().map(|r| r.overruns).sum(),
        dropped_blocks: runs.iter().map(|r| r.dropped_blocks).sum(),
    })
}

fn kib(b: u64) -> String {
    format!("{:.1} KiB", b as f64 / 1024.0)
}

pub fn print_table(r: &RunReport) {
    for f in &r.files {
        let cmp = match (&f.classify_label, f.label_agrees_with_classify) {
            (Some(c), Some(true)) => format!("  = classify ({c})"),
            (Some(c), Some(false)) => format!("  DIFFERS from classify ({c})"),
            _ => String::new(),
        };
        let lost = f.firmware.as_ref().map_or(0, |x| x.dropped_blocks) + f.twin.as_ref().map_or(0, |t| t.dropped_blocks);
        let cmp = if lost > 0 { format!("  ({lost} blocks dropped by overruns: not compared with the host engine)") } else { cmp };
        println!("{}: {} ({:.3}){cmp}", f.path, f.label, f.score);
        for w in &f.windows {
            let eq = |b: Option<bool>| match b {
                Some(true) => "bit-equal",
                Some(false) => "differs",
                None => "-",
            };
            println!(
                "  window {:>3}: {:<8} {:.3}   tract (same features): {:<9} classify: {}",
                w.index,
                w.label,
                w.score,
                eq(w.equal_to_tract),
                eq(w.equal_to_classify)
            );
        }
    }
    println!(
        "\n{} ({}): {} windows, {} compared with the host engine; logits bit-equal to tract on the firmware's features: {}/{}; to classify: {}/{}; clip labels equal to classify: {}/{}",
        r.model,
        r.mode,
        r.windows,
        r.windows_compared,
        r.windows_equal_to_tract,
        r.windows_compared,
        r.windows_equal_to_classify,
        r.windows_compared,
        r.clips_agreeing_with_classify,
        r.files.len()
    );
    if r.card_fft_backend != soundproof::dsp::FftBackend::Microfft {
        println!(
            "note: the card serves {} with the {:?} FFT and the firmware computes microfft features, so classify's logits can differ in the last bits (`soundproof-tools quantize --fft-backend microfft` makes a model whose card says microfft)",
            r.model, r.card_fft_backend
        );
    }
    if let Some(m) = &r.memory {
        println!("\nmemory (linked ELF, budget flash {} / RAM {}):", kib(m.flash_budget), kib(m.ram_budget));
        println!("  flash {}  (.text {}, .rodata {}, .data init {})", kib(m.flash_bytes), kib(m.text_bytes), kib(m.rodata_bytes), kib(m.data_bytes));
        println!(
            "  RAM   {}  (statics {}: .data {} + .bss {}, of which arena {}; stack high-water {})",
            m.ram_bytes.map_or("?".into(), kib),
            kib(m.static_ram_bytes),
            kib(m.data_bytes),
            kib(m.bss_bytes),
            kib(m.arena_bytes),
            m.stack_high_water_bytes.map_or("?".into(), kib)
        );
        println!("  largest in flash: {}", m.top_flash.iter().take(4).map(|(n, b)| format!("{n} {}", kib(*b))).collect::<Vec<_>>().join(", "));
        println!("  largest in RAM:   {}", m.top_ram.iter().take(4).map(|(n, b)| format!("{n} {}", kib(*b))).collect::<Vec<_>>().join(", "));
        println!("  allocator linked: {}", if m.allocator_linked { "YES" } else { "no" });
    }
    if let Some(s) = &r.stages {
        println!(
            "\ninstructions (QEMU -icount, instructions not cycles; {:.0} per timer tick):",
            s.insns_per_tick
        );
        println!(
            "  per frame: framing {:.0}, FFT {:.0}, mel {:.0}, log+quantize {:.0} = {:.0}; per inference {:.0}",
            s.framing_per_frame, s.fft_per_frame, s.mel_per_frame, s.log_per_frame, s.front_end_per_frame, s.inference
        );
        let steps: Vec<String> = s
            .steps
            .iter()
            .map(|(n, macs, i)| if *macs > 0 { format!("{n} {:.2} M ({:.1}/MAC)", i / 1e6, i / *macs as f64) } else { format!("{n} {:.2} M", i / 1e6) })
            .collect();
        println!("  inference by step: {}", steps.join(", "));
        println!(
            "  per second of audio ({} frames + {:.0} inferences): {:.2} M instructions → {:.1} MHz at CPI {} (margin {:.0} % at {:.0} MHz)",
            r.timing.sample_rate as usize / r.timing.hop_length,
            1.0 / r.timing.hop_s,
            s.per_second / 1e6,
            s.required_clock_hz / 1e6,
            r.timing.cpi,
            100.0 * s.clock_margin,
            r.timing.clock_hz / 1e6
        );
    }
    if let Some(d) = &r.deadline {
        println!(
            "deadline per hop ({:.2} M instructions = {:.0} ms at {:.0} MHz, CPI {}): {} hops, {} missed, worst latency {:.2} M (margin {:.0} %), overruns {}, dropped blocks {}",
            d.period_insns / 1e6,
            1000.0 * r.timing.hop_s,
            r.timing.clock_hz / 1e6,
            r.timing.cpi,
            d.hops,
            d.missed,
            d.worst_latency_insns / 1e6,
            100.0 * d.worst_margin,
            d.overruns,
            d.dropped_blocks
        );
    }
}

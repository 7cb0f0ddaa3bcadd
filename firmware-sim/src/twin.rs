//! The host twin: the firmware's loop (`firmware-sim-core`: DMA double buffer, front end,
//! feature ring, int8 graph) on the host, with the clock and the DMA simulated as discrete
//! events. Time is counted in instructions of the simulated core: a DMA half lasts
//! `insns_per_half`, and processing a half costs what the [`CostModel`] says for the frames and
//! inferences it actually computed (measured under QEMU; scaled by `slowdown` to inject
//! overload). The functional results (windows, logits) are computed for real.

use crate::gen::CompiledModel;
use anyhow::{anyhow, Result};
use firmware_sim_core::{DmaDoubleBuffer, Engine, FrontState, NoClock, WindowOut};
use serde::Serialize;

/// Instructions per unit of work of the simulated core.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CostModel {
    /// Per DMA half handled (taking, releasing, bookkeeping).
    pub per_half: f64,
    /// Per feature frame (framing, FFT, mel, log, quantization into the ring).
    pub per_frame: f64,
    /// Per inference.
    pub per_inference: f64,
}

impl CostModel {
    /// The `kws-fsdd-rt-int8` firmware's instruction counts under QEMU -icount (BENCHMARKS.md,
    /// "Firmware"): 76.0 k per frame (framing 5.6 k, FFT 54.8 k, mel 9.8 k, log + quantize
    /// 5.9 k) and 13.78 M per inference. `per_half` (taking and releasing a half) is not
    /// measured separately; 2 k is an upper bound of what the loop does around the frames.
    pub const KWS_RT_INT8: CostModel = CostModel { per_half: 2_000.0, per_frame: 76_000.0, per_inference: 13_780_000.0 };
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct TwinConfig {
    pub insns_per_half: u64,
    pub cost: CostModel,
    /// Multiplies every cost (1.0: the measured core; 3.0: a core three times slower).
    pub slowdown: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TwinWindow {
    pub index: u64,
    pub label: usize,
    pub logits: Vec<f32>,
    pub quantized: Vec<u8>,
}

#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct TwinStats {
    pub blocks: u64,
    pub half_transfer_irqs: u64,
    pub transfer_complete_irqs: u64,
    pub overruns: u64,
    pub dropped_blocks: u64,
    pub hops: u64,
    pub missed_deadlines: u64,
    /// Worst latency from a half landing to its processing done, instructions.
    pub worst_latency: f64,
    pub frames: u64,
    pub inferences: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TwinRun {
    pub windows: Vec<TwinWindow>,
    pub stats: TwinStats,
}

/// Runs one stream (samples already padded) with scalar gain `gain` through the loop.
pub fn run(model: &CompiledModel, samples: &[f32], gain: f32, cfg: &TwinConfig) -> Result<TwinRun> {
    let lc = crate::loop_config(model)?;
    let views = model.steps();
    let graph = model.graph(&views);
    let mut ring = vec![0u8; lc.ring_len()];
    let mut arena = vec![0u8; graph.arena_len];
    let mut front = Box::new(FrontState::new(&lc).map_err(|e| anyhow!("the front end cannot be set up: {e:?}"))?);
    let mut engine =
        Engine::new(&lc, gain, &graph, front.parts(), &mut ring, &mut arena).map_err(|e| anyhow!("the loop cannot be set up: {e:?}"))?;
    let h = lc.hop_samples;
    let blocks = samples.len().div_ceil(h) as u64;
    let period = cfg.insns_per_half as f64;
    let mut halves = [vec![0.0f32; h], vec![0.0f32; h]];
    let mut valid = [0usize; 2];
    let mut handed_at = [0.0f64; 2];
    let mut dma = DmaDoubleBuffer::new();
    let mut windows = Vec::new();
    let mut stats = TwinStats { blocks, ..Default::default() };
    let mut busy: Option<(usize, f64, f64)> = None; // (half, finish, handed_at)
    let mut cpu_free = 0.0f64;
    let mut record = |w: WindowOut<'_>| {
        windows.push(TwinWindow { index: w.index, label: w.label, logits: w.logits.to_vec(), quantized: w.quantized.to_vec() });
    };
    for k in 0..blocks {
        let t = (k + 1) as f64 * period;
        step_cpu(t, period, cfg, &mut dma, &mut busy, &mut cpu_free, &mut engine, &halves, &valid, &handed_at, &mut stats, &mut record)?;
        // The interrupt at the end of block k.
        let (half, block) = dma.writing();
        debug_assert_eq!(block, k);
        if !dma.dropping() {
            let start = k as usize * h;
            let n = (samples.len() - start).min(h);
            halves[half][..n].copy_from_slice(&samples[start..start + n]);
            valid[half] = n;
        }
        let tr = dma.end_of_half();
        if let Some((hh, _)) = tr.handed {
            handed_at[hh] = t;
        }
    }
    step_cpu(f64::INFINITY, period, cfg, &mut dma, &mut busy, &mut cpu_free, &mut engine, &halves, &valid, &handed_at, &mut stats, &mut record)?;
    engine.finish(&NoClock, &mut record).map_err(|e| anyhow!("front end: {e:?}"))?;
    stats.half_transfer_irqs = dma.half_transfer_irqs;
    stats.transfer_complete_irqs = dma.transfer_complete_irqs;
    stats.overruns = dma.overruns;
    stats.dropped_blocks = dma.dropped_blocks;
    stats.frames = engine.frames();
    stats.inferences = engine.windows();
    Ok(TwinRun { windows, stats })
}

/// Processes the halves handed to the CPU, in order, until time `until` (the next interrupt):
/// a half is released when its (modelled) processing ends.
#[allow(clippy::too_many_arguments)]
fn step_cpu(
    until: f64,
    period: f64,
    cfg: &TwinConfig,
    dma: &mut DmaDoubleBuffer,
    busy: &mut Option<(usize, f64, f64)>,
    cpu_free: &mut f64,
    engine: &mut Engine<'_, '_>,
    halves: &[Vec<f32>; 2],
    valid: &[usize; 2],
    handed_at: &[f64; 2],
    stats: &mut TwinStats,
    record: &mut dyn FnMut(WindowOut<'_>),
) -> Result<()> {
    loop {
        if let Some((half, finish, at)) = *busy {
            if finish > until {
                return Ok(());
            }
            dma.release(half);
            *cpu_free = finish;
            *busy = None;
            let latency = finish - at;
            stats.hops += 1;
            stats.worst_latency = stats.worst_latency.max(latency);
            if latency > period {
                stats.missed_deadlines += 1;
            }
        }
        let Some((half, _)) = dma.take() else { return Ok(()) };
        let start = cpu_free.max(handed_at[half]);
        let (f0, i0) = (engine.frames(), engine.windows());
        engine.push(&halves[half][..valid[half]], &NoClock, &mut *record).map_err(|e| anyhow!("front end: {e:?}"))?;
        let cost = cfg.slowdown
            * (cfg.cost.per_half + (engine.frames() - f0) as f64 * cfg.cost.per_frame + (engine.windows() - i0) as f64 * cfg.cost.per_inference);
        *busy = Some((half, start + cost, handed_at[half]));
    }
}

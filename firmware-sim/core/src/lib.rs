//! The audio loop of `firmware-sim`, written once and run twice: by the `cortex-m-rt` firmware
//! under QEMU and by the std host twin. `no_std`, no heap: every buffer is handed in by the
//! caller (statics on the MCU).
//!
//! * [`DmaDoubleBuffer`]: the ownership protocol of a circular DMA with two hop-sized halves.
//!   The DMA owns a half while it writes it; its half-transfer / transfer-complete interrupt
//!   hands the half to the CPU; the CPU hands it back when it has processed it. When the DMA
//!   starts a half the CPU still owns, that is an overrun: counted, and the block written
//!   there is dropped (counted in samples) rather than handed over half-overwritten.
//! * [`Engine`]: what the CPU does with each half: the gain policy and the log-mel front end
//!   of `soundproof::dsp` (framer → Hann window + microfft power → mel filterbank → dB, the
//!   very calls `LogMel::process` makes), each frame quantized straight into a `u8` feature
//!   ring, and at every window hop an int8 inference through a [`soundproof::nn::Graph`].
//!   Each stage is timed with the caller's [`Clock`].
#![no_std]
#![forbid(unsafe_code)]

use soundproof::dsp::{framer::Framer, math::power_to_db, mel::MelFilterbank, DspError, FftBackend, MelParams, Stft, StftParams};
use soundproof::nn::Graph;

/// Largest feature frame (mel bands) and class count the loop supports.
pub const MAX_BINS: usize = 256;
pub const MAX_CLASSES: usize = 64;
/// Capacity of the front end's frame buffers (n_fft ≤ 1024: 4 KiB per buffer).
pub const FRAME_CAPACITY: usize = 1024;

/// Who may touch a half of the DMA buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    Dma,
    Cpu,
}

/// What an end-of-half interrupt did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    /// The half just completed, now owned by the CPU with block `block`; `None` when that
    /// block was dropped (overrun).
    pub handed: Option<(usize, u64)>,
    /// Whether the DMA, starting the next half, found it still owned by the CPU.
    pub overrun: bool,
}

/// Ownership and accounting of a circular DMA over two halves of `half_len` samples.
#[derive(Debug, Clone)]
pub struct DmaDoubleBuffer {
    owner: [Owner; 2],
    /// Block the DMA is writing now (block k goes to half k % 2).
    block: u64,
    /// The block being written is dropped (its half was owned by the CPU when it started).
    dropping: bool,
    /// Half-transfer (half 0 complete) and transfer-complete (half 1) interrupts.
    pub half_transfer_irqs: u64,
    pub transfer_complete_irqs: u64,
    pub overruns: u64,
    pub dropped_blocks: u64,
    /// Blocks handed to the CPU, in order; the CPU takes them oldest first.
    ready: [Option<u64>; 2],
}

impl Default for DmaDoubleBuffer {
    fn default() -> Self {
        Self::new()
    }
}

impl DmaDoubleBuffer {
    pub const fn new() -> Self {
        DmaDoubleBuffer {
            owner: [Owner::Dma; 2],
            block: 0,
            dropping: false,
            half_transfer_irqs: 0,
            transfer_complete_irqs: 0,
            overruns: 0,
            dropped_blocks: 0,
            ready: [None; 2],
        }
    }

    /// The block the DMA is writing and its half.
    pub fn writing(&self) -> (usize, u64) {
        ((self.block % 2) as usize, self.block)
    }

    /// Whether the block being written will be dropped.
    pub fn dropping(&self) -> bool {
        self.dropping
    }

    /// The interrupt at the end of a half: hands the completed half to the CPU (unless its
    /// block was dropped) and starts the next one, counting an overrun if the CPU still owns it.
    pub fn end_of_half(&mut self) -> Transfer {
        let (half, block) = self.writing();
        if half == 0 {
            self.half_transfer_irqs += 1;
        } else {
            self.transfer_complete_irqs += 1;
        }
        let handed = if self.dropping {
            self.dropped_blocks += 1;
            None
        } else {
            self.owner[half] = Owner::Cpu;
            self.ready[half] = Some(block);
            Some((half, block))
        };
        self.block += 1;
        let next = (self.block % 2) as usize;
        self.dropping = self.owner[next] == Owner::Cpu;
        if self.dropping {
            self.overruns += 1;
        }
        Transfer { handed, overrun: self.dropping }
    }

    /// The oldest half handed to the CPU and not yet taken: `(half, block)`.
    pub fn take(&mut self) -> Option<(usize, u64)> {
        let pick = match (self.ready[0], self.ready[1]) {
            (Some(a), Some(b)) => Some(if a < b { 0 } else { 1 }),
            (Some(_), None) => Some(0),
            (None, Some(_)) => Some(1),
            (None, None) => None,
        }?;
        let b = self.ready[pick].take()?;
        Some((pick, b))
    }

    /// The CPU is done with `half`: the DMA may write it again.
    pub fn release(&mut self, half: usize) {
        self.owner[half] = Owner::Dma;
    }

    pub fn owner(&self, half: usize) -> Owner {
        self.owner[half]
    }
}

/// A monotonic counter the loop reads to time its stages (instructions under QEMU -icount;
/// anything, or nothing, on the host).
pub trait Clock {
    fn now(&self) -> u64;
}

/// A clock that does not count (the host twin's functional runs).
pub struct NoClock;
impl Clock for NoClock {
    fn now(&self) -> u64 {
        0
    }
}

/// Time spent per stage, in the clock's unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stages {
    /// Framer and gain (everything in the push outside the per-frame features).
    pub framing: u64,
    /// Hann window and microfft power spectrum.
    pub fft: u64,
    pub mel: u64,
    /// dB conversion and quantization of the frame into the ring.
    pub log: u64,
    pub inference: u64,
    pub frames: u64,
    pub inferences: u64,
    /// Inference time per step of the graph (step 0, the input quantization, is in `log`).
    pub per_step: [u64; MAX_STEPS],
}

/// Steps whose time is kept separately.
pub const MAX_STEPS: usize = 32;

impl Default for Stages {
    fn default() -> Self {
        Stages { framing: 0, fft: 0, mel: 0, log: 0, inference: 0, frames: 0, inferences: 0, per_step: [0; MAX_STEPS] }
    }
}

/// One window's verdict.
#[derive(Debug, Clone, Copy)]
pub struct WindowOut<'a> {
    pub index: u64,
    pub logits: &'a [f32],
    /// The model output before dequantization (the int8 logits, as u8 with zero point).
    pub quantized: &'a [u8],
    pub label: usize,
}

/// The front end's state: framer, STFT (window + microfft), mel filterbank and two frame
/// buffers, about 24 KiB at n_fft 1024. Kept apart from [`Engine`] so that a firmware can
/// build each part in its own static (the stack then never holds the whole at once).
pub struct FrontParts<'b> {
    pub framer: &'b mut Framer<FRAME_CAPACITY>,
    pub stft: &'b mut Stft<FRAME_CAPACITY>,
    pub bank: &'b MelFilterbank<FRAME_CAPACITY>,
    pub power: &'b mut [f32; FRAME_CAPACITY / 2 + 1],
    pub mel: &'b mut [f32; MAX_BINS],
}

/// Owned front-end state, for hosts (`FrontState::new(cfg)?.parts()`).
pub struct FrontState {
    pub framer: Framer<FRAME_CAPACITY>,
    pub stft: Stft<FRAME_CAPACITY>,
    pub bank: MelFilterbank<FRAME_CAPACITY>,
    pub power: [f32; FRAME_CAPACITY / 2 + 1],
    pub mel: [f32; MAX_BINS],
}

impl FrontState {
    pub fn new(cfg: &LoopConfig) -> Result<Self, LoopError> {
        Ok(FrontState {
            framer: cfg.framer()?,
            stft: cfg.stft()?,
            bank: cfg.bank()?,
            power: [0.0; FRAME_CAPACITY / 2 + 1],
            mel: [0.0; MAX_BINS],
        })
    }
    pub fn parts(&mut self) -> FrontParts<'_> {
        FrontParts { framer: &mut self.framer, stft: &mut self.stft, bank: &self.bank, power: &mut self.power, mel: &mut self.mel }
    }
}

/// The CPU side of the loop. Memory: the caller's front-end state, feature ring
/// (`frames × bins` bytes) and arena (`graph.arena_len` bytes); nothing of its own but counters.
pub struct Engine<'g, 'b> {
    framer: &'b mut Framer<FRAME_CAPACITY>,
    stft: &'b mut Stft<FRAME_CAPACITY>,
    bank: &'b MelFilterbank<FRAME_CAPACITY>,
    power: &'b mut [f32; FRAME_CAPACITY / 2 + 1],
    mel: &'b mut [f32; MAX_BINS],
    amin: f32,
    gain: f32,
    graph: &'g Graph<'g>,
    ring: &'b mut [u8],
    arena: &'b mut [u8],
    bins: usize,
    frames_per_window: usize,
    hop_frames: usize,
    frames: u64,
    windows: u64,
    logits: [f32; MAX_CLASSES],
    pub stages: Stages,
}

/// Everything the loop needs to know about the model's front end and window.
#[derive(Debug, Clone, Copy)]
pub struct LoopConfig {
    pub stft: StftParams,
    pub mel: MelParams,
    pub window_samples: usize,
    pub hop_samples: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoopError {
    Dsp(DspError),
    /// A buffer or the model does not fit the configuration.
    Config(&'static str),
}

impl From<DspError> for LoopError {
    fn from(e: DspError) -> Self {
        LoopError::Dsp(e)
    }
}

impl LoopConfig {
    /// The framer of the front end (gain is applied by the [`Engine`]).
    pub fn framer(&self) -> Result<Framer<FRAME_CAPACITY>, LoopError> {
        Ok(Framer::new(self.stft.n_fft, self.stft.hop_length, self.stft.center)?)
    }
    /// Hann window + power spectrum on the microfft backend (the `no_std` one).
    pub fn stft(&self) -> Result<Stft<FRAME_CAPACITY>, LoopError> {
        Ok(Stft::new(&self.stft, FftBackend::Microfft)?)
    }
    pub fn bank(&self) -> Result<MelFilterbank<FRAME_CAPACITY>, LoopError> {
        Ok(MelFilterbank::new(self.stft.sample_rate, self.stft.n_fft, &self.mel)?)
    }

    /// Sets up the framer, STFT and mel bank in place (the values [`LoopConfig::framer`],
    /// [`LoopConfig::stft`] and [`LoopConfig::bank`] return), for state held in statics
    /// starting as `Framer::empty()`, `Stft::empty()`, `MelFilterbank::empty()`: the ~17 KiB of
    /// tables are written where they stay, never built on the stack and moved.
    pub fn init_front(
        &self,
        framer: &mut Framer<FRAME_CAPACITY>,
        stft: &mut Stft<FRAME_CAPACITY>,
        bank: &mut MelFilterbank<FRAME_CAPACITY>,
    ) -> Result<(), LoopError> {
        framer.init(self.stft.n_fft, self.stft.hop_length, self.stft.center)?;
        stft.init(&self.stft, FftBackend::Microfft)?;
        bank.init(self.stft.sample_rate, self.stft.n_fft, &self.mel)?;
        Ok(())
    }

    /// Frames per model window and per window hop.
    pub fn geometry(&self) -> (usize, usize) {
        let frames = if self.stft.center {
            1 + self.window_samples / self.stft.hop_length
        } else {
            1 + (self.window_samples - self.stft.n_fft) / self.stft.hop_length
        };
        (frames, self.hop_samples / self.stft.hop_length)
    }
    pub fn ring_len(&self) -> usize {
        self.geometry().0 * self.mel.n_mels
    }
}

impl<'g, 'b> Engine<'g, 'b> {
    /// A loop for one stream with scalar gain `gain` (the fixed gain policy). `ring` must hold
    /// [`LoopConfig::ring_len`] bytes, `arena` `graph.arena_len`.
    pub fn new(
        cfg: &LoopConfig,
        gain: f32,
        graph: &'g Graph<'g>,
        front: FrontParts<'b>,
        ring: &'b mut [u8],
        arena: &'b mut [u8],
    ) -> Result<Self, LoopError> {
        let (frames_per_window, hop_frames) = cfg.geometry();
        let bins = cfg.mel.n_mels;
        if cfg.hop_samples % cfg.stft.hop_length != 0 {
            return Err(LoopError::Config("window hop is not a multiple of the frame hop"));
        }
        if bins > MAX_BINS || graph.n_classes > MAX_CLASSES || cfg.stft.n_fft > FRAME_CAPACITY {
            return Err(LoopError::Config("model larger than the loop's capacities"));
        }
        if ring.len() != frames_per_window * bins || graph.input_len != ring.len() {
            return Err(LoopError::Config("feature ring and model input disagree with the window"));
        }
        if arena.len() < graph.arena_len || graph.check().is_err() {
            return Err(LoopError::Config("arena too small or inconsistent graph"));
        }
        if graph.input_quantizer().c != 1 {
            return Err(LoopError::Config("the model input must have one channel (frames × bins)"));
        }
        if !gain.is_finite() {
            return Err(LoopError::Config("gain is not finite"));
        }
        if front.stft.params() != &cfg.stft || front.bank.n_mels() != bins || front.framer.hop_length() != cfg.stft.hop_length {
            return Err(LoopError::Config("front-end state built for another configuration"));
        }
        front.framer.reset();
        Ok(Engine {
            framer: front.framer,
            stft: front.stft,
            bank: front.bank,
            power: front.power,
            mel: front.mel,
            amin: cfg.mel.amin,
            gain,
            graph,
            ring,
            arena,
            bins,
            frames_per_window,
            hop_frames,
            frames: 0,
            windows: 0,
            logits: [0.0; MAX_CLASSES],
            stages: Stages::default(),
        })
    }

    pub fn frames(&self) -> u64 {
        self.frames
    }
    pub fn windows(&self) -> u64 {
        self.windows
    }

    /// Pushes one half's samples; `on_window` receives every window completed by them.
    pub fn push<C: Clock>(&mut self, samples: &[f32], clock: &C, on_window: impl FnMut(WindowOut<'_>)) -> Result<(), LoopError> {
        self.run(Some(samples), clock, on_window)
    }

    /// Ends the stream (centre padding) and emits the last windows.
    pub fn finish<C: Clock>(&mut self, clock: &C, on_window: impl FnMut(WindowOut<'_>)) -> Result<(), LoopError> {
        self.run(None, clock, on_window)
    }

    fn run<C: Clock>(&mut self, samples: Option<&[f32]>, clock: &C, mut on_window: impl FnMut(WindowOut<'_>)) -> Result<(), LoopError> {
        let Engine {
            framer, stft, bank, power, mel, amin, gain, graph, ring, arena, bins, frames_per_window, hop_frames, frames, windows, logits, stages,
        } = self;
        let (g, amin, bins, fpw, hop) = (*gain, *amin, *bins, *frames_per_window, *hop_frames);
        let (stft, bank, power, mel) = (&mut **stft, &**bank, &mut **power, &mut **mel);
        let framer = &mut **framer;
        let n_power = stft.n_bins();
        let t_start = clock.now();
        let mut inside = 0u64;
        let mut on_frame = |frame: &[f32]| -> Result<(), DspError> {
            let t0 = clock.now();
            // LogMel::process, stage by stage.
            stft.power(frame, &mut power[..n_power])?;
            let t1 = clock.now();
            bank.apply(&power[..n_power], &mut mel[..bins])?;
            let t2 = clock.now();
            power_to_db(&mut mel[..bins], amin);
            let slot = (*frames % fpw as u64) as usize;
            let q = graph.input_quantizer();
            // The ring holds frames in arrival order; the model input is [1, frames, bins], so
            // value (t, b) has flat index t·bins + b and channel 0.
            for (o, &v) in ring[slot * bins..(slot + 1) * bins].iter_mut().zip(&mel[..bins]) {
                *o = q.value(v, 0);
            }
            *frames += 1;
            let t3 = clock.now();
            stages.fft += t1 - t0;
            stages.mel += t2 - t1;
            stages.log += t3 - t2;
            stages.frames += 1;
            let mut t_end = t3;
            if *frames >= fpw as u64 && (*frames - fpw as u64) % hop as u64 == 0 {
                // Copy the window out of the ring, oldest frame first, into the arena's input.
                let b = graph.input_buf();
                let input = &mut arena[b.offset..b.end()];
                let start = (*frames % fpw as u64) as usize;
                let split = (fpw - start) * bins;
                input[..split].copy_from_slice(&ring[start * bins..]);
                input[split..].copy_from_slice(&ring[..start * bins]);
                let n = graph.n_classes;
                let mut t_step = clock.now();
                let per_step = &mut stages.per_step;
                graph.run_quantized(arena, &mut logits[..n], |i| {
                    let t = clock.now();
                    if i < MAX_STEPS {
                        per_step[i] += t - t_step;
                    }
                    t_step = t;
                });
                let last = graph.steps[graph.steps.len() - 1].input;
                let mut label = 0;
                for k in 1..n {
                    if logits[k] > logits[label] {
                        label = k;
                    }
                }
                let t4 = clock.now();
                stages.inference += t4 - t3;
                stages.inferences += 1;
                on_window(WindowOut { index: *windows, logits: &logits[..n], quantized: &arena[last.offset..last.end()], label });
                *windows += 1;
                t_end = clock.now();
            }
            inside += t_end - t0;
            Ok(())
        };
        // The quantizer is per channel and the log-mel input has one channel, so quantizing
        // frame by frame is the same map as quantizing the whole window.
        match samples {
            Some(s) => framer.push_mapped(s, move |x| (x * g).clamp(-f32::INFINITY, f32::INFINITY), &mut on_frame)?,
            None => framer.finish(&mut on_frame)?,
        }
        stages.framing += (clock.now() - t_start).saturating_sub(inside);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kws_config(n_mels: usize) -> LoopConfig {
        LoopConfig {
            stft: StftParams::default(),
            mel: MelParams { n_mels, ..MelParams::default() },
            window_samples: 16_000,
            hop_samples: 4_000,
        }
    }

    #[test]
    fn front_end_set_up_in_place_equals_the_built_one() {
        // The firmware's path (statics starting empty, then `init_front`), also over state that
        // was already set up for another configuration, against the values `new` returns.
        let (mut framer, mut stft, mut bank) = (Framer::empty(), Stft::empty(), MelFilterbank::empty());
        kws_config(40).init_front(&mut framer, &mut stft, &mut bank).unwrap();
        let cfg = kws_config(64);
        cfg.init_front(&mut framer, &mut stft, &mut bank).unwrap();
        let built = FrontState::new(&cfg).unwrap();
        assert_eq!(bank.n_mels(), 64);
        for m in 0..64 {
            for k in 0..cfg.stft.n_bins() {
                assert_eq!(bank.weight(m, k).to_bits(), built.bank.weight(m, k).to_bits(), "({m}, {k})");
            }
        }
        assert_eq!(stft.params(), built.stft.params());
        let frame: [f32; 1024] = core::array::from_fn(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0);
        let (mut a, mut b) = ([0.0f32; 513], [0.0f32; 513]);
        stft.power(&frame, &mut a).unwrap();
        let mut built = built;
        built.stft.power(&frame, &mut b).unwrap();
        assert_eq!(a.map(f32::to_bits), b.map(f32::to_bits));
        assert_eq!((framer.frame_length(), framer.hop_length()), (1024, 160));
        // A configuration the bank cannot take leaves it empty, not half built.
        let bad = LoopConfig { mel: MelParams { fmin: 9_000.0, ..cfg.mel }, ..cfg };
        assert!(bad.init_front(&mut framer, &mut stft, &mut bank).is_err());
        assert_eq!((bank.n_mels(), bank.n_bins()), (0, 0));
    }

    #[test]
    fn overrun_is_counted_and_its_block_dropped() {
        let mut d = DmaDoubleBuffer::new();
        // Block 0 into half 0: handed over.
        assert_eq!(d.end_of_half(), Transfer { handed: Some((0, 0)), overrun: false });
        assert_eq!(d.take(), Some((0, 0)));
        // The CPU holds half 0 through block 1 (half 1) and into block 2 (half 0 again).
        assert_eq!(d.end_of_half(), Transfer { handed: Some((1, 1)), overrun: true });
        assert_eq!(d.overruns, 1);
        d.release(0);
        // Block 2 was started on a half the CPU owned: dropped, not handed over.
        assert_eq!(d.end_of_half(), Transfer { handed: None, overrun: true });
        assert_eq!(d.dropped_blocks, 1);
        assert_eq!(d.overruns, 2, "block 3 started on half 1, still the CPU's");
        assert_eq!(d.take(), Some((1, 1)));
        d.release(1);
        assert_eq!(d.end_of_half(), Transfer { handed: None, overrun: false });
        assert_eq!(d.end_of_half(), Transfer { handed: Some((0, 4)), overrun: false });
        assert_eq!((d.dropped_blocks, d.overruns), (2, 2));
        assert_eq!((d.half_transfer_irqs, d.transfer_complete_irqs), (3, 2));
    }
}

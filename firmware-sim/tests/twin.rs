//! The host twin: the firmware's loop on the host. Its windows equal tract's on the same
//! (microfft) features; an injected slowdown produces counted overruns, dropped blocks and
//! missed deadlines with consistent accounting; the loop allocates nothing.

use firmware_sim::twin::{self, CostModel, TwinConfig};
use firmware_sim::{clip, gen, loop_config};
use firmware_sim_core::{Engine, FrontState, NoClock};
use soundproof::dsp::{FeatureConfig, FftBackend, FrontEnd, GainPolicy};
use soundproof::model::Model;
use soundproof::window::{ClipGain, WindowPlan};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

struct Counting;
static ALLOCS: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
}
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ACTIVE.with(|a| a.get()) {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if ACTIVE.with(|a| a.get()) {
            ALLOCS.fetch_add(1, Ordering::SeqCst);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
#[global_allocator]
static GLOBAL: Counting = Counting;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}
fn model_path() -> PathBuf {
    root().join("models/kws-fsdd-rt-int8.onnx")
}
fn fsdd(name: &str) -> PathBuf {
    root().join("../shared/data/fsdd/recordings").join(name)
}

/// A long stream: several FSDD clips one after another (so there are many windows and hops).
fn long_stream(model: &Model) -> clip::Stream {
    let mut samples = Vec::new();
    for name in ["4_george_2.wav", "8_theo_1.wav", "0_jackson_3.wav", "6_nicolas_0.wav", "2_yweweler_1.wav"] {
        let c = soundproof::audio::read_mono(fsdd(name)).unwrap();
        samples.extend(soundproof::audio::resample(&c.samples, c.sample_rate, 16_000).unwrap());
        samples.extend(std::iter::repeat_n(0.0f32, 4000));
    }
    let gain = model.card().normalization.calibration_gain;
    clip::Stream { samples, gain }
}

fn tract_windows(model: &Model, s: &clip::Stream) -> Vec<Vec<f32>> {
    let cfg = FeatureConfig { gain: GainPolicy::Fixed { gain: s.gain }, fft_backend: FftBackend::Microfft, ..model.card().features };
    let mut fe = FrontEnd::<1024>::new(&cfg).unwrap();
    let mut frames = Vec::new();
    let mut sink = |f: &[f32]| -> Result<(), soundproof::dsp::DspError> {
        frames.extend_from_slice(f);
        Ok(())
    };
    fe.push(&s.samples, &mut sink).unwrap();
    fe.finish(&mut sink).unwrap();
    let plan = WindowPlan::of(model).unwrap();
    let n = (frames.len() / plan.bins - plan.frames_per_window) / plan.hop_frames + 1;
    let per = plan.frames_per_window * plan.bins;
    let input: Vec<f32> = (0..n).flat_map(|w| frames[w * plan.hop_frames * plan.bins..][..per].to_vec()).collect();
    model.run(&input, n).unwrap().chunks(10).map(|c| c.to_vec()).collect()
}

/// A core fast enough for the measured costs: 80 M instructions per 0.25-s hop (320 M
/// instructions/s; an inference is 13.8 M, a hop's 25 frames 1.9 M).
fn cfg(slowdown: f64) -> TwinConfig {
    TwinConfig { insns_per_half: 80_000_000, cost: CostModel::KWS_RT_INT8, slowdown }
}

#[test]
fn twin_windows_equal_tract_bit_for_bit() {
    let m = gen::compile(&model_path()).unwrap();
    let model = Model::load(model_path()).unwrap();
    let s = long_stream(&model);
    let want = tract_windows(&model, &s);
    let run = twin::run(&m, &s.samples, s.gain, &cfg(1.0)).unwrap();
    assert_eq!(run.windows.len(), want.len());
    assert!(want.len() >= 8, "{} windows", want.len());
    for (w, t) in run.windows.iter().zip(&want) {
        assert!(w.logits.iter().zip(t).all(|(a, b)| a.to_bits() == b.to_bits()), "window {}: {:?} vs tract {t:?}", w.index, w.logits);
    }
    let st = &run.stats;
    assert_eq!((st.overruns, st.dropped_blocks, st.missed_deadlines), (0, 0, 0));
    assert_eq!(st.hops, st.blocks);
    assert_eq!(st.half_transfer_irqs + st.transfer_complete_irqs, st.blocks);
}

#[test]
fn overload_is_counted_never_silent() {
    let m = gen::compile(&model_path()).unwrap();
    let model = Model::load(model_path()).unwrap();
    let s = long_stream(&model);
    let normal = twin::run(&m, &s.samples, s.gain, &cfg(1.0)).unwrap();
    // At 8× an inference alone (110 M instructions) outlasts a hop (80 M).
    let slow = twin::run(&m, &s.samples, s.gain, &cfg(8.0)).unwrap();
    let st = &slow.stats;
    assert!(st.overruns > 0, "{st:?}");
    assert!(st.missed_deadlines > 0, "{st:?}");
    assert!(st.dropped_blocks > 0 && st.dropped_blocks <= st.overruns, "{st:?}");
    // Accounting: every block is either handed over (and then processed: one hop each) or dropped.
    assert_eq!(st.hops + st.dropped_blocks, st.blocks, "{st:?}");
    assert_eq!(st.half_transfer_irqs + st.transfer_complete_irqs, st.blocks);
    // Dropped audio means fewer frames and windows than the normal run, never more.
    assert!(st.frames < normal.stats.frames && st.inferences < normal.stats.inferences, "{st:?} vs {:?}", normal.stats);
    assert_eq!(slow.windows.len() as u64, st.inferences);
}

#[test]
fn the_loop_allocates_nothing() {
    let m = gen::compile(&model_path()).unwrap();
    let model = Model::load(model_path()).unwrap();
    let s = long_stream(&model);
    let lc = loop_config(&m).unwrap();
    let steps = m.steps();
    let graph = m.graph(&steps);
    let mut ring = vec![0u8; lc.ring_len()];
    let mut arena = vec![0u8; graph.arena_len];
    let mut front = Box::new(FrontState::new(&lc).unwrap());
    let mut engine = Engine::new(&lc, s.gain, &graph, front.parts(), &mut ring, &mut arena).unwrap();
    let mut labels = [0usize; 64];
    let mut n = 0usize;
    ALLOCS.store(0, Ordering::SeqCst);
    ACTIVE.with(|a| a.set(true));
    for half in s.samples.chunks(lc.hop_samples) {
        engine
            .push(half, &NoClock, |w| {
                labels[n % 64] = w.label;
                n += 1;
            })
            .unwrap();
    }
    engine.finish(&NoClock, |_| n += 1).unwrap();
    ACTIVE.with(|a| a.set(false));
    assert_eq!(ALLOCS.load(Ordering::SeqCst), 0, "allocations in the loop");
    assert!(n >= 8, "{n} windows");
    let _ = ClipGain::ClipRms;
}

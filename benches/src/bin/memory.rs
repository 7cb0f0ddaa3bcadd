//! Static and heap memory of the `dsp` objects, printed as a markdown table.
//!
//! For each object: `size_of` (all of its buffers live inline, sized by the capacity `N`), the
//! heap it keeps after construction with each FFT backend, and the number of heap allocations
//! its per-frame `process` (or a `push` of one hop, for the framer and front end) makes, which
//! must be zero. Heap use is counted by a global allocator wrapper. microfft needs no heap;
//! realfft allocates its plan (twiddles) and scratch once, in `new`.
//!
//! `cargo run --release -p soundproof-benches --bin memory`

use soundproof::dsp::{
    wavelet::{DwtBands, DwtBandsParams, Scalogram, ScalogramParams},
    DspError, FeatureConfig, FeatureKind, FftBackend, FrameFeature, Framer, FrontEnd, LogMel, MelParams, Mfcc,
    MfccParams, Stft, StftParams,
};
use soundproof_benches::{test_signal, SAMPLE_RATE};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// Counts live heap bytes and allocation calls on top of the system allocator.
struct Counting;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded unchanged to `System`; the wrapper only updates counters.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(layout.size(), Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(layout.size(), Relaxed);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        LIVE_BYTES.fetch_add(new_size, Relaxed);
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// What one backend's build of an object costs.
enum Heap {
    /// Heap bytes kept after `new`, and allocations made by 10 `process` calls (or why
    /// `process` failed, e.g. a feature not implemented yet).
    Measured { retained: usize, process_allocs: Result<usize, DspError> },
    /// Construction failed.
    Failed(DspError),
}

impl Heap {
    fn cell(&self) -> String {
        match self {
            Heap::Measured { retained, .. } => fmt_bytes(*retained),
            Heap::Failed(_) => "n/a".into(),
        }
    }
}

/// Builds an object and runs it 10 times, counting heap bytes kept by `build` and
/// allocations made by `run`.
fn measure<T>(
    build: impl FnOnce() -> Result<T, DspError>,
    mut run: impl FnMut(&mut T) -> Result<(), DspError>,
) -> Heap {
    let before = LIVE_BYTES.load(Relaxed);
    let mut obj = match build() {
        Ok(o) => o,
        Err(e) => return Heap::Failed(e),
    };
    let retained = LIVE_BYTES.load(Relaxed).saturating_sub(before);
    let allocs = ALLOCS.load(Relaxed);
    let process_allocs = (0..10).try_for_each(|_| run(&mut obj)).map(|()| ALLOCS.load(Relaxed) - allocs);
    Heap::Measured { retained, process_allocs }
}

/// One `FrameFeature::process` on a frame of the test signal, into a preallocated output.
fn frame_runner<T: FrameFeature>(frame: &[f32]) -> impl FnMut(&mut T) -> Result<(), DspError> + '_ {
    let mut out = vec![0.0f32; soundproof::dsp::MAX_N_FFT];
    move |f: &mut T| {
        let n = f.n_features();
        f.process(&frame[..f.frame_length()], &mut out[..n])
    }
}

fn fmt_bytes(b: usize) -> String {
    if b >= 1024 {
        format!("{b} ({:.1} KiB)", b as f64 / 1024.0)
    } else {
        format!("{b}")
    }
}

struct Row {
    name: String,
    size: usize,
    micro: Heap,
    real: Option<Heap>,
}

impl Row {
    fn print(&self, notes: &mut Vec<String>) {
        let real = self.real.as_ref().map_or("(no FFT)".to_string(), Heap::cell);
        let mut allocs = Vec::new();
        let backends = if self.real.is_some() { ["microfft", "realfft"] } else { ["no FFT", ""] };
        for (backend, h) in backends.into_iter().zip([Some(&self.micro), self.real.as_ref()]) {
            let failed = match h {
                Some(Heap::Measured { process_allocs: Ok(n), .. }) => {
                    allocs.push(n.to_string());
                    continue;
                }
                Some(Heap::Measured { process_allocs: Err(e), .. }) => format!("`process` failed: {e}"),
                Some(Heap::Failed(e)) => format!("`new` failed: {e}"),
                None => continue,
            };
            allocs.push("n/a".into());
            notes.push(format!("`{}` ({backend}): {failed}", self.name));
        }
        println!(
            "| `{}` | {} | {} | {} | {} |",
            self.name,
            fmt_bytes(self.size),
            self.micro.cell(),
            real,
            allocs.join(" / ")
        );
    }
}

/// One row per capacity `N`, for every object of the measured front end.
fn rows<const N: usize>(signal: &[f32]) -> Vec<Row> {
    let stft = StftParams::default();
    let mel = MelParams::default();
    let mfcc = MfccParams::default();
    let scal = ScalogramParams::default();
    let dwt = DwtBandsParams::default();
    let frame = &signal[..soundproof::dsp::MAX_N_FFT];
    let hop = &signal[..stft.hop_length];
    let both = |f: &dyn Fn(FftBackend) -> Heap| (f(FftBackend::Microfft), Some(f(FftBackend::Realfft)));
    let row =
        |name: &str, size: usize, (micro, real): (Heap, Option<Heap>)| Row { name: name.into(), size, micro, real };

    let push_hop = |fe: &mut FrontEnd<N>| {
        fe.push(hop, |f: &[f32]| -> Result<(), DspError> {
            std::hint::black_box(f);
            Ok(())
        })
    };
    let front_end = |kind: FeatureKind| {
        move |b: FftBackend| {
            // Log-mel's front end; the size is the same for every kind.
            let mut cfg = FeatureConfig::new(kind);
            cfg.fft_backend = b;
            measure(|| FrontEnd::<N>::new(&cfg), push_hop)
        }
    };
    vec![
        row(
            &format!("Stft<{N}>"),
            size_of::<Stft<N>>(),
            both(&|b| measure(|| Stft::<N>::new(&stft, b), frame_runner(frame))),
        ),
        row(
            &format!("LogMel<{N}>"),
            size_of::<LogMel<N>>(),
            both(&|b| measure(|| LogMel::<N>::new(&stft, &mel, b), frame_runner(frame))),
        ),
        row(
            &format!("Mfcc<{N}>"),
            size_of::<Mfcc<N>>(),
            both(&|b| measure(|| Mfcc::<N>::new(&stft, &mel, &mfcc, b), frame_runner(frame))),
        ),
        row(
            &format!("Scalogram<{N}>"),
            size_of::<Scalogram<N>>(),
            both(&|b| measure(|| Scalogram::<N>::new(&scal, b), frame_runner(frame))),
        ),
        row(
            &format!("DwtBands<{N}>"),
            size_of::<DwtBands<N>>(),
            (measure(|| DwtBands::<N>::new(&dwt), frame_runner(frame)), None),
        ),
        row(
            &format!("Framer<{N}>"),
            size_of::<Framer<N>>(),
            (
                measure(
                    || Framer::<N>::new(stft.n_fft, stft.hop_length, stft.center),
                    |f| {
                        f.push(hop, |fr: &[f32]| -> Result<(), DspError> {
                            std::hint::black_box(fr);
                            Ok(())
                        })
                    },
                ),
                None,
            ),
        ),
        row(&format!("FrontEnd<{N}>"), size_of::<FrontEnd<N>>(), both(&front_end(FeatureKind::Logmel))),
    ]
}

fn main() {
    let signal = test_signal(SAMPLE_RATE as usize, SAMPLE_RATE);
    let mut all = rows::<1024>(&signal);
    all.extend(rows::<{ soundproof::dsp::MAX_N_FFT }>(&signal));

    println!("| object | `size_of` (bytes) | heap after `new`, microfft | heap after `new`, realfft | allocations in `process` (microfft / realfft) |");
    println!("|---|---:|---:|---:|---:|");
    let mut notes = Vec::new();
    for r in &all {
        r.print(&mut notes);
    }
    println!();
    println!(
        "All parameters are 003's (n_fft 1024, win 400, hop 160, 64 mels, 20 MFCC; wavelet defaults); \
         `size_of` depends only on the capacity `N` (`{}` is the default `N`). With microfft the \
         objects use no heap at all; with realfft the FFT plan (twiddles) and scratch are \
         allocated once in `new` and kept on the heap. `process` (for `Framer`/`FrontEnd`: a \
         `push` of one 160-sample hop) must make 0 allocations with either backend. \
         `FrontEnd` holds an enum of all extractors, so its size is that of the largest one.",
        soundproof::dsp::MAX_N_FFT
    );
    for n in notes {
        println!("- {n}");
    }
}

//! Proof that the front end performs zero heap allocations per frame: a counting global
//! allocator (counting only on the thread under test) wraps every feature kind, for both FFT
//! backends, while 5 s of audio stream through a `FrontEnd` built beforehand.

use soundproof::dsp::{
    gain::GainPolicy, resize::resize_bilinear, FeatureConfig, FeatureKind, FftBackend, FrontEnd, DspError,
};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
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

/// Allocations made by `f` on this thread.
fn count<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCS.load(Ordering::SeqCst);
    ACTIVE.with(|a| a.set(true));
    let r = f();
    ACTIVE.with(|a| a.set(false));
    (ALLOCS.load(Ordering::SeqCst) - before, r)
}

fn signal(n: usize) -> Vec<f32> {
    (0..n).map(|i| (i as f32 * 0.031).sin() * 0.5 + ((i * 7919) % 113) as f32 * 1e-3).collect()
}

#[test]
fn counting_allocator_counts() {
    let (n, v) = count(|| vec![1u8; 10]);
    assert!(n >= 1, "the counting allocator must see a Vec allocation");
    drop(v);
}

#[test]
fn every_feature_kind_streams_without_allocating() {
    let audio = signal(16_000 * 5);
    let kinds = [FeatureKind::Stft, FeatureKind::LogStft, FeatureKind::Logmel, FeatureKind::Mfcc, FeatureKind::Scalogram, FeatureKind::DwtBands];
    for kind in kinds {
        for backend in [FftBackend::Microfft, FftBackend::Realfft] {
            let mut cfg = FeatureConfig::new(kind);
            cfg.fft_backend = backend;
            cfg.gain = GainPolicy::Clip { limit: 0.9 };
            let mut fe: Box<FrontEnd> = Box::new(FrontEnd::new(&cfg).unwrap_or_else(|e| panic!("{kind:?}: {e}")));
            let mut frames = 0usize;
            let mut checksum = 0.0f64;
            let (allocs, res) = count(|| -> Result<(), DspError> {
                for chunk in audio.chunks(160) {
                    fe.push(chunk, |f| {
                        frames += 1;
                        checksum += f[0] as f64;
                        Ok::<(), DspError>(())
                    })?;
                }
                fe.finish(|f| {
                    frames += 1;
                    checksum += f[0] as f64;
                    Ok::<(), DspError>(())
                })
            });
            res.unwrap_or_else(|e| panic!("{kind:?}/{backend:?}: {e}"));
            assert!(frames > 100 && checksum.is_finite(), "{kind:?}/{backend:?}: {frames} frames");
            assert_eq!(allocs, 0, "{kind:?}/{backend:?}: {allocs} heap allocations while streaming {frames} frames");
        }
    }
}

#[test]
fn gain_and_resize_do_not_allocate() {
    let mut x = signal(16_000);
    let input = signal(101 * 64);
    let mut out = vec![0.0f32; 128 * 128];
    let (allocs, _) = count(|| {
        for p in [
            GainPolicy::Fixed { gain: 2.0 },
            GainPolicy::Rms { target: 0.1 },
            GainPolicy::Peak { target: 0.5 },
            GainPolicy::Clip { limit: 0.2 },
        ] {
            p.apply(&mut x).expect("gain");
        }
        resize_bilinear(&input, 101, 64, &mut out, 128, 128).expect("resize");
    });
    assert_eq!(allocs, 0);
}

#[test]
fn the_masking_threshold_does_not_allocate() {
    use soundproof::dsp::masking::{MaskingParams, MaskingThreshold};
    let x = signal(16_000);
    let params = MaskingParams::default();
    let n = params.frame_count(x.len()) * params.n_bins();
    let (mut theta, mut power) = (vec![0.0f32; n], vec![0.0f32; n]);
    for backend in [FftBackend::Microfft, FftBackend::Realfft] {
        let mut m = Box::new(MaskingThreshold::<2048>::new(&params, backend).expect("masking threshold"));
        let (allocs, r) = count(|| {
            m.clip_threshold(&x, &mut theta)?;
            m.clip_psd_power(&x, &mut power).map(|_| ())
        });
        r.expect("threshold");
        assert_eq!(allocs, 0, "{backend:?}");
        assert!(theta.iter().all(|t| !t.is_nan()));
    }
}

//! Front-end cost: the 1024-point real FFT, per-frame STFT power / log-mel / MFCC / wavelet
//! features, and streaming features over a 60 s clip through `FrontEnd`, for both FFT backends.
//!
//! Parameters are 003's (16 kHz, n_fft 1024, win_length 400, hop_length 160, 64 mels, 20 MFCC),
//! the ones `benches/librosa_anchor.py` times librosa with; `benches/run_frontend_bench.sh` runs
//! both and prints the ratios. Benchmark ids (`group/function`) are what that script looks up.
//!
//! Wavelet features whose construction or first frame fails are skipped with a `note: skipped`
//! line instead of failing the whole run.

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use soundproof::dsp::{
    wavelet::{DwtBands, DwtBandsParams, Scalogram, ScalogramParams},
    DspError, FeatureConfig, FeatureKind, FftBackend, FrameFeature, FrontEnd, LogMel, MelParams, Mfcc, MfccParams,
    RealFft, Stft, StftParams,
};
use soundproof_benches::{checksum, test_signal, CLIP_SECONDS, SAMPLE_RATE};
use std::hint::black_box;
use std::time::Duration;

/// Capacity of every benchmarked object: the n_fft of the measured front end.
const N: usize = 1024;
/// Samples pushed per call in the streaming benchmarks: one hop, as a live source delivers them.
const CHUNK: usize = 160;

const BACKENDS: [(FftBackend, &str); 2] = [(FftBackend::Microfft, "microfft"), (FftBackend::Realfft, "realfft")];

fn clip() -> Vec<f32> {
    test_signal(CLIP_SECONDS * SAMPLE_RATE as usize, SAMPLE_RATE)
}

/// An n_fft-long frame from the middle of the clip (tones and noise, no padding zeros).
fn frame(clip: &[f32], len: usize) -> Vec<f32> {
    let start = clip.len() / 2;
    clip[start..start + len].to_vec()
}

fn skip_note(id: &str, err: DspError) {
    println!("note: skipped {id}: {err}");
}

fn fft(c: &mut Criterion) {
    let input = frame(&clip(), N);
    let mut g = c.benchmark_group("fft_1024_power");
    for (backend, name) in BACKENDS {
        let mut fft = RealFft::new(N, backend).expect("1024-point FFT plans on both backends");
        let mut power = vec![0.0f32; fft.n_bins()];
        let mut scratch = vec![0.0f32; N];
        // The FFT uses its input as scratch, so every call starts from a fresh copy of the
        // frame (a 4 KiB copy within L1, a few percent of the FFT; `iter_batched_ref` instead
        // would read each input cold from memory).
        g.bench_function(name, |b| {
            b.iter(|| {
                scratch.copy_from_slice(black_box(&input));
                fft.power(&mut scratch, &mut power).expect("lengths match");
                black_box(&power);
            })
        });
    }
    g.finish();
}

/// Times `process` of one feature on one frame, or prints why it was skipped.
fn bench_frame_feature(
    c: &mut Criterion,
    group: &str,
    name: &str,
    built: Result<impl FrameFeature, DspError>,
    clip: &[f32],
) {
    let id = format!("{group}/{name}");
    let mut feat = match built {
        Ok(f) => f,
        Err(e) => return skip_note(&id, e),
    };
    let input = frame(clip, feat.frame_length());
    let mut out = vec![0.0f32; feat.n_features()];
    if let Err(e) = feat.process(&input, &mut out) {
        return skip_note(&id, e);
    }
    c.benchmark_group(group).bench_function(name, |b| {
        b.iter(|| feat.process(black_box(&input), black_box(&mut out)).expect("checked above"))
    });
}

fn per_frame(c: &mut Criterion) {
    let clip = clip();
    let stft = StftParams::default();
    let mel = MelParams::default();
    let mfcc = MfccParams::default();
    for (backend, name) in BACKENDS {
        bench_frame_feature(c, "frame_stft_power", name, Stft::<N>::new(&stft, backend), &clip);
        bench_frame_feature(c, "frame_logmel", name, LogMel::<N>::new(&stft, &mel, backend), &clip);
        bench_frame_feature(c, "frame_mfcc", name, Mfcc::<N>::new(&stft, &mel, &mfcc, backend), &clip);
        let scalogram = Scalogram::<N>::new(&ScalogramParams::default(), backend);
        bench_frame_feature(c, "frame_scalogram", name, scalogram, &clip);
    }
    // The DWT uses no FFT, so it has no backend.
    bench_frame_feature(c, "frame_dwt_bands", "none", DwtBands::<N>::new(&DwtBandsParams::default()), &clip);
}

/// Pushes the clip in hop-sized chunks and finishes; returns the number of frames emitted.
fn stream(fe: &mut FrontEnd<N>, clip: &[f32]) -> Result<u64, DspError> {
    fe.reset();
    let sink = |f: &[f32]| -> Result<(), DspError> {
        black_box(f);
        Ok(())
    };
    for chunk in clip.chunks(CHUNK) {
        fe.push(black_box(chunk), sink)?;
    }
    fe.finish(sink)?;
    Ok(fe.frames_emitted())
}

fn streaming(c: &mut Criterion) {
    let clip = clip();
    let (sum, sum_sq) = checksum(&clip);
    println!("signal: samples={} sum={sum:.9e} sum_sq={sum_sq:.9e}", clip.len());
    let kinds = [
        (FeatureKind::Logmel, "stream_logmel_60s"),
        (FeatureKind::Mfcc, "stream_mfcc_60s"),
        (FeatureKind::Stft, "stream_stft_power_60s"),
    ];
    for (kind, group) in kinds {
        let mut g = c.benchmark_group(group);
        // One iteration is ~10-50 ms: flat sampling keeps the run short with enough samples.
        g.sampling_mode(SamplingMode::Flat).sample_size(30).measurement_time(Duration::from_secs(10));
        for (backend, name) in BACKENDS {
            let mut cfg = FeatureConfig::new(kind);
            cfg.fft_backend = backend;
            let mut fe = FrontEnd::<N>::new(&cfg).expect("003's front end fits N = 1024");
            let frames = stream(&mut fe, &clip).expect("streaming succeeds");
            assert_eq!(frames as usize, fe.frame_count(clip.len()), "framer frame count");
            // Throughput in frames: criterion then also reports frames/s; the script divides
            // the median time by this count for µs/frame.
            g.throughput(Throughput::Elements(frames));
            g.bench_function(name, |b| b.iter(|| stream(&mut fe, &clip).expect("streaming succeeds")));
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(2)).measurement_time(Duration::from_secs(4));
    targets = fft, per_frame, streaming
}
criterion_main!(benches);

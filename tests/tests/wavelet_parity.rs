//! Parity of the wavelet features (`engine/src/dsp/wavelet.rs`) with PyWavelets, through the
//! streaming front end, so framing and centre padding are covered too. References come from
//! `tests/reference/wavelet_ref.py`, which frames the signal itself; arrays go both ways as
//! `.npy`.
//!
//! Signals: a synthetic 16 kHz clip (tone, linear chirp, a click, a silent gap, low noise) and
//! two FSDD recordings at their own 8 kHz rate (one loud, one quiet). The direct scalogram
//! comparison runs both FFT backends (realfft, and microfft, the one of `no_std` builds).
//!
//! Tolerances, in log10 units, with the largest error measured over all clips in brackets:
//!
//! * [`TOL_DWT_BANDS`] = 1e-4, `DwtBands` against `pywt.wavedec(mode="periodization")`: the
//!   same arithmetic in f32 instead of f64 [5.1e-6].
//! * [`TOL_DIRECT_GAUSSIAN`] = 2e-5, Morlet and Mexican-hat scalograms against a time-domain
//!   circular correlation with the wavelet sampled at `U = 16` × the sample rate (the
//!   reference's `direct` method) [2.8e-6]. Gaussian wavelets sampled that finely alias
//!   nothing, so the two discretizations agree to float64 precision (checked offline:
//!   < 1e-15); what remains is the engine's f32 FFT and sums.
//! * [`TOL_DIRECT_HAAR`] = 5e-4, Haar against the same at `U = 32` [2.0e-4, at Nyquist]. The
//!   reference integrates the wavelet over each of its samples (point samples would misplace
//!   its jumps by up to half a sample), which multiplies its response by `sinc²(f/U)`, -1.4e-4
//!   at Nyquist, and it aliases Haar's slowly decaying `1/ω²` spectrum; both shrink as `1/U²`
//!   (5.8e-4 at `U = 16`).
//! * [`TOL_PYWT`] = 6e-3, Morlet and Mexican hat against `pywt.cwt(method="fft")` run on the
//!   band-limited frame at `U = 8` × the rate [4.5e-3, at Nyquist]. pywt builds each scaled
//!   wavelet by differencing its integral, i.e. averages it over one sample, a `sinc²(f/U)`
//!   low-pass worth `2·log10(sinc(1/16)) = -5.6e-3` at Nyquist and under 1e-3 below a quarter
//!   of the sample rate (measured: about 1e-4 at 1 kHz).
//!
//! These bounds are tight for what they guard: `tolerances_catch_wrong_scales` shows that a
//! 2 % error in every scale (the Morlet's centre frequency 1.0 → 1.02) moves the features by
//! 6.7e-2, and a 1 % error in the normalization by 4.3e-3, against the same direct reference.

use soundproof::dsp::wavelet::{ContinuousWavelet, DiscreteWavelet};
use soundproof::dsp::{DspError, FeatureConfig, FeatureKind, FftBackend, FrontEnd, GainPolicy};
use soundproof::npy;
use soundproof_tests::{fsdd, run_reference, scratch};
use std::path::Path;

const TOL_DWT_BANDS: f64 = 1e-4;
const TOL_DIRECT_GAUSSIAN: f64 = 2e-5;
const TOL_DIRECT_HAAR: f64 = 5e-4;
const TOL_PYWT: f64 = 6e-3;

/// 16 kHz synthetic clip: 440 Hz tone, 200 Hz → 3.2 kHz linear chirp, a click at 0.31 s, a
/// silent stretch from 0.40 s to 0.45 s, and white noise at -46 dB.
fn synthetic(sr: u32, seconds: f64) -> Vec<f32> {
    let n = (sr as f64 * seconds) as usize;
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = move || {
        // xorshift64*: deterministic, uniform in [-1, 1).
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        let v = state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        v as f64 / (1u64 << 52) as f64 - 1.0
    };
    (0..n)
        .map(|i| {
            let t = i as f64 / sr as f64;
            let mut x = 0.4 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()
                + 0.3 * (2.0 * std::f64::consts::PI * (200.0 * t + 3000.0 * t * t)).sin()
                + 0.01 * noise();
            if i == (0.31 * sr as f64) as usize {
                x += 0.8;
            }
            if (0.40..0.45).contains(&t) {
                x = 0.0;
            }
            x as f32
        })
        .collect()
}

/// Samples of a 16-bit mono WAV scaled to [-1, 1), and its sample rate.
fn read_wav(path: &Path) -> (Vec<f32>, u32) {
    let mut r = hound::WavReader::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let spec = r.spec();
    assert_eq!((spec.channels, spec.bits_per_sample), (1, 16), "{}", path.display());
    let x = r.samples::<i16>().map(|s| s.expect("wav sample") as f32 / 32768.0).collect();
    (x, spec.sample_rate)
}

/// Features of `signal` through the streaming front end, pushed in uneven chunks.
fn features(cfg: &FeatureConfig, signal: &[f32]) -> (Vec<f32>, usize) {
    let mut fe = FrontEnd::<4096>::new(cfg).expect("front end");
    let n = fe.n_features();
    let mut out = Vec::new();
    for chunk in signal.chunks(333) {
        fe.push(chunk, |f| {
            out.extend_from_slice(f);
            Ok::<(), DspError>(())
        })
        .expect("push");
    }
    fe.finish(|f| {
        out.extend_from_slice(f);
        Ok::<(), DspError>(())
    })
    .expect("finish");
    assert_eq!(out.len() / n, fe.frame_count(signal.len()), "frame count");
    (out, n)
}

/// Reference rows (every `frame_step`-th frame) from `wavelet_ref.py`.
fn reference(dir: &Path, tag: &str, signal: &[f32], args: &[String]) -> (Vec<f64>, Vec<usize>) {
    let sig = dir.join(format!("{tag}_signal.npy"));
    let out = dir.join(format!("{tag}_ref.npy"));
    npy::write_f32(&sig, &[signal.len()], signal).expect("write signal");
    // The subcommand first, then the files, then the rest of the options.
    let mut full: Vec<&str> = vec![args[0].as_str(), "--signal", sig.to_str().expect("utf-8 path")];
    full.extend(["--out", out.to_str().expect("utf-8 path")]);
    full.extend(args[1..].iter().map(String::as_str));
    run_reference("wavelet_ref.py", &full);
    let arr = npy::read(&out).expect("read reference");
    (arr.data, arr.shape)
}

/// Largest |got - want| over the frames the reference kept; also checks the shapes agree.
fn max_err(got: &[f32], n_feat: usize, want: &[f64], shape: &[usize], frame_step: usize) -> (f64, usize, usize) {
    let n_frames = got.len() / n_feat;
    assert_eq!(shape, &[n_frames.div_ceil(frame_step), n_feat], "reference shape");
    let mut worst = (0.0f64, 0, 0);
    for (r, t) in (0..n_frames).step_by(frame_step).enumerate() {
        for k in 0..n_feat {
            let e = (got[t * n_feat + k] as f64 - want[r * n_feat + k]).abs();
            assert!(e.is_finite(), "non-finite feature at frame {t}, row {k}");
            if e > worst.0 {
                worst = (e, t, k);
            }
        }
    }
    worst
}

struct Clip {
    tag: String,
    signal: Vec<f32>,
    sr: u32,
}

fn clips() -> Vec<Clip> {
    let mut v = vec![Clip { tag: "synthetic".into(), signal: synthetic(16_000, 0.6), sr: 16_000 }];
    for name in ["3_jackson_0", "7_theo_12"] {
        let (signal, sr) = read_wav(&fsdd().join(format!("{name}.wav")));
        v.push(Clip { tag: name.into(), signal, sr });
    }
    v
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

#[test]
fn dwt_bands_match_pywt_wavedec() {
    let dir = scratch("wavelet_dwt_bands");
    // (wavelet, frame_length, hop, levels): the defaults; odd lengths from level 6 on
    // (800 → … → 25 → 13); db4 longer than the level-7 input (7 samples).
    let cases = [
        (DiscreteWavelet::Db4, 1024, 512, 5),
        (DiscreteWavelet::Haar, 800, 400, 6),
        (DiscreteWavelet::Db4, 800, 400, 7),
        (DiscreteWavelet::Db4, 256, 128, 4),
    ];
    for clip in clips() {
        for (i, &(wavelet, frame_length, hop, levels)) in cases.iter().enumerate() {
            let mut cfg = FeatureConfig::new(FeatureKind::DwtBands).with_sample_rate(clip.sr);
            cfg.dwt_bands.frame_length = frame_length;
            cfg.dwt_bands.hop_length = hop;
            cfg.dwt_bands.wavelet = wavelet;
            cfg.dwt_bands.levels = levels;
            let (got, n) = features(&cfg, &clip.signal);
            assert_eq!(n, levels + 1);
            let name = match wavelet {
                DiscreteWavelet::Haar => "haar",
                DiscreteWavelet::Db4 => "db4",
            };
            let args = vec![
                s("dwt-bands"),
                s("--frame-length"),
                s(frame_length),
                s("--hop"),
                s(hop),
                s("--center"),
                s("--wavelet"),
                s(name),
                s("--levels"),
                s(levels),
            ];
            let (want, shape) = reference(&dir, &format!("{}_{i}", clip.tag), &clip.signal, &args);
            let (e, t, k) = max_err(&got, n, &want, &shape, 1);
            println!(
                "dwt-bands {} {name} L={frame_length} levels={levels}: max |err| {e:.2e} (frame {t}, band {k})",
                clip.tag
            );
            assert!(e <= TOL_DWT_BANDS, "{} {name}: |err| {e} at frame {t}, band {k}", clip.tag);
        }
    }
}

/// A scalogram front end for `clip`: 50 ms frames, 50 % overlap, 24 scales from 50 Hz to
/// Nyquist, n_fft 4096 at 16 kHz and 2048 at 8 kHz.
fn scalogram_config(clip: &Clip, wavelet: ContinuousWavelet) -> FeatureConfig {
    let mut cfg = FeatureConfig::new(FeatureKind::Scalogram).with_sample_rate(clip.sr);
    let p = &mut cfg.scalogram;
    p.frame_length = clip.sr as usize / 20;
    p.hop_length = p.frame_length / 2;
    p.n_fft = if clip.sr >= 16_000 { 4096 } else { 2048 };
    p.n_scales = 24;
    p.fmin = 50.0;
    p.fmax = None;
    p.wavelet = wavelet;
    cfg
}

fn scalogram_args(cfg: &FeatureConfig, method: &str, upsample: usize, frame_step: usize) -> Vec<String> {
    let p = &cfg.scalogram;
    let mut a = vec![
        s("scalogram"),
        s("--frame-length"),
        s(p.frame_length),
        s("--hop"),
        s(p.hop_length),
        s("--center"),
        s("--sr"),
        s(p.sample_rate),
        s("--n-fft"),
        s(p.n_fft),
        s("--n-scales"),
        s(p.n_scales),
        s("--fmin"),
        s(p.fmin),
        s("--method"),
        s(method),
        s("--upsample"),
        s(upsample),
        s("--frame-step"),
        s(frame_step),
        s("--wavelet"),
    ];
    match p.wavelet {
        ContinuousWavelet::Haar => a.push(s("haar")),
        ContinuousWavelet::MexicanHat => a.push(s("mexh")),
        ContinuousWavelet::ComplexMorlet { bandwidth, center_frequency } => {
            a.extend([s("cmor"), s("--bandwidth"), s(bandwidth), s("--center-frequency"), s(center_frequency)])
        }
    }
    a
}

const MORLET: ContinuousWavelet = ContinuousWavelet::ComplexMorlet { bandwidth: 1.5, center_frequency: 1.0 };

fn wavelet_tag(w: ContinuousWavelet) -> &'static str {
    match w {
        ContinuousWavelet::Haar => "haar",
        ContinuousWavelet::MexicanHat => "mexh",
        ContinuousWavelet::ComplexMorlet { .. } => "cmor",
    }
}

#[test]
fn scalogram_matches_time_domain_cwt() {
    let dir = scratch("wavelet_scalogram_direct");
    for clip in clips() {
        for (wavelet, upsample, tol) in [
            (MORLET, 16, TOL_DIRECT_GAUSSIAN),
            (ContinuousWavelet::MexicanHat, 16, TOL_DIRECT_GAUSSIAN),
            (ContinuousWavelet::Haar, 32, TOL_DIRECT_HAAR),
        ] {
            let cfg = scalogram_config(&clip, wavelet);
            let w = wavelet_tag(wavelet);
            let args = scalogram_args(&cfg, "direct", upsample, 1);
            let (want, shape) = reference(&dir, &format!("{}_{w}", clip.tag), &clip.signal, &args);
            // Both FFT backends (the no_std build has only microfft).
            for backend in [FftBackend::Realfft, FftBackend::Microfft] {
                let cfg = FeatureConfig { fft_backend: backend, ..cfg };
                let (got, n) = features(&cfg, &clip.signal);
                let (e, t, k) = max_err(&got, n, &want, &shape, 1);
                println!(
                    "scalogram {} {w} ({backend:?}) vs direct (U={upsample}): max |err| {e:.2e} (frame {t}, scale {k})",
                    clip.tag
                );
                assert!(e <= tol, "{} {w} {backend:?}: |err| {e} > {tol} at frame {t}, scale {k}", clip.tag);
            }
        }
    }
}

#[test]
fn scalogram_matches_pywt_cwt() {
    let dir = scratch("wavelet_scalogram_pywt");
    let clip = &clips()[0];
    for wavelet in [MORLET, ContinuousWavelet::MexicanHat] {
        let cfg = scalogram_config(clip, wavelet);
        let (got, n) = features(&cfg, &clip.signal);
        let w = wavelet_tag(wavelet);
        let step = 3;
        let args = scalogram_args(&cfg, "pywt", 8, step);
        let (want, shape) = reference(&dir, w, &clip.signal, &args);
        let (e, t, k) = max_err(&got, n, &want, &shape, step);
        println!("scalogram {} {w} vs pywt.cwt (U=8): max |err| {e:.2e} (frame {t}, scale {k})", clip.tag);
        assert!(e <= TOL_PYWT, "{w}: |err| {e} at frame {t}, scale {k}");
    }
}

#[test]
fn tolerances_catch_wrong_scales() {
    let dir = scratch("wavelet_scalogram_sensitivity");
    let clip = &clips()[0];
    let cfg = scalogram_config(clip, MORLET);
    let args = scalogram_args(&cfg, "direct", 16, 2);
    let (want, shape) = reference(&dir, "cmor", &clip.signal, &args);

    // Every scale 2 % too large.
    let mut shifted = cfg;
    shifted.scalogram.wavelet = ContinuousWavelet::ComplexMorlet { bandwidth: 1.5, center_frequency: 1.02 };
    let (got, n) = features(&shifted, &clip.signal);
    let (e, _, _) = max_err(&got, n, &want, &shape, 2);
    println!("scales 2 % off: max |err| {e:.2e}");
    assert!(e > 100.0 * TOL_DIRECT_GAUSSIAN, "a 2 % scale error went unnoticed ({e})");

    // Energies 1 % too large (amplitude gain √1.01).
    let mut louder = cfg;
    louder.gain = GainPolicy::Fixed { gain: 1.01f32.sqrt() };
    let (got, n) = features(&louder, &clip.signal);
    let (e, _, _) = max_err(&got, n, &want, &shape, 2);
    println!("energy 1 % off: max |err| {e:.2e}");
    assert!(e > 100.0 * TOL_DIRECT_GAUSSIAN, "a 1 % normalization error went unnoticed ({e})");
}

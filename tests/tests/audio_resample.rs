//! Resampling: accuracy against analytic tones, frequency, length and time alignment,
//! streaming equals whole-clip, passthrough, bad rates.

use soundproof::audio::resample::output_len;
use soundproof::audio::{resample, AudioError, Resampler};

fn tone(freq: f64, rate: u32, len: usize, phase: f64) -> Vec<f64> {
    (0..len).map(|n| (std::f64::consts::TAU * freq * n as f64 / f64::from(rate) + phase).sin()).collect()
}

fn to_f32(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// Max |a - b| over the interior, `margin` samples away from the clip edges (near the edges the
/// filter sees the silence outside the clip, so the analytic tone is not the right answer).
fn max_err_interior(a: &[f32], b: &[f64], margin: usize) -> f64 {
    assert_eq!(a.len(), b.len());
    a[margin..a.len() - margin]
        .iter()
        .zip(&b[margin..b.len() - margin])
        .map(|(&x, &y)| (f64::from(x) - y).abs())
        .fold(0.0, f64::max)
}

/// One 16-bit quantization step. The tolerance: resampling a 16-bit source must add less error
/// than the source's own quantization. What remains is f32 FFT round-off (measured ≈ 2e-6).
const Q16: f64 = 1.0 / 32768.0;

#[test]
fn upsampling_8k_to_16k_matches_analytic_tones_in_the_passband() {
    let len = 16000;
    let r = Resampler::new(8000, 16000).unwrap();
    let margin = 2 * r.delay_frames();
    println!("8k → 16k: block {} frames, delay {} frames, cutoff {:.1} Hz", r.block_len(), r.delay_frames(), r.cutoff_hz());
    // 3.88 kHz is 0.97 of the 4 kHz Nyquist frequency, the end of the flat passband.
    for &freq in &[50.0, 100.0, 440.0, 1000.0, 2500.0, 3400.0, 3880.0] {
        for &phase in &[0.0, 0.3, 1.9] {
            let x = to_f32(&tone(freq, 8000, len, phase));
            let y = resample(&x, 8000, 16000).unwrap();
            assert_eq!(y.len(), 2 * len);
            let err = max_err_interior(&y, &tone(freq, 16000, 2 * len, phase), margin);
            if phase == 0.3 {
                println!("  {freq} Hz: max error {err:.2e} (tolerance {Q16:.2e})");
            }
            assert!(err < Q16, "{freq} Hz phase {phase}: max error {err:e} >= {Q16:e}");
        }
    }
}

#[test]
fn downsampling_keeps_the_passband_and_removes_what_would_alias() {
    for &(from, to) in &[(16000u32, 8000u32), (48000, 16000), (44100, 16000)] {
        let r = Resampler::new(from, to).unwrap();
        let margin = 2 * r.delay_frames();
        let len = from as usize;
        let out_len = output_len(len as u64, from, to) as usize;
        let nyquist_out = f64::from(to) / 2.0;
        for frac in [0.1, 0.5, 0.9, 0.95] {
            let f = nyquist_out * frac;
            let y = resample(&to_f32(&tone(f, from, len, 0.7)), from, to).unwrap();
            let err = max_err_interior(&y, &tone(f, to, out_len, 0.7), margin);
            assert!(err < Q16, "{from} → {to}, {f} Hz: max error {err:e}");
        }
        // Above the output Nyquist frequency: nothing may fold back.
        for frac in [1.02, 1.2, 1.5] {
            let f = nyquist_out * frac;
            let y = resample(&to_f32(&tone(f, from, len, 0.7)), from, to).unwrap();
            let seg = &y[margin..out_len - margin];
            let rms = (seg.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>() / seg.len() as f64).sqrt();
            assert!(rms < 1e-6, "{from} → {to}, {f} Hz: {rms:e} RMS left (aliasing)");
        }
    }
}

/// Frequency from the zero crossings (linear interpolation between samples) of the interior.
fn zero_crossing_freq(x: &[f32], rate: u32) -> f64 {
    let mut crossings = Vec::new();
    for i in 1..x.len() {
        let (a, b) = (f64::from(x[i - 1]), f64::from(x[i]));
        if a < 0.0 && b >= 0.0 {
            crossings.push((i - 1) as f64 + a / (a - b));
        }
    }
    let periods = (crossings.len() - 1) as f64;
    periods * f64::from(rate) / (crossings[crossings.len() - 1] - crossings[0])
}

#[test]
fn a_1khz_tone_at_8k_is_still_1khz_at_16k() {
    let x = to_f32(&tone(1000.0, 8000, 8000, 0.0));
    let y = resample(&x, 8000, 16000).unwrap();
    let margin = 2 * Resampler::new(8000, 16000).unwrap().delay_frames();
    let f = zero_crossing_freq(&y[margin..y.len() - margin], 16000);
    println!("measured {f:.6} Hz");
    assert!((f - 1000.0).abs() < 1e-3, "measured {f} Hz");
}

#[test]
fn output_length_is_the_rounded_ratio() {
    for &(len, from, to) in &[
        (0usize, 8000u32, 16000u32),
        (1, 8000, 16000),
        (7, 8000, 16000),
        (5000, 8000, 16000),
        (5001, 16000, 8000),
        (12345, 44100, 16000),
        (999, 48000, 16000),
        (1000, 22050, 16000),
        (3, 16000, 44100),
    ] {
        let x = vec![0.25f32; len];
        let y = resample(&x, from, to).unwrap();
        let expected = ((len as f64) * f64::from(to) / f64::from(from)).round() as usize;
        assert_eq!(y.len(), expected, "{len} frames {from} → {to}");
        assert_eq!(output_len(len as u64, from, to) as usize, expected);
    }
}

#[test]
fn an_impulse_stays_at_the_same_time() {
    // 8k → 16k: input sample n sits at output 2n; 16k → 8k: input 2m sits at output m.
    for &(from, to, at, want) in &[(8000u32, 16000u32, 3000usize, 6000usize), (16000, 8000, 6000, 3000), (8000, 24000, 777, 2331)] {
        let mut x = vec![0.0f32; 8000];
        x[at] = 1.0;
        let y = resample(&x, from, to).unwrap();
        let peak = y.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0;
        assert_eq!(peak, want, "{from} → {to}");
        // The filter is linear phase: the response is symmetric about the peak.
        for k in 1..50 {
            let (l, r) = (y[want - k], y[want + k]);
            assert!((l - r).abs() < 1e-6, "{from} → {to}: asymmetric at ±{k}: {l} vs {r}");
        }
    }
}

#[test]
fn streaming_in_any_chunks_equals_the_whole_clip_bit_for_bit() {
    // A tone plus a deterministic pseudo-random part, so every sample matters.
    let mut state = 12345u64;
    let x: Vec<f32> = (0..20011)
        .map(|n| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            0.5 * (n as f32 * 0.05).sin() + ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 0.1
        })
        .collect();
    for &(from, to) in &[(8000u32, 16000u32), (16000, 8000), (44100, 16000), (16000, 16000)] {
        let whole = resample(&x, from, to).unwrap();
        for chunking in [vec![1usize], vec![160], vec![7, 1000, 3], vec![4096, 1], vec![20011]] {
            let mut r = Resampler::new(from, to).unwrap();
            let mut out = Vec::new();
            let mut pos = 0;
            let mut i = 0;
            while pos < x.len() {
                let n = chunking[i % chunking.len()].min(x.len() - pos);
                r.push(&x[pos..pos + n], |o| -> Result<(), AudioError> {
                    out.extend_from_slice(o);
                    Ok(())
                })
                .unwrap();
                pos += n;
                i += 1;
            }
            r.flush(|o| -> Result<(), AudioError> {
                out.extend_from_slice(o);
                Ok(())
            })
            .unwrap();
            assert_eq!(out.len(), whole.len());
            assert!(out.iter().zip(&whole).all(|(a, b)| a.to_bits() == b.to_bits()), "{from} → {to} chunks {chunking:?}");
        }
        // After a flush the resampler starts a fresh clip: a second run gives the same output.
        let mut r = Resampler::new(from, to).unwrap();
        for _ in 0..2 {
            let mut out = Vec::new();
            let mut collect = |o: &[f32]| -> Result<(), AudioError> {
                out.extend_from_slice(o);
                Ok(())
            };
            r.push(&x, &mut collect).unwrap();
            r.flush(&mut collect).unwrap();
            assert_eq!(out, whole);
        }
    }
}

#[test]
fn equal_rates_pass_samples_through_untouched() {
    let x = vec![0.1f32, -0.0, f32::MIN_POSITIVE, 0.99999994, -1.0, 1e-30];
    let y = resample(&x, 16000, 16000).unwrap();
    assert!(x.iter().zip(&y).all(|(a, b)| a.to_bits() == b.to_bits()));
    let r = Resampler::new(16000, 16000).unwrap();
    assert!(r.is_identity());
    assert_eq!(r.delay_frames(), 0);
}

#[test]
fn impossible_rates_are_errors_not_panics() {
    for &(from, to) in &[(0u32, 16000u32), (16000, 0), (999_983, 1_000_000)] {
        match Resampler::new(from, to) {
            Err(e @ AudioError::Resample { .. }) => println!("{e}"),
            other => panic!("{from} → {to}: expected a Resample error, got {other:?}"),
        }
    }
}

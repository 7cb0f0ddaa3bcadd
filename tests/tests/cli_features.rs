//! `soundproof features` end to end: batch and streaming give bit-identical files, shapes
//! follow librosa's frame count, bad input gets a clear error and a non-zero exit, and a
//! one-hour file streams in bounded memory.

use soundproof::npy;
use soundproof_tests::{fsdd, scratch, soundproof_bin};
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(soundproof_bin()).arg("features").args(args).output().expect("run soundproof")
}

fn ok(args: &[&str]) -> String {
    let o = run(args);
    assert!(o.status.success(), "soundproof {args:?} failed:\n{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails_with(args: &[&str], needles: &[&str]) {
    let o = run(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "soundproof {args:?} should fail; stderr: {err}");
    assert!(err.starts_with("error: "), "stderr should start with 'error: ': {err}");
    for n in needles {
        assert!(err.contains(n), "error message should mention {n:?}: {err}");
    }
    assert!(!err.contains("panicked"), "must not panic: {err}");
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

#[test]
fn streaming_is_bit_identical_to_batch() {
    let dir = scratch("cli-stream-batch");
    for name in ["0_jackson_0.wav", "4_george_2.wav", "8_nicolas_4.wav"] {
        let wav = fsdd().join(name);
        for kind in ["stft", "logmel", "mfcc", "scalogram", "dwt-bands"] {
            for fft in ["microfft", "realfft"] {
                let a = dir.join(format!("{name}-{kind}-{fft}-batch.npy"));
                let b = dir.join(format!("{name}-{kind}-{fft}-stream.npy"));
                let common = [
                    p(&wav), "--kind", kind, "--sample-rate", "16000", "--win-length", "400", "--hop-length", "160",
                    "--fft", fft, "--gain", "clip:0.5",
                ];
                let mut args_a = common.to_vec();
                args_a.extend(["--out", p(&a)]);
                let mut args_b = common.to_vec();
                args_b.extend(["--out", p(&b), "--streaming"]);
                ok(&args_a);
                ok(&args_b);
                let (ba, bb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
                assert!(ba == bb, "{name} {kind} {fft}: streaming output differs from batch");
            }
        }
    }
}

/// `dwt`, the name 000/001 give the scalogram, is still accepted on the command line and in cards.
#[test]
fn dwt_is_read_as_the_scalogram() {
    let dir = scratch("cli-dwt-alias");
    let wav = fsdd().join("0_jackson_0.wav");
    let (a, b) = (dir.join("scalogram.npy"), dir.join("dwt.npy"));
    ok(&[p(&wav), "--kind", "scalogram", "--out", p(&a)]);
    ok(&[p(&wav), "--kind", "dwt", "--out", p(&b)]);
    assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap(), "--kind dwt differs from --kind scalogram");
    let kind: soundproof::dsp::FeatureKind = serde_json::from_str("\"dwt\"").expect("a card's \"dwt\"");
    assert_eq!(kind, soundproof::dsp::FeatureKind::Scalogram);
    assert_eq!(serde_json::to_string(&kind).unwrap(), "\"scalogram\"");
}

#[test]
fn shapes_follow_librosa_frame_count() {
    let dir = scratch("cli-shapes");
    let wav = fsdd().join("2_theo_0.wav");
    let len = hound::WavReader::open(&wav).unwrap().duration() as usize;
    let out = dir.join("f.npy");
    // Native 8 kHz, centred: 1 + len / hop frames.
    let j = ok(&[p(&wav), "--kind", "mfcc", "--n-fft", "256", "--hop-length", "80", "--n-mels", "40", "--n-mfcc", "13", "--out", p(&out), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).expect("json summary");
    let a = npy::read(&out).unwrap();
    assert_eq!(a.shape, vec![1 + len / 80, 13]);
    assert_eq!(v["shape"], serde_json::json!([1 + len / 80, 13]));
    assert_eq!(v["config"]["mfcc"]["n_mfcc"], 13);
    // Uncentred: 1 + (len - n_fft) / hop.
    ok(&[p(&wav), "--kind", "stft", "--n-fft", "512", "--hop-length", "128", "--no-center", "--out", p(&out)]);
    assert_eq!(npy::read(&out).unwrap().shape, vec![1 + (len - 512) / 128, 257]);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = scratch("cli-bad");
    let out = dir.join("o.npy");
    let good = fsdd().join("1_yweweler_3.wav");
    fails_with(&[p(&dir.join("missing.wav")), "--out", p(&out)], &["missing.wav", "cannot open"]);
    let empty = dir.join("empty.wav");
    std::fs::write(&empty, b"").unwrap();
    fails_with(&[p(&empty), "--out", p(&out)], &["empty.wav", "empty"]);
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.join("cut-header.wav");
    std::fs::write(&cut, &bytes[..30]).unwrap();
    fails_with(&[p(&cut), "--out", p(&out)], &["cut-header.wav", "truncated"]);
    let short = dir.join("cut-data.wav");
    std::fs::write(&short, &bytes[..bytes.len() / 2]).unwrap();
    fails_with(&[p(&short), "--out", p(&out)], &["cut-data.wav", "truncated"]);
    let text = dir.join("notes.wav");
    std::fs::write(&text, b"this is not audio at all, just text").unwrap();
    fails_with(&[p(&text), "--out", p(&out)], &["notes.wav", "not a WAV"]);
    // Float WAV with a NaN.
    let nan = dir.join("nan.wav");
    let spec = hound::WavSpec { channels: 1, sample_rate: 16000, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut w = hound::WavWriter::create(&nan, spec).unwrap();
    for i in 0..4000 {
        w.write_sample(if i == 1234 { f32::NAN } else { 0.1 }).unwrap();
    }
    w.finalize().unwrap();
    fails_with(&[p(&nan), "--out", p(&out)], &["nan.wav", "1234", "NaN"]);
    fails_with(&[p(&nan), "--out", p(&out), "--streaming"], &["nan.wav", "NaN"]);
    // Parameters the front end refuses.
    fails_with(&[p(&good), "--out", p(&out), "--fft", "microfft", "--n-fft", "1000"], &["n_fft", "1000"]);
    fails_with(&[p(&good), "--out", p(&out), "--n-mels", "300"], &["n_mels"]);
    fails_with(&[p(&good), "--out", p(&out), "--fmax", "9000"], &["fmax"]);
    fails_with(&[p(&good), "--out", p(&out), "--gain", "loud:3"], &["gain"]);
    fails_with(&[p(&good), "--out", p(&out), "--gain", "rms:0.1", "--streaming"], &["whole clip"]);
    // A failed run leaves no output behind.
    assert!(!out.exists(), "no partial output file on error");
}

#[test]
fn one_hour_file_streams_in_bounded_memory() {
    let dir = scratch("cli-hour");
    let wav = dir.join("hour.wav");
    let spec = hound::WavSpec { channels: 1, sample_rate: 8000, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(&wav, spec).unwrap();
    let n = 3600 * 8000usize;
    for i in 0..n {
        let v = ((i as f32 * 0.07).sin() * 8000.0 + ((i * 2654435761) % 997) as f32) as i16;
        w.write_sample(v).unwrap();
    }
    w.finalize().unwrap();
    let file_mib = std::fs::metadata(&wav).unwrap().len() as f64 / (1 << 20) as f64;
    let out = dir.join("hour.npy");
    let j = ok(&[p(&wav), "--sample-rate", "16000", "--win-length", "400", "--hop-length", "160", "--streaming", "--out", p(&out), "--json"]);
    let v: serde_json::Value = serde_json::from_str(&j).unwrap();
    let frames = v["shape"][0].as_u64().unwrap();
    assert_eq!(frames, 1 + 3600 * 16000 / 160, "one frame per 10 ms hop");
    let rss = v["peak_rss_mib"].as_f64().expect("peak RSS reported on Linux");
    let out_mib = std::fs::metadata(&out).unwrap().len() as f64 / (1 << 20) as f64;
    println!("1 h file: {file_mib:.0} MiB in, {out_mib:.0} MiB out, peak RSS {rss:.1} MiB");
    assert!(rss < 48.0, "peak RSS {rss:.1} MiB: streaming must not hold the {file_mib:.0} MiB file or the {out_mib:.0} MiB output");
    let _ = std::fs::remove_file(&wav);
    let _ = std::fs::remove_file(&out);
}

//! WAV input: every kind of bad file gives its own error naming the file; every supported
//! encoding reads back the values written; `read_mono` agrees bit for bit with soundfile.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use soundproof::audio::{read_mono, write_wav, AudioError, SampleFormat, Source, WavFormat, WavReader, WavSource};
use soundproof_tests::{fsdd, run_reference, scratch};

// ---------------------------------------------------------------------------------------------
// Raw WAV bytes, written by hand so the tests can produce exactly the broken headers they need.

const PCM: u16 = 1;
const FLOAT: u16 = 3;
const ALAW: u16 = 6;
const MULAW: u16 = 7;
const ADPCM: u16 = 2;
const EXTENSIBLE: u16 = 0xFFFE;
const GUID_TAIL: [u8; 14] = [0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71];

/// A fmt chunk (header included). `cb_size` adds the WAVEFORMATEX size field.
fn fmt_chunk(tag: u16, channels: u16, rate: u32, block_align: u16, bits: u16, cb_size: Option<u16>) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&tag.to_le_bytes());
    body.extend_from_slice(&channels.to_le_bytes());
    body.extend_from_slice(&rate.to_le_bytes());
    body.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    body.extend_from_slice(&block_align.to_le_bytes());
    body.extend_from_slice(&bits.to_le_bytes());
    if let Some(cb) = cb_size {
        body.extend_from_slice(&cb.to_le_bytes());
    }
    chunk(b"fmt ", &body)
}

/// A WAVE_FORMAT_EXTENSIBLE fmt chunk with `valid_bits` in `container_bits` containers.
fn fmt_extensible(sub_tag: u16, channels: u16, rate: u32, container_bits: u16, valid_bits: u16) -> Vec<u8> {
    let block_align = channels * container_bits / 8;
    let mut c = fmt_chunk(EXTENSIBLE, channels, rate, block_align, container_bits, Some(22));
    let mut ext = Vec::new();
    ext.extend_from_slice(&valid_bits.to_le_bytes());
    ext.extend_from_slice(&0u32.to_le_bytes());
    ext.extend_from_slice(&sub_tag.to_le_bytes());
    ext.extend_from_slice(&GUID_TAIL);
    c.extend_from_slice(&ext);
    let len = (c.len() - 8) as u32;
    c[4..8].copy_from_slice(&len.to_le_bytes());
    c
}

fn chunk(id: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut c = id.to_vec();
    c.extend_from_slice(&(body.len() as u32).to_le_bytes());
    c.extend_from_slice(body);
    c
}

/// RIFF/WAVE around `chunks`; the data chunk header claims `data_len` bytes whatever follows.
fn riff(fmt: &[u8], data_len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = b"WAVE".to_vec();
    body.extend_from_slice(fmt);
    body.extend_from_slice(b"data");
    body.extend_from_slice(&data_len.to_le_bytes());
    body.extend_from_slice(data);
    let mut f = b"RIFF".to_vec();
    f.extend_from_slice(&(body.len() as u32).to_le_bytes());
    f.extend_from_slice(&body);
    f
}

fn pcm16_mono(frames: usize) -> Vec<u8> {
    let data: Vec<u8> = (0..frames).flat_map(|i| ((i as i16).wrapping_mul(37)).to_le_bytes()).collect();
    riff(&fmt_chunk(PCM, 1, 8000, 2, 16, None), data.len() as u32, &data)
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Opens `path`, expecting an error; checks the message names the file and prints it.
fn open_err(path: &Path) -> AudioError {
    let e = match WavReader::open(path) {
        Ok(r) => panic!("{} opened: {:?}", path.display(), r.info()),
        Err(e) => e,
    };
    let name = path.file_name().unwrap().to_string_lossy().to_string();
    let msg = e.to_string();
    assert!(msg.contains(&name), "message does not name {name}: {msg}");
    println!("{msg}");
    e
}

// ---------------------------------------------------------------------------------------------
// Bad input.

#[test]
fn missing_file_and_folder_are_open_errors() {
    let dir = scratch("audio_missing");
    assert!(matches!(open_err(&dir.join("no_such_file.wav")), AudioError::Open { .. }));
    let folder = dir.join("a_folder.wav");
    std::fs::create_dir_all(&folder).unwrap();
    assert!(matches!(open_err(&folder), AudioError::Open { .. }));
    assert!(matches!(read_mono(dir.join("no_such_file.wav")), Err(AudioError::Open { .. })));
}

#[test]
fn empty_file() {
    let dir = scratch("audio_empty");
    assert!(matches!(open_err(&write(&dir, "empty.wav", b"")), AudioError::EmptyFile { .. }));
}

#[test]
fn not_a_wav() {
    let dir = scratch("audio_not_wav");
    for (name, bytes) in [
        ("text.wav", b"this is a text file, not audio at all".to_vec()),
        ("avi.wav", b"RIFF\x10\x00\x00\x00AVI LIST\x00\x00\x00\x00".to_vec()),
        ("two_bytes.wav", b"ab".to_vec()),
        ("id3.wav", b"ID3\x04\x00\x00\x00\x00\x00\x00 mp3 data".to_vec()),
    ] {
        assert!(matches!(open_err(&write(&dir, name, &bytes)), AudioError::NotWav { .. }), "{name}");
    }
}

#[test]
fn corrupt_headers() {
    let dir = scratch("audio_corrupt");
    let data = [0u8; 64];
    // Byte rate disagrees with block align × rate.
    let mut fmt = fmt_chunk(PCM, 1, 8000, 2, 16, None);
    fmt[16..20].copy_from_slice(&12345u32.to_le_bytes());
    let cases = [
        ("byte_rate.wav", riff(&fmt, 64, &data)),
        ("zero_channels.wav", riff(&fmt_chunk(PCM, 0, 8000, 2, 16, None), 64, &data)),
        ("bits_exceed_container.wav", riff(&fmt_chunk(PCM, 1, 8000, 1, 16, None), 64, &data)),
        ("no_fmt_chunk.wav", riff(&[], 64, &data)),
        ("odd_data_len.wav", riff(&fmt_chunk(PCM, 1, 8000, 2, 16, None), 63, &data[..63])),
        ("tiny_fmt.wav", riff(&chunk(b"fmt ", &[1, 0, 1, 0]), 64, &data)),
        ("zero_rate.wav", riff(&fmt_chunk(PCM, 1, 0, 2, 16, None), 64, &data)),
    ];
    for (name, bytes) in cases {
        let e = open_err(&write(&dir, name, &bytes));
        assert!(matches!(e, AudioError::CorruptHeader { .. }), "{name}: {e:?}");
    }
}

#[test]
fn truncated_header() {
    let dir = scratch("audio_trunc_header");
    let full = pcm16_mono(100);
    // Inside "RIFF", inside the fmt chunk, inside the data chunk header.
    for cut in [2usize, 11, 30, 40] {
        let e = open_err(&write(&dir, &format!("cut_at_{cut}.wav"), &full[..cut]));
        match e {
            AudioError::TruncatedHeader { bytes, .. } => assert_eq!(bytes, cut as u64),
            other => panic!("cut at {cut}: {other:?}"),
        }
    }
    // An unknown chunk whose length runs past the end of the file.
    let mut bytes = b"RIFF\x00\x10\x00\x00WAVE".to_vec();
    bytes.extend_from_slice(&chunk(b"LIST", &[0u8; 8])[..8]);
    bytes[16..20].copy_from_slice(&1000u32.to_le_bytes());
    bytes.extend_from_slice(&[0u8; 20]);
    assert!(matches!(open_err(&write(&dir, "list_runs_off.wav", &bytes)), AudioError::TruncatedHeader { .. }));
}

#[test]
fn truncated_data_says_how_many_frames_are_missing() {
    let dir = scratch("audio_trunc_data");
    let full = pcm16_mono(1000);
    let header = full.len() - 2000;
    let p = write(&dir, "cut_data.wav", &full[..header + 1001]);
    match open_err(&p) {
        AudioError::TruncatedData { expected, found, .. } => assert_eq!((expected, found), (1000, 500)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(read_mono(&p), Err(AudioError::TruncatedData { .. })));
    // The same through a Cursor: the name given stands for the path.
    match WavReader::from_reader(Cursor::new(full[..header + 10].to_vec()), "in-memory.wav") {
        Err(e @ AudioError::TruncatedData { expected: 1000, found: 5, .. }) => assert!(e.to_string().contains("in-memory.wav")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unsupported_encodings_are_named() {
    let dir = scratch("audio_unsupported");
    let data = [0u8; 64];
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("alaw.wav", riff(&fmt_chunk(ALAW, 1, 8000, 1, 8, Some(0)), 64, &data), "A-law"),
        ("mulaw.wav", riff(&fmt_chunk(MULAW, 1, 8000, 1, 8, Some(0)), 64, &data), "µ-law"),
        ("adpcm.wav", riff(&fmt_chunk(ADPCM, 1, 8000, 256, 4, Some(0)), 64, &data), "ADPCM"),
        ("mp3.wav", riff(&fmt_chunk(0x55, 1, 8000, 1, 0, Some(0)), 64, &data), "MP3"),
        ("float64.wav", riff(&fmt_chunk(FLOAT, 1, 8000, 8, 64, Some(0)), 64, &data), "64 bits"),
        ("float64_ext.wav", riff(&fmt_extensible(FLOAT, 1, 8000, 64, 64), 64, &data), "64 bits"),
        ("pcm12.wav", riff(&fmt_chunk(PCM, 1, 8000, 2, 12, None), 64, &data), "12 bits"),
        ("pcm12_in_16.wav", riff(&fmt_extensible(PCM, 1, 8000, 16, 12), 64, &data), "12 valid bits"),
        ("pcm24_in_32.wav", riff(&fmt_extensible(PCM, 1, 8000, 32, 24), 64, &data), "24 valid bits in 32-bit"),
        ("pcm20_in_24.wav", riff(&fmt_extensible(PCM, 2, 8000, 24, 20), 60, &data[..60]), "20 valid bits"),
        ("alaw_ext.wav", riff(&fmt_extensible(ALAW, 1, 8000, 8, 8), 64, &data), "A-law"),
    ];
    for (name, bytes, what) in cases {
        let e = open_err(&write(&dir, name, &bytes));
        match &e {
            AudioError::UnsupportedEncoding { encoding, .. } => {
                assert!(encoding.contains(what), "{name}: {encoding:?} does not say {what:?}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn zero_length_data_chunk() {
    let dir = scratch("audio_zero_len");
    let p = write(&dir, "zero_len.wav", &riff(&fmt_chunk(PCM, 1, 8000, 2, 16, None), 0, &[]));
    assert!(matches!(open_err(&p), AudioError::ZeroLength { .. }));
    assert!(matches!(read_mono(&p), Err(AudioError::ZeroLength { .. })));
}

fn write_float(path: &Path, channels: u16, samples: &[f32]) {
    let spec = hound::WavSpec { channels, sample_rate: 16000, bits_per_sample: 32, sample_format: hound::SampleFormat::Float };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        w.write_sample(s).unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn nan_and_inf_samples_are_reported_with_their_position() {
    let dir = scratch("audio_nonfinite");
    let mut mono = vec![0.25f32; 5000];
    mono[4321] = f32::NAN;
    let p = dir.join("nan.wav");
    write_float(&p, 1, &mono);
    // The header is fine; the error comes when the bad sample is read, whatever the chunking.
    let mut r = WavReader::open(&p).unwrap();
    let mut buf = vec![0.0f32; 1000];
    let mut good = 0;
    let e = loop {
        match r.read(&mut buf) {
            Ok(0) => panic!("NaN not reported"),
            Ok(n) => good += n,
            Err(e) => break e,
        }
    };
    assert_eq!(good, 4000);
    match &e {
        AudioError::NonFinite { frame, channel, value, .. } => {
            assert_eq!((*frame, *channel), (4321, 0));
            assert!(value.is_nan());
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("nan.wav") && e.to_string().contains("4321"), "{e}");

    let mut stereo = vec![0.5f32; 2 * 3000];
    stereo[2 * 1234 + 1] = f32::NEG_INFINITY;
    let p = dir.join("inf_stereo.wav");
    write_float(&p, 2, &stereo);
    match read_mono(&p) {
        Err(e @ AudioError::NonFinite { frame: 1234, channel: 1, .. }) => {
            assert!(e.to_string().contains("inf_stereo.wav"), "{e}");
            println!("{e}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_required_sample_rate_is_checked() {
    let dir = scratch("audio_rate");
    let p = write(&dir, "eight_k.wav", &pcm16_mono(100));
    match WavSource::open_exact(&p, 16000) {
        Err(e @ AudioError::WrongSampleRate { found: 8000, expected: 16000, .. }) => {
            assert!(e.to_string().contains("eight_k.wav"), "{e}");
            println!("{e}");
        }
        other => panic!("{other:?}"),
    }
    assert!(WavSource::open_exact(&p, 8000).is_ok());
    assert_eq!(WavSource::open_resampled(&p, 16000).unwrap().sample_rate(), 16000);
}

#[test]
fn writing_refuses_nan_and_bad_paths() {
    let dir = scratch("audio_write_bad");
    assert!(matches!(
        write_wav(dir.join("x.wav"), &[0.0, f32::NAN], 8000, WavFormat::Pcm16),
        Err(AudioError::NonFinite { frame: 1, .. })
    ));
    assert!(matches!(
        write_wav(dir.join("no_folder").join("x.wav"), &[0.0], 8000, WavFormat::Float32),
        Err(AudioError::Write { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Good input of every supported encoding.

/// Writes interleaved integer samples with hound at `bits` bits.
fn write_int(path: &Path, channels: u16, bits: u16, samples: &[i32]) {
    let spec = hound::WavSpec { channels, sample_rate: 22050, bits_per_sample: bits, sample_format: hound::SampleFormat::Int };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for &s in samples {
        if bits == 8 {
            w.write_sample(s as i8).unwrap();
        } else {
            w.write_sample(s).unwrap();
        }
    }
    w.finalize().unwrap();
}

/// The mono values we expect: each sample / 2^(bits-1), channels averaged in f32.
fn expected_mono(channels: usize, scale: f32, samples: &[f32]) -> Vec<f32> {
    samples
        .chunks(channels)
        .map(|f| {
            let sum = f.iter().skip(1).fold(f[0] * scale, |a, &v| a + v * scale);
            if channels == 1 {
                sum
            } else {
                sum / channels as f32
            }
        })
        .collect()
}

/// Deterministic test values covering the extremes of `bits`-bit integers.
fn int_values(bits: u32, n: usize) -> Vec<i32> {
    let max = ((1i64 << (bits - 1)) - 1) as i32;
    let min = (-(1i64 << (bits - 1))) as i32;
    let mut v = vec![min, max, 0, -1, 1, min + 1, max - 1];
    let mut state = 987654321u64;
    while v.len() < n {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let span = (i64::from(max) - i64::from(min) + 1) as u64;
        v.push((i64::from(min) + ((state >> 11) % span) as i64) as i32);
    }
    v
}

fn bits_equal(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
}

/// The files of `every_supported_encoding_reads_back_what_was_written`, also compared with
/// soundfile in `read_mono_matches_soundfile_bit_for_bit`.
fn encoding_files(dir: &Path) -> Vec<(PathBuf, Vec<f32>, u16, u16, SampleFormat)> {
    let mut files = Vec::new();
    for &(bits, channels) in &[(8u16, 1u16), (8, 2), (16, 1), (16, 2), (24, 1), (24, 3), (32, 1), (32, 6)] {
        let n = 1000 * usize::from(channels) + 17 * usize::from(channels);
        let ints = int_values(u32::from(bits), n);
        let p = dir.join(format!("int{bits}_{channels}ch.wav"));
        write_int(&p, channels, bits, &ints);
        let scale = 1.0 / (1u64 << (bits - 1)) as f32;
        let as_f32: Vec<f32> = ints.iter().map(|&v| v as f32).collect();
        files.push((p, expected_mono(usize::from(channels), scale, &as_f32), channels, bits, SampleFormat::Int));
    }
    for &channels in &[1u16, 2] {
        let mut v = vec![-0.0f32, 0.0, 1.0, -1.0, 1.5, -3.25, f32::MIN_POSITIVE, 1e-40, 0.99999994, f32::MAX / 4.0];
        let mut state = 42u64;
        while v.len() < 2001 * usize::from(channels) {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            v.push(((state >> 40) as f32 / (1u64 << 23) as f32) - 1.0);
        }
        let p = dir.join(format!("float32_{channels}ch.wav"));
        write_float(&p, channels, &v);
        files.push((p, expected_mono(usize::from(channels), 1.0, &v), channels, 32, SampleFormat::Float));
    }
    files
}

#[test]
fn every_supported_encoding_reads_back_what_was_written() {
    let dir = scratch("audio_encodings");
    for (p, want, channels, bits, format) in encoding_files(&dir) {
        let mut r = WavReader::open(&p).unwrap();
        let info = r.info();
        assert_eq!((info.channels, info.bits_per_sample, info.format, info.frames), (channels, bits, format, want.len() as u64));
        // Odd read sizes, so frames straddle the reads.
        let mut got = Vec::new();
        let mut buf = vec![0.0f32; 333];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        if let Some(i) = (0..got.len()).find(|&i| got[i].to_bits() != want[i].to_bits()) {
            panic!("{}: frame {i}: read {} expected {}", p.display(), got[i], want[i]);
        }
        assert_eq!(got.len(), want.len());
        let clip = read_mono(&p).unwrap();
        assert!(bits_equal(&clip.samples, &want), "{}", p.display());
        assert_eq!(clip.sample_rate, info.sample_rate);
        // Integer samples land in [-1, 1), except that f32 rounds 32-bit values within 64 of
        // full scale up to 1.0 (soundfile does the same).
        if format == SampleFormat::Int {
            let top = if bits == 32 { 1.0 } else { 1.0 - f32::EPSILON / 2.0 };
            assert!(got.iter().all(|&x| (-1.0..=top).contains(&x)), "{}", p.display());
        }
    }
}

#[test]
fn write_wav_round_trips() {
    let dir = scratch("audio_write");
    let pcm: Vec<f32> = (0..2000).map(|i| ((i * 97 % 65536) - 32768) as f32 / 32768.0).collect();
    let p = dir.join("pcm16.wav");
    write_wav(&p, &pcm, 8000, WavFormat::Pcm16).unwrap();
    let clip = read_mono(&p).unwrap();
    assert_eq!(clip.sample_rate, 8000);
    assert!(bits_equal(&clip.samples, &pcm));
    // Out of range values clip to the 16-bit range.
    write_wav(&p, &[1.5, -2.0, 0.5], 8000, WavFormat::Pcm16).unwrap();
    assert_eq!(read_mono(&p).unwrap().samples, vec![32767.0 / 32768.0, -1.0, 0.5]);

    let float: Vec<f32> = (0..2000).map(|i| (i as f32 * 0.01).sin() * 1.7).collect();
    let p = dir.join("float32.wav");
    write_wav(&p, &float, 44100, WavFormat::Float32).unwrap();
    let clip = read_mono(&p).unwrap();
    assert_eq!(clip.sample_rate, 44100);
    assert!(bits_equal(&clip.samples, &float));
}

#[test]
fn from_reader_reads_bytes_in_memory() {
    let bytes = pcm16_mono(300);
    let mut r = WavReader::from_reader(Cursor::new(bytes), "memory").unwrap();
    let mut out = vec![0.0f32; 400];
    assert_eq!(r.read(&mut out).unwrap(), 300);
    assert_eq!(r.read(&mut out).unwrap(), 0);
    for (i, &v) in out[..300].iter().enumerate() {
        assert_eq!(v, f32::from((i as i16).wrapping_mul(37)) / 32768.0);
    }
}

// ---------------------------------------------------------------------------------------------
// Parity with soundfile (librosa's decoder).

#[test]
fn read_mono_matches_soundfile_bit_for_bit() {
    let dir = scratch("audio_soundfile");
    let mut paths: Vec<PathBuf> =
        ["0_george_0.wav", "3_jackson_17.wav", "9_theo_49.wav"].iter().map(|n| fsdd().join(n)).collect();
    paths.extend(encoding_files(&dir).into_iter().map(|f| f.0));
    let out = dir.join("ref");
    std::fs::create_dir_all(&out).unwrap();
    let mut args: Vec<String> = vec![out.display().to_string()];
    args.extend(paths.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let listing = run_reference("wav_ref.py", &args);
    for (i, line) in listing.lines().enumerate() {
        let fields: Vec<u64> = line.split_whitespace().map(|t| t.parse().unwrap()).collect();
        assert_eq!(fields[0], i as u64);
        let clip = read_mono(&paths[i]).unwrap();
        assert_eq!(u64::from(clip.sample_rate), fields[1], "{}", paths[i].display());
        let reference = soundproof::npy::read(&out.join(format!("{i}.npy"))).unwrap();
        assert_eq!(reference.data.len() as u64, fields[2]);
        let reference: Vec<f32> = reference.data.iter().map(|&v| v as f32).collect();
        assert!(bits_equal(&clip.samples, &reference), "{} differs from soundfile", paths[i].display());
        println!("{}: {} samples at {} Hz, bit-exact", paths[i].display(), clip.samples.len(), clip.sample_rate);
    }
    assert_eq!(listing.lines().count(), paths.len());
}

#[test]
fn averaging_huge_float_channels_does_not_overflow() {
    // f32 sums of these overflow to inf; the mean of finite samples is finite and must say so.
    let dir = scratch("audio_float_overflow");
    let p = dir.join("huge.wav");
    write_float(&p, 2, &[f32::MAX, f32::MAX, -f32::MAX, -f32::MAX, f32::MAX, -f32::MAX, 0.5, 0.25]);
    assert_eq!(read_mono(&p).unwrap().samples, vec![f32::MAX, -f32::MAX, 0.0, 0.375]);
}

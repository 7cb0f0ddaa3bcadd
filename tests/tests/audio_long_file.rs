//! A one-hour WAV (8 kHz, 16-bit, ≈ 58 MB) streams through `WavReader::read` in bounded
//! memory and yields every frame, with the right values.
//!
//! Alone in its own test binary so no other test's allocations blur the memory figures.

use soundproof::audio::WavReader;
use soundproof_tests::scratch;

const RATE: u32 = 8000;
const FRAMES: u64 = 3600 * RATE as u64;

/// The sample written at frame `i`: a cheap pattern that covers the whole 16-bit range.
fn value(i: u64) -> i16 {
    (i.wrapping_mul(2654435761) >> 16) as u16 as i16
}

/// (VmRSS, VmHWM) of this process in KiB.
fn memory_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("{name} missing"));
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).unwrap_or_else(|| panic!("bad {line}"))
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[test]
fn one_hour_file_streams_in_bounded_memory() {
    let dir = scratch("audio_long_file");
    let path = dir.join("one_hour.wav");
    {
        let spec = hound::WavSpec { channels: 1, sample_rate: RATE, bits_per_sample: 16, sample_format: hound::SampleFormat::Int };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        // Sample by sample through hound's BufWriter (its i16 writer would buffer everything).
        for i in 0..FRAMES {
            w.write_sample(value(i)).unwrap();
        }
        w.finalize().unwrap();
    }
    let file_bytes = std::fs::metadata(&path).unwrap().len();

    let (rss_before, hwm_before) = memory_kib();
    let mut reader = WavReader::open(&path).unwrap();
    assert_eq!(reader.info().frames, FRAMES);
    let mut buf = vec![0.0f32; 4096];
    let mut frames = 0u64;
    let mut rss_max = rss_before;
    let mut reads = 0u64;
    loop {
        let n = reader.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        for (k, &x) in buf[..n].iter().enumerate() {
            let i = frames + k as u64;
            assert_eq!(x, f32::from(value(i)) / 32768.0, "frame {i}");
        }
        frames += n as u64;
        reads += 1;
        if reads.is_multiple_of(256) {
            rss_max = rss_max.max(memory_kib().0);
        }
    }
    let (rss_after, hwm_after) = memory_kib();
    rss_max = rss_max.max(rss_after);
    drop(reader);
    std::fs::remove_file(&path).unwrap();

    let growth = rss_max.saturating_sub(rss_before) * 1024;
    println!(
        "file {:.1} MB, {frames} frames; VmRSS {rss_before} KiB before, max {rss_max} KiB while reading (growth {:.2} MB); \
         VmHWM {hwm_before} → {hwm_after} KiB",
        file_bytes as f64 / 1e6,
        growth as f64 / 1e6
    );
    assert_eq!(frames, FRAMES);
    // Bounded: the reader holds a 64 KiB read buffer; allow 4 MB for allocator noise, against a
    // 58 MB file.
    assert!(growth < 4 << 20, "RSS grew by {growth} bytes while reading a {file_bytes}-byte file");
    assert!((hwm_after - hwm_before) * 1024 < 4 << 20, "peak RSS grew by {} KiB", hwm_after - hwm_before);
}

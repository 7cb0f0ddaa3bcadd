//! Arbitrary bytes through the WAV path: `WavReader::from_reader` on a `Cursor`, then every
//! frame through `read`. Checks more than "no panic": once a file opens, its header agrees
//! with its length, so reading must yield exactly `info().frames` finite samples (integer
//! ones within [-1, 1]) or stop at a NaN/Inf in a float file, and nothing else.
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use soundproof::audio::{AudioError, SampleFormat, WavReader};

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) = WavReader::from_reader(Cursor::new(data), "fuzz.wav") else {
        return;
    };
    let info = reader.info();
    assert!(info.channels > 0 && info.sample_rate > 0 && info.frames > 0);
    // Validated against the length: a header cannot make us allocate or read beyond the input.
    assert!(info.frames * u64::from(info.channels) <= data.len() as u64);
    let mut buf = [0.0f32; 251];
    let mut total = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) => {
                assert_eq!(total, info.frames);
                break;
            }
            Ok(n) => {
                assert!(n <= buf.len());
                for &x in &buf[..n] {
                    assert!(x.is_finite());
                    if info.format == SampleFormat::Int {
                        assert!((-1.0..=1.0).contains(&x));
                    }
                }
                total += n as u64;
            }
            Err(AudioError::NonFinite { .. }) if info.format == SampleFormat::Float => break,
            Err(e) => panic!("error after a successful open: {e}"),
        }
    }
});

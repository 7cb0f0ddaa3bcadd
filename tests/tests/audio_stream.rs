//! The streaming path (producer thread → ringbuf → consumer), the sources behind it, and the
//! seeded synthetic signals.

use std::time::Duration;

use soundproof::audio::stream::{self, Pacing, StreamConfig};
use soundproof::audio::{
    read_mono, resample, AudioError, ChirpKind, Component, Source, Synth, SynthSource, WavSource,
};
use soundproof::dsp::{DspError, FeatureConfig, FeatureKind, FrontEnd};
use soundproof_tests::fsdd;

fn collect_stream<S: Source + Send>(source: &mut S, config: &StreamConfig) -> (Vec<f32>, stream::StreamStats) {
    let mut got = Vec::new();
    let stats = stream::run(source, config, |chunk: &[f32]| -> Result<(), AudioError> {
        got.extend_from_slice(chunk);
        Ok(())
    })
    .unwrap();
    (got, stats)
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn unpaced_stream_delivers_every_sample_in_order() {
    for name in ["0_george_0.wav", "7_yweweler_33.wav"] {
        let path = fsdd().join(name);
        let whole = read_mono(&path).unwrap();
        // A ring of two chunks and a consumer that is sometimes slow: back-pressure, no loss.
        let config = StreamConfig::new(160, 2);
        let mut source = WavSource::open(&path).unwrap();
        let mut got = Vec::new();
        let mut calls = 0;
        let stats = stream::run(&mut source, &config, |chunk: &[f32]| -> Result<(), AudioError> {
            calls += 1;
            assert!(chunk.len() <= 160);
            if calls % 5 == 0 {
                std::thread::sleep(Duration::from_millis(1));
            }
            got.extend_from_slice(chunk);
            Ok(())
        })
        .unwrap();
        assert_eq!(bits(&got), bits(&whole.samples), "{name}");
        assert_eq!(stats.samples, whole.samples.len() as u64);
        assert_eq!(stats.chunks, whole.samples.len().div_ceil(160) as u64);
        assert_eq!((stats.overruns, stats.dropped_samples), (0, 0));
        println!("{name}: {stats:?}");
    }
}

#[test]
fn resampling_source_streams_the_same_as_resampling_the_clip() {
    let path = fsdd().join("3_jackson_17.wav");
    let clip = read_mono(&path).unwrap();
    let want = resample(&clip.samples, 8000, 16000).unwrap();
    let mut source = WavSource::open_resampled(&path, 16000).unwrap();
    assert_eq!(source.sample_rate(), 16000);
    assert_eq!(source.frames(), want.len() as u64);
    let (got, stats) = collect_stream(&mut source, &StreamConfig::new(160, 4));
    assert_eq!(bits(&got), bits(&want));
    assert_eq!(stats.samples, want.len() as u64);
}

/// The error type of a whole pipeline: audio and front-end errors both convert into it.
#[derive(Debug)]
#[allow(dead_code)] // the fields are read through Debug when a test fails
enum PipelineError {
    Audio(AudioError),
    Dsp(DspError),
}
impl From<AudioError> for PipelineError {
    fn from(e: AudioError) -> Self {
        PipelineError::Audio(e)
    }
}
impl From<DspError> for PipelineError {
    fn from(e: DspError) -> Self {
        PipelineError::Dsp(e)
    }
}

#[test]
fn streamed_features_equal_whole_clip_features() {
    // FSDD at 8 kHz → 16 kHz → log-mel (003's front end), streamed versus all at once.
    let path = fsdd().join("5_nicolas_2.wav");
    let config = FeatureConfig::new(FeatureKind::Logmel).with_sample_rate(16000);
    let mut fe = FrontEnd::<1024>::new(&config).unwrap();
    let mut streamed: Vec<f32> = Vec::new();
    let mut source = WavSource::open_resampled(&path, 16000).unwrap();
    let stream_config = StreamConfig::new(fe.hop_length(), 8);
    stream::run(&mut source, &stream_config, |chunk: &[f32]| -> Result<(), PipelineError> {
        fe.push(chunk, |f: &[f32]| -> Result<(), PipelineError> {
            streamed.extend_from_slice(f);
            Ok(())
        })
    })
    .unwrap();
    fe.finish(|f: &[f32]| -> Result<(), PipelineError> {
        streamed.extend_from_slice(f);
        Ok(())
    })
    .unwrap();

    let clip = resample(&read_mono(&path).unwrap().samples, 8000, 16000).unwrap();
    let mut fe2 = FrontEnd::<1024>::new(&config).unwrap();
    let mut whole: Vec<f32> = Vec::new();
    let mut sink = |f: &[f32]| -> Result<(), DspError> {
        whole.extend_from_slice(f);
        Ok(())
    };
    fe2.push(&clip, &mut sink).unwrap();
    fe2.finish(&mut sink).unwrap();
    assert_eq!(streamed.len(), fe2.frame_count(clip.len()) * fe2.n_features());
    assert_eq!(bits(&streamed), bits(&whole));
}

#[test]
fn paced_stream_with_a_slow_consumer_counts_overruns() {
    // 0.5 s at 16 kHz, 20× real time: a 160-sample chunk every 0.5 ms; the consumer needs 2 ms.
    let synth = Synth::new(16000, 7, &[Component::tone(440.0, 0.5, 0.0), Component::noise(0.01)]).unwrap();
    let mut source = SynthSource::with_duration(synth, 0.5).unwrap();
    let config = StreamConfig::new(160, 2).with_pacing(Pacing::RealTime { speed: 20.0 });
    let stats = stream::run(&mut source, &config, |chunk: &[f32]| -> Result<(), AudioError> {
        assert_eq!(chunk.len(), 160);
        std::thread::sleep(Duration::from_millis(2));
        Ok(())
    })
    .unwrap();
    println!("{stats:?}");
    assert!(stats.overruns > 0, "{stats:?}");
    assert_eq!(stats.dropped_samples, 160 * stats.overruns);
    assert_eq!(stats.samples + stats.dropped_samples, 8000);
    assert_eq!(stats.chunks + stats.overruns, 50);
}

#[test]
fn paced_stream_keeps_time_and_loses_nothing_with_a_fast_consumer() {
    // 0.2 s at real time, 10 ms chunks, a consumer that does nothing. The ring holds 32 chunks,
    // more than the 20 of the whole stream: a consumer descheduled for a while on a busy machine
    // cannot make it overrun, so any loss or reordering below is the stream's fault.
    let synth = Synth::new(16000, 1, &[Component::tone(1000.0, 0.5, 0.0)]).unwrap();
    let mut source = SynthSource::with_duration(synth, 0.2).unwrap();
    let config = StreamConfig::new(160, 32).with_pacing(Pacing::RealTime { speed: 1.0 });
    let (got, stats) = collect_stream(&mut source, &config);
    println!("{stats:?}");
    assert_eq!((stats.overruns, stats.samples), (0, 3200));
    assert!(stats.elapsed >= Duration::from_millis(195), "{:?}: pacing not applied", stats.elapsed);
    let mut again = Synth::new(16000, 1, &[Component::tone(1000.0, 0.5, 0.0)]).unwrap();
    assert_eq!(bits(&got), bits(&again.render(3200)));
}

/// A source that fails after `ok_reads` reads.
struct Failing {
    ok_reads: usize,
}
impl Source for Failing {
    fn sample_rate(&self) -> u32 {
        8000
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        if self.ok_reads == 0 {
            return Err(AudioError::TruncatedData { path: "failing.wav".into(), expected: 10, found: 3 });
        }
        self.ok_reads -= 1;
        buf.fill(0.1);
        Ok(buf.len())
    }
}

#[test]
fn a_source_error_stops_the_stream_and_is_returned() {
    for pacing in [Pacing::Unpaced, Pacing::RealTime { speed: 100.0 }] {
        let mut source = Failing { ok_reads: 5 };
        let config = StreamConfig::new(64, 2).with_pacing(pacing);
        let r = stream::run(&mut source, &config, |_c: &[f32]| -> Result<(), AudioError> { Ok(()) });
        assert!(matches!(r, Err(AudioError::TruncatedData { .. })), "{r:?}");
    }
}

#[test]
fn a_consumer_error_stops_the_producer_and_is_returned() {
    // Unpaced with a tiny ring: the producer is blocked on back-pressure when the consumer quits.
    let synth = Synth::new(8000, 3, &[Component::noise(0.1)]).unwrap();
    let mut source = SynthSource::with_duration(synth, 60.0).unwrap();
    let mut calls = 0;
    let r = stream::run(&mut source, &StreamConfig::new(100, 1), |_c: &[f32]| -> Result<(), AudioError> {
        calls += 1;
        if calls == 3 {
            Err(AudioError::InvalidParameter { name: "test", value: "stop".into(), expected: "the consumer to stop here" })
        } else {
            Ok(())
        }
    });
    assert!(matches!(r, Err(AudioError::InvalidParameter { name: "test", .. })), "{r:?}");
    assert_eq!(calls, 3);
}

#[test]
fn bad_stream_configs_are_errors() {
    let synth = Synth::new(8000, 0, &[]).unwrap();
    let mut source = SynthSource::new(synth, 100);
    for config in [
        StreamConfig::new(0, 4),
        StreamConfig { hop: 160, capacity: 100, pacing: Pacing::Unpaced },
        StreamConfig::new(160, 4).with_pacing(Pacing::RealTime { speed: 0.0 }),
        StreamConfig::new(160, 4).with_pacing(Pacing::RealTime { speed: f64::NAN }),
    ] {
        let r = stream::run(&mut source, &config, |_c: &[f32]| -> Result<(), AudioError> { Ok(()) });
        assert!(matches!(r, Err(AudioError::InvalidParameter { .. })), "{config:?}: {r:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// Synthetic signals.

#[test]
fn same_seed_same_samples_whatever_the_chunking() {
    let components = [
        Component::tone(440.0, 0.3, 0.5),
        Component::chirp(100.0, 3000.0, 1.0, 0.2, ChirpKind::Logarithmic),
        Component::noise(0.05),
        Component::noise(0.01),
    ];
    let mut a = Synth::new(16000, 1234, &components).unwrap();
    assert_eq!(a.seed(), 1234);
    let whole = a.render(16000);
    let mut b = Synth::new(16000, 1234, &components).unwrap();
    let mut chunked = Vec::new();
    for n in [1usize, 159, 1000, 7, 14833] {
        chunked.extend(b.render(n));
    }
    assert_eq!(bits(&whole), bits(&chunked));
    a.reset();
    assert_eq!(bits(&a.render(16000)), bits(&whole));
    let mut c = Synth::new(16000, 1235, &components).unwrap();
    assert_ne!(bits(&c.render(16000)), bits(&whole));
}

#[test]
fn tones_chirps_and_noise_have_the_requested_parameters() {
    let sr = 16000;
    let mut tone = Synth::new(sr, 0, &[Component::tone(1000.0, 0.5, 0.25)]).unwrap();
    for (n, &x) in tone.render(2000).iter().enumerate() {
        let want = 0.5 * (std::f64::consts::TAU * 1000.0 * n as f64 / 16000.0 + 0.25).sin();
        assert!((f64::from(x) - want).abs() < 1e-7);
    }

    // Noise: sample standard deviation within 1 % of σ over 10^5 draws (its standard error is
    // σ/√(2n) ≈ 0.22 %), mean near 0.
    let mut noise = Synth::new(sr, 99, &[Component::noise(0.2)]).unwrap();
    let v = noise.render(100_000);
    let mean = v.iter().map(|&x| f64::from(x)).sum::<f64>() / v.len() as f64;
    let sd = (v.iter().map(|&x| (f64::from(x) - mean).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    assert!(mean.abs() < 0.003 && (sd - 0.2).abs() < 0.002, "mean {mean} sd {sd}");

    // Chirps: the local zero-crossing rate follows the sweep law at the start, middle and end.
    for kind in [ChirpKind::Linear, ChirpKind::Logarithmic] {
        let (f0, f1, dur) = (200.0, 3200.0, 2.0);
        let mut chirp = Synth::new(sr, 0, &[Component::chirp(f0, f1, dur, 1.0, kind)]).unwrap();
        let x = chirp.render((dur * f64::from(sr)) as usize);
        for &t in &[0.1, 1.0, 1.9] {
            let want = match kind {
                ChirpKind::Linear => f0 + (f1 - f0) * t / dur,
                ChirpKind::Logarithmic => f0 * (f1 / f0).powf(t / dur),
            };
            let centre = (t * f64::from(sr)) as usize;
            let half = 400;
            let win = &x[centre - half..centre + half];
            let crossings = win.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
            let measured = crossings as f64 / 2.0 / (2.0 * half as f64 / f64::from(sr));
            assert!((measured - want).abs() / want < 0.05, "{kind:?} at {t} s: {measured} Hz, want {want} Hz");
        }
    }
}

#[test]
fn bad_synth_parameters_are_errors() {
    for c in [
        Component::tone(9000.0, 1.0, 0.0),
        Component::tone(f64::NAN, 1.0, 0.0),
        Component::tone(100.0, f64::INFINITY, 0.0),
        Component::chirp(0.0, 1000.0, 1.0, 1.0, ChirpKind::Logarithmic),
        Component::chirp(100.0, 1000.0, 0.0, 1.0, ChirpKind::Linear),
        Component::noise(-1.0),
    ] {
        assert!(matches!(Synth::new(16000, 0, &[c]), Err(AudioError::InvalidParameter { .. })), "{c:?}");
    }
    assert!(Synth::new(0, 0, &[]).is_err());
    let s = Synth::new(8000, 0, &[]).unwrap();
    assert!(SynthSource::with_duration(s, -1.0).is_err());
}

#[test]
fn synth_source_is_finite() {
    let s = Synth::new(8000, 5, &[Component::noise(1.0)]).unwrap();
    let mut src = SynthSource::with_duration(s, 0.1).unwrap();
    let mut buf = vec![0.0f32; 300];
    let mut total = 0;
    loop {
        let n = src.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
    }
    assert_eq!(total, 800);
    assert_eq!(src.synth().seed(), 5);
}

/// A device-like source: it paces itself (its own ring), hands out pieces of uneven size and
/// notes the thread that reads it.
struct Device {
    samples: Vec<f32>,
    pos: usize,
    piece: usize,
    reader: Option<std::thread::ThreadId>,
}
impl Source for Device {
    fn sample_rate(&self) -> u32 {
        16000
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        self.reader = Some(std::thread::current().id());
        self.piece = self.piece % 7 + 3;
        let n = buf.len().min(self.piece).min(self.samples.len() - self.pos);
        buf[..n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
    fn is_device(&self) -> bool {
        true
    }
}

#[test]
fn a_device_source_is_read_on_the_consumer_thread_in_whole_hops() {
    // One ring between a sound card and the front end: the device's own. The stream reads it
    // where it consumes, and still cuts exact hops from the device's uneven pieces.
    let samples: Vec<f32> = (0..1000).map(|i| i as f32).collect();
    let mut dev = Device { samples: samples.clone(), pos: 0, piece: 0, reader: None };
    let config = StreamConfig::new(160, 2).with_pacing(Pacing::RealTime { speed: 1.0 });
    let mut got = Vec::new();
    let mut sizes = Vec::new();
    let stats = stream::run(&mut dev, &config, |chunk: &[f32]| -> Result<(), AudioError> {
        sizes.push(chunk.len());
        got.extend_from_slice(chunk);
        Ok(())
    })
    .unwrap();
    assert_eq!(dev.reader, Some(std::thread::current().id()), "read on the consumer's thread");
    assert_eq!(got, samples);
    assert_eq!(sizes, vec![160, 160, 160, 160, 160, 160, 40]);
    assert_eq!((stats.samples, stats.chunks, stats.overruns), (1000, 7, 0));
}

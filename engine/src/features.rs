//! Feature extraction of a whole recording, offline or through the streaming ring: the job
//! behind `soundproof features`.
//!
//! Both modes run the same [`FrontEnd`]; they differ only in how samples reach it.
//! * [`Mode::Batch`]: the clip is read whole, resampled whole, and pushed at once. Gain
//!   policies that need the whole clip (rms, peak) are allowed here.
//! * [`Mode::Streaming`]: a producer thread reads (and resamples) the file chunk by chunk into
//!   the `ringbuf` SPSC ring of `audio::stream`; the consumer runs the front end on each
//!   hop-sized chunk. Memory stays bounded whatever the file's length, and the output is
//!   bit-identical to the batch mode (the resampler compensates its delay identically in both).

use crate::audio::{self, stream, AudioError, Pacing, StreamConfig, StreamStats, WavSource};
use crate::dsp::{DspError, FeatureConfig, FrontEnd, GainPolicy};
use std::path::Path;
use std::time::{Duration, Instant};

/// How samples reach the front end.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    Batch,
    Streaming { pacing: Pacing },
}

#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error("front end: {0}")]
    Dsp(#[from] DspError),
    #[error(transparent)]
    Npy(#[from] crate::npy::NpyError),
    #[error("{0}")]
    Config(String),
}

/// What an extraction did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExtractReport {
    pub frames: u64,
    pub n_features: usize,
    /// Rate of the file.
    pub input_sample_rate: u32,
    pub input_channels: u16,
    /// Seconds of audio at the front end's rate.
    pub duration_s: f64,
    /// Rate the features were computed at (resampled when it differs from the input's).
    pub sample_rate: u32,
    pub resampled: bool,
    /// Scale factor of a whole-clip gain policy (rms / peak), when one was applied.
    pub clip_gain: Option<f32>,
    pub mode: &'static str,
    pub chunks: Option<u64>,
    pub overruns: Option<u64>,
    pub dropped_samples: Option<u64>,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// Computes the features of the WAV file at `path` with `config`, handing each frame's
/// feature vector to `sink` in order.
pub fn extract_file<E>(
    path: &Path,
    config: &FeatureConfig,
    mode: Mode,
    mut sink: impl FnMut(&[f32]) -> Result<(), E>,
) -> Result<ExtractReport, E>
where
    E: From<FeatureError> + From<DspError> + From<AudioError>,
{
    let start = Instant::now();
    let sr = config.sample_rate();
    match mode {
        Mode::Batch => {
            let clip = audio::read_mono(path)?;
            let input_rate = clip.sample_rate;
            let (info_channels, mut samples) = (channels_of(path)?, audio::resample(&clip.samples, input_rate, sr)?);
            let mut cfg = *config;
            let mut clip_gain = None;
            if !config.gain.is_per_sample() {
                // rms / peak act on the whole clip; the front end then streams it unscaled.
                let g = config.gain.apply(&mut samples).map_err(|e| {
                    FeatureError::Config(format!("{}: gain policy {:?}: {e}", path.display(), config.gain))
                })?;
                clip_gain = Some(g);
                cfg.gain = GainPolicy::Fixed { gain: 1.0 };
            }
            let mut fe: Box<FrontEnd> = Box::new(FrontEnd::new(&cfg)?);
            fe.push(&samples, &mut sink)?;
            fe.finish(&mut sink)?;
            Ok(ExtractReport {
                frames: fe.frames_emitted(),
                n_features: fe.n_features(),
                input_sample_rate: input_rate,
                input_channels: info_channels,
                duration_s: samples.len() as f64 / sr as f64,
                sample_rate: sr,
                resampled: input_rate != sr,
                clip_gain,
                mode: "batch",
                chunks: None,
                overruns: None,
                dropped_samples: None,
                elapsed: start.elapsed(),
            })
        }
        Mode::Streaming { pacing } => {
            if !config.gain.is_per_sample() {
                return Err(FeatureError::Config(format!(
                    "gain policy {:?} needs the whole clip and cannot stream: use a fixed gain \
                     (003 Contract 1: a calibration constant) or clip, or drop --streaming",
                    config.gain
                ))
                .into());
            }
            let mut fe: Box<FrontEnd> = Box::new(FrontEnd::new(config)?);
            let mut source = WavSource::open_resampled(path, sr)?;
            let info = source.info();
            let hop = fe.hop_length();
            // 4 s of slack between a paced producer and the front end.
            let chunks = (4 * sr as usize / hop).max(8);
            let cfg = StreamConfig::new(hop, chunks).with_pacing(pacing);
            let stats: StreamStats = stream::run(&mut source, &cfg, |chunk| fe.push(chunk, &mut sink))?;
            fe.finish(&mut sink)?;
            Ok(ExtractReport {
                frames: fe.frames_emitted(),
                n_features: fe.n_features(),
                input_sample_rate: info.sample_rate,
                input_channels: info.channels,
                duration_s: stats.samples as f64 / sr as f64,
                sample_rate: sr,
                resampled: info.sample_rate != sr,
                clip_gain: None,
                mode: "streaming",
                chunks: Some(stats.chunks),
                overruns: Some(stats.overruns),
                dropped_samples: Some(stats.dropped_samples),
                elapsed: start.elapsed(),
            })
        }
    }
}

fn channels_of(path: &Path) -> Result<u16, AudioError> {
    Ok(audio::WavReader::open(path)?.info().channels)
}

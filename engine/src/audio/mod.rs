//! Audio in, as far as the ring buffer: WAV files, resampling, seeded synthetic signals and the
//! streaming plumbing that hands hop-sized chunks to the front end (feature `std`).
//!
//! This is the first stage of the pipeline in `DESIGN.md` (audio source → ring buffer → framer):
//!
//! * [`wav`] reads WAV files through `hound`, one chunk at a time, scaled to `[-1, 1)` exactly as
//!   `soundfile` / librosa scale them, downmixed to mono; [`wav::write_wav`] writes test files.
//! * [`resample`](mod@resample) converts between sample rates with `rubato` (FSDD is 8 kHz, models run at
//!   16 kHz), with the filter delay compensated so a whole clip and a stream agree sample for
//!   sample.
//! * [`synth`] makes seeded test signals (tones, chirps, Gaussian noise, their sums).
//! * [`source`] puts files and synthetic signals behind one [`Source`] trait.
//! * [`stream`] runs a producer thread that reads a [`Source`] into a `ringbuf` SPSC ring and a
//!   consumer that hands each chunk to the front end, optionally paced like a real device.
//! * [`mic`](mod@mic) (feature `mic`) captures a live input device through `cpal` as a [`Source`]
//!   at the model's rate, and lists the input devices.
//!
//! Every error is an [`AudioError`]: it names the file at fault (where there is one), the problem,
//! and what to do about it. Bad input never panics and never yields a wrong number.

use std::path::PathBuf;

#[cfg(feature = "mic")]
pub mod mic;
pub mod resample;
pub mod source;
pub mod stream;
pub mod synth;
pub mod wav;

#[cfg(feature = "mic")]
pub use mic::{list_input_devices, DeviceInfo, InputConfig, MicMonitor, MicOptions, MicSource, MicStats};
pub use resample::{resample, Resampler};
pub use source::{SynthSource, WavSource};
pub use stream::{Pacing, StreamConfig, StreamStats};
pub use synth::{ChirpKind, Component, Synth};
pub use wav::{read_mono, write_wav, SampleFormat, WavFormat, WavInfo, WavReader};

/// A mono clip held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Samples in `[-1, 1)` (integer WAVs) or as stored (float WAVs, finite).
    pub samples: Vec<f32>,
    /// Samples per second.
    pub sample_rate: u32,
}

impl Clip {
    /// Length in seconds.
    pub fn duration_s(&self) -> f64 {
        self.samples.len() as f64 / f64::from(self.sample_rate.max(1))
    }
}

/// A mono sample stream: a file, a synthetic signal, later a microphone.
///
/// `read` fills the front of `buf` and returns how many samples it wrote. It may return fewer
/// than `buf.len()` before the end (a resampler emits whole blocks); it returns 0 only when the
/// stream is over. Implementations allocate at construction, not in `read`, so a source can
/// feed the real-time side of [`stream`].
pub trait Source {
    /// Samples per second of what `read` returns.
    fn sample_rate(&self) -> u32;
    /// Reads up to `buf.len()` samples; `Ok(0)` at the end.
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError>;
    /// True for a live device that paces itself and already buffers its samples in its own
    /// real-time ring (`mic::MicSource`): [`stream::run`] then reads it on the consumer's thread
    /// instead of copying it through a second ring, and the device counts its own overruns.
    fn is_device(&self) -> bool {
        false
    }
}

impl<S: Source + ?Sized> Source for Box<S> {
    fn sample_rate(&self) -> u32 {
        (**self).sample_rate()
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        (**self).read(buf)
    }
    fn is_device(&self) -> bool {
        (**self).is_device()
    }
}

impl<S: Source + ?Sized> Source for &mut S {
    fn sample_rate(&self) -> u32 {
        (**self).sample_rate()
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        (**self).read(buf)
    }
    fn is_device(&self) -> bool {
        (**self).is_device()
    }
}

/// Everything that can go wrong between a file (or a synthetic signal) and the front end.
///
/// File variants carry the path (for [`WavReader::from_reader`] the name the caller gave); each
/// message says what was found and what to do next.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// The file cannot be opened (missing, a folder, no permission).
    #[error("{}: cannot open the file: {source} (check the path and that the file is readable)", .path.display())]
    Open { path: PathBuf, source: std::io::Error },

    /// Reading failed for a reason other than the file ending early.
    #[error("{}: read error: {source} (check the disk or the network share, then retry)", .path.display())]
    Io { path: PathBuf, source: std::io::Error },

    /// The file has no bytes at all.
    #[error("{}: the file is empty (0 bytes); it was probably never written completely: re-export or re-copy it", .path.display())]
    EmptyFile { path: PathBuf },

    /// The bytes are not a RIFF/WAVE file.
    #[error("{}: not a WAV file ({reason}); convert it to WAV first, e.g. `ffmpeg -i INPUT -c:a pcm_s16le OUTPUT.wav`", .path.display())]
    NotWav { path: PathBuf, reason: String },

    /// A RIFF/WAVE file whose header is inconsistent.
    #[error("{}: corrupt WAV header: {reason}; re-export the file (e.g. `sox INPUT OUTPUT.wav`) or replace it", .path.display())]
    CorruptHeader { path: PathBuf, reason: String },

    /// The file ends inside the header, before the audio data starts.
    #[error("{}: truncated WAV header: the file ends after {bytes} bytes, before the audio data starts; the file was cut off while copying or recording: re-copy or re-record it", .path.display())]
    TruncatedHeader { path: PathBuf, bytes: u64 },

    /// The data chunk is shorter than its header says.
    #[error("{}: truncated audio data: the header promises {expected} frames, the file holds {found}; the file was cut off: re-copy it, or repair the header (e.g. `sox --ignore-length INPUT OUTPUT.wav`) to keep the {found} frames", .path.display())]
    TruncatedData { path: PathBuf, expected: u64, found: u64 },

    /// A well-formed WAV in an encoding this reader does not decode.
    #[error("{}: unsupported WAV encoding: {encoding}; supported are 8/16/24/32-bit integer PCM and 32-bit float: convert it, e.g. `sox INPUT -b 16 -e signed-integer OUTPUT.wav`", .path.display())]
    UnsupportedEncoding { path: PathBuf, encoding: String },

    /// The header is fine but the data chunk holds no frames.
    #[error("{}: zero-length audio: the data chunk holds no samples; record or export the clip again (nothing to compute features on)", .path.display())]
    ZeroLength { path: PathBuf },

    /// A float WAV holds NaN or an infinity.
    #[error("{}: sample {frame} (channel {channel}) is {value}: audio must be finite; the file was written by a broken tool or is corrupt: regenerate it", .path.display())]
    NonFinite { path: PathBuf, frame: u64, channel: u16, value: f32 },

    /// The file's sample rate differs from the one the caller requires.
    #[error("{}: sample rate is {found} Hz but {expected} Hz is required; resample it (open it with `WavSource::open_resampled(path, {expected})`, or `sox INPUT -r {expected} OUTPUT.wav`)", .path.display())]
    WrongSampleRate { path: PathBuf, found: u32, expected: u32 },

    /// Writing a WAV file failed.
    #[error("{}: cannot write the WAV file: {reason} (check that the folder exists and is writable, and the disk is not full)", .path.display())]
    Write { path: PathBuf, reason: String },

    /// Resampling between two rates is impossible or failed inside `rubato`.
    #[error("cannot resample {from} Hz to {to} Hz: {reason}")]
    Resample { from: u32, to: u32, reason: String },

    /// A parameter of a synthetic source, a resampler or a stream is out of range.
    #[error("invalid {name} = {value}: expected {expected}")]
    InvalidParameter { name: &'static str, value: String, expected: &'static str },

    /// The producer thread of a stream panicked (a bug in a `Source` implementation).
    #[error("the stream's producer thread panicked: {message} (a bug in the audio source; please report it)")]
    ProducerPanicked { message: String },

    /// An audio input device could not be opened or started, failed while capturing, or
    /// stopped delivering samples.
    #[error("audio device `{device}`: {reason}")]
    Device { device: String, reason: String },

    /// No input device has the requested name.
    #[error("no audio input device named `{name}`; the input devices are: {}; pass one of these names, or none for the default device", list_or_none(.available))]
    DeviceNotFound { name: String, available: Vec<String> },
}

/// `a, b, c`, or `(none)` for an empty list.
fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "(none)".to_string()
    } else {
        names.join(", ")
    }
}

impl AudioError {
    pub(crate) fn invalid(name: &'static str, value: impl std::fmt::Display, expected: &'static str) -> Self {
        AudioError::InvalidParameter { name, value: value.to_string(), expected }
    }
}

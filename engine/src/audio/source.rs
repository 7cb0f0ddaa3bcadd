//! The [`Source`] implementations: a WAV file (at its own rate, at a required rate, or resampled
//! to a target rate) and a finite synthetic signal.
//!
//! Both allocate everything at construction so that `read` can run on the producer side of a
//! [`stream`](super::stream) without touching the heap.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::Path;

use super::resample::{output_len, Resampler};
use super::synth::Synth;
use super::wav::{WavInfo, WavReader};
use super::{AudioError, Source};

/// A WAV file as a mono [`Source`], optionally resampled.
#[derive(Debug)]
pub struct WavSource<R: Read = BufReader<File>> {
    reader: WavReader<R>,
    /// Present when the output rate differs from the file's.
    resampler: Option<Resampler>,
    /// One resampler block of file frames.
    in_buf: Vec<f32>,
    /// Resampled frames not yet handed out: `pending[pos..]`.
    pending: Vec<f32>,
    pos: usize,
    finished: bool,
}

impl WavSource<BufReader<File>> {
    /// The file at its own sample rate.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        WavSource::new(WavReader::open(path)?, None)
    }

    /// The file resampled to `rate` Hz (passed through untouched when it already is at `rate`).
    pub fn open_resampled(path: impl AsRef<Path>, rate: u32) -> Result<Self, AudioError> {
        WavSource::new(WavReader::open(path)?, Some(rate))
    }

    /// The file, which must be at `rate` Hz ([`AudioError::WrongSampleRate`] otherwise).
    pub fn open_exact(path: impl AsRef<Path>, rate: u32) -> Result<Self, AudioError> {
        let reader = WavReader::open(path)?;
        reader.require_sample_rate(rate)?;
        WavSource::new(reader, None)
    }
}

impl<R: Read> WavSource<R> {
    /// Wraps an open reader; `target` is the output rate (`None`: the file's own).
    pub fn new(reader: WavReader<R>, target: Option<u32>) -> Result<Self, AudioError> {
        let rate = reader.info().sample_rate;
        let resampler = match target {
            Some(to) if to != rate => Some(Resampler::new(rate, to)?),
            _ => None,
        };
        let (in_len, pending_cap) = match &resampler {
            // Reading exactly one block per push gives at most one block out, and the flush at
            // most `max_flush_len`: `pending` never grows past its initial capacity.
            Some(r) => (r.block_len(), r.block_out_len() + r.max_flush_len()),
            None => (0, 0),
        };
        Ok(WavSource {
            reader,
            resampler,
            in_buf: vec![0.0; in_len],
            pending: Vec::with_capacity(pending_cap),
            pos: 0,
            finished: false,
        })
    }

    /// The file's header.
    pub fn info(&self) -> WavInfo {
        self.reader.info()
    }

    /// Frames this source yields in total (after resampling).
    pub fn frames(&self) -> u64 {
        let info = self.reader.info();
        output_len(info.frames, info.sample_rate, self.sample_rate())
    }
}

impl<R: Read> Source for WavSource<R> {
    fn sample_rate(&self) -> u32 {
        self.resampler.as_ref().map_or(self.reader.info().sample_rate, Resampler::to_rate)
    }

    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        let Some(resampler) = self.resampler.as_mut() else {
            return self.reader.read(buf);
        };
        loop {
            if self.pos < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.pos);
                buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            if self.finished || buf.is_empty() {
                return Ok(0);
            }
            self.pending.clear();
            self.pos = 0;
            let pending = &mut self.pending;
            let collect = |chunk: &[f32]| -> Result<(), AudioError> {
                pending.extend_from_slice(chunk);
                Ok(())
            };
            let n = self.reader.read(&mut self.in_buf)?;
            if n == 0 {
                resampler.flush(collect)?;
                self.finished = true;
            } else {
                resampler.push(&self.in_buf[..n], collect)?;
            }
        }
    }
}

/// A synthetic signal of finite length as a [`Source`].
#[derive(Debug)]
pub struct SynthSource {
    synth: Synth,
    frames: u64,
}

impl SynthSource {
    /// The first `frames` samples of `synth` (from its current position).
    pub fn new(synth: Synth, frames: u64) -> Self {
        SynthSource { frames: synth.position() + frames, synth }
    }

    /// The first `seconds` of `synth`, rounded to whole samples.
    pub fn with_duration(synth: Synth, seconds: f64) -> Result<Self, AudioError> {
        if !(seconds.is_finite() && seconds >= 0.0) {
            return Err(AudioError::invalid("duration", seconds, "a finite number of seconds >= 0"));
        }
        let frames = (seconds * f64::from(synth.sample_rate())).round() as u64;
        Ok(SynthSource::new(synth, frames))
    }

    /// The generator (for its seed).
    pub fn synth(&self) -> &Synth {
        &self.synth
    }
}

impl Source for SynthSource {
    fn sample_rate(&self) -> u32 {
        self.synth.sample_rate()
    }

    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        let left = self.frames.saturating_sub(self.synth.position());
        let n = (buf.len() as u64).min(left) as usize;
        self.synth.fill(&mut buf[..n]);
        Ok(n)
    }
}

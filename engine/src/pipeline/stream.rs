//! The streaming path: source → ring → incremental front end → feature ring → model thread,
//! with online certification on a third thread (see the module doc of `pipeline`).

use super::certifier::StreamCertifier;
use super::live::{InputSnapshot, LiveGain, LiveScaler};
use super::{front_end_with_gain, result_of, CertifiedWindow, PipelineError, WindowResult};
use crate::audio::{self, stream, AudioError, Source, StreamConfig, StreamStats};
use crate::model::Model;
use crate::smooth::{Budget, Contract, GainRecord, OnlineBound, SmoothParams, Smoother};
use crate::stats::median;
use crate::window::{ClipGain, ClipWindow, WindowPlan};
use crossbeam_channel as chan;
use std::cell::{Cell, RefCell};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Feature ring of one window: `F` frames of `bins` values, written frame by frame.
struct FeatureRing {
    frames: usize,
    bins: usize,
    data: Vec<f32>,
    written: u64,
}

impl FeatureRing {
    fn new(frames: usize, bins: usize) -> Self {
        FeatureRing { frames, bins, data: vec![0.0; frames * bins], written: 0 }
    }
    fn push(&mut self, frame: &[f32]) {
        let slot = (self.written % self.frames as u64) as usize;
        self.data[slot * self.bins..(slot + 1) * self.bins].copy_from_slice(frame);
        self.written += 1;
    }
    /// Copies the last `frames` frames, oldest first, into `out`.
    fn copy_window(&self, out: &mut [f32]) {
        let start = (self.written % self.frames as u64) as usize;
        let split = (self.frames - start) * self.bins;
        out[..split].copy_from_slice(&self.data[start * self.bins..]);
        out[split..].copy_from_slice(&self.data[..start * self.bins]);
    }
}

/// Streaming settings.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    pub pacing: audio::Pacing,
    /// Window buffers in flight between the feature and model threads; when all are taken the
    /// next window is dropped (and counted).
    pub max_pending_windows: usize,
    /// Set to stop the stream early (Ctrl-C); the pipeline then drains and returns.
    pub stop: Option<Arc<AtomicBool>>,
    /// Drop (and count) windows when the model falls behind instead of waiting: what a live
    /// source needs. Implied by `Pacing::RealTime`; a file read unpaced waits and loses nothing.
    pub drop_when_behind: bool,
    /// Certify windows online (randomized smoothing under a budget) on the model thread.
    pub certify: Option<OnlineCertify>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions { pacing: audio::Pacing::Unpaced, max_pending_windows: 4, stop: None, drop_when_behind: false, certify: None }
    }
}

/// Online certification settings of a stream (see `smooth::online`).
#[derive(Debug, Clone)]
pub struct OnlineCertify {
    pub contract: Contract,
    pub params: SmoothParams,
    /// How the window's estimation samples and bound are chosen (default: n planned from the
    /// measured throughput, full α).
    pub bound: OnlineBound,
    pub budget: Budget,
    /// Certifier workers sharing each window's noisy copies (the certifier thread is one of
    /// them); results do not depend on it.
    pub workers: usize,
    /// Certify every `every`-th window (1: all; window/hop: non-overlapping windows).
    pub every: u64,
    /// How the stream's gain was chosen, for the record.
    pub gain_policy: GainRecord,
}

/// Recent samples of the (padded, gain-scaled) stream, indexed by absolute position.
struct AudioRing {
    data: Vec<f32>,
    total: u64,
}

impl AudioRing {
    fn new(cap: usize) -> Self {
        AudioRing { data: vec![0.0; cap.max(1)], total: 0 }
    }
    fn push(&mut self, chunk: &[f32], g: f32) {
        let cap = self.data.len();
        for &v in chunk {
            self.data[(self.total % cap as u64) as usize] = v * g;
            self.total += 1;
        }
    }
    /// Copies samples `[start, start + out.len())`; false when they are not (or no longer) held.
    fn copy(&self, start: u64, out: &mut [f32]) -> bool {
        let cap = self.data.len() as u64;
        let end = start + out.len() as u64;
        if end > self.total || start + cap < self.total {
            return false;
        }
        for (i, o) in out.iter_mut().enumerate() {
            *o = self.data[((start + i as u64) % cap) as usize];
        }
        true
    }
}

/// What a streaming run did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PipelineStats {
    pub windows: u64,
    pub dropped_windows: u64,
    pub audio_overruns: u64,
    pub dropped_samples: u64,
    pub samples: u64,
    #[serde(serialize_with = "secs")]
    pub elapsed: Duration,
    /// Model time per window, median, ms.
    pub inference_ms_median: Option<f64>,
    /// Audio-in → label-out latency, median and max, ms.
    pub latency_ms_median: Option<f64>,
    pub latency_ms_max: Option<f64>,
    pub stopped_early: bool,
    /// Online certification: windows certified, and chosen windows left uncertified because
    /// the certifier was still busy (live sources only; a file waits for it).
    pub certified_windows: u64,
    pub certifications_skipped: u64,
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// A source with zeros before and after, and an optional stop flag.
struct PaddedSource<'a, S: Source + ?Sized> {
    inner: &'a mut S,
    left: usize,
    right: usize,
    done: bool,
    stop: Option<Arc<AtomicBool>>,
    stopped: bool,
}

impl<S: Source + ?Sized> Source for PaddedSource<'_, S> {
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }
    fn is_device(&self) -> bool {
        self.inner.is_device()
    }
    fn read(&mut self, buf: &mut [f32]) -> Result<usize, AudioError> {
        if self.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed)) {
            self.stopped = true;
            return Ok(0);
        }
        if self.left > 0 {
            let k = self.left.min(buf.len());
            buf[..k].fill(0.0);
            self.left -= k;
            return Ok(k);
        }
        if !self.done {
            let k = self.inner.read(buf)?;
            if k > 0 {
                return Ok(k);
            }
            self.done = true;
        }
        let k = self.right.min(buf.len());
        buf[..k].fill(0.0);
        self.right -= k;
        Ok(k)
    }
}

/// Streams `source` (at the model's rate) through the pipeline with gain `g`, padding
/// `(left, right)` zeros around it, and calls `on_result` for each window, in order.
/// Certificates (when `opts.certify` is set) are computed and dropped; use
/// [`run_stream_certified`] to receive them.
pub fn run_stream<S, F>(
    model: &Model,
    source: &mut S,
    g: f32,
    padding: (usize, usize),
    opts: &StreamOptions,
    on_result: F,
) -> Result<PipelineStats, PipelineError>
where
    S: Source + Send + ?Sized,
    F: FnMut(&WindowResult) + Send,
{
    run_stream_certified(model, source, g, padding, opts, on_result, |_| {})
}

/// [`run_stream`] with online certification: `on_certificate` is called on the certifier
/// thread for each certified window, in window order, while labels keep flowing to `on_result`.
pub fn run_stream_certified<S, F, C>(
    model: &Model,
    source: &mut S,
    g: f32,
    padding: (usize, usize),
    opts: &StreamOptions,
    on_result: F,
    on_certificate: C,
) -> Result<PipelineStats, PipelineError>
where
    S: Source + Send + ?Sized,
    F: FnMut(&WindowResult) + Send,
    C: FnMut(&CertifiedWindow) + Send,
{
    run_stream_live(model, source, g, padding, opts, None, on_result, on_certificate)
}

/// [`run_stream_certified`] with a live input gain and gain policy (see [`LivePolicy`]; `g` is
/// the fixed gain `s₀`): the feature thread reads `live` once per frame hop, results and
/// certificates carry the [`InputSnapshot`] they were made under, and the stream counts its
/// dropped windows and skipped certifications into `live` as they happen.
#[allow(clippy::too_many_arguments)]
pub fn run_stream_live<S, F, C>(
    model: &Model,
    source: &mut S,
    g: f32,
    padding: (usize, usize),
    opts: &StreamOptions,
    live: Option<&LiveGain>,
    mut on_result: F,
    mut on_certificate: C,
) -> Result<PipelineStats, PipelineError>
where
    S: Source + Send + ?Sized,
    F: FnMut(&WindowResult) + Send,
    C: FnMut(&CertifiedWindow) + Send,
{
    let plan = WindowPlan::of(model)?;
    if source.sample_rate() != plan.sample_rate {
        return Err(PipelineError::Config(format!(
            "source at {} Hz, model {} expects {} Hz: resample the source",
            source.sample_rate(),
            model.card().name,
            plan.sample_rate
        )));
    }
    // With a live gain the chunk is scaled before the front end (and the audio ring).
    let mut fe = front_end_with_gain(model, if live.is_some() { 1.0 } else { g })?;
    let mut scaler = live.map(|l| LiveScaler::new(l, g, model.card().normalization.target_rms, plan.window_samples, fe.hop_length()));
    let mut scaled = vec![0.0f32; if live.is_some() { fe.hop_length() } else { 0 }];
    let snapshot: Cell<Option<InputSnapshot>> = Cell::new(None);
    let level_reset = Cell::new(false);
    let per = plan.frames_per_window * plan.bins;
    let cert = opts.certify.clone();
    if let Some(c) = &cert {
        // Refuse a bad contract before any audio flows.
        Smoother::new(model, c.contract, c.params)?;
    }
    let audio_len = if cert.is_some() { plan.window_samples } else { 0 };
    let every = cert.as_ref().map(|c| c.every.max(1)).unwrap_or(1);
    let pool = opts.max_pending_windows.max(1);
    // Window buffers circulate: free → (filled) → model → free. Allocated here, once. With
    // certification a buffer holds the window's features, then its waveform.
    let (free_tx, free_rx) = chan::bounded::<Vec<f32>>(pool);
    let (work_tx, work_rx) = chan::bounded::<(u64, Vec<f32>, Instant, Option<InputSnapshot>)>(pool);
    for _ in 0..pool {
        let _ = free_tx.send(vec![0.0f32; per + audio_len]);
    }
    let dropped = AtomicU64::new(0);
    let mut ring = FeatureRing::new(plan.frames_per_window, plan.bins);
    let audio_ring = RefCell::new(AudioRing::new(if cert.is_some() { plan.window_samples + 4 * fe.frame_length() + 4 * fe.hop_length() } else { 0 }));
    let mut framed = PaddedSource { inner: source, left: padding.0, right: padding.1, done: false, stop: opts.stop.clone(), stopped: false };
    let cfg = StreamConfig::new(fe.hop_length(), (4 * plan.sample_rate as usize / fe.hop_length()).max(8))
        .with_pacing(opts.pacing);
    let start = Instant::now();

    let cert_skipped = AtomicU64::new(0);
    let (stream_stats, model_out) = std::thread::scope(|s| -> Result<(StreamStats, Result<((u64, Vec<f64>, Vec<f64>), u64), PipelineError>), PipelineError> {
        // The model thread owns the pool's sender: when it ends (done or failed), a feature
        // thread waiting for a buffer wakes up instead of waiting forever.
        // The certifier: waveform buffers circulate cert_free → certifier → cert_free.
        let (cert_free_tx, cert_free_rx) = chan::bounded::<Vec<f32>>(2);
        let (cert_tx, cert_rx) = chan::bounded::<(u64, usize, Vec<f32>, Option<InputSnapshot>)>(2);
        if cert.is_some() {
            for _ in 0..2 {
                let _ = cert_free_tx.send(vec![0.0f32; plan.window_samples]);
            }
        }
        let cert_ref = cert.as_ref();
        let certifier = s.spawn(move || -> Result<u64, PipelineError> {
            let Some(c) = cert_ref else { return Ok(0) };
            let mut certifier = StreamCertifier::new(model, c, plan, g)?;
            let mut done = 0u64;
            for (index, label, wave, input) in cert_rx.iter() {
                let r = certifier.certify(index, label, &wave, input);
                let _ = cert_free_tx.send(wave);
                on_certificate(&r?);
                done += 1;
            }
            Ok(done)
        });
        let paced_model = opts.drop_when_behind || matches!(opts.pacing, audio::Pacing::RealTime { .. });
        let skipped = &cert_skipped;
        let model_thread = s.spawn(move || -> Result<(u64, Vec<f64>, Vec<f64>), PipelineError> {
            let mut infer_ms = Vec::new();
            let mut latency_ms = Vec::new();
            let mut n = 0u64;
            for (index, buf, ready, input) in work_rx.iter() {
                let t = Instant::now();
                let logits = match model.run(&buf[..per], 1) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = free_tx.send(buf);
                        return Err(e.into());
                    }
                };
                infer_ms.push(t.elapsed().as_secs_f64() * 1e3);
                let lat = ready.elapsed().as_secs_f64() * 1e3;
                latency_ms.push(lat);
                let result = result_of(model, &plan, index, &buf[..per], &logits, Some(lat), input);
                if audio_len > 0 && index % every == 0 {
                    // A live source never waits for the certifier; a file does.
                    let wave = if paced_model { cert_free_rx.try_recv().ok() } else { cert_free_rx.recv().ok() };
                    match wave {
                        Some(mut wave) => {
                            wave.copy_from_slice(&buf[per..]);
                            if cert_tx.send((index, result.label, wave, input)).is_err() {
                                skipped.fetch_add(1, Ordering::Relaxed);
                                if let Some(l) = live {
                                    l.certifications_skipped.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        None => {
                            skipped.fetch_add(1, Ordering::Relaxed);
                            if let Some(l) = live {
                                l.certifications_skipped.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                }
                let _ = free_tx.send(buf);
                on_result(&result);
                n += 1;
            }
            drop(cert_tx);
            Ok((n, infer_ms, latency_ms))
        });
        let mut window_index = 0u64;
        let paced = opts.drop_when_behind || matches!(opts.pacing, audio::Pacing::RealTime { .. });
        let mut on_frame = |frame: &[f32]| -> Result<(), PipelineError> {
            ring.push(frame);
            let w = ring.written as usize;
            if w >= plan.frames_per_window && (w - plan.frames_per_window) % plan.hop_frames == 0 {
                // A file (unpaced) waits for a free buffer: back-pressure, nothing lost. A device
                // (paced) cannot wait: the window is dropped and counted.
                let got = if paced { free_rx.try_recv().map_err(|_| ()) } else { free_rx.recv().map_err(|_| ()) };
                match got {
                    Ok(mut buf) => {
                        ring.copy_window(&mut buf[..per]);
                        if audio_len > 0 && window_index % every == 0 {
                            let first = window_index * plan.hop_samples as u64;
                            if !audio_ring.borrow().copy(first, &mut buf[per..]) {
                                return Err(PipelineError::Config(format!("window {window_index}: its samples left the audio ring")));
                            }
                        }
                        level_reset.set(true);
                        if work_tx.send((window_index, buf, Instant::now(), snapshot.get())).is_err() {
                            return Err(PipelineError::Config("the model thread stopped".into()));
                        }
                    }
                    Err(_) if !paced => return Err(PipelineError::Config("the model thread stopped".into())),
                    Err(_) => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        if let Some(l) = live {
                            l.dropped_windows.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                window_index += 1;
            }
            Ok(())
        };
        let stats = stream::run(&mut framed, &cfg, |chunk: &[f32]| {
            let (chunk, ring_gain): (&[f32], f32) = match scaler.as_mut() {
                Some(sc) => {
                    if level_reset.replace(false) {
                        sc.reset_level();
                    }
                    let out = &mut scaled[..chunk.len()];
                    snapshot.set(Some(sc.apply(chunk, out)));
                    (&*out, 1.0)
                }
                None => (chunk, g),
            };
            if audio_len > 0 {
                audio_ring.borrow_mut().push(chunk, ring_gain);
            }
            fe.push(chunk, &mut on_frame)
        });
        let fin = stats.and_then(|st| fe.finish(&mut on_frame).map(|_| st));
        drop(work_tx);
        let model_out = model_thread.join().map_err(|_| PipelineError::Config("the model thread panicked".into()))?;
        let cert_out = certifier.join().map_err(|_| PipelineError::Config("the certifier thread panicked".into()))?;
        // A model failure stops the feature side too; report the model's own error first.
        if let Err(e) = model_out {
            return Err(e);
        }
        let certified = cert_out?;
        Ok((fin?, model_out.map(|m| (m, certified))))
    })?;
    let ((n, mut infer, mut lat), certified_windows) = model_out?;
    let max_lat = lat.iter().cloned().fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    Ok(PipelineStats {
        windows: n,
        dropped_windows: dropped.load(Ordering::Relaxed),
        audio_overruns: stream_stats.overruns,
        dropped_samples: stream_stats.dropped_samples,
        samples: stream_stats.samples,
        elapsed: start.elapsed(),
        inference_ms_median: median(&mut infer),
        latency_ms_median: median(&mut lat),
        latency_ms_max: max_lat,
        stopped_early: framed.stopped,
        certified_windows,
        certifications_skipped: cert_skipped.load(Ordering::Relaxed),
    })
}

/// Streams a WAV file through the pipeline. With [`ClipGain::ClipRms`] the file is read once
/// first to compute its gain (a file, unlike a microphone, can be read twice), and padded like
/// [`classify_file`], so the results equal the batch path's.
pub fn stream_file<F>(
    model: &Model,
    path: &Path,
    gain: ClipGain,
    opts: &StreamOptions,
    on_result: F,
) -> Result<PipelineStats, PipelineError>
where
    F: FnMut(&WindowResult) + Send,
{
    stream_file_certified(model, path, gain, opts, on_result, |_| {})
}

/// [`stream_file`] with the online certificates delivered to `on_certificate`.
pub fn stream_file_certified<F, C>(
    model: &Model,
    path: &Path,
    gain: ClipGain,
    opts: &StreamOptions,
    on_result: F,
    on_certificate: C,
) -> Result<PipelineStats, PipelineError>
where
    F: FnMut(&WindowResult) + Send,
    C: FnMut(&CertifiedWindow) + Send,
{
    stream_file_live(model, path, gain, opts, None, on_result, on_certificate)
}

/// [`stream_file_certified`] with a live input gain and policy (see [`run_stream_live`]).
pub fn stream_file_live<F, C>(
    model: &Model,
    path: &Path,
    gain: ClipGain,
    opts: &StreamOptions,
    live: Option<&LiveGain>,
    on_result: F,
    on_certificate: C,
) -> Result<PipelineStats, PipelineError>
where
    F: FnMut(&WindowResult) + Send,
    C: FnMut(&CertifiedWindow) + Send,
{
    let sr = model.card().features.sample_rate();
    let window = ClipWindow::of(model.card());
    let (g, len) = match gain {
        ClipGain::ClipRms => {
            let samples = window.read(path)?;
            (window.gain(&samples, gain)?, samples.len())
        }
        _ => {
            let src = audio::WavSource::open_resampled(path, sr)?;
            (window.gain(&[], gain)?, src.frames() as usize)
        }
    };
    let plan = WindowPlan::of(model)?;
    let mut src = audio::WavSource::open_resampled(path, sr)?;
    run_stream_live(model, &mut src, g, plan.padding(len), opts, live, on_result, on_certificate)
}

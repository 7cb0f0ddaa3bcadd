//! The streaming pipeline: source → `ringbuf` SPSC ring → incremental front end → feature ring
//! → model every window hop → results, plus the same computation on a whole clip (`classify`).
//!
//! Windows are slices of one frame sequence. The front end frames the stream once (centre
//! padding only at the two ends of the stream, as librosa frames a clip); the model window `w`
//! is frames `[w·Hf, w·Hf + F)` with `F` frames per window and `Hf = hop_samples / hop_length`
//! frames per window hop. Each hop computes only its new frames; a ring of `F` frames holds the
//! window, which is copied out (not recomputed) when complete. The batch path
//! ([`classify_clip`]) computes the same frames in one pass and slices the same windows, so
//! streaming and batch agree by construction.
//!
//! Threads: the audio producer (`audio::stream`) never allocates, locks or blocks; the feature
//! thread takes window buffers from a fixed pool (no allocation per window) and hands them to
//! the model thread over a bounded `crossbeam-channel`; when the model falls behind and the
//! pool is empty the window is dropped and counted, the audio never is. Results arrive in order
//! on the caller's callback, called on the model thread.
//!
//! Online certification ([`OnlineCertify`], [`run_stream_certified`]): the feature thread also
//! keeps the last samples of the (gain-scaled) stream in a ring and copies each chosen window's
//! waveform into the window buffer beside its features. The model thread labels the window as
//! usual and hands its waveform to a third thread, the certifier (a pool of two buffers, no
//! allocation), which certifies it under the budget (`smooth::online`) and delivers the
//! certificate on its own callback. On a live (paced) source labels never wait for
//! certificates: when the certifier is still busy the certification is skipped and counted. A
//! file read unpaced waits for the certifier, so every chosen window is certified. The
//! certificate is about that waveform window as an isolated clip (its features recomputed with
//! centre padding), exactly what `certify` would certify offline.
//!
//! Aggregation over a clip (002 §III): majority vote of the windows' decisions and the sum rule
//! (argmax of the summed posteriors).

use crate::audio::{self, stream, AudioError, Source, StreamConfig, StreamStats};
use crate::dsp::{DspError, FrontEnd};
use crate::window::{self, ClipGain, ClipWindow, WindowError, WindowPlan};
use crate::model::{argmax, softmax, Model, ModelError};
use crate::smooth::{Budget, Certificate, Contract, OnlineBound, OnlineCertifier, SmoothError, SmoothParams, Smoother};
use crossbeam_channel as chan;
use std::cell::RefCell;
use std::path::Path;
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Audio(#[from] AudioError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("front end: {0}")]
    Dsp(#[from] DspError),
    #[error("certification: {0}")]
    Smooth(#[from] SmoothError),
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error("{0}")]
    Config(String),
}

/// The model's verdict on one window.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WindowResult {
    pub index: u64,
    pub start_s: f64,
    pub end_s: f64,
    pub label: usize,
    pub label_name: String,
    pub score: f32,
    pub probabilities: Vec<f32>,
    pub logits: Vec<f32>,
    /// Loudest band in the central half of the window, dB (log-mel models; for gating silence).
    pub level_db: Option<f32>,
    /// Audio in → label out: from the arrival of the window's last samples to the result (streaming).
    pub latency_ms: Option<f64>,
    /// Streaming: the window's newest feature frames (all of them for window 0, else the
    /// `hop_samples / hop_length` frames the hop added), row-major `[frames, bins]`, for displays.
    #[serde(skip)]
    pub spectrum: Vec<f32>,
    /// Streams with a [`LiveGain`]: the input gain, policy and level when the window completed.
    pub input: Option<InputSnapshot>,
}

/// An online certificate of a stream window, delivered by the certifier thread.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CertifiedWindow {
    pub index: u64,
    pub start_s: f64,
    pub end_s: f64,
    /// The base model's label for the window (what the stream printed).
    pub label: usize,
    pub certificate: Certificate,
    /// Streams with a [`LiveGain`]: the gain and policy the certified waveform was made with.
    pub input: Option<InputSnapshot>,
}

/// Gain policy of a live stream (003 §4, failure mode 2), switchable while it runs. With `y =
/// c·a` the input (`a` the source, `c` the live input gain) and `s₀` the stream's fixed gain
/// (the card's calibration constant by default), the front end and the certifier see:
/// * `Fixed`: `x = s₀·y` (a calibrated device: a gain change c moves ‖x‖ by c, and SNR_cert by
///   20·log10 c, as in `gain-sweep`'s `fixed`);
/// * `Rms`: `x = target_rms·y / RMS(y)`, the RMS over the last model window of input (an AGC:
///   once c has been constant for a window, x does not depend on c);
/// * `Peak`: `x = s₀·y / max|y|` over the last model window (peak normalization to full scale,
///   then the calibration);
/// * `Clip`: `x = s₀·clamp(y, −1, 1)` (an ADC saturating at full scale).
///
/// RMS and peak gains are capped at `s₀·10³` (+60 dB) so digital silence stays silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LivePolicy {
    Fixed,
    Rms,
    Peak,
    Clip,
}

impl LivePolicy {
    pub const ALL: [LivePolicy; 4] = [LivePolicy::Fixed, LivePolicy::Rms, LivePolicy::Peak, LivePolicy::Clip];

    pub fn name(self) -> &'static str {
        match self {
            LivePolicy::Fixed => "fixed",
            LivePolicy::Rms => "rms",
            LivePolicy::Peak => "peak",
            LivePolicy::Clip => "clip",
        }
    }

    /// The policy in words.
    pub fn describe(self) -> &'static str {
        match self {
            LivePolicy::Fixed => "fixed gain (calibrated): x = s0·y",
            LivePolicy::Rms => "RMS normalization over the last window: x = target·y/RMS(y)",
            LivePolicy::Peak => "peak normalization over the last window: x = s0·y/max|y|",
            LivePolicy::Clip => "fixed gain after an ADC clipping at full scale: x = s0·clamp(y, -1, 1)",
        }
    }

    /// The next policy in [`LivePolicy::ALL`] (wraps).
    pub fn next(self) -> LivePolicy {
        LivePolicy::ALL[(self as usize + 1) % LivePolicy::ALL.len()]
    }
}

impl std::str::FromStr for LivePolicy {
    type Err = PipelineError;
    fn from_str(s: &str) -> Result<Self, PipelineError> {
        LivePolicy::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| PipelineError::Config(format!("unknown gain policy `{s}`: use fixed, rms, peak or clip")))
    }
}

/// Controls and counters shared with a running stream. The feature thread reads the gain and
/// policy once per frame hop (two relaxed atomic loads: no lock, no allocation, no waiting), so
/// another thread (a UI) can turn the knob while the stream runs. The counters are the stream's
/// dropped windows and skipped certifications so far.
#[derive(Debug)]
pub struct LiveGain {
    gain_db: AtomicU32,
    policy: AtomicU8,
    pub dropped_windows: AtomicU64,
    pub certifications_skipped: AtomicU64,
}

impl LiveGain {
    pub fn new(gain_db: f32, policy: LivePolicy) -> Self {
        LiveGain {
            gain_db: AtomicU32::new(gain_db.to_bits()),
            policy: AtomicU8::new(policy as u8),
            dropped_windows: AtomicU64::new(0),
            certifications_skipped: AtomicU64::new(0),
        }
    }
    /// The input gain c, dB (`y = 10^(dB/20)·a`).
    pub fn gain_db(&self) -> f32 {
        f32::from_bits(self.gain_db.load(Ordering::Relaxed))
    }
    pub fn set_gain_db(&self, db: f32) {
        self.gain_db.store(db.to_bits(), Ordering::Relaxed);
    }
    pub fn policy(&self) -> LivePolicy {
        LivePolicy::ALL[self.policy.load(Ordering::Relaxed) as usize % LivePolicy::ALL.len()]
    }
    pub fn set_policy(&self, p: LivePolicy) {
        self.policy.store(p as u8, Ordering::Relaxed);
    }
}

/// The input side of a window of a live-gain stream.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct InputSnapshot {
    /// Input gain c in force when the window completed, dB.
    pub gain_db: f32,
    pub policy: LivePolicy,
    /// The scale from y to x when the window completed (`x = scale·y`, before clipping).
    pub scale: f32,
    /// Level of the input y since the previous window, dBFS (full scale = 1): peak and RMS.
    pub peak_dbfs: f32,
    pub rms_dbfs: f32,
    /// Samples of y over full scale (|y| > 1) since the previous window.
    pub clipped: u32,
    /// True when the gain and policy were the same over the whole window and, for RMS and peak,
    /// over the normalizer's window before it: the certificate is then about a steady setting.
    pub steady: bool,
}

/// The feature thread's side of a [`LiveGain`]: scales each chunk (into a buffer the caller
/// allocated once) and keeps the level statistics in rings allocated once.
struct LiveScaler<'a> {
    live: &'a LiveGain,
    s0: f32,
    target_rms: f32,
    /// Per-chunk sums of y² and peaks of |y| over the last model window (rings, allocated once).
    sumsq: Vec<f64>,
    peaks: Vec<f32>,
    counts: Vec<u32>,
    next: usize,
    /// Level since the last window: peak, Σy², samples, over full scale.
    hop_peak: f32,
    hop_sumsq: f64,
    hop_n: u64,
    hop_clipped: u32,
    /// Samples since the gain or policy last changed.
    since_change: u64,
    last: Option<(u32, LivePolicy)>,
    window_samples: u64,
    current: InputSnapshot,
}

impl<'a> LiveScaler<'a> {
    fn new(live: &'a LiveGain, s0: f32, target_rms: f32, window_samples: usize, chunk: usize) -> Self {
        let k = window_samples.div_ceil(chunk.max(1)).max(1);
        LiveScaler {
            live,
            s0,
            target_rms,
            sumsq: vec![0.0; k],
            peaks: vec![0.0; k],
            counts: vec![0; k],
            next: 0,
            hop_peak: 0.0,
            hop_sumsq: 0.0,
            hop_n: 0,
            hop_clipped: 0,
            since_change: 0,
            last: None,
            window_samples: window_samples as u64,
            current: InputSnapshot {
                gain_db: 0.0,
                policy: LivePolicy::Fixed,
                scale: s0,
                peak_dbfs: f32::NEG_INFINITY,
                rms_dbfs: f32::NEG_INFINITY,
                clipped: 0,
                steady: false,
            },
        }
    }

    /// Writes `chunk` scaled (y = c·a, then the policy) into `out` (`out.len() == chunk.len()`)
    /// and returns the input snapshot as of this chunk.
    fn apply(&mut self, chunk: &[f32], out: &mut [f32]) -> InputSnapshot {
        let db = self.live.gain_db();
        let policy = self.live.policy();
        if self.last != Some((db.to_bits(), policy)) {
            self.last = Some((db.to_bits(), policy));
            self.since_change = 0;
        }
        let c = 10f32.powf(db / 20.0);
        let (mut ss, mut pk, mut clipped) = (0.0f64, 0.0f32, 0u32);
        for &a in chunk {
            let y = c * a;
            ss += y as f64 * y as f64;
            pk = pk.max(y.abs());
            clipped += (y.abs() > 1.0) as u32;
        }
        let slot = self.next % self.sumsq.len();
        self.sumsq[slot] = ss;
        self.peaks[slot] = pk;
        self.counts[slot] = chunk.len() as u32;
        self.next += 1;
        self.hop_peak = self.hop_peak.max(pk);
        self.hop_sumsq += ss;
        self.hop_n += chunk.len() as u64;
        self.hop_clipped += clipped;
        self.since_change += chunk.len() as u64;
        let cap = self.s0 * 1e3;
        let scale = match policy {
            LivePolicy::Fixed | LivePolicy::Clip => self.s0 * c,
            LivePolicy::Rms => {
                let n: u64 = self.counts.iter().map(|&k| k as u64).sum();
                let r = (self.sumsq.iter().sum::<f64>() / n.max(1) as f64).sqrt() as f32;
                if r > 0.0 { (self.target_rms / r).min(cap) * c } else { cap * c }
            }
            LivePolicy::Peak => {
                let p = self.peaks.iter().cloned().fold(0.0f32, f32::max);
                if p > 0.0 { (self.s0 / p).min(cap) * c } else { cap * c }
            }
        };
        if policy == LivePolicy::Clip {
            for (o, &a) in out.iter_mut().zip(chunk) {
                *o = self.s0 * (c * a).clamp(-1.0, 1.0);
            }
        } else {
            for (o, &a) in out.iter_mut().zip(chunk) {
                *o = a * scale;
            }
        }
        // The certified window needs a steady setting over itself and, for the normalizers,
        // over the window their gain was measured on.
        let need = match policy {
            LivePolicy::Rms | LivePolicy::Peak => 2 * self.window_samples,
            _ => self.window_samples,
        };
        let to_db = |v: f64| if v > 0.0 { (10.0 * v.log10()) as f32 } else { f32::NEG_INFINITY };
        self.current = InputSnapshot {
            gain_db: db,
            policy,
            // x = scale·a; per unit of y: scale / c.
            scale: if policy == LivePolicy::Clip { self.s0 } else { scale / c },
            peak_dbfs: to_db((self.hop_peak as f64).powi(2)),
            rms_dbfs: to_db(self.hop_sumsq / self.hop_n.max(1) as f64),
            clipped: self.hop_clipped,
            steady: self.since_change >= need,
        };
        self.current
    }

    /// Starts the level of the next window (a window has just completed).
    fn reset_level(&mut self) {
        self.hop_peak = 0.0;
        self.hop_sumsq = 0.0;
        self.hop_n = 0;
        self.hop_clipped = 0;
    }
}

/// Clip-level decision from the per-window trail (002: majority vote and sum rule).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ClipDecision {
    pub windows: usize,
    pub majority: usize,
    pub majority_label: String,
    pub majority_votes: usize,
    pub sum_rule: usize,
    pub sum_rule_label: String,
    pub mean_probabilities: Vec<f32>,
}

/// Majority vote (ties to the larger summed posterior) and sum rule over windows.
pub fn aggregate(windows: &[WindowResult], labels: &[String]) -> Option<ClipDecision> {
    if windows.is_empty() {
        return None;
    }
    let c = labels.len();
    let mut votes = vec![0usize; c];
    let mut sum = vec![0.0f32; c];
    for w in windows {
        votes[w.label] += 1;
        for (s, p) in sum.iter_mut().zip(&w.probabilities) {
            *s += p;
        }
    }
    let sum_rule = argmax(&sum);
    let top = *votes.iter().max().unwrap_or(&0);
    let majority = (0..c).filter(|&k| votes[k] == top).max_by(|&a, &b| sum[a].total_cmp(&sum[b])).unwrap_or(sum_rule);
    let n = windows.len() as f32;
    Some(ClipDecision {
        windows: windows.len(),
        majority,
        majority_label: labels[majority].clone(),
        majority_votes: top,
        sum_rule,
        sum_rule_label: labels[sum_rule].clone(),
        mean_probabilities: sum.iter().map(|s| s / n).collect(),
    })
}

fn result_of(
    model: &Model,
    plan: &WindowPlan,
    index: u64,
    window: &[f32],
    logits: &[f32],
    latency_ms: Option<f64>,
    input: Option<InputSnapshot>,
) -> WindowResult {
    // The central half of the window decides whether it holds sound, so short pauses between
    // words separate them even with long windows.
    let level_db = (model.card().features.kind == crate::dsp::FeatureKind::Logmel).then(|| {
        let (f, b) = (plan.frames_per_window, plan.bins);
        window[(f / 4) * b..(3 * f / 4) * b].iter().cloned().fold(f32::NEG_INFINITY, f32::max)
    });
    let mut probs = vec![0.0f32; logits.len()];
    softmax(logits, &mut probs);
    let label = argmax(&probs);
    let start_s = plan.start_s(index);
    // Streaming results carry their newest frames for displays; the batch path does not.
    let spectrum = if latency_ms.is_some() {
        let new = if index == 0 { plan.frames_per_window } else { plan.hop_frames.min(plan.frames_per_window) };
        window[(plan.frames_per_window - new) * plan.bins..plan.frames_per_window * plan.bins].to_vec()
    } else {
        Vec::new()
    };
    WindowResult {
        index,
        start_s,
        end_s: start_s + plan.window_samples as f64 / plan.sample_rate as f64,
        label,
        label_name: model.labels()[label].clone(),
        score: probs[label],
        probabilities: probs,
        logits: logits.to_vec(),
        level_db,
        latency_ms,
        spectrum,
        input,
    }
}

fn front_end_with_gain(model: &Model, g: f32) -> Result<Box<FrontEnd>, PipelineError> {
    Ok(Box::new(window::front_end_with_gain(model.card(), g)?))
}

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

/// Classifies a clip already in memory (at the model's rate) with the given gain: one pass of
/// the front end, windows sliced from the frames, inference in batches of `batch`.
pub fn classify_clip(model: &Model, samples: &[f32], g: f32, batch: usize) -> Result<Vec<WindowResult>, PipelineError> {
    let plan = WindowPlan::of(model)?;
    let (l, r) = plan.padding(samples.len());
    let mut fe = front_end_with_gain(model, g)?;
    let mut frames: Vec<f32> = Vec::new();
    let zeros = vec![0.0f32; l.max(r)];
    let mut sink = |f: &[f32]| -> Result<(), DspError> {
        frames.extend_from_slice(f);
        Ok(())
    };
    fe.push(&zeros[..l], &mut sink)?;
    fe.push(samples, &mut sink)?;
    fe.push(&zeros[..r], &mut sink)?;
    fe.finish(&mut sink)?;
    let total = frames.len() / plan.bins;
    if total < plan.frames_per_window {
        return Err(PipelineError::Config("clip shorter than one window after padding".into()));
    }
    let n_windows = (total - plan.frames_per_window) / plan.hop_frames + 1;
    let per = plan.frames_per_window * plan.bins;
    let mut out = Vec::with_capacity(n_windows);
    let batch = batch.max(1);
    let mut w0 = 0;
    let mut input = Vec::with_capacity(batch * per);
    while w0 < n_windows {
        let nb = batch.min(n_windows - w0);
        input.clear();
        for w in w0..w0 + nb {
            let s = w * plan.hop_frames * plan.bins;
            input.extend_from_slice(&frames[s..s + per]);
        }
        let logits = model.run(&input, nb)?;
        let c = model.n_classes();
        for (i, l) in logits.chunks(c).enumerate() {
            out.push(result_of(model, &plan, (w0 + i) as u64, &input[i * per..(i + 1) * per], l, None, None));
        }
        w0 += nb;
    }
    Ok(out)
}

/// Reads a WAV file, resamples it to the model's rate and classifies it (batch path).
pub fn classify_file(model: &Model, path: &Path, gain: ClipGain, batch: usize) -> Result<Vec<WindowResult>, PipelineError> {
    let window = ClipWindow::of(model.card());
    let samples = window.read(path)?;
    let g = window.gain(&samples, gain)?;
    classify_clip(model, &samples, g, batch)
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
    pub gain_policy: String,
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
struct Framed<'a, S: Source + ?Sized> {
    inner: &'a mut S,
    left: usize,
    right: usize,
    done: bool,
    stop: Option<Arc<AtomicBool>>,
    stopped: bool,
}

impl<S: Source + ?Sized> Source for Framed<'_, S> {
    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
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

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    Some(v[v.len() / 2])
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
    let mut framed = Framed { inner: source, left: padding.0, right: padding.1, done: false, stop: opts.stop.clone(), stopped: false };
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
            let mut sm = OnlineCertifier::new(model, c.contract, c.params, c.workers)?;
            let mut done = 0u64;
            for (index, label, wave, input) in cert_rx.iter() {
                let r = match input {
                    Some(i) => {
                        let policy = format!("live {} (input gain {:+.1} dB{})", i.policy.name(), i.gain_db, if i.steady { "" } else { ", changing" });
                        sm.certify(&wave, index, &policy, i.scale, &c.bound, c.budget)
                    }
                    None => sm.certify(&wave, index, &c.gain_policy, g, &c.bound, c.budget),
                };
                let _ = cert_free_tx.send(wave);
                let start_s = plan.start_s(index);
                let certificate = r?;
                on_certificate(&CertifiedWindow {
                    index,
                    start_s,
                    end_s: start_s + plan.window_samples as f64 / plan.sample_rate as f64,
                    label,
                    certificate,
                    input,
                });
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

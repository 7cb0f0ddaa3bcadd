//! A live input gain and gain policy a running stream reads once per frame hop, and the
//! feature thread's scaler that applies it (003 §4, failure mode 2).

use super::PipelineError;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};

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
pub(super) struct LiveScaler<'a> {
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
    pub(super) fn new(live: &'a LiveGain, s0: f32, target_rms: f32, window_samples: usize, chunk: usize) -> Self {
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
    pub(super) fn apply(&mut self, chunk: &[f32], out: &mut [f32]) -> InputSnapshot {
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
    pub(super) fn reset_level(&mut self) {
        self.hop_peak = 0.0;
        self.hop_sumsq = 0.0;
        self.hop_n = 0;
        self.hop_clipped = 0;
    }
}


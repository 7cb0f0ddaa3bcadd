//! Gain policies of 003 (§4, Contracts 1 and 3): what scales the waveform before the front end.
//!
//! * `Fixed { gain }`: one scalar computed once (from the clean clip, or from a calibration
//!   constant when streaming) and applied to every sample; the only policy under which the
//!   waveform contract's certificate is a statement about the microphone signal scaled by a
//!   known constant.
//! * `Rms { target }`: scale the buffer so its RMS equals `target` (003's T_rms with
//!   `target = RMS(x)` of the clean clip).
//! * `Peak { target }`: scale so `max |x| = target` (T_peak with `target = ‖x‖∞`).
//! * `Clip { limit }`: clamp to `[-limit, limit]` (T_clip with `limit = 1`).
//!
//! `Fixed` and `Clip` act sample by sample and so can run inside a stream; `Rms` and `Peak`
//! need the whole buffer they normalize.

use super::{math, DspError};

#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(tag = "policy", rename_all = "lowercase"))]
pub enum GainPolicy {
    Fixed { gain: f32 },
    Rms { target: f32 },
    Peak { target: f32 },
    Clip { limit: f32 },
}

impl Default for GainPolicy {
    fn default() -> Self {
        GainPolicy::Fixed { gain: 1.0 }
    }
}

/// Root mean square, accumulated in f64.
pub fn rms(x: &[f32]) -> f32 {
    if x.is_empty() {
        return 0.0;
    }
    let s: f64 = x.iter().map(|&v| v as f64 * v as f64).sum();
    math::sqrt(s / x.len() as f64) as f32
}

/// Largest absolute sample value.
pub fn peak(x: &[f32]) -> f32 {
    x.iter().fold(0.0f32, |m, &v| m.max(v.abs()))
}

/// The scalar gain `target_rms / measured_rms` that brings a signal of RMS `measured_rms` to
/// `target_rms` (003 Contract 1's `s`, computed once: from a clean clip padded to one window, or
/// from a device's calibration recording); refuses a silent or non-finite measurement.
pub fn gain_to_rms(measured_rms: f32, target_rms: f32) -> Result<f32, DspError> {
    if !(measured_rms > 0.0) || !measured_rms.is_finite() {
        return Err(DspError::Silent { name: "measured RMS" });
    }
    Ok(target_rms / measured_rms)
}

impl GainPolicy {
    pub fn validate(&self) -> Result<(), DspError> {
        let (name, v) = match *self {
            GainPolicy::Fixed { gain } => ("gain", gain),
            GainPolicy::Rms { target } => ("rms target", target),
            GainPolicy::Peak { target } => ("peak target", target),
            GainPolicy::Clip { limit } => ("clip limit", limit),
        };
        if !v.is_finite() || v <= 0.0 {
            return Err(DspError::InvalidParameter { name, value: v as f64, expected: "a finite value > 0" });
        }
        Ok(())
    }

    /// True when the policy acts sample by sample and can run inside a stream.
    pub fn is_per_sample(&self) -> bool {
        matches!(self, GainPolicy::Fixed { .. } | GainPolicy::Clip { .. })
    }

    /// The map applied to one sample by a per-sample policy (`None` for Rms and Peak).
    pub fn sample_map(&self) -> Option<impl Fn(f32) -> f32 + Copy> {
        let (gain, limit) = match *self {
            GainPolicy::Fixed { gain } => (gain, f32::INFINITY),
            GainPolicy::Clip { limit } => (1.0, limit),
            _ => return None,
        };
        Some(move |x: f32| (x * gain).clamp(-limit, limit))
    }

    /// Applies the policy to `x` in place and returns the scale factor it used (1 for Clip).
    pub fn apply(&self, x: &mut [f32]) -> Result<f32, DspError> {
        self.validate()?;
        let g = match *self {
            GainPolicy::Fixed { gain } => gain,
            GainPolicy::Rms { target } => {
                let r = rms(x);
                if r <= 0.0 {
                    return Err(DspError::Silent { name: "RMS" });
                }
                target / r
            }
            GainPolicy::Peak { target } => {
                let p = peak(x);
                if p <= 0.0 {
                    return Err(DspError::Silent { name: "peak" });
                }
                target / p
            }
            GainPolicy::Clip { limit } => {
                for v in x.iter_mut() {
                    *v = v.clamp(-limit, limit);
                }
                return Ok(1.0);
            }
        };
        for v in x.iter_mut() {
            *v *= g;
        }
        Ok(g)
    }
}

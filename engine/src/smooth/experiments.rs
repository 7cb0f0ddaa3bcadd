//! Experiments of 003 on a dataset: the geometry of the post-noise transforms (Table 3) and
//! the microphone-gain sweep (failure mode 2). `runs` wraps them into the JSON files of
//! `soundproof diagnose` and `soundproof gain-sweep`, with their shards and merges.

use super::report::{certify_clip, ClipRecord, LoadedClip, Summary};
use super::{SmoothError, Smoother, Transform};
use crate::window::{ClipGain, ClipWindow};
use std::fmt;
use std::str::FromStr;

/// How the gain s follows the microphone in a gain sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepPolicy {
    /// s fixed at the 0 dB clip's value (a calibrated device): x = s₀·c·a.
    Fixed,
    /// s from the clip as recorded (RMS normalization before the noise): x = s(c·a)·c·a = x₀.
    Rms,
}

impl fmt::Display for SweepPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SweepPolicy::Fixed => "fixed",
            SweepPolicy::Rms => "rms",
        })
    }
}

impl FromStr for SweepPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "fixed" => Ok(SweepPolicy::Fixed),
            "rms" => Ok(SweepPolicy::Rms),
            other => Err(format!("unknown gain policy `{other}` for the sweep: use fixed or rms")),
        }
    }
}

/// One row of 003 Table 3: the geometry of a post-noise transform at σ, pooled over clips and
/// noise samples (D_geom and the effective ratio are expectations over x and ε).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GeometryRow {
    pub transform: Transform,
    /// The level the windows were at (e.g. "card gain (RMS 1.0)").
    pub level: String,
    pub sigma: f64,
    pub d_geom: f64,
    pub effective_ratio: f64,
    pub clips: usize,
    pub samples_per_clip: u64,
}

/// Certifies `clips` (fixed-n CERTIFY) after scaling each clip by `scale` (the microphone
/// gain), clip `i` under `gains[i]`; returns the records.
pub fn certify_clips(smoother: &mut Smoother<'_>, clips: &[LoadedClip], scale: f32, gains: &[ClipGain]) -> Result<Vec<ClipRecord>, SmoothError> {
    let mut out = Vec::with_capacity(clips.len());
    for (c, &g) in clips.iter().zip(gains) {
        let scaled: Vec<f32> = c.samples.iter().map(|v| v * scale).collect();
        out.push(certify_clip(smoother, &c.path, &scaled, g, c.truth.clone(), c.truth_index)?);
    }
    Ok(out)
}

/// One cell of a gain sweep: the microphone gain moved by `gain_db`, under a gain policy.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SweepCell {
    pub gain_db: f64,
    pub policy: SweepPolicy,
    pub summary: Summary,
    /// The clips' certificates in this cell (sorted by path).
    #[serde(default)]
    pub records: Vec<ClipRecord>,
}

/// 003 failure mode 2 on a dataset: for each microphone gain and policy, certify every clip.
/// Under `fixed`, x = s₀·c·a (SNR_cert shifts by 20·log10 c); under `rms`, x = s(c·a)·c·a = x₀
/// (SNR_cert does not move).
pub fn gain_sweep(
    smoother: &mut Smoother<'_>,
    clips: &[LoadedClip],
    gains_db: &[f64],
    policies: &[SweepPolicy],
    thresholds: &[f64],
    mut progress: impl FnMut(f64, SweepPolicy),
) -> Result<Vec<SweepCell>, SmoothError> {
    let window = ClipWindow::of(smoother.model().card());
    // `fixed`: each clip's gain as calibrated at 0 dB; `rms`: recomputed from the scaled clip.
    let fixed: Vec<ClipGain> = clips
        .iter()
        .map(|c| window.gain(&c.samples, ClipGain::ClipRms).map(ClipGain::Fixed))
        .collect::<Result<_, _>>()?;
    let rms = vec![ClipGain::ClipRms; clips.len()];
    let mut cells = Vec::new();
    for &db in gains_db {
        let c = 10f64.powf(db / 20.0) as f32;
        for &policy in policies {
            progress(db, policy);
            let gains = match policy {
                SweepPolicy::Fixed => &fixed,
                SweepPolicy::Rms => &rms,
            };
            let records = certify_clips(smoother, clips, c, gains)?;
            cells.push(SweepCell { gain_db: db, policy, summary: Summary::of(&records, thresholds), records });
        }
    }
    Ok(cells)
}

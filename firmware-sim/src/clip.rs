//! A WAV file as the firmware receives it.

use anyhow::{Context, Result};
use soundproof::model::Model;
use soundproof::window::{ClipGain, ClipWindow, WindowPlan};
use std::path::Path;

/// The stream the DMA delivers for one file: the samples at the model's rate, centred in one
/// window when shorter (zeros added), and the scalar gain the front end applies; the same
/// samples, padding and gain as `soundproof classify` (`pipeline::classify_file`).
#[derive(Debug, Clone)]
pub struct Stream {
    pub samples: Vec<f32>,
    pub gain: f32,
}

pub fn stream_of(model: &Model, path: &Path, gain: ClipGain) -> Result<Stream> {
    let window = ClipWindow::of(model.card());
    let samples = window.read(path).with_context(|| format!("{}", path.display()))?;
    let g = window.gain(&samples, gain)?;
    let plan = WindowPlan::of(model)?;
    let (l, r) = plan.padding(samples.len());
    let mut s = vec![0.0f32; l];
    s.extend_from_slice(&samples);
    s.extend(std::iter::repeat_n(0.0, r));
    Ok(Stream { samples: s, gain: g })
}

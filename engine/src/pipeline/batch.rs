//! The batch path: a whole clip through the front end in one pass, windows sliced from its
//! frames, inference in batches. Streaming computes the same frames and windows.

use super::{front_end_with_gain, result_of, PipelineError, WindowResult};
use crate::dsp::DspError;
use crate::model::Model;
use crate::window::{ClipGain, ClipWindow, WindowPlan};
use std::path::Path;

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


//! Model inputs from prepared waveforms: the engine's `dsp::FrontEnd` for feature models
//! (`[N, 1, frames, bins]`, exactly the map the engine serves), the waveform itself for
//! waveform models (`[N, 1, samples]`), with [`Augment`] applied first when training.

use super::{augment::Augment, Prepared};
use crate::error::{Result, ToolsError};
use soundproof::dsp::{DspError, FeatureConfig, FrontEnd, GainPolicy};
use tch::Tensor;

/// The engine front end run on a whole window: one push, one finish, `frames × bins` out.
pub struct Featurizer {
    fe: Box<FrontEnd>,
    window: usize,
    frames: usize,
    bins: usize,
}

impl Featurizer {
    /// `cfg`'s gain is replaced by unity: the window was already scaled by its clip gain.
    pub fn new(cfg: &FeatureConfig, window: usize) -> Result<Self> {
        let cfg = FeatureConfig { gain: GainPolicy::Fixed { gain: 1.0 }, ..*cfg };
        let fe = Box::new(FrontEnd::new(&cfg)?);
        let frames = fe.frame_count(window);
        let bins = fe.n_features();
        if frames == 0 {
            return Err(ToolsError::invalid("window", window, "at least one frame of the front end"));
        }
        Ok(Featurizer { fe, window, frames, bins })
    }

    pub fn frames(&self) -> usize {
        self.frames
    }
    pub fn bins(&self) -> usize {
        self.bins
    }

    /// Features of `x` (length `window`) into `out` (length `frames × bins`, frame-major).
    pub fn compute(&mut self, x: &[f32], out: &mut [f32]) -> Result<()> {
        if x.len() != self.window || out.len() != self.frames * self.bins {
            return Err(ToolsError::Dsp(DspError::Length { name: "window", expected: self.window, got: x.len() }));
        }
        self.fe.reset();
        let mut pos = 0;
        let mut emit = |f: &[f32]| -> std::result::Result<(), DspError> {
            if pos < out.len() {
                out[pos..pos + f.len()].copy_from_slice(f);
            }
            pos += f.len();
            Ok(())
        };
        self.fe.push(x, &mut emit)?;
        self.fe.finish(&mut emit)?;
        if pos != out.len() {
            return Err(ToolsError::Dsp(DspError::Length { name: "feature map", expected: out.len(), got: pos }));
        }
        Ok(())
    }
}

/// Builds input batches for one model.
pub struct Batcher {
    featurizer: Option<Featurizer>,
    window: usize,
    wave: Vec<f32>,
}

impl Batcher {
    /// Feature model when `features` is given, waveform model otherwise.
    pub fn new(features: Option<&FeatureConfig>, window: usize) -> Result<Self> {
        let featurizer = features.map(|c| Featurizer::new(c, window)).transpose()?;
        Ok(Batcher { featurizer, window, wave: vec![0.0; window] })
    }

    /// Shape of one example: `[1, frames, bins]` or `[1, samples]`.
    pub fn example_shape(&self) -> Vec<i64> {
        match &self.featurizer {
            Some(f) => vec![1, f.frames() as i64, f.bins() as i64],
            None => vec![1, self.window as i64],
        }
    }

    fn example_len(&self) -> usize {
        self.example_shape().iter().product::<i64>() as usize
    }

    /// The model input of one already-augmented window, appended to `out`.
    pub fn push_input(&mut self, x: &[f32], out: &mut Vec<f32>) -> Result<()> {
        match &mut self.featurizer {
            Some(f) => {
                let start = out.len();
                out.resize(start + f.frames() * f.bins(), 0.0);
                f.compute(x, &mut out[start..])
            }
            None => {
                out.extend_from_slice(x);
                Ok(())
            }
        }
    }

    fn fill(
        &mut self,
        data: &Prepared,
        idx: &[usize],
        aug: Option<(&Augment, u64, u64)>,
        wave: &mut [f32],
        buf: &mut Vec<f32>,
    ) -> Result<()> {
        for &i in idx {
            let clean = data.clip(i);
            match aug {
                Some((a, seed, epoch)) => {
                    a.apply(clean, &mut Augment::rng(seed, epoch, i as u64), wave);
                    self.push_input(wave, buf)?;
                }
                None => self.push_input(clean, buf)?,
            }
        }
        Ok(())
    }

    /// `(inputs [B, ...], labels [B])` of examples `idx`; `aug = Some((augment, seed, epoch))`
    /// augments each clip with its own seeded generator.
    pub fn batch(&mut self, data: &Prepared, idx: &[usize], aug: Option<(&Augment, u64, u64)>) -> Result<(Tensor, Tensor)> {
        let mut buf = Vec::with_capacity(idx.len() * self.example_len());
        let mut wave = std::mem::take(&mut self.wave);
        let filled = self.fill(data, idx, aug, &mut wave, &mut buf);
        self.wave = wave;
        filled?;
        let mut shape = vec![idx.len() as i64];
        shape.extend(self.example_shape());
        let x = Tensor::from_slice(&buf).reshape(&shape);
        let labels: Vec<i64> = idx.iter().map(|&i| data.labels[i]).collect();
        Ok((x, Tensor::from_slice(&labels)))
    }
}


//! The front end: framer → per-sample gain → one feature extractor, driven sample chunk by
//! sample chunk. The same object serves batch and streaming use (a batch run is one push of
//! the whole clip and a `finish`), so both give bit-identical features.
//!
//! [`FeatureConfig`] holds every front-end parameter; it is what a model card records, and the
//! engine builds the front end from it, so a model cannot run with the wrong features.

use super::{
    check_capacity, mfcc::Mfcc, stft::{LogStft, Stft}, wavelet::{DwtBands, DwtBandsParams, Scalogram, ScalogramParams},
    DspError, FftBackend, FrameFeature, Framer, GainPolicy, LogMel, MelParams, MfccParams, StftParams,
};
use heapless::Vec;

/// Which representation the front end computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "kebab-case"))]
pub enum FeatureKind {
    /// STFT power spectrum, `n_fft/2 + 1` bins per frame.
    Stft,
    /// STFT power spectrum in dB, `10·log10(max(amin, ·))`, `n_fft/2 + 1` bins per frame (the
    /// STFT spectrogram of 000/001/002; floor `mel.amin`).
    LogStft,
    /// Log-mel energies in dB, `n_mels` per frame.
    Logmel,
    /// MFCC, `n_mfcc` per frame.
    Mfcc,
    /// A framed continuous-wavelet scalogram, `n_scales` per frame: what 000/001 call their
    /// "DWT" representation (`dwt` is still read in cards and accepted on the command line).
    #[cfg_attr(feature = "std", serde(alias = "dwt"))]
    Scalogram,
    /// Multi-level discrete wavelet transform sub-band log energies, `levels + 1` per frame.
    DwtBands,
}

impl FeatureKind {
    pub fn name(&self) -> &'static str {
        match self {
            FeatureKind::Stft => "stft",
            FeatureKind::LogStft => "log-stft",
            FeatureKind::Logmel => "logmel",
            FeatureKind::Mfcc => "mfcc",
            FeatureKind::Scalogram => "scalogram",
            FeatureKind::DwtBands => "dwt-bands",
        }
    }
}

/// Every front-end parameter. Only the groups the `kind` uses matter; the others keep their
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct FeatureConfig {
    pub kind: FeatureKind,
    /// Framing and FFT (stft, log-stft, logmel, mfcc).
    pub stft: StftParams,
    /// Mel bank (logmel, mfcc) and log floor (logmel, mfcc, log-stft).
    pub mel: MelParams,
    /// Cepstrum (mfcc).
    pub mfcc: MfccParams,
    /// Scalogram (scalogram).
    pub scalogram: ScalogramParams,
    /// Discrete wavelet sub-bands (dwt-bands).
    pub dwt_bands: DwtBandsParams,
    /// Gain applied before framing. Inside a stream only per-sample policies (fixed, clip).
    pub gain: GainPolicy,
    pub fft_backend: FftBackend,
}

impl FeatureConfig {
    /// 003's defaults for the given kind.
    pub fn new(kind: FeatureKind) -> Self {
        FeatureConfig {
            kind,
            stft: StftParams::default(),
            mel: MelParams::default(),
            mfcc: MfccParams::default(),
            scalogram: ScalogramParams::default(),
            dwt_bands: DwtBandsParams::default(),
            gain: GainPolicy::default(),
            fft_backend: FftBackend::default(),
        }
    }

    /// Sets the sample rate of every parameter group.
    pub fn with_sample_rate(mut self, sr: u32) -> Self {
        self.stft.sample_rate = sr;
        self.scalogram.sample_rate = sr;
        self.dwt_bands.sample_rate = sr;
        self
    }

    pub fn sample_rate(&self) -> u32 {
        match self.kind {
            FeatureKind::Scalogram => self.scalogram.sample_rate,
            FeatureKind::DwtBands => self.dwt_bands.sample_rate,
            _ => self.stft.sample_rate,
        }
    }

    /// (frame_length, hop_length, center) of the kind's framing.
    pub fn framing(&self) -> (usize, usize, bool) {
        match self.kind {
            FeatureKind::Scalogram => (self.scalogram.frame_length, self.scalogram.hop_length, self.scalogram.center),
            FeatureKind::DwtBands => (self.dwt_bands.frame_length, self.dwt_bands.hop_length, self.dwt_bands.center),
            _ => (self.stft.n_fft, self.stft.hop_length, self.stft.center),
        }
    }
}

/// One of the feature extractors.
pub enum Extractor<const N: usize = { super::MAX_N_FFT }> {
    Stft(Stft<N>),
    LogStft(LogStft<N>),
    Logmel(LogMel<N>),
    Mfcc(Mfcc<N>),
    Scalogram(Scalogram<N>),
    DwtBands(DwtBands<N>),
}

impl<const N: usize> Extractor<N> {
    pub fn new(cfg: &FeatureConfig) -> Result<Self, DspError> {
        Ok(match cfg.kind {
            FeatureKind::Stft => Extractor::Stft(Stft::new(&cfg.stft, cfg.fft_backend)?),
            FeatureKind::LogStft => Extractor::LogStft(LogStft::new(&cfg.stft, cfg.mel.amin, cfg.fft_backend)?),
            FeatureKind::Logmel => Extractor::Logmel(LogMel::new(&cfg.stft, &cfg.mel, cfg.fft_backend)?),
            FeatureKind::Mfcc => Extractor::Mfcc(Mfcc::new(&cfg.stft, &cfg.mel, &cfg.mfcc, cfg.fft_backend)?),
            FeatureKind::Scalogram => Extractor::Scalogram(Scalogram::new(&cfg.scalogram, cfg.fft_backend)?),
            FeatureKind::DwtBands => Extractor::DwtBands(DwtBands::new(&cfg.dwt_bands)?),
        })
    }

    fn inner(&mut self) -> &mut dyn FrameFeature {
        match self {
            Extractor::Stft(x) => x,
            Extractor::LogStft(x) => x,
            Extractor::Logmel(x) => x,
            Extractor::Mfcc(x) => x,
            Extractor::Scalogram(x) => x,
            Extractor::DwtBands(x) => x,
        }
    }

    fn inner_ref(&self) -> &dyn FrameFeature {
        match self {
            Extractor::Stft(x) => x,
            Extractor::LogStft(x) => x,
            Extractor::Logmel(x) => x,
            Extractor::Mfcc(x) => x,
            Extractor::Scalogram(x) => x,
            Extractor::DwtBands(x) => x,
        }
    }
}

impl<const N: usize> FrameFeature for Extractor<N> {
    fn frame_length(&self) -> usize {
        self.inner_ref().frame_length()
    }
    fn n_features(&self) -> usize {
        self.inner_ref().n_features()
    }
    fn process(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        self.inner().process(frame, out)
    }
}

/// Streaming front end with frame capacity `N` samples.
pub struct FrontEnd<const N: usize = { super::MAX_N_FFT }> {
    config: FeatureConfig,
    framer: Framer<N>,
    extractor: Extractor<N>,
    out: Vec<f32, N>,
    gain: f32,
    limit: f32,
}

impl<const N: usize> FrontEnd<N> {
    /// Builds the framer and extractor of `config`. Refuses gain policies that need the whole
    /// clip (rms, peak): apply [`GainPolicy::apply`] to the clip first, then stream it with a
    /// fixed gain.
    pub fn new(config: &FeatureConfig) -> Result<Self, DspError> {
        config.gain.validate()?;
        let (gain, limit) = match config.gain {
            GainPolicy::Fixed { gain } => (gain, f32::INFINITY),
            GainPolicy::Clip { limit } => (1.0, limit),
            GainPolicy::Rms { .. } | GainPolicy::Peak { .. } => {
                return Err(DspError::InvalidParameter {
                    name: "gain",
                    value: 0.0,
                    expected: "a per-sample policy (fixed or clip) inside a stream; rms and peak \
                               need the whole clip",
                })
            }
        };
        let extractor = Extractor::new(config)?;
        let (frame_length, hop, center) = config.framing();
        if extractor.frame_length() != frame_length {
            return Err(DspError::Length { name: "frame", expected: extractor.frame_length(), got: frame_length });
        }
        let framer = Framer::new(frame_length, hop, center)?;
        let n = extractor.n_features();
        check_capacity("features per frame", n, N)?;
        let mut out = Vec::new();
        let _ = out.resize(n, 0.0);
        Ok(FrontEnd { config: *config, framer, extractor, out, gain, limit })
    }

    pub fn config(&self) -> &FeatureConfig {
        &self.config
    }
    pub fn n_features(&self) -> usize {
        self.out.len()
    }
    pub fn frame_length(&self) -> usize {
        self.framer.frame_length()
    }
    pub fn hop_length(&self) -> usize {
        self.framer.hop_length()
    }
    /// Frames a clip of `len` samples yields.
    pub fn frame_count(&self, len: usize) -> usize {
        self.framer.frame_count(len)
    }
    pub fn frames_emitted(&self) -> u64 {
        self.framer.frames_emitted()
    }

    /// Back to the state before the first sample (the extractor keeps no state between frames).
    pub fn reset(&mut self) {
        self.framer.reset();
    }

    /// Pushes samples; `on_features` receives each completed frame's feature vector.
    pub fn push<E: From<DspError>>(
        &mut self,
        samples: &[f32],
        on_features: impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        let FrontEnd { framer, extractor, out, gain, limit, .. } = self;
        let (g, l) = (*gain, *limit);
        let mut on_features = on_features;
        framer.push_mapped(samples, move |x| (x * g).clamp(-l, l), |frame| {
            extractor.process(frame, out)?;
            on_features(out)
        })
    }

    /// The features of a whole clip: exactly what `reset` + `push(samples)` + `finish` give,
    /// faster when the gain is the identity (unit fixed gain, the front end of noisy copies
    /// whose waveform already carries its gain): the frames are then read from the clip in
    /// place ([`Framer::clip`]) instead of streamed through the frame buffer. The stream state
    /// is reset first; afterwards the front end is finished, as after `finish`.
    pub fn clip<E: From<DspError>>(
        &mut self,
        samples: &[f32],
        on_features: impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut on_features = on_features;
        if self.gain != 1.0 || self.limit != f32::INFINITY {
            self.reset();
            self.push(samples, &mut on_features)?;
            return self.finish(on_features);
        }
        let FrontEnd { framer, extractor, out, .. } = self;
        framer.clip(samples, |frame| {
            extractor.process(frame, out)?;
            on_features(out)
        })
    }

    /// Ends the stream (end padding when centred) and emits the last frames.
    pub fn finish<E: From<DspError>>(&mut self, on_features: impl FnMut(&[f32]) -> Result<(), E>) -> Result<(), E> {
        let FrontEnd { framer, extractor, out, .. } = self;
        let mut on_features = on_features;
        framer.finish(|frame| {
            extractor.process(frame, out)?;
            on_features(out)
        })
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// The whole-clip path gives the very features of the stream, bit for bit, with a unit
    /// gain (frames read in place) and with another gain and a clip limit (streamed).
    #[test]
    fn clip_features_equal_the_stream() {
        let x: Vec<f32> = (0..16_000).map(|i| 0.3 * (i as f32 * 0.011).sin() + 0.05 * (i as f32 * 0.7).cos()).collect();
        for gain in [GainPolicy::Fixed { gain: 1.0 }, GainPolicy::Fixed { gain: 3.0 }, GainPolicy::Clip { limit: 0.2 }] {
            for kind in [FeatureKind::Logmel, FeatureKind::Stft] {
                let mut cfg = FeatureConfig::new(kind);
                cfg.gain = gain;
                let mut fe: FrontEnd = FrontEnd::new(&cfg).unwrap();
                let (mut a, mut b) = (Vec::new(), Vec::new());
                fe.reset();
                fe.push(&x, |f: &[f32]| -> Result<(), DspError> {
                    a.extend_from_slice(f);
                    Ok(())
                })
                .unwrap();
                fe.finish(|f: &[f32]| -> Result<(), DspError> {
                    a.extend_from_slice(f);
                    Ok(())
                })
                .unwrap();
                fe.clip(&x, |f: &[f32]| -> Result<(), DspError> {
                    b.extend_from_slice(f);
                    Ok(())
                })
                .unwrap();
                assert_eq!(a.len(), fe.frame_count(x.len()) * fe.n_features());
                assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()) && a.len() == b.len(), "{gain:?} {kind:?}");
            }
        }
    }
}

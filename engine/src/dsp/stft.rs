//! STFT power spectrum of one frame: periodic Hann window of `win_length` centred in `n_fft`,
//! real FFT, `|X[k]|²` for the `n_fft/2 + 1` non-negative frequencies. Equals
//! `np.abs(librosa.stft(y, n_fft, hop_length, win_length, window="hann", center,
//! pad_mode="constant"))**2` column by column.

use super::{check_capacity, check_len, fft::RealFft, math, window, DspError, FftBackend, FrameFeature};
use heapless::Vec;

/// Framing and FFT parameters (librosa names; defaults are 003's: 16 kHz, n_fft 1024,
/// win_length 400 = 25 ms, hop_length 160 = 10 ms, centred frames).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct StftParams {
    /// Sample rate in Hz of the audio the frames come from.
    pub sample_rate: u32,
    /// FFT length in samples; frames are this long. Sets the frequency resolution sr/n_fft.
    pub n_fft: usize,
    /// Length of the Hann window in samples (<= n_fft), centred in the frame.
    pub win_length: usize,
    /// Samples between the starts of consecutive frames.
    pub hop_length: usize,
    /// Pad `n_fft/2` zeros at both ends so frame t is centred on sample t·hop_length.
    pub center: bool,
}

impl Default for StftParams {
    fn default() -> Self {
        StftParams { sample_rate: 16_000, n_fft: 1024, win_length: 400, hop_length: 160, center: true }
    }
}

impl StftParams {
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    pub fn validate(&self) -> Result<(), DspError> {
        if self.sample_rate == 0 {
            return Err(DspError::InvalidParameter { name: "sample_rate", value: 0.0, expected: "> 0 Hz" });
        }
        if self.n_fft < 2 || self.n_fft % 2 != 0 {
            return Err(DspError::InvalidParameter {
                name: "n_fft",
                value: self.n_fft as f64,
                expected: "an even number >= 2",
            });
        }
        if self.win_length == 0 || self.win_length > self.n_fft {
            return Err(DspError::InvalidParameter {
                name: "win_length",
                value: self.win_length as f64,
                expected: "1 <= win_length <= n_fft",
            });
        }
        if self.hop_length == 0 {
            return Err(DspError::InvalidParameter { name: "hop_length", value: 0.0, expected: ">= 1" });
        }
        Ok(())
    }
}

/// Power spectrum of a frame. Static memory: two `N`-float buffers plus the FFT plan.
pub struct Stft<const N: usize = { super::MAX_N_FFT }> {
    params: StftParams,
    fft: RealFft,
    window: Vec<f32, N>,
    buf: Vec<f32, N>,
    /// First and one-past-last non-zero window sample.
    support: (usize, usize),
}

impl<const N: usize> Stft<N> {
    pub fn new(params: &StftParams, backend: FftBackend) -> Result<Self, DspError> {
        let mut s = Self::empty();
        s.init(params, backend)?;
        Ok(s)
    }

    /// A placeholder of no length (`n_fft` 0), to be set up by [`Stft::init`]: a `static`
    /// can hold it without the two `N`-float buffers ever passing through the stack.
    pub const fn empty() -> Self {
        Stft {
            params: StftParams { sample_rate: 0, n_fft: 0, win_length: 0, hop_length: 0, center: false },
            fft: RealFft::empty(),
            window: Vec::new(),
            buf: Vec::new(),
            support: (0, 0),
        }
    }

    /// Sets this STFT up for `params` in place (what [`Stft::new`] returns); on error it is
    /// left as [`Stft::empty`].
    pub fn init(&mut self, params: &StftParams, backend: FftBackend) -> Result<(), DspError> {
        self.reset_empty();
        params.validate()?;
        check_capacity("n_fft", params.n_fft, N)?;
        let fft = RealFft::new(params.n_fft, backend)?;
        if let Err(e) = window::hann_padded_into(&mut self.window, params.win_length, params.n_fft) {
            self.reset_empty();
            return Err(e);
        }
        let left = (params.n_fft - params.win_length) / 2;
        let _ = self.buf.resize(params.n_fft, 0.0);
        self.fft = fft;
        self.params = *params;
        self.support = (left, left + params.win_length);
        Ok(())
    }

    fn reset_empty(&mut self) {
        self.params = StftParams { sample_rate: 0, n_fft: 0, win_length: 0, hop_length: 0, center: false };
        self.fft = RealFft::empty();
        self.window.clear();
        self.buf.clear();
        self.support = (0, 0);
    }

    pub fn params(&self) -> &StftParams {
        &self.params
    }

    pub fn n_bins(&self) -> usize {
        self.params.n_bins()
    }

    pub fn backend(&self) -> FftBackend {
        self.fft.backend()
    }

    /// Windows `frame` (length n_fft) and writes its power spectrum into `power` (n_fft/2+1).
    pub fn power(&mut self, frame: &[f32], power: &mut [f32]) -> Result<(), DspError> {
        check_len("frame", frame.len(), self.params.n_fft)?;
        let (a, b) = self.support;
        // The FFT uses `buf` as scratch, so the zeros outside the window support are rewritten
        // every frame.
        self.buf[..a].fill(0.0);
        self.buf[b..].fill(0.0);
        for ((o, &x), &w) in self.buf[a..b].iter_mut().zip(&frame[a..b]).zip(&self.window[a..b]) {
            *o = x * w;
        }
        self.fft.power(&mut self.buf, power)
    }
}

impl<const N: usize> FrameFeature for Stft<N> {
    fn frame_length(&self) -> usize {
        self.params.n_fft
    }
    fn n_features(&self) -> usize {
        self.n_bins()
    }
    fn process(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        self.power(frame, out)
    }
}

/// Log power spectrum of a frame in dB, `10·log10(max(amin, |X[k]|²))`: the STFT spectrogram of
/// 000/001 and 002, on the log-mel map's scale (librosa `power_to_db(np.abs(stft(y))**2,
/// ref=1.0, amin, top_db=None)`). Same framing and window as [`Stft`]; the floor is the front
/// end's `mel.amin`.
pub struct LogStft<const N: usize = { super::MAX_N_FFT }> {
    stft: Stft<N>,
    amin: f32,
}

impl<const N: usize> LogStft<N> {
    pub fn new(params: &StftParams, amin: f32, backend: FftBackend) -> Result<Self, DspError> {
        if !(amin >= f32::MIN_POSITIVE) || !amin.is_finite() {
            return Err(DspError::InvalidParameter { name: "amin", value: amin as f64, expected: "a finite floor > 0" });
        }
        Ok(LogStft { stft: Stft::new(params, backend)?, amin })
    }

    pub fn n_bins(&self) -> usize {
        self.stft.n_bins()
    }
}

impl<const N: usize> FrameFeature for LogStft<N> {
    fn frame_length(&self) -> usize {
        self.stft.params().n_fft
    }
    fn n_features(&self) -> usize {
        self.n_bins()
    }
    fn process(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        self.stft.power(frame, out)?;
        math::power_to_db(out, self.amin);
        Ok(())
    }
}

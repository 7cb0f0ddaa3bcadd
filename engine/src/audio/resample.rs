//! Sample-rate conversion (FSDD is 8 kHz, the models run at 16 kHz), streaming or whole-clip,
//! with the filter delay compensated so that output sample `m` sits at time `m / to`, exactly
//! where input sample `n` sits at `n / from`.
//!
//! # Filter
//! `rubato`'s synchronous FFT resampler ([`rubato::Fft`]): each block of `N` input frames is
//! convolved (by FFT, zero-padded to `2N`, so without wrap-around) with an `N`-tap windowed sinc
//! and re-synthesised at the output rate. We choose it over `rubato`'s asynchronous sinc
//! interpolator because our ratios are fixed and rational: the FFT resampler is exact in the
//! ratio, cheaper per sample, and its delay is a whole number of output frames.
//!
//! * Window: Blackman-Harris squared (rubato's default), whose sidelobes are far below `f32`
//!   precision, so the stopband is limited by arithmetic, not by the window.
//! * Length: `N ≈ 2048` input frames (rounded up to a multiple of `from / gcd(from, to)` and an
//!   even number of those, so the delay `N/2` maps to a whole number of output frames). With
//!   that length `rubato` puts the −6 dB point at 0.993 of the lower Nyquist frequency
//!   (3.97 kHz at 8 ↔ 16 kHz). Measured (`tests/tests/audio_resample.rs`): tones up to 0.97 of
//!   the lower Nyquist frequency (3.88 kHz at 8 ↔ 16 kHz, 7.76 kHz at 48 → 16 kHz) come out
//!   within 2e-6 of the analytic tone, below the 16-bit quantization step (3.1e-5); tones above
//!   the output Nyquist frequency leave less than 1e-7 RMS (−140 dB, the `f32` floor). The
//!   transition band is the last 3 % below Nyquist.
//! * Latency: `N/2` input frames (128 ms at 8 kHz, 21 ms at 48 kHz); the streaming
//!   [`Resampler`] drops that many leading output frames and [`Resampler::flush`] pushes silence
//!   to get the last ones out, so the output never lags.
//! * Arithmetic in `f32`: the FFT round-off (≈ 1e-6 of full scale) is below the 16-bit
//!   quantization step of the data we resample.
//!
//! # Length and equivalence
//! A clip of `len` frames becomes `round(len · to / from)` frames (half-way rounds up).
//! [`resample`] is literally a [`Resampler`] fed the whole clip and flushed, and the resampler
//! works in fixed blocks whatever the size of the pushes, so a clip streamed in chunks of any
//! sizes gives bit-identical output. Equal rates pass the samples through untouched.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler as _, WindowFunction};

use super::AudioError;

/// Input frames per FFT block we aim for (see the module doc for the resulting quality).
const TARGET_BLOCK_IN: usize = 2048;
/// Largest block (input or output frames) we accept: rates whose ratio reduces to huge
/// numbers (999 983 → 1 000 000 Hz) would need enormous FFTs.
const MAX_BLOCK: usize = 1 << 20;

/// Streaming resampler from `from` Hz to `to` Hz for one mono stream.
///
/// Push chunks of any size with [`push`](Resampler::push); the output comes out through a
/// callback in blocks, already delay-compensated. End the clip with
/// [`flush`](Resampler::flush), which emits the rest so the total is `round(len · to / from)`
/// and readies the resampler for the next clip. Every buffer is allocated in [`Resampler::new`];
/// `push` and `flush` do not allocate.
pub struct Resampler {
    from: u32,
    to: u32,
    /// `None` when the rates are equal (passthrough).
    engine: Option<Box<Engine>>,
}

struct Engine {
    fft: Fft<f32>,
    block_in: usize,
    block_out: usize,
    in_buf: Vec<f32>,
    in_fill: usize,
    out_buf: Vec<f32>,
    /// Output frames of filter delay (dropped at the start of each clip).
    delay: usize,
    /// Delay frames still to drop in this clip.
    skip: usize,
    consumed: u64,
    emitted: u64,
}

impl std::fmt::Debug for Resampler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resampler")
            .field("from", &self.from)
            .field("to", &self.to)
            .field("block_in", &self.block_len())
            .field("delay", &self.delay_frames())
            .finish()
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `round(len · to / from)`, half-way up: the number of frames a clip of `len` frames has after
/// resampling.
pub fn output_len(len: u64, from: u32, to: u32) -> u64 {
    if from == 0 {
        return 0;
    }
    let (len, from, to) = (u128::from(len), u128::from(from), u128::from(to));
    ((len * to + from / 2) / from) as u64
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz (equal rates: bit-exact passthrough).
    pub fn new(from: u32, to: u32) -> Result<Self, AudioError> {
        if from == 0 || to == 0 {
            return Err(AudioError::Resample { from, to, reason: "sample rates must be at least 1 Hz".into() });
        }
        if from == to {
            return Ok(Resampler { from, to, engine: None });
        }
        let g = gcd(u64::from(from), u64::from(to));
        let (min_in, min_out) = ((u64::from(from) / g) as usize, (u64::from(to) / g) as usize);
        // An even number of minimum blocks keeps the delay (half a block) a whole frame count.
        let mut k = TARGET_BLOCK_IN.div_ceil(min_in).max(1);
        k += k % 2;
        let (block_in, block_out) = (k * min_in, k * min_out);
        if block_in > MAX_BLOCK || block_out > MAX_BLOCK {
            return Err(AudioError::Resample {
                from,
                to,
                reason: format!(
                    "the ratio {to}/{from} reduces to {min_out}/{min_in}, which needs a {block_in}-frame FFT block; \
                     resample through an intermediate rate with a simpler ratio"
                ),
            });
        }
        let rubato_err = |e: &dyn std::fmt::Display| AudioError::Resample { from, to, reason: e.to_string() };
        let fft = Fft::<f32>::new_custom(
            from as usize,
            to as usize,
            block_in,
            1,
            1,
            WindowFunction::BlackmanHarris2,
            FixedSync::Both,
        )
        .map_err(|e| rubato_err(&e))?;
        // We rely on one block in, one block out, delay = half a block; check rubato agrees.
        if fft.input_frames_next() != block_in || fft.output_frames_next() != block_out || fft.output_delay() * 2 != block_out {
            return Err(rubato_err(&format!(
                "rubato chose blocks of {} → {} frames with delay {}, expected {block_in} → {block_out} with delay {}",
                fft.input_frames_next(),
                fft.output_frames_next(),
                fft.output_delay(),
                block_out / 2
            )));
        }
        let delay = block_out / 2;
        let engine = Engine {
            fft,
            block_in,
            block_out,
            in_buf: vec![0.0; block_in],
            in_fill: 0,
            out_buf: vec![0.0; block_out],
            delay,
            skip: delay,
            consumed: 0,
            emitted: 0,
        };
        Ok(Resampler { from, to, engine: Some(Box::new(engine)) })
    }

    pub fn from_rate(&self) -> u32 {
        self.from
    }

    pub fn to_rate(&self) -> u32 {
        self.to
    }

    /// True when the rates are equal and samples pass through untouched.
    pub fn is_identity(&self) -> bool {
        self.engine.is_none()
    }

    /// Input frames per internal block (1 for the passthrough).
    pub fn block_len(&self) -> usize {
        self.engine.as_ref().map_or(1, |e| e.block_in)
    }

    /// Output frames per internal block: the most one callback of [`push`](Resampler::push)
    /// receives (for the passthrough, the push's own length).
    pub fn block_out_len(&self) -> usize {
        self.engine.as_ref().map_or(1, |e| e.block_out)
    }

    /// Filter delay in output frames; compensated, but it is the latency of a live stream.
    pub fn delay_frames(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| e.delay)
    }

    /// −6 dB point of the anti-aliasing filter in Hz (the input Nyquist frequency for the
    /// passthrough).
    pub fn cutoff_hz(&self) -> f64 {
        let nyquist_in = f64::from(self.from) / 2.0;
        self.engine.as_ref().map_or(nyquist_in, |e| f64::from(e.fft.cutoff()) * nyquist_in)
    }

    /// Most output frames [`flush`](Resampler::flush) can emit (the unprocessed partial
    /// block plus the delay tail): size a buffer that collects it with this.
    pub fn max_flush_len(&self) -> usize {
        self.engine.as_ref().map_or(0, |e| 2 * e.block_out)
    }

    /// Feeds `input`; `emit` receives every completed piece of output, in order.
    pub fn push<E: From<AudioError>>(
        &mut self,
        input: &[f32],
        mut emit: impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        let Some(e) = self.engine.as_deref_mut() else {
            return if input.is_empty() { Ok(()) } else { emit(input) };
        };
        let mut rest = input;
        while !rest.is_empty() {
            let take = (e.block_in - e.in_fill).min(rest.len());
            e.in_buf[e.in_fill..e.in_fill + take].copy_from_slice(&rest[..take]);
            e.in_fill += take;
            e.consumed += take as u64;
            rest = &rest[take..];
            if e.in_fill == e.block_in {
                // Output before the flush never exceeds the final length: k blocks in give
                // k·block_out − delay frames out, less than round(k·block_in · to/from).
                let range = e.process_block(self.from, self.to, u64::MAX)?;
                if !range.is_empty() {
                    emit(&e.out_buf[range])?;
                }
            }
        }
        Ok(())
    }

    /// Ends the clip: pads with silence until the output reaches `round(len · to / from)`
    /// frames, emits the rest, and resets for the next clip.
    pub fn flush<E: From<AudioError>>(&mut self, mut emit: impl FnMut(&[f32]) -> Result<(), E>) -> Result<(), E> {
        let (from, to) = (self.from, self.to);
        let Some(e) = self.engine.as_deref_mut() else {
            return Ok(());
        };
        let target = output_len(e.consumed, from, to);
        while e.emitted < target {
            e.in_buf[e.in_fill..].fill(0.0);
            e.in_fill = e.block_in;
            let range = e.process_block(from, to, target)?;
            if !range.is_empty() {
                emit(&e.out_buf[range])?;
            }
        }
        self.reset();
        Ok(())
    }

    /// Forgets the current clip (buffered input, filter state, delay bookkeeping).
    pub fn reset(&mut self) {
        if let Some(e) = self.engine.as_deref_mut() {
            e.fft.reset();
            e.in_fill = 0;
            e.skip = e.delay;
            e.consumed = 0;
            e.emitted = 0;
        }
    }
}

impl Engine {
    /// Resamples the full input block into `out_buf`; returns the part of it to emit (after the
    /// delay still to drop, and up to `limit` frames emitted in total).
    fn process_block(&mut self, from: u32, to: u32, limit: u64) -> Result<std::ops::Range<usize>, AudioError> {
        let err = |reason: String| AudioError::Resample { from, to, reason };
        let input = InterleavedSlice::new(&self.in_buf[..], 1, self.block_in).map_err(|e| err(e.to_string()))?;
        let mut output =
            InterleavedSlice::new_mut(&mut self.out_buf[..], 1, self.block_out).map_err(|e| err(e.to_string()))?;
        let (_, produced) = self.fft.process_into_buffer(&input, &mut output, None).map_err(|e| err(e.to_string()))?;
        self.in_fill = 0;
        let start = self.skip.min(produced);
        self.skip -= start;
        let end = start + ((produced - start) as u64).min(limit - self.emitted) as usize;
        self.emitted += (end - start) as u64;
        Ok(start..end)
    }
}

/// Resamples a whole clip from `from` Hz to `to` Hz: `round(len · to / from)` frames, time-aligned
/// with the input, identical to streaming the clip through a [`Resampler`].
pub fn resample(samples: &[f32], from: u32, to: u32) -> Result<Vec<f32>, AudioError> {
    let mut r = Resampler::new(from, to)?;
    let mut out = Vec::with_capacity(output_len(samples.len() as u64, from, to) as usize);
    let mut collect = |chunk: &[f32]| -> Result<(), AudioError> {
        out.extend_from_slice(chunk);
        Ok(())
    };
    r.push(samples, &mut collect)?;
    r.flush(&mut collect)?;
    Ok(out)
}

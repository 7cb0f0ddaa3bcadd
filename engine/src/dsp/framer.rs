//! Framing of a sample stream into overlapping frames, exactly as librosa frames a clip.
//!
//! Frame `t` holds samples `[t·hop, t·hop + frame_length)` of the (optionally padded) signal.
//! With `center = true` the signal is padded with `frame_length / 2` zeros at both ends
//! (librosa's `center=True, pad_mode="constant"`), giving `1 + len / hop` frames; the start
//! padding is applied at construction, the end padding by [`Framer::finish`]. With
//! `center = false` there is no padding and `1 + (len - frame_length) / hop` frames
//! (none if `len < frame_length`).
//!
//! We pad with zeros rather than librosa's old `reflect` default because reflection needs
//! samples from the future at the start of a stream; constant padding is also librosa 0.11's
//! default. The framer never allocates: its buffer holds one frame (`frame_length <= N`).

use super::{check_capacity, DspError};
use heapless::Vec;

/// Streaming framer with a buffer of capacity `N` samples.
#[derive(Debug, Clone)]
pub struct Framer<const N: usize = { super::MAX_N_FFT }> {
    frame_length: usize,
    hop_length: usize,
    center: bool,
    buf: Vec<f32, N>,
    /// Samples still to discard before the buffer fills again (only when hop > frame_length).
    skip: usize,
    frames: u64,
    finished: bool,
}

impl<const N: usize> Framer<N> {
    pub fn new(frame_length: usize, hop_length: usize, center: bool) -> Result<Self, DspError> {
        let mut f = Self::empty();
        f.init(frame_length, hop_length, center)?;
        Ok(f)
    }

    /// A placeholder (frame length 0), to be set up by [`Framer::init`]: a `static` can hold
    /// it without its `N`-float buffer ever passing through the stack.
    pub const fn empty() -> Self {
        Framer { frame_length: 0, hop_length: 0, center: false, buf: Vec::new(), skip: 0, frames: 0, finished: false }
    }

    /// Sets this framer up in place (what [`Framer::new`] returns); unchanged on error.
    pub fn init(&mut self, frame_length: usize, hop_length: usize, center: bool) -> Result<(), DspError> {
        check_capacity("frame_length", frame_length, N)?;
        if frame_length == 0 {
            return Err(DspError::InvalidParameter { name: "frame_length", value: 0.0, expected: ">= 1" });
        }
        if hop_length == 0 {
            return Err(DspError::InvalidParameter { name: "hop_length", value: 0.0, expected: ">= 1" });
        }
        self.frame_length = frame_length;
        self.hop_length = hop_length;
        self.center = center;
        self.reset();
        Ok(())
    }

    /// Returns the framer to its state before the first sample.
    pub fn reset(&mut self) {
        self.buf.clear();
        self.skip = 0;
        self.frames = 0;
        self.finished = false;
        if self.center {
            for _ in 0..self.frame_length / 2 {
                let _ = self.buf.push(0.0);
            }
        }
    }

    pub fn frame_length(&self) -> usize {
        self.frame_length
    }
    pub fn hop_length(&self) -> usize {
        self.hop_length
    }
    pub fn center(&self) -> bool {
        self.center
    }
    /// Frames emitted so far.
    pub fn frames_emitted(&self) -> u64 {
        self.frames
    }

    /// Number of frames a clip of `len` samples yields (librosa's count).
    pub fn frame_count(&self, len: usize) -> usize {
        // centred: frame_length/2 zeros on each side (librosa's `center=True`; for an odd
        // frame length the padded clip is one sample shorter than len + frame_length)
        let padded = if self.center { len + 2 * (self.frame_length / 2) } else { len };
        if padded < self.frame_length {
            0
        } else {
            1 + (padded - self.frame_length) / self.hop_length
        }
    }

    /// Pushes samples, calling `on_frame` with every frame completed by them.
    pub fn push<E>(&mut self, samples: &[f32], on_frame: impl FnMut(&[f32]) -> Result<(), E>) -> Result<(), E> {
        self.push_mapped(samples, |x| x, on_frame)
    }

    /// As [`push`](Self::push), with `map` applied to every incoming sample (a per-sample gain).
    pub fn push_mapped<E>(
        &mut self,
        mut samples: &[f32],
        map: impl Fn(f32) -> f32,
        mut on_frame: impl FnMut(&[f32]) -> Result<(), E>,
    ) -> Result<(), E> {
        debug_assert!(!self.finished, "push after finish without reset");
        while !samples.is_empty() {
            if self.skip > 0 {
                let k = self.skip.min(samples.len());
                self.skip -= k;
                samples = &samples[k..];
                continue;
            }
            let need = self.frame_length - self.buf.len();
            let k = need.min(samples.len());
            for &x in &samples[..k] {
                // Cannot overflow: at most `frame_length <= N` samples are held.
                let _ = self.buf.push(map(x));
            }
            samples = &samples[k..];
            if self.buf.len() == self.frame_length {
                self.emit(&mut on_frame)?;
            }
        }
        Ok(())
    }

    /// Every frame of a whole clip, exactly the frames `reset` + `push(samples)` + `finish`
    /// emit, without streaming: each frame that lies inside the clip is passed as a slice of
    /// `samples` (no copy, no shift of a frame buffer per hop); only the edge frames of a
    /// centred framing, which overhang the clip, are assembled in the buffer with their zero
    /// padding. Leaves the framer finished (as after `finish`); `reset` starts a new stream.
    pub fn clip<E>(&mut self, samples: &[f32], mut on_frame: impl FnMut(&[f32]) -> Result<(), E>) -> Result<(), E> {
        self.reset();
        let (fl, hop) = (self.frame_length, self.hop_length);
        let len = samples.len();
        // a centred framing starts fl/2 samples before the clip
        let lead = if self.center { (fl / 2) as isize } else { 0 };
        for t in 0..self.frame_count(len) {
            let start = (t * hop) as isize - lead;
            let end = start + fl as isize;
            if start >= 0 && end <= len as isize {
                on_frame(&samples[start as usize..end as usize])?;
            } else {
                self.buf.clear();
                for i in start..end {
                    let v = if i >= 0 && i < len as isize { samples[i as usize] } else { 0.0 };
                    // Cannot overflow: exactly `frame_length <= N` samples.
                    let _ = self.buf.push(v);
                }
                on_frame(&self.buf)?;
            }
            self.frames += 1;
        }
        self.buf.clear();
        self.finished = true;
        Ok(())
    }

    /// Ends the stream: applies the end padding (if `center`) and emits the remaining frames.
    pub fn finish<E>(&mut self, mut on_frame: impl FnMut(&[f32]) -> Result<(), E>) -> Result<(), E> {
        if self.finished {
            return Ok(());
        }
        if self.center {
            let mut pad = self.frame_length / 2;
            // Feed the zero padding in small pieces so no buffer is needed for it.
            const ZEROS: [f32; 64] = [0.0; 64];
            while pad > 0 {
                let k = pad.min(ZEROS.len());
                self.push_mapped(&ZEROS[..k], |x| x, &mut on_frame)?;
                pad -= k;
            }
        }
        self.finished = true;
        Ok(())
    }

    fn emit<E>(&mut self, on_frame: &mut impl FnMut(&[f32]) -> Result<(), E>) -> Result<(), E> {
        on_frame(&self.buf)?;
        self.frames += 1;
        let hop = self.hop_length;
        if hop >= self.frame_length {
            self.skip = hop - self.frame_length;
            self.buf.clear();
        } else {
            let n = self.buf.len();
            self.buf.copy_within(hop..n, 0);
            self.buf.truncate(n - hop);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::Framer;
    use std::vec::Vec;

    fn streamed(f: &mut Framer<64>, x: &[f32], pieces: usize) -> Vec<Vec<f32>> {
        let mut frames = Vec::new();
        f.reset();
        for chunk in x.chunks(pieces.max(1)) {
            f.push(chunk, |fr| -> Result<(), ()> {
                frames.push(fr.to_vec());
                Ok(())
            })
            .unwrap();
        }
        f.finish(|fr| -> Result<(), ()> {
            frames.push(fr.to_vec());
            Ok(())
        })
        .unwrap();
        frames
    }

    /// `clip` emits exactly the frames of the stream (same count, same samples, same zero
    /// padding), for centred and uncentred framings, hops shorter and longer than the frame,
    /// and clips shorter than one frame or than half of one.
    #[test]
    fn clip_equals_the_stream() {
        for &(fl, hop, center) in &[(16usize, 4usize, true), (16, 4, false), (15, 4, true), (8, 11, false), (8, 11, true), (64, 10, true)] {
            for len in [0usize, 1, 3, 7, 8, 16, 17, 40, 101] {
                let x: Vec<f32> = (0..len).map(|i| (i as f32 * 0.37).sin() + 1.5).collect();
                let mut f = Framer::<64>::new(fl, hop, center).unwrap();
                let want = streamed(&mut f, &x, 5);
                let mut got = Vec::new();
                f.clip(&x, |fr| -> Result<(), ()> {
                    got.push(fr.to_vec());
                    Ok(())
                })
                .unwrap();
                assert_eq!(got, want, "frame {fl}, hop {hop}, centred {center}, {len} samples");
                assert_eq!(f.frames_emitted() as usize, want.len());
                assert_eq!(want.len(), f.frame_count(len));
            }
        }
    }
}

//! Training-time augmentation in the certified space (003 §5), in this order on the
//! gain-normalized window:
//! 1. speed perturbation (the window resampled about its centre by a random factor, which moves
//!    pitch and tempo together, as a different vocal tract and speaking rate do);
//!    Then, optionally, a pitch shift in ±P semitones with the tempo kept (the window
//!    time-stretched by WSOLA, then resampled back to its length: [`pitch_shift`]);
//! 2. a random time shift;
//! 3. room reverberation: the window convolved with the impulse response of a random simulated
//!    room ([`Rooms`]: `crate::room`'s image method, offices and living rooms), its RMS restored;
//! 4. background noise: a random stretch of a random clip of a [`Background`] bank (ESC-10's
//!    environmental sounds, say) mixed in at a random SNR (speech power over noise power, over
//!    the window);
//! 5. a random gain in ±G dB (the device's microphone gain; the product's gain-robustness
//!    story: a model served with a fixed gain hears louder and softer voices than it was
//!    normalized to);
//! 6. waveform Gaussian noise N(0, σ²I), as randomized smoothing adds it (003 trains with
//!    σ = 0.005);
//! 7. for feature models, SpecAugment's masks on the front end's output (Park et al. 2019,
//!    "SpecAugment", §2: two frequency masks of width U{0..F} and two time masks of width
//!    U{0..T}, here filled with the example's mean feature value).
//!
//! Every draw comes from a generator seeded by (seed, epoch, example), so an epoch's data do not
//! depend on batch order or threads. A step that is off draws nothing, so recipes that do not
//! use the later steps give the bytes they gave before those steps existed.

use crate::device::derive_seed;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Standard deviation of the waveform noise (0 = none).
    pub sigma: f32,
    /// Probability that a clip gets noise at all (1 = always, as in 003).
    pub noise_prob: f32,
    /// Largest time shift in samples, either way; the vacated samples are zeros.
    pub max_shift: usize,
    /// Largest relative speed change, either way (0.1: factors in [0.9, 1.1]; 0 = none).
    #[serde(default)]
    pub speed: f32,
    /// Largest pitch shift in semitones, either way, tempo kept (0 = none).
    #[serde(default)]
    pub pitch: f32,
    /// Probability that a clip is reverberated (needs a [`Rooms`] bank; 0 = never).
    #[serde(default)]
    pub reverb_prob: f32,
    /// Largest gain change in dB, either way (20: gains in [-20, +20] dB; 0 = none).
    #[serde(default)]
    pub gain_db: f32,
    /// Probability that a clip gets background noise (needs a [`Background`] bank; 0 = never).
    #[serde(default)]
    pub background_prob: f32,
    /// SNR range of the background noise in dB, `[low, high]`, drawn uniformly.
    #[serde(default = "default_snr")]
    pub snr_db: [f32; 2],
    /// Largest width of each of the two frequency masks, in bins (feature models; 0 = none).
    #[serde(default)]
    pub freq_mask: usize,
    /// Largest width of each of the two time masks, in frames (feature models; 0 = none).
    #[serde(default)]
    pub time_mask: usize,
}

fn default_snr() -> [f32; 2] {
    [0.0, 20.0]
}

/// Masks of each kind that SpecAugment draws (its LibriSpeech policies use two).
pub const MASKS: usize = 2;

/// Clips whose stretches are mixed into training windows as background noise, resampled to the
/// training rate once.
#[derive(Debug, Clone, Default)]
pub struct Background {
    pub clips: Vec<Vec<f32>>,
}

impl Background {
    /// Every `.wav` file directly in `dir` (sorted by name, so the bank and its draws are
    /// reproducible), mono, resampled to `sample_rate`; clips of digital silence are left out.
    /// With `folds`, only files named `K-…` for K in `folds` (ESC-50/ESC-10's fold prefix), so
    /// that the noise a model trains with and the noise it is tested with can differ.
    pub fn load(dir: &std::path::Path, sample_rate: u32, folds: Option<&[u32]>) -> crate::error::Result<Self> {
        use crate::error::ToolsError;
        let in_folds = |p: &std::path::Path| match folds {
            None => true,
            Some(f) => p
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.split_once('-'))
                .and_then(|(k, _)| k.parse::<u32>().ok())
                .is_some_and(|k| f.contains(&k)),
        };
        let mut paths: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| ToolsError::io(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wav")) && in_folds(p))
            .collect();
        paths.sort();
        let mut clips = Vec::with_capacity(paths.len());
        for p in &paths {
            let clip = soundproof::audio::read_mono(p).map_err(|e| ToolsError::dataset(p.display().to_string(), format!("background clip: {e}")))?;
            let x = soundproof::audio::resample(&clip.samples, clip.sample_rate, sample_rate)
                .map_err(|e| ToolsError::dataset(p.display().to_string(), format!("background clip: {e}")))?;
            if x.iter().any(|&v| v != 0.0) {
                clips.push(x);
            }
        }
        if clips.is_empty() {
            return Err(ToolsError::invalid("background", dir.display(), "a folder with at least one non-silent .wav clip"));
        }
        Ok(Background { clips })
    }
}

/// Impulse responses of simulated rooms (drawn once from a seed), with their spectra for FFT
/// convolution with windows of one length.
pub struct Rooms {
    pub rirs: Vec<Vec<f32>>,
    window: usize,
    spectra: Vec<Vec<realfft::num_complex::Complex32>>,
    forward: std::sync::Arc<dyn realfft::RealToComplex<f32>>,
    inverse: std::sync::Arc<dyn realfft::ComplexToReal<f32>>,
}

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms").field("rooms", &self.rirs.len()).field("window", &self.window).finish()
    }
}

impl Rooms {
    /// `count` rooms of `crate::room::RoomDistribution::default()` (3-8 m × 3-8 m × 2.5-4 m,
    /// absorption 0.2-0.8, source and microphone 0.5-3 m apart), responses cut at `seconds`,
    /// for windows of `window` samples.
    pub fn new(count: usize, seconds: f64, sample_rate: u32, window: usize, seed: u64) -> crate::error::Result<Self> {
        use crate::room::RoomDistribution;
        let len = ((seconds * sample_rate as f64).round() as usize).max(1);
        let dist = RoomDistribution::default();
        let mut rng = StdRng::seed_from_u64(derive_seed(seed, &[0x5200_4D53]));
        let rirs = (0..count).map(|_| dist.sample(&mut rng).impulse_response(sample_rate, len)).collect::<crate::error::Result<Vec<_>>>()?;
        Self::from_responses(rirs, window)
    }

    /// Given impulse responses.
    pub fn from_responses(rirs: Vec<Vec<f32>>, window: usize) -> crate::error::Result<Self> {
        let len = rirs.iter().map(Vec::len).max().unwrap_or(1);
        let n = (window + len).next_power_of_two();
        let mut planner = realfft::RealFftPlanner::<f32>::new();
        let (forward, inverse) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
        let mut spectra = Vec::with_capacity(rirs.len());
        for h in &rirs {
            let mut buf = vec![0.0f32; n];
            buf[..h.len()].copy_from_slice(h);
            let mut spec = forward.make_output_vec();
            forward.process(&mut buf, &mut spec).map_err(|e| crate::error::ToolsError::Onnx(format!("room FFT: {e}")))?;
            spectra.push(spec);
        }
        Ok(Rooms { rirs, window, spectra, forward, inverse })
    }

    /// `out ← g · (h_r * out)[..n]`, the first `n` samples of the (causal) convolution with
    /// room `r`, `g` restoring the window's RMS; a window of another length than the bank's, or
    /// a silent one, is left unchanged.
    pub fn reverberate(&self, r: usize, out: &mut [f32]) {
        use soundproof::dsp::gain::rms;
        let n = out.len();
        let before = rms(out);
        if n != self.window || before == 0.0 {
            return;
        }
        let size = self.forward.len();
        let mut buf = vec![0.0f32; size];
        buf[..n].copy_from_slice(out);
        let mut spec = self.forward.make_output_vec();
        if self.forward.process(&mut buf, &mut spec).is_err() {
            return;
        }
        for (a, b) in spec.iter_mut().zip(&self.spectra[r]) {
            *a *= *b;
        }
        if self.inverse.process(&mut spec, &mut buf).is_err() {
            return;
        }
        let after = rms(&buf[..n]);
        if after > 0.0 {
            let g = before / after;
            for (o, &v) in out.iter_mut().zip(&buf) {
                *o = g * v;
            }
        }
    }
}

/// The clip banks some augmentation steps draw from (none: those steps are skipped).
#[derive(Debug, Default)]
pub struct Banks {
    pub background: Option<Background>,
    pub rooms: Option<Rooms>,
}

impl Banks {
    pub const NONE: Banks = Banks { background: None, rooms: None };
}

impl Augment {
    pub const NONE: Augment = Augment {
        sigma: 0.0,
        noise_prob: 0.0,
        max_shift: 0,
        speed: 0.0,
        pitch: 0.0,
        reverb_prob: 0.0,
        gain_db: 0.0,
        background_prob: 0.0,
        snr_db: [0.0, 20.0],
        freq_mask: 0,
        time_mask: 0,
    };

    /// True when no step draws anything: every training window is its clean self, so its
    /// features can be computed once and reused every epoch ([`super::features::Batcher`]).
    pub fn is_identity(&self) -> bool {
        (self.sigma == 0.0 || self.noise_prob <= 0.0)
            && self.max_shift == 0
            && self.speed == 0.0
            && self.pitch == 0.0
            && self.reverb_prob <= 0.0
            && self.gain_db == 0.0
            && self.background_prob <= 0.0
            && self.freq_mask == 0
            && self.time_mask == 0
    }

    /// Waveform noise only (what evaluation under noise uses).
    pub const fn noise(sigma: f32) -> Augment {
        Augment { sigma, noise_prob: 1.0, ..Augment::NONE }
    }

    /// The generator of one example in one epoch.
    pub fn rng(seed: u64, epoch: u64, example: u64) -> StdRng {
        StdRng::seed_from_u64(derive_seed(seed, &[epoch, example]))
    }

    /// Writes the augmented `clean` into `out` (same length): steps 1-6 of the module doc.
    /// Reverberation and background noise need their bank in `banks`; without it that step is
    /// skipped.
    pub fn apply(&self, clean: &[f32], banks: &Banks, rng: &mut StdRng, out: &mut [f32]) {
        let n = clean.len();
        if self.speed > 0.0 {
            let r = 1.0 + rng.random_range(-self.speed..=self.speed) as f64;
            resample_about_centre(clean, r, out);
        } else {
            out.copy_from_slice(clean);
        }
        if self.pitch > 0.0 {
            let semitones = rng.random_range(-self.pitch..=self.pitch) as f64;
            let shifted = pitch_shift(out, semitones);
            out.copy_from_slice(&shifted);
        }
        let max = self.max_shift.min(n.saturating_sub(1)) as i64;
        let shift = if max > 0 { rng.random_range(-max..=max) } else { 0 };
        if shift >= 0 {
            let k = shift as usize;
            out.copy_within(..n - k, k);
            out[..k].fill(0.0);
        } else {
            let k = (-shift) as usize;
            out.copy_within(k.., 0);
            out[n - k..].fill(0.0);
        }
        if let Some(rooms) = banks.rooms.as_ref().filter(|r| self.reverb_prob > 0.0 && !r.rirs.is_empty()) {
            if rng.random::<f32>() < self.reverb_prob {
                rooms.reverberate(rng.random_range(0..rooms.rirs.len()), out);
            }
        }
        if let Some(bank) = banks.background.as_ref().filter(|b| self.background_prob > 0.0 && !b.clips.is_empty()) {
            if rng.random::<f32>() < self.background_prob {
                let clip = &bank.clips[rng.random_range(0..bank.clips.len())];
                let start = if clip.len() > n { rng.random_range(0..=clip.len() - n) } else { 0 };
                let [lo, hi] = self.snr_db;
                let snr = if hi > lo { rng.random_range(lo..=hi) } else { lo };
                mix_at_snr(out, &clip[start..clip.len().min(start + n)], snr);
            }
        }
        if self.gain_db > 0.0 {
            let db = rng.random_range(-self.gain_db..=self.gain_db);
            let g = 10f32.powf(db / 20.0);
            out.iter_mut().for_each(|v| *v *= g);
        }
        if self.sigma > 0.0 && self.noise_prob > 0.0 && (self.noise_prob >= 1.0 || rng.random::<f32>() < self.noise_prob) {
            for v in out.iter_mut() {
                let z: f32 = StandardNormal.sample(rng);
                *v += self.sigma * z;
            }
        }
    }

    /// Step 7: SpecAugment's masks on one example's features (`frames × bins`, frame-major),
    /// each masked stretch set to the example's mean. Draws nothing when both widths are 0.
    pub fn mask(&self, rng: &mut StdRng, features: &mut [f32], frames: usize, bins: usize) {
        if self.freq_mask == 0 && self.time_mask == 0 {
            return;
        }
        debug_assert_eq!(features.len(), frames * bins);
        let mean = (features.iter().map(|&v| v as f64).sum::<f64>() / features.len().max(1) as f64) as f32;
        for _ in 0..MASKS {
            if self.freq_mask > 0 {
                let w = rng.random_range(0..=self.freq_mask.min(bins));
                let f0 = rng.random_range(0..=bins - w);
                for row in features.chunks_exact_mut(bins) {
                    row[f0..f0 + w].fill(mean);
                }
            }
        }
        for _ in 0..MASKS {
            if self.time_mask > 0 {
                let w = rng.random_range(0..=self.time_mask.min(frames));
                let t0 = rng.random_range(0..=frames - w);
                features[t0 * bins..(t0 + w) * bins].fill(mean);
            }
        }
    }
}

/// Adds `noise` (zero-padded to `out`'s length) to `out`, scaled so that the power of `out` over
/// that of the added noise is `snr_db`; silent speech or noise leaves `out` unchanged.
fn mix_at_snr(out: &mut [f32], noise: &[f32], snr_db: f32) {
    let n = out.len().max(1) as f64;
    let power = |v: &[f32]| v.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>() / n;
    let (ps, pn) = (power(out), power(noise));
    if ps <= 0.0 || pn <= 0.0 {
        return;
    }
    let k = (ps / (pn * 10f64.powf(snr_db as f64 / 10.0))).sqrt() as f32;
    for (o, &v) in out.iter_mut().zip(noise) {
        *o += k * v;
    }
}

/// `out[i] = x(c + (i - c)·r)` with `c` the window's centre, linear interpolation between
/// samples and zeros outside: played `r` times faster (`r > 1`: shorter and higher), still
/// centred.
/// WSOLA's frame (Hann) in samples: 32 ms at 16 kHz.
const WSOLA_FRAME: usize = 512;
/// How far WSOLA may move a frame from its nominal input position, either way.
const WSOLA_TOLERANCE: usize = WSOLA_FRAME / 8;

/// `x` time-stretched by `r` (about `r·len` samples, pitch kept) by WSOLA (Verhelst & Roelands
/// 1993): Hann frames overlap-added at half-frame hops, each read near its nominal input
/// position `k·hop/r`, moved by up to ±[`WSOLA_TOLERANCE`] to the offset whose frame best
/// continues the previous one (largest cross-correlation with the natural continuation).
/// Hand-written: a few dozen lines, where a crate would bring a phase vocoder and its own FFTs
/// for one augmentation.
pub fn time_stretch(x: &[f32], r: f64) -> Vec<f32> {
    let (n, frame, hop) = (x.len(), WSOLA_FRAME, WSOLA_FRAME / 2);
    let m = ((n as f64) * r).round() as usize;
    let at = |i: i64| if i >= 0 && (i as usize) < n { x[i as usize] } else { 0.0 };
    let window: Vec<f32> = (0..frame).map(|i| (0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / frame as f64).cos()) as f32).collect();
    let mut y = vec![0.0f32; m + frame];
    let mut prev: Option<i64> = None;
    let tol = WSOLA_TOLERANCE as i64;
    // Output frame k starts at k·hop - hop (so sample 0 is covered by two frames).
    for k in 0..=(m / hop + 1) {
        let out_start = k as i64 * hop as i64 - hop as i64;
        let nominal = (out_start as f64 / r).round() as i64;
        let start = match prev {
            None => nominal,
            Some(p) => {
                let natural = p + hop as i64;
                let mut best = (f32::NEG_INFINITY, nominal);
                for d in -tol..=tol {
                    let c = nominal + d;
                    let score: f32 = (0..frame as i64).step_by(2).map(|i| at(c + i) * at(natural + i)).sum();
                    if score > best.0 {
                        best = (score, c);
                    }
                }
                best.1
            }
        };
        for i in 0..frame {
            let o = out_start + i as i64;
            if o >= 0 && (o as usize) < y.len() {
                y[o as usize] += window[i] * at(start + i as i64);
            }
        }
        prev = Some(start);
    }
    y.truncate(m);
    y
}

/// `x` shifted in pitch by `semitones` with its length and tempo kept: time-stretched by
/// `r = 2^(semitones/12)` ([`time_stretch`]), then resampled by `r` back to `x.len()` samples.
pub fn pitch_shift(x: &[f32], semitones: f64) -> Vec<f32> {
    let r = 2f64.powf(semitones / 12.0);
    let stretched = time_stretch(x, r);
    let (n, m) = (x.len(), stretched.len());
    let (cx, cy) = ((n as f64 - 1.0) / 2.0, (m as f64 - 1.0) / 2.0);
    (0..n)
        .map(|i| {
            let t = cy + (i as f64 - cx) * r;
            let j = t.floor();
            let f = (t - j) as f32;
            let at = |k: f64| if k >= 0.0 && (k as usize) < m { stretched[k as usize] } else { 0.0 };
            (1.0 - f) * at(j) + f * at(j + 1.0)
        })
        .collect()
}

fn resample_about_centre(x: &[f32], r: f64, out: &mut [f32]) {
    let n = x.len();
    let c = (n as f64 - 1.0) / 2.0;
    for (i, o) in out.iter_mut().enumerate() {
        let t = c + (i as f64 - c) * r;
        let j = t.floor();
        let f = (t - j) as f32;
        let at = |k: f64| if k >= 0.0 && (k as usize) < n { x[k as usize] } else { 0.0 };
        *o = (1.0 - f) * at(j) + f * at(j + 1.0);
    }
}

#[cfg(test)]
mod tests {
    use super::{mix_at_snr, pitch_shift, resample_about_centre, time_stretch, Augment, Background, Banks, Rooms, MASKS};

    /// Zero crossings per second over samples `a..b`.
    fn crossing_rate(v: &[f32], a: usize, b: usize, rate: f64) -> f64 {
        v[a..b].windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count() as f64 * rate / (b - a) as f64
    }

    /// WSOLA keeps a tone's frequency while the length scales by r; the pitch shift moves a
    /// tone by 2^(s/12) and keeps a burst where it was (tempo kept), and 0 semitones is close
    /// to the identity.
    #[test]
    fn pitch_shift_moves_the_pitch_and_keeps_the_time() {
        let n = 16_000;
        let tone = |f: f64| -> Vec<f32> { (0..n).map(|i| (2.0 * std::f64::consts::PI * f * i as f64 / 16_000.0).sin() as f32).collect() };
        let x = tone(300.0);
        for r in [0.8, 1.25] {
            let y = time_stretch(&x, r);
            assert_eq!(y.len(), (n as f64 * r).round() as usize);
            let f = crossing_rate(&y, 1000, y.len() - 1000, 16_000.0) / 2.0;
            assert!((f - 300.0).abs() < 3.0, "stretch {r}: {f} Hz");
        }
        for s in [-3.0, 4.0] {
            let y = pitch_shift(&x, s);
            assert_eq!(y.len(), n);
            let want = 300.0 * 2f64.powf(s / 12.0);
            let f = crossing_rate(&y, 3000, 13_000, 16_000.0) / 2.0;
            assert!((f - want).abs() < 0.01 * want, "{s} semitones: {f} Hz, want {want}");
        }
        // A burst from 0.25 to 0.75 s stays there.
        let burst: Vec<f32> = x.iter().enumerate().map(|(i, v)| if (4000..12_000).contains(&i) { *v } else { 0.0 }).collect();
        let y = pitch_shift(&burst, 4.0);
        let energy = |a: usize, b: usize| y[a..b].iter().map(|v| (v * v) as f64).sum::<f64>() / (b - a) as f64;
        assert!(energy(4800, 11_200) > 0.3, "the burst lost its energy: {}", energy(4800, 11_200));
        assert!(energy(0, 3200) < 1e-3 && energy(12_800, n) < 1e-3, "the burst moved: {} {}", energy(0, 3200), energy(12_800, n));
        let same = pitch_shift(&x, 0.0);
        let err: f64 = x[1000..15_000].iter().zip(&same[1000..15_000]).map(|(a, b)| ((a - b) as f64).powi(2)).sum::<f64>() / 14_000.0;
        assert!(err < 1e-4, "0 semitones changed the signal: {err}");
    }

    /// A sine resampled by r has r times its frequency (zero crossings counted), keeps its
    /// centre sample, and r = 1 is the identity.
    #[test]
    fn speed_perturbation_scales_the_frequency_about_the_centre() {
        let n = 16_001;
        let x: Vec<f32> = (0..n).map(|i| (2.0 * std::f64::consts::PI * 200.0 * (i as f64 - 8000.0) / 16_000.0).sin() as f32).collect();
        let crossings = |v: &[f32]| v[4000..12000].windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count() as f64;
        let mut y = vec![0.0; n];
        resample_about_centre(&x, 1.0, &mut y);
        assert_eq!(x, y);
        for r in [0.9, 1.1] {
            resample_about_centre(&x, r, &mut y);
            assert_eq!(y[8000], x[8000]);
            let ratio = crossings(&y) / crossings(&x);
            assert!((ratio - r).abs() < 0.01, "r {r}: {ratio}");
        }
        let a = Augment { speed: 0.1, ..Augment::NONE };
        let (mut p, mut q) = (vec![0.0; n], vec![0.0; n]);
        a.apply(&x, &Banks::NONE, &mut Augment::rng(1, 2, 3), &mut p);
        a.apply(&x, &Banks::NONE, &mut Augment::rng(1, 2, 3), &mut q);
        assert_eq!(p, q);
        let ratio = crossings(&p) / crossings(&x);
        assert!((0.89..=1.11).contains(&ratio), "{ratio}");
    }

    #[test]
    fn seeded_and_shifted() {
        let clean: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let a = Augment { noise_prob: 1.0, max_shift: 10, ..Augment::NONE };
        let (mut x, mut y) = (vec![0.0; 100], vec![0.0; 100]);
        a.apply(&clean, &Banks::NONE, &mut Augment::rng(1, 2, 3), &mut x);
        a.apply(&clean, &Banks::NONE, &mut Augment::rng(1, 2, 3), &mut y);
        assert_eq!(x, y);
        // A pure shift: consecutive differences stay 1 where both samples are real.
        let ones = x.windows(2).filter(|w| w[0] != 0.0 && (w[1] - w[0] - 1.0).abs() < 1e-6).count();
        assert!(ones >= 80);
        let noisy = Augment::noise(0.5);
        noisy.apply(&clean, &Banks::NONE, &mut Augment::rng(1, 2, 3), &mut x);
        let var: f32 = x.iter().zip(&clean).map(|(a, b)| (a - b) * (a - b)).sum::<f32>() / 100.0;
        assert!((var - 0.25).abs() < 0.1, "noise variance {var}");
    }

    fn power(v: &[f32]) -> f64 {
        v.iter().map(|&x| x as f64 * x as f64).sum::<f64>() / v.len() as f64
    }

    /// The mixed-in noise has exactly the drawn SNR against the window (closed form: power of
    /// the window over power of what was added), a shorter noise clip is zero-padded, and
    /// silent noise leaves the window alone.
    #[test]
    fn background_is_mixed_at_the_requested_snr() {
        let speech: Vec<f32> = (0..1000).map(|i| (i as f32 * 0.05).sin()).collect();
        let noise: Vec<f32> = (0..1000).map(|i| ((i * 7919) % 13) as f32 - 6.0).collect();
        for snr in [0.0f32, 10.0, 20.0] {
            let mut out = speech.clone();
            mix_at_snr(&mut out, &noise, snr);
            let added: Vec<f32> = out.iter().zip(&speech).map(|(a, b)| a - b).collect();
            let got = 10.0 * (power(&speech) / power(&added)).log10();
            assert!((got - snr as f64).abs() < 1e-3, "snr {snr}: {got}");
        }
        let mut out = speech.clone();
        mix_at_snr(&mut out, &noise[..400], 5.0);
        assert_eq!(&out[400..], &speech[400..]);
        let mut out = speech.clone();
        mix_at_snr(&mut out, &[0.0; 1000], 5.0);
        assert_eq!(out, speech);
    }

    /// Through `apply`: the SNR stays inside the declared range, one clip of the bank is used
    /// (the added signal is a scaled stretch of it), and the draws are seeded.
    #[test]
    fn background_step_draws_from_the_bank_within_the_snr_range() {
        let speech: Vec<f32> = (0..800).map(|i| (i as f32 * 0.03).sin()).collect();
        let clip: Vec<f32> = (0..3000).map(|i| ((i * 31) % 17) as f32 - 8.0).collect();
        let bank = Banks { background: Some(Background { clips: vec![clip.clone()] }), rooms: None };
        let a = Augment { background_prob: 1.0, snr_db: [5.0, 15.0], ..Augment::NONE };
        let mut hits = 0;
        for ex in 0..20 {
            let mut out = vec![0.0; 800];
            a.apply(&speech, &bank, &mut Augment::rng(7, 1, ex), &mut out);
            let mut again = vec![0.0; 800];
            a.apply(&speech, &bank, &mut Augment::rng(7, 1, ex), &mut again);
            assert_eq!(out, again);
            let added: Vec<f32> = out.iter().zip(&speech).map(|(a, b)| a - b).collect();
            let snr = 10.0 * (power(&speech) / power(&added)).log10();
            assert!((5.0 - 1e-3..=15.0 + 1e-3).contains(&snr), "{snr}");
            // added = k · clip[start..start + 800] for one start (least-squares k, exact fit).
            let found = (0..=clip.len() - 800).any(|st| {
                let seg = &clip[st..st + 800];
                let k = added.iter().zip(seg).map(|(a, c)| a * c).sum::<f32>() / seg.iter().map(|c| c * c).sum::<f32>();
                added.iter().zip(seg).all(|(a, c)| (a - k * c).abs() < 1e-3)
            });
            hits += found as usize;
        }
        assert_eq!(hits, 20);
        // Without a bank the step is skipped and draws nothing.
        let mut out = vec![0.0; 800];
        a.apply(&speech, &Banks::NONE, &mut Augment::rng(7, 1, 0), &mut out);
        assert_eq!(out, speech);
    }

    /// The gain step scales the whole window by a factor inside ±G dB, and reaches both ends.
    #[test]
    fn gain_stays_within_its_range() {
        let x: Vec<f32> = (1..=100).map(|i| i as f32).collect();
        let a = Augment { gain_db: 20.0, ..Augment::NONE };
        let (mut lo, mut hi) = (f32::MAX, f32::MIN);
        for ex in 0..400 {
            let mut out = vec![0.0; 100];
            a.apply(&x, &Banks::NONE, &mut Augment::rng(3, 0, ex), &mut out);
            let g = out[0] / x[0];
            assert!(out.iter().zip(&x).all(|(o, v)| (o / v - g).abs() < 1e-5 * g));
            let db = 20.0 * g.log10();
            assert!((-20.0 - 1e-3..=20.0 + 1e-3).contains(&db), "{db}");
            lo = lo.min(db);
            hi = hi.max(db);
        }
        assert!(lo < -18.0 && hi > 18.0, "{lo} {hi}");
    }

    /// SpecAugment: masked bins and frames hold the mean, at most MASKS stretches of at most
    /// F bins / T frames each, and no widths means no draws.
    #[test]
    fn masks_cover_bounded_stretches_with_the_mean() {
        let (frames, bins) = (20, 16);
        let feats: Vec<f32> = (0..frames * bins).map(|i| 1.0 + i as f32).collect();
        let mean = feats.iter().sum::<f32>() / feats.len() as f32;
        let a = Augment { freq_mask: 4, time_mask: 3, ..Augment::NONE };
        let mut any = false;
        for ex in 0..50 {
            let mut f = feats.clone();
            a.mask(&mut Augment::rng(1, 1, ex), &mut f, frames, bins);
            let masked_bins: Vec<usize> = (0..bins).filter(|&b| (0..frames).all(|t| f[t * bins + b] == mean)).collect();
            let masked_frames: Vec<usize> = (0..frames).filter(|&t| f[t * bins..(t + 1) * bins].iter().all(|&v| v == mean)).collect();
            assert!(masked_bins.len() <= MASKS * 4, "{masked_bins:?}");
            assert!(masked_frames.len() <= MASKS * 3, "{masked_frames:?}");
            // Everything changed lies in a masked bin or frame.
            for t in 0..frames {
                for b in 0..bins {
                    if f[t * bins + b] != feats[t * bins + b] {
                        assert!(masked_bins.contains(&b) || masked_frames.contains(&t));
                    }
                }
            }
            any |= !masked_bins.is_empty() && !masked_frames.is_empty();
        }
        assert!(any);
        let mut f = feats.clone();
        let mut rng = Augment::rng(1, 1, 0);
        Augment::NONE.mask(&mut rng, &mut f, frames, bins);
        assert_eq!(f, feats);
        use rand::RngExt;
        assert_eq!(rng.random::<u64>(), Augment::rng(1, 1, 0).random::<u64>());
    }

    /// Reverberation is the convolution with the room's response, checked against the direct
    /// sum, RMS restored; and a bank of simulated rooms is reproducible from its seed.
    #[test]
    fn reverberation_convolves_with_the_room_response() {
        let x: Vec<f32> = (0..500).map(|i| ((i * 37) % 23) as f32 / 11.0 - 1.0).collect();
        let h = vec![1.0f32, 0.0, 0.5, -0.25, 0.0, 0.0, 0.125];
        let rooms = Rooms::from_responses(vec![h.clone()], 500).unwrap();
        let mut y = x.clone();
        rooms.reverberate(0, &mut y);
        let direct: Vec<f64> = (0..500).map(|i| (0..h.len()).filter(|&k| k <= i).map(|k| h[k] as f64 * x[i - k] as f64).sum()).collect();
        let rms = |v: &[f64]| (v.iter().map(|a| a * a).sum::<f64>() / v.len() as f64).sqrt();
        let xr = rms(&x.iter().map(|&v| v as f64).collect::<Vec<_>>());
        let g = xr / rms(&direct);
        for (a, b) in y.iter().zip(&direct) {
            assert!((*a as f64 - g * b).abs() < 1e-4, "{a} {}", g * b);
        }
        let yr = rms(&y.iter().map(|&v| v as f64).collect::<Vec<_>>());
        assert!((yr - xr).abs() < 1e-4 * xr);
        let (a, b) = (Rooms::new(3, 0.05, 16_000, 1000, 9).unwrap(), Rooms::new(3, 0.05, 16_000, 1000, 9).unwrap());
        assert_eq!(a.rirs, b.rirs);
        assert!(a.rirs.iter().all(|h| h.len() == 800 && h.iter().any(|&v| v > 0.0)));
        assert_ne!(a.rirs[0], a.rirs[1]);
    }
}

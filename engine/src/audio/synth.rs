//! Seeded synthetic signals for tests, demos and benchmarks: tones, linear and logarithmic
//! chirps, white Gaussian noise, and sums of them.
//!
//! A [`Synth`] is a sum of [`Component`]s evaluated at `t = n / sample_rate`. Deterministic
//! parts are computed in `f64` from the sample index (no accumulated phase drift over an hour of
//! audio); the noise comes from one `StdRng` (ChaCha12 in rand 0.10) seeded with the reported
//! [`Synth::seed`], one standard-normal draw per noise component per sample in component order.
//! Samples therefore depend only on (components, sample rate, seed, index): the same seed gives
//! the same samples however the stream is chunked.

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};

use super::AudioError;

/// How a chirp's instantaneous frequency moves from `f0` to `f1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChirpKind {
    /// `f(t) = f0 + (f1 - f0) · t / T`.
    Linear,
    /// `f(t) = f0 · (f1 / f0)^(t / T)` (exponential sweep, equal time per octave).
    Logarithmic,
}

/// One term of a synthetic signal. Frequencies in Hz, times in seconds, phases in radians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Component {
    /// `amplitude · sin(2π · freq · t + phase)`.
    Tone { freq: f64, amplitude: f64, phase: f64 },
    /// `amplitude · sin(φ(t))` with `φ(0) = 0` and `φ'(t) = 2π f(t)` sweeping `f0` (t = 0) to
    /// `f1` (t = `duration`), as `scipy.signal.chirp` but with sine phase; after `duration`
    /// the sweep goes on at the same law.
    Chirp { f0: f64, f1: f64, duration: f64, amplitude: f64, kind: ChirpKind },
    /// White Gaussian noise of standard deviation `sigma`.
    Noise { sigma: f64 },
}

impl Component {
    pub fn tone(freq: f64, amplitude: f64, phase: f64) -> Self {
        Component::Tone { freq, amplitude, phase }
    }
    pub fn chirp(f0: f64, f1: f64, duration: f64, amplitude: f64, kind: ChirpKind) -> Self {
        Component::Chirp { f0, f1, duration, amplitude, kind }
    }
    pub fn noise(sigma: f64) -> Self {
        Component::Noise { sigma }
    }

    fn validate(&self, sample_rate: u32) -> Result<(), AudioError> {
        let nyquist = f64::from(sample_rate) / 2.0;
        let freq = |name: &'static str, f: f64, positive: bool| {
            let ok = f.is_finite() && f <= nyquist && if positive { f > 0.0 } else { f >= 0.0 };
            if ok {
                Ok(())
            } else if positive {
                Err(AudioError::invalid(name, f, "a frequency in (0, sample_rate / 2] Hz"))
            } else {
                Err(AudioError::invalid(name, f, "a frequency in [0, sample_rate / 2] Hz (higher ones alias)"))
            }
        };
        let finite = |name: &'static str, v: f64| {
            if v.is_finite() {
                Ok(())
            } else {
                Err(AudioError::invalid(name, v, "a finite number"))
            }
        };
        match *self {
            Component::Tone { freq: f, amplitude, phase } => {
                freq("freq", f, false)?;
                finite("amplitude", amplitude)?;
                finite("phase", phase)
            }
            Component::Chirp { f0, f1, duration, amplitude, kind } => {
                let positive = kind == ChirpKind::Logarithmic;
                freq("f0", f0, positive)?;
                freq("f1", f1, positive)?;
                finite("amplitude", amplitude)?;
                if duration.is_finite() && duration > 0.0 {
                    Ok(())
                } else {
                    Err(AudioError::invalid("duration", duration, "a positive number of seconds"))
                }
            }
            Component::Noise { sigma } => {
                if sigma.is_finite() && sigma >= 0.0 {
                    Ok(())
                } else {
                    Err(AudioError::invalid("sigma", sigma, "a finite standard deviation >= 0"))
                }
            }
        }
    }

    /// The deterministic value at time `t` (noise: 0).
    fn value(&self, t: f64) -> f64 {
        use std::f64::consts::TAU;
        match *self {
            Component::Tone { freq, amplitude, phase } => amplitude * (TAU * freq * t + phase).sin(),
            Component::Chirp { f0, f1, duration, amplitude, kind } => {
                let phi = match kind {
                    ChirpKind::Linear => TAU * (f0 * t + 0.5 * (f1 - f0) * t * t / duration),
                    // Equal ends make the logarithmic law degenerate (0/0); it is a tone then.
                    ChirpKind::Logarithmic if f0 == f1 => TAU * f0 * t,
                    ChirpKind::Logarithmic => {
                        let ratio = f1 / f0;
                        TAU * f0 * duration / ratio.ln() * (ratio.powf(t / duration) - 1.0)
                    }
                };
                amplitude * phi.sin()
            }
            Component::Noise { .. } => 0.0,
        }
    }
}

/// A seeded sum of components, generated sample by sample.
#[derive(Debug)]
pub struct Synth {
    sample_rate: u32,
    seed: u64,
    components: Vec<Component>,
    rng: StdRng,
    index: u64,
}

impl Synth {
    /// A signal at `sample_rate` Hz that is the sum of `components` (none: silence); `seed`
    /// drives the noise components.
    pub fn new(sample_rate: u32, seed: u64, components: &[Component]) -> Result<Self, AudioError> {
        if sample_rate == 0 {
            return Err(AudioError::invalid("sample_rate", 0, ">= 1 Hz"));
        }
        for c in components {
            c.validate(sample_rate)?;
        }
        Ok(Synth { sample_rate, seed, components: components.to_vec(), rng: StdRng::seed_from_u64(seed), index: 0 })
    }

    /// The seed of the noise generator (report it with any result that used this signal).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// Index of the next sample.
    pub fn position(&self) -> u64 {
        self.index
    }

    /// Back to sample 0 with the generator reseeded: the same samples again.
    pub fn reset(&mut self) {
        self.rng = StdRng::seed_from_u64(self.seed);
        self.index = 0;
    }

    /// Writes the next `out.len()` samples.
    pub fn fill(&mut self, out: &mut [f32]) {
        let sr = f64::from(self.sample_rate);
        for o in out.iter_mut() {
            let t = self.index as f64 / sr;
            let mut v = 0.0f64;
            for c in &self.components {
                v += match *c {
                    Component::Noise { sigma } => {
                        let z: f64 = StandardNormal.sample(&mut self.rng);
                        sigma * z
                    }
                    _ => c.value(t),
                };
            }
            *o = v as f32;
            self.index += 1;
        }
    }

    /// The next `frames` samples as a vector.
    pub fn render(&mut self, frames: usize) -> Vec<f32> {
        let mut v = vec![0.0; frames];
        self.fill(&mut v);
        v
    }
}

//! Simulated rooms, for the room-robust attack of 004 §4.2 and for reverberation in training
//! (`data::augment`): room impulse responses (RIRs) by the image-source method of Allen &
//! Berkley ("Image method for efficiently simulating small-room acoustics", J. Acoust. Soc. Am.
//! 65(4), 1979) for a shoebox room, random rooms drawn from a seeded generator, and the
//! reverberation `t(x) = g · (h * x)` the attack averages over.
//!
//! Image method: mirroring the source in the six walls, again and again, gives image sources
//! at `((1 − 2pₓ)·sₓ + 2nₓLₓ, …)` for `p ∈ {0, 1}³`, `n ∈ ℤ³`; the wave from each reaches the
//! microphone after `d / c` seconds with amplitude `β^{Σ |n − p| + |n|} / (4πd)`, `d` the
//! image-microphone distance, `c` = 343 m/s and `β = √(1 − a)` the pressure reflection
//! coefficient of walls of energy absorption `a` (the same for all six walls). Each arrival is
//! rounded to the nearest sample, as in Allen & Berkley; their optional high-pass filter is
//! left out. The response is cut at its `len` samples (late arrivals are dropped).
//!
//! The gain `g` (one per clip and room) restores the clean clip's RMS after the room,
//! `g = RMS(x) / RMS(h * x)`, as a microphone pipeline with a gain calibrated on the clean
//! recording would; it is computed on the clean clip, so `t` stays linear in `x + δ`.

use crate::device::derive_seed;
use crate::error::{Result, ToolsError};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// Speed of sound in m/s (air at about 20 °C).
pub const SPEED_OF_SOUND: f64 = 343.0;

/// A shoebox room `[0, Lx] × [0, Ly] × [0, Lz]` (metres) with a source and a microphone inside.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Room {
    pub size: [f64; 3],
    pub source: [f64; 3],
    pub mic: [f64; 3],
    /// Energy absorption coefficient `a` of the walls, in `[0, 1]` (1: anechoic).
    pub absorption: f64,
}

impl Room {
    pub fn validate(&self) -> Result<()> {
        for d in 0..3 {
            if !(self.size[d].is_finite() && self.size[d] > 0.0) {
                return Err(ToolsError::invalid("room size", self.size[d], "a positive length in metres"));
            }
            for (name, p) in [("source", self.source[d]), ("mic", self.mic[d])] {
                if !(p > 0.0 && p < self.size[d]) {
                    return Err(ToolsError::invalid(if name == "source" { "source position" } else { "mic position" }, p, "strictly inside the room"));
                }
            }
        }
        if !(0.0..=1.0).contains(&self.absorption) {
            return Err(ToolsError::invalid("absorption", self.absorption, "a coefficient in [0, 1]"));
        }
        Ok(())
    }

    /// Source-microphone distance in metres.
    pub fn distance(&self) -> f64 {
        (0..3).map(|d| (self.source[d] - self.mic[d]).powi(2)).sum::<f64>().sqrt()
    }

    /// The first `len` samples of the impulse response at `sample_rate` (image method, above).
    pub fn impulse_response(&self, sample_rate: u32, len: usize) -> Result<Vec<f32>> {
        self.validate()?;
        let beta = (1.0 - self.absorption).sqrt();
        let fs = sample_rate as f64;
        let reach = len as f64 / fs * SPEED_OF_SOUND;
        let mut h = vec![0.0f64; len];
        // Images further than `reach` arrive after the end; |n| beyond this bound are all further.
        let bound = |l: f64| (reach / (2.0 * l)).ceil() as i64 + 1;
        let (bx, by, bz) = (bound(self.size[0]), bound(self.size[1]), bound(self.size[2]));
        // Per axis: the offset of the image from the microphone and the number of reflections.
        let axis = |d: usize, n: i64, p: i64| {
            let img = (1 - 2 * p) as f64 * self.source[d] + 2.0 * n as f64 * self.size[d];
            (img - self.mic[d], ((n - p).abs() + n.abs()) as i32)
        };
        for nx in -bx..=bx {
            for px in 0..2 {
                let (dx, rx) = axis(0, nx, px);
                if dx.abs() > reach {
                    continue;
                }
                for ny in -by..=by {
                    for py in 0..2 {
                        let (dy, ry) = axis(1, ny, py);
                        if dx * dx + dy * dy > reach * reach {
                            continue;
                        }
                        for nz in -bz..=bz {
                            for pz in 0..2 {
                                let (dz, rz) = axis(2, nz, pz);
                                let d = (dx * dx + dy * dy + dz * dz).sqrt();
                                let t = (d / SPEED_OF_SOUND * fs).round() as usize;
                                if t < len {
                                    h[t] += beta.powi(rx + ry + rz) / (4.0 * std::f64::consts::PI * d);
                                }
                            }
                        }
                    }
                }
            }
        }
        Ok(h.into_iter().map(|v| v as f32).collect())
    }
}

/// The distribution rooms are drawn from (uniform in every range).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct RoomDistribution {
    /// Smallest and largest room, metres per axis.
    pub size_min: [f64; 3],
    pub size_max: [f64; 3],
    /// Range of the wall absorption coefficient.
    pub absorption: (f64, f64),
    /// Source and microphone stay this far from every wall (metres).
    pub margin: f64,
    /// Range of the source-microphone distance (metres).
    pub distance: (f64, f64),
}

impl Default for RoomDistribution {
    /// Offices and living rooms: 3-8 m × 3-8 m × 2.5-4 m, absorption 0.2-0.8 (Sabine RT60 about
    /// 0.1-0.6 s), source and microphone 0.5 m from the walls and 0.5-3 m apart.
    fn default() -> Self {
        RoomDistribution { size_min: [3.0, 3.0, 2.5], size_max: [8.0, 8.0, 4.0], absorption: (0.2, 0.8), margin: 0.5, distance: (0.5, 3.0) }
    }
}

impl RoomDistribution {
    /// One room. The microphone is redrawn until the distance falls in range (at most 1000
    /// tries; the last draw is kept).
    pub fn sample(&self, rng: &mut StdRng) -> Room {
        let mut u = |lo: f64, hi: f64| if hi > lo { rng.random_range(lo..hi) } else { lo };
        let size: [f64; 3] = std::array::from_fn(|d| u(self.size_min[d], self.size_max[d]));
        let absorption = u(self.absorption.0, self.absorption.1);
        let m = self.margin;
        let source: [f64; 3] = std::array::from_fn(|d| u(m, size[d] - m));
        let mut mic = source;
        for _ in 0..1000 {
            mic = std::array::from_fn(|d| u(m, size[d] - m));
            let dist = (0..3).map(|d| (source[d] - mic[d]).powi(2)).sum::<f64>().sqrt();
            if dist >= self.distance.0 && dist <= self.distance.1 {
                break;
            }
        }
        Room { size, source, mic, absorption }
    }
}

/// A pool of impulse responses on the device, `[P, len]`, drawn once from a seed.
pub struct RirPool {
    pub rooms: Vec<Room>,
    /// `[P, len]`.
    pub rirs: Tensor,
}

impl RirPool {
    /// `count` rooms from `dist`, room `i` from the generator seeded by `(seed, i)`.
    pub fn new(dist: &RoomDistribution, count: usize, sample_rate: u32, len: usize, seed: u64, device: Device) -> Result<Self> {
        if count == 0 || len == 0 {
            return Err(ToolsError::invalid("room pool", format!("{count} rooms × {len} samples"), "at least one room and one sample"));
        }
        let mut rooms = Vec::with_capacity(count);
        let mut flat = Vec::with_capacity(count * len);
        for i in 0..count {
            let room = dist.sample(&mut StdRng::seed_from_u64(derive_seed(seed, &[i as u64])));
            flat.extend(room.impulse_response(sample_rate, len)?);
            rooms.push(room);
        }
        let rirs = Tensor::from_slice(&flat).reshape([count as i64, len as i64]).to_device(device);
        Ok(RirPool { rooms, rirs })
    }

    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }
}

/// `h * x` cut to the length of `x` (causal, linear convolution by FFT): `x` `[B, T]`, `h`
/// `[B, K, L]` → `[B, K, T]`.
pub fn convolve(x: &Tensor, h: &Tensor) -> Tensor {
    let t = x.size()[1];
    let l = h.size()[2];
    let n = (t + l - 1).max(1) as u64;
    let n = n.next_power_of_two() as i64;
    let xf = x.to_kind(Kind::Float).fft_rfft(Some(n), -1, "backward").unsqueeze(1);
    let hf = h.to_kind(Kind::Float).fft_rfft(Some(n), -1, "backward");
    (xf * hf).fft_irfft(Some(n), -1, "backward").narrow(-1, 0, t)
}

/// The rooms `idx` (`[B, K]` indices into the pool) applied to `x` `[B, T]`, each with its gain
/// `g = RMS(clean) / RMS(h * clean)`: returns `[B·K, T]`.
pub fn reverberate(pool: &RirPool, idx: &Tensor, clean: &Tensor, x: &Tensor) -> Tensor {
    let (b, k) = (idx.size()[0], idx.size()[1]);
    let h = pool.rirs.index_select(0, &idx.reshape([-1])).reshape([b, k, -1]);
    let gain = tch::no_grad(|| {
        let rms = |v: &Tensor| v.square().mean_dim([-1].as_slice(), true, Kind::Float).sqrt();
        rms(clean).unsqueeze(1) / rms(&convolve(clean, &h)).clamp_min(1e-12)
    });
    (convolve(x, &h) * gain).reshape([b * k, -1])
}

/// How an adversarial example fares in held-out rooms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct RoomStats {
    pub rooms: usize,
    /// Fraction of the rooms where the adversarial input reaches the goal.
    pub fooled: f64,
    /// Fraction of the rooms where the clean input is still classified as the reference label.
    pub clean_correct: f64,
}

/// Every example of the batch in every room of `pool`: counts `2·B·P` forwards on `target`.
pub fn room_stats(target: &crate::attack::AttackTarget, pool: &RirPool, clean: &Tensor, adv: &Tensor, reference: &Tensor, goal: crate::attack::Goal) -> Result<Vec<RoomStats>> {
    let (b, p) = (clean.size()[0], pool.len() as i64);
    let idx = Tensor::arange(p, (Kind::Int64, clean.device())).unsqueeze(0).repeat([b, 1]);
    let refs = reference.unsqueeze(1).repeat([1, p]).reshape([-1]);
    let mut fooled = Vec::with_capacity(b as usize);
    let mut correct = Vec::with_capacity(b as usize);
    // One example at a time keeps the batch at P inputs.
    for i in 0..b {
        let sel = |t: &Tensor| t.narrow(0, i, 1);
        let r = refs.narrow(0, i * p, p);
        let a = target.predict(&reverberate(pool, &sel(&idx), &sel(clean), &sel(adv)));
        let c = target.predict(&reverberate(pool, &sel(&idx), &sel(clean), &sel(clean)));
        fooled.push(f64::try_from(goal.achieved(&a, &r).to_kind(Kind::Double).mean(Kind::Double))?);
        correct.push(f64::try_from(c.eq_tensor(&r).to_kind(Kind::Double).mean(Kind::Double))?);
    }
    Ok(fooled.into_iter().zip(correct).map(|(fooled, clean_correct)| RoomStats { rooms: p as usize, fooled, clean_correct }).collect())
}

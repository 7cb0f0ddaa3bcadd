//! Tensor arithmetic that several parts of the crate share, written once: the engine's STFT
//! framing in tch (the log-mel twin of [`crate::frontend`], the rebuilds of [`crate::rebuild`],
//! the psychoacoustic PSD of [`crate::attack::psycho`]) and Adam's update (CW-L2 and the
//! psychoacoustic attack).

use tch::{Kind, Tensor};

/// Complex STFT `[..., frames, n_fft/2 + 1]` of waveforms `[..., samples]` in the engine's
/// framing: with `center`, `n_fft/2` zeros at both ends first; then frames of `n_fft` samples
/// every `hop`, each times `window` (`[n_fft]`), and the unnormalized real FFT of each.
pub fn stft(x: &Tensor, n_fft: i64, hop: i64, window: &Tensor, center: bool) -> Tensor {
    let x = if center { x.constant_pad_nd([n_fft / 2, n_fft / 2]) } else { x.shallow_clone() };
    (x.unfold(-1, n_fft, hop) * window).fft_rfft(None, -1, "backward")
}

/// `|X|²` of a complex tensor as re² + im²: differentiable everywhere, unlike `|X|` at 0.
pub fn power(spec: &Tensor) -> Tensor {
    spec.view_as_real().square().sum_dim_intlist(-1, false, None::<Kind>)
}

/// Adam's β1.
pub const ADAM_BETA1: f64 = 0.9;
/// Adam's β2.
pub const ADAM_BETA2: f64 = 0.999;
/// Adam's ε.
pub const ADAM_EPS: f64 = 1e-8;

/// One Adam update (Kingma & Ba 2014, β1 = 0.9, β2 = 0.999, ε = 1e-8), elementwise: from the
/// moments `m`, `v` of the previous steps and the gradient `g` of step `t` (counted from 1), the
/// new moments and the step to subtract, `lr · m̂ / (√v̂ + ε)` with the bias-corrected moments.
pub fn adam_update(m: &Tensor, v: &Tensor, g: &Tensor, t: i32, lr: f64) -> (Tensor, Tensor, Tensor) {
    let m = m * ADAM_BETA1 + g * (1.0 - ADAM_BETA1);
    let v = v * ADAM_BETA2 + g.square() * (1.0 - ADAM_BETA2);
    let step = (&m / (1.0 - ADAM_BETA1.powi(t))) / ((&v / (1.0 - ADAM_BETA2.powi(t))).sqrt() + ADAM_EPS) * lr;
    (m, v, step)
}

/// Adam's state for one tensor of variables, stepped by [`adam_update`].
#[derive(Debug)]
pub struct Adam {
    m: Tensor,
    v: Tensor,
    t: i32,
}

impl Adam {
    /// Zero moments shaped like `like`.
    pub fn new(like: &Tensor) -> Self {
        Adam { m: like.zeros_like(), v: like.zeros_like(), t: 0 }
    }

    /// The step to subtract for gradient `g`.
    pub fn step(&mut self, g: &Tensor, lr: f64) -> Tensor {
        self.t += 1;
        let (m, v, step) = adam_update(&self.m, &self.v, g, self.t, lr);
        self.m = m;
        self.v = v;
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The framing equals the written-out arithmetic it replaced, bit for bit, centred or not.
    #[test]
    fn stft_power_is_the_framing() {
        // Deterministic inputs without tch's global generator: other tests of this binary seed
        // and draw from it on their own threads.
        let xs: Vec<f32> = (0..600).map(|i| ((i as f32) * 0.37).sin() + 0.1 * ((i as f32) * 1.9).cos()).collect();
        let x = Tensor::from_slice(&xs).reshape([2, 300]);
        let ws: Vec<f32> = (0..64).map(|i| 0.5 + 0.5 * ((i as f32) * 0.11).sin()).collect();
        let w = Tensor::from_slice(&ws);
        for center in [false, true] {
            let padded = if center { x.constant_pad_nd([32, 32]) } else { x.shallow_clone() };
            let spec = (padded.unfold(-1, 64, 16) * &w).fft_rfft(None, -1, "backward");
            let want = spec.view_as_real().square().sum_dim_intlist(-1, false, None::<Kind>);
            let got = power(&stft(&x, 64, 16, &w, center));
            assert_eq!(got.size(), [2, if center { 1 + 300 / 16 } else { 1 + (300 - 64) / 16 }, 33]);
            assert!(bool::try_from(got.eq_tensor(&want).all()).unwrap(), "center {center}");
        }
    }

    /// Adam's steps equal the textbook recurrence (β1 = 0.9, β2 = 0.999, ε = 1e-8) in f64.
    #[test]
    fn adam_follows_the_recurrence() {
        let g = [[0.5f64, -2.0], [1e-3, 3.0]];
        let mut adam = Adam::new(&Tensor::zeros([2], (Kind::Double, Device::Cpu)));
        let (mut m, mut v) = ([0.0f64; 2], [0.0f64; 2]);
        for (t, g) in g.iter().enumerate() {
            let step = Vec::<f64>::try_from(adam.step(&Tensor::from_slice(g), 0.1)).unwrap();
            for i in 0..2 {
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                let (mh, vh) = (m[i] / (1.0 - 0.9f64.powi(t as i32 + 1)), v[i] / (1.0 - 0.999f64.powi(t as i32 + 1)));
                let want = 0.1 * mh / (vh.sqrt() + 1e-8);
                assert!((step[i] - want).abs() <= 1e-12 * want.abs().max(1.0), "step {t}, {i}: {} vs {want}", step[i]);
            }
        }
    }
}

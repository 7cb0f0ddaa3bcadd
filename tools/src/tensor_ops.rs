//! Tensor arithmetic that several parts of the crate share, written once: the engine's STFT
//! framing in tch (the log-mel twin of [`crate::frontend`], the rebuilds of [`crate::rebuild`],
//! the psychoacoustic PSD of [`crate::attack::psycho`]).

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

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The framing equals the written-out arithmetic it replaced, bit for bit, centred or not.
    #[test]
    fn stft_power_is_the_framing() {
        tch::manual_seed(5);
        let x = Tensor::randn([2, 300], (Kind::Float, Device::Cpu));
        let w = Tensor::rand([64], (Kind::Float, Device::Cpu));
        for center in [false, true] {
            let padded = if center { x.constant_pad_nd([32, 32]) } else { x.shallow_clone() };
            let spec = (padded.unfold(-1, 64, 16) * &w).fft_rfft(None, -1, "backward");
            let want = spec.view_as_real().square().sum_dim_intlist(-1, false, None::<Kind>);
            let got = power(&stft(&x, 64, 16, &w, center));
            assert_eq!(got.size(), [2, if center { 1 + 300 / 16 } else { 1 + (300 - 64) / 16 }, 33]);
            assert!(bool::try_from(got.eq_tensor(&want).all()).unwrap(), "center {center}");
        }
    }
}

//! Analysis windows. librosa's convention: a *periodic* window of `win_length` samples
//! (`scipy.signal.get_window(..., fftbins=True)`), zero-padded to `n_fft` with the window
//! centred (`librosa.util.pad_center`: `(n_fft - win_length) / 2` zeros on the left).

use super::{check_capacity, math, DspError};
use heapless::Vec;

/// Periodic Hann window value `w[n] = 0.5 - 0.5 cos(2πn / win_length)`, computed in f64.
pub fn hann_periodic(n: usize, win_length: usize) -> f64 {
    0.5 - 0.5 * math::cos(2.0 * core::f64::consts::PI * n as f64 / win_length as f64)
}

/// Fills `out` (length `n_fft`) with a periodic Hann window of `win_length` centred in it.
pub fn hann_padded<const N: usize>(win_length: usize, n_fft: usize) -> Result<Vec<f32, N>, DspError> {
    let mut w: Vec<f32, N> = Vec::new();
    hann_padded_into(&mut w, win_length, n_fft)?;
    Ok(w)
}

/// [`hann_padded`] written into `w` in place (cleared first; left empty on error), so that a
/// caller holding the buffer in a static never builds it on the stack.
pub fn hann_padded_into<const N: usize>(w: &mut Vec<f32, N>, win_length: usize, n_fft: usize) -> Result<(), DspError> {
    w.clear();
    check_capacity("n_fft", n_fft, N)?;
    if win_length == 0 || win_length > n_fft {
        return Err(DspError::InvalidParameter {
            name: "win_length",
            value: win_length as f64,
            expected: "1 <= win_length <= n_fft",
        });
    }
    let left = (n_fft - win_length) / 2;
    for i in 0..n_fft {
        let v = if i >= left && i < left + win_length { hann_periodic(i - left, win_length) } else { 0.0 };
        // Capacity was checked above.
        let _ = w.push(v as f32);
    }
    Ok(())
}

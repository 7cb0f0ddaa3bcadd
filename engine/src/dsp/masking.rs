//! Psychoacoustic frequency-masking threshold θx of 004 (Qin et al., supplement §1, Steps 1-3,
//! Eq. 1-11) and the stable PSD of a perturbation (§2, Eq. 12-14): what the imperceptible attack
//! in `tools` keeps its perturbation under (DESIGN.md "Attacks").
//!
//! Per frame of `N = n_fft` samples (uncentred frames; 16 kHz, N = 2048, hop 512 are the
//! authors' settings, librosa's `stft(center=False)` defaults):
//!
//! * PSD (Eq. 12, in dB): `p_x(k) = 10·log10 |s_x(k) / N|²`, `s_x` the DFT of the frame times
//!   the periodic Hann window scaled by √(8/3) (the power-preserving window of the MPEG-1
//!   psychoacoustic model the paper follows; the scale cancels in every normalized quantity
//!   below), floored at [`PSD_FLOOR_DB`];
//! * normalization to a 96 dB sound pressure level: `p̄_x(k) = 96 − max p_x + p_x(k)`, the
//!   maximum taken over the whole clip (the authors' code and ART do so; a streaming caller may
//!   pass any fixed reference instead, see [`normalize_db`]);
//! * Step 1, maskers: bin `k`, `1 <= k < N/2`, is a masker when it is a local maximum (Eq. 1),
//!   lies on or above the threshold in quiet `ATH(k)` (Eq. 2-4), and has the highest PSD of
//!   all bins within ±0.5 Bark of it (Bark scale of Eq. 5); its level is then smoothed with its
//!   two neighbours (Eq. 6), `P(k) = 10·log10(Σ_{k-1..k+1} 10^{p̄_x/10})`;
//! * Step 2, individual thresholds (Eq. 7-10): `T[b(i), b(j)] = P(i) + Δm(b(i)) + SF[b(i), b(j)]`
//!   with `Δm(b) = −6.025 − 0.275·b` and the two-slope spreading function `SF = 27·Δb` for
//!   `Δb = b(j) − b(i) <= 0`, `(−27 + 0.37·max(P(i) − 40, 0))·Δb` above;
//! * Step 3, global threshold (Eq. 11): `θx(j) = 10·log10(10^{ATH(j)/10} + Σ_i 10^{T[b(i),b(j)]/10})`.
//!
//! Where the text leaves a choice, these readings (each conservative: fewer maskers, so a lower
//! threshold):
//!
//! * the three masker criteria apply to the PSD itself, and the level is smoothed afterwards
//!   (the text smooths "further", once the maskers are found); the ±0.5 Bark criterion compares
//!   with every bin of the window, so a masker is the maximum of its neighbourhood, whatever the
//!   order the bins are visited in. The authors' code and ART test the smoothed level and merge
//!   pairs of maskers one after the other; `tests/tests/masking_parity.rs` measures the
//!   difference;
//! * the threshold in quiet "only applies to the hearing range 20 Hz <= f <= 20 kHz": outside it
//!   nothing is heard, so `ATH = +∞` there (Eq. 3 itself grows without bound towards 0 Hz):
//!   no masker is admitted and `θx = +∞`, any perturbation energy there is inaudible. ART sets
//!   `ATH = −∞` there instead;
//! * Eq. 3 as printed, without the −12 dB offset of the authors' code and ART.
//!
//! The stable form of §2 replaces the dB quantities in the loss by powers: `p_δ(k) = |s_δ(k)/N|²`
//! (Eq. 12, [`MaskingThreshold::psd_power`]), `p̄_δ(k) = 10^{9.6}·p_δ(k) / max_k p_x(k)`
//! (Eq. 13, [`normalized_perturbation_psd`]) and `θx = 10^{θx/10}` (Eq. 14, [`db_to_power`]);
//! `p̄_δ <= θx` holds in powers exactly when it holds in dB.
//!
//! Memory: for capacity `N` the object holds `3N` f64, `3N` u16 and `2N` f32 values (about
//! 76 KiB for `N = 2048`) besides the FFT plan, sized at construction; nothing is allocated
//! afterwards (`tests/tests/no_alloc.rs`).

use super::{check_capacity, check_len, fft::RealFft, math, window, DspError, FftBackend};
use heapless::Vec;

/// Level the loudest PSD bin of the clip is normalized to, in dB (a 96 dB sound pressure level).
pub const NORMALIZED_PEAK_DB: f64 = 96.0;
/// Floor of [`MaskingThreshold::psd_db`]: `10·log10(1e-20)` (ART clips at the same level).
pub const PSD_FLOOR_DB: f32 = -200.0;
/// Half width of the window in which a masker must be the loudest bin, in Bark.
pub const BARK_HALF_WIDTH: f64 = 0.5;
/// The hearing range where the threshold in quiet applies, in Hz.
pub const HEARING_RANGE_HZ: (f64, f64) = (20.0, 20_000.0);

/// Critical-band rate in Bark of a frequency in Hz (004 Eq. 5):
/// `13·arctan(0.76 f / 1000) + 3.5·arctan((f / 7500)²)`.
pub fn bark(f_hz: f64) -> f64 {
    13.0 * math::atan(0.76 * f_hz / 1000.0) + 3.5 * math::atan((f_hz / 7500.0) * (f_hz / 7500.0))
}

/// Absolute threshold of hearing in dB (004 Eq. 3),
/// `3.64 (f/1000)^-0.8 − 6.5 exp(−0.6 (f/1000 − 3.3)²) + 10^-3 (f/1000)^4`, inside the hearing
/// range [`HEARING_RANGE_HZ`]; `+∞` outside it (nothing is heard there).
pub fn ath_db(f_hz: f64) -> f64 {
    if !(f_hz >= HEARING_RANGE_HZ.0 && f_hz <= HEARING_RANGE_HZ.1) {
        return f64::INFINITY;
    }
    let k = f_hz / 1000.0;
    3.64 * math::pow(k, -0.8) - 6.5 * math::exp(-0.6 * (k - 3.3) * (k - 3.3)) + 1e-3 * k * k * k * k
}

/// Analysis window sample `n` of `n_fft`: `√(8/3) · (0.5 − 0.5 cos(2πn / n_fft))`, the periodic
/// Hann window scaled to unit power.
pub fn window_value(n: usize, n_fft: usize) -> f64 {
    math::sqrt(8.0 / 3.0) * window::hann_periodic(n, n_fft)
}

/// `10^{db/10}` (004 Eq. 14: the threshold as a power; `+∞` stays `+∞`).
pub fn db_to_power(db: f32) -> f32 {
    math::pow(10.0, db as f64 / 10.0) as f32
}

/// The normalized PSD of a perturbation, `10^{9.6} · p_δ / max_k p_x` (004 Eq. 13): the same
/// shift by `96 dB − max p_x` as the clip's own normalization, in powers. `max_px` is the
/// clip's largest PSD power (`10^{max_db/10}` of [`MaskingThreshold::clip_psd_db`]).
pub fn normalized_perturbation_psd(p_delta: f32, max_px: f32) -> f32 {
    (p_delta as f64 * math::pow(10.0, NORMALIZED_PEAK_DB / 10.0) / max_px as f64) as f32
}

/// `p̄ = 96 − max_db + p`, in place: PSD in dB normalized so that a bin at `max_db` reads 96 dB.
pub fn normalize_db(psd_db: &mut [f32], max_db: f32) {
    let shift = (NORMALIZED_PEAK_DB - max_db as f64) as f32;
    for v in psd_db.iter_mut() {
        *v += shift;
    }
}

/// Framing of the threshold: 004's settings by default (16 kHz, 2048-sample frames, hop 512).
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
pub struct MaskingParams {
    /// Sample rate in Hz (sets the frequency of bin k, `k·sample_rate / n_fft`, Eq. 4).
    pub sample_rate: u32,
    /// Frame and FFT length N in samples (the window spans the whole frame).
    pub n_fft: usize,
    /// Samples between the starts of consecutive frames; frames are not centred (no padding).
    pub hop_length: usize,
}

impl Default for MaskingParams {
    fn default() -> Self {
        MaskingParams { sample_rate: 16_000, n_fft: 2048, hop_length: 512 }
    }
}

impl MaskingParams {
    pub fn n_bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Frequency of bin `k` in Hz (Eq. 4).
    pub fn bin_hz(&self, k: usize) -> f64 {
        k as f64 * self.sample_rate as f64 / self.n_fft as f64
    }

    /// Frames of a clip of `len` samples: `1 + (len − n_fft) / hop_length`, 0 when shorter than
    /// a frame. The last `(len − n_fft) mod hop_length` samples fall in no frame.
    pub fn frame_count(&self, len: usize) -> usize {
        if len < self.n_fft {
            0
        } else {
            1 + (len - self.n_fft) / self.hop_length
        }
    }

    pub fn validate(&self) -> Result<(), DspError> {
        if self.sample_rate == 0 {
            return Err(DspError::InvalidParameter { name: "sample_rate", value: 0.0, expected: "> 0 Hz" });
        }
        if self.n_fft < 4 || self.n_fft % 2 != 0 {
            return Err(DspError::InvalidParameter { name: "n_fft", value: self.n_fft as f64, expected: "an even number >= 4" });
        }
        if self.hop_length == 0 {
            return Err(DspError::InvalidParameter { name: "hop_length", value: 0.0, expected: ">= 1" });
        }
        Ok(())
    }
}

/// The masking threshold of frames of up to `N` samples (tables built once in [`new`](Self::new)).
pub struct MaskingThreshold<const N: usize = { super::MAX_N_FFT }> {
    params: MaskingParams,
    fft: RealFft,
    /// `[n_fft]`, [`window_value`].
    window: Vec<f32, N>,
    /// FFT input; also holds a frame's normalized PSD in [`clip_threshold`](Self::clip_threshold).
    buf: Vec<f32, N>,
    /// Per bin: Bark (Eq. 5) and ATH in dB (Eq. 3, `+∞` outside the hearing range).
    bark: Vec<f64, N>,
    ath: Vec<f64, N>,
    /// Per bin `k`: the bins within ±0.5 Bark of it are `lo[k]..=hi[k]`.
    lo: Vec<u16, N>,
    hi: Vec<u16, N>,
    /// The maskers of the last frame: bins and smoothed levels `P` (Eq. 6) in dB.
    maskers: Vec<u16, N>,
    levels: Vec<f64, N>,
}

impl<const N: usize> MaskingThreshold<N> {
    pub fn new(params: &MaskingParams, backend: FftBackend) -> Result<Self, DspError> {
        params.validate()?;
        check_capacity("n_fft", params.n_fft, N)?;
        if params.n_fft > u16::MAX as usize {
            return Err(DspError::Capacity { name: "n_fft", requested: params.n_fft, capacity: u16::MAX as usize });
        }
        let fft = RealFft::new(params.n_fft, backend)?;
        let n_bins = params.n_bins();
        let (mut window, mut buf, mut bark_t, mut ath) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        // Capacities were checked above (n_bins <= n_fft <= N).
        for n in 0..params.n_fft {
            let _ = window.push(window_value(n, params.n_fft) as f32);
        }
        let _ = buf.resize(params.n_fft, 0.0);
        for k in 0..n_bins {
            let f = params.bin_hz(k);
            let _ = bark_t.push(bark(f));
            let _ = ath.push(ath_db(f));
        }
        // Bark grows with frequency, so each window is a contiguous run of bins and its ends move
        // monotonically with k.
        let (mut lo, mut hi) = (Vec::new(), Vec::new());
        let (mut a, mut b) = (0usize, 0usize);
        for k in 0..n_bins {
            while bark_t[k] - bark_t[a] > BARK_HALF_WIDTH {
                a += 1;
            }
            b = b.max(k);
            while b + 1 < n_bins && bark_t[b + 1] - bark_t[k] <= BARK_HALF_WIDTH {
                b += 1;
            }
            let _ = lo.push(a as u16);
            let _ = hi.push(b as u16);
        }
        Ok(MaskingThreshold { params: *params, fft, window, buf, bark: bark_t, ath, lo, hi, maskers: Vec::new(), levels: Vec::new() })
    }

    pub fn params(&self) -> &MaskingParams {
        &self.params
    }

    pub fn n_bins(&self) -> usize {
        self.params.n_bins()
    }

    /// Bark of every bin (Eq. 5 at the frequencies of Eq. 4).
    pub fn bark(&self) -> &[f64] {
        &self.bark
    }

    /// Threshold in quiet of every bin in dB (Eq. 3; `+∞` outside the hearing range).
    pub fn ath(&self) -> &[f64] {
        &self.ath
    }

    /// Bins of the maskers of the last frame passed to [`threshold`](Self::threshold).
    pub fn maskers(&self) -> &[u16] {
        &self.maskers
    }

    /// Smoothed levels `P` (Eq. 6, dB) of those maskers.
    pub fn masker_levels(&self) -> &[f64] {
        &self.levels
    }

    /// PSD power `p(k) = |s(k) / N|²` of one frame (Eq. 12), `n_fft/2 + 1` bins.
    pub fn psd_power(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        check_len("frame", frame.len(), self.params.n_fft)?;
        for ((o, &x), &w) in self.buf.iter_mut().zip(frame).zip(self.window.iter()) {
            *o = x * w;
        }
        self.fft.power(&mut self.buf, out)?;
        let inv = 1.0 / (self.params.n_fft as f32 * self.params.n_fft as f32);
        for v in out.iter_mut() {
            *v *= inv;
        }
        Ok(())
    }

    /// PSD of one frame in dB, `10·log10(max(p(k), 1e-20))` (not normalized).
    pub fn psd_db(&mut self, frame: &[f32], out: &mut [f32]) -> Result<(), DspError> {
        self.psd_power(frame, out)?;
        math::power_to_db(out, 1e-20);
        Ok(())
    }

    /// The global masking threshold θx in dB (Steps 1-3, Eq. 1-11) of one frame from its
    /// normalized PSD `psd` (dB, `n_fft/2 + 1` bins, finite) into `theta`. Returns the number of
    /// maskers (see [`maskers`](Self::maskers)).
    pub fn threshold(&mut self, psd: &[f32], theta: &mut [f32]) -> Result<usize, DspError> {
        let n_bins = self.n_bins();
        check_len("psd", psd.len(), n_bins)?;
        check_len("theta", theta.len(), n_bins)?;
        if let Some(&v) = psd.iter().find(|v| !v.is_finite()) {
            return Err(DspError::InvalidParameter { name: "psd", value: v as f64, expected: "finite values in dB" });
        }
        threshold_into(psd, theta, &self.bark, &self.ath, &self.lo, &self.hi, &mut self.maskers, &mut self.levels);
        Ok(self.maskers.len())
    }

    /// PSD powers (Eq. 12) of every frame of the clip `x` into `out` (`frames × (n_fft/2 + 1)`,
    /// row-major; frames by [`MaskingParams::frame_count`]). Returns the largest power,
    /// `max_k p_x(k)` over the clip (the denominator of Eq. 13).
    pub fn clip_psd_power(&mut self, x: &[f32], out: &mut [f32]) -> Result<f32, DspError> {
        let (n_bins, frames) = (self.n_bins(), self.clip_frames(x.len())?);
        check_len("out", out.len(), frames * n_bins)?;
        let (n_fft, hop) = (self.params.n_fft, self.params.hop_length);
        let mut max = 0.0f32;
        for (f, row) in out.chunks_exact_mut(n_bins).enumerate() {
            self.psd_power(&x[f * hop..f * hop + n_fft], row)?;
            max = row.iter().fold(max, |m, &v| m.max(v));
        }
        Ok(max)
    }

    /// PSD in dB of every frame of `x` (as [`clip_psd_power`](Self::clip_psd_power), then the
    /// dB floor), not normalized. Returns the clip's largest PSD in dB.
    pub fn clip_psd_db(&mut self, x: &[f32], out: &mut [f32]) -> Result<f32, DspError> {
        self.clip_psd_power(x, out)?;
        math::power_to_db(out, 1e-20);
        Ok(out.iter().fold(PSD_FLOOR_DB, |m, &v| m.max(v)))
    }

    /// θx in dB of every frame of the clip `x` into `theta` (`frames × (n_fft/2 + 1)`), the PSD
    /// normalized with the clip's own maximum. Returns that maximum in dB (`max_k p_x(k)` of
    /// Eq. 13 is `10^{max/10}`). A silent clip has no level to normalize and is an error.
    pub fn clip_threshold(&mut self, x: &[f32], theta: &mut [f32]) -> Result<f32, DspError> {
        let max_db = self.clip_psd_db(x, theta)?;
        if max_db <= PSD_FLOOR_DB {
            return Err(DspError::Silent { name: "PSD" });
        }
        let n_bins = self.n_bins();
        for row in theta.chunks_exact_mut(n_bins) {
            let psd = &mut self.buf[..n_bins];
            psd.copy_from_slice(row);
            normalize_db(psd, max_db);
            threshold_into(psd, row, &self.bark, &self.ath, &self.lo, &self.hi, &mut self.maskers, &mut self.levels);
        }
        Ok(max_db)
    }

    fn clip_frames(&self, len: usize) -> Result<usize, DspError> {
        match self.params.frame_count(len) {
            0 => Err(DspError::InvalidParameter { name: "clip length", value: len as f64, expected: ">= n_fft samples" }),
            f => Ok(f),
        }
    }
}

/// Steps 1-3 on one normalized frame (finite values, lengths checked by the caller).
#[allow(clippy::too_many_arguments)]
fn threshold_into<const N: usize>(
    psd: &[f32],
    theta: &mut [f32],
    bark: &[f64],
    ath: &[f64],
    lo: &[u16],
    hi: &[u16],
    maskers: &mut Vec<u16, N>,
    levels: &mut Vec<f64, N>,
) {
    let n_bins = psd.len();
    maskers.clear();
    levels.clear();
    let pow10 = |db: f64| math::pow(10.0, db / 10.0);
    // Step 1: Eq. 1 (local maximum), Eq. 2 (on or above the threshold in quiet), Eq. 5 (the
    // loudest bin within ±0.5 Bark), then the smoothed level of Eq. 6.
    for k in 1..n_bins - 1 {
        let p = psd[k];
        if !(psd[k - 1] <= p && p >= psd[k + 1]) || !(p as f64 >= ath[k]) {
            continue;
        }
        if psd[lo[k] as usize..=hi[k] as usize].iter().any(|&q| q > p) {
            continue;
        }
        let level = 10.0 * math::log10(pow10(psd[k - 1] as f64) + pow10(p as f64) + pow10(psd[k + 1] as f64));
        // At most n_bins - 2 <= N maskers.
        let _ = maskers.push(k as u16);
        let _ = levels.push(level);
    }
    // Steps 2-3: Eq. 7-10 per masker, summed in power with the threshold in quiet (Eq. 11).
    for (j, t) in theta.iter_mut().enumerate() {
        if ath[j] == f64::INFINITY {
            *t = f32::INFINITY;
            continue;
        }
        let mut sum = pow10(ath[j]);
        for (&i, &level) in maskers.iter().zip(levels.iter()) {
            let bi = bark[i as usize];
            let db = bark[j] - bi;
            let slope = if db <= 0.0 { 27.0 } else { -27.0 + 0.37 * (level - 40.0).max(0.0) };
            sum += pow10(level + (-6.025 - 0.275 * bi) + slope * db);
        }
        *t = (10.0 * math::log10(sum)) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bark_and_ath_at_known_points() {
        // Eq. 5 at 1 kHz: 13·atan(0.76) + 3.5·atan((1/7.5)²).
        let b = 13.0 * libm::atan(0.76) + 3.5 * libm::atan(1.0 / 56.25);
        assert!((bark(1000.0) - b).abs() < 1e-12);
        assert!((bark(1000.0) - 8.5).abs() < 0.1, "about 8.5 Bark at 1 kHz");
        // Eq. 3 at 1 kHz: 3.64 − 6.5·e^{−0.6·5.29} + 0.001 = 3.3695...
        assert!((ath_db(1000.0) - (3.64 - 6.5 * libm::exp(-0.6 * 5.29) + 1e-3)).abs() < 1e-12);
        assert!(ath_db(19.9).is_infinite() && ath_db(20.0).is_finite() && ath_db(20_001.0).is_infinite());
    }

    #[test]
    fn a_lone_tone_masks_its_neighbourhood_and_nothing_else() {
        let params = MaskingParams::default();
        let mut m = MaskingThreshold::<2048>::new(&params, FftBackend::Microfft).unwrap();
        let n_bins = params.n_bins();
        // A peak of 80 dB at bin 128 (1 kHz) over a floor well under the threshold in quiet.
        let mut psd = [-50.0f32; 1025];
        psd[127] = 70.0;
        psd[128] = 80.0;
        psd[129] = 70.0;
        let mut theta = [0.0f32; 1025];
        assert_eq!(m.threshold(&psd, &mut theta).unwrap(), 1);
        assert_eq!(m.maskers(), &[128]);
        let level = 10.0 * libm::log10(2.0 * 1e7 + 1e8);
        assert!((m.masker_levels()[0] - level).abs() < 1e-9);
        let bi = m.bark()[128];
        for j in [3usize, 100, 128, 140, 300, 1024] {
            let db = m.bark()[j] - bi;
            let sf = if db <= 0.0 { 27.0 * db } else { (-27.0 + 0.37 * (level - 40.0)) * db };
            let t = level - 6.025 - 0.275 * bi + sf;
            let expect = 10.0 * libm::log10(libm::pow(10.0, t / 10.0) + libm::pow(10.0, m.ath()[j] / 10.0));
            assert!((theta[j] as f64 - expect).abs() < 1e-4, "bin {j}: {} vs {expect}", theta[j]);
        }
        // Bins under 20 Hz are outside the hearing range.
        assert!(theta[..3].iter().all(|t| t.is_infinite()) && theta[3].is_finite());
        assert_eq!(n_bins, 1025);
    }

    #[test]
    fn only_the_loudest_peak_within_half_a_bark_is_a_masker() {
        let params = MaskingParams::default();
        let mut m = MaskingThreshold::<2048>::new(&params, FftBackend::Microfft).unwrap();
        let mut psd = [-50.0f32; 1025];
        // Two peaks 3 bins apart near 1 kHz (≈ 0.2 Bark): the quieter one is no masker.
        psd[128] = 80.0;
        psd[131] = 75.0;
        let bk: [f64; 1025] = core::array::from_fn(|k| m.bark()[k]);
        let above = |from: usize, by: f64| (from..1024).find(|&k| bk[k] - bk[from] > by).unwrap();
        // A peak more than 0.5 Bark above both is a masker.
        let far = above(131, 0.55);
        psd[far] = 60.0;
        let mut theta = [0.0f32; 1025];
        m.threshold(&psd, &mut theta).unwrap();
        assert_eq!(m.maskers(), &[128, far as u16]);
        // One just over 0.5 Bark above the 80 dB bin (so under 0.5 Bark above the 75 dB one) is
        // not: the 75 dB bin is louder within its window, though itself no masker.
        psd[far] = -50.0;
        let near = above(128, 0.52);
        assert!(bk[near] - bk[131] < 0.5);
        psd[near] = 60.0;
        m.threshold(&psd, &mut theta).unwrap();
        assert_eq!(m.maskers(), &[128]);
        // Under the threshold in quiet: no masker.
        let mut quiet = [-50.0f32; 1025];
        quiet[128] = (m.ath()[128] - 0.5) as f32;
        m.threshold(&quiet, &mut theta).unwrap();
        assert!(m.maskers().is_empty());
        quiet[128] = -1.0;
        assert!(m.threshold(&quiet[..1024], &mut theta).is_err());
        quiet[5] = f32::NAN;
        assert!(m.threshold(&quiet, &mut theta).is_err());
    }

    #[test]
    fn the_perturbation_psd_is_normalized_like_the_clip() {
        // Eq. 13 in dB is the clip's own shift: 96 − max p_x.
        let (p_delta, max_px) = (3e-9f32, 0.02f32);
        let db = 10.0 * libm::log10(normalized_perturbation_psd(p_delta, max_px) as f64);
        let expect = 96.0 - 10.0 * libm::log10(max_px as f64) + 10.0 * libm::log10(p_delta as f64);
        assert!((db - expect).abs() < 1e-4);
        assert!(db_to_power(f32::INFINITY).is_infinite());
        assert!((db_to_power(30.0) - 1000.0).abs() < 1e-3);
    }

    #[test]
    fn a_silent_clip_is_an_error_and_a_short_one_too() {
        let mut m = MaskingThreshold::<2048>::new(&MaskingParams::default(), FftBackend::Microfft).unwrap();
        let x = [0.0f32; 4096];
        let mut theta = [0.0f32; 5 * 1025];
        assert_eq!(m.clip_threshold(&x, &mut theta), Err(DspError::Silent { name: "PSD" }));
        assert!(m.clip_threshold(&x[..2000], &mut theta[..0]).is_err());
    }
}

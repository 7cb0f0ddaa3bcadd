"""Reference psychoacoustic masking threshold (004, Qin et al., supplement Steps 1-3, Eq. 1-11)
for the masking parity test, written from the paper's equations in numpy, float64, vectorized
(no loop over bins), plus ART's PsychoacousticMasker on the same audio.

usage: masking_ref.py SAMPLES.npy OUT_PREFIX PARAMS_JSON [GIVEN_PSD.npy]

SAMPLES.npy: [clips, samples] (clips of one length; one run, since importing ART takes seconds).
PARAMS_JSON: {"sample_rate", "n_fft", "hop_length"}. Writes, as [clips, frames, bins] float64
arrays:
  OUT_PREFIX_psd.npy      normalized PSD p̄x in dB (96 dB at the clip's loudest bin)
  OUT_PREFIX_power.npy    PSD power |s(k)/N|² (Eq. 12), not normalized
  OUT_PREFIX_theta.npy    θx in dB from that PSD
  OUT_PREFIX_maskers.npy  1 where a bin is a masker
With GIVEN_PSD.npy (normalized PSDs in dB, [clips, frames, bins], e.g. the engine's), the
same Steps 1-3 on it: OUT_PREFIX_given_theta.npy, OUT_PREFIX_given_maskers.npy, and ART's
Steps 2-3 (calculate_individual_threshold + calculate_global_threshold) on those maskers:
OUT_PREFIX_art_on_given_theta.npy.
ART's own pipeline: OUT_PREFIX_art_psd.npy, OUT_PREFIX_art_theta.npy (as shipped),
OUT_PREFIX_art_fixed_theta.npy (ATH without its -12 dB offset and the 0.5 Bark merge comparing
the maskers' own Bark values; see ArtFixed below). Prints a JSON line with each clip's maximum
PSD in dB and whether ART was available.

Readings of the text (the same ones the engine documents in engine/src/dsp/masking.rs):
masker criteria on the unsmoothed PSD, non-strict as Eq. 1-2 are written; "highest PSD within
0.5 Bark" against every bin of the window; ATH = +inf outside 20 Hz..20 kHz; Eq. 3 without
offset. The PSD is normalized per clip.
"""
import json
import sys

import numpy as np
from scipy.signal import get_window


def bark(f):
    # Eq. 5
    return 13.0 * np.arctan(0.76 * f / 1000.0) + 3.5 * np.arctan((f / 7500.0) ** 2)


def ath(f):
    # Eq. 3 on the hearing range, +inf outside it.
    out = np.full(f.shape, np.inf)
    ok = (f >= 20.0) & (f <= 20000.0)
    k = f[ok] / 1000.0
    out[ok] = 3.64 * k ** -0.8 - 6.5 * np.exp(-0.6 * (k - 3.3) ** 2) + 1e-3 * k ** 4
    return out


def psd_power(y, n_fft, hop):
    # Eq. 12 with the sqrt(8/3)-scaled periodic Hann window, frames not centred.
    w = np.sqrt(8.0 / 3.0) * get_window("hann", n_fft, fftbins=True)
    frames = np.lib.stride_tricks.sliding_window_view(y, n_fft)[::hop]
    s = np.fft.rfft(frames * w, axis=1) / n_fft
    return s.real ** 2 + s.imag ** 2


class Threshold:
    def __init__(self, sample_rate, n_fft):
        # Eq. 4
        self.f = np.arange(n_fft // 2 + 1) * sample_rate / n_fft
        self.b = bark(self.f)
        self.ath = ath(self.f)
        # window[k, j]: bin j lies within 0.5 Bark of bin k
        self.window = np.abs(self.b[:, None] - self.b[None, :]) <= 0.5

    def maskers(self, p):
        k = np.arange(1, len(p) - 1)
        local = (p[k - 1] <= p[k]) & (p[k] >= p[k + 1])  # Eq. 1
        audible = p[k] >= self.ath[k]  # Eq. 2
        wmax = np.where(self.window, p[None, :], -np.inf).max(axis=1)
        highest = p[k] >= wmax[k]  # 0.5 Bark criterion
        return k[local & audible & highest]

    @staticmethod
    def smoothed(p, idx):
        # Eq. 6
        return 10.0 * np.log10(10 ** (p[idx - 1] / 10) + 10 ** (p[idx] / 10) + 10 ** (p[idx + 1] / 10))

    def theta(self, p):
        idx = self.maskers(p)
        level = self.smoothed(p, idx)
        bi = self.b[idx][:, None]
        dz = self.b[None, :] - bi  # Eq. 8
        upper = (-27.0 + 0.37 * np.maximum(level - 40.0, 0.0))[:, None]  # Eq. 9
        sf = np.where(dz <= 0, 27.0 * dz, upper * dz)  # Eq. 7
        t = level[:, None] + (-6.025 - 0.275 * bi) + sf  # Eq. 10
        with np.errstate(over="ignore"):
            total = 10 ** (self.ath / 10) + (10 ** (t / 10)).sum(axis=0)  # Eq. 11
        return 10 * np.log10(total), idx, level


def mask_matrix(idx_list, n_bins):
    m = np.zeros((len(idx_list), n_bins))
    for f, idx in enumerate(idx_list):
        m[f, idx] = 1.0
    return m


def art_outputs(y, params, given_psd, given_idx, given_levels, prefix):
    """ART's masker on every clip of `y`; False when ART cannot be imported."""
    try:
        from art.attacks.evasion.imperceptible_asr.imperceptible_asr import PsychoacousticMasker
    except Exception as e:  # noqa: BLE001 - any import failure means: no ART comparison
        print(f"ART not available: {e}", file=sys.stderr)
        return False
    sr, n_fft, hop = params["sample_rate"], params["n_fft"], params["hop_length"]

    class ArtFixed(PsychoacousticMasker):
        """ART with its departures from Eq. 3 and the 0.5 Bark rule undone: the ATH without the
        -12 dB offset, and the pairwise merge comparing the Bark values of the two maskers (ART
        indexes `bark` by the masker's rank instead of its bin) and going on from the survivor
        (ART moves to `i_prev + 1`, which can be a masker already dropped)."""

        @property
        def absolute_threshold_hearing(self):
            return super().absolute_threshold_hearing + 12.0

        def filter_maskers(self, maskers, masker_idx):
            ath_condition = maskers > self.absolute_threshold_hearing[masker_idx]
            masker_idx = masker_idx[ath_condition]
            maskers = maskers[ath_condition]
            bark_condition = np.ones(masker_idx.shape, dtype=bool)
            i_prev = 0
            for i in range(1, len(masker_idx)):
                if self.bark[masker_idx[i]] - self.bark[masker_idx[i_prev]] < 0.5:
                    i_todelete, i_prev = (i_prev, i) if maskers[i_prev] < maskers[i] else (i, i_prev)
                    bark_condition[i_todelete] = False
                else:
                    i_prev = i
            return maskers[bark_condition], masker_idx[bark_condition]

    art = PsychoacousticMasker(window_size=n_fft, hop_size=hop, sample_rate=sr)
    fixed = ArtFixed(window_size=n_fft, hop_size=hop, sample_rate=sr)
    outs = {"art_psd": [], "art_theta": [], "art_fixed_theta": [], "art_on_given_theta": []}
    for c, yc in enumerate(y):
        outs["art_theta"].append(art.calculate_threshold_and_psd_maximum(yc)[0].T)
        outs["art_psd"].append(art.power_spectral_density(yc)[0].T)
        outs["art_fixed_theta"].append(fixed.calculate_threshold_and_psd_maximum(yc)[0].T)
        if given_psd is not None:
            rows = []
            for idx, level in zip(given_idx[c], given_levels[c]):
                rows.append(fixed.calculate_global_threshold(fixed.calculate_individual_threshold(level, idx)))
            outs["art_on_given_theta"].append(np.array(rows))
    for name, arrs in outs.items():
        if arrs:
            np.save(f"{prefix}_{name}.npy", np.array(arrs, dtype=np.float64))
    return True


def main():
    samples_path, prefix, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    given_path = sys.argv[4] if len(sys.argv) > 4 else None
    y = np.atleast_2d(np.load(samples_path).astype(np.float64))
    sr, n_fft, hop = params["sample_rate"], params["n_fft"], params["hop_length"]
    th = Threshold(sr, n_fft)
    n_bins = n_fft // 2 + 1

    outs = {"power": [], "psd": [], "theta": [], "maskers": []}
    max_db = []
    for yc in y:
        power = psd_power(yc, n_fft, hop)
        db = 10 * np.log10(np.maximum(power, 1e-20))
        max_db.append(float(db.max()))
        psd = 96.0 - db.max() + db
        rows = [th.theta(row) for row in psd]
        outs["power"].append(power)
        outs["psd"].append(psd)
        outs["theta"].append(np.array([r[0] for r in rows]))
        outs["maskers"].append(mask_matrix([r[1] for r in rows], n_bins))

    given_psd, given_idx, given_levels = None, [], []
    if given_path:
        given_psd = np.load(given_path).astype(np.float64)
        outs["given_theta"], outs["given_maskers"] = [], []
        for gc in given_psd:
            rows = [th.theta(row) for row in gc]
            given_idx.append([r[1] for r in rows])
            given_levels.append([r[2] for r in rows])
            outs["given_theta"].append(np.array([r[0] for r in rows]))
            outs["given_maskers"].append(mask_matrix(given_idx[-1], n_bins))
    for name, arrs in outs.items():
        np.save(f"{prefix}_{name}.npy", np.array(arrs, dtype=np.float64))

    has_art = art_outputs(y, params, given_psd, given_idx, given_levels, prefix)
    print(json.dumps({"max_db": max_db, "art": has_art}))


if __name__ == "__main__":
    main()

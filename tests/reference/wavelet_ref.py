"""Reference wavelet features for tests/tests/wavelet_parity.rs (PyWavelets + numpy).

Every subcommand reads a 1-D float32 signal from a .npy file, frames it as the engine's framer
does (librosa framing: with --center, frame_length//2 zeros at both ends and 1 + len//hop
frames; without, 1 + (len - frame_length)//hop frames), and writes one feature row per frame
to --out as float64 .npy.

dwt-bands   log10(max(amin, mean(c**2))) of each array of
            pywt.wavedec(frame, wavelet, mode="periodization", level=levels).

scalogram   log10(max(amin, E(s))) per scale, E(s) = (1/L) * integral over one period of
            |W(s, tau)|**2 d tau, W the continuous wavelet transform (001 Eq. 17, 1/sqrt(s)) of
            the band-limited periodic interpolant of the frame zero-padded to n_fft samples.
            Computed in the time domain, independently of the engine's closed-form spectra:
            the interpolant is sampled at `upsample` x the sample rate, and
              --method direct  correlates it (circularly) with the wavelet sampled at that rate
                               (point samples of mexh / cmor, exact per-sample integrals of
                               Haar, whose jumps point samples would misplace);
              --method pywt    runs pywt.cwt(method="fft") on three periods of it and keeps the
                               middle one (mexh and cmor only; pywt.cwt has no Haar).
            Scales: pywt.frequency2scale(wavelet, geomspace(fmin, fmax, n_scales) / sr).
"""

import argparse
import sys

import numpy as np
import pywt


def frames(y, frame_length, hop, center):
    y = np.asarray(y, dtype=np.float64)
    if center:
        y = np.pad(y, (frame_length // 2, frame_length // 2))
    if len(y) < frame_length:
        return np.zeros((0, frame_length))
    n = 1 + (len(y) - frame_length) // hop
    return np.stack([y[t * hop : t * hop + frame_length] for t in range(n)])


def dwt_bands(frame, wavelet, levels, amin):
    coeffs = pywt.wavedec(frame, wavelet, mode="periodization", level=levels)
    return np.log10(np.maximum(amin, [np.mean(c**2) for c in coeffs]))


def pywt_name(args):
    if args.wavelet == "cmor":
        # PyWavelets parses the name with float(): spell B and C as the f32 values the engine
        # received, not as rounded decimals.
        return f"cmor{float(np.float32(args.bandwidth))!r}-{float(np.float32(args.center_frequency))!r}"
    return args.wavelet


def psi(args, t):
    """Mother wavelet at t, in closed form (checked against pywt's wavefun in check_psi)."""
    if args.wavelet == "cmor":
        b, c = float(np.float32(args.bandwidth)), float(np.float32(args.center_frequency))
        return (np.pi * b) ** -0.5 * np.exp(-(t**2) / b) * np.exp(2j * np.pi * c * t)
    if args.wavelet == "mexh":
        return 2.0 / (np.sqrt(3.0) * np.pi**0.25) * (1.0 - t**2) * np.exp(-(t**2) / 2.0)
    raise ValueError(args.wavelet)


def haar_integral(t0, t1):
    """Integral of the Haar wavelet (1 on [0, 1/2), -1 on [1/2, 1)) over [t0, t1]."""

    def prim(t):
        t = np.clip(t, 0.0, 1.0)
        return np.where(t < 0.5, t, 1.0 - t)

    return prim(t1) - prim(t0)


def check_psi(args):
    """The closed forms used here must be PyWavelets' own wavelets."""
    if args.wavelet == "haar":
        _, psi_h, x = pywt.Wavelet("haar").wavefun(level=10)
        inside = (x > 0) & (x < 1) & (np.abs(x - 0.5) > 1e-9)
        expect = np.where(x[inside] < 0.5, 1.0, -1.0)
        assert np.allclose(psi_h[inside], expect), "pywt's Haar is not +1 on [0,1/2), -1 on [1/2,1)"
        return
    w = pywt.ContinuousWavelet(pywt_name(args))
    values, x = w.wavefun(length=4097)
    err = np.max(np.abs(values - psi(args, x)))
    assert err < 1e-12, f"closed-form {args.wavelet} differs from pywt's by {err}"


def band_limited(frame, n_fft, up):
    """Samples at up x the rate of the band-limited interpolant of the zero-padded frame over
    one period (the Nyquist bin split evenly between +-pi, so the result is real)."""
    x = np.zeros(n_fft)
    x[: len(frame)] = frame
    spec = np.fft.fft(x)
    h = n_fft // 2
    big = np.zeros(n_fft * up, dtype=complex)
    big[:h] = spec[:h]
    big[-h + 1 :] = spec[-h + 1 :]
    big[h] = spec[h] / 2
    big[-h] = spec[h] / 2
    return np.fft.ifft(big).real * up


def scalogram_direct(xus, args, scales):
    """E(s) of every frame (rows of xus, the band-limited frames at up x the rate)."""
    n = xus.shape[1]
    up = args.upsample
    real = args.wavelet != "cmor"
    fft, ifft = (np.fft.rfft, np.fft.irfft) if real else (np.fft.fft, np.fft.ifft)
    fx = fft(xus, axis=1)
    m = np.arange(n)
    m = np.where(m < n // 2, m, m - n)  # circular lags, wavelet centred on lag 0
    energy = np.zeros((xus.shape[0], len(scales)))
    for k, s in enumerate(scales):
        su = s * up
        if args.wavelet == "haar":
            taps = haar_integral((m - 0.5) / su, (m + 0.5) / su) * su
        else:
            taps = psi(args, m / su)
        fh = np.conj(fft(taps))
        for i in range(xus.shape[0]):
            # W(s, tau') = (1 / (up sqrt(s))) sum_n x_up[n] conj(psi((n - tau') / (up s)))
            w = ifft(fx[i] * fh, n=n) / (up * np.sqrt(s))
            energy[i, k] = np.sum(np.abs(w) ** 2) / up / args.frame_length
    return energy


def scalogram_pywt(xus, args, scales):
    n = xus.shape[1]
    up = args.upsample
    energy = []
    for xu in xus:
        coef, _ = pywt.cwt(np.concatenate([xu, xu, xu]), scales * up, pywt_name(args), method="fft",
                           precision=args.precision)
        mid = coef[:, n : 2 * n]
        # pywt's coefficient at scale up*s is sqrt(up) W(s, tau); a period holds up x n_fft of them.
        energy.append(np.sum(np.abs(mid) ** 2, axis=1) / (up * up * args.frame_length))
    return np.array(energy)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["dwt-bands", "scalogram"])
    ap.add_argument("--signal", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--frame-length", type=int, required=True)
    ap.add_argument("--hop", type=int, required=True)
    ap.add_argument("--center", action="store_true")
    ap.add_argument("--wavelet", required=True, help="dwt-bands: haar|db4; scalogram: haar|mexh|cmor")
    ap.add_argument("--levels", type=int, default=5)
    ap.add_argument("--amin", type=float, default=1e-10)
    ap.add_argument("--sr", type=int, default=16000)
    ap.add_argument("--n-fft", type=int, default=4096)
    ap.add_argument("--n-scales", type=int, default=64)
    ap.add_argument("--fmin", type=float, default=50.0)
    ap.add_argument("--fmax", type=float, default=None)
    ap.add_argument("--bandwidth", type=float, default=1.5)
    ap.add_argument("--center-frequency", type=float, default=1.0)
    ap.add_argument("--method", choices=["direct", "pywt"], default="direct")
    ap.add_argument("--upsample", type=int, default=16)
    ap.add_argument("--precision", type=int, default=18, help="pywt.cwt precision (2**p wavelet samples)")
    ap.add_argument("--frame-step", type=int, default=1, help="keep every k-th frame")
    args = ap.parse_args()

    y = np.load(args.signal).astype(np.float64).ravel()
    fr = frames(y, args.frame_length, args.hop, args.center)[:: args.frame_step]
    amin = float(np.float32(args.amin))
    if args.command == "dwt-bands":
        out = np.array([dwt_bands(f, args.wavelet, args.levels, amin) for f in fr])
    else:
        check_psi(args)
        fmin = float(np.float32(args.fmin))
        fmax = float(np.float32(args.fmax)) if args.fmax is not None else args.sr / 2
        freqs = np.geomspace(fmin, fmax, args.n_scales)
        wname = "haar" if args.wavelet == "haar" else pywt_name(args)
        scales = pywt.frequency2scale(wname, freqs / args.sr)
        method = scalogram_direct if args.method == "direct" else scalogram_pywt
        if args.method == "pywt" and args.wavelet == "haar":
            sys.exit("pywt.cwt does not support the Haar wavelet; use --method direct")
        xus = np.array([band_limited(f, args.n_fft, args.upsample) for f in fr])
        out = np.log10(np.maximum(amin, method(xus, args, scales)))
    np.save(args.out, out)
    print(f"{out.shape[0]} frames x {out.shape[1]} features")


if __name__ == "__main__":
    main()

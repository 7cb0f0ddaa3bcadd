#!/usr/bin/env python3
"""librosa 0.11 anchor for the front-end benchmark (benches/benches/frontend.rs).

Times librosa, one thread, on the same 60 s of 16 kHz audio the Rust bench streams (the signal
of `soundproof_benches::test_signal`, recomputed here), with 003's front end: n_fft 1024,
win_length 400, hop_length 160, 64 slaney mels, 20 MFCC, centred frames with constant padding,
`power_to_db(top_db=None)`. Each pipeline starts from the waveform, as the Rust streaming bench
does. Prints one JSON object: median µs per frame over the repeats, after warm-up.

    python benches/librosa_anchor.py [--repeats 25] [--warmup 3]
"""

import os

# One thread everywhere, before numpy (and its BLAS) is loaded.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

SAMPLE_RATE = 16_000
CLIP_SECONDS = 60
N_FFT, WIN_LENGTH, HOP_LENGTH, N_MELS, N_MFCC = 1024, 400, 160, 64, 20


def test_signal(n_samples: int, sample_rate: int) -> np.ndarray:
    """The formula of `soundproof_benches::test_signal` (benches/src/lib.rs), in float64, then
    rounded to float32 once."""
    state = 12345
    s = np.empty(n_samples, dtype=np.uint32)
    for i in range(n_samples):
        state = (1664525 * state + 1013904223) & 0xFFFFFFFF
        s[i] = state
    u = 2.0 * (s >> 8).astype(np.float64) / float(1 << 24) - 1.0
    t = np.arange(n_samples, dtype=np.float64) / sample_rate
    x = (
        0.30 * np.sin(2.0 * np.pi * 440.0 * t)
        + 0.20 * np.sin(2.0 * np.pi * 1250.0 * t + 0.5)
        + 0.10 * np.sin(2.0 * np.pi * 3100.0 * t + 1.0)
        + 0.05 * u
    )
    return x.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=25, help="timed runs per pipeline (>= 20)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed runs first")
    args = ap.parse_args()
    if args.repeats < 1 or args.warmup < 0:
        ap.error("--repeats must be >= 1 and --warmup >= 0")

    import librosa

    y = test_signal(CLIP_SECONDS * SAMPLE_RATE, SAMPLE_RATE)
    frame = dict(n_fft=N_FFT, hop_length=HOP_LENGTH, win_length=WIN_LENGTH, window="hann",
                 center=True, pad_mode="constant")

    def logmel():
        s = librosa.feature.melspectrogram(y=y, sr=SAMPLE_RATE, n_mels=N_MELS, power=2.0, **frame)
        return librosa.power_to_db(s, ref=1.0, amin=1e-10, top_db=None)

    def mfcc():
        return librosa.feature.mfcc(S=logmel(), n_mfcc=N_MFCC)

    def stft_power():
        return np.abs(librosa.stft(y, **frame)) ** 2

    pipelines = {"logmel": logmel, "mfcc": mfcc, "stft_power": stft_power}
    result = {
        "librosa": librosa.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "threads": 1,
        "samples": int(y.size),
        "signal_sum": float(np.sum(y, dtype=np.float64)),
        "signal_sum_sq": float(np.sum(y.astype(np.float64) ** 2)),
        "repeats": args.repeats,
        "warmup": args.warmup,
    }
    for name, fn in pipelines.items():
        for _ in range(args.warmup):
            out = fn()
        frames = int(fn().shape[-1])
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            out = fn()
            times.append(time.perf_counter() - t0)
        del out
        med = statistics.median(times)
        result[name] = {
            "frames": frames,
            "median_ms": med * 1e3,
            "min_ms": min(times) * 1e3,
            "us_per_frame": med * 1e6 / frames,
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

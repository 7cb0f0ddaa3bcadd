"""Reference features from librosa 0.11 for the front-end parity tests.

usage: features_ref.py SAMPLES.npy OUT_PREFIX PARAMS_JSON

Reads mono samples, computes with librosa (in float64, so the reference carries no float32
rounding of its own) the STFT power, log-mel and MFCC with exactly the given parameters, and
writes OUT_PREFIX_{power,logmel,mfcc}.npy as [frames, bins] float64 arrays. It also writes
OUT_PREFIX_logmel32.npy: librosa's own float32 pipeline on the same input, so a test can
compare our error with the spread between librosa's float32 and float64 results.
"""
import json
import sys

import librosa
import numpy as np


def main():
    samples_path, prefix, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    y = np.load(samples_path).astype(np.float64)
    sr = params["sample_rate"]
    stft_kw = dict(
        n_fft=params["n_fft"],
        hop_length=params["hop_length"],
        win_length=params["win_length"],
        window="hann",
        center=params["center"],
        pad_mode="constant",
    )
    mel_kw = dict(
        n_mels=params["n_mels"],
        fmin=params["fmin"],
        fmax=params["fmax"],
        htk=params["mel_scale"] == "htk",
        norm="slaney" if params["norm"] == "slaney" else None,
    )
    amin = params.get("amin", 1e-10)

    def pipeline(y):
        power = np.abs(librosa.stft(y, **stft_kw)) ** 2
        mel = librosa.feature.melspectrogram(S=power, sr=sr, n_fft=params["n_fft"], power=2.0, **mel_kw)
        logmel = librosa.power_to_db(mel, ref=1.0, amin=amin, top_db=None)
        return power, logmel

    power, logmel = pipeline(y)
    mfcc = librosa.feature.mfcc(
        S=logmel,
        n_mfcc=params["n_mfcc"],
        dct_type=2,
        norm="ortho" if params["dct_norm"] == "ortho" else None,
        lifter=params["lifter"],
    )
    _, logmel32 = pipeline(y.astype(np.float32))
    np.save(prefix + "_power.npy", np.ascontiguousarray(power.T, dtype=np.float64))
    np.save(prefix + "_logmel.npy", np.ascontiguousarray(logmel.T, dtype=np.float64))
    np.save(prefix + "_mfcc.npy", np.ascontiguousarray(mfcc.T, dtype=np.float64))
    np.save(prefix + "_logmel32.npy", np.ascontiguousarray(logmel32.T, dtype=np.float64))
    print(json.dumps({"frames": int(power.shape[1]), "bins": int(power.shape[0])}))


if __name__ == "__main__":
    main()

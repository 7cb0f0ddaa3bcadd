"""Reference waveform reconstructions from librosa 0.11 for the rebuild parity tests
(`tools/tests/rebuild_parity.rs`).

usage: rebuild_ref.py SAMPLES.npy OUT_PREFIX PARAMS_JSON

Reads mono samples and, in float64 with exactly the given STFT and mel parameters, writes:
  OUT_PREFIX_istft.npy        librosa.istft of the clip's STFT with every magnitude scaled by
                              g[t, k] = 1 + 0.3 sin(0.7 t + 0.11 k) (the phase kept): [samples]
  OUT_PREFIX_mel.npy          the mel power W |X|^2 of the clip: [frames, n_mels]
  OUT_PREFIX_mel_to_stft.npy  librosa.feature.inverse.mel_to_stft of that mel power (the NNLS
                              magnitude): [frames, bins]
  OUT_PREFIX_griffinlim.npy   librosa.griffinlim of the clip's STFT magnitude, zero initial
                              phase (init=None), PARAMS' n_iter and momentum: [samples]
"""
import json
import sys

import librosa
import numpy as np


def main():
    samples_path, prefix, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    y = np.load(samples_path).astype(np.float64)
    sr = params["sample_rate"]
    n = len(y)
    kw = dict(
        n_fft=params["n_fft"],
        hop_length=params["hop_length"],
        win_length=params["win_length"],
        window="hann",
        center=params["center"],
    )
    X = librosa.stft(y, pad_mode="constant", **kw)
    t = np.arange(X.shape[1])[None, :]
    k = np.arange(X.shape[0])[:, None]
    g = 1.0 + 0.3 * np.sin(0.7 * t + 0.11 * k)
    np.save(prefix + "_istft.npy", librosa.istft(X * g, length=n, **kw))

    mel = librosa.feature.melspectrogram(
        S=np.abs(X) ** 2,
        sr=sr,
        n_fft=params["n_fft"],
        power=2.0,
        n_mels=params["n_mels"],
        fmin=params["fmin"],
        fmax=params["fmax"],
        htk=params["mel_scale"] == "htk",
        norm="slaney" if params["norm"] == "slaney" else None,
    )
    S = librosa.feature.inverse.mel_to_stft(
        mel,
        sr=sr,
        n_fft=params["n_fft"],
        power=2.0,
        fmin=params["fmin"],
        fmax=params["fmax"],
        htk=params["mel_scale"] == "htk",
        norm="slaney" if params["norm"] == "slaney" else None,
    )
    np.save(prefix + "_mel.npy", np.ascontiguousarray(mel.T))
    np.save(prefix + "_mel_to_stft.npy", np.ascontiguousarray(S.T))

    gl = librosa.griffinlim(
        np.abs(X),
        n_iter=params["n_iter"],
        momentum=params["momentum"],
        init=None,
        length=n,
        pad_mode="constant",
        **kw,
    )
    np.save(prefix + "_griffinlim.npy", gl)
    print(json.dumps({"frames": int(X.shape[1]), "bins": int(X.shape[0])}))


if __name__ == "__main__":
    main()

"""librosa's MFCC inverse for the rebuild tests (`tools/tests/rebuild_parity.rs`).

usage: mfcc_inverse_ref.py MFCC.npy OUT.npy PARAMS_JSON

Reads an MFCC map [frames, n_mfcc] and writes librosa.feature.inverse.mfcc_to_mel's log-mel in
dB, [frames, n_mels]: the inverse DCT (type 2, PARAMS' norm and lifter) before db_to_power,
i.e. power_to_db of mfcc_to_mel(ref=1.0) without the top_db clip, in float64.
"""
import json
import sys

import librosa
import numpy as np


def main():
    mfcc = np.load(sys.argv[1]).astype(np.float64).T  # librosa: [n_mfcc, frames]
    p = json.loads(sys.argv[3])
    mel = librosa.feature.inverse.mfcc_to_mel(mfcc, n_mels=p["n_mels"], dct_type=2, norm=p["norm"], ref=1.0, lifter=p["lifter"])
    np.save(sys.argv[2], np.ascontiguousarray((10.0 * np.log10(mel)).T))


if __name__ == "__main__":
    main()

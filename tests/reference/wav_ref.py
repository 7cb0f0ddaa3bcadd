"""Reference WAV decoding with soundfile, the way librosa.load decodes (no resampling).

usage: wav_ref.py OUT_DIR WAV [WAV ...]

For each WAV, reads it with soundfile.read(dtype="float32") (libsndfile's scaling:
int / 2^(bits-1), float passed through), averages the channels as librosa.to_mono does
(np.mean over the channel axis, in float32), and writes OUT_DIR/<i>.npy (float32, 1-D) where
<i> is the position of the WAV in the argument list. Prints one line per file:
"<i> <sample_rate> <frames>".
"""
import os
import sys

import numpy as np
import soundfile as sf


def main():
    out_dir, paths = sys.argv[1], sys.argv[2:]
    for i, path in enumerate(paths):
        y, sr = sf.read(path, dtype="float32", always_2d=False)
        # librosa.load transposes to (channels, frames) and averages over the leading axis.
        y = y.T
        if y.ndim > 1:
            y = np.mean(y, axis=tuple(range(y.ndim - 1)))
        y = np.ascontiguousarray(y, dtype=np.float32)
        np.save(os.path.join(out_dir, f"{i}.npy"), y)
        print(i, sr, y.shape[0])


if __name__ == "__main__":
    main()

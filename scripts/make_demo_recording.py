"""Builds models/demo/digits.wav: spoken digits from the FSDD official test takes (0-4),
concatenated at their recorded level (8 kHz, 16-bit) with pauses, and its attribution.

usage: .venv/bin/python scripts/make_demo_recording.py [../shared/data/fsdd/recordings]
"""
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SEQUENCE = [  # digit, speaker, take (all test takes)
    (3, "george", 0), (1, "jackson", 1), (4, "nicolas", 2), (1, "theo", 3),
    (5, "yweweler", 4), (9, "jackson", 0), (2, "theo", 1), (6, "nicolas", 3),
]
PAUSE_S = 0.8
SR = 8000


def main():
    src = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/fsdd/recordings")
    out_dir = Path("models/demo")
    out_dir.mkdir(parents=True, exist_ok=True)
    pause = np.zeros(int(PAUSE_S * SR), dtype=np.int16)
    parts, lines, t = [pause], [], PAUSE_S
    for digit, speaker, take in SEQUENCE:
        name = f"{digit}_{speaker}_{take}.wav"
        y, sr = sf.read(src / name, dtype="int16")
        assert sr == SR, name
        lines.append(f"| {t:6.2f} | {digit} | `{name}` |")
        parts += [y, pause]
        t += len(y) / SR + PAUSE_S
    audio = np.concatenate(parts)
    sf.write(out_dir / "digits.wav", audio, SR, subtype="PCM_16")
    (out_dir / "ATTRIBUTION.md").write_text(
        "# models/demo/digits.wav\n\n"
        "Spoken digits from the Free Spoken Digit Dataset (FSDD), github.com/Jakobovski/"
        "free-spoken-digit-dataset, by Zohar Jackson and the FSDD contributors, licensed "
        "CC BY-SA 4.0 (creativecommons.org/licenses/by-sa/4.0). This file is a derivative "
        "(the recordings below concatenated with silence, unchanged otherwise) and is shared "
        "under the same license. All are official test takes (0-4), never used in training.\n\n"
        f"Sequence: {' '.join(str(d) for d, _, _ in SEQUENCE)}; {PAUSE_S} s pauses; 8 kHz 16-bit mono.\n\n"
        "| starts at (s) | digit | source file |\n|---|---|---|\n" + "\n".join(lines) + "\n"
    )
    print(f"wrote {out_dir / 'digits.wav'}: {len(audio) / SR:.2f} s")


if __name__ == "__main__":
    main()

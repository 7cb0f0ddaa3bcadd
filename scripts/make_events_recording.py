"""Builds models/demo/events.wav: environmental sounds in sequence, CC0 clips of ESC-10's
test fold (fold 1, never used in training) that the shipped esc10-resnet18 models classify
correctly, concatenated at their recorded level (16 kHz, 16-bit) with pauses, and its
attribution (models/demo/ATTRIBUTION-events.md).

The pauses (3.75 s, the first 3.125 s) put the middle of one model window (5 s every 1.25 s)
wholly inside each pause, so the demo sees a silent window between two sounds and names each
sound once.

usage: .venv/bin/python scripts/make_events_recording.py [../shared/data/esc10]
"""
import re
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SEQUENCE = [  # ESC-10 file (fold 1, CC0), class
    ("1-34119-A.wav", "rooster"),
    ("1-211527-A.wav", "crying_baby"),
    ("1-17808-A.wav", "crackling_fire"),
    ("1-181071-A.wav", "helicopter"),
    ("1-116765-A.wav", "chainsaw"),
]
PAUSE_S = 3.75
LEAD_S = 3.125
SR = 16000


def attribution(readme: str, name: str) -> str:
    """The ESC-10 README's line for `name` (derived-from, author, licence)."""
    stem = name.replace(".wav", ".ogg")
    for line in readme.splitlines():
        if f"[{stem}]" in line:
            return re.sub(r"^- \[[^\]]+\]:\s*", "", line).strip()
    raise SystemExit(f"{name}: no attribution line in ATTRIBUTION.txt")


def main():
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/esc10")
    readme = (root / "ATTRIBUTION.txt").read_text()
    meta = {r.split(",")[0]: r.split(",") for r in (root / "meta.csv").read_text().splitlines()[1:]}
    out_dir = Path("models/demo")
    out_dir.mkdir(parents=True, exist_ok=True)
    pause = np.zeros(int(PAUSE_S * SR), dtype=np.int16)
    lead = np.zeros(int(LEAD_S * SR), dtype=np.int16)
    parts, rows, t = [lead], [], LEAD_S
    for name, cls in SEQUENCE:
        fold, _, category = meta[name][1], meta[name][2], meta[name][3]
        assert fold == "1" and category == cls, (name, meta[name])
        line = attribution(readme, name)
        assert line.endswith("[CC0]"), (name, line)
        y, sr = sf.read(root / "audio" / name, dtype="int16")
        assert sr == SR and len(y) == 5 * SR, name
        rows.append(f"| {t:6.2f} | {cls} | `{name}` | {line} |")
        parts += [y, pause]
        t += len(y) / SR + PAUSE_S
    audio = np.concatenate(parts)
    sf.write(out_dir / "events.wav", audio, SR, subtype="PCM_16")
    (out_dir / "ATTRIBUTION-events.md").write_text(
        "# models/demo/events.wav\n\n"
        "Environmental sounds from ESC-10 (K. J. Piczak, \"ESC: Dataset for Environmental Sound "
        "Classification\", ACM Multimedia 2015, doi:10.1145/2733373.2806390; "
        "github.com/karolpiczak/ESC-10), clips cut from Freesound.org recordings. Every clip "
        "below is marked CC0 (public domain dedication, creativecommons.org/publicdomain/zero/1.0) "
        "in ESC-10's per-clip list; ESC-10 as a whole is CC BY 3.0. All are from fold 1, the "
        "shipped ESC-10 models' test fold, never used in training. This file concatenates them "
        "(16 kHz 16-bit mono, as in the dataset copy, levels unchanged) with silence; it is built "
        "by `scripts/make_events_recording.py`.\n\n"
        f"Sequence: {' '.join(c for _, c in SEQUENCE)}; {PAUSE_S} s pauses; each clip 5.00 s.\n\n"
        "| starts at (s) | class | ESC-10 file | source (author, licence) |\n|---|---|---|---|\n"
        + "\n".join(rows) + "\n"
    )
    print(f"wrote {out_dir / 'events.wav'}: {len(audio) / SR:.2f} s")


if __name__ == "__main__":
    main()

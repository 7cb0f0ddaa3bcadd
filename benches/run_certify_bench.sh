#!/usr/bin/env bash
# Certification speed: noisy samples per second of `soundproof certify` (waveform contract:
# noise, log-mel front end, tract) against the PyTorch CPU port of Cohen et al.'s certify loop
# (benches/cohen_certify.py) on the same models, clips, σ, n0 and n, one thread each, pinned to
# the same core, in one run. Then online CERTIFY under a 1-s budget per 1-s window against
# fixed n = 10,000 on the same clips (fraction certified, radius ratio).
#
#   PYTHON=.venv/bin/python [BATCH=1] benches/run_certify_bench.sh [CLIPS] [N]
#
# Writes target/certify-bench/*.json and prints markdown tables for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CLIPS=${1:-3}
N=${2:-1000}
OUT=target/certify-bench
mkdir -p "$OUT"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
PIN=""
if command -v taskset >/dev/null; then PIN="taskset -c $(($(nproc) - 1))"; fi
cargo build --release --locked -q --bin soundproof
BIN=target/release/soundproof
DATA=../shared/data/fsdd/recordings
# The same clips on both sides: evenly spaced over the sorted FSDD test takes.
mapfile -t FILES < <($PY - "$DATA" "$CLIPS" <<'EOF'
import os, sys
d, k = sys.argv[1], int(sys.argv[2])
t = sorted(f for f in os.listdir(d) if f.endswith('.wav') and int(f[:-4].split('_')[2]) <= 4)
print('\n'.join(os.path.join(d, t[int(i * len(t) / k)]) for i in range(k)))
EOF
)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
for m in kws-fsdd kws-fsdd-int8 kws-fsdd-rt kws-fsdd-rt-int8; do
    $PIN $BIN certify --model models/$m.onnx --sigma 0.005 --n0 100 --n "$N" --batch "${BATCH:-1}" --quiet \
        --json "$OUT/ours-$m.json" "${FILES[@]}" > /dev/null
done
for m in kws-fsdd kws-fsdd-rt; do
    $PIN $PY benches/cohen_certify.py bench --model models/$m.onnx --n "$N" --n0 100 --batch 100 \
        --sigma 0.005 --threads 1 --files "${FILES[@]}" > "$OUT/cohen-$m.json"
done
# Online: 1-s budget per window vs fixed n = 10,000, kws-fsdd-rt (f32: its fastest form in tract) and kws-fsdd-int8.
for m in kws-fsdd-rt kws-fsdd-int8; do
    $PIN $BIN certify --model models/$m.onnx --sigma 0.005 --n0 32 --n 10000 --budget-ms 1000 --quiet \
        --json "$OUT/online-$m.json" "${FILES[@]}" > /dev/null
    $PIN $BIN certify --model models/$m.onnx --sigma 0.005 --n0 100 --n 10000 --quiet \
        --json "$OUT/fixed10k-$m.json" "${FILES[@]}" > /dev/null
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
$PY - "$OUT" "$N" <<'EOF'
import json, sys, statistics
out, n = sys.argv[1], int(sys.argv[2])
def ours(m):
    r = json.load(open(f"{out}/ours-{m}.json"))
    secs = sum(x["certificate"]["seconds"] for x in r["records"])
    return len(r["records"]) * (r["n0"] + r["n"]) / secs, r
def cohen(m):
    line = [l for l in open(f"{out}/cohen-{m}.json") if l.strip().startswith("{")][-1]
    return json.loads(line)
print(f"| model | ours (samples/s) | Cohen port, PyTorch f32 (samples/s) | ours / Cohen |")
print("|---|---:|---:|---:|")
for m, parent in [("kws-fsdd", "kws-fsdd"), ("kws-fsdd-int8", "kws-fsdd"), ("kws-fsdd-rt", "kws-fsdd-rt"), ("kws-fsdd-rt-int8", "kws-fsdd-rt")]:
    o, _ = ours(m)
    c = cohen(parent)
    cs = c.get("samples_per_s") or c.get("noisy_samples_per_s")
    print(f"| `{m}` | {o:.0f} | {cs:.0f} (`{parent}`) | {o / cs:.2f}× |")
print()
print("| model | windows certified within 1 s | median n reached | median radius online | median radius n = 10,000 | online / fixed (median of per-clip ratios) |")
print("|---|---:|---:|---:|---:|---:|")
for m in ["kws-fsdd-rt", "kws-fsdd-int8"]:
    on = json.load(open(f"{out}/online-{m}.json"))["records"]
    fx = {r["path"]: r for r in json.load(open(f"{out}/fixed10k-{m}.json"))["records"]}
    ok = [r for r in on if r["certificate"]["radius"] > 0 and r["certificate"]["seconds"] <= 1.05]
    ratios = [r["certificate"]["radius"] / fx[r["path"]]["certificate"]["radius"] for r in on if fx[r["path"]]["certificate"]["radius"] > 0]
    med = lambda v: statistics.median(v) if v else float("nan")
    print(f"| `{m}` | {len(ok)}/{len(on)} | {med([r['certificate']['samples'] for r in on]):.0f} | {med([r['certificate']['radius'] for r in on]):.5f} | {med([r['certificate']['radius'] for r in fx.values()]):.5f} | {med(ratios):.3f} |")
EOF

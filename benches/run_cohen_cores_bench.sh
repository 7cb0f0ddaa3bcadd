#!/usr/bin/env bash
# Certified noisy samples per second on 1 and 2 cores: `soundproof certify` (fixed-n CERTIFY
# on a pool of WORKERS workers: `--budget-ms` far beyond the run, so the planned n is n) against
# the PyTorch CPU port of Cohen et al.'s certify loop (benches/cohen_certify.py, torch threads =
# WORKERS, batch 100) on the same model, clips, σ, n0 and n, alternating the two sides per core
# count. samples/s = clips × (n0 + n) / time spent certifying (wall time of each clip, summed).
#
#   PYTHON=.venv/bin/python benches/run_cohen_cores_bench.sh [CLIPS] [N] [MODEL]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CLIPS=${1:-3}
N=${2:-2000}
M=${3:-kws-fsdd-rt}
# TARGET_CPU=x86-64-v3 (or native): ours built with `-C target-cpu=$TARGET_CPU` into
# target/cpu-$TARGET_CPU, results in target/cohen-cores-bench-$TARGET_CPU (optional).
. benches/target_cpu.sh
OUT=target/cohen-cores-bench${TARGET_CPU:+-$TARGET_CPU}
mkdir -p "$OUT"
cargo build --release --locked -q --bin soundproof -p soundproof
BIN=$TDIR/release/soundproof
mapfile -t FILES < <($PY - ../shared/data/fsdd/recordings "$CLIPS" <<'PYEOF'
import os, sys
d, k = sys.argv[1], int(sys.argv[2])
t = sorted(f for f in os.listdir(d) if f.endswith('.wav') and int(f[:-4].split('_')[2]) <= 4)
print('\n'.join(os.path.join(d, t[int(i * len(t) / k)]) for i in range(k)))
PYEOF
)
echo "$(date -u +%FT%TZ) load before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/load.txt" >&2
for w in 1 2; do
    export OMP_NUM_THREADS=$w MKL_NUM_THREADS=$w OPENBLAS_NUM_THREADS=$w
    $BIN certify --model "models/$M.onnx" --sigma 0.005 --n0 100 --n "$N" --budget-ms 1e9 --workers $w --quiet \
        --json "$OUT/ours-$w.json" "${FILES[@]}" > /dev/null
    $PY benches/cohen_certify.py bench --model "models/$M.onnx" --n "$N" --n0 100 --batch 100 --sigma 0.005 \
        --threads $w --files "${FILES[@]}" > "$OUT/cohen-$w.json"
done
echo "$(date -u +%FT%TZ) load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/load.txt" >&2
$PY - "$OUT" "$M" "$N" <<'PYEOF'
import json, sys
out, m, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
print(f"| model | cores | ours (samples/s) | Cohen port, PyTorch (samples/s) | ours / Cohen | radii agree |")
print("|---|---:|---:|---:|---:|---|")
for w in (1, 2):
    r = json.load(open(f"{out}/ours-{w}.json"))
    ours = len(r["records"]) * (r["n0"] + r["n"]) / sum(x["certificate"]["seconds"] for x in r["records"])
    c = json.loads([l for l in open(f"{out}/cohen-{w}.json") if l.strip().startswith("{")][-1])
    ro = [round(x["certificate"]["radius"], 4) for x in r["records"]]
    rc = [round(x, 4) for x in c["radius"]]
    print(f"| `{m}` | {w} | {ours:.0f} | {c['samples_per_s']:.0f} | {ours / c['samples_per_s']:.2f}× | ours {ro}, Cohen {rc} |")
PYEOF

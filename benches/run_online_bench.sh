#!/usr/bin/env bash
# Online certificates at full strength, one run on this machine (BENCHMARKS.md, "Online
# certification"):
#  1. per noisy copy, where the time goes (noise / front end / model) for each MODEL, tract
#     beside onnxruntime on the same ONNX and the same input (one thread each, pinned to the
#     same core, alternated), and noisy copies per second of the whole loop on 1 and 2 workers
#     (benches/src/bin/certify_speed.rs);
#  2. for ONLINE_MODELS (default kws-fsdd-rt: fixed n = 10,000 on a slower model takes too long
#     for a routine run), online CERTIFY of CLIPS 1-s windows of real speech (FSDD test clips,
#     evenly spaced) under a 900 ms budget each on 2 workers, with the planned-n bound at the full α and with the
#     former Bonferroni look schedule, against fixed n = 10,000 on the same windows: the
#     fraction certified within their second, median n, median radius and the median per-window
#     ratio online / fixed;
#  3. `soundproof demo` in real time on models/demo/digits.wav played twice (21 s): labels and
#     certificates on the same two cores, every certificate's n, radius and time.
#
#   PYTHON=.venv/bin/python [ONLINE_MODELS="kws-fsdd-rt"] [PARTS="1 2 3"] \
#       benches/run_online_bench.sh [CLIPS] [MODELS...]
#
# PARTS selects the parts to run (each overwrites its own files; the tables are printed from
# whatever target/online-bench holds).
#
# Writes target/online-bench/* and prints markdown tables; the 1-minute load average is
# printed before and after each part (other jobs on the machine slow everything down alike).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CLIPS=${1:-24}
shift || true
MODELS=("$@")
[ ${#MODELS[@]} -gt 0 ] || MODELS=(kws-fsdd-rt kws-fsdd-int8)
# TARGET_CPU=x86-64-v3 (or native): the binaries built with `-C target-cpu=$TARGET_CPU` into
# target/cpu-$TARGET_CPU, results in target/online-bench-$TARGET_CPU (optional; BENCHMARKS.md).
. benches/target_cpu.sh
OUT=target/online-bench${TARGET_CPU:+-$TARGET_CPU}
mkdir -p "$OUT"
PARTS=" ${PARTS:-1 2 3} "
part() { [[ "$PARTS" == *" $1 "* ]]; }
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
PIN=""
if command -v taskset >/dev/null; then PIN="taskset -c $(($(nproc) - 1))"; fi
load() { echo "$(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg) ($1)" | tee -a "$OUT/load.txt" >&2; }
cargo build --release --locked -q --bin soundproof -p soundproof
cargo build --release --locked -q -p soundproof-benches --bin certify_speed
BIN=$TDIR/release/soundproof
DATA=../shared/data/fsdd/recordings

# 1. Per-copy cost split, tract and onnxruntime alternated on the same input (pinned to one
# core), then the whole loop on 1 and 2 workers (not pinned: the workers need both cores).
read -r -a ONLINE <<< "${ONLINE_MODELS:-kws-fsdd-rt}"
part 1 && load "part 1 start"
part 1 && for m in "${MODELS[@]}"; do
    $PIN $TDIR/release/certify_speed "models/$m.onnx" 1000 1 "$OUT" > "$OUT/speed-$m.jsonl"
    $TDIR/release/certify_speed "models/$m.onnx" 1000 1 > "$OUT/speed-unpinned-$m.jsonl"
    $PIN $PY - "models/$m.onnx" "$OUT/input-$m.npy" >> "$OUT/speed-$m.jsonl" <<'PYEOF'
import json, sys, time
import numpy as np, onnxruntime as ort
so = ort.SessionOptions()
so.intra_op_num_threads = 1
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
s = ort.InferenceSession(sys.argv[1], sess_options=so, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2]).astype(np.float32)
name = s.get_inputs()[0].name
for _ in range(50):
    s.run(None, {name: x})
ms = []
for _ in range(600):
    t = time.perf_counter()
    s.run(None, {name: x})
    ms.append((time.perf_counter() - t) * 1e3)
ms.sort()
print(json.dumps({"part": "ort model", "onnxruntime": ort.__version__, "ms_per_window": ms[len(ms) // 2]}))
PYEOF
done
part 1 && load "part 1 end"

# 2. Online CERTIFY against fixed n = 10,000 on the same windows.
mapfile -t FILES < <($PY - "$DATA" "$CLIPS" <<'PYEOF'
import os, sys
d, k = sys.argv[1], int(sys.argv[2])
t = sorted(f for f in os.listdir(d) if f.endswith('.wav') and int(f[:-4].split('_')[2]) <= 4)
print('\n'.join(os.path.join(d, t[int(i * len(t) / k)]) for i in range(k)))
PYEOF
)
part 2 && for m in "${ONLINE[@]}"; do
    load "part 2 $m start"
    for bound in planned looks; do
        $BIN certify --model "models/$m.onnx" --sigma 0.005 --n0 32 --n 10000 --budget-ms 900 --bound $bound \
            --workers 2 --quiet --json "$OUT/online-$bound-$m.json" "${FILES[@]}" > /dev/null
    done
    $BIN certify --model "models/$m.onnx" --sigma 0.005 --n0 100 --n 10000 --threads 2 --quiet \
        --json "$OUT/fixed10k-$m.json" "${FILES[@]}" > /dev/null
    load "part 2 $m end"
done

# 3. The demo in real time, the recording played twice.
part 3 && $PY - models/demo/digits.wav "$OUT/digits2.wav" <<'PYEOF'
import sys, wave
r = wave.open(sys.argv[1], "rb")
p, frames = r.getparams(), r.readframes(r.getnframes())
w = wave.open(sys.argv[2], "wb")
w.setparams(p)
w.writeframes(frames + frames)
PYEOF
part 3 && for m in "${MODELS[@]}"; do
    load "part 3 $m start"
    $BIN demo --model "models/$m.onnx" --input "$OUT/digits2.wav" > "$OUT/demo-$m.txt"
    load "part 3 $m end"
done

$PY - "$OUT" "${#ONLINE[@]}" "${ONLINE[@]}" "${MODELS[@]}" <<'PYEOF'
import json, math, re, statistics, sys
out, k = sys.argv[1], int(sys.argv[2])
online, models = sys.argv[3:3 + k], sys.argv[3 + k:]
med = lambda v: statistics.median(v) if v else float("nan")
def ref(sigma, n, alpha):
    from statistics import NormalDist
    return sigma * NormalDist().inv_cdf(math.exp(math.log(alpha) / n))
print("Per noisy copy (ms; one thread, pinned), and copies per second of the whole loop (not pinned):\n")
print("| model | noise: engine (xoshiro256++ with rand_distr's ziggurat; ChaCha12) | front end | model, tract | model, onnxruntime | tract / ort | sum of parts | copies/s, 1 worker | copies/s, 2 workers | 2 / 1 |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in models:
    rows = [json.loads(l) for l in open(f"{out}/speed-{m}.jsonl") if l.startswith("{")]
    get = lambda part, **kw: next(r for r in rows if r["part"] == part and all(r.get(k) == v for k, v in kw.items()))
    nz, fe, mo, ort = get("noise"), get("front end"), get("model"), get("ort model")
    rows = [json.loads(l) for l in open(f"{out}/speed-unpinned-{m}.jsonl") if l.startswith("{")]
    f1, f2 = get("full", workers=1), get("full", workers=2)
    parts = nz["engine_ms"] + fe["ms_per_window"] + mo["ms_per_window"]
    print(f"| `{m}` | {nz['engine_ms']:.3f} ({nz['xoshiro256pp_ms']:.3f}; {nz['chacha12_ms']:.3f}) | {fe['ms_per_window']:.3f} | {mo['ms_per_window']:.3f} | {ort['ms_per_window']:.3f} | {mo['ms_per_window'] / ort['ms_per_window']:.2f}× | {parts:.3f} | {f1['samples_per_s']:.0f} | {f2['samples_per_s']:.0f} | {f2['samples_per_s'] / f1['samples_per_s']:.2f}× |")
print("\nOnline CERTIFY, 900 ms budget per 1-s window, 2 workers, against fixed n = 10,000 on the same windows (σ = 0.005, α = 0.001):\n")
print("| model | bound | windows | certified within 1 s | median n | median time (s) | median radius online | median radius n = 10,000 | online / fixed (median per window) | median radius / all-agree R(n = 10,000) |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for m in online:
    fx = {r["path"]: r["certificate"] for r in json.load(open(f"{out}/fixed10k-{m}.json"))["records"]}
    for bound in ["planned", "looks"]:
        on = [r for r in json.load(open(f"{out}/online-{bound}-{m}.json"))["records"]]
        c = [r["certificate"] for r in on]
        ok = [x for x in c if x["radius"] > 0 and x["seconds"] <= 1.0]
        ratios = [r["certificate"]["radius"] / fx[r["path"]]["radius"] for r in on if fx[r["path"]]["radius"] > 0]
        rr = ref(0.005, 10000, 0.001)
        print(f"| `{m}` | {bound} | {len(c)} | {len(ok)}/{len(c)} | {med([x['samples'] for x in c]):.0f} | {med([x['seconds'] for x in c]):.3f} | {med([x['radius'] for x in c]):.5f} | {med([x['radius'] for x in fx.values()]):.5f} | {med(ratios):.3f} | {med([x['radius'] for x in c]) / rr:.3f} |")
print("\n`soundproof demo` in real time, models/demo/digits.wav twice (21 s), default settings:\n")
print("| model | certificates | skipped | within 1 s | median n | median R | median R / R_ref | median time (ms) | last summary line |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---|")
pat = re.compile(r"certified \[.*?\]\s+(?:✓ \S+ R = ([0-9.]+) = ([0-9.]+) ×.*?|abstain.*?)\(n = (\d+), (\d+) ms\)")
for m in models:
    txt = open(f"{out}/demo-{m}.txt").read()
    certs = [(float(a) if a else 0.0, float(b) if b else 0.0, int(n), int(t)) for a, b, n, t in pat.findall(txt)]
    sk = re.search(r"\((\d+) skipped", txt)
    summ = [l for l in txt.splitlines() if "windows certified online" in l]
    print(f"| `{m}` | {len(certs)} | {sk.group(1) if sk else '?'} | {sum(1 for c in certs if c[3] <= 1000)}/{len(certs)} | {med([c[2] for c in certs]):.0f} | {med([c[0] for c in certs]):.4f} | {med([c[1] for c in certs]):.2f} | {med([c[3] for c in certs]):.0f} | {summ[-1] if summ else ''} |")
PYEOF

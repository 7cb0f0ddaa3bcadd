#!/usr/bin/env bash
# Inference benchmark, one command: builds the `inference` binary (release), and for each shipped
# model runs tract (through the engine's `Model`, one thread) and then onnxruntime
# (benches/ort_anchor.py, one thread, sequential, default optimizations) on the identical inputs
# (real FSDD log-mel windows the binary writes to .npy), both pinned to the same core; then the
# per-node tract profile (`inference --profile`); prints a markdown table. Outputs go to
# target/bench-inference/ (tract.jsonl, ort.jsonl, profile.jsonl, table.md).
#
#   benches/run_inference_bench.sh
#
# Environment:
#   PYTHON          interpreter with onnxruntime and numpy (default: .venv/bin/python, else python3)
#   BENCH_CPU       core to pin the timed runs to with taskset (default 0; empty: no pinning)
#   REPEATS         batch-1 runs per model and engine (default 200), after WARMUP (default 20)
#   REPEATS_BATCH   batch-32 runs (default 30)
#   PROFILE         1 (default): also run the per-node profile; 0: skip it
#   PROFILE_ITERS   runs per profiled plan (default 100)
#   MODELS          comma-separated model names (default: the four shipped kws-fsdd models)
#   INFERENCE_ARGS  extra arguments of the `inference` binary (e.g. `--no-realtime --stream-repeat 2`)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
out="$target/bench-inference"
mkdir -p "$out"

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
"$PYTHON" -c 'import onnxruntime, numpy' 2>/dev/null || {
    echo "error: $PYTHON cannot import onnxruntime and numpy; set PYTHON to an interpreter that has them" >&2
    exit 1
}

pin=()
cpu=${BENCH_CPU-0}
if [[ -n "$cpu" ]] && command -v taskset >/dev/null; then
    pin=(taskset -c "$cpu")
    pinned="core $cpu (taskset)"
else
    pinned="not pinned"
fi
# One thread everywhere (tract runs on the calling thread; these keep numpy/onnxruntime's
# helpers from spawning pools).
export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 NUMEXPR_NUM_THREADS=1 \
    VECLIB_MAXIMUM_THREADS=1 RAYON_NUM_THREADS=1

models=${MODELS:-kws-fsdd,kws-fsdd-int8,kws-fsdd-rt,kws-fsdd-rt-int8}
warmup=${WARMUP:-20}
repeats=${REPEATS:-200}
repeats_batch=${REPEATS_BATCH:-30}
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")
started=$(date -Iseconds)

echo "== build" >&2
cargo build --release -p soundproof-benches --bin inference
bin="$target/release/inference"
common=(--out "$out" --warmup "$warmup" --repeats "$repeats" --repeats-batch "$repeats_batch")
# shellcheck disable=SC2206
extra=(${INFERENCE_ARGS:-})

: > "$out/tract.jsonl"
: > "$out/ort.jsonl"
# Model by model, tract then onnxruntime, so both see the same machine load.
IFS=, read -ra names <<< "$models"
for m in "${names[@]}"; do
    echo "== $m: tract (pinned: $pinned)" >&2
    "${pin[@]}" "$bin" "${common[@]}" ${extra[@]+"${extra[@]}"} --only "$m" | tee -a "$out/tract.jsonl" >&2
    echo "== $m: onnxruntime (pinned: $pinned)" >&2
    "${pin[@]}" "$PYTHON" benches/ort_anchor.py --dir "$out" --only "$m" --warmup "$warmup" \
        --repeats "$repeats" --repeats-batch "$repeats_batch" | tee -a "$out/ort.jsonl" >&2
done

: > "$out/profile.jsonl"
if [[ "${PROFILE:-1}" == 1 ]]; then
    echo "== tract per-node profile (pinned: $pinned)" >&2
    "${pin[@]}" "$bin" --out "$out" --only "$models" --profile --profile-iters "${PROFILE_ITERS:-100}" \
        > "$out/profile.jsonl"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

"$PYTHON" - "$out" "$pinned" "$load_before" "$load_after" "$started" "$(rustc --version)" \
    > "$out/table.md" <<'EOF'
import json, os, sys, platform, pathlib

out, pinned, load_before, load_after, started, rustc = sys.argv[1:]
def lines(f):
    p = pathlib.Path(out, f)
    return [json.loads(l) for l in p.read_text().splitlines() if l.strip()] if p.exists() else []
tr, ort, prof = lines("tract.jsonl"), lines("ort.jsonl"), lines("profile.jsonl")
T = {r["model"]: r for r in tr if r["kind"] == "model" and r["engine"] == "tract"}
C = {r["model"]: r for r in tr if r["kind"] == "model" and r["engine"] == "tract-concrete"}
O = {r["model"]: r for r in ort if r["kind"] == "model"}
S = [r for r in tr if r["kind"] == "stream"]
setup = next(r for r in tr if r["kind"] == "setup")
osetup = next((r for r in ort if r["kind"] == "setup"), {})
parent = {"kws-fsdd-int8": "kws-fsdd", "kws-fsdd-rt-int8": "kws-fsdd-rt"}

def f(x, d=3):
    return "—" if x is None else f"{x:.{d}f}"

def g(D, m, *k):
    r = D.get(m)
    for key in k:
        if r is None:
            return None
        r = r.get(key)
    return r

def ms(D, m):
    return g(D, m, "b1", "median_ms")

def wps(D, m):
    return g(D, m, "batch", "windows_per_s")

def speedup(D, m):
    q = parent.get(m)
    if q is None or ms(D, m) is None or ms(D, q) is None:
        return "—"
    return f"{ms(D, q) / ms(D, m):.2f}× / {wps(D, m) / wps(D, q):.2f}×"

def ratio(x, y):
    return "—" if x is None or y is None else f"{x / y:.2f}×"

p = print
p(f"- {started} (finished {__import__('datetime').datetime.now().isoformat(timespec='seconds')}), "
  f"{platform.node()}, {platform.machine()}, {os.cpu_count()} cores, timed runs pinned to {pinned}; "
  f"load average before {load_before}, after {load_after}")
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    p(f"- CPU: {cpu}")
except (OSError, StopIteration):
    pass
if float(load_before.split()[0]) > 0.5:
    p(f"- UNDER LOAD (1-minute load {load_before.split()[0]} on {os.cpu_count()} cores): absolute times are "
      "pessimistic; tract and onnxruntime ran back to back per model, so ratios are comparable")
p(f"- {rustc}; tract-onnx 0.23 through `soundproof::model::Model::run` (one thread; a plan per batch size, "
  f"made on first use), and tract plans typed directly for batch 1 and batch {setup['batch']} "
  f"(\"concrete\"); onnxruntime {osetup.get('onnxruntime', '?')} (intra/inter-op threads 1, sequential, "
  f"default optimizations), Python {osetup.get('python', '?')}")
p(f"- inputs: {setup['windows']} real log-mel windows {setup['example_shape']} of FSDD test clips (card front end, "
  f"RMS gain) for batch 1, cycled; a certification batch of {setup['batch']} noisy copies (waveform σ "
  f"{setup['noise_sigma']:.3g}) for batch {setup['batch']}; {setup['warmup']} warm-up runs, {setup['repeats']} timed "
  f"runs at batch 1, {setup['repeats_batch']} at batch {setup['batch']}; median = upper middle, p90 = nearest rank")
p("")
B = setup["batch"]
p(f"| model | precision | tract median ms/window b=1 | ort median ms/window b=1 | tract/ort | "
  f"tract windows/s b={B} | ort windows/s b={B} | int8 speed-up tract (b=1 / b={B}) | "
  f"int8 speed-up ort (b=1 / b={B}) | tract concrete-plan ms/window b=1 | concrete/ort | "
  f"tract concrete windows/s b={B} | int8 speed-up tract concrete (b=1 / b={B}) |")
p("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for m, t in T.items():
    p(f"| {m} | {t['precision']} | {f(ms(T, m))} | {f(ms(O, m))} | {ratio(ms(T, m), ms(O, m))} | "
      f"{f(wps(T, m), 0)} | {f(wps(O, m), 0)} | {speedup(T, m)} | {speedup(O, m)} | "
      f"{f(ms(C, m))} | {ratio(ms(C, m), ms(O, m))} | {f(wps(C, m), 0)} | {speedup(C, m)} |")
p("")
p("Details: p90 and windows/s at batch 1, agreement and accuracy on the 64 windows.")
p("")
p("| model | tract p90 ms b=1 | ort p90 ms b=1 | tract concrete p90 ms b=1 | tract windows/s b=1 | "
  "ort windows/s b=1 | tract concrete windows/s b=1 | max abs Δlogit tract–ort (b=1 / batch) | "
  "max abs Δlogit concrete–engine plan | accuracy tract / ort |")
p("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for m, t in T.items():
    vs = g(O, m, "vs_tract") or {}
    diff = " / ".join(f"{v['max_abs_diff']:.2g}" for v in vs.values()) or "—"
    cd = g(C, m, "max_abs_diff_vs_engine_plan")
    cd = " / ".join(f"{v:.2g}" for v in cd) if cd else "—"
    p(f"| {m} | {f(g(T, m, 'b1', 'p90_ms'))} | {f(g(O, m, 'b1', 'p90_ms'))} | {f(g(C, m, 'b1', 'p90_ms'))} | "
      f"{f(g(T, m, 'b1', 'windows_per_s'), 0)} | {f(g(O, m, 'b1', 'windows_per_s'), 0)} | "
      f"{f(g(C, m, 'b1', 'windows_per_s'), 0)} | {diff} | {cd} | {t['accuracy']:.3f} / {f(g(O, m, 'accuracy'))} |")
p("")
p("End to end (tract, the pipeline's own statistics; audio in → label out per window):")
p("")
p("| model | run | audio (s) | windows (dropped) | windows/s | × real time | inference ms/window (median) | "
  "audio-in → label-out ms: median / p90 / max |")
p("|---|---|---:|---:|---:|---:|---:|---:|")
for s in S:
    p(f"| {s['model']} | {s['mode']}, {s['input']} | {s['audio_s']:.1f} | {s['windows']} ({s['dropped_windows']}) | "
      f"{s['windows_per_s']:.0f} | {s['realtime_factor']:.1f} | {f(s['inference_ms_median'])} | "
      f"{f(s['latency_ms_median'], 2)} / {f(s['latency_ms_p90'], 2)} / {f(s['latency_ms_max'], 2)} |")
p("")
p("Goals:")
for m, t in T.items():
    o = O.get(m)
    if o:
        r = t["b1"]["median_ms"] / o["b1"]["median_ms"]
        p(f"- {m}: tract ≤ 1.5× onnxruntime latency (b=1): {'met' if r <= 1.5 else 'NOT met'} ({r:.2f}×)")
for m, t in C.items():
    if m in O:
        r = ms(C, m) / ms(O, m)
        p(f"- {m}: tract with a concrete-batch plan ≤ 1.5× onnxruntime (b=1): {'met' if r <= 1.5 else 'NOT met'} ({r:.2f}×)")
for m, q in parent.items():
    for eng, D in (("tract", T), ("tract concrete plan", C), ("onnxruntime", O)):
        if m in D and q in D:
            s = D[q]["b1"]["median_ms"] / D[m]["b1"]["median_ms"]
            p(f"- {m} in {eng}: int8 ≥ 1.3× faster than f32 (b=1): {'met' if s >= 1.3 else 'NOT met'} ({s:.2f}×)")

if prof:
    p("")
    p("tract per-node profile (`inference --profile`; a plan with a symbolic batch (what the engine used before it kept a plan per batch size) and a plan typed for batch 1; ms per run, share of the summed node time; the hook adds some time per node):")
    p("")
    tot = [r for r in prof if r["kind"] == "profile-total"]
    p("| model | plan | batch | run median (ms) | sum of nodes (ms) | top ops (ms, share) |")
    p("|---|---|---:|---:|---:|---|")
    for r in tot:
        ops = [x for x in prof if x["kind"] == "profile-op" and x["model"] == r["model"]
               and x["plan"] == r["plan"] and x["batch"] == r["batch"]]
        top = "; ".join(f"{x['op']} ×{x['nodes']}: {x['ms']:.3f} ({100 * x['share']:.0f} %)" for x in ops[:5])
        p(f"| {r['model']} | {r['plan']} | {r['batch']} | {r['run_median_ms']:.3f} | {r['sum_of_nodes_ms']:.3f} | {top} |")
EOF

cat "$out/table.md"

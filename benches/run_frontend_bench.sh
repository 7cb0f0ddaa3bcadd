#!/usr/bin/env bash
# Front-end benchmark, one command: builds and runs the criterion bench `frontend`, times librosa
# on the same signal in the same run (benches/librosa_anchor.py), measures the dsp objects'
# memory (bin `memory`), and prints a markdown table of µs/frame and librosa/ours ratios.
# The table goes to stdout and to target/bench-frontend.md.
#
#   benches/run_frontend_bench.sh [criterion args...]     e.g. `stream_` to run only those
#
# Environment:
#   PYTHON     interpreter with librosa 0.11 (default: .venv/bin/python, else python3)
#   BENCH_CPU  core to pin the timed runs to with taskset (default 0; empty: no pinning)
#   REPEATS    librosa repeats (default 25)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)
target=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$target"

if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then PYTHON="$root/.venv/bin/python"; else PYTHON=python3; fi
fi
"$PYTHON" -c 'import librosa' 2>/dev/null || {
    echo "error: $PYTHON cannot import librosa; set PYTHON to an interpreter that has librosa 0.11" >&2
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

log="$target/bench-frontend.log"
librosa_json="$target/bench-frontend-librosa.json"
memory_md="$target/bench-frontend-memory.md"
out_md="$target/bench-frontend.md"
load_before=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo "?")

echo "== build (all cores)" >&2
cargo bench -p soundproof-benches --bench frontend --no-run
cargo build --profile bench -p soundproof-benches --bin memory

echo "== memory" >&2
cargo run -q --profile bench -p soundproof-benches --bin memory > "$memory_md"

# Only results written by this run count (criterion keeps old ones, e.g. of a bench that is
# skipped now).
stamp="$target/bench-frontend.stamp"
touch "$stamp"

echo "== criterion (pinned: $pinned)" >&2
"${pin[@]}" cargo bench -p soundproof-benches --bench frontend -- --noplot "$@" 2>&1 | tee "$log" >&2

echo "== librosa (pinned: $pinned)" >&2
"${pin[@]}" "$PYTHON" benches/librosa_anchor.py --repeats "${REPEATS:-25}" > "$librosa_json"

"$PYTHON" - "$target" "$stamp" "$log" "$librosa_json" "$memory_md" "$pinned" "$load_before" \
    "$(rustc --version)" > "$out_md" <<'EOF'
import json, os, re, sys, platform, datetime, pathlib

target, stamp, log, librosa_json, memory_md, pinned, load_before, rustc = sys.argv[1:]
since = os.path.getmtime(stamp)

# Criterion results of this run: benchmark.json (ids, throughput) + estimates.json (median).
res = {}
for bj in pathlib.Path(target, "criterion").glob("**/new/benchmark.json"):
    est = bj.with_name("estimates.json")
    if not est.exists() or est.stat().st_mtime < since:
        continue
    b = json.loads(bj.read_text())
    median_ns = json.loads(est.read_text())["median"]["point_estimate"]
    per = (b.get("throughput") or {}).get("Elements") or 1
    res[b["full_id"]] = median_ns / per / 1e3  # µs per element (frame) or per call

lib = json.loads(pathlib.Path(librosa_json).read_text())
text = pathlib.Path(log).read_text()
notes = re.findall(r"^note: (.*)$", text, re.M)
m = re.search(r"^signal: samples=(\d+) sum=(\S+) sum_sq=(\S+)$", text, re.M)

def fmt(x):
    return "—" if x is None else (f"{x:.3f}" if x < 10 else f"{x:.1f}")

def ratio(a, b):
    return "—" if a is None or b is None else f"{a / b:.2f}×"

rows = [
    # label, criterion group, librosa key
    ("streaming log-mel, 60 s via `FrontEnd` (hop-sized pushes)", "stream_logmel_60s", "logmel"),
    ("streaming MFCC, 60 s via `FrontEnd`", "stream_mfcc_60s", "mfcc"),
    ("streaming STFT power, 60 s via `FrontEnd`", "stream_stft_power_60s", "stft_power"),
    ("per frame: STFT power (`Stft::process`)", "frame_stft_power", None),
    ("per frame: log-mel (`LogMel::process`)", "frame_logmel", None),
    ("per frame: MFCC (`Mfcc::process`)", "frame_mfcc", None),
    ("per frame: scalogram, default params", "frame_scalogram", None),
    ("per frame: DWT sub-bands, default params (no FFT)", "frame_dwt_bands", None),
    ("1024-point real FFT + power spectrum (`RealFft::power`, incl. a 4 KiB input copy; per call)", "fft_1024_power", None),
]

out = []
p = out.append
p("## Front-end benchmark")
p("")
p(f"- {datetime.datetime.now().isoformat(timespec='seconds')}, {platform.node()}, "
  f"{platform.machine()}, {os.cpu_count()} cores, timed runs pinned to {pinned}, "
  f"load average before the run {load_before}")
cpu = ""
try:
    cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
except (OSError, StopIteration):
    pass
if cpu:
    p(f"- CPU: {cpu}")
try:
    if float(load_before.split()[0]) > 0.5:
        p(f"- WARNING: the machine was busy (1-minute load {load_before.split()[0]}); timings are noisy, "
          "re-run on a quiet machine before quoting them")
except ValueError:
    pass
p(f"- {rustc}; criterion median per iteration; librosa {lib['librosa']} / numpy {lib['numpy']} / "
  f"Python {lib['python']}, one thread, median of {lib['repeats']} runs after {lib['warmup']} warm-up")
p("- 16 kHz, n_fft 1024, win_length 400, hop_length 160, 64 slaney mels, 20 MFCC, centred, constant "
  f"padding, no top_db; 60 s clip = {lib['logmel']['frames']} frames; every librosa pipeline "
  "starts from the waveform (MFCC includes the log-mel)")
if m:
    ok = (int(m.group(1)) == lib["samples"]
          and abs(float(m.group(2)) - lib["signal_sum"]) <= 1e-6 * max(1.0, abs(lib["signal_sum_sq"]))
          and abs(float(m.group(3)) - lib["signal_sum_sq"]) <= 1e-6 * lib["signal_sum_sq"])
    p(f"- same signal in both: {'yes' if ok else 'NO (checksums differ)'} "
      f"(samples {m.group(1)}, sum {float(m.group(2)):.6g} vs {lib['signal_sum']:.6g}, "
      f"sum of squares {float(m.group(3)):.9g} vs {lib['signal_sum_sq']:.9g})")
p("")
p("| measurement | ours, microfft (µs/frame) | ours, realfft (µs/frame) | librosa (µs/frame) "
  "| librosa / ours, microfft | librosa / ours, realfft |")
p("|---|---:|---:|---:|---:|---:|")
for label, group, key in rows:
    if group == "frame_dwt_bands":
        micro, real = res.get(f"{group}/none"), None
    else:
        micro, real = res.get(f"{group}/microfft"), res.get(f"{group}/realfft")
    ref = lib[key]["us_per_frame"] if key else None
    p(f"| {label} | {fmt(micro)} | {fmt(real) if group != 'frame_dwt_bands' else '(no FFT)'} "
      f"| {fmt(ref)} | {ratio(ref, micro)} | {ratio(ref, real)} |")
p("")
ours = [res.get(f"stream_logmel_60s/{b}") for b in ("microfft", "realfft")]
ref = lib["logmel"]["us_per_frame"]
best = min((x for x in ours if x is not None), default=None)
if best is not None:
    verdict = "met" if ref / best >= 2.0 else "NOT met"
    p(f"Goal, streaming log-mel at least 2× faster than librosa: {verdict} "
      f"({ratio(ref, best)} with the faster backend).")
for n in notes:
    p(f"- {n}")
missing = [f"{g}/{b}" for _, g, _ in rows for b in (("none",) if g == "frame_dwt_bands" else ("microfft", "realfft"))
           if f"{g}/{b}" not in res and not any(f"{g}/{b}" in n for n in notes)]
if missing:
    p(f"- no result from this run (filtered out?): {', '.join(missing)}")
p("")
p("### Memory")
p("")
p(pathlib.Path(memory_md).read_text().rstrip())
print("\n".join(out))
EOF

cat "$out_md"

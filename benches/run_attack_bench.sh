#!/usr/bin/env bash
# Attacks, ours against torchattacks: `soundproof-tools attack` (tch, libtorch 2.11) and
# benches/attack_anchor.py (torchattacks 3.5.1 on a PyTorch twin of the same checkpoint) attack
# the same FSDD test maps (features domain, the box [min, max] of each clean map) with the same
# parameters, on the same device, with the same number of CPU threads; prints one markdown
# table: fooling rate, mean L2 / L∞, gradients per example, seconds per example, gradients per
# second and the time ratio ours / theirs (median of REPEATS runs per side; the runs alternate
# ours / theirs attack by attack, each side a fresh process, so load drift and start-up costs
# hit both alike).
#
#   [CHECKPOINT=out/repro-kws-fsdd-aug] [DEVICE=cpu|cuda] [THREADS=2] [BATCH=16] [REPEATS=3] \
#   [SOUNDPROOF_TOOLS=target/release/soundproof-tools] [PYTHON=.venv/bin/python] \
#   [SOUNDPROOF_DATA=../shared/data] [OUT=target/attack-bench] [ONLY="fgsm bim-b ..."] [NO_PLOTS=1] \
#   benches/run_attack_bench.sh [CLIPS]
#
# Attacks: FGSM (L∞ ε = 1 dB), FGSM-L2 (ε = 20 dB; torchattacks' PGDL2 with one step of α = ε),
# BIM-b (ε = 1 dB, α = 0.25 dB, 10 steps), DeepFool-L2 (50 steps, overshoot 0.02), and CW-L2
# when this soundproof-tools has `--attack cw-l2` (fixed constant: one search step).
# Writes $OUT/rNN/KIND/ (our output), $OUT/rNN/KIND.json (the comparison), $OUT/table.{json,md}.
#
# Anchors: torchattacks for every attack; ART (adversarial-robustness-toolbox 1.20.1) as a second
# anchor for DeepFool, when $PYTHON has it (torchattacks' DeepFool stalls on the boundary where
# the clean map touches the box: see benches/attack_anchor.py).
#
# On a machine without cargo or internet (e.g. a GPU box with python3 + torch 2.11.0+cu130):
# copy the built binary, this checkout and the checkpoint folder there, and install the anchors
# from wheels fetched beforehand on a machine with PyPI access (torchattacks and ART are
# py3-none-any; torchattacks goes in with --no-deps: its declared torchvision / requests pins are
# not needed and would replace torch; the rest are what a bare torch install may lack):
#
#   pip download --no-deps --only-binary=:all: --python-version 3.12 \
#       --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
#       -d wheels torchattacks==3.5.1 adversarial-robustness-toolbox==1.20.1 numpy==2.4.6 scipy==1.17.1 \
#       scikit-learn==1.9.1 joblib==1.6.0 threadpoolctl==3.8.0 six==1.17.0 tqdm==4.70.1
#   # on the GPU machine (already-installed packages are kept):
#   python3 -m pip install --no-index --find-links wheels numpy scipy scikit-learn six tqdm
#   python3 -m pip install --no-deps --no-index --find-links wheels torchattacks adversarial-robustness-toolbox
#   python3 -c 'import torch; print(torch.__version__)'      # still 2.11.0+cu130
#   PYTHON=python3 SOUNDPROOF_TOOLS=$PWD/soundproof-tools DEVICE=cuda SOUNDPROOF_DATA=/path/to/data \
#       CHECKPOINT=$PWD/out/repro-kws-fsdd benches/run_attack_bench.sh 50
#
# The binary links libtorch from a PyTorch install: the script puts $PYTHON's torch/lib on
# LD_LIBRARY_PATH, so the same torch serves both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
CK=${CHECKPOINT:-out/repro-kws-fsdd-aug}
DEVICE=${DEVICE:-cpu}
THREADS=${THREADS:-2}
BATCH=${BATCH:-16}
REPEATS=${REPEATS:-3}
OUT=${OUT:-target/attack-bench}
CLIPS=${1:-50}

if [ ! -f "$CK/checkpoint.json" ] || [ ! -f "$CK/model.safetensors" ]; then
    cat >&2 <<EOF
run_attack_bench: no trained checkpoint at $CK (checkpoint.json + model.safetensors).
Both sides need the tch checkpoint (the shipped models/*.onnx have batch norm folded). Either
point CHECKPOINT at a folder written by \`soundproof-tools train\`, or train kws-fsdd with the
command of models/README.md ("Reproduce"; about 8 minutes on 2 CPU threads):

  scripts/tools.sh train --model kws-cnn --dataset fsdd --epochs 40 --batch-size 32 --sigma 0.005 \\
      --noise-prob 0.5 --patience 15 --seed 0 --speed 0.1 --gain-db 20 --background ../shared/data/esc10/audio \\
      --background-folds 1,2,3 --freq-mask 8 --time-mask 10 --threads 2 --device cpu --name kws-fsdd \\
      --out out/repro-kws-fsdd-aug
EOF
    exit 1
fi
if ! "$PY" -c 'import torch, torchattacks' 2>/dev/null; then
    cat >&2 <<EOF
run_attack_bench: $PY lacks torch or torchattacks. In the project venv: scripts/setup.sh, then
scripts/tools.sh --build-only (installs torch 2.11.0). Elsewhere: $PY -m pip install --no-deps
torchattacks==3.5.1 (offline: see the wheel commands at the top of this script).
EOF
    exit 1
fi
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -n "${SOUNDPROOF_TOOLS:-}" ]; then
    TOOLS=$SOUNDPROOF_TOOLS
else
    TOOLS=target/release/soundproof-tools
    [ -x "$TOOLS" ] || scripts/tools.sh --build-only
fi
DATA=${SOUNDPROOF_DATA:-../shared/data}
if [ ! -d "$DATA/fsdd/recordings" ]; then
    echo "run_attack_bench: no FSDD at $DATA/fsdd/recordings (set SOUNDPROOF_DATA to the folder holding fsdd/)" >&2
    exit 1
fi
export OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
ANCHORS=torchattacks
if "$PY" -c 'import art' 2>/dev/null; then
    ANCHORS=torchattacks,art
else
    echo "run_attack_bench: $PY has no ART (adversarial-robustness-toolbox): its DeepFool row skipped" >&2
fi

help=$("$TOOLS" attack --help)
has_flag() { grep -q -- "$1" <<<"$help"; }
ATTACKS=(
    "fgsm|--attack fgsm --eps 1"
    "fgsm-l2|--attack fgsm-l2 --eps 20"
    "bim-b|--attack bim-b --eps 1 --alpha 0.25 --steps 10"
    "deepfool|--attack deepfool --steps 50"
)
if grep -q 'cw-l2' <<<"$help"; then
    # torchattacks' CW has a fixed constant and no binary search: ours runs one search step.
    cw="--attack cw-l2 --steps 100"
    has_flag --c-init && cw+=" --c-init 1000"
    has_flag --confidence && cw+=" --confidence 0"
    has_flag --search-steps && cw+=" --search-steps 1"
    has_flag --lr && cw+=" --lr 0.01"
    ATTACKS+=("cw-l2|$cw")
else
    echo "run_attack_bench: this soundproof-tools has no --attack cw-l2: CW-L2 row skipped" >&2
fi

if [ -n "${ONLY:-}" ]; then
    kept=()
    for spec in "${ATTACKS[@]}"; do
        [[ " $ONLY " == *" ${spec%%|*} "* ]] && kept+=("$spec")
    done
    ATTACKS=("${kept[@]}")
fi
[ ${#ATTACKS[@]} -gt 0 ] || { echo "run_attack_bench: no attack left (ONLY=$ONLY)" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
onnx=$(ls "$CK"/*.onnx 2>/dev/null | head -1 || true)
first=1
RUNS=()
for r in $(seq -w 1 "$REPEATS"); do
    mkdir -p "$OUT/r$r"
    for spec in "${ATTACKS[@]}"; do
        name=${spec%%|*}
        read -r -a args <<<"${spec#*|}"
        "$TOOLS" attack --checkpoint "$CK" --domain features --dataset fsdd --data-dir "$DATA" \
            --max-clips "$CLIPS" --batch-size "$BATCH" --device "$DEVICE" --threads "$THREADS" \
            ${NO_PLOTS:+--no-plots} "${args[@]}" --out "$OUT/r$r/$name" > "$OUT/r$r/$name.log"
        if [ $first = 1 ] && [ -n "$onnx" ] && "$PY" -c 'import onnxruntime' 2>/dev/null; then
            # The twin against onnxruntime on the exported f32 model (batch norm folded there).
            echo "twin check: $("$PY" benches/attack_anchor.py check --checkpoint "$CK" --onnx "$onnx" "$OUT/r$r/$name")" >&2
        fi
        first=0
        "$PY" benches/attack_anchor.py compare --checkpoint "$CK" --device "$DEVICE" --threads "$THREADS" \
            --batch-size "$BATCH" --anchors "$ANCHORS" --json "$OUT/r$r/$name.json" "$OUT/r$r/$name" > /dev/null
        RUNS+=("$OUT/r$r/$name.json")
    done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$PY" benches/attack_anchor.py table --json "$OUT/table.json" --markdown "$OUT/table.md" "${RUNS[@]}"

#!/usr/bin/env bash
# The whole GPU measurement in one go (BENCHMARKS.md, "Attacks and training on a GPU"): sized to
# finish in about 7 minutes on one H200, because a GPU machine is usually lent for a short while.
#
#   GPU=.gpu OUT=out/gpu benches/gpu_run.sh            # on the GPU machine
#   SCALE=tiny DEVICE=cpu GPU=.gpu OUT=out/gpu-rehearsal benches/gpu_run.sh   # rehearsal on CPU
#
# $GPU holds what the GPU machine cannot download (it has python3 with torch 2.11.0+cu130, no
# cargo, no network): `soundproof-tools` built here against torch 2.11.0 (xz-packed; the binary
# finds that machine's libtorch through LD_LIBRARY_PATH, set below from python3's torch), the kws-cnn
# checkpoint folder `kws-fsdd/` (written by `soundproof-tools train`), `data/fsdd/recordings`,
# and `whl/` with the anchors' wheels (torchattacks 3.5.1 and adversarial-robustness-toolbox
# 1.20.1, py3-none-any, installed --no-deps into a scratch folder). Prepare it with
# benches/gpu_prepare.sh.
#
# Steps, each under a time limit of its own so that one slow step cannot starve the others, and
# each packing its results into $OUT/results.tar.gz as it ends (a step cut short leaves the
# earlier ones intact):
#   0. kws-fsdd's training command (models/README.md) on the device: the attacked checkpoint;
#   1. 004 §4.3 (psycho-robust: §4.2 then §4.3 at 004's 2000 + 4000 + 4000 + 6000 iterations,
#      K = 10 rooms) on ROOM_CLIPS clips, held-out rooms 20;
#   2. psycho-room (Algorithm 1 on the room-averaged loss, 1000 + 4000) on the same clips;
#   3. psycho (004 §4.1, 1000 + 4000) on CLIPS clips (the room clips among them), held-out rooms;
#   4. BIM-b, DeepFool and CW-L2 (features domain) beside torchattacks and ART on the same
#      device (benches/run_attack_bench.sh);
#   5. BIM-b (waveform) examples/s against the batch size;
#   6. training throughput of kws-cnn and resnet18 against the batch size.
set -uo pipefail
cd "$(dirname "$0")/.."
GPU=${GPU:-.gpu}
OUT=${OUT:-out/gpu}
DEVICE=${DEVICE:-cuda}
SCALE=${SCALE:-full}
mkdir -p "$OUT"
LOG="$OUT/run.log"
exec > >(tee -a "$LOG") 2>&1
T0=$(date +%s)
say() { echo "[$(( $(date +%s) - T0 )) s] $*"; }

if [ "$SCALE" = tiny ]; then
    CLIPS=4; ROOM_CLIPS=2; ROBUST="4,4,4,4"; PSY1=4; PSY2=4; ROOMS=2; EVAL_ROOMS=3
    BENCH_CLIPS=4; BIM_STEPS=3; SWEEP="1 2 4"; EPOCHS=1; TRAIN_CLIPS=16; TRAIN_BATCHES="8"; LIMIT=120
else
    CLIPS=${CLIPS:-100}; ROOM_CLIPS=${ROOM_CLIPS:-20}; ROBUST=${ROBUST:-2000,4000,4000,6000}
    PSY1=1000; PSY2=4000; ROOMS=10; EVAL_ROOMS=20
    BENCH_CLIPS=100; BIM_STEPS=50; SWEEP="1 4 16 64 100"; EPOCHS=2; TRAIN_CLIPS=""; TRAIN_BATCHES="32 128 512"; LIMIT=${LIMIT:-150}
fi

PY=${PYTHON:-python3}
if [ -d "$GPU/whl" ] && ls "$GPU"/whl/*.whl >/dev/null 2>&1; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/gpu-site "$GPU"/whl/*.whl \
        && export PYTHONPATH=/tmp/gpu-site${PYTHONPATH:+:$PYTHONPATH}
fi
TORCH_LIB=$("$PY" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
export LD_LIBRARY_PATH="$TORCH_LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
if [ -z "${SOUNDPROOF_TOOLS:-}" ]; then
    xz -dc "$GPU/soundproof-tools.xz" > /tmp/soundproof-tools && chmod +x /tmp/soundproof-tools
    TOOLS=/tmp/soundproof-tools
    # The carried libraries only where this machine lacks one.
    if ldd "$TOOLS" | grep -q "not found"; then
        ldd "$TOOLS" | grep "not found"
        export LD_LIBRARY_PATH="$LD_LIBRARY_PATH:$(cd "$GPU" && pwd)/lib"
    fi
else
    TOOLS=$SOUNDPROOF_TOOLS
fi
CK=${CHECKPOINT:-$GPU/kws-fsdd}
DATA=${SOUNDPROOF_DATA:-$GPU/data}
export SOUNDPROOF_DATA=$DATA

pack() { tar -C "$OUT" -czf "$OUT/results.tar.gz" --exclude='*.wav' --exclude='*.npy' --exclude='*.png' --exclude=results.tar.gz . 2>/dev/null || true; }
TOTAL=${TOTAL:-510}   # seconds for the whole script: later steps get what is left, or are skipped
step() { # step NAME SECONDS COMMAND...: runs under a limit, logs, packs
    local name=$1 limit=$2; shift 2
    local left=$(( TOTAL - ($(date +%s) - T0) ))
    if [ "$left" -lt 20 ]; then say "skip $name: $left s left of $TOTAL"; return; fi
    [ "$limit" -gt "$left" ] && limit=$left
    say "begin $name (limit $limit s)"
    local t=$(date +%s)
    timeout --signal=INT --kill-after=10 "$limit" "$@" > "$OUT/$name.out" 2>&1
    local rc=$?
    say "end $name: rc $rc, $(( $(date +%s) - t )) s"
    tail -n 6 "$OUT/$name.out"
    pack
}

say "machine: $(uname -m), $(nproc) CPUs; load $(cut -d' ' -f1-3 /proc/loadavg)"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
"$PY" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())'
"$PY" -c 'import torchattacks, art; print("torchattacks", torchattacks.__version__, "art", art.__version__)' || say "anchors missing"
"$TOOLS" --help > /dev/null || { say "soundproof-tools does not start"; exit 1; }
# 0: kws-fsdd's training command of models/README.md, on the device (the attacked checkpoint;
# the carried $GPU/kws-fsdd stands in if it fails).
if [ "$SCALE" = tiny ]; then KWS_EPOCHS=(--epochs 1 --max-clips 32); else KWS_EPOCHS=(--epochs 40); fi
step train-kws-fsdd 240 "$TOOLS" train --model kws-cnn --dataset fsdd --data-dir "$DATA" "${KWS_EPOCHS[@]}" --batch-size 32 \
    --sigma 0.005 --noise-prob 0.5 --patience 15 --seed 0 --device "$DEVICE" --name kws-fsdd --out "$OUT/kws-fsdd"
if [ -f "$OUT/kws-fsdd/checkpoint.json" ]; then CK=$OUT/kws-fsdd; fi
say "attacked checkpoint: $CK"
A=("$TOOLS" attack --checkpoint "$CK" --dataset fsdd --data-dir "$DATA" --device "$DEVICE" --no-plots)
PSY=(--domain waveform --stage1-steps "$PSY1" --stage2-steps "$PSY2" --rooms "$ROOMS" --eval-rooms "$EVAL_ROOMS")

# 1-3: 004 at its iteration counts. The room runs take every fifth clip of the plain run's
# (evenly spaced subsets of the test split nest), so the three compare on the same clips.
step psycho-robust $((2 * LIMIT)) "${A[@]}" --attack psycho-robust "${PSY[@]}" --robust-steps "$ROBUST" \
    --max-clips "$ROOM_CLIPS" --batch-size "$ROOM_CLIPS" --out "$OUT/psycho-robust"
step psycho-room "$LIMIT" "${A[@]}" --attack psycho-room "${PSY[@]}" \
    --max-clips "$ROOM_CLIPS" --batch-size "$ROOM_CLIPS" --out "$OUT/psycho-room"
step psycho "$LIMIT" "${A[@]}" --attack psycho "${PSY[@]}" --max-clips "$CLIPS" --batch-size "$CLIPS" --out "$OUT/psycho"

# 4: the anchors on the same device (features domain; one repeat: a GPU run is short).
step anchors $((2 * LIMIT)) env PYTHON="$PY" SOUNDPROOF_TOOLS="$TOOLS" CHECKPOINT="$CK" DEVICE="$DEVICE" \
    BATCH="$BENCH_CLIPS" REPEATS=1 NO_PLOTS=1 OUT="$OUT/anchors" ONLY="bim-b deepfool cw-l2" THREADS="$(nproc)" \
    benches/run_attack_bench.sh "$BENCH_CLIPS"

# 5: examples/s against the batch size (BIM-b, waveform, ε = 0.02).
for b in $SWEEP; do
    step "sweep-b$b" 60 "${A[@]}" --attack bim-b --domain waveform --eps 0.02 --steps "$BIM_STEPS" \
        --max-clips "$BENCH_CLIPS" --batch-size "$b" --json --out "$OUT/sweep-b$b"
done

# 6: training throughput (FSDD, the recipe of models/README.md; clips/s from train_log.json).
for arch in kws-cnn resnet18; do
    for b in $TRAIN_BATCHES; do
        extra=()
        [ -n "$TRAIN_CLIPS" ] && extra+=(--max-clips "$TRAIN_CLIPS")
        [ "$arch" = resnet18 ] && extra+=(--width 1.0)
        step "train-$arch-b$b" 90 "$TOOLS" train --model "$arch" --dataset fsdd --data-dir "$DATA" --epochs "$EPOCHS" \
            --batch-size "$b" --sigma 0.005 --noise-prob 0.5 --seed 0 --device "$DEVICE" "${extra[@]}" \
            --name "$arch-gpu" --json --out "$OUT/train-$arch-b$b"
    done
done
say "done"
pack

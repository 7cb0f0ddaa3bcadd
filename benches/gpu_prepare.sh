#!/usr/bin/env bash
# Gathers into $GPU (default .gpu, git-ignored) what benches/gpu_run.sh needs on a GPU machine
# that has python3 + torch 2.11.0+cu130 but no cargo and no network:
#   soundproof-tools.xz  built here against torch 2.11.0 (scripts/tools.sh), stripped, xz-packed
#   lib/               the binary's non-torch shared libraries (fontconfig, freetype and theirs),
#                      used there only when that machine lacks one
#   kws-fsdd/          the kws-cnn checkpoint (CHECKPOINT, default out/repro-kws-fsdd-aug)
#   data/fsdd/         FSDD recordings (SOUNDPROOF_DATA, default ../shared/data)
#   whl/               torchattacks 3.5.1 and adversarial-robustness-toolbox 1.20.1 wheels
#
#   [CHECKPOINT=out/repro-kws-fsdd-aug] benches/gpu_prepare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
GPU=${GPU:-.gpu}
CK=${CHECKPOINT:-out/repro-kws-fsdd-aug}
DATA=${SOUNDPROOF_DATA:-../shared/data}
[ -f "$CK/checkpoint.json" ] || { echo "gpu_prepare: no checkpoint at $CK (see models/README.md, Reproduce)" >&2; exit 1; }
[ -x target/release/soundproof-tools ] || scripts/tools.sh --build-only
rm -rf "$GPU"
mkdir -p "$GPU/whl" "$GPU/data/fsdd" "$GPU/kws-fsdd" "$GPU/lib"
objcopy --strip-all target/release/soundproof-tools "$GPU/soundproof-tools"
ldd "$GPU/soundproof-tools" | awk '/=> \// && !/torch|libc10|libc\.so|libm\.so|libgcc_s|libstdc|ld-linux|libdl|librt|libpthread|libutil/ {print $3}' | xargs -r cp -L -t "$GPU/lib"
xz -T2 -6 "$GPU/soundproof-tools"
cp "$CK"/checkpoint.json "$CK"/model.safetensors "$GPU/kws-fsdd/"
cp "$CK"/*.onnx "$GPU/kws-fsdd/" 2>/dev/null || true
cp -r "$DATA/fsdd/recordings" "$GPU/data/fsdd/"
.venv/bin/pip download -q --no-deps --only-binary=:all: -d "$GPU/whl" torchattacks==3.5.1 adversarial-robustness-toolbox==1.20.1
du -sh "$GPU" "$GPU"/*

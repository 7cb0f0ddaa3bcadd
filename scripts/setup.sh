#!/usr/bin/env bash
# Installs what the project needs on a fresh machine: system packages (apt) and the Python
# reference environment (.venv) used by the parity tests and the benchmark anchors.
# Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# libasound2-dev: ALSA headers for the `mic` feature (cpal) and its tests.
# libfontconfig1-dev + fonts-dejavu-core: text in the PNG figures of soundproof-tools (plotters
# draws through fontconfig/freetype).
# qemu-system-arm + binutils-arm-none-eabi: firmware-sim runs the Cortex-M4F firmware under QEMU
# (mps2-an386) and measures its ELF with arm-none-eabi-size / nm.
for pkg in pkg-config python3-venv libasound2-dev libfontconfig1-dev fonts-dejavu-core \
           qemu-system-arm binutils-arm-none-eabi; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} (apt)"
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# The firmware's Rust target (Cortex-M4F, hard float).
if command -v rustup >/dev/null 2>&1 && ! rustup target list --installed | grep -qx thumbv7em-none-eabihf; then
    echo "setup: adding the Rust target thumbv7em-none-eabihf (rustup)"
    rustup target add thumbv7em-none-eabihf
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    "$PY" -m venv .venv
fi
# requirements-nodeps.txt: packages installed without their declared dependencies (torchattacks
# declares torchvision and an old requests; it needs neither, and pulling torchvision would pull a
# torch other than the 2.11.0 that scripts/tools.sh installs).
stamp=.venv/.requirements.stamp
if [ ! -f "$stamp" ] || ! cat tests/reference/requirements.txt tests/reference/requirements-nodeps.txt | cmp -s - "$stamp"; then
    echo "setup: installing the Python reference packages into .venv"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -r tests/reference/requirements.txt
    .venv/bin/pip install -q --no-deps -r tests/reference/requirements-nodeps.txt
    cat tests/reference/requirements.txt tests/reference/requirements-nodeps.txt > "$stamp"
fi

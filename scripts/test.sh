#!/usr/bin/env bash
# The whole test suite, from a fresh clone (with ../shared beside it): set-up, the no_std build
# of dsp + stats, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export SOUNDPROOF_PYTHON="$PWD/.venv/bin/python"

echo "== no_std build of dsp + stats (no default features)"
cargo build --locked -p soundproof --no-default-features
echo "== the same (dsp, stats, nn int8 kernels) for the Cortex-M4F target"
cargo build --locked -p soundproof --no-default-features --target thumbv7em-none-eabihf

echo "== tmux for the terminal UI test (tests/tests/tui_tmux.rs), from apt when missing"
if ! command -v tmux >/dev/null; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq tmux >/dev/null
fi

echo "== engine, end-to-end, bench-crate and firmware-sim tests (default members: no libtorch needed;"
echo "   firmware-sim builds its thumbv7em firmware --locked and runs it under qemu-system-arm)"
cargo test --locked

echo "== microphone path (feature mic: cpal over ALSA; virtual devices, no sound card needed)"
cargo build --locked -p soundproof --features mic
cargo test --locked -p soundproof --features mic --lib audio::mic
cargo test --locked -p soundproof-tests --features mic --test mic_alsa

echo "== tools (libtorch through tch; installs torch==2.11.0 into .venv when missing)"
scripts/tools.sh --build-only
LIBTORCH_USE_PYTORCH=1 PATH="$PWD/.venv/bin:$PATH" PYTHON_SYS_EXECUTABLE="$PWD/.venv/bin/python" \
    cargo test --locked --release -p soundproof-tools

echo "== Slurm job arrays: certify and attack sharded on a one-node Slurm (installs slurm-wlm + munge)"
scripts/slurm/test-slurm.sh

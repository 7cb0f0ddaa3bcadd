#!/usr/bin/env bash
# The whole test suite, from a fresh clone (with ../shared beside it): set-up, the no_std build
# of dsp + stats, then every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export SOUNDPROOF_PYTHON="$PWD/.venv/bin/python"

echo "== no_std build of dsp + stats (no default features)"
cargo build --locked -p soundproof --no-default-features

echo "== workspace tests"
cargo test --locked --workspace

#!/usr/bin/env bash
# Builds (if needed) and runs soundproof-tools against the project venv's PyTorch 2.11.0.
#   scripts/tools.sh train --model kws-cnn ...      (arguments go to soundproof-tools)
#   scripts/tools.sh --build-only                    (just build)
# Installs torch==2.11.0 into .venv when missing. The binary carries an rpath to torch's lib/,
# so target/release/soundproof-tools also runs directly afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
if ! .venv/bin/python -c 'import torch, sys; sys.exit(0 if torch.__version__.startswith("2.11.0") else 1)' 2>/dev/null; then
    echo "tools: installing torch==2.11.0 into .venv (about 5 GB)"
    .venv/bin/pip install -q torch==2.11.0
fi
export LIBTORCH_USE_PYTORCH=1
export PATH="$PWD/.venv/bin:$PATH"
export PYTHON_SYS_EXECUTABLE="$PWD/.venv/bin/python"
cargo build --locked --release -p soundproof-tools
[ "${1:-}" = "--build-only" ] && exit 0
exec target/release/soundproof-tools "$@"

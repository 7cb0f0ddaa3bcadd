# Sourced by the bench scripts (from the repository root). TARGET_CPU=x86-64-v3 (or native)
# builds the binaries with `-C target-cpu=$TARGET_CPU` into target/cpu-$TARGET_CPU (optional;
# BENCHMARKS.md); without it, the default build in target/. Sets TDIR, the cargo target folder.
TDIR=target
if [ -n "${TARGET_CPU:-}" ]; then
    TDIR=target/cpu-$TARGET_CPU
    export CARGO_TARGET_DIR=$TDIR RUSTFLAGS="-C target-cpu=$TARGET_CPU"
fi

#!/usr/bin/env bash
# Submits a sharded run to Slurm from a login node: a job array of N shards of COMMAND
# (scripts/slurm/COMMAND.sbatch, one task per shard) and a merge job that starts when every
# shard succeeded (--dependency=afterok; cancelled, not left pending, when one fails:
# --kill-on-invalid-dep=yes). The merged result lands in OUT (OUT/COMMAND.json for certify,
# gain-sweep, diagnose; OUT/report.json, audit.json or eval.json for attack, audit, eval),
# the jobs' logs in OUT/logs/.
#
#   scripts/slurm/submit.sh COMMAND N OUT ARGS...
#
# COMMAND: certify, gain-sweep, diagnose (soundproof) or attack, audit, eval (soundproof-tools);
# ARGS: the command's own arguments, as for an unsharded run (relative paths are taken from the
# folder you submit from). Environment: SOUNDPROOF_CPUS (CPUs per task, default 1; certify
# runs that many clips in parallel), SOUNDPROOF_ARRAY_LIMIT (at most this many tasks at once),
# SOUNDPROOF_BIN (the program; default target/release/ of this checkout), and any of sbatch's
# own input variables (SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT, SBATCH_MEM_PER_CPU…).
# Prints the two job ids; a lost shard I is resubmitted with
#   SOUNDPROOF_SHARDS=N sbatch --array=I --export=ALL,SOUNDPROOF_BIN=... scripts/slurm/COMMAND.sbatch OUT ARGS...
# followed by `sbatch scripts/slurm/merge.sbatch COMMAND OUT`.
set -euo pipefail
usage="usage: scripts/slurm/submit.sh certify|gain-sweep|diagnose|attack|audit|eval N OUT ARGS..."
cmd=${1:?$usage}
shards=${2:?$usage}
out=${3:?$usage}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
case $cmd in
certify | gain-sweep | diagnose) default_bin=$root/target/release/soundproof ;;
attack | audit | eval) default_bin=$root/target/release/soundproof-tools ;;
*) echo "$usage" >&2; exit 2 ;;
esac
[[ $shards =~ ^[1-9][0-9]*$ ]] || { echo "submit.sh: N must be a positive whole number, not $shards" >&2; exit 2; }
bin=${SOUNDPROOF_BIN:-$default_bin}
if [[ ! -x $bin ]]; then
    echo "submit.sh: $bin not found: build it first (cargo build --release --locked; scripts/tools.sh --build-only for soundproof-tools)" >&2
    exit 1
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
mkdir -p "$out/logs"
out=$(cd "$out" && pwd)
export SOUNDPROOF_BIN=$bin SOUNDPROOF_SHARDS=$shards SOUNDPROOF_SLURM_DIR=$here
limit=${SOUNDPROOF_ARRAY_LIMIT:+%$SOUNDPROOF_ARRAY_LIMIT}
array=$(sbatch --parsable --array="0-$((shards - 1))$limit" --cpus-per-task="${SOUNDPROOF_CPUS:-1}" --export=ALL \
    --output="$out/logs/%x-%A_%a.out" "$here/$cmd.sbatch" "$out" "$@")
array=${array%%;*}
merge=$(sbatch --parsable --dependency="afterok:$array" --kill-on-invalid-dep=yes --export=ALL \
    --output="$out/logs/%x-%j.out" "$here/merge.sbatch" "$cmd" "$out")
merge=${merge%%;*}
echo "$array $merge" > "$out/jobs"
echo "submitted: array job $array ($shards shards of $cmd), merge job $merge (afterok:$array); results in $out"

#!/usr/bin/env bash
# The Slurm workflow of scripts/slurm/ against a real Slurm: installs Debian's slurm-wlm and
# munge, starts a one-node cluster on this machine (munged, slurmctld, slurmd; config, keys,
# state and logs in a temporary folder, ports 16817/16818), and through scripts/slurm/submit.sh:
#   1. certify: an array of 4 shards + the dependent merge job; the merged JSON equals the
#      unsharded run's byte for byte apart from the timing lines, and so do the PNG and the
#      printed table;
#   2. attack (BIM on a seeded kws-cnn trained one epoch on 32 clips): 4 shards + merge; the
#      merged report.json equals the unsharded one apart from timings, the per-clip files
#      (clean/, adversarial/, plots/) are identical;
#   3. a failed shard: certify over 8 clips of which the one of shard 2 is not a WAV file: the
#      afterok merge job is cancelled, a merge job run anyway fails naming shard 2/4.
# The daemons are stopped on every exit (trap). Needs root (or password-less sudo) for the
# daemons and apt. SOUNDPROOF_SLURM_KEEP=1 keeps the temporary folder.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
data=${SOUNDPROOF_DATA:-$root/../shared/data}
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"

need=()
for pkg in slurm-wlm munge; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
    echo "slurm test: installing ${need[*]} (apt)"
    # Keep apt from starting the system's own munge/slurm services (a policy-rc.d that denies
    # every start, removed right after): the test runs its own daemons and leaves none behind.
    policy=/usr/sbin/policy-rc.d
    made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
        $SUDO chmod +x "$policy"
        made_policy=1
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    [ "$made_policy" = 1 ] && $SUDO rm -f "$policy"
fi

echo "== slurm test: building soundproof and soundproof-tools (release)"
# Both packages in one build: the soundproof binary then shares every dependency built for
# soundproof-tools (same features), so only it is compiled and linked.
scripts/tools.sh --build-only
LIBTORCH_USE_PYTORCH=1 PATH="$root/.venv/bin:$PATH" PYTHON_SYS_EXECUTABLE="$root/.venv/bin/python" \
    cargo build --locked --release -p soundproof-tools -p soundproof
sp=$root/target/release/soundproof
spt=$root/target/release/soundproof-tools

tmp=$(mktemp -d /tmp/soundproof-slurm.XXXXXX)
cluster=$tmp/cluster
cleanup() {
    local rc=$?
    $SUDO "$root/scripts/slurm/local-cluster.sh" stop "$cluster" || true
    if [ "$rc" -ne 0 ]; then
        echo "slurm test FAILED (rc $rc); daemon logs:" >&2
        tail -n 30 "$cluster"/slurmctld.log "$cluster"/slurmd.log 2>/dev/null >&2 || true
    fi
    if [ "${SOUNDPROOF_SLURM_KEEP:-0}" = 1 ]; then
        echo "kept $tmp"
    else
        $SUDO rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== slurm test: starting a one-node cluster in $cluster"
$SUDO scripts/slurm/local-cluster.sh start "$cluster"
export SLURM_CONF=$cluster/slurm.conf
sinfo

# The state of job $1 once it has ended (waits up to $2 s).
wait_job() {
    local job=$1 limit=${2:-300} state=""
    for _ in $(seq $((limit * 2))); do
        state=$(scontrol show job -o "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
        case $state in
        COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY | BOOT_FAIL | DEADLINE | PREEMPTED)
            echo "$state"
            return 0 ;;
        esac
        sleep 0.5
    done
    echo "TIMEOUT_WAITING($state)"
}
# A JSON file without its timing lines (one key per line: serde_json's pretty printing).
untimed() {
    grep -v -E '^ *"(seconds|mean_seconds_per_clip|inference_seconds|windows_per_s)": ' "$1"
}
same_untimed() {
    if ! cmp -s <(untimed "$1") <(untimed "$2"); then
        echo "slurm test: $2 differs from $1 beyond timings:" >&2
        diff <(untimed "$1") <(untimed "$2") | head -n 20 >&2
        exit 1
    fi
    echo "ok: $2 = $1 (timings aside, $(wc -c <"$2") bytes)"
}
# The jobs' ids written by submit.sh.
jobs_of() { cat "$1/jobs"; }

# 1. certify: 12 FSDD test clips, 4 shards.
certify_args=(--model "$root/models/kws-fsdd-rt-int8.onnx" --sigma 0.005 --n0 20 --n 200 --split test --max-clips 12
    --dataset "$data/fsdd/recordings")
echo "== slurm test: certify, unsharded"
mkdir -p "$tmp/whole-certify"
"$sp" certify "${certify_args[@]}" --quiet --json "$tmp/whole-certify/certify.json" --plot "$tmp/whole-certify/certify.png" \
    >"$tmp/whole-certify/table.txt"
echo "== slurm test: certify, 4 shards on Slurm"
SOUNDPROOF_BIN=$sp scripts/slurm/submit.sh certify 4 "$tmp/run-certify" "${certify_args[@]}"
read -r array merge < <(jobs_of "$tmp/run-certify")
state=$(wait_job "$merge" 300)
[ "$state" = COMPLETED ] || { echo "certify merge job $merge: $state" >&2; cat "$tmp/run-certify"/logs/* >&2; exit 1; }
for t in 0 1 2 3; do
    state=$(wait_job "${array}_$t" 10)
    [ "$state" = COMPLETED ] || { echo "certify shard job ${array}_$t: $state" >&2; exit 1; }
done
same_untimed "$tmp/whole-certify/certify.json" "$tmp/run-certify/certify.json"
cmp "$tmp/whole-certify/certify.png" "$tmp/run-certify/certify.png"
echo "ok: the merged PNG equals the unsharded PNG"
# The table the merge job printed (its log) against the unsharded run's, the time per clip aside.
table() { grep -v -E '^(wrote |clips .* per clip$)' "$1"; }
if ! cmp -s <(table "$tmp/whole-certify/table.txt") <(table "$tmp/run-certify/logs/soundproof-merge-$merge.out"); then
    diff <(table "$tmp/whole-certify/table.txt") <(table "$tmp/run-certify/logs/soundproof-merge-$merge.out") >&2
    exit 1
fi
echo "ok: the merge job's table equals the unsharded run's"

# 2. attack: a seeded kws-cnn trained for one epoch on 32 clips, BIM-b on 8 test clips in the
# features domain, batches of 2, 4 shards.
echo "== slurm test: attack"
"$spt" train --model kws-cnn --dataset fsdd --data-dir "$data" --epochs 1 --max-clips 32 --width 0.25 --batch-size 16 \
    --seed 3 --device cpu --threads 1 --out "$tmp/ck" --json >/dev/null
attack_args=(--checkpoint "$tmp/ck" --attack bim-b --eps 1 --steps 3 --domain features --dataset fsdd --data-dir "$data"
    --max-clips 8 --batch-size 2 --device cpu --threads 1)
"$spt" attack "${attack_args[@]}" --out "$tmp/whole-attack" >/dev/null
SOUNDPROOF_BIN=$spt scripts/slurm/submit.sh attack 4 "$tmp/run-attack" "${attack_args[@]}"
read -r array merge < <(jobs_of "$tmp/run-attack")
state=$(wait_job "$merge" 300)
[ "$state" = COMPLETED ] || { echo "attack merge job $merge: $state" >&2; cat "$tmp/run-attack"/logs/* >&2; exit 1; }
same_untimed "$tmp/whole-attack/report.json" "$tmp/run-attack/report.json"
for sub in clean adversarial plots; do
    diff -r "$tmp/whole-attack/$sub" "$tmp/run-attack/$sub" >/dev/null || { echo "attack: $sub/ differs" >&2; exit 1; }
    echo "ok: $sub/ identical ($(ls "$tmp/run-attack/$sub" | wc -l) files)"
done

# 3. a failed shard: 8 clips, the third (index 2: shard 2 of 4) is not a WAV file.
echo "== slurm test: a failed shard"
mkdir -p "$tmp/broken"
i=0
for f in $(ls "$data/fsdd/recordings" | grep -E '^[0-9]_jackson_[0-4]\.wav$' | sort | head -n 8); do
    if [ "$i" = 2 ]; then
        echo "not a WAV file" >"$tmp/broken/clip$i.wav"
    else
        ln -s "$data/fsdd/recordings/$f" "$tmp/broken/clip$i.wav"
    fi
    i=$((i + 1))
done
SOUNDPROOF_BIN=$sp scripts/slurm/submit.sh certify 4 "$tmp/run-broken" --model "$root/models/kws-fsdd-rt-int8.onnx" \
    --sigma 0.005 --n0 20 --n 100 --dataset "$tmp/broken"
read -r array merge < <(jobs_of "$tmp/run-broken")
# The same merge, submitted to run whatever the shards did (afterany).
anyway=$(SOUNDPROOF_BIN=$sp sbatch --parsable --dependency="afterany:$array" --export=ALL \
    --output="$tmp/run-broken/logs/merge-anyway.out" scripts/slurm/merge.sbatch certify "$tmp/run-broken")
state=$(wait_job "$anyway" 300)
[ "$state" = FAILED ] || { echo "the merge of a run with a failed shard ended $state" >&2; exit 1; }
state=$(wait_job "${array}_2" 10)
[ "$state" = FAILED ] || { echo "shard 2 ended $state, expected FAILED" >&2; exit 1; }
grep -q "shard 2/4 is missing" "$tmp/run-broken/logs/merge-anyway.out" || { cat "$tmp/run-broken/logs/merge-anyway.out" >&2; exit 1; }
echo "ok: the merge fails: $(grep -o 'shard 2/4 is missing[^(]*' "$tmp/run-broken/logs/merge-anyway.out")"
state=$(wait_job "$merge" 60)
[ "$state" = CANCELLED ] || { echo "the afterok merge job ended $state, expected CANCELLED" >&2; exit 1; }
echo "ok: the afterok merge job was cancelled"
[ ! -e "$tmp/run-broken/certify.json" ] || { echo "a merged JSON was written for a broken run" >&2; exit 1; }
echo "== slurm test passed"

#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, everything (config, keys, state, logs, sockets)
# under one folder: `local-cluster.sh start DIR` starts munged, slurmctld and slurmd (the
# node's CPUs as `slurmd -C` reports them) and waits until the node is idle; `local-cluster.sh
# stop DIR` stops them. After `start`, `export SLURM_CONF=DIR/slurm.conf` points sbatch,
# squeue, sacct and scontrol at it. For tests and trying the scripts of scripts/slurm/; a
# real cluster has its own configuration.
set -euo pipefail

cmd=${1:?usage: local-cluster.sh start|stop DIR}
dir=${2:?usage: local-cluster.sh start|stop DIR}
ctld_port=${SOUNDPROOF_SLURMCTLD_PORT:-16817}
slurmd_port=${SOUNDPROOF_SLURMD_PORT:-16818}

stop_pid() { # name pidfile
    local f=$2
    [[ -s $f ]] || return 0
    local pid
    pid=$(cat "$f")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "local-cluster: $1 ($pid) did not stop on TERM, killing it" >&2
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$f"
}

case $cmd in
stop)
    [[ -d $dir ]] || exit 0
    stop_pid slurmd "$dir/slurmd.pid"
    stop_pid slurmctld "$dir/slurmctld.pid"
    stop_pid munged "$dir/munged.pid"
    ;;
start)
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    chmod 700 "$dir"
    mkdir -p "$dir/state" "$dir/spool" "$dir/jobs"
    host=$(hostname -s)
    # The node as slurmd sees it (CPUs, sockets, cores, threads, memory).
    node=$(slurmd -C | head -1 | sed -e "s/^NodeName=[^ ]*/NodeName=$host/")
    [[ $node == NodeName=* ]] || { echo "local-cluster: slurmd -C said: $node" >&2; exit 1; }
    dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
    chmod 400 "$dir/munge.key"
    munged --force --key-file="$dir/munge.key" --socket="$dir/munge.sock" --pid-file="$dir/munged.pid" \
        --log-file="$dir/munged.log" --seed-file="$dir/munged.seed"
    cat > "$dir/slurm.conf" <<CONF
ClusterName=soundproof-local
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=3600
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=local Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -c -f "$dir/slurm.conf"
    slurmd -f "$dir/slurm.conf"
    for _ in $(seq 120); do
        state=$(sinfo -h -n "$host" -o %t 2>/dev/null || true)
        [[ $state == idle ]] && { echo "local-cluster: $host idle ($dir)"; exit 0; }
        sleep 0.5
    done
    echo "local-cluster: the node did not become idle (state: ${state:-none}); logs:" >&2
    tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/munged.log" >&2 || true
    exit 1
    ;;
*)
    echo "usage: local-cluster.sh start|stop DIR" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# End-to-end test of profiles/slurm (and, with --gpu, profiles/slurm-gpu) on a
# real single-node Slurm cluster started on this machine.
#
#   sudo bash tests/cluster/run.sh [--gpu]      # from the repository root; needs root
#
# What it does:
#   1. installs the Debian packages slurm-wlm and munge if missing;
#   2. writes /etc/slurm/slurm.conf (+ gres.conf): one node = this machine (its
#      real CPUs and memory, `slurmd -C`), no cgroups, no slurmdbd/accounting;
#   3. starts munged, slurmctld and slurmd unless already running, and waits
#      until the node is idle;
#   4. runs the smoke preset locally (profiles/local) into results/cluster-local
#      (after deleting that folder);
#   5. runs it again through Slurm (a copy of profiles/slurm whose requests are
#      capped to this node, see fit_profile.py) into results/cluster-smoke,
#      after deleting that folder, and checks that every job went through
#      Slurm and finished there;
#   6. checks that tables/*.tsv and simulation/*/summary.tsv are identical;
#   7. with --gpu: the same through profiles/slurm-gpu into results/cluster-gpu;
#      the node advertises one GPU (a fake, count-only GRES when the machine
#      has none, so training runs there on the CPU: training.device is `auto`).
#      The profile gives train_group a GPU, so the models train fused (one job
#      per padding x architecture); the reference is then a local run with
#      training.fuse: true (results/cluster-local-fused), since fused float32
#      training rounds differently from one model at a time;
#   8. stops the daemons it started (by PID), also on failure or timeout.
#
# Environment knobs (all optional):
#   CLUSTER_TEST_TIMEOUT  seconds before everything is killed (default 1800, 3000 with --gpu)
#   CLUSTER_TEST_KEEP=1   leave the daemons running afterwards (for debugging)
#   CLUSTER_TEST_FORCE=1  overwrite an /etc/slurm/slurm.conf not written by this script
#   CLUSTER_TEST_STATE    state/log folder (default /var/tmp/lookloss-slurm-test)
#   CLUSTER_TEST_THREADS  cap on the profiles' threads/cpus_per_task (default 1: on a
#                         2-CPU machine two jobs then run at once); the local
#                         reference run uses the same threads
#   CLUSTER_TEST_REFERENCE  results folder of an earlier local run of the same preset
#                         (e.g. results/smoke) to compare with, instead of the
#                         local run (saves its time; it must be up to date)
#   SMK_DIR               workflow directory (default: the repository root)
#   SMK_ARGS              arguments selecting the workload
#                         (default: --configfile presets/smoke.yaml)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STATE=${CLUSTER_TEST_STATE:-/var/tmp/lookloss-slurm-test}
LIMIT=${CLUSTER_TEST_TIMEOUT:-1800}
[[ " $* " == *" --gpu "* ]] && LIMIT=${CLUSTER_TEST_TIMEOUT:-3000}
MARKER="# written by tests/cluster/run.sh"
DAEMONS=(slurmd slurmctld munged)

log() { printf '[cluster-test %(%H:%M:%S)T] %s\n' -1 "$*"; }

# ---------------------------------------------------------------- outer part
# Runs the real work (the --inner part) under `timeout -s KILL`, so that a
# misconfiguration, which shows as a hang, fails; the trap here then stops
# the daemons the inner part started, whatever way it ended.
stop_daemons() {
    [[ ${CLUSTER_TEST_KEEP:-0} == 1 ]] && { log "CLUSTER_TEST_KEEP=1: daemons left running"; return 0; }
    if [[ -f $STATE/started.slurmctld ]] && squeue -h >/dev/null 2>&1; then
        scancel --quiet --user "$(id -un)" 2>/dev/null || true   # this private cluster's jobs only
        for _ in $(seq 20); do [[ -z $(squeue -h 2>/dev/null) ]] && break; sleep 0.5; done
    fi
    local d pid
    for d in "${DAEMONS[@]}"; do
        [[ -f $STATE/started.$d ]] || continue
        pid=$(cat "$STATE/started.$d")
        if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$d" ]]; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
            kill -KILL "$pid" 2>/dev/null || true
            log "stopped $d (pid $pid)"
        fi
        rm -f "$STATE/started.$d"
    done
}

if [[ ${1:-} != --inner ]]; then
    [[ $(id -u) == 0 ]] || { echo "tests/cluster/run.sh must run as root" >&2; exit 2; }
    mkdir -p "$STATE"
    rm -f "$STATE"/started.*
    trap stop_daemons EXIT
    t0=$(date +%s)
    rc=0
    # timeout runs in a process group of its own: pass Ctrl-C/TERM on to it
    # (Snakemake then cancels its Slurm jobs), then stop the daemons (EXIT trap)
    timeout -s KILL "$LIMIT" bash "${BASH_SOURCE[0]}" --inner "$@" &
    tpid=$!
    trap 'log "interrupted"; kill -TERM "$tpid" 2>/dev/null; wait "$tpid"; exit 130' INT TERM
    wait "$tpid" || rc=$?
    [[ $rc == 137 ]] && log "FAIL: killed after ${LIMIT}s (CLUSTER_TEST_TIMEOUT); logs in $STATE"
    log "total $(( $(date +%s) - t0 ))s, exit code $rc"
    exit "$rc"
fi

# ---------------------------------------------------------------- inner part
shift
GPU=0
for arg in "$@"; do
    case $arg in
        --gpu) GPU=1 ;;
        *) echo "unknown argument: $arg" >&2; exit 2 ;;
    esac
done
SMK_DIR=${SMK_DIR:-$REPO}
THREADS=${CLUSTER_TEST_THREADS:-1}
REF=${CLUSTER_TEST_REFERENCE:-}
t_local=0 t_slurm=0 t_gpu=
read -r -a SMK_ARGS <<<"${SMK_ARGS:---configfile presets/smoke.yaml}"
[[ -x $REPO/.venv/bin/snakemake ]] && export PATH="$REPO/.venv/bin:$PATH"
# The submit side must not look like it runs inside a Slurm job.
for v in SLURM_CONF $(compgen -e | grep '^SLURM_' || true); do unset "$v"; done

fail() { log "FAIL: $*"; exit 1; }
t_setup=$(date +%s)

# 1. packages
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    log "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge; } \
        >"$STATE/apt.log" 2>&1 || { tail -n 20 "$STATE/apt.log"; fail "apt-get install failed"; }
fi
command -v snakemake >/dev/null || fail "snakemake not found (create $REPO/.venv first)"

# 2. configuration (the compiled-in path: SLURM_CONF does not reach the job's srun)
NODE=$(hostname -s)
HW=$(slurmd -C | head -1)                      # NodeName=... CPUs=... RealMemory=...
NCPU=$(sed -n 's/.* CPUs=\([0-9]*\).*/\1/p' <<<"$HW")
MEM=$(sed -n 's/.* RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
[[ -n $NCPU && -n $MEM ]] || fail "cannot read CPUs/RealMemory from: $HW"
if ls /dev/nvidia[0-9]* >/dev/null 2>&1; then
    NGPU=$(ls -d /dev/nvidia[0-9]* | wc -l)
    GRES_LINE="NodeName=$NODE Name=gpu File=/dev/nvidia[0-$((NGPU - 1))]"
else
    NGPU=1
    # no GPU here: a stand-in device file (22.05 drops a count-only gpu GRES);
    # nothing binds devices (task/none), jobs just get CUDA_VISIBLE_DEVICES=0
    GRES_LINE="NodeName=$NODE Name=gpu File=/dev/null"
fi
CONF=/etc/slurm/slurm.conf
if [[ -f $CONF ]] && ! grep -qF "$MARKER" "$CONF"; then
    [[ ${CLUSTER_TEST_FORCE:-0} == 1 ]] || fail "$CONF exists and was not written by this test; set CLUSTER_TEST_FORCE=1 to replace it"
    cp "$CONF" "$CONF.bak.$(date +%s)"
fi
mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d"
cat >"$STATE/slurm.conf" <<EOF
$MARKER: a one-node test cluster
ClusterName=lookloss-test
SlurmctldHost=$NODE
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
# containers: no cgroups, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
# no slurmdbd: sacct cannot work, the test uses squeue for job status
AccountingStorageType=accounting_storage/none
# finished jobs stay visible to squeue (the plugin polls with squeue) and to
# scontrol (the test checks the GPU requests) this long: longer than a test run
MinJobAge=7200
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
GresTypes=gpu
NodeName=$NODE CPUs=$NCPU RealMemory=$MEM Gres=gpu:$NGPU State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
echo "$GRES_LINE" >"$STATE/gres.conf"
changed=0
cmp -s "$STATE/slurm.conf" "$CONF" || { cp "$STATE/slurm.conf" "$CONF"; changed=1; }
cmp -s "$STATE/gres.conf" /etc/slurm/gres.conf || { cp "$STATE/gres.conf" /etc/slurm/gres.conf; changed=1; }

# 3. daemons: reuse running ones, start (and record, for the trap) the others
alive() { [[ -f $2 ]] && [[ $(cat "/proc/$(cat "$2")/comm" 2>/dev/null) == "$1" ]]; }
wait_pidfile() {  # daemon pidfile
    for _ in $(seq 40); do alive "$1" "$2" && { cat "$2" >"$STATE/started.$1"; return 0; }; sleep 0.25; done
    fail "$1 did not start; see its log in $STATE"
}
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    [[ -f /etc/munge/munge.key ]] || { mungekey --create 2>/dev/null || dd if=/dev/urandom of=/etc/munge/munge.key bs=1k count=1 status=none; }
    chown munge:munge /etc/munge/munge.key; chmod 400 /etc/munge/munge.key
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/lib/munge /var/log/munge
    runuser -u munge -- /usr/sbin/munged
    wait_pidfile munged /run/munge/munged.pid
    log "started munged (pid $(cat "$STATE/started.munged"))"
fi
if alive slurmctld "$STATE/slurmctld.pid"; then
    [[ $changed == 1 ]] && scontrol reconfigure
else
    : >"$STATE/slurmctld.log"
    slurmctld -c                       # -c: no jobs left over from an earlier run
    wait_pidfile slurmctld "$STATE/slurmctld.pid"
    log "started slurmctld (pid $(cat "$STATE/started.slurmctld"))"
fi
if ! alive slurmd "$STATE/slurmd.pid"; then
    : >"$STATE/slurmd.log"
    slurmd
    wait_pidfile slurmd "$STATE/slurmd.pid"
    log "started slurmd (pid $(cat "$STATE/started.slurmd"))"
fi
state=""
for i in $(seq 120); do
    state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
    case $state in
        idle) break ;;
        inval*) break ;;   # the node line does not match the hardware: fail now
        down*|drain*|fail*)
            if (( i % 10 == 1 )); then scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true; fi ;;
    esac
    sleep 0.5
done
[[ $state == idle ]] || { tail -n 20 "$STATE"/slurm*.log; sinfo -R; fail "node $NODE is '$state', not idle"; }
t_setup=$(( $(date +%s) - t_setup ))
log "slurm ready in ${t_setup}s: $(sinfo -h -o '%P %D %c cpus %m MB %G %T')"

# 4-7. workflow runs
cd "$SMK_DIR"
compare() {  # results dir A vs B: tables and simulation summaries must be identical
    local a=$1 b=$2 n=0 f
    for f in "$a"/tables/*.tsv "$a"/simulation/*/summary.tsv; do
        [[ -f $f ]] || continue
        cmp -s "$f" "$b/${f#"$a"/}" || { diff "$f" "$b/${f#"$a"/}" | head -20; fail "$f differs from $b/${f#"$a"/}"; }
        n=$((n + 1))
    done
    for f in "$b"/tables/*.tsv "$b"/simulation/*/summary.tsv; do
        [[ -f $f ]] && { [[ -f $a/${f#"$b"/} ]] || fail "$a/${f#"$b"/} is missing"; }
    done
    (( n > 0 )) || fail "no tables/*.tsv or simulation/*/summary.tsv in $a"
    log "OK: $n result files of $a identical to $b"
}
run_local() {  # set-threads words: the reference run, same threads as the Slurm run
    log "workflow locally (profiles/local) -> results/cluster-local"
    rm -rf results/cluster-local   # fresh: an edit in src/ does not make Snakemake rerun a job
    t_local=$(date +%s)
    # shellcheck disable=SC2086
    snakemake --profile "$REPO/profiles/local" "${SMK_ARGS[@]}" --config results_dir=results/cluster-local \
        ${1:+--set-threads $1} >"$STATE/snakemake-local.log" 2>&1 \
        || { tail -n 40 "$STATE/snakemake-local.log"; fail "local snakemake failed; log: $STATE/snakemake-local.log"; }
    t_local=$(( $(date +%s) - t_local ))
    log "local run took ${t_local}s"
}
run_slurm() {  # profile results_dir
    local profile=$1 out=$2 t
    python "$HERE/fit_profile.py" "$REPO/profiles/$profile" "$STATE/profile-$profile" "$THREADS" $((MEM / 2)) \
        slurm-status-command=squeue slurm-init-seconds-before-status-checks=3 \
        slurm-no-account=true slurm-keep-successful-logs=true latency-wait=5
    rm -rf "$out"
    if [[ $profile == slurm && -z $REF ]]; then
        run_local "$(cat "$STATE/profile-$profile/set-threads.args")"
        REF=results/cluster-local
    fi
    log "workflow via Slurm ($profile) -> $out"
    t=$(date +%s)
    snakemake --profile "$STATE/profile-$profile" "${SMK_ARGS[@]}" --config results_dir="$out" \
        >"$STATE/snakemake-$profile.log" 2>&1 \
        || { tail -n 40 "$STATE/snakemake-$profile.log"; fail "snakemake via Slurm ($profile) failed; log: $STATE/snakemake-$profile.log"; }
    t=$(( $(date +%s) - t ))
    # every submitted job has a Slurm job id, and slurmctld saw each one finish with exit 0
    local ids n_done id
    ids=$(sed -n 's/.*has been submitted with SLURM jobid \([0-9_]*\) .*/\1/p' "$STATE/snakemake-$profile.log" | sort -u)
    [[ -n $ids ]] || fail "no job was submitted to Slurm (see $STATE/snakemake-$profile.log)"
    n_done=0
    for id in $ids; do
        grep -q "_job_complete: JobId=$id WEXITSTATUS 0$" "$STATE/slurmctld.log" \
            || fail "Slurm job $id did not complete with exit 0 (see $STATE/slurmctld.log)"
        n_done=$((n_done + 1))
    done
    if [[ $profile == slurm-gpu ]]; then  # each (fused) training job asked Slurm for a GPU
        local n_gpu=0
        for id in $(sed -n 's/.*SLURM jobid \([0-9_]*\) (log: .*\/rule_train_group\/.*/\1/p' "$STATE/snakemake-$profile.log"); do
            scontrol -o show job "$id" 2>&1 | grep -q 'gres:gpu' \
                || fail "train job $id got no GPU: $(scontrol -o show job "$id" 2>&1)"
            n_gpu=$((n_gpu + 1))
        done
        (( n_gpu > 0 )) || fail "no train_group job went through Slurm"
        log "OK: all $n_gpu train_group jobs ran with a GPU (gres/gpu) allocated"
    fi
    log "OK: $n_done jobs ran through Slurm ($profile) in ${t}s; job logs in .snakemake/slurm_logs/"
    printf -v "t_$3" %s "$t"
}

run_slurm slurm results/cluster-smoke slurm
compare results/cluster-smoke "$REF"
if [[ $GPU == 1 ]]; then
    run_slurm slurm-gpu results/cluster-gpu gpu
    printf 'training: {fuse: true}\n' >"$STATE/fuse.yaml"
    SMK_ARGS+=("$STATE/fuse.yaml")  # after the preset: --configfile takes several files
    rm -rf results/cluster-local-fused
    snakemake --profile "$REPO/profiles/local" "${SMK_ARGS[@]}" --config results_dir=results/cluster-local-fused \
        --set-threads $(cat "$STATE/profile-slurm-gpu/set-threads.args") >"$STATE/snakemake-local-fused.log" 2>&1 \
        || { tail -n 40 "$STATE/snakemake-local-fused.log"; fail "local fused snakemake failed"; }
    compare results/cluster-gpu results/cluster-local-fused
fi
log "PASS: setup ${t_setup}s, local workflow ${t_local}s (reference $REF), Slurm workflow ${t_slurm}s${t_gpu:+, Slurm-GPU workflow ${t_gpu}s}"

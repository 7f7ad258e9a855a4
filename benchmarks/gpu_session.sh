#!/usr/bin/env bash
# One GPU session's work as one command: the CUDA checks, the throughput benchmark, the
# paper-scale study and the power sweep, each stopped at a deadline and resumable.
#
# From the repository root on a GPU box that has Python, a CUDA torch (2.11 to 2.13.0)
# and the scientific stack, with a wheelhouse of the rest in wheelhouse/ (README,
# "Running on a GPU box"; for the project's GPU box, BENCHMARKS.md names the command):
#
#   LOOKLOSS_COMMIT=<commit> bash benchmarks/gpu_session.sh SECONDS PHASE...
#
# SECONDS: the whole command's budget; each phase that trains stops its Snakemake run
# (SIGTERM: nothing half-written, fused groups keep their snapshots) in time for the
# packing at the end, and the same command goes on from there on the same machine.
# PHASES, in the order given:
#   carried     the models and snapshots of an earlier box were unpacked here (paper.tar.gz,
#               gpu.tar.gz): rebuild the simulation (the same bytes) and keep those models
#   check       benchmarks/cuda_check.py        -> results/gpu/cuda_check.json (stops on failure)
#   throughput  benchmarks/gpu_study.py         -> results/gpu/gpu_study.json (per-process vs fused)
#   study       the default study in results/   -> results/gpu/gpu_study.json (wall, phases)
#   publish     lookloss publish --out paper    (when the study is complete)
#   power       presets/power.yaml in results/power, then published to paper/power
# LOOKLOSS_COMMIT names the commit when the copy has no .git (the manifests record it).
# SMOKE=1 runs every phase tiny, on any machine (the smoke preset, a 4-model sweep, the
# checks on the CPU when there is no GPU): a rehearsal before spending GPU time.
# At the end (also after a failure) the small outputs are packed into $OUT (default
# ./gpu-out): gpu.tar.gz (JSON, logs), paper.tar.gz and power.tar.gz (published
# folders, or the finished models and snapshots of an unfinished run). No .npz/.parquet.
set -euo pipefail
budget=${1:?usage: gpu_session.sh SECONDS PHASE...}
shift
deadline=$(( $(date +%s) + budget ))
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT" results/gpu
exec > >(tee -a "$OUT/log.txt") 2>&1
left() { echo $(( deadline - $(date +%s) - $1 )); }  # seconds left, keeping $1 in hand
enough() { [ "$(left 90)" -ge "$1" ] || { echo "too little time left for this phase: skipped"; false; }; }

if ! python3 -c "import snakemake, memelite, tangermeme" 2>/dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
        $(ls wheelhouse/*.whl | grep -v '/lookloss-')
fi
export PYTHONPATH=$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
python3 -c "import torch, lookloss; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'lookloss', lookloss.__file__)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

smoke=()       # options of gpu_study.py
study=()       # config files of the study
results=results
power=(--configfile presets/power.yaml)
power_results=results/power
check=()
if [ "${SMOKE:-0}" = 1 ]; then
    smoke=(--smoke)
    study=(--configfile presets/smoke.yaml)
    results=results/smoke
    power=(--configfile presets/power.yaml results/gpu/power-smoke.yaml)
    power_results=results/power-smoke
    printf '%s\n' 'results_dir: results/power-smoke' 'simulation: {n_train: 1000, n_test: 600}' \
        'models: {archs: [arch1], seeds: [100], controls: [e1, e1.5]}' 'training: {max_epochs: 2}' \
        > results/gpu/power-smoke.yaml
    python3 -c "import torch, sys; sys.exit(not torch.cuda.is_available())" || check=(--device cpu --n-train 600 --n-val 200)
fi

pack() {
    # fits the box's 16 MiB per returned file: models are ~40 kB each
    local small=(--exclude='*.npz' --exclude='*.parquet' --exclude='*.pdf')
    tar czf "$OUT/gpu.tar.gz" "${small[@]}" results/gpu "$results"/{logs,benchmarks} 2>/dev/null || true
    if [ -f paper/manifest.json ]; then
        tar czf "$OUT/paper.tar.gz" "${small[@]}" --exclude=paper/power paper
    else
        tar czf "$OUT/paper.tar.gz" "${small[@]}" "$results"/{models,snapshots,tables,figures} 2>/dev/null || true
    fi
    if [ -f paper/power/manifest.json ]; then
        tar czf "$OUT/power.tar.gz" "${small[@]}" paper/power
    else
        tar czf "$OUT/power.tar.gz" "${small[@]}" "$power_results"/{models,snapshots,logs,benchmarks,tables,figures} \
            2>/dev/null || true
    fi
    ls -la "$OUT"
}
trap pack EXIT

sweep() {  # snakemake with a deadline; SIGTERM lets it remove what its jobs left unfinished
    python3 -m snakemake --unlock "$@" >/dev/null 2>&1 || true
    enough 60 || return 0
    timeout -s TERM -k 60 "$(left 90)" python3 -m snakemake --cores all "$@" || echo "snakemake stopped (status $?)"
}

for phase in "$@"; do
    echo "== $phase ($(left 0) s left)"
    case $phase in
        carried)  # the simulation is rebuilt; what was carried (models, their job benchmarks) is made newer
            python3 -m snakemake --cores all "${study[@]}" --until simulate
            find "$results" -path "$results/simulation" -prune -o -type f -exec touch {} + ;;
        check) python3 benchmarks/cuda_check.py "${check[@]}" --out results/gpu/cuda_check.json ;;
        throughput) python3 benchmarks/gpu_study.py "${smoke[@]}" --skip-study --out results/gpu/gpu_study.json ;;
        study) ! enough 60 || python3 benchmarks/gpu_study.py "${smoke[@]}" --skip-throughput --results "$results" \
                   --deadline "$(left 90)" --out results/gpu/gpu_study.json ;;
        publish) python3 -m lookloss.cli publish "${study[@]}" --out paper \
                     || echo "not published: the study is not finished" ;;
        power)
            sweep "${power[@]}"
            if python3 -m snakemake -n "${power[@]}" 2>&1 | grep -q "Nothing to be done"; then
                python3 -m lookloss.cli publish "${power[@]}" --out paper/power
            fi ;;
        *) echo "unknown phase $phase"; exit 2 ;;
    esac
done

#!/usr/bin/env bash
# One GPU session's work as one command: the CUDA checks, the throughput benchmark, the
# paper-scale study and the power sweep, each stopped at a deadline and resumable.
#
# From the repository root on a GPU box that has Python, a CUDA torch (2.11 to 2.13.0)
# and the scientific stack, with a wheelhouse of the rest in wheelhouse/ (README,
# "Running on a GPU box"; for the project's GPU box, BENCHMARKS.md names the command):
#
#   LOOKLOSS_COMMIT=<commit> bash gpu/session.sh SECONDS PHASE...
#
# SECONDS: the whole command's budget. Every phase is given at most what is left of it
# (less 60 s for the packing); a phase that trains stops its Snakemake run (SIGTERM:
# nothing half-written, fused groups keep their snapshots), and the same command goes
# on from there on the same machine. PHASES, in the order given:
#   carried     results of an earlier box were unpacked here (paper.tar.gz, the
#               snapshots.tar.gz parts): rebuild the simulation (the same bytes) and keep
#               the finished models and the snapshots; the carried job benchmarks move to
#               results/gpu/benchmarks-carried (their phase spans: phases-carried.json)
#   check       pytest tests/test_cuda.py -> results/gpu/cuda_check.xml; if a check fails,
#               the session goes on but publishes nothing
#   throughput  benchmarks/gpu_study.py  -> results/gpu/gpu_study.json (per-process vs fused)
#   study       the default study in results/ -> results/gpu/gpu_study.json (wall, phases)
#   publish     lookloss publish --out paper (when the study is complete)
#   power       presets/power.yaml in results/power, then published to paper/power
# LOOKLOSS_COMMIT names the commit when the copy has no .git (the manifests record it).
# SMOKE=1 runs every phase tiny, on any machine (the smoke preset, a 4-model sweep, the
# checks on the CPU when there is no GPU): a rehearsal before spending GPU time.
# At the end (also after a failure) the small outputs are packed into $OUT (default
# ./gpu-out), each file under 16 MiB: gpu.tar.gz (JSON, logs, job benchmarks),
# paper.tar.gz and power.tar.gz (the published folders, or the finished models of an
# unfinished run) and snapshots.tar.gz.part-* (an unfinished run's snapshots; join the
# parts with cat). No .npz or .parquet.
set -euo pipefail
budget=${1:?usage: session.sh SECONDS PHASE...}
shift
deadline=$(( $(date +%s) + budget ))
for phase in "$@"; do
    case $phase in carried|check|throughput|study|publish|power) ;; *) echo "unknown phase $phase"; exit 2 ;; esac
done
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT" results/gpu
exec > >(tee -a "$OUT/log.txt") 2>&1
left() { echo $(( deadline - $(date +%s) - $1 )); }  # seconds left, keeping $1 in hand
enough() { [ "$(left 60)" -ge "$1" ] || { echo "too little time left for this phase: skipped"; false; }; }
bounded() { timeout -s TERM -k 30 "$(left 60)" "$@"; }  # a command that must end before the packing

export PYTHONPATH=$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if ! python3 -c "import snakemake, memelite, tangermeme, pandas; assert int(pandas.__version__[0]) >= 3" 2>/dev/null
then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site \
        $(ls wheelhouse/*.whl | grep -v '/lookloss-')
fi
python3 -c "import torch, pandas, lookloss
print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'pandas', pandas.__version__, lookloss.__file__)"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true

smoke=()       # options of gpu_study.py
study=()       # config files of the study
results=results
power=(--configfile presets/power.yaml)
power_results=results/power
if [ "${SMOKE:-0}" = 1 ]; then
    smoke=(--smoke)
    study=(--configfile presets/smoke.yaml)
    results=results/smoke
    power=(--configfile presets/power.yaml results/gpu/power-smoke.yaml)
    power_results=results/power-smoke
    printf '%s\n' 'results_dir: results/power-smoke' 'simulation: {n_train: 1000, n_test: 600}' \
        'models: {archs: [arch1], seeds: [100], controls: [e1, e1.5]}' 'training: {max_epochs: 2}' \
        > results/gpu/power-smoke.yaml
fi

pack() {
    set +e
    local small=(--exclude='*.npz' --exclude='*.parquet' --exclude='*.pdf' --exclude='snapshots')
    tar czf "$OUT/gpu.tar.gz" "${small[@]}" results/gpu "$results"/{logs,benchmarks} "$power_results"/{logs,benchmarks} \
        2>/dev/null
    if [ -f paper/manifest.json ]; then
        tar czf "$OUT/paper.tar.gz" "${small[@]}" --exclude=paper/power paper
    else
        tar czf "$OUT/paper.tar.gz" "${small[@]}" "$results"/{models,tables,figures} 2>/dev/null
    fi
    if [ -f paper/power/manifest.json ]; then
        tar czf "$OUT/power.tar.gz" "${small[@]}" paper/power
    else
        tar czf "$OUT/power.tar.gz" "${small[@]}" "$power_results"/{models,tables,figures} 2>/dev/null
    fi
    # snapshots of unfinished fused groups (a few MB each): in parts under the 16 MiB limit
    local snapshots=()
    for folder in "$results/snapshots" "$power_results/snapshots"; do
        [ -n "$(find "$folder" -name 'batch_*.pt' 2>/dev/null)" ] && snapshots+=("$folder")
    done
    rm -f "$OUT"/snapshots.tar.gz.part-*
    [ ${#snapshots[@]} -gt 0 ] && tar czf - "${snapshots[@]}" | split -b 15m - "$OUT/snapshots.tar.gz.part-"
    ls -la "$OUT"
}
trap pack EXIT

sweep() {  # snakemake with a deadline; SIGTERM lets it remove what its jobs left unfinished
    python3 -m snakemake --unlock "$@" >/dev/null 2>&1 || true
    enough 60 || return 0
    bounded python3 -m snakemake --cores all --rerun-incomplete "$@" || echo "snakemake stopped (status $?)"
}

checks_passed() {  # no check, or every check passed
    [ ! -f results/gpu/cuda_check.xml ] || python3 -c "import sys, xml.etree.ElementTree as et
suite = et.parse('results/gpu/cuda_check.xml').getroot().iter('testsuite').__next__()
sys.exit(int(suite.get('failures')) + int(suite.get('errors')) > 0)"
}

for phase in "$@"; do
    echo "== $phase ($(left 0) s left)"
    case $phase in
        carried)
            if [ -d "$results/benchmarks" ]; then  # kept aside: their times would say when they were unpacked
                python3 -c "import json, sys; from lookloss.checkpoints import phase_spans
json.dump(phase_spans(sys.argv[1]), open('results/gpu/phases-carried.json', 'w'), indent=2)" "$results"
                rm -rf results/gpu/benchmarks-carried && mv "$results/benchmarks" results/gpu/benchmarks-carried
            fi
            bounded python3 -m snakemake --cores all "${study[@]}" --until simulate
            # the carried models must be newer than the rebuilt simulation, or Snakemake retrains them
            find "$results/models" -type f -exec touch {} + ;;
        check)
            if enough 30; then
                bounded python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py --junitxml results/gpu/cuda_check.xml \
                    || echo "CUDA CHECKS FAILED (results/gpu/cuda_check.xml): nothing will be published"
            fi ;;
        throughput) ! enough 30 || bounded python3 benchmarks/gpu_study.py "${smoke[@]}" --skip-study \
                        --out results/gpu/gpu_study.json ;;
        study) ! enough 60 || python3 benchmarks/gpu_study.py "${smoke[@]}" --skip-throughput --results "$results" \
                   --deadline "$(left 90)" --out results/gpu/gpu_study.json ;;
        publish)
            if checks_passed; then
                bounded python3 -m lookloss.cli publish "${study[@]}" --out paper \
                    || echo "not published: the study is not finished"
            else
                echo "not published: a CUDA check failed"
            fi ;;
        power)
            sweep "${power[@]}"
            if python3 -m snakemake -n "${power[@]}" 2>&1 | grep -q "Nothing to be done"; then
                if checks_passed; then
                    bounded python3 -m lookloss.cli publish "${power[@]}" --out paper/power
                else
                    echo "not published: a CUDA check failed"
                fi
            fi ;;
    esac
done

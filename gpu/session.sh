#!/usr/bin/env bash
# One GPU session's work as one command: the CUDA checks, the throughput benchmark, the
# paper-scale study and the power sweep, each stopped at a deadline and resumable.
#
# From the repository root on a GPU box that has Python, a CUDA torch (2.11 to 2.13.0)
# and the scientific stack, with a wheelhouse of the rest in wheelhouse/ (docs/running.md,
# "GPU boxes"; for the project's GPU box, BENCHMARKS.md names the command):
#
#   LOOKLOSS_COMMIT=<commit> bash gpu/session.sh SECONDS PHASE...
#
# SECONDS: the whole command's budget. Every phase is given at most what is left of it
# (less 60 s for the packing); a phase that trains is stopped at the deadline (SIGTERM:
# what was published stays published, fused groups keep their snapshots), and the same
# command goes on from there. PHASES, in the order given:
#   check       pytest tests/test_cuda.py -> results/gpu/cuda_check.xml; if a check fails,
#               the session goes on but trains nothing into the published folders
#   throughput  benchmarks/gpu_study.py  -> results/gpu/gpu_study.json (per-process vs fused)
#   study       lookloss grow --into paper: the models paper/ lacks, one fused job per
#               padding x architecture, each published as it ends (src/lookloss/grow.py)
#   publish     once paper/ is complete: every table and figure from it
#               (presets/paper-checkpoints.yaml), added to paper/ by lookloss publish
#   power       the same two steps for presets/power.yaml into paper/power
#   genome      lookloss grow --configfile presets/genome.yaml --into paper/genome: the
#               genome-scale BPNets paper/genome lacks (docs/genome.md), 8 at once on the
#               GPU, each published as it ends; the reading stays with the CPU sessions
# LOOKLOSS_COMMIT names the commit when the copy has no .git (the manifests record it).
# SMOKE=1 runs every phase tiny, on any machine (the smoke preset, a 4-model sweep, the
# checks on the CPU when there is no GPU), publishing into results/gpu/ instead of
# paper/: a rehearsal before spending GPU time.
# At the end (also after a failure) the small outputs are packed into $OUT (default
# ./gpu-out), each file under 16 MiB: gpu.tar.gz (JSON, logs), paper.tar.gz and
# power.tar.gz (the published folders) and snapshots.tar.gz.part-* (unfinished fused
# groups' snapshots; join the parts with cat, unpack, and the next session resumes them).
# No .npz or .parquet.
set -euo pipefail
budget=${1:?usage: session.sh SECONDS PHASE...}
shift
deadline=$(( $(date +%s) + budget ))
for phase in "$@"; do
    case $phase in check|throughput|study|publish|power|genome) ;; *) echo "unknown phase $phase"; exit 2 ;; esac
done
OUT=${OUT:-$PWD/gpu-out}
mkdir -p "$OUT" results/gpu
exec > >(tee -a "$OUT/log.txt") 2>&1
left() { echo $(( deadline - $(date +%s) - $1 )); }  # seconds left, keeping $1 in hand
enough() { [ "$(left 60)" -ge "$1" ] || { echo "too little time left for this phase: skipped"; false; }; }
bounded() { timeout -s TERM -k 30 "$(left 60)" "$@"; }  # a command that must end before the packing

export PYTHONPATH=$PWD/src:/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
if ! python3 -c "import snakemake, memelite, tangermeme, bpnetlite, pandas; assert int(pandas.__version__[0]) >= 3" 2>/dev/null
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
paper=paper
power=(presets/power.yaml)
power_results=results/power
genome=(presets/genome.yaml)
genome_into=$paper/genome
if [ "${SMOKE:-0}" = 1 ]; then
    smoke=(--smoke)
    study=(presets/smoke.yaml)
    results=results/smoke
    paper=results/gpu/paper-smoke
    power=(presets/power.yaml results/gpu/power-smoke.yaml)
    power_results=results/power-smoke
    genome=(presets/genome.yaml presets/genome-smoke.yaml)
    genome_into=results/gpu/genome-smoke
    printf '%s\n' 'results_dir: results/power-smoke' 'simulation: {n_train: 1000, n_test: 600}' \
        'models: {archs: [arch1], seeds: [100], controls: [e1, e1.5]}' 'training: {max_epochs: 2}' \
        > results/gpu/power-smoke.yaml
fi

pack() {
    set +e
    local small=(--exclude='*.npz' --exclude='*.parquet' --exclude='*.pdf' --exclude='snapshots')
    tar czf "$OUT/gpu.tar.gz" "${small[@]}" --exclude=results/gpu/rederived --exclude="$paper" \
        --exclude="$genome_into" results/gpu "$results"/logs "$power_results"/logs results/genome*/logs 2>/dev/null
    [ -f "$paper/manifest.json" ] && tar czf "$OUT/paper.tar.gz" "${small[@]}" --exclude="$paper/power" \
        --exclude="$paper/genome" "$paper"
    [ -f "$genome_into/manifest.json" ] && tar czf "$OUT/genome.tar.gz" "${small[@]}" "$genome_into"
    [ -f "$paper/power/manifest.json" ] && tar czf "$OUT/power.tar.gz" "${small[@]}" "$paper/power"
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

grow() {  # the models the published folder $1 lacks ($2: jobs at once; config files after), stopped at the deadline
    local into=$1 jobs=$2
    shift 2
    enough 60 || return 0
    checks_passed || { echo "nothing trained into $into: a CUDA check failed"; return 0; }
    bounded python3 -m lookloss.cli grow --configfile "$@" --into "$into" --jobs "$jobs" || echo "grow stopped (status $?)"
}

complete() {  # once the published folder $1 is complete: its tables and figures, added to it
    local into=$1
    shift
    python3 -c "import json, sys; sys.exit(not json.load(open(sys.argv[1]))['complete'])" "$into/manifest.json" \
        2>/dev/null || { echo "$into is not complete yet: nothing to publish"; return 0; }
    printf 'models: {checkpoints: %s}\nresults_dir: results/gpu/rederived\n' "$into" > results/gpu/rederive.yaml
    bounded python3 -m snakemake --cores all --configfile "$@" results/gpu/rederive.yaml \
        && bounded python3 -m lookloss.cli publish --configfile "$@" results/gpu/rederive.yaml --out "$into" \
        || echo "not published: the tables and figures of $into did not finish"
}

checks_passed() {  # no check, or every check passed
    [ ! -f results/gpu/cuda_check.xml ] || python3 -c "import sys, xml.etree.ElementTree as et
suite = et.parse('results/gpu/cuda_check.xml').getroot().iter('testsuite').__next__()
sys.exit(int(suite.get('failures')) + int(suite.get('errors')) > 0)"
}

for phase in "$@"; do
    echo "== $phase ($(left 0) s left)"
    case $phase in
        check)
            if enough 30; then
                bounded python3 -m pytest -q -p no:cacheprovider tests/test_cuda.py --junitxml results/gpu/cuda_check.xml \
                    || echo "CUDA CHECKS FAILED (results/gpu/cuda_check.xml): nothing will be published"
            fi ;;
        throughput) ! enough 30 || bounded python3 benchmarks/gpu_study.py "${smoke[@]}" --skip-study \
                        --out results/gpu/gpu_study.json ;;
        study) grow "$paper" 6 "${study[@]}" ;;
        publish) complete "$paper" "${study[@]}" ;;
        power) grow "$paper/power" 6 "${power[@]}" && complete "$paper/power" "${power[@]}" ;;
        genome) grow "$genome_into" 8 "${genome[@]}" ;;
    esac
done

"""Time of the two extra detectors (GIA and DFIM, docs/study.md section 8) at paper scale.

The workflow's ``detect`` job, one per control x padding x arch x L1 (the 5 seeds), starts
a Python process, prepares the detectors' inputs once (each model detector's ``prepare``,
:data:`lookloss.detectors.MODEL_DETECTORS`: backgrounds, configurations, k-mers, the pair
subsample and its dinucleotide-shuffled references) and runs each one's ``run`` on each model. This script measures
those three parts with the default configuration's settings (the schema's defaults:
1,000 backgrounds x 20 configurations, 200 pairs x 20 references) on the default
simulation's held-out pairs, with freshly initialised stand-ins of every architecture x
padding: the cost does not depend on the weights.

The simulation is run with a small training pool: the held-out pairs come from their own
random stream (``lookloss.simulation.stream``), so they are the paper-scale ones.

Projection for the study (2 cores, two one-thread jobs at a time)::

    (180 x median s per model + 36 x (start-up s + prepare s)) / 2

computed from each model's wall time and, for a machine that other work shares, from its
CPU time (one thread: what it would take alone).

Usage::

    python benchmarks/detectors_time.py [--repeats 1] [--out benchmarks/detectors_time.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import cpu_count, cpu_model  # noqa: E402

ARCHS = ("arch1", "arch2", "arch3")
PADDINGS = ("valid", "same")
STUDY_MODELS, STUDY_JOBS, CORES = 180, 36, 2


def start_up_seconds() -> float:
    """Wall time of a fresh process importing what a ``detect`` job imports."""
    code = "import torch, pandas, scipy.stats, tangermeme.deep_lift_shap; import lookloss.detectors, lookloss.jobs"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=1, help="runs of each model")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the results")
    args = parser.parse_args()

    import torch

    from lookloss import config, models, simulation
    from lookloss.detectors import MODEL_DETECTORS
    from lookloss.detectors.explain import explainable

    torch.set_num_threads(1)
    settings = config.check(config.read_files([ROOT / "config.yaml"]), base_dir=ROOT)
    settings["simulation"]["n_train"] = 1000  # the held-out pairs do not depend on it
    sim = simulation.Simulation.from_config(settings["simulation"], base_dir=ROOT)
    start = time.perf_counter()
    data = simulation.simulate(sim, "valid")
    simulate_s = time.perf_counter() - start
    start = time.perf_counter()
    inputs = {d.name: d.load().prepare(sim, data["pairs_test"], data["pairs_shuffled"], settings["detectors"])
              for d in MODEL_DETECTORS}
    prepare_s = time.perf_counter() - start
    rows = []
    for arch in ARCHS:
        for padding in PADDINGS:
            model = models.build(arch, padding, sim.seq_len, generator=torch.Generator().manual_seed(100))
            for repeat in range(args.repeats):
                start, cpu = time.perf_counter(), time.process_time()
                found = {}
                for d in MODEL_DETECTORS:
                    found.update(d.load().run(explainable(model), inputs[d.name]))
                rows.append({"arch": arch, "padding": padding, "repeat": repeat,
                             "model_s": time.perf_counter() - start, "model_cpu_s": time.process_time() - cpu,
                             "gia_s": found["gia_seconds"],
                             "dfim_s": found["dfim_seconds"]})
                print(json.dumps(rows[-1]), flush=True)
    start_s = statistics.median(start_up_seconds() for _ in range(3))
    per_model = statistics.median(r["model_s"] for r in rows)
    per_model_cpu = statistics.median(r["model_cpu_s"] for r in rows)
    projected = (STUDY_MODELS * per_model + STUDY_JOBS * (start_s + prepare_s)) / CORES
    projected_cpu = (STUDY_MODELS * per_model_cpu + STUDY_JOBS * (start_s + prepare_s)) / CORES
    result = {"date": date.today().isoformat(), "cpu": cpu_model(), "cpus": cpu_count(),
              "settings": dict(settings["detectors"]), "n_pairs_test": len(data["pairs_test"]["index"]),
              "simulate_s": simulate_s, "prepare_s": prepare_s, "start_up_s": start_s, "models": rows,
              "median_model_s": per_model, "median_model_cpu_s": per_model_cpu, "projected_study_s": projected,
              "projected_study_cpu_s": projected_cpu,
              "projection": "(180 x median model s + 36 x (start-up s + prepare s)) / 2 cores; "
                            "_cpu: the model's CPU time instead of its wall time (a loaded machine)"}
    print(json.dumps({k: v for k, v in result.items() if k != "models"}, indent=1))
    if args.out is not None:
        args.out.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()

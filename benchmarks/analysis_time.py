"""Time of the interaction analysis at paper scale, per job and projected to 180 models.

For each model an ``interactions`` job of the workflow loads the trained model,
predicts the four variants of every pair in the four pair sets (test, train,
shuffled, randpos: ~30K pairs, ~120K sequences at paper scale), computes the tables
and tests, and writes four Parquet files and ``stats.json``
(:func:`lookloss.jobs.analyse_model`).

This script runs exactly that function on the default configuration's pair sets
(``results/simulation/{padding}/pairs_*.npz``, written by
``snakemake --cores 2 results/simulation/valid/summary.tsv results/simulation/same/summary.tsv``)
with freshly initialised models of every architecture x padding: the cost of the
analysis does not depend on the weights. Each repeat is a fresh Python process, as
a workflow job is, and reports

* ``import_s``: importing what the job imports (torch, pandas, scipy, lookloss);
* ``analyse_s``: the call of :func:`lookloss.jobs.analyse_models` on the job's models
  (loading, predicting, tables, tests, writing);
* ``predict_s``: the forward passes of one model alone (timed again after the job);
* ``cpu_s``: CPU time (user + system) of the job, imports included.

Jobs of 1 model (the workflow's first design) and of 5 models (the seeds of one
configuration, as the workflow runs them now) are compared. The projection for the
study is ``180 x median CPU s per model / 2`` (two one-thread jobs at a time on 2
cores); Snakemake's own bookkeeping per job (well under a second) is not included.

Usage::

    python benchmarks/analysis_time.py [--repeats 3] [--out benchmarks/analysis_time.json]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ARCHS = ("arch1", "arch2", "arch3")
STUDY_MODELS = 180
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import cpu_count, cpu_model  # noqa: E402

from lookloss.layout import PADDINGS, PAIR_SETS, VARIANTS, pairs_name, variant_key  # noqa: E402


def worker(args: argparse.Namespace) -> None:
    """One analysis job of ``args.models`` models in this process; prints its timings as JSON."""
    start = time.perf_counter()
    import numpy as np
    import torch

    from lookloss import interactions, io, models, jobs, tables, training  # noqa: F401  (what a job imports)

    torch.set_num_threads(1)
    imported = time.perf_counter()
    pair_paths = {s: Path(args.simulation) / args.padding / f"{pairs_name(s)}.npz" for s in PAIR_SETS}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        jobs = []
        for seed in range(100, 100 * (args.models + 1), 100):
            folder = tmp / f"seed_{seed}"
            model = models.build(args.arch, args.padding, generator=training.init_generator(seed))
            models.save(folder / "model.pt", model, {"identity": {"arch": args.arch, "padding": args.padding}})
            (folder / "metrics.json").write_text(json.dumps({"best_epoch": 1, "epochs_run": 1, "test_mse": 0.0}))
            jobs.append({"model": folder / "model.pt", "metrics": folder / "metrics.json",
                         "tables": {s: folder / f"{s}.parquet" for s in PAIR_SETS}, "stats": folder / "stats.json",
                         "identity": {"control": "neg", "padding": args.padding, "arch": args.arch,
                                      "l1": 0.0, "seed": seed}})
        t0 = time.perf_counter()
        jobs.analyse_models(jobs, pair_paths)
        analysed = time.perf_counter()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        # the forward passes of one model alone, for the breakdown (not part of a job)
        n_sequences, predict_s = 0, 0.0
        loaded = models.load(jobs[0]["model"])
        for s in PAIR_SETS:
            pairs = io.load_npz(pair_paths[s])
            stacked = np.concatenate([pairs[variant_key(v)] for v in VARIANTS])
            n_sequences += len(stacked)
            t = time.perf_counter()
            interactions.predict_counts(loaded, stacked)
            predict_s += time.perf_counter() - t
    print(json.dumps({
        "import_s": imported - start, "analyse_s": analysed - t0, "predict_s": predict_s,
        "n_sequences": n_sequences, "cpu_s": usage.ru_utime + usage.ru_stime,
    }))


def measure(arch: str, padding: str, n_models: int, simulation: str) -> dict:
    """Run one worker process (one job of ``n_models`` models) and add its wall time."""
    command = [sys.executable, __file__, "--worker", "--arch", arch, "--padding", padding,
               "--models", str(n_models), "--simulation", simulation]
    t = time.perf_counter()
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    record = json.loads(out.strip().splitlines()[-1])
    record["process_s"] = time.perf_counter() - t
    return record


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--group-sizes", type=int, nargs="+", default=[1, 5],
                        help="models per job to compare (the workflow uses one job per 5 seeds)")
    parser.add_argument("--simulation", default=str(ROOT / "results" / "simulation"))
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--arch", default="arch1", help=argparse.SUPPRESS)
    parser.add_argument("--padding", default="valid", help=argparse.SUPPRESS)
    parser.add_argument("--models", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args)
        return
    missing = [p for p in PADDINGS for s in PAIR_SETS if not (Path(args.simulation) / p / f"{pairs_name(s)}.npz").exists()]
    if missing:
        sys.exit(f"no pair sets under {args.simulation} for {sorted(set(missing))}: run the simulation first "
                 "(see this script's docstring)")
    samples: dict[tuple[int, str, str], list[dict]] = {}
    for _ in range(args.repeats):  # interleaved, so load from elsewhere hits every configuration alike
        for size in args.group_sizes:
            for arch in ARCHS:
                for padding in PADDINGS:
                    samples.setdefault((size, arch, padding), []).append(
                        measure(arch, padding, size, args.simulation))
    rows = []
    for (size, arch, padding), runs in samples.items():
        row = {"models_per_job": size, "arch": arch, "padding": padding, "n_sequences": runs[0]["n_sequences"]}
        for key in ("import_s", "analyse_s", "predict_s", "cpu_s", "process_s"):
            row[key] = statistics.median(r[key] for r in runs)
        row["cpu_s_per_model"] = row["cpu_s"] / size
        rows.append(row)
    projected = {
        size: STUDY_MODELS * statistics.mean(r["cpu_s_per_model"] for r in rows if r["models_per_job"] == size)
        / args.cores / 60
        for size in args.group_sizes
    }
    record = {
        "date": date.today().isoformat(), "machine": f"{cpu_model()}, {cpu_count()} CPUs",
        "load_average": os.getloadavg(), "repeats": args.repeats, "rows": rows, "cores": args.cores,
        "projected_minutes": {str(k): v for k, v in projected.items()},
    }
    print(f"{'models/job':>10} {'arch':6} {'padding':7} {'seqs/model':>10} {'import':>7} {'analyse':>8} "
          f"{'predict':>8} {'cpu':>7} {'cpu/model':>9} {'process':>8}")
    for r in rows:
        print(f"{r['models_per_job']:10d} {r['arch']:6} {r['padding']:7} {r['n_sequences']:10d} {r['import_s']:7.2f} "
              f"{r['analyse_s']:8.2f} {r['predict_s']:8.2f} {r['cpu_s']:7.2f} {r['cpu_s_per_model']:9.2f} "
              f"{r['process_s']:8.2f}")
    for size, minutes in projected.items():
        print(f"projected, {size} model(s) per job: {STUDY_MODELS} models on {args.cores} cores = {minutes:.1f} min")
    print(f"load average at the end: {record['load_average']}")
    if args.out:
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Throughput of fused training (lookloss.fused) against one model at a time, on one device.

For every architecture x padding, K models (seeds 1..K, one control, L1 0) are trained
for ``--epochs`` epochs on random one-hot DNA (100 bp, random targets, batch 200)

* ``fused``: in one network by :func:`lookloss.fused.train` (on CUDA: CUDA graphs);
* ``separate``: one after another by :func:`lookloss.training.train`, as the per-model
  workflow jobs do (one model per process),

and the script reports model-steps per second (models x optimiser steps per second of
wall time, validation included) and, on the CPU, CPU seconds per model-epoch. The first
epoch (one-off costs: allocation, oneDNN primitives, graph capture) is not counted; the
two variants alternate within each repeat, and the median over repeats is reported.

Usage::

    python benchmarks/fused_training.py [--device cpu] [--models 5] [--repeats 3] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchmarks/machine.py
from machine import cpu_count, cpu_model, random_data  # noqa: E402

from lookloss import devices, fused, models, training  # noqa: E402
from lookloss.layout import PADDINGS  # noqa: E402

BATCH = 200


def data(n_train: int, n_val: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    x, y = random_data(n_train + n_val, 100, seed=0)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def epoch_times(variant: str, arch: str, padding: str, k: int, epochs: int, device: torch.device,
                arrays: tuple) -> tuple[float, float]:
    """Wall and CPU seconds of one steady-state epoch of all ``k`` models (median over epochs 2..)."""
    x, y, xv, yv = arrays
    settings = {"batch_size": BATCH, "learning_rate": 1e-3, "adam_eps": 1e-7, "max_epochs": epochs,
                "patience": epochs + 1}
    marks: list[tuple[float, float]] = []

    def mark(*_: object) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        marks.append((time.perf_counter(), time.process_time()))

    if variant == "fused":
        mark()
        fused.train(arch, padding, [fused.Member("c", 0.0, seed) for seed in range(1, k + 1)], x, {"c": y},
                          xv, {"c": yv}, **settings, device=device, on_epoch=mark)
        return _steady(marks)
    wall, cpu = 0.0, 0.0
    for seed in range(1, k + 1):
        marks.clear()
        mark()
        model = models.build(arch, padding, generator=training.init_generator(seed))
        training.train(model, x, y, xv, yv, l1=0.0, seed=seed, **settings, device=device, on_epoch=mark)
        w, c = _steady(marks)
        wall, cpu = wall + w, cpu + c
    return wall, cpu


def _steady(marks: list[tuple[float, float]]) -> tuple[float, float]:
    """Median wall and CPU time between consecutive marks, leaving out the first epoch."""
    steps = [(b[0] - a[0], b[1] - a[1]) for a, b in zip(marks, marks[1:])][1:] or \
        [(b[0] - a[0], b[1] - a[1]) for a, b in zip(marks, marks[1:])]
    return statistics.median(s[0] for s in steps), statistics.median(s[1] for s in steps)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--archs", nargs="+", default=list(models.ARCHS), choices=list(models.ARCHS))
    parser.add_argument("--paddings", nargs="+", default=list(PADDINGS), choices=PADDINGS)
    parser.add_argument("--models", type=int, default=5, help="K, models per group")
    parser.add_argument("--n-train", type=int, default=8000)
    parser.add_argument("--n-val", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = devices.resolve_device(args.device)
    arrays = data(args.n_train, args.n_val)
    steps = -(-args.n_train // BATCH)
    rows = []
    print(f"{'arch':6} {'padding':7} {'K':>3} {'fused steps/s':>14} {'separate steps/s':>17} {'fused/separate':>15}"
          f" {'fused CPU s/model-epoch':>24} {'separate CPU s/model-epoch':>27}")
    for arch in args.archs:
        for padding in args.paddings:
            times = {"fused": [], "separate": []}
            for _ in range(args.repeats):
                for variant in times:
                    times[variant].append(epoch_times(variant, arch, padding, args.models, args.epochs, device, arrays))
            row = {"arch": arch, "padding": padding, "models": args.models, "steps_per_epoch": steps}
            for variant, values in times.items():
                wall = statistics.median(v[0] for v in values)
                cpu = statistics.median(v[1] for v in values)
                row[f"{variant}_model_steps_per_s"] = args.models * steps / wall
                row[f"{variant}_cpu_s_per_model_epoch"] = cpu / args.models
                row[f"{variant}_wall_s"] = [v[0] for v in values]
            rows.append(row)
            print(f"{arch:6} {padding:7} {args.models:3d} {row['fused_model_steps_per_s']:14.0f} "
                  f"{row['separate_model_steps_per_s']:17.0f} "
                  f"{row['fused_model_steps_per_s'] / row['separate_model_steps_per_s']:14.2f}x "
                  f"{row['fused_cpu_s_per_model_epoch']:24.2f} {row['separate_cpu_s_per_model_epoch']:27.2f}",
                  flush=True)
    machine = {"device": str(device), "cpu": cpu_model(), "cpus": cpu_count(), "threads": args.threads,
               "torch": torch.__version__, "python": sys.version.split()[0]}
    if device.type == "cuda":
        machine["gpu"] = torch.cuda.get_device_name(device)
    result = {"date": date.today().isoformat(), "machine": machine, "settings": vars(args) | {"out": str(args.out)},
              "rows": rows}
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

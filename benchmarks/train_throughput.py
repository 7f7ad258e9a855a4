"""Training throughput of lookloss's trainer against the textbook PyTorch loop.

For every architecture x padding this measures seconds per epoch (40K training and
10K validation sequences of random one-hot DNA with random targets, one CPU thread
unless ``--threads`` says otherwise) of

* ``ours``: :func:`lookloss.training.train`,
* ``textbook``: :func:`textbook.train_textbook` (``tests/textbook.py``: DataLoader over a
  TensorDataset, plain Adam, validation in batches of 200 under ``no_grad``),
* ``textbook+malloc`` (with ``--attribution``): the textbook loop in a process where
  :func:`lookloss.devices.keep_freed_memory` was applied, to show how much of the
  gain is the allocator setting alone.

Every repeat of every variant runs in a fresh Python process (the allocator
setting is process-wide) for ``--epochs`` epochs of which all but the first (one-off
costs) are timed, and the variants are interleaved so that load from other
processes hits all of them alike; the table reports the median over repeats of wall
time, process CPU time and minor page faults. The achieved GFLOP/s use the analytic
count ``3 x 2 x forward MACs`` per training sequence plus ``2 x forward MACs`` per
validation sequence; the ceiling is this machine's one-thread fp32 matmul rate.

Usage::

    python benchmarks/train_throughput.py [--repeats 3] [--out benchmarks/train_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import torch

from lookloss import devices, models, training
from lookloss.layout import PADDINGS
from machine import cpu_count, cpu_model, random_data  # benchmarks/machine.py

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from textbook import train_textbook  # noqa: E402  (tests/textbook.py: the equivalence tests' reference)

ARCHS = ("arch1", "arch2", "arch3")

VARIANTS = ("ours", "textbook")
PAPER_MODELS = 180
PAPER_EPOCHS = 185  # the original models stopped after roughly 120-250 epochs
BATCH_SIZE = 200  # the study's; both loops use it


def epoch_seconds(variant: str, arch: str, padding: str, n_train: int, n_val: int, epochs: int) -> dict[str, float]:
    """Steady-state wall and CPU seconds and page faults per epoch of one variant.

    Runs ``epochs`` epochs and averages all but the first, which also pays for
    one-off work (converting the data to float tensors, first touch of buffers,
    creating oneDNN primitives). With ``epochs == 1`` that first epoch is reported.
    """
    x, y = random_data(n_train + n_val, 100, seed=0)
    data = (x[:n_train], y[:n_train], x[n_train:], y[n_train:])
    model = models.build(arch, padding, generator=training.init_generator(1))
    marks = [mark()]

    def on_epoch(row: dict) -> None:
        marks.append(mark())

    if variant == "ours":
        training.train(model, *data, l1=1e-4, seed=1, max_epochs=epochs, patience=epochs + 1, on_epoch=on_epoch)
    else:
        if variant == "textbook+malloc":
            devices.keep_freed_memory()
        train_textbook(model, *data, l1=1e-4, seed=1, epochs=epochs, on_epoch=on_epoch)
    first, last = marks[1 if epochs > 1 else 0], marks[-1]
    counted = max(epochs - 1, 1)
    return {key: (last[key] - first[key]) / counted for key in ("wall", "cpu", "faults_per_epoch")}


def mark() -> dict[str, float]:
    """Wall clock, process CPU time and page-fault count now."""
    return {"wall": time.perf_counter(), "cpu": time.process_time(), "faults_per_epoch": minor_faults()}


def minor_faults() -> int:
    """Minor page faults of this process so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def matmul_gflops(size: int = 1024, repeats: int = 10) -> float:
    """Best one-process fp32 ``size x size`` matmul rate in GFLOP/s (current thread count)."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        tic = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - tic)
    return 2 * size**3 / best / 1e9


def epoch_gflop(arch: str, padding: str, n_train: int, n_val: int) -> float:
    """Analytic GFLOP of one epoch: forward+backward on training, forward on validation."""
    macs = models.forward_macs(arch, padding)
    return (3 * 2 * macs * n_train + 2 * macs * n_val) / 1e9


def run_worker(args: argparse.Namespace) -> None:
    """Child process: print one JSON object with the epoch seconds of one variant."""
    torch.set_num_threads(args.threads)
    if args.worker == "matmul":
        print(json.dumps({"gflops": matmul_gflops()}))
        return
    print(json.dumps(epoch_seconds(args.worker, args.arch, args.padding, args.n_train, args.n_val, args.epochs)))


def child(args: argparse.Namespace, worker: str, arch: str = "arch1", padding: str = "valid") -> dict:
    """Run one measurement in a fresh interpreter and parse its JSON line."""
    command = [
        sys.executable, __file__, "--worker", worker, "--arch", arch, "--padding", padding,
        "--n-train", str(args.n_train), "--n-val", str(args.n_val), "--epochs", str(args.epochs),
        "--threads", str(args.threads),
    ]  # fmt: skip
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def measure(args: argparse.Namespace) -> dict:
    """All measurements, interleaved by repeat; returns the JSON-able record."""
    variants = [*VARIANTS, "textbook+malloc"] if args.attribution else list(VARIANTS)
    configs = [(a, p) for a in args.archs for p in args.paddings]
    samples: dict[tuple[str, str, str], list[dict]] = {(v, a, p): [] for v in variants for a, p in configs}
    ceiling = [child(args, "matmul")["gflops"]]
    for repeat in range(args.repeats):
        for arch, padding in configs:
            for variant in variants if repeat % 2 == 0 else variants[::-1]:
                sample = child(args, variant, arch, padding)
                samples[variant, arch, padding].append(sample)
                print(f"# repeat {repeat + 1} {arch}/{padding} {variant}: wall {sample['wall']:.2f} s, "
                      f"cpu {sample['cpu']:.2f} s, {sample['faults_per_epoch']:.0f} page faults", file=sys.stderr)
        ceiling.append(child(args, "matmul")["gflops"])
    rows = [summarise(arch, padding, variants, samples, args) for arch, padding in configs]
    return {
        "date": date.today().isoformat(),
        "machine": {"cpu": cpu_model(), "logical_cpus": cpu_count(), "python": platform.python_version(),
                    "torch": torch.__version__},
        "settings": {k: getattr(args, k) for k in ("n_train", "n_val", "epochs", "repeats", "threads")},
        "matmul_gflops_1thread": max(ceiling),
        "matmul_gflops_samples": ceiling,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "rows": rows,
        "projection": project(rows, args.threads),
    }


def summarise(arch: str, padding: str, variants: list[str], samples: dict, args: argparse.Namespace) -> dict:
    """Median wall and CPU seconds per epoch of each variant for one configuration."""
    gflop = epoch_gflop(arch, padding, args.n_train, args.n_val)
    steps = math.ceil(args.n_train / BATCH_SIZE)
    row: dict = {"arch": arch, "padding": padding, "epoch_gflop": gflop}
    for variant in variants:
        runs = samples[variant, arch, padding]
        row[f"{variant}_s_per_epoch"] = statistics.median(run["wall"] for run in runs)
        row[f"{variant}_cpu_s_per_epoch"] = statistics.median(run["cpu"] for run in runs)
        row[f"{variant}_faults_per_step"] = statistics.median(run["faults_per_epoch"] for run in runs) / steps
        row[f"{variant}_samples"] = runs
    row["speedup"] = row["textbook_s_per_epoch"] / row["ours_s_per_epoch"]
    row["speedup_cpu"] = row["textbook_cpu_s_per_epoch"] / row["ours_cpu_s_per_epoch"]
    row["ours_gflops"] = gflop / row["ours_cpu_s_per_epoch"]
    row["textbook_gflops"] = gflop / row["textbook_cpu_s_per_epoch"]
    return row


def project(rows: list[dict], threads: int, cores: int = 2) -> dict:
    """Paper-scale study time from CPU seconds per epoch.

    180 models x 185 epochs, spread evenly over the measured configurations, as
    ``cores // threads`` parallel jobs that keep all ``cores`` busy: the process CPU
    time (summed over its threads) divided by the number of cores.
    """
    per_config = PAPER_MODELS / len(rows) if rows else 0
    jobs = max(cores // threads, 1)
    hours = {
        variant: sum(per_config * PAPER_EPOCHS * row[f"{variant}_cpu_s_per_epoch"] for row in rows) / cores / 3600
        for variant in VARIANTS
    }
    return {"models": PAPER_MODELS, "epochs_per_model": PAPER_EPOCHS, "parallel_jobs": jobs, "cores": cores,
            "hours": hours}


def markdown(record: dict) -> str:
    """The benchmark table and projection as markdown."""
    malloc = "textbook+malloc_s_per_epoch" in record["rows"][0]
    header = ["arch", "padding", "GFLOP/epoch", "textbook s/epoch", *(["textbook+malloc s/epoch"] if malloc else []),
              "ours s/epoch", "speed-up", "textbook CPU s/epoch", "ours CPU s/epoch", "speed-up (CPU)",
              "textbook GFLOP/s", "ours GFLOP/s", "textbook faults/step", "ours faults/step"]  # fmt: skip
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in record["rows"]:
        cells = [row["arch"], row["padding"], f"{row['epoch_gflop']:.0f}", f"{row['textbook_s_per_epoch']:.2f}"]
        cells += [f"{row['textbook+malloc_s_per_epoch']:.2f}"] if malloc else []
        cells += [f"{row['ours_s_per_epoch']:.2f}", f"{row['speedup']:.2f}x", f"{row['textbook_cpu_s_per_epoch']:.2f}",
                  f"{row['ours_cpu_s_per_epoch']:.2f}", f"{row['speedup_cpu']:.2f}x", f"{row['textbook_gflops']:.1f}",
                  f"{row['ours_gflops']:.1f}", f"{row['textbook_faults_per_step']:.0f}",
                  f"{row['ours_faults_per_step']:.0f}"]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    settings, proj, machine = record["settings"], record["projection"], record["machine"]
    load = record.get("load_average")
    lines += [
        "",
        f"Machine: {machine['cpu']}, {machine['logical_cpus']} logical CPUs; torch {machine['torch']}; "
        f"{settings['threads']} thread(s) per training; {settings['n_train']} train + {settings['n_val']} validation "
        f"sequences; median of {settings['repeats']} repeats, each {timed_epochs(settings['epochs'])} of a fresh "
        f"process; {record['date']}"
        + (f"; load average at the end {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}." if load else "."),
        "s/epoch is wall time, CPU s/epoch the process's CPU time (user + system); GFLOP/s = analytic GFLOP / CPU s; "
        "faults/step = minor page faults per training step (batch of 200).",
        f"Ceiling: one-thread fp32 matmul (1024^3), best of the run: {record['matmul_gflops_1thread']:.1f} GFLOP/s.",
        f"Projected study ({proj['models']} models x {proj['epochs_per_model']} epochs, {proj['parallel_jobs']} "
        f"jobs on {proj['cores']} cores, from CPU s/epoch): textbook {proj['hours']['textbook']:.1f} h, "
        f"ours {proj['hours']['ours']:.1f} h.",
    ]
    return "\n".join(lines)


def timed_epochs(epochs: int) -> str:
    """Which epochs of a worker process are timed, in words."""
    return "epoch 1" if epochs == 1 else "epoch 2" if epochs == 2 else f"the mean of epochs 2-{epochs}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (``--worker`` is internal)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--archs", nargs="+", default=list(ARCHS), choices=ARCHS)
    parser.add_argument("--paddings", nargs="+", default=list(PADDINGS), choices=PADDINGS)
    parser.add_argument("--n-train", type=int, default=40_000)
    parser.add_argument("--n-val", type=int, default=10_000)
    parser.add_argument("--epochs", type=int, default=2, help="epochs per repeat; all but the first are timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training")
    parser.add_argument("--attribution", action="store_true",
                        help="also time the textbook loop with the allocator setting")
    parser.add_argument("--out", type=Path, help="also write the JSON record here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--arch", default="arch1", help=argparse.SUPPRESS)
    parser.add_argument("--padding", default="valid", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the markdown table, optionally write JSON."""
    args = parse_args(argv)
    if args.worker:
        run_worker(args)
        return
    record = measure(args)
    print(markdown(record))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""Training cost per sample of the genome-scale run's BPNets and of bpnet-lite's default size.

One training step as ``BPNet.fit`` takes it (forward, bpnet-lite's loss, backward, gradient
clipping, Adam) on a batch of 64 random one-hot sequences with random counts, one torch
thread, for the run's size (32 filters, 6 layers, 846 -> 500 bp) in both architectures and
bpnet-lite's default (64 filters, 8 layers, 2,114 -> 1,000). Steps are interleaved across
the sizes and the median over ``--repeats`` is reported, as milliseconds per training
sample; the first step of each size is not timed.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/genome_training.py [--repeats 7] [--out benchmarks/genome_training.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import date
from pathlib import Path

import torch

from machine import cpu_model  # benchmarks/machine.py

SIZES = {"run bpnet (32 x 6, 846 -> 500)": ("bpnet", 32, 6, 500),
         "run additive (32 x 6, 846 -> 500)": ("additive", 32, 6, 500),
         "bpnet-lite default (64 x 8, 2114 -> 1000)": ("bpnet", 64, 8, 1000)}


def step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, ctl: torch.Tensor,
         y: torch.Tensor) -> None:
    from bpnetlite.losses import _mixture_loss

    optimizer.zero_grad()
    logits, log_counts = model(x, ctl)
    _, _, loss = _mixture_loss(y, logits, log_counts, 50.0)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1)
    optimizer.step()


def main() -> None:
    from lookloss import bpnets

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    setups = {}
    for name, (arch, filters, layers, out) in SIZES.items():
        model = bpnets.build(arch, filters, layers).train()
        width = bpnets.in_window(out, layers)
        x = torch.nn.functional.one_hot(torch.randint(0, 4, (args.batch, width)), 4).transpose(1, 2).float()
        setups[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3), x, torch.rand(args.batch, 2, width),
                        torch.poisson(torch.full((args.batch, 2, out), 0.2)))
        step(*setups[name])  # untimed
    times: dict[str, list[float]] = {name: [] for name in SIZES}
    for _ in range(args.repeats):
        for name, setup in setups.items():
            start = time.perf_counter()
            step(*setup)
            times[name].append((time.perf_counter() - start) / args.batch * 1000)
    result = {"date": str(date.today()), "cpu": cpu_model(), "threads": 1, "batch": args.batch,
              "repeats": args.repeats, "torch": torch.__version__,
              "ms_per_sample": {name: round(statistics.median(t), 2) for name, t in times.items()}}
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

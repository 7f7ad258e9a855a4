"""Would training the 5 seeds of a configuration as one fused network be faster?

Fusing K models of the same architecture into one network turns every convolution
into a grouped convolution (``groups=K``, K x 15 channels, each group seeing its own
model's batch) and the dense layers into batched matrix products. This times one
training step of the convolution stack (forward + backward, batch 200, one thread),
which is ~80 % of a step, as K separate models and as one grouped stack, for every
architecture x padding. The fused form is worth building only if the grouped
convolution is clearly faster per model.

Usage::

    python benchmarks/fused_conv.py [--models 5] [--steps 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.nn import functional as F

from lookloss import inference, models

BATCH = 200


def conv_stack(arch: str, n_models: int, generator: torch.Generator) -> list[list[torch.Tensor]]:
    """Per model, the kernels of its conv layers (biases are omitted: they are not the cost)."""
    spec = models.arch_spec(arch)
    channels = [models.N_CHANNELS] + [spec.filters] * spec.n_conv
    return [[torch.randn(c_out, c_in, spec.width, generator=generator).requires_grad_()
             for c_in, c_out in zip(channels, channels[1:])] for _ in range(n_models)]


def step_separate(xs: list[torch.Tensor], kernels: list[list[torch.Tensor]], padding: str) -> None:
    total = 0.0
    for x, stack in zip(xs, kernels):
        for w in stack:
            x = torch.relu(F.conv1d(x, w, padding=padding))
        total = total + x.mean()
    total.backward()


def step_grouped(x: torch.Tensor, kernels: list[torch.Tensor], n_models: int, padding: str) -> None:
    for w in kernels:
        x = torch.relu(F.conv1d(x, w, padding=padding, groups=n_models))
    x.mean().backward()


def median_ms(step, steps: int) -> float:
    for _ in range(3):
        step()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    inference.keep_freed_memory()
    generator = torch.Generator().manual_seed(0)
    print(f"{'arch':6} {'padding':7} {'separate ms':>12} {'grouped ms':>11} {'grouped/separate':>17}")
    for arch in models.ARCHS:
        for padding in models.PADDINGS:  # odd kernel widths: 'same' is symmetric
            kernels = conv_stack(arch, args.models, generator)
            xs = [torch.randn(BATCH, models.N_CHANNELS, 100, generator=generator) for _ in range(args.models)]
            fused = [torch.cat([stack[i] for stack in kernels]).detach().requires_grad_()
                     for i in range(len(kernels[0]))]
            x_fused = torch.cat(xs, dim=1)
            separate, grouped = [], []
            for _ in range(args.rounds):  # interleaved
                separate.append(median_ms(lambda: step_separate(xs, kernels, padding), args.steps))
                grouped.append(median_ms(lambda: step_grouped(x_fused, fused, args.models, padding), args.steps))
            s, g = statistics.median(separate), statistics.median(grouped)
            print(f"{arch:6} {padding:7} {s:12.1f} {g:11.1f} {g / s:16.2f}x", flush=True)


if __name__ == "__main__":
    main()

"""What machine a benchmark ran on, and the random data of the training benchmarks
(shared by the scripts in this folder)."""

from __future__ import annotations

import os
import platform
import subprocess


def cpu_model() -> str:
    """``Model name`` from lscpu (falls back to platform.processor())."""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        return next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        return platform.processor() or "unknown"


def cpu_count() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def random_data(n: int, seq_len: int, seed: int):
    """Random one-hot sequences ``(n, 4, seq_len)`` (uint8) and float32 targets in [0, 10)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n, seq_len))].transpose(0, 2, 1).copy()
    return x, (rng.random(n) * 10).astype(np.float32)

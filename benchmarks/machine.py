"""What machine a benchmark ran on, the random data of the training benchmarks, and a
commit checked out beside this one (shared by the scripts in this folder)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lookloss.provenance import cpu_count, cpu_model  # noqa: F401 (the benchmarks import them from here)


def random_data(n: int, seq_len: int, seed: int):
    """Random one-hot sequences ``(n, 4, seq_len)`` (uint8) and float32 targets in [0, 10)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.eye(4, dtype=np.uint8)[rng.integers(0, 4, (n, seq_len))].transpose(0, 2, 1).copy()
    return x, (rng.random(n) * 10).astype(np.float32)


@contextmanager
def checkout(commit: str, where: Path, repo: Path = Path(__file__).resolve().parents[1]) -> Iterator[Path]:
    """``commit`` checked out in a temporary git worktree at ``where``, removed on exit."""
    subprocess.run(["git", "worktree", "add", "--detach", str(where), commit], cwd=repo, check=True,
                   capture_output=True)
    try:
        yield where
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(where)], cwd=repo, capture_output=True)

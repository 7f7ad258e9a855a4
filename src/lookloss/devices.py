"""Devices: which one to run on, where a model lives, CPU threads, and the CPU allocator setting.

This module imports torch only inside the functions that need it, so that Snakemake
can ask :func:`gpu_visible` at start-up without paying for torch.
"""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from torch import nn


def gpu_visible() -> bool:
    """Whether this machine shows an NVIDIA GPU, without importing torch.

    True when a ``/dev/nvidia<N>`` device exists and ``CUDA_VISIBLE_DEVICES`` does not
    hide every device (empty or -1). Used to resolve ``training.fuse: auto`` when
    Snakemake starts; the training job itself asks torch (``training.device``).
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*"))


def cpu_threads(threads: int) -> None:
    """Run torch on ``threads`` CPU threads, and keep numba's parallel kernels off torch's OpenMP runtime.

    tangermeme and memelite parallelise with numba, whose OpenMP threading layer binds to
    the ``libgomp`` torch has loaded: tangermeme's ``numba.set_num_threads`` (it asks for
    every thread numba allows, then restores numba's own count) then sets torch's count too,
    so a job given one thread runs torch on all of them, its OpenMP workers spinning at
    barriers beside the other jobs. Measured on this project's 2-core Xeon: three epochs of
    the genome-smoke BPNet beside another job took 23.6 s with numba's default layer and
    8.0 s with its own ``workqueue`` layer (BENCHMARKS.md, "The genome-scale run's BPNets"). So
    numba is given its ``workqueue`` layer (unless ``NUMBA_THREADING_LAYER`` says otherwise)
    and at most ``threads`` threads when it is imported after this call.
    """
    import sys

    import torch

    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
    os.environ.setdefault("NUMBA_NUM_THREADS", str(threads))
    numba = sys.modules.get("numba")
    if numba is not None and numba.config.THREADING_LAYER == "default":
        numba.config.THREADING_LAYER = "workqueue"  # taken at numba's first parallel launch
    torch.set_num_threads(threads)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``'auto' | 'cpu' | 'cuda[:k]'`` into a usable device.

    ``'auto'`` picks CUDA when available, else the CPU. Asking for CUDA where there
    is none raises ``RuntimeError`` rather than silently running on the CPU.
    """
    import torch

    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available (torch {torch.__version__})")
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {str(device)!r}; use 'auto', 'cpu' or 'cuda'")
    return device


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory instead of handing it back to the kernel.

    PyTorch frees and re-allocates every activation (~1 MB each) at every step. By
    default glibc serves such blocks with fresh ``mmap``s or trims the heap, so each
    step touches thousands of new pages; on small VMs the page faults cost as much
    as the convolutions. This raises the mmap and trim thresholds (process-wide,
    idempotent; it changes no result, only where memory comes from).

    Returns
    -------
    bool
        Whether the setting was applied (``False`` outside glibc).
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # resolved in the running process: glibc's
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    ok = mallopt(m_mmap_threshold, 256 << 20) == 1
    ok &= mallopt(m_trim_threshold, 1 << 30) == 1
    ok &= mallopt(m_top_pad, 64 << 20) == 1
    return bool(ok)


def placement(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of a model's first floating parameter (CPU, float32 without one)."""
    import torch

    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.is_floating_point():
            return tensor.device, tensor.dtype
    return torch.device("cpu"), torch.float32

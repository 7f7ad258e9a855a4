"""Where and from what a result was made: the CPU, the code's commit, package versions.

Trained weights differ between CPUs (and between a CPU and a GPU), so every trained
model's ``metrics.json`` records the CPU and the commit of the code that trained it
(:func:`run_facts`); a published folder's manifest gathers them (lookloss.checkpoints).
This module imports neither torch nor numpy.
"""

from __future__ import annotations

import os
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

#: The repository of the lookloss being run (src/lookloss/ -> the checkout), when it is one.
CODE_ROOT = Path(__file__).resolve().parents[2]


#: Environment that keeps oneDNN, ATen, MKL and numpy to SSE4 kernels (no AVX, AVX2, FMA or AVX-512): how
#: the analysis is checked to give the same bytes whatever instruction sets a CPU has (docs/study.md).
NARROW_ISA = {"ONEDNN_MAX_CPU_ISA": "SSE41", "ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
              "NPY_DISABLE_CPU_FEATURES": "AVX512F,AVX512CD,AVX512_SKX,AVX512_CLX,AVX512_CNL,AVX512_ICL,AVX2,FMA3,"
                                          "AVX,F16C"}


def cpu_model(cpuinfo: str | Path = "/proc/cpuinfo") -> str:
    """The CPU: its model name, family, model and widest vector unit, from ``cpuinfo``.

    For example ``AMD EPYC (family 26, model 2, AVX-512)``. Virtual machines often
    report a bare name ("AMD EPYC") for CPUs of different generations, whose kernels
    (AVX2 or AVX-512) give different trained weights: the family, model and vector
    unit tell them apart. Without ``cpuinfo``: ``platform.processor()``.
    """
    fallback = platform.processor() or platform.machine() or "unknown"
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return fallback
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break  # the first processor describes them all
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip().lower(), value.strip())
    name = fields.get("model name") or fallback
    flags = set(fields.get("flags", "").split())
    vector = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
    details = [f"family {fields['cpu family']}" if "cpu family" in fields else "",
               f"model {fields['model']}" if "model" in fields else "", vector]
    details = [d for d in details if d]
    return f"{name} ({', '.join(details)})" if details else name


def cpu_count() -> int:
    """CPUs this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def commit(root: str | Path = CODE_ROOT, outputs: Sequence[str | Path] = ()) -> dict[str, Any]:
    """The commit of the repository at ``root`` and whether tracked files differ from it.

    Changes under ``outputs`` (a published folder inside the checkout, which the run
    being recorded is itself writing) are results, not code, and are not counted. A copy
    without ``.git`` (a tarball carried to an offline node) names its commit in the
    environment variable ``LOOKLOSS_COMMIT``; whether it was changed is then unknown
    (None). Neither: the commit is "".
    """
    head = _git(root, "rev-parse", "HEAD")
    if not head:
        return {"commit": os.environ.get("LOOKLOSS_COMMIT", ""), "uncommitted_changes": None}
    top = Path(_git(root, "rev-parse", "--show-toplevel")).resolve()
    skip = []
    for output in outputs:
        path = Path(root, output).resolve()
        if path.is_relative_to(top) and path != top:
            skip.append(f":(top,exclude){path.relative_to(top).as_posix()}")
    changed = _git(root, "status", "--porcelain", "--untracked-files=no", "--", ":/", *skip)
    return {"commit": head, "uncommitted_changes": bool(changed)}


def version(name: str) -> str | None:
    """The installed version of distribution ``name`` (None: not installed)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _git(root: str | Path, *args: str) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""

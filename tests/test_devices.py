"""Tests of lookloss.devices."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from lookloss import devices


def test_resolve_device() -> None:
    assert devices.resolve_device("cpu") == torch.device("cpu")
    assert devices.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            devices.resolve_device("cuda")
    with pytest.raises(ValueError):
        devices.resolve_device("meta")


_THREADS_AFTER_TANGERMEME = """
import sys, torch
if sys.argv[1] == "fix":
    from lookloss import devices
    devices.cpu_threads(1)
else:
    torch.set_num_threads(1)
from tangermeme.utils import one_hot_encode
one_hot_encode("ACGT" * 100000, n_jobs=-1)  # a numba kernel on every thread numba allows
print(torch.get_num_threads())
"""


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: numba has no second thread to give torch")
def test_a_one_thread_job_stays_on_one_thread_after_a_numba_kernel():
    """tangermeme's numba kernels set the OpenMP thread count torch shares; cpu_threads keeps them apart."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NUMBA_")}
    env["OMP_NUM_THREADS"] = "1"
    counts = {how: subprocess.run([sys.executable, "-c", _THREADS_AFTER_TANGERMEME, how], env=env, check=True,
                                  capture_output=True, text=True).stdout.split()[-1] for how in ("plain", "fix")}
    assert counts["fix"] == "1"
    assert int(counts["plain"]) > 1  # the trap is real here: without cpu_threads torch ends on more threads

"""Tests of lookloss.devices."""

from __future__ import annotations

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

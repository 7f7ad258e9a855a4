"""Tests of lookloss.transforms."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookloss.transforms import anscombe, inverse_anscombe


def test_anscombe_and_inverse_round_trip_numpy_and_torch() -> None:
    counts = np.array([0, 1, 5, 250], dtype=np.int64)
    np.testing.assert_allclose(anscombe(counts), 2 * np.sqrt(counts + 0.375))
    np.testing.assert_allclose(inverse_anscombe(anscombe(counts)), counts, atol=1e-12)
    tensor = torch.tensor([0.0, 3.0, 10.0])
    torch.testing.assert_close(inverse_anscombe(anscombe(tensor)), tensor)
    assert anscombe(torch.tensor([1, 2])).dtype == torch.get_default_dtype()
    assert anscombe(np.float32([1.0])).dtype == np.float32
    assert anscombe(0.0) == pytest.approx(2 * np.sqrt(0.375))

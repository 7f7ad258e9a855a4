"""Variance-stabilising transform of Poisson counts (docs/study.md sections 3-4).

The models are trained on the Anscombe transform of the counts,
``g(x) = 2 sqrt(x + 3/8)``, and their outputs are mapped back to counts with the
algebraic inverse ``f(y) = (y / 2)^2 - 3/8``. Both functions accept numpy arrays,
torch tensors and Python scalars and return the same kind of object; floating
inputs keep their dtype, integer inputs become float64 (numpy) or the default
torch dtype.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor, float)

ANSCOMBE_OFFSET = 3.0 / 8.0


def _as_float(x: ArrayLike) -> np.ndarray | torch.Tensor | float:
    """Return ``x`` as a floating-point tensor, array or Python float."""
    if isinstance(x, torch.Tensor):
        return x if torch.is_floating_point(x) else x.to(torch.get_default_dtype())
    if np.isscalar(x):
        return float(x)
    x = np.asarray(x)
    return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float64)


def anscombe(x: ArrayLike) -> ArrayLike:
    """Anscombe transform ``2 * sqrt(x + 3/8)``.

    Parameters
    ----------
    x : numpy.ndarray, torch.Tensor or float
        Non-negative counts (values below ``-3/8`` give NaN).

    Returns
    -------
    numpy.ndarray, torch.Tensor or float
        The transformed values, same kind and shape as ``x``.
    """
    x = _as_float(x)
    if isinstance(x, torch.Tensor):
        return 2.0 * torch.sqrt(x + ANSCOMBE_OFFSET)
    return 2.0 * np.sqrt(x + ANSCOMBE_OFFSET)


def inverse_anscombe(y: ArrayLike) -> ArrayLike:
    """Algebraic inverse of :func:`anscombe`, ``(y / 2)^2 - 3/8``.

    Parameters
    ----------
    y : numpy.ndarray, torch.Tensor or float
        Values in Anscombe space (model outputs).

    Returns
    -------
    numpy.ndarray, torch.Tensor or float
        Counts, same kind and shape as ``y``. No clipping: ``y < 0`` maps to the
        same count as ``-y``.
    """
    y = _as_float(y)
    return (y / 2.0) ** 2 - ANSCOMBE_OFFSET

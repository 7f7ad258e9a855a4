"""Variance-stabilising transform of Poisson counts (docs/study.md sections 3-4).

The models are trained on the Anscombe transform of the counts,
``g(x) = 2 sqrt(x + 3/8)``, and their outputs are mapped back to counts with the
algebraic inverse ``f(y) = (y / 2)^2 - 3/8``. Both functions accept numpy arrays,
torch tensors and Python scalars and return the same kind of object; floating
inputs keep their dtype, integer inputs become float64 (numpy) or the default
torch dtype.

:data:`LINKS` names the output spaces the loss test accepts for a user's model: the
study's Anscombe space, ``log1p`` (output = log(1 + counts)) and ``identity``
(output = counts).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Link:
    """How a model's output relates to counts, and the space its loss is measured in.

    Attributes
    ----------
    name : str
        ``anscombe``, ``log1p`` or ``identity``.
    to_counts : callable
        Model output -> counts (numpy, float64).
    transform : callable
        Counts -> the space the model was trained in; the loss of a prediction ``f``
        against a count ``y`` is ``(transform(f) - transform(y))^2``.
    floor : float
        The prediction without the interaction, ``f - I``, is clipped here: the lowest
        count ``transform`` takes (-3/8 for Anscombe, as the study; 0 for log1p; none
        for the identity).
    """

    name: str
    to_counts: Callable[[np.ndarray], np.ndarray]
    transform: Callable[[np.ndarray], np.ndarray]
    floor: float


#: The links the loss test knows: the study's Anscombe transform, log(1 + counts), and counts.
LINKS = {
    "anscombe": Link("anscombe", inverse_anscombe, anscombe, -ANSCOMBE_OFFSET),
    "log1p": Link("log1p", np.expm1, np.log1p, 0.0),
    "identity": Link("identity", np.asarray, np.asarray, -np.inf),
}
ANSCOMBE = LINKS["anscombe"]

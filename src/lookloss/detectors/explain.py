"""What the field's detectors share (docs/study.md section 8): a model's prediction in counts
with every nonlinearity a module DeepLIFT can rescale, the rounding rule, the one-sided test.

Every statistic is measured on the model's prediction mapped to counts (the study's
space of effects, docs/study.md section 4); :func:`explainable` wraps a study model so,
with the mapping as one more nonlinearity for DeepLIFT's rescale rule.
"""

from __future__ import annotations

import numpy as np
import torch
from tangermeme.deep_lift_shap import _nonlinear

from lookloss import motifs, stats

#: An interaction or score below this fraction of the predictions (attributions) it is
#: computed from counts as 0: rounding, not interaction (docs/study.md section 8).
RTOL = 1e-5


class CountsOutput(torch.nn.Module):
    """The Anscombe inverse ``(y / 2)^2 - 3/8`` (counts from the study's output), elementwise.

    A module of its own so that DeepLIFT treats it as a nonlinearity (rescale rule),
    keeping attributions summing to the change in predicted counts.
    """

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        return (y / 2) ** 2 - 3 / 8


class AnscombeOutput(torch.nn.Module):
    """The Anscombe transform ``2 sqrt(x + 3/8)``, elementwise, as a module DeepLIFT rescales.

    For a model that computes a rate and transforms it last: with this module, the
    transform and :class:`CountsOutput` cancel in DeepLIFT's multipliers as they do in
    the prediction.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * torch.sqrt(x + 3 / 8)


#: The modules DeepLIFT/SHAP rescales besides tangermeme's own nonlinearities.
NONLINEAR = {CountsOutput: _nonlinear, AnscombeOutput: _nonlinear}


class Explainable(torch.nn.Module):
    """A model's prediction in counts, shape ``(N, 1)``: the model (whose nonlinearities are
    modules, as :class:`lookloss.models.ConvRegressor`'s activations are, so that DeepLIFT's
    hooks see them) followed by :class:`CountsOutput`."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.counts = CountsOutput()

    def forward(self, x: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
        y = self.model(x, *args)
        return self.counts(y.reshape(len(y), 1))


def explainable(model: torch.nn.Module) -> Explainable:
    """``model`` in eval mode, wrapped as :class:`Explainable` (its parameters shared)."""
    return Explainable(model.eval())


def dtype_of(model: torch.nn.Module) -> torch.dtype:
    """The dtype of ``model``'s parameters (float32 for a model without any)."""
    return next(iter(model.parameters()), torch.zeros(())).dtype


def rounded(values: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``values`` with those below :data:`RTOL` of ``scale`` set to 0 (rounding)."""
    values = np.asarray(values, dtype=np.float64)
    return np.where(np.abs(values) > RTOL * np.asarray(scale, dtype=np.float64), values, 0.0)


def greater(x: np.ndarray, y: np.ndarray) -> float:
    """One-sided Mann-Whitney U p-value of ``x > y``; 1 when both sides are all 0 (no evidence)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size and y.size and not np.any(x) and not np.any(y):
        return 1.0
    return stats.magnitude(x, y)


def consensus(ppm: np.ndarray) -> torch.Tensor:
    """The most probable base of each column of a ``(4, w)`` matrix, one-hot ``(1, 4, w)``."""
    return torch.from_numpy(motifs.to_onehot(np.asarray(ppm).argmax(axis=0)[None].astype(np.int8)))

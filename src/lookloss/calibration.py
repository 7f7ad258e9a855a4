"""Recalibrating a model's output on held-out loci before the loss test (docs/genome.md).

The loss test asks whether a pair's prediction without its interaction, ``f_A + f_B - f_0``
(counts), fits the held-out count worse than the prediction with it. That counterfactual is
only as good as the model's predictions at their four levels: a log-linear count head fitted
to an additive truth under-predicts loci with one motif and over-predicts loci with both
(issue 36's probes), so the counterfactual falls short of the truth, and the learned
interaction "buys" loss it should not.

The recalibration maps the model's predicted counts ``f`` through one smooth increasing
function, ``h(f) = a + b * BoxCox_gamma(1 + f)`` (``BoxCox_gamma(x) = (x^gamma - 1) / gamma``,
the logarithm at ``gamma = 0``; ``b > 0``), fitted as the conditional mean of the counts on
the held-out loci where no interaction of the two motifs can act, those holding at most one
of them anywhere in the model's input: least squares in counts, ``a`` and ``b`` in closed
form for each ``gamma`` of :data:`GAMMAS`, the best ``gamma`` kept. ``gamma = 1`` rescales
counts linearly; ``gamma = 0`` turns products into sums, so a multiplicative head fitted to
an additive truth becomes additive again (with ``a < 0`` as a rule: the map may run below 0
under the loci it was fitted on, and the effects are taken as it gives them, see
:func:`apply`). The four variants of every tested pair (and of the nulls) go through the
same ``h``, and the tests are run as before.

Why these choices (docs/genome.md, "A recalibrated loss test"): a map fitted on loci with both
motifs absorbs a spurious interaction into its curvature and creates one elsewhere (a
cross-fitted isotonic map on every locus called the study's spurious-product oracle an
interaction), and an affine map in the link's space cannot undo a multiplicative head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from lookloss import interactions
from lookloss.layout import VARIANTS
from lookloss.transforms import Link

#: Fewest loci a recalibration is fitted on.
MIN_LOCI = 10
#: The Box-Cox exponents tried, from 1 / (1 + f) to (1 + f)^2.
GAMMAS = np.round(np.arange(-1.0, 2.0001, 0.05), 2)


class CalibrationError(ValueError):
    """Too few loci, or predictions that do not rise with the counts, to fit the map."""


def box_cox(x: np.ndarray, gamma: float) -> np.ndarray:
    """``(x^gamma - 1) / gamma``, ``log x`` at ``gamma = 0``."""
    return np.log(x) if gamma == 0 else np.expm1(gamma * np.log(x)) / gamma


@dataclass(frozen=True)
class Calibration:
    """``h(f) = intercept + slope * BoxCox_gamma(1 + f)`` on counts (``slope > 0``), fitted on ``n_loci`` loci."""

    intercept: float
    slope: float
    gamma: float
    n_loci: int

    def __call__(self, counts: np.ndarray) -> np.ndarray:
        return self.intercept + self.slope * box_cox(1.0 + _non_negative(counts), self.gamma)

    def as_dict(self) -> dict[str, float | int]:
        return {"intercept": self.intercept, "slope": self.slope, "gamma": self.gamma, "n_loci": self.n_loci}


def _non_negative(counts: np.ndarray) -> np.ndarray:
    """Predicted counts as float64, those below 0 (an Anscombe output can map to -3/8) taken as 0."""
    return np.maximum(np.asarray(counts, dtype=np.float64), 0.0)


def fit(predicted: np.ndarray, observed: np.ndarray) -> Calibration:
    """The map of :class:`Calibration` from ``predicted`` counts to the ``observed`` counts of the
    same loci with the least squared error in counts: for each ``gamma`` of :data:`GAMMAS`, the
    least-squares line in ``BoxCox_gamma(1 + f)``; the ``gamma`` of the least error.

    Raises
    ------
    CalibrationError
        Fewer than :data:`MIN_LOCI` loci, non-finite values, predictions whose spread is no more
        than float32 rounding (:data:`lookloss.losstest.ROUNDING`), or no ``gamma`` with a
        positive slope.
    """
    from lookloss.losstest import ROUNDING

    raw = np.asarray(predicted, dtype=np.float64).ravel()
    y = np.asarray(observed, dtype=np.float64).ravel()
    if len(raw) != len(y):
        raise ValueError(f"{len(raw)} predictions but {len(y)} observed counts")
    if len(raw) < MIN_LOCI:
        raise CalibrationError(f"{len(raw)} loci to recalibrate on; at least {MIN_LOCI} are needed")
    if not (np.isfinite(raw).all() and np.isfinite(y).all()):
        raise CalibrationError(f"non-finite values on the loci to recalibrate on: {int((~np.isfinite(raw)).sum())} "
                               f"predictions, {int((~np.isfinite(y)).sum())} observed counts")
    f = 1.0 + _non_negative(raw)
    if np.ptp(f) <= ROUNDING * f.max():
        raise CalibrationError("the model predicts the same count on every locus to recalibrate on (to float32 "
                               "rounding)")
    best = None
    for gamma in GAMMAS:
        x = box_cox(f, float(gamma))
        spread = x - x.mean()
        slope = float(spread @ (y - y.mean()) / (spread @ spread))
        if not slope > 0:
            continue
        intercept = float(y.mean() - slope * x.mean())
        sse = float(np.sum((y - intercept - slope * x) ** 2))
        if best is None or sse < best[0]:
            best = (sse, Calibration(intercept, slope, float(gamma), len(f)))
    if best is None:
        raise CalibrationError("the model's predictions do not rise with the observed counts on the loci to "
                               "recalibrate on")
    return best[1]


def apply(table: pd.DataFrame, calibration: Calibration, link: Link) -> pd.DataFrame:
    """A loss test's pair table (:data:`lookloss.losstest.PAIR_COLUMNS`) with its four predictions
    mapped through ``calibration``, its effects and losses recomputed; other columns kept.

    The effects are those of the mapped values as they are (below 0 too, where the map runs
    under the loci it was fitted on), so that the map adds no interaction of its own: an
    additive model stays additive under a linear map, a multiplicative one becomes additive
    under the logarithm. Only inside the losses is a prediction held at the link's floor, the
    prediction with the interaction as the one without it (:func:`lookloss.interactions.losses`
    does the latter). Interactions within float32 rounding of the mapped values are 0
    (:func:`lookloss.losstest.rounding_noise`, the rule of the unmapped tables).
    """
    from lookloss.losstest import _RENAME, rounding_noise

    f = {v: calibration(table[_RENAME[f"f_{v}"]].to_numpy(np.float64)) for v in VARIANTS}
    y = table["target"].to_numpy(np.float64)
    eff = interactions.effects(f)
    eff["interaction"] = np.where(rounding_noise(list(f.values()), eff["interaction"]), 0.0, eff["interaction"])
    held = np.maximum(f["gt"], link.floor)
    losses = interactions.losses(held, eff["interaction"] + held - f["gt"], y, link)  # held - I' = f_gt - I
    out = table.copy()
    for key, values in {**{f"f_{v}": f[v] for v in VARIANTS}, **eff, **losses}.items():
        if key in _RENAME:
            out[_RENAME[key]] = values
    return out

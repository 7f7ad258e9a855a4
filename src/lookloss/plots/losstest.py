"""Per-pair loss histograms: the panels of fig8 and the figure of ``lookloss loss-test``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from lookloss.plots.style import BLUE, LOSS_UNIT, RED, _central, _empty, _note, format_p


def loss_panels(top: Axes, bottom: Axes, data: pd.DataFrame, p_paired: float, p_unpaired: float,
                highlight: bool = False, unit: str = LOSS_UNIT, what: str = "test pairs") -> None:
    """Histograms of one model's per-pair loss with and without I (``top``) and of Δ (``bottom``).

    Parameters
    ----------
    data : pandas.DataFrame
        Per-pair ``loss_orig``, ``loss_main`` and ``delta``.
    p_paired, p_unpaired : float
        The paired (Wilcoxon) and unpaired (Mann-Whitney) p-values shown.
    highlight : bool
        Draw Δ in red (a significant paired test), else blue.
    unit : str
        What the losses are (the squared error in the model's loss space).
    what : str
        What the pairs are, for the count in the legend.
    """
    orig, main = data["loss_orig"].to_numpy(float), data["loss_main"].to_numpy(float)
    both = np.concatenate([orig, main])
    both = both[np.isfinite(both)]
    lo = float(both.min()) if both.size else 0.0
    hi = float(np.percentile(both, 99)) if both.size else 1.0
    if lo < 0.2 * hi:  # start at 0 unless every loss is far from it
        lo = 0.0
    bins = np.linspace(lo, hi if hi > lo else lo + 1.0, 41)
    top.hist(np.clip(orig, bins[0], bins[-1]), bins=bins, histtype="stepfilled", alpha=0.35, color=BLUE)
    top.hist(np.clip(main, bins[0], bins[-1]), bins=bins, histtype="step", linewidth=1.3, color=RED)
    top.set_xlabel(f"per-pair loss ({unit})", fontsize=8)
    top.set_ylabel("pairs")
    top.yaxis.set_major_locator(MaxNLocator(integer=True))
    blank = Line2D([], [], linestyle="none")
    top.legend([Patch(color=BLUE, alpha=0.35), Line2D([], [], color=RED, linewidth=1.3), blank, blank, blank],
               ["loss_orig: prediction f(s_GT)", "loss_main: f(s_GT) − I", f"n = {len(data)} {what}",
                f"paired Wilcoxon (Δ > 0) {format_p(p_paired)}", f"unpaired Mann-Whitney {format_p(p_unpaired)}"],
               loc="best", fontsize=7, framealpha=0.85)
    delta = data["delta"].to_numpy(float)
    lo, hi = _central(delta, 0.98)
    bound = max(abs(lo), abs(hi))
    bottom.hist(np.clip(delta, -bound, bound), bins=np.linspace(-bound, bound, 41),
                color=RED if highlight else BLUE, alpha=0.7)
    bottom.axvline(0, color="black", linewidth=0.8)
    bottom.set_xlabel("Δ = loss_main − loss_orig per pair\n(" + unit + ")", fontsize=8)
    bottom.set_ylabel("pairs")
    bottom.yaxis.set_major_locator(MaxNLocator(integer=True))
    _note(bottom, [f"mean Δ = {np.nanmean(delta):.3g}", f"median Δ = {np.nanmedian(delta):.3g}",
                   f"Δ > 0: {int((delta > 0).sum())}/{len(delta)}"], loc="upper left")


def loss_test_figure(pairs: pd.DataFrame, summary: Mapping[str, Any]) -> Figure:
    """The loss test on a user's model (:func:`lookloss.losstest.loss_test`), drawn like fig8.

    Parameters
    ----------
    pairs : pandas.DataFrame
        The per-pair table (``loss_orig``, ``loss_main``, ``delta``).
    summary : mapping
        The test's summary: ``motif_a``, ``motif_b``, ``link``, ``p_paired``,
        ``p_unpaired``, ``alpha`` and ``call``.
    """
    fig = Figure(figsize=(4.6, 6.2), layout="constrained")
    top, bottom = fig.subplots(2, 1)
    flagged_ = summary["call"] == "interaction"
    top.set_title(f"{summary['motif_a']} × {summary['motif_b']}: {summary['call']}\n"
                  f"(paired loss test, α = {summary['alpha']:g})", fontsize=9)
    if pairs.empty:
        _empty(top)
        _empty(bottom)
    else:
        loss_panels(top, bottom, pairs, summary["p_paired"], summary["p_unpaired"], highlight=flagged_,
                    unit=f"squared error, {summary['link']} space", what="pairs")
    fig.suptitle("Per-pair loss with and without the interaction\n(values beyond the axis are piled into "
                 "the edge bins)", fontsize=8)
    return fig

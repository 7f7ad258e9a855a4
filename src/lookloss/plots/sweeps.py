"""The figures of the sweeps across controls: power and the detectors' error rates."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from lookloss.detectors import DETECTORS
from lookloss.layout import PADDINGS
from lookloss.plots.style import GREY, _empty, _present

# scipy is imported where it is used, never at module level (see lookloss.plots).


def power(power: pd.DataFrame, *, alpha: float) -> Figure:
    """Fraction of models each test flags against the strength of the true interaction.

    Parameters
    ----------
    power : pandas.DataFrame
        ``power.tsv`` (:func:`lookloss.tables.power_table`); uses ``control``,
        ``padding``, ``detector``, ``fraction``, ``ci_low``, ``ci_high``, ``n_models`` and
        ``true_relative_I``.
    alpha : float
        Significance level (the false-positive rate a calibrated test keeps).

    Returns
    -------
    matplotlib.figure.Figure
        One panel per padding, one line per test, Wilson 95% intervals; each point is a
        control, labelled with its name.
    """
    paddings = _present(power["padding"], PADDINGS) if len(power) else []
    fig = Figure(figsize=(4.6 * max(len(paddings), 1), 4.0), layout="constrained")
    axes = np.asarray(fig.subplots(1, max(len(paddings), 1), squeeze=False, sharey=True))[0]
    if not paddings:
        _empty(axes[0])
    for ax, padding in zip(axes, paddings, strict=False):
        group = power[power["padding"] == padding].sort_values("true_relative_I", kind="stable")
        for test, rows in group.groupby("detector", sort=False):
            x = rows["true_relative_I"].to_numpy(float)
            y = rows["fraction"].to_numpy(float)
            err = np.clip(np.vstack([y - rows["ci_low"].to_numpy(float), rows["ci_high"].to_numpy(float) - y]), 0, None)
            entry = DETECTORS.get(test)
            ax.errorbar(x, y, yerr=err, fmt="o-", color=entry.colour if entry else GREY, markersize=4, capsize=2,
                        linewidth=1.2, label=entry.label if entry else test)
        named = group.drop_duplicates("control")
        top = ax.secondary_xaxis("top")  # which control each point is
        top.set_xticks(named["true_relative_I"].to_numpy(float), named["control"].tolist(), fontsize=7)
        ax.axhline(alpha, color=GREY, linestyle=":", linewidth=1)
        ax.axhline(0.8, color=GREY, linestyle=":", linewidth=1)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("true interaction: mean I / mean joint effect\n(test pairs)")
        ax.set_title(f"{padding} padding (n = {int(group['n_models'].max())} models per control)", fontsize=9)
    axes[0].set_ylabel("fraction of models flagged")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    fig.suptitle(f"How strong must an interaction be? (dotted: α = {alpha:g} and 80% power)", fontsize=10)
    return fig


_CONTROL_MARKERS = "os^Dv<>p"


def detector_rates(detectors: pd.DataFrame, *, alpha: float, focus_controls: Sequence[str]) -> Figure:
    """False-positive rate on the additive control against power on each other control, per detector.

    Parameters
    ----------
    detectors : pandas.DataFrame
        ``detectors.tsv`` (:func:`lookloss.tables.detector_table`): ``detector``,
        ``control``, ``padding``, ``n_models``, ``fraction``, ``ci_low`` and ``ci_high``.
    alpha : float
        Significance level (the false-positive rate a calibrated detector keeps).
    focus_controls : sequence of str
        The additive controls (every model they flag is a false positive); their
        fractions are pooled per detector and padding.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per padding; per detector (colour) and super-additive control (marker),
        a point at (false-positive rate, power) with Wilson 95% intervals both ways, points
        nudged apart by about 0.01 so that equal ones stay visible.
    """
    paddings = _present(detectors["padding"], PADDINGS) if len(detectors) else []
    fig = Figure(figsize=(4.4 * max(len(paddings), 1), 4.4), layout="constrained")
    axes = np.asarray(fig.subplots(1, max(len(paddings), 1), squeeze=False, sharey=True))[0]
    negative = detectors["control"].isin(focus_controls) if len(detectors) else pd.Series(dtype=bool)
    positives = sorted(set(detectors.loc[~negative, "control"])) if len(detectors) else []
    if not paddings or not negative.any() or not positives:
        _empty(axes[0], "needs an additive and a super-additive control")
        paddings = []
    for ax, padding in zip(axes, paddings, strict=False):
        group = detectors[detectors["padding"] == padding]
        shown = list(dict.fromkeys(group["detector"]))
        for d, (detector, rows) in enumerate(group.groupby("detector", sort=False)):
            entry = DETECTORS.get(detector)
            neg = rows[rows["control"].isin(focus_controls)]
            k, n = int(neg["n_flagged"].sum()), int(neg["n_models"].sum())
            x, (x_low, x_high) = (k / n if n else np.nan), _wilson(k, n)
            for c, (marker, control) in enumerate(zip(_CONTROL_MARKERS, positives, strict=False)):
                pos = rows[rows["control"] == control]
                if pos.empty:
                    continue
                y = float(pos["fraction"].iloc[0])
                dodge = (0.012 * (d - (len(shown) - 1) / 2), 0.012 * (c - (len(positives) - 1) / 2))  # equal points stay visible
                ax.errorbar([x + dodge[0]], [y + dodge[1]], xerr=[[max(x - x_low, 0)], [max(x_high - x, 0)]],
                            yerr=[[max(y - float(pos["ci_low"].iloc[0]), 0)], [max(float(pos["ci_high"].iloc[0]) - y, 0)]],
                            fmt=marker, color=entry.colour if entry else GREY, markersize=6, capsize=2,
                            linewidth=1, label=f"{entry.label if entry else detector} ({control})")
        ax.plot([0, 1], [0, 1], color=GREY, linestyle="--", linewidth=0.8)  # no better than chance
        ax.axvline(alpha, color=GREY, linestyle=":", linewidth=1)
        ax.set_xlim(-0.03, 1.03)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel(f"false-positive rate: fraction flagged, {', '.join(focus_controls)} (additive)")
        ax.set_title(f"{padding} padding (n = {int(group['n_models'].max())} models per control)", fontsize=9)
    axes[0].set_ylabel("power: fraction flagged, super-additive control")
    handles, labels = axes[0].get_legend_handles_labels()
    if handles:
        fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=7, frameon=False)
    fig.suptitle(f"Which detector is fooled by an additive truth? (dotted: α = {alpha:g})", fontsize=10)
    return fig


def _wilson(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval of ``k`` of ``n`` (scipy imported here, not at the workflow's start-up)."""
    from lookloss.stats import wilson

    return wilson(k, n)

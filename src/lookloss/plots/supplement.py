"""The study's supplementary figures, S1 to S5 (docs/study.md section 6)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch
from matplotlib.textpath import TextPath
from matplotlib.ticker import MaxNLocator
from matplotlib.transforms import Affine2D

from lookloss.layout import ALPHABET, ROLE_FACTORS
from lookloss.plots.style import (
    BLUE,
    CONTROL_LABEL,
    GREY,
    LOGO_COLOURS,
    LOSS_UNIT,
    SCATTER_BELOW,
    SIGN_COLOURS,
    _flag_legend,
    _grid,
    _hexbin,
    _identity_line,
    _note,
    _panel_groups,
    _panels,
    _scatter_models,
    format_p,
    information_content,
)

# scipy is imported where it is used, never at module level (see lookloss.plots).


def figS1(pairs: pd.DataFrame, models: pd.DataFrame | None = None, *, hexbin_gridsize: int) -> Figure:
    """Interaction I vs the summed main effects M_G + M_T, per pair (hexbin).

    Parameters
    ----------
    pairs : pandas.DataFrame
        Stacked test-pair tables; uses ``m_g``, ``m_t`` and ``interaction``.
    models : pandas.DataFrame, optional
        ``models.tsv``; when given, the median per-model Pearson r (``r_I_main``) is shown.
    hexbin_gridsize : int
        Hexagons across the x axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = _PairPanels(lambda g: g["m_g"] + g["m_t"], lambda g: g["interaction"], r"$M_G + M_T$ (counts)",
                         "interaction I (counts)", "r_I_main",
                         "Fig. S1  Interaction vs summed main effects (test pairs, all models pooled)")
    return _pair_hexbins(pairs, models, panels, hexbin_gridsize)


def figS2(pairs: pd.DataFrame, models: pd.DataFrame | None = None, *, hexbin_gridsize: int) -> Figure:
    """Main-effect error (true M_G + M_T minus predicted) vs the interaction I (hexbin).

    Parameters
    ----------
    pairs : pandas.DataFrame
        Stacked test-pair tables; uses ``m_g``, ``m_t``, ``true_m_g``, ``true_m_t`` and
        ``interaction``.
    models : pandas.DataFrame, optional
        ``models.tsv``; when given, the median per-model ``r_I_main_error`` is shown.
    hexbin_gridsize : int
        Hexagons across the x axis.

    Returns
    -------
    matplotlib.figure.Figure
    """
    panels = _PairPanels(lambda g: g["interaction"], lambda g: (g["true_m_g"] + g["true_m_t"]) - (g["m_g"] + g["m_t"]),
                         "interaction I (counts)", "main-effect error (counts):\n" + r"true − predicted $M_G + M_T$",
                         "r_I_main_error", "Fig. S2  Main-effect error vs interaction (test pairs, all models pooled)")
    return _pair_hexbins(pairs, models, panels, hexbin_gridsize)


@dataclass(frozen=True)
class _PairPanels:
    """What a pooled-pair hexbin figure plots: x and y of each pair (functions of a panel's
    pairs), their labels, the per-model Pearson r column of ``models.tsv`` and the title."""

    x: Callable[[pd.DataFrame], pd.Series]
    y: Callable[[pd.DataFrame], pd.Series]
    xlabel: str
    ylabel: str
    r_column: str
    title: str


def _pair_hexbins(pairs: pd.DataFrame, models: pd.DataFrame | None, panels: _PairPanels,
                  hexbin_gridsize: int) -> Figure:
    from lookloss.stats import pearson

    fx, fy, xlabel, ylabel, r_column, title = (panels.x, panels.y, panels.xlabel, panels.ylabel, panels.r_column,
                                               panels.title)

    controls, paddings = _panels(pairs)
    fig, axes = _grid(controls, paddings, size=(4.2, 3.2))
    for ax, control, padding, group in _panel_groups(pairs, axes, controls, paddings):
        x, y = fx(group).to_numpy(float), fy(group).to_numpy(float)
        _hexbin(ax, x, y, hexbin_gridsize)
        ax.axhline(0, color="white", linewidth=0.6, linestyle=":")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel, fontsize=8)
        ok = np.isfinite(x) & np.isfinite(y)
        r = pearson(x[ok], y[ok])
        lines = [f"n = {len(group)} pairs, {group['model'].nunique()} models",
                 f"pooled Pearson r = {r:.2f}" if np.isfinite(r) else "pooled Pearson r = n/a"]
        if models is not None and r_column in models:
            per_model = models[(models["control"] == control)
                               & (models["padding"] == padding)][r_column].astype(float)
            if per_model.notna().any():
                lines.append(f"median per-model r = {per_model.median():.2f}")
        _note(ax, lines, loc="upper left")
    fig.suptitle(f"{title}\nhexagons (panels with ≥ {SCATTER_BELOW} pairs): central 99% on each axis",
                 fontsize=9)
    return fig


def figS3(models: pd.DataFrame) -> Figure:
    """Sign of the mean interaction: models with mean I > 0 and < 0.

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv``; uses ``mean_I``.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per padding, bars per control, with a two-sided sign (binomial) test.
    """
    from scipy.stats import binomtest

    controls, paddings = _panels(models)
    fig = Figure(figsize=(3.4 * max(len(paddings), 1), 3.4), layout="constrained")
    axes = np.asarray(fig.subplots(1, max(len(paddings), 1), squeeze=False, sharey=True))[0]
    width = 0.38
    for j, padding in enumerate(paddings):
        ax = axes[j]
        labels, lines = [], []
        for k, control in enumerate(controls):
            mean_i = models[(models["control"] == control)
                            & (models["padding"] == padding)]["mean_I"].astype(float)
            pos, neg = int((mean_i > 0).sum()), int((mean_i < 0).sum())
            for offset, count, colour in ((-width / 2, pos, SIGN_COLOURS[0]),
                                          (width / 2, neg, SIGN_COLOURS[1])):
                bar = ax.bar(k + offset, count, width, color=colour, alpha=0.8)
                ax.bar_label(bar, fontsize=7)
            labels.append(control)
            p = binomtest(pos, pos + neg).pvalue if pos + neg else float("nan")
            lines.append(f"{control}: n = {len(mean_i)}, sign test {format_p(p)}")
        ax.set_xticks(range(len(controls)),
                      [CONTROL_LABEL.get(c, c).replace(" (", "\n(") for c in controls], fontsize=7)
        ax.set_title(f"{padding} padding", fontsize=9)
        ax.set_ylabel("models")
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(y=0.25)
        _note(ax, lines, loc="upper left")
    handles = [Line2D([], [], marker="s", linestyle="none", color=c) for c in SIGN_COLOURS]
    fig.legend(handles, ["mean I over test pairs > 0", "mean I over test pairs < 0"],
               loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    fig.suptitle("Fig. S3  Sign of the mean interaction per model", fontsize=10)
    return fig


def figS4(models: pd.DataFrame, *, alpha: float) -> Figure:
    """Median Δ on test pairs vs at random positions (the random-position null).

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv``; uses ``median_delta``, ``median_delta_randpos``, ``p_randpos``
        and ``p_paired``.
    alpha : float
        Significance level; filled markers where the random-position test is
        significant, red where the paired test is.

    Returns
    -------
    matplotlib.figure.Figure
    """
    controls, paddings = _panels(models)
    fig, axes = _grid(controls, paddings)
    for ax, control, padding, group in _panel_groups(models, axes, controls, paddings):
        x = group["median_delta_randpos"].astype(float)
        y = group["median_delta"].astype(float)
        sig = group["p_randpos"].astype(float).to_numpy() < alpha
        _identity_line(ax, x, y)
        _scatter_models(ax, (x, y), group, alpha, filled=sig)
        ax.set_xlabel("median Δ at random positions\n(" + LOSS_UNIT + ")", fontsize=8)
        ax.set_ylabel("median Δ on test pairs\n(" + LOSS_UNIT + ")", fontsize=8)
        _note(ax, [f"n = {len(group)} models",
                   f"random-position test p < {alpha:g}: {int(sig.sum())}/{len(group)}"])
    _flag_legend(fig, alpha, [
        (Line2D([], [], marker="o", linestyle="none", markerfacecolor="white", color=BLUE),
         f"hollow: random-position test p ≥ {alpha:g}"),
        (Line2D([], [], color=GREY, linestyle="--"), "x = y")])
    fig.suptitle("Fig. S4  Loss improvement at the motifs vs at random positions", fontsize=10)
    return fig


def figS5(ppms: Mapping[str, np.ndarray], *, motifs: Mapping[str, str]) -> Figure:
    """Information-content sequence logos of the motifs.

    Parameters
    ----------
    ppms : mapping of str to numpy.ndarray, shape=(4, w)
        Position probability matrices (A, C, G, T rows) keyed by role (``gata``,
        ``tal``), e.g. smoothed by :func:`lookloss.motifs.smooth`.
    motifs : mapping of str to str
        The motifs' names keyed by role (config ``simulation.motifs``), for the titles.

    Returns
    -------
    matplotlib.figure.Figure
        One logo per motif, letter height ``p * (2 - H)`` bits.
    """
    widths = [np.asarray(p).shape[1] for p in ppms.values()] or [1]
    fig = Figure(figsize=(0.32 * max(widths) + 1.2, 1.9 * max(len(ppms), 1)), layout="constrained")
    axes = np.asarray(fig.subplots(max(len(ppms), 1), 1, squeeze=False))[:, 0]
    for ax, (role, ppm) in zip(axes, ppms.items(), strict=False):
        heights = information_content(ppm)
        for col in range(heights.shape[1]):
            bottom = 0.0
            for row in np.argsort(heights[:, col], kind="stable"):
                _letter(ax, ALPHABET[row], col + 1, bottom, heights[row, col])
                bottom += heights[row, col]
        ax.set_xlim(0.5, heights.shape[1] + 0.5)
        ax.set_ylim(0, 2)
        ax.set_xticks(range(1, heights.shape[1] + 1))
        ax.set_xlabel("position in motif (bp)")
        ax.set_ylabel("information\n(bits)")
        ax.spines[["top", "right"]].set_visible(False)
        ax.set_title(f"{ROLE_FACTORS.get(role, role)}: {motifs[role]} ({heights.shape[1]} bp)", fontsize=9)
    fig.suptitle("Fig. S5  The simulated motifs", fontsize=10)
    return fig


_FONT = FontProperties(family="DejaVu Sans", weight="bold")


def _letter(ax: Axes, letter: str, x: float, bottom: float, height: float) -> None:
    """Draw ``letter`` filling the box centred at ``x``, 0.9 wide, from ``bottom`` up."""
    if height <= 1e-4:
        return
    path = TextPath((0, 0), letter, size=1, prop=_FONT)
    box = path.get_extents()
    transform = (Affine2D().translate(-box.x0, -box.y0)
                 .scale(0.9 / box.width, height / box.height)
                 .translate(x - 0.45, bottom))
    ax.add_patch(PathPatch(transform.transform_path(path), facecolor=LOGO_COLOURS[letter],
                           edgecolor="none"))

"""Colours, sizes and the drawing helpers that the figures of :mod:`lookloss.plots` share.

Panels are laid out with one row per control and one column per padding (:func:`_grid`,
:func:`_panel_groups`); a model whose paired loss test is significant is drawn in red
(:func:`flagged`, :func:`_model_colours`, :func:`_flag_legend`); dense per-pair panels
are log-count hexbins (:func:`_hexbin`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter

from lookloss.layout import PADDINGS

CONTROL_ORDER = ["neg", "pos"]
CONTROL_LABEL = {"neg": "negative control (additive)", "pos": "positive control (super-additive)"}
RED = "#d62728"
BLUE = "#1f4e79"
GREY = "0.55"
SIGN_COLOURS = ("#e08214", "#5e3c99")  # mean I > 0, < 0 (red stays for flagged models)
LOGO_COLOURS = {"A": "#109648", "C": "#255c99", "G": "#f7b32b", "T": "#d62839"}
PANEL_SIZE = (3.7, 3.0)  # inches per panel
SCATTER_BELOW = 2000  # per-pair panels with fewer pairs show points, not hexagons
LOSS_UNIT = "Anscombe-space squared error"
DELTA_LABEL = "loss improvement Δ = loss_main − loss_orig\n(" + LOSS_UNIT + ")"


def flagged(models: pd.DataFrame, alpha: float) -> pd.Series:
    """True for models whose paired loss test is significant (``p_paired < alpha``)."""
    return models["p_paired"].astype(float) < alpha


def centre_distance(start: np.ndarray, width: int, seq_len: int) -> np.ndarray:
    """Distance (bp) of a motif's centre, ``start + width / 2``, from ``seq_len / 2``."""
    return np.abs(np.asarray(start, dtype=float) + width / 2.0 - seq_len / 2.0)


def information_content(ppm: np.ndarray) -> np.ndarray:
    """Letter heights of a sequence logo: ``p * (2 - H)`` bits per column (uniform background).

    Parameters
    ----------
    ppm : numpy.ndarray, shape=(4, w)
        Position probability matrix (columns summing to 1).

    Returns
    -------
    numpy.ndarray, shape=(4, w)
    """
    ppm = np.asarray(ppm, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.nansum(np.where(ppm > 0, ppm * np.log2(ppm), 0.0), axis=0)
    return ppm * (2.0 - entropy)[None, :]


def format_p(p: float) -> str:
    """A p-value for a panel: ``p = 0.012``, ``p = 3.1e-08`` or ``p = n/a`` when NaN."""
    if p is None or not np.isfinite(p):
        return "p = n/a"
    return f"p = {p:.2g}" if p >= 1e-3 else f"p = {p:.1e}"


def _present(values: Iterable[str], order: Sequence[str]) -> list[str]:
    values = list(dict.fromkeys(values))
    return [v for v in order if v in values] + sorted(v for v in values if v not in order)


def _grid(controls: Sequence[str], paddings: Sequence[str], *, size=PANEL_SIZE,
          sharex: bool = False, sharey: bool = False) -> tuple[Figure, np.ndarray]:
    rows, cols = max(len(controls), 1), max(len(paddings), 1)
    fig = Figure(figsize=(size[0] * cols, size[1] * rows + 0.6), layout="constrained")
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False, sharex=sharex, sharey=sharey))
    for ax in axes.ravel():
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))  # long tick labels must not collide
    for i, control in enumerate(controls):
        for j, padding in enumerate(paddings):
            axes[i, j].set_title(f"{CONTROL_LABEL.get(control, control)}\n{padding} padding",
                                 fontsize=9)
    return fig, axes


def _panels(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    return (_present(frame["control"], CONTROL_ORDER) if len(frame) else [],
            _present(frame["padding"], PADDINGS) if len(frame) else [])


def _panel_groups(frame: pd.DataFrame, axes: np.ndarray, controls: Sequence[str],
                  paddings: Sequence[str]) -> Iterator[tuple[Axes, str, str, pd.DataFrame]]:
    """The non-empty panels of a control × padding grid, with their rows of ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        Table with ``control`` and ``padding`` columns.
    axes : numpy.ndarray, shape=(len(controls), len(paddings))
        Axes from :func:`_grid`.
    controls, paddings : sequence of str
        Row and column values, in grid order.

    Yields
    ------
    tuple of (matplotlib.axes.Axes, str, str, pandas.DataFrame)
        ``(ax, control, padding, group)`` for each panel whose ``group`` (the rows of
        ``frame`` with that control and padding) is non-empty; empty panels are
        marked with :func:`_empty` and skipped.
    """
    for i, control in enumerate(controls):
        for j, padding in enumerate(paddings):
            ax = axes[i, j]
            group = frame[(frame["control"] == control) & (frame["padding"] == padding)]
            if group.empty:
                _empty(ax)
                continue
            yield ax, control, padding, group


def _note(ax: Axes, lines: Sequence[str], loc: str = "best") -> None:
    """Text in a box placed where it hides the fewest data (a legend without handles)."""
    previous = ax.get_legend()
    if previous is not None:  # keep an existing legend: a second one would replace it
        ax.add_artist(previous)
    handles = [Line2D([], [], linestyle="none") for _ in lines]
    legend = ax.legend(handles, list(lines), loc=loc, handlelength=0, handletextpad=0,
                       fontsize=7, framealpha=0.85, borderpad=0.4)
    legend.set_zorder(10)


def _empty(ax: Axes, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=GREY)


def _model_colours(frame: pd.DataFrame, alpha: float) -> np.ndarray:
    return np.where(flagged(frame, alpha), RED, BLUE)


def _flag_legend(fig: Figure, alpha: float, extra: Sequence[tuple[Any, str]] = ()) -> None:
    handles = [Line2D([], [], marker="o", linestyle="none", color=BLUE),
               Line2D([], [], marker="o", linestyle="none", color=RED)]
    labels = [f"paired loss test p ≥ {alpha:g}", f"paired loss test p < {alpha:g} (flagged)"]
    for handle, label in extra:
        handles.append(handle)
        labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(labels), 3), fontsize=8,
               frameon=False)


def _sort_models(frame: pd.DataFrame) -> pd.DataFrame:
    keys = [k for k in ("arch", "l1", "seed") if k in frame]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True) if keys else frame


def _scatter_models(ax: Axes, xy: tuple, frame: pd.DataFrame, alpha: float,
                    filled: np.ndarray | None = None, **kwargs) -> None:
    """One point per model at ``xy`` = (x, y), coloured by its paired test; hollow where not ``filled``."""
    colours = _model_colours(frame, alpha)
    filled = np.ones(len(frame), bool) if filled is None else np.asarray(filled, bool)
    x, y = (np.asarray(v, float) for v in xy)
    for fill in (True, False):
        keep = filled == fill
        if keep.any():
            ax.scatter(x[keep], y[keep], s=kwargs.get("s", 28), marker=kwargs.get("marker", "o"),
                       facecolors=colours[keep] if fill else "white", edgecolors=colours[keep],
                       linewidths=1.0, zorder=3)


def _errorbars(ax: Axes, x, y, yerr, colours: np.ndarray) -> None:
    x, y, yerr = (np.asarray(v, float) for v in (x, y, yerr))
    for colour in np.unique(colours):
        keep = colours == colour
        ax.errorbar(x[keep], y[keep], yerr=yerr[keep], fmt="none", ecolor=colour, elinewidth=0.8,
                    capsize=1.5, zorder=2)


def _identity_line(ax: Axes, x, y) -> None:
    values = np.concatenate([np.asarray(x, float), np.asarray(y, float)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return
    lo, hi = values.min(), values.max()
    pad = 0.05 * (hi - lo) if hi > lo else max(abs(hi), 1e-3) * 0.1
    ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color=GREY, linestyle="--", linewidth=1,
            zorder=1, label="x = y")
    ax.set_xlim(lo - pad, hi + pad)  # the same range on both axes keeps x = y the diagonal
    ax.set_ylim(lo - pad, hi + pad)


def _central(values: np.ndarray, coverage: float) -> tuple[float, float]:
    """Limits holding the central ``coverage`` of the finite values, never zero-width."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return -1.0, 1.0
    tail = 100 * (1 - coverage) / 2
    lo, hi = np.percentile(values, [tail, 100 - tail])
    if hi <= lo:
        half = max(abs(lo), 1.0) * 0.1
        lo, hi = lo - half, hi + half
    return float(lo), float(hi)


#: The share of the pairs a hexbin panel shows: the central 99% on each axis.
COVERAGE = 0.99


def _hexbin(ax: Axes, x, y, hexbin_gridsize: int, clip_x: bool = True) -> int:
    """Log-count hexbin of the pairs inside the central :data:`COVERAGE` of x (unless not
    ``clip_x``) and of y.

    A panel with fewer than :data:`SCATTER_BELOW` pairs is drawn as translucent points
    instead, all of them. Returns the number of pairs drawn; the layer is rasterized so
    PDFs stay small.
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size == 0:
        _empty(ax)
        return 0
    if x.size < SCATTER_BELOW:
        ax.scatter(x, y, s=9, alpha=0.45, color=BLUE, linewidths=0, rasterized=True)
        return int(x.size)
    xlo, xhi = _central(x, COVERAGE if clip_x else 1.0)
    ylo, yhi = _central(y, COVERAGE)
    inside = (x >= xlo) & (x <= xhi) & (y >= ylo) & (y <= yhi)
    hb = ax.hexbin(x[inside], y[inside], gridsize=hexbin_gridsize, norm=LogNorm(), mincnt=1,
                   cmap="viridis", extent=(xlo, xhi, ylo, yhi), linewidths=0.0)
    counts = hb.get_array()
    hb.set_clim(1, max(float(counts.max()) if counts is not None and counts.size else 1.0, 2.0))
    hb.set_rasterized(True)
    ax.set_xlim(xlo, xhi)
    ax.set_ylim(ylo, yhi)
    bar = ax.figure.colorbar(hb, ax=ax, label="pairs per hexagon", pad=0.01, fraction=0.05)
    bar.ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    bar.ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    bar.ax.yaxis.set_minor_formatter(NullFormatter())
    return int(inside.sum())

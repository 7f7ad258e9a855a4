"""The study's figures (docs/study.md section 6, poster numbering) from its tables.

Every ``fig*`` function takes DataFrames and returns a :class:`matplotlib.figure.Figure`
built without pyplot (no global state, any backend); :func:`save_figure` writes it as
PDF and PNG. :func:`draw` reads what a figure needs from the workflow's files and draws
it, as the table of figures :data:`lookloss.figures.FIGURES` says (a module of its own,
so that the workflow reads the table without importing matplotlib). A new figure is one
function here, one entry of that table and one caption (``workflow/report/{name}.rst``).

Inputs
------
models : pandas.DataFrame
    ``models.tsv``: one row per model (control, padding, arch, l1, seed, model and the
    statistics of :func:`lookloss.tables.model_row`).
summary : pandas.DataFrame
    ``summary.tsv``: one row per control and padding.
pairs : pandas.DataFrame
    Interaction tables (:func:`lookloss.interactions.interaction_table`) of many models
    stacked, with ``control``, ``padding`` and ``model`` columns added
    (:func:`read_interactions`).

Conventions: panels are laid out with one row per control and one column per padding
(whichever the data hold); a model whose paired loss test is significant
(``p_paired < alpha``) is drawn in red; each panel states its number of models or pairs
and the p-values of its test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.textpath import TextPath
from matplotlib.ticker import FormatStrFormatter, LogLocator, MaxNLocator, NullFormatter
from matplotlib.transforms import Affine2D

from lookloss.detectors import DETECTORS
from lookloss.figures import FIGURES

# scipy is imported where it is used: the workflow imports this module (its figure
# table) at start-up, and scipy.stats would add more than a second to every start.
from lookloss.io import atomic_path
from lookloss.layout import (
    ALPHABET,
    PADDINGS,
    ROLE_FACTORS,
    parse_model_path,
    start_key,
)

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


# ----------------------------------------------------------------------------- helpers
def read_interactions(paths: Iterable[str | Path], columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Stack per-model interaction tables, adding where each came from.

    Parameters
    ----------
    paths : iterable of path
        ``.../interactions/{control}/{padding}/{model}/{set}.parquet`` files
        (:func:`lookloss.layout.parse_model_path`).
    columns : sequence of str, optional
        Columns to read (all when None); fewer columns read faster and use less memory.

    Returns
    -------
    pandas.DataFrame
        The tables concatenated, with ``control``, ``padding``, ``model`` and
        ``pair_set`` taken from each path.
    """
    frames = []
    for path in map(Path, paths):
        frame = pd.read_parquet(path, columns=list(columns) if columns is not None else None)
        where = parse_model_path(path)
        frames.append(frame.assign(control=where.control, padding=where.padding,
                                   model=where.model, pair_set=path.stem))
    if not frames:
        return pd.DataFrame(columns=[*(columns or []), "control", "padding", "model", "pair_set"])
    return pd.concat(frames, ignore_index=True)


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


# ----------------------------------------------------------------------------- figures
def fig3(models: pd.DataFrame, *, alpha: float) -> Figure:
    """Mean |I| on test pairs vs the shuffled null, per model, ± standard error.

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv``; uses ``mean_abs_I``, ``sem_abs_I``, ``mean_abs_I_shuffled``,
        ``sem_abs_I_shuffled``, ``p_magnitude`` and ``p_paired``.
    alpha : float
        Significance level.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per control and padding; models on the x axis grouped by
        architecture, filled markers where the magnitude test is significant.
    """
    controls, paddings = _panels(models)
    fig, axes = _grid(controls, paddings, size=(4.2, 3.0))
    for ax, control, padding, group in _panel_groups(models, axes, controls, paddings):
        group = _sort_models(group)
        x = np.arange(len(group))
        sig = group["p_magnitude"].astype(float).to_numpy() < alpha
        ax.errorbar(x + 0.15, group["mean_abs_I_shuffled"], yerr=group["sem_abs_I_shuffled"],
                    fmt="s", markersize=3.5, color=GREY, elinewidth=0.8, capsize=1.5, zorder=2)
        _errorbars(ax, x, group["mean_abs_I"], group["sem_abs_I"], _model_colours(group, alpha))
        _scatter_models(ax, (x, group["mean_abs_I"]), group, alpha, filled=sig, s=18)
        values = np.concatenate([group["mean_abs_I"], group["mean_abs_I_shuffled"]]).astype(float)
        values = values[np.isfinite(values)]
        if values.size and values.min() > 0 and values.max() / values.min() > 30:
            ax.set_yscale("log")
        if "arch" in group:
            edges = np.flatnonzero(group["arch"].to_numpy()[1:] != group["arch"].to_numpy()[:-1])
            for edge in edges:
                ax.axvline(edge + 0.5, color="0.85", linewidth=0.8, zorder=0)
            starts = np.r_[0, edges + 1]
            ends = np.r_[edges, len(group) - 1]
            ax.set_xticks((starts + ends) / 2, group["arch"].to_numpy()[starts], fontsize=8)
        ax.set_xlim(-0.7, len(group) - 0.3)
        ax.set_xlabel("model (by architecture, L1 weight, seed)")
        ax.set_ylabel("mean |I| (counts)")
        _note(ax, [f"n = {len(group)} models",
                   f"magnitude test (|I| > null) p < {alpha:g}: {sig.sum()}/{len(group)}"])
    _flag_legend(fig, alpha, [
        (Line2D([], [], marker="s", linestyle="none", color=GREY), "shuffled null, same model"),
        (Line2D([], [], marker="o", linestyle="none", markerfacecolor="white", color=BLUE),
         f"hollow: magnitude test p ≥ {alpha:g}")])
    fig.suptitle("Fig. 3  Interaction magnitude on test pairs vs the shuffled-sequence null",
                 fontsize=10)
    return fig


def fig4(models: pd.DataFrame, *, alpha: float) -> Figure:
    """Pearson r(I, M_G + M_T) vs the loss improvement Δ, per model.

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv``; uses ``r_I_main``, ``mean_delta``, ``sem_delta``,
        ``median_delta`` and ``p_paired``.
    alpha : float
        Significance level of the paired test (red models).

    Returns
    -------
    matplotlib.figure.Figure
        Mean Δ ± standard error (circles) and median Δ (diamonds) per model.
    """
    controls, paddings = _panels(models)
    fig, axes = _grid(controls, paddings)
    for ax, control, padding, group in _panel_groups(models, axes, controls, paddings):
        x = group["r_I_main"].astype(float)
        ax.axhline(0, color=GREY, linewidth=0.8, zorder=0)
        _errorbars(ax, x, group["mean_delta"], group["sem_delta"], _model_colours(group, alpha))
        _scatter_models(ax, (x, group["mean_delta"]), group, alpha)
        _scatter_models(ax, (x, group["median_delta"]), group, alpha,
                        filled=np.zeros(len(group), bool), marker="D", s=16)
        n_sig = int(flagged(group, alpha).sum())
        ax.set_xlabel(r"Pearson r(I, $M_G + M_T$) over test pairs")
        ax.set_ylabel(DELTA_LABEL, fontsize=8)
        _note(ax, [f"n = {len(group)} models",
                   f"paired Wilcoxon (Δ > 0) p < {alpha:g}: {n_sig}/{len(group)}"])
    _flag_legend(fig, alpha, [
        (Line2D([], [], marker="D", linestyle="none", markerfacecolor="white", color=BLUE),
         "median Δ (circles: mean Δ ± s.e.)")])
    fig.suptitle("Fig. 4  Interactions track the main effects; do they improve the loss?",
                 fontsize=10)
    return fig


def fig5(models: pd.DataFrame, summary: pd.DataFrame | None = None, *, alpha: float) -> Figure:
    """Test-set MSE vs mean |I| per model, with Spearman ρ per panel.

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv``; uses ``mean_abs_I``, ``test_mse`` and ``p_paired``.
    summary : pandas.DataFrame, optional
        ``summary.tsv``; its ``spearman_rho`` and ``spearman_p`` are shown. When None
        (or a group is missing) they are computed from ``models``.
    alpha : float
        Significance level of the paired test (red models).

    Returns
    -------
    matplotlib.figure.Figure
    """
    controls, paddings = _panels(models)
    fig, axes = _grid(controls, paddings)
    for ax, control, padding, group in _panel_groups(models, axes, controls, paddings):
        rho, p = _spearman(group, summary, control, padding)
        _scatter_models(ax, (group["mean_abs_I"], group["test_mse"]), group, alpha)
        ax.set_xlabel("mean |I| on test pairs (counts)")
        ax.set_ylabel(f"test-set MSE ({LOSS_UNIT})", fontsize=8)
        rho_text = f"{rho:.2f}" if np.isfinite(rho) else "n/a"
        _note(ax, [f"n = {len(group)} models", f"Spearman ρ = {rho_text}, {format_p(p)}"])
    _flag_legend(fig, alpha)
    fig.suptitle("Fig. 5  Model error vs interaction magnitude", fontsize=10)
    return fig


def _spearman(group: pd.DataFrame, summary: pd.DataFrame | None, control: str,
              padding: str) -> tuple[float, float]:
    if summary is not None and len(summary):
        row = summary[(summary["control"] == control) & (summary["padding"] == padding)]
        if len(row):
            return float(row["spearman_rho"].iloc[0]), float(row["spearman_p"].iloc[0])
    from lookloss.stats import spearman

    return spearman(group["mean_abs_I"], group["test_mse"])


def fig6(pairs: pd.DataFrame, ppms: Mapping[str, np.ndarray], *, seq_len: int, hexbin_gridsize: int,
         distance_bin: float) -> Figure:
    """Interaction I vs the larger distance of either motif from the sequence centre.

    Parameters
    ----------
    pairs : pandas.DataFrame
        Stacked test-pair tables; uses ``gata_start``, ``tal_start``, ``interaction``,
        ``control``, ``padding`` and ``model``. Every control in it is a row.
    ppms : mapping
        The motifs' matrices (4, w) keyed by role (``gata``, ``tal``), for their widths.
    seq_len : int
        Sequence length (bp).
    hexbin_gridsize : int
        Hexagons across the x axis.
    distance_bin : float
        Width (bp) of the distance bins whose mean I ± standard error is overlaid.

    Returns
    -------
    matplotlib.figure.Figure
        Pairs of all models pooled: a log-count hexbin (central 99% of I) with the
        binned means of all pairs on top.
    """
    rows, paddings = _panels(pairs)
    fig, axes = _grid(rows, paddings, size=(4.2, 3.2))
    for ax, control, padding, group in _panel_groups(pairs, axes, rows, paddings):
        distance = np.maximum.reduce([centre_distance(group[start_key(role)], ppm.shape[1], seq_len)
                                      for role, ppm in ppms.items()])
        interaction = group["interaction"].to_numpy(float)
        _hexbin(ax, distance, interaction, hexbin_gridsize, clip_x=False)
        edges = np.arange(0.0, distance.max() + distance_bin, distance_bin)
        if edges.size < 2:
            edges = np.array([0.0, distance_bin])
        which = np.clip(np.digitize(distance, edges) - 1, 0, edges.size - 2)
        binned = pd.DataFrame({"bin": which, "I": interaction}).groupby("bin")["I"]
        means, sems, counts = binned.mean(), binned.sem(), binned.size()
        centres = (edges[:-1] + edges[1:])[means.index] / 2
        ax.errorbar(centres, means, yerr=sems.fillna(0), fmt="o-", color="black",
                    markerfacecolor="white", markersize=4, linewidth=1.2, capsize=2, zorder=4,
                    label=f"mean I ± s.e. per {distance_bin:g} bp bin")
        ax.axhline(0, color=GREY, linewidth=0.8, linestyle=":", zorder=3)
        low, high = ax.get_ylim()
        finite = means[np.isfinite(means)]
        if len(finite):
            ax.set_ylim(min(low, finite.min()), max(high, finite.max()))
        ax.set_xlim(0, max(edges[-1], 1.0))
        ax.set_xlabel("larger distance of a motif centre\nfrom the sequence centre (bp)")
        ax.set_ylabel("interaction I (counts)")
        _note(ax, [f"n = {len(group)} pairs, {group['model'].nunique()} models",
                   f"bins: ≥ {int(counts.min())} pairs"], loc="upper left")
    handles = [Line2D([], [], marker="o", color="black", markerfacecolor="white")]
    fig.legend(handles, [f"mean I ± s.e. per {distance_bin:g} bp distance bin (all pairs); "
                         f"hexagons (panels with ≥ {SCATTER_BELOW} pairs): central 99% of I"],
               loc="outside lower center", fontsize=8, frameon=False)
    fig.suptitle("Fig. 6  Interaction vs motif position (test pairs, all models pooled)",
                 fontsize=10)
    return fig


def fig7(models: pd.DataFrame, *, alpha: float) -> Figure:
    """Median Δ on training pairs vs on test pairs, per model, with the x = y line.

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv``; uses ``median_delta``, ``median_delta_train`` and ``p_paired``.
    alpha : float
        Significance level of the paired test (red models).

    Returns
    -------
    matplotlib.figure.Figure
    """
    controls, paddings = _panels(models)
    fig, axes = _grid(controls, paddings)
    for ax, control, padding, group in _panel_groups(models, axes, controls, paddings):
        x, y = group["median_delta"].astype(float), group["median_delta_train"].astype(float)
        _identity_line(ax, x, y)
        _scatter_models(ax, (x, y), group, alpha)
        above = int((y > x).sum())
        ax.set_xlabel("median Δ on test pairs\n(" + LOSS_UNIT + ")", fontsize=8)
        ax.set_ylabel("median Δ on training pairs\n(" + LOSS_UNIT + ")", fontsize=8)
        lines = [f"n = {len(group)} models", f"train > test: {above}/{len(group)}"]
        if len(group) >= 2 and np.any((y - x).dropna() != 0):
            from scipy.stats import wilcoxon

            lines.append("Wilcoxon train vs test " + format_p(
                float(wilcoxon(y, x, nan_policy="omit").pvalue)))
        _note(ax, lines)
    _flag_legend(fig, alpha, [(Line2D([], [], color=GREY, linestyle="--"), "x = y")])
    fig.suptitle("Fig. 7  Loss cost of removing the interaction: training vs held-out pairs",
                 fontsize=10)
    return fig


def select_fig8_models(models: pd.DataFrame, *, alpha: float, fig8_models: int,
                       focus_controls: Sequence[str]) -> pd.DataFrame:
    """The models fig8 shows: per padding, flagged models of the focus controls.

    Among the models of ``focus_controls`` (every control when none of them is
    present), flagged models (``p_paired < alpha``) are taken in order of increasing
    ``p_paired``, at most ``fig8_models`` per padding; a padding with none flagged
    shows its model with the smallest ``p_paired``.

    Returns
    -------
    pandas.DataFrame
        The chosen rows of ``models``, with a boolean ``flagged`` column.
    """
    present = list(dict.fromkeys(models["control"]))
    chosen_controls = [c for c in focus_controls if c in present] or present
    candidates = models[models["control"].isin(chosen_controls)].copy()
    candidates["flagged"] = flagged(candidates, alpha)
    rows = []
    for padding in _present(candidates["padding"], PADDINGS):
        group = candidates[candidates["padding"] == padding].sort_values(
            "p_paired", kind="stable", na_position="last")
        hits = group[group["flagged"]]
        rows.append(hits.head(fig8_models) if len(hits) else group.head(1))
    return pd.concat(rows, ignore_index=True) if rows else candidates.head(0)


def fig8(models: pd.DataFrame, pairs: pd.DataFrame, *, alpha: float, fig8_models: int,
         focus_controls: Sequence[str]) -> Figure:
    """Per-pair loss with and without the interaction for the model(s) of :func:`select_fig8_models`.

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv``; uses ``control``, ``padding``, ``model``, ``p_paired`` and
        ``p_unpaired``.
    fig8_models, focus_controls : int, sequence of str
        Which models to show (:func:`select_fig8_models`).
    pairs : pandas.DataFrame
        Test-pair tables holding at least those models; uses ``loss_orig``,
        ``loss_main`` and ``delta``.
    alpha : float
        Significance level.

    Returns
    -------
    matplotlib.figure.Figure
        One column per model: overlaid histograms of ``loss_orig`` and ``loss_main``
        (top), the per-pair difference Δ (bottom).
    """
    chosen = select_fig8_models(models, alpha=alpha, fig8_models=fig8_models, focus_controls=focus_controls)
    cols = max(len(chosen), 1)
    fig = Figure(figsize=(4.0 * cols, 6.0), layout="constrained")
    axes = np.asarray(fig.subplots(2, cols, squeeze=False))
    if chosen.empty:
        for ax in axes.ravel():
            _empty(ax, "no model to show")
    for k, row in enumerate(chosen.itertuples(index=False)):
        top, bottom = axes[0, k], axes[1, k]
        data = pairs[(pairs["control"] == row.control) & (pairs["padding"] == row.padding)
                     & (pairs["model"] == row.model)]
        status = (f"flagged: paired p < {alpha:g}" if getattr(row, "flagged", False)
                  else "none flagged: smallest paired p")
        top.set_title(f"{row.model}\n{CONTROL_LABEL.get(row.control, row.control)}, "
                      f"{row.padding} padding\n({status})", fontsize=8)
        if data.empty:
            _empty(top)
            _empty(bottom)
            continue
        loss_panels(top, bottom, data, float(row.p_paired), float(row.p_unpaired),
                    highlight=bool(getattr(row, "flagged", False)))
    fig.suptitle("Fig. 8  Per-pair loss with and without the interaction "
                 "(values beyond the axis are piled into the edge bins)", fontsize=9)
    return fig


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


# ----------------------------------------------------------------------------- workflow
def fig8_shown(models: pd.DataFrame, options: Mapping[str, Any]) -> pd.DataFrame:
    """The models fig8 shows (:func:`select_fig8_models` with the figure's options)."""
    return select_fig8_models(models, alpha=options["alpha"], fig8_models=options["fig8_models"],
                              focus_controls=options["focus_controls"])


def draw(name: str, *, models: str | Path | None = None, summary: str | Path | None = None,
          power: str | Path | None = None, pairs: Sequence[str | Path] = (),
          motif_file: str | Path | None = None, options: Mapping[str, Any],
          detectors: str | Path | None = None) -> Figure:
    """Read what figure ``name`` needs from the workflow's files and draw it.

    Parameters
    ----------
    name : str
        A key of :data:`lookloss.figures.FIGURES`.
    models, summary, power, detectors : path, optional
        ``models.tsv``, ``summary.tsv``, ``power.tsv`` and ``detectors.tsv``.
    pairs : sequence of path
        Test-pair Parquet files (``.../{control}/{padding}/{model}/test.parquet``); a
        figure reads only those it shows (see :class:`lookloss.figures.FigureSpec`).
    motif_file : path, optional
        MEME motif file.
    options : mapping
        At least the figure's :attr:`lookloss.figures.FigureSpec.all_options`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        spec = FIGURES[name]
    except KeyError:
        raise ValueError(f"unknown figure {name!r}; known: {list(FIGURES)}") from None
    drawing = globals()[spec.draw]
    missing = [option for option in spec.all_options if option not in options]
    if missing:
        raise ValueError(f"figure {name!r} needs the option(s) {missing}")
    files = {"models": models, "summary": summary, "power": power, "detectors": detectors, "motif_file": motif_file}
    absent = [i for i in spec.inputs if i != "pairs" and files[i] is None]
    if absent:
        raise ValueError(f"figure {name!r} needs the input(s) {absent}")
    data: dict[str, Any] = {}
    for table in ("models", "summary", "power", "detectors"):
        if table in spec.inputs:
            data[table] = pd.read_csv(files[table], sep="\t")
    if "pairs" in spec.inputs:
        where = {Path(p): parse_model_path(p) for p in pairs}
        if spec.focus:
            where = {p: w for p, w in where.items() if w.control in options["focus_controls"]}
        if spec.pairs_of is not None:
            shown = globals()[spec.pairs_of](data["models"], options)
            wanted = set(zip(shown["control"], shown["padding"], shown["model"], strict=True))
            where = {p: w for p, w in where.items() if tuple(w) in wanted}
        data["pairs"] = read_interactions(where, spec.pair_columns)
    if "motif_file" in spec.inputs:
        data["ppms"] = read_ppms(motif_file, options["motifs"], options["pseudocount"])
    return drawing(**data, **{option: options[option] for option in spec.options})


def read_ppms(motif_file: str | Path, motifs: Mapping[str, str], pseudocount: float) -> dict[str, np.ndarray]:
    """The smoothed matrices of the motifs named in ``motifs`` (role -> name), keyed by role."""
    from lookloss.motifs import read_motifs, smooth

    ppms = read_motifs(motif_file, list(motifs.values()))
    return {role: smooth(ppms[name], pseudocount) for role, name in motifs.items()}


def save_figure(fig: Figure, pdf_path: str | Path, png_path: str | Path, dpi: int = 150) -> None:
    """Write ``fig`` as PDF and PNG, each atomically (temporary file, then rename).

    Dense layers drawn rasterized (hexbins) are rendered at ``dpi`` in the PDF too.
    Metadata dates are left out so the same figure gives the same bytes.
    """
    with atomic_path(pdf_path) as tmp:
        fig.savefig(tmp, format="pdf", dpi=dpi, metadata={"CreationDate": None})
    # The layout is settled by the first save; reusing it halves the cost of the second.
    engine = fig.get_layout_engine()
    fig.set_layout_engine("none")
    try:
        with atomic_path(png_path) as tmp:
            fig.savefig(tmp, format="png", dpi=dpi, metadata={"Software": None})
    finally:
        fig.set_layout_engine(engine)

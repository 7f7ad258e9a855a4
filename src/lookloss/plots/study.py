"""The study's main figures, 3 to 8 (docs/study.md section 6, poster numbering)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from lookloss.layout import PADDINGS, start_key
from lookloss.plots.losstest import loss_panels
from lookloss.plots.style import (
    BLUE,
    CONTROL_LABEL,
    DELTA_LABEL,
    GREY,
    LOSS_UNIT,
    SCATTER_BELOW,
    _empty,
    _errorbars,
    _flag_legend,
    _grid,
    _hexbin,
    _identity_line,
    _model_colours,
    _note,
    _panel_groups,
    _panels,
    _present,
    _scatter_models,
    _sort_models,
    centre_distance,
    flagged,
    format_p,
)

# scipy is imported where it is used, never at module level (see lookloss.plots).


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


def fig8_shown(models: pd.DataFrame, options: Mapping[str, Any]) -> pd.DataFrame:
    """The models fig8 shows (:func:`select_fig8_models` with the figure's options)."""
    return select_fig8_models(models, alpha=options["alpha"], fig8_models=options["fig8_models"],
                              focus_controls=options["focus_controls"])

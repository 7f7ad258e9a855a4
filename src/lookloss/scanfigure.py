"""The scan's figure (docs/scan.md): motif pairs x spacing bins, one panel per orientation, colour by
median Δ, the cells called marked."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: Inches per cell of the heat map, and around it.
CELL, MARGIN = 0.42, 1.6


def figure(cells: pd.DataFrame, summary: dict[str, Any]) -> Any:
    """A matplotlib figure of the final rows of ``cells`` (the ``consensus`` rows with several models,
    else the model's): one panel per orientation and one of each pair pooled; each cell coloured by
    its median Δ (red: the interaction lowers the loss), grey where it has fewer than ``min_pairs``
    pairs, ``*`` where it is called ``interaction``, and ``n`` written in each tested cell."""
    from matplotlib import colors
    from matplotlib.figure import Figure

    from lookloss.scan import CONSENSUS, ORIENTATIONS, POOLED

    final = cells[cells["model"] == CONSENSUS] if (cells["model"] == CONSENSUS).any() else \
        cells[cells["model"] == cells["model"].iloc[0]]
    pairs = list(dict.fromkeys(zip(final["motif_a"], final["motif_b"], strict=True)))
    bins = [b for b in dict.fromkeys(final["spacing_bin"]) if b != POOLED]
    panels = [o for o in ORIENTATIONS if (final["orientation"] == o).any()] + [POOLED]
    tested = final[final["call"] != "too few pairs"]["median_delta"].abs()
    limit = float(tested.max()) if len(tested) and np.isfinite(tested.max()) and tested.max() > 0 else 1.0
    norm = colors.TwoSlopeNorm(vcenter=0.0, vmin=-limit, vmax=limit)
    cmap = _cmap()
    widths = [len(bins)] * (len(panels) - 1) + [1]
    fig = Figure(figsize=(CELL * sum(widths) + MARGIN * 2 + 0.4 * len(panels), CELL * len(pairs) + MARGIN + 0.6),
                 layout="constrained")
    axes = fig.subplots(1, len(panels), sharey=True, gridspec_kw={"width_ratios": widths}, squeeze=False)[0]
    index = final.set_index(["motif_a", "motif_b", "orientation", "spacing_bin"])
    image = None
    for ax, panel in zip(axes, panels, strict=True):
        ax.grid(False)  # a heatmap: no grid lines across its cells, whatever style is active
        columns = [POOLED] if panel == POOLED else bins
        values = np.full((len(pairs), len(columns)), np.nan)
        for r, (a, b) in enumerate(pairs):
            for c, column in enumerate(columns):
                key = (a, b, panel, column)
                if key not in index.index:
                    ax.text(c, r, "–", ha="center", va="center", fontsize=7, color="0.6")  # no such cell (A with A)
                    continue
                row = index.loc[key]
                if row["call"] == "too few pairs":
                    ax.add_patch(_box(c, r, "0.88"))
                    continue
                values[r, c] = row["median_delta"]
                mark = "*" if row["call"] == "interaction" else ""
                ax.text(c, r, f"{mark}\n{int(row['n'])}" if len(pairs) <= 30 else mark, ha="center", va="center",
                        fontsize=6 if not mark else 7, fontweight="bold" if mark else "normal")
        image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, norm=norm, aspect="equal")
        ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
        ax.set_title(_title(panel), fontsize=8)
        ax.set_xlim(-0.5, len(columns) - 0.5)
        ax.set_ylim(len(pairs) - 0.5, -0.5)
    axes[0].set_yticks(range(len(pairs)), [f"{a} · {b}" for a, b in pairs], fontsize=7)
    axes[0].set_ylabel("motif pair (A · B)")
    fig.supxlabel("spacing, centre to centre (bases)", fontsize=8)
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="median Δ = loss_main − loss_orig")
    model = "consensus of the models" if (cells["model"] == CONSENSUS).any() else str(final["model"].iloc[0])
    fig.suptitle(f"lookloss scan ({model}): * q < {summary.get('alpha', 0.05):g} (Benjamini-Hochberg), n pairs "
                 f"per cell; grey: fewer than {summary.get('min_pairs')} pairs", fontsize=8)
    return fig


def _title(panel: str) -> str:
    """A panel's title: the orientation and what it means."""
    words = {"A>B>": "tandem, B downstream", "B>A>": "tandem, B upstream", "A><B": "convergent",
             "<BA>": "divergent", "all": "pooled"}
    return f"{panel}\n{words[panel]}" if panel != "all" else "pair pooled"


def _cmap() -> Any:
    """Blue (the interaction raises the loss) through white to red (it lowers the loss)."""
    from matplotlib import colormaps

    return colormaps["RdBu_r"].with_extremes(bad="white")


def _box(x: float, y: float, colour: str) -> Any:
    """A filled cell at column ``x``, row ``y``."""
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, facecolor=colour, edgecolor="white", linewidth=0.5)

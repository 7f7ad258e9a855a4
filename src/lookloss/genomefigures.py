"""The genome-scale run's figure: the fraction of models each detector flags, per truth and architecture."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from lookloss.detectors import DETECTORS  # noqa: E402

#: Every detector of the figure (:data:`lookloss.detectors.DETECTORS`, in its order).
SHOWN = list(DETECTORS)

#: Panels: (truth, subset, title).
PANELS = (("additive", "all", "additive truth (true I = 0)"), ("super", "all", "super-additive truth"),
          ("spacing", "inside", "spacing truth, pairs in its window"),
          ("spacing", "outside", "spacing truth, pairs outside it (true I = 0)"))


def flagged_figure(flagged: pd.DataFrame) -> plt.Figure:
    """One panel per truth (and the spacing truth's two subsets): for each test and detector, the
    fraction of each architecture's models it flags, with Wilson 95% intervals (GIA and DFIM
    score a model as a whole: they have no bar for a subset of its pairs)."""
    sns.set_theme(style="whitegrid", context="paper")
    archs = sorted(a for a in flagged["arch"].unique() if a != "all")
    palette = dict(zip(archs, sns.color_palette("colorblind", len(archs)), strict=True))
    fig, axes = plt.subplots(1, len(PANELS), figsize=(3.2 * len(PANELS), 3.2), sharey=True)
    width = 0.8 / max(len(archs), 1)
    for ax, (truth, subset, title) in zip(axes, PANELS, strict=True):
        part = flagged[(flagged["truth"] == truth) & (flagged["subset"] == subset)]
        for j, arch in enumerate(archs):
            row = part[part["arch"] == arch]
            if row.empty:
                continue
            row = row.iloc[0]
            x = [i + (j - (len(archs) - 1) / 2) * width for i in range(len(SHOWN))]
            share = [row[f"n_{t}"] / row[f"of_{t}"] if row[f"of_{t}"] else float("nan") for t in SHOWN]
            low = [s - row[f"low_{t}"] for s, t in zip(share, SHOWN, strict=True)]
            high = [row[f"high_{t}"] - s for s, t in zip(share, SHOWN, strict=True)]
            ax.bar(x, share, width=width, color=palette[arch], label=f"{arch} (n = {int(row['n_models'])})")
            ax.errorbar(x, share, yerr=[low, high], fmt="none", ecolor="0.2", capsize=2, lw=0.8)
        ax.set_xticks(range(len(SHOWN)), SHOWN, rotation=30, ha="right")
        ax.set_title(title, fontsize=9)
        ax.set_ylim(0, 1.05)
    axes[0].set_ylabel("fraction of models flagged")
    axes[0].legend(title="architecture", fontsize=7, title_fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig

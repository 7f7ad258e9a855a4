"""Tables of the genome-scale run (docs/genome.md): how well each model learned the simulation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

#: Columns of the fit table, after the model's identity.
FIT_COLUMNS = ("count_pearson", "count_spearman", "count_mse", "profile_pearson", "profile_jsd", "epochs",
               "best_epoch", "count_loss_weight", "train_seconds")


def fit_table(metrics: Sequence[str | Path]) -> pd.DataFrame:
    """One row per model (``metrics.json`` files): truth, architecture, seed and its held-out fit."""
    rows = []
    for path in metrics:
        record = json.loads(Path(path).read_text())
        rows.append({"truth": record["truth"], "arch": record["arch"], "seed": record["seed"],
                     **{k: record.get(k) for k in FIT_COLUMNS}})
    return pd.DataFrame(rows).sort_values(["truth", "arch", "seed"]).reset_index(drop=True)

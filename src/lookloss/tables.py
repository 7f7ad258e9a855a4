"""Per-model and per-study tables of the interaction analysis (docs/study.md sections 4-5)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from lookloss import stats

TESTS = {"paired": "p_paired", "unpaired": "p_unpaired", "magnitude": "p_magnitude",
         "randpos": "p_randpos"}


def model_row(sets: Mapping[str, pd.DataFrame], metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Every per-model statistic of ``models.tsv`` from the model's interaction tables.

    Parameters
    ----------
    sets : mapping
        Interaction tables (:func:`lookloss.interactions.interaction_table`) keyed by
        pair set: ``test``, ``train``, ``shuffled`` and ``randpos``.
    metrics : mapping
        The model's training metrics (``best_epoch``, ``epochs_run``, ``test_mse``).

    Returns
    -------
    dict
        Training metrics, interaction magnitudes, loss improvements, the four test
        p-values and the correlations of the interaction with the main effects.
    """
    test, train = sets["test"], sets["train"]
    shuffled, randpos = sets["shuffled"], sets["randpos"]
    abs_i = test["interaction"].abs()
    main = test["m_g"] + test["m_t"]
    main_error = (test["true_m_g"] + test["true_m_t"]) - main
    return {
        "best_epoch": metrics["best_epoch"],
        "epochs_run": metrics["epochs_run"],
        "test_mse": metrics["test_mse"],
        "n_pairs_test": len(test),
        "mean_abs_I": abs_i.mean(),
        "sem_abs_I": stats.sem(abs_i),
        "mean_I": test["interaction"].mean(),
        "mean_abs_I_shuffled": shuffled["interaction"].abs().mean(),
        "sem_abs_I_shuffled": stats.sem(shuffled["interaction"].abs()),
        "p_magnitude": stats.magnitude(abs_i, shuffled["interaction"].abs()),
        "mean_delta": test["delta"].mean(),
        "median_delta": test["delta"].median(),
        "sem_delta": stats.sem(test["delta"]),
        "p_paired": stats.paired(test["delta"]),
        "p_unpaired": stats.unpaired(test["loss_main"], test["loss_orig"]),
        "p_randpos": stats.random_positions(test["delta"], randpos["delta"]),
        "mean_delta_randpos": randpos["delta"].mean(),
        "median_delta_randpos": randpos["delta"].median(),
        "mean_abs_I_randpos": randpos["interaction"].abs().mean(),
        "median_delta_train": train["delta"].median(),
        "p_paired_train": stats.paired(train["delta"]),
        "r_I_main": stats.pearson(test["interaction"], main),
        "r_I_main_error": stats.pearson(test["interaction"], main_error),
    }


def summary_table(models: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Per control and padding: models significant by each test, and Spearman ρ.

    Spearman ρ (and its two-sided p) is between ``mean_abs_I`` and ``test_mse``
    across the models of the group (docs/study.md section 5, poster Fig. 5).
    """
    rows = []
    for (control, padding), group in models.groupby(["control", "padding"], sort=True):
        row: dict[str, Any] = {"control": control, "padding": padding, "n_models": len(group)}
        for name, column in TESTS.items():
            row[f"n_sig_{name}"] = int((group[column] < alpha).sum())
        row["n_sig_paired_train"] = int((group["p_paired_train"] < alpha).sum())
        row["spearman_rho"], row["spearman_p"] = stats.spearman(group["mean_abs_I"], group["test_mse"])
        row["median_test_mse"] = group["test_mse"].median()
        row["median_mean_abs_I"] = group["mean_abs_I"].median()
        rows.append(row)
    return pd.DataFrame(rows)


def consistency_table(models: pd.DataFrame, alpha: float, consistency_fraction: float) -> pd.DataFrame:
    """The study's call per control and padding, from consistency across architectures.

    Rule: an architecture *supports* an interaction when more than ``consistency_fraction``
    of its models (all L1 weights and seeds) have a significant paired loss test on
    held-out pairs. The call is ``interaction`` when every architecture supports it,
    ``no interaction`` when none does, and ``inconsistent`` otherwise (an
    inconsistent result is not accepted as an interaction).
    """
    rows = []
    for (control, padding, arch), group in models.groupby(["control", "padding", "arch"], sort=True):
        n_sig = int((group["p_paired"] < alpha).sum())
        rows.append({"control": control, "padding": padding, "arch": arch,
                     "n_models": len(group), "n_sig_paired": n_sig,
                     "frac_sig_paired": n_sig / len(group),
                     "supports": n_sig / len(group) > consistency_fraction})
    table = pd.DataFrame(rows)
    if table.empty:
        return table.assign(call=pd.Series(dtype=str))
    support = table.groupby(["control", "padding"])["supports"]
    calls = np.select([support.transform("all"), ~support.transform("any")],
                      ["interaction", "no interaction"], "inconsistent")
    return table.assign(call=calls)


def power_table(models: pd.DataFrame, truth: pd.DataFrame, alpha: float,
                controls: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """How often each test flags the models of each control and padding, with the truth's strength.

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv``.
    truth : pandas.DataFrame
        Per ``control`` and ``padding``: ``true_mean_I`` and ``true_mean_joint``, the
        mean true interaction and joint effect over the test pairs.
    alpha : float
        Significance level.
    controls : mapping
        The ``simulation.controls`` config section (``scale`` and ``exponent`` of each).

    Returns
    -------
    pandas.DataFrame
        Per control, padding and test (:data:`TESTS`): ``n_models``, ``n_significant``,
        ``fraction`` with its Wilson 95% interval (``ci_low``, ``ci_high``), the
        control's ``scale`` and ``exponent``, ``true_mean_I`` and ``true_relative_I``
        (the mean true interaction over the mean true joint effect).
    """
    rows = []
    for (control, padding), group in models.groupby(["control", "padding"], sort=True):
        known = truth[(truth["control"] == control) & (truth["padding"] == padding)]
        mean_i = float(known["true_mean_I"].iloc[0]) if len(known) else float("nan")
        joint = float(known["true_mean_joint"].iloc[0]) if len(known) else float("nan")
        for test, column in TESTS.items():
            k, n = int((group[column] < alpha).sum()), len(group)
            low, high = stats.wilson(k, n)
            rows.append({"control": control, "padding": padding, "test": test, "n_models": n, "n_significant": k,
                         "fraction": k / n, "ci_low": low, "ci_high": high,
                         "scale": controls[control]["scale"], "exponent": controls[control]["exponent"],
                         "true_mean_I": mean_i, "true_relative_I": mean_i / joint if joint else float("nan")})
    return pd.DataFrame(rows)

"""Per-model and per-study tables of the interaction analysis (docs/study.md sections 4-5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lookloss import stats
from lookloss.detectors import DETECTORS, STUDY_TESTS, Detector


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
        for test in STUDY_TESTS:
            row[f"n_sig_{test.column.removeprefix('p_')}"] = int((group[test.column] < alpha).sum())
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


def flagged_table(models: pd.DataFrame, alpha: float, detectors: Sequence[Detector] | None = None,
                  by: Sequence[str] = ("control", "padding")) -> pd.DataFrame:
    """Per group of ``models`` and detector: models flagged, their fraction and its Wilson 95% interval.

    Parameters
    ----------
    models : pandas.DataFrame
        One row per model with each detector's p-value column (:attr:`Detector.column`).
    alpha : float
        Significance level: a model is flagged when its p-value is below it.
    detectors : sequence of Detector, optional
        The detectors counted (default: every one of :data:`lookloss.detectors.DETECTORS`).
    by : sequence of str
        The columns that make a group.

    Returns
    -------
    pandas.DataFrame
        The ``by`` columns, ``detector`` (its name), ``n_models`` (those with a p-value
        for it: a model it did not run on is left out), ``n_flagged``, ``fraction``,
        ``ci_low``, ``ci_high``; groups sorted, detectors in registry order.
    """
    rows = []
    for key, group in models.groupby(list(by), sort=True):
        for detector in DETECTORS.values() if detectors is None else detectors:
            tested = pd.to_numeric(group[detector.column], errors="coerce").dropna()
            k, n = int((tested < alpha).sum()), len(tested)
            low, high = stats.wilson(k, n)
            rows.append({**dict(zip(by, key, strict=True)), "detector": detector.name, "n_models": n,
                         "n_flagged": k, "fraction": k / n if n else float("nan"), "ci_low": low, "ci_high": high})
    return pd.DataFrame(rows, columns=[*by, "detector", "n_models", "n_flagged", "fraction", "ci_low", "ci_high"])


def power_table(models: pd.DataFrame, truth: pd.DataFrame, alpha: float,
                controls: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """How often each of the study's tests flags the models of each control and padding, with the
    truth's strength.

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
        :func:`flagged_table` of the study's four tests, with the control's ``scale`` and
        ``exponent``, ``true_mean_I`` and ``true_relative_I`` (the mean true interaction
        over the mean true joint effect).
    """
    table = flagged_table(models, alpha, STUDY_TESTS)
    known = truth.set_index(["control", "padding"])
    strength = [known.loc[key] if key in known.index else None for key in zip(table["control"], table["padding"],
                                                                             strict=True)]
    mean_i = np.array([float(k["true_mean_I"]) if k is not None else np.nan for k in strength])
    joint = np.array([float(k["true_mean_joint"]) if k is not None else np.nan for k in strength])
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(joint != 0, mean_i / joint, np.nan)
    return table.assign(scale=[controls[c]["scale"] for c in table["control"]],
                        exponent=[controls[c]["exponent"] for c in table["control"]],
                        true_mean_I=mean_i, true_relative_I=relative)


def detector_table(models: pd.DataFrame, found: pd.DataFrame, alpha: float,
                   controls: Mapping[str, Mapping[str, float]]) -> pd.DataFrame:
    """Per control and padding, every detector (:data:`lookloss.detectors.DETECTORS`):
    :func:`flagged_table` with the control's ``exponent`` (1: additive, so every model
    flagged is a false positive).

    Parameters
    ----------
    models : pandas.DataFrame
        ``models.tsv`` (the study's tests' p-values).
    found : pandas.DataFrame
        The model detectors' per-model statistics (their p-value columns), keyed like ``models``.
    """
    keys = ["control", "padding", "arch", "l1", "seed"]
    columns = [d.column for d in DETECTORS.values() if d.runs_on_models]
    both = models.merge(found[[*keys, *columns]], on=keys, how="left", validate="one_to_one")
    table = flagged_table(both, alpha)
    return table.assign(exponent=[controls[c]["exponent"] for c in table["control"]])

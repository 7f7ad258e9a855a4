"""The one-sided tests point the way docs/study.md says and equal scipy's p-values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from lookloss import stats, tables

rng = np.random.default_rng(7)
UP = rng.normal(0.5, 1.0, 200)
DOWN = rng.normal(-0.5, 1.0, 200)
BASE = rng.normal(0.0, 1.0, 200)


def test_paired_is_small_when_the_interaction_helps():
    assert stats.paired(UP) < 1e-3  # delta > 0: removing I makes the loss worse
    assert stats.paired(DOWN) > 0.99
    assert stats.paired(UP) == sps.wilcoxon(UP, alternative="greater").pvalue


def test_paired_with_no_difference_is_not_significant():
    assert stats.paired(np.zeros(10)) == 1.0


def test_unpaired_tests_loss_main_greater_than_loss_orig():
    main, orig = BASE**2 + 1.0, BASE[::-1] ** 2
    assert stats.unpaired(main, orig) < 1e-3
    assert stats.unpaired(orig, main) > 0.99
    assert stats.unpaired(main, orig) == sps.mannwhitneyu(main, orig, alternative="greater").pvalue


def test_magnitude_and_random_position_tests_point_up():
    assert stats.magnitude(np.abs(UP) + 1, np.abs(BASE)) < 1e-3
    assert stats.magnitude(np.abs(BASE), np.abs(UP) + 1) > 0.99
    assert stats.random_positions(UP, BASE) == sps.mannwhitneyu(UP, BASE, alternative="greater").pvalue
    assert stats.random_positions(UP, BASE) < 1e-3


def test_correlations_equal_scipy():
    assert stats.pearson(UP, UP * 2 + BASE) == pytest.approx(sps.pearsonr(UP, UP * 2 + BASE)[0])
    rho, p = stats.spearman(UP, BASE)
    assert (rho, p) == pytest.approx(tuple(sps.spearmanr(UP, BASE)))
    assert np.isnan(stats.pearson(np.ones(5), UP[:5]))


def models_table(p_paired: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    rows = []
    for (control, arch), ps in p_paired.items():
        for i, p in enumerate(ps):
            rows.append({"control": control, "padding": "valid", "arch": arch, "seed": i,
                         "p_paired": p, "p_unpaired": 0.5, "p_magnitude": 0.01, "p_randpos": 0.2,
                         "p_paired_train": 0.01, "mean_abs_I": i + 1.0, "test_mse": 2.0 * i})
    return pd.DataFrame(rows)


def test_summary_counts_significant_models_and_spearman():
    models = models_table({("neg", "arch1"): [0.01, 0.5, 0.9], ("neg", "arch2"): [0.04, 0.06, 0.2]})
    row = tables.summary_table(models, alpha=0.05).iloc[0]
    assert row["n_models"] == 6 and row["n_sig_paired"] == 2 and row["n_sig_magnitude"] == 6
    assert row["n_sig_unpaired"] == 0


def test_consistency_needs_every_architecture():
    models = models_table({
        ("pos", "arch1"): [0.001] * 3, ("pos", "arch2"): [0.001, 0.01, 0.2],
        ("neg", "arch1"): [0.001, 0.001, 0.3], ("neg", "arch2"): [0.3, 0.4, 0.01],
    })
    table = tables.consistency_table(models, alpha=0.05, consistency_fraction=0.5)
    calls = table.groupby("control")["call"].first()
    assert calls["pos"] == "interaction"
    assert calls["neg"] == "inconsistent"
    none = tables.consistency_table(models.assign(p_paired=0.9), alpha=0.05, consistency_fraction=0.5)
    assert set(none["call"]) == {"no interaction"}


def test_wilson_intervals_of_known_proportions():
    assert stats.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert stats.wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert stats.wilson(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    assert all(np.isnan(stats.wilson(0, 0)))
    for n in range(1, 40):  # the interval holds the share, exactly at the ends
        for k in range(n + 1):
            low, high = stats.wilson(k, n)
            assert low <= k / n <= high
        assert stats.wilson(0, n)[0] == 0.0 and stats.wilson(n, n)[1] == 1.0


def test_the_power_table_counts_significant_models_per_control_padding_and_test():
    models = pd.DataFrame({"control": ["a"] * 4 + ["b"] * 4, "padding": ["valid"] * 8,
                           "p_paired": [0.01, 0.2, 0.03, 0.5, 0.001, 0.002, 0.003, 0.9],
                           "p_unpaired": [0.5] * 8, "p_magnitude": [0.0] * 8, "p_randpos": [np.nan] * 8})
    truth = pd.DataFrame({"control": ["a", "b"], "padding": ["valid"] * 2, "true_mean_I": [0.0, 5.0],
                          "true_mean_joint": [50.0, 100.0]})
    controls = {"a": {"scale": 100, "exponent": 1.0}, "b": {"scale": 60, "exponent": 1.5}}
    table = tables.power_table(models, truth, 0.05, controls).set_index(["control", "test"])
    assert table.loc[("a", "paired"), "n_significant"] == 2 and table.loc[("b", "paired"), "fraction"] == 0.75
    assert table.loc[("a", "magnitude"), "fraction"] == 1.0 and table.loc[("a", "randpos"), "n_significant"] == 0
    assert (table.loc[("b", "paired"), "ci_low"], table.loc[("b", "paired"), "ci_high"]) == stats.wilson(3, 4)
    assert table.loc[("b", "paired"), "true_relative_I"] == 0.05 and table.loc[("a", "paired"), "exponent"] == 1.0

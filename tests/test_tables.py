"""Tests of lookloss.tables: the study's summary, consistency and power tables."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lookloss import detectors, stats, tables


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


def test_the_power_table_counts_significant_models_per_control_padding_and_test():
    models = pd.DataFrame({"control": ["a"] * 4 + ["b"] * 4, "padding": ["valid"] * 8,
                           "p_paired": [0.01, 0.2, 0.03, 0.5, 0.001, 0.002, 0.003, 0.9],
                           "p_unpaired": [0.5] * 8, "p_magnitude": [0.0] * 8, "p_randpos": [np.nan] * 8})
    truth = pd.DataFrame({"control": ["a", "b"], "padding": ["valid"] * 2, "true_mean_I": [0.0, 5.0],
                          "true_mean_joint": [50.0, 100.0]})
    controls = {"a": {"scale": 100, "exponent": 1.0}, "b": {"scale": 60, "exponent": 1.5}}
    table = tables.power_table(models, truth, 0.05, controls).set_index(["control", "detector"])
    assert table.loc[("a", "paired"), "n_flagged"] == 2 and table.loc[("b", "paired"), "fraction"] == 0.75
    assert table.loc[("a", "magnitude"), "fraction"] == 1.0
    # a test with no p-value (it did not run) counts no model, rather than models not flagged
    assert table.loc[("a", "random-position"), ["n_models", "n_flagged"]].tolist() == [0, 0]
    assert list(table.index.get_level_values("detector").unique()) == [d.name for d in detectors.STUDY_TESTS]
    assert (table.loc[("b", "paired"), "ci_low"], table.loc[("b", "paired"), "ci_high"]) == stats.wilson(3, 4)
    assert table.loc[("b", "paired"), "true_relative_I"] == 0.05 and table.loc[("a", "paired"), "exponent"] == 1.0

"""Tests of lookloss.genometables: the genome-scale run's tables, on model tables made by hand."""

from __future__ import annotations

import pandas as pd
import pytest

from lookloss import genometables


def models(truth: str, p_paired: list[float], p_unpaired: list[float],
           p_recalibrated: list[float] | None = None) -> pd.DataFrame:
    """Three seeds of bpnet and two of additive (seed 3 has no additive model yet), in that order."""
    keys = [("bpnet", 1), ("bpnet", 2), ("bpnet", 3), ("additive", 1), ("additive", 2)]
    return pd.DataFrame({"truth": truth, "subset": "all", "arch": [a for a, _ in keys], "seed": [s for _, s in keys],
                         "p_paired": p_paired, "p_unpaired": p_unpaired,
                         "p_paired_recalibrated": p_recalibrated or p_paired})


def test_each_call_rule_counts_what_it_says():
    table = pd.concat([models("additive", [0.01, 0.2, 0.03, 0.5, 0.01], [0.2, 0.01, 0.04, 0.3, 0.3],
                              [0.3, 0.2, 0.6, 0.04, 0.5]),
                       models("super", [0.001] * 5, [0.001] * 5)])
    rules = genometables.rule_calls(table, alpha=0.05).set_index(["truth", "rule"])
    additive = rules.loc["additive"]
    assert additive.loc["paired", ["n_called", "n", "unit"]].tolist() == [3, 5, "models"]
    assert additive.loc["unpaired", ["n_called", "n"]].tolist() == [2, 5]
    assert additive.loc["paired and unpaired", ["n_called", "n"]].tolist() == [1, 5]  # bpnet seed 3 only
    assert additive.loc["recalibrated paired", ["n_called", "n"]].tolist() == [1, 5]  # additive seed 1 only
    unfitted = table.assign(p_paired_recalibrated=[None, 0.01, 0.2, 0.03, 0.5] * 2)  # bpnet seed 1: not recalibrated
    again = genometables.rule_calls(unfitted, alpha=0.05).set_index(["truth", "rule"])
    assert again.loc[("additive", "recalibrated paired"), ["n_called", "n"]].tolist() == [2, 4]
    # seeds 1 and 2 have both architectures; neither has both paired tests significant
    assert additive.loc["both architectures", ["n_called", "n", "unit"]].tolist() == [0, 2, "seeds"]
    assert rules.loc[("super", "both architectures"), ["n_called", "n"]].tolist() == [2, 2]
    assert rules.loc[("super", "paired"), "ci_low"] == pytest.approx(0.566, abs=1e-3)  # Wilson, 5 of 5
    text = genometables.rules_markdown(genometables.rule_calls(table, alpha=0.05))
    assert "| additive | all | 3/5 [" in text and "0/2 [0.00," in text


def test_one_architecture_gives_the_two_architecture_rule_nothing_to_count():
    one = models("additive", [0.01] * 5, [0.01] * 5).assign(arch="bpnet", seed=[1, 2, 3, 4, 5])
    rules = genometables.rule_calls(one, alpha=0.05).set_index("rule")
    assert rules.loc["both architectures", ["n_called", "n"]].tolist() == [0, 0]
    assert "–" in genometables.rules_markdown(genometables.rule_calls(one, alpha=0.05))


def test_the_scan_table_counts_the_planted_pair_and_the_pairs_that_interact_in_no_truth():
    def summary(truth, seed, planted, other):
        return {"truth": truth, "arch": "bpnet", "seed": seed,
                "scan": {"n_tested": 33, "n_called": len(planted) + len(other), "passes": 100,
                         "planted_pooled": "GATA·TAL1 all all" in planted, "planted_cells": planted,
                         "other_cells": other}}

    summaries = [summary("spacing", 1, ["GATA·TAL1 B>A> [20,50)", "GATA·TAL1 all all"], []),
                 summary("spacing", 2, ["GATA·TAL1 B>A> [20,50)"], ["GATA·AP1 all all"]),
                 summary("additive", 1, [], [])]
    scans = genometables.scan_table(summaries)
    assert scans["n_other_cells"].tolist() == [0, 0, 1]  # sorted by truth: additive first
    text = genometables.scan_markdown(scans)
    assert "| spacing | bpnet | 2 | 1/2 | 1/2 | B>A> [20,50) (2) |" in text
    assert "| additive | bpnet | 1 | 0/1 | 0/1 | none |" in text

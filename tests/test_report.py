"""The readings' text (lookloss.report): the tables condensed per group, rendered, and the pages' blocks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from lookloss import report, stats

ROOT = Path(__file__).resolve().parents[1]


def models_table(**columns) -> pd.DataFrame:
    rows = []
    for k, (control, padding) in enumerate([("neg", "valid")] * 3 + [("pos", "same")] * 2):
        rows.append({"control": control, "padding": padding, "test_mse": 1.0 + k, "mean_abs_I": 3.0 - k,
                     "epochs_run": 100 + 10 * k, "p_paired": 0.01 if k in (0, 3, 4) else 0.5,
                     "p_unpaired": 0.5, "p_magnitude": 0.001, "p_randpos": 0.2 if k else 0.04})
    return pd.DataFrame(rows).assign(**columns)


def test_the_reading_table_counts_each_test_per_group_beside_the_paper():
    table = report.reading_table(models_table(), alpha=0.05, n_grid=45).set_index(["control", "padding"])
    neg, pos = table.loc[("neg", "valid")], table.loc[("pos", "same")]
    assert (neg["models"], neg["paired"], neg["unpaired"], neg["magnitude"], neg["random-position"]) == (
        3, "1/3", "0/3", "3/3", "1/3")
    assert neg["spearman_rho"] == "-1.00"  # MSE rises as |I| falls
    assert neg["median_test_mse"] == "2.0000" and neg["median_epochs"] == "110"
    assert (neg["paper_paired"], neg["paper_rho"]) == ("1/45", "0.78")
    assert (pos["paired"], pos["spearman_rho"], pos["paper_magnitude"]) == ("2/2", "n/a", "n/r")
    text = report.markdown(table.reset_index())
    assert text.splitlines()[0].startswith("| control | padding | models | paired |")
    assert len(text.splitlines()) == 2 + 2
    every = report.reading_table(models_table(), 0.05, 45, [("neg", "valid"), ("neg", "same"), ("pos", "same")])
    assert list(every["padding"]) == ["valid", "same", "same"] and list(every["models"]) == [3, 0, 2]
    assert every.iloc[1]["paired"] == "–" and every.iloc[1]["paper_paired"] == "19/45"
    # each difference from the paper, as a two-sided p-value; "–" where a side has no number
    differences = report.paper_differences(every).set_index(["control", "padding"])
    assert list(differences.columns) == ["p: paired", "p: unpaired", "p: magnitude", "p: ρ"]
    assert differences.loc[("neg", "valid"), "p: paired"] == f"{stats.two_proportions(1, 3, 1, 45):.2g}"
    assert differences.loc[("neg", "valid"), "p: ρ"] == "–"  # ρ = -1: Fisher's z is infinite
    assert differences.loc[("pos", "same"), "p: magnitude"] == "–"  # the paper gives none
    assert set(differences.loc[("neg", "same")]) == {"–"}  # no model yet
    # with the analysis's summary table, ρ is its full-precision value
    summary = pd.DataFrame({"control": ["neg"], "padding": ["valid"], "spearman_rho": [-0.335]})
    assert report.reading_table(models_table(), 0.05, 45, summary=summary).iloc[0]["spearman_rho"] == "-0.34"


def test_the_difference_in_rho_is_tested_with_this_groups_size_against_the_papers_45():
    group = pd.DataFrame({"control": "neg", "padding": "same", "test_mse": [1.0, 3.0, 2.0, 5.0, 4.0, 6.0],
                          "mean_abs_I": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], "epochs_run": 100, "p_paired": 0.5,
                          "p_unpaired": 0.5, "p_magnitude": 0.001, "p_randpos": 0.5})
    table = report.reading_table(group, 0.05, 45)
    assert table.iloc[0]["spearman_rho"] == "0.89"  # 1 - 6 * 4 / (6 * 35)
    rounded = report.paper_differences(table).iloc[0]["p: ρ"]
    assert rounded == f"{stats.two_spearmans(0.89, 6, 0.40, 45):.2g}" != f"{stats.two_spearmans(0.40, 6, 0.89, 45):.2g}"
    summary = pd.DataFrame({"control": ["neg"], "padding": ["same"], "spearman_rho": [0.2]})
    assert report.paper_differences(table, summary=summary).iloc[0]["p: ρ"] == (
        f"{stats.two_spearmans(0.2, 6, 0.40, 45):.2g}")


def test_the_detector_reading_counts_each_detectors_flags_per_group():
    table = pd.DataFrame([{"detector": d, "control": c, "padding": "valid", "n_flagged": k, "n_models": 3}
                          for c in ("neg", "pos") for d, k in (("magnitude", 3 if c == "neg" else 2), ("gia", 1))])
    got = report.detector_reading(table)
    assert list(got.columns) == ["detector", "neg valid", "pos valid"]
    assert got.values.tolist() == [["magnitude", "3/3", "2/3"], ["gia", "1/3", "1/3"]]
    ordered = report.detector_reading(table, [("pos", "valid"), ("neg", "same"), ("neg", "valid")])
    assert list(ordered.columns) == ["detector", "pos valid", "neg same", "neg valid"]
    assert ordered.values.tolist()[0] == ["magnitude", "2/3", "–", "3/3"]


def test_the_power_crossing_interpolates_between_the_bracketing_controls():
    assert report.crossing([0.0, 0.1, 0.2, 0.3], [0.05, 0.5, 0.9, 1.0]) == "0.175 (interpolated between 0.100 and 0.200)"
    assert report.crossing([0.0, 0.1, 0.2], [0.0, 0.8, 0.9]) == "0.100 (interpolated between 0.000 and 0.100)"  # reached exactly
    assert report.crossing([0.0, 0.1, 0.2], [0.0, 0.3, 0.6]) == "not reached (at most 60%)"
    assert report.crossing([-1e-18, 0.05], [0.0, 1.0]) == "0.040 (interpolated between 0.000 and 0.050)"  # no -0
    assert report.crossing([0.0, 0.1], [0.5, 0.3]) == "not reached (at most 30%)"  # power, not the FPR
    assert report.crossing([0.0], [0.4]) == "n/a (no control above the additive one)"  # a partial sweep
    assert report.crossing([0.0, 0.1], [0.9, 1.0]) == "n/a (flags 90% of the additive models)"  # no power
    assert report.crossing([0.05, 0.1], [0.9, 1.0], additive_first=False) == "≤ 0.050 (already at the weakest)"
    assert report.crossing([0.0, float("nan")], [0.1, 1.0]) == "n/a (a control's strength is unknown)"
    first = f"{0.1 + 0.3 * 0.1 / 0.8:.3f} (interpolated between 0.100 and 0.200)"  # the first crossing, not a later one
    assert report.crossing([0.0, 0.1, 0.2], [0.4, 0.2, 1.0], target=0.5) == first


def power_rows(test: str, flagged: list[int], n: int = 10) -> list[dict]:
    exponents, strengths = [1.0, 1.1, 1.3], [0.0, 0.05, 0.2]
    rows = []
    for exponent, strength, k in zip(exponents, strengths, flagged):
        low, high = report.stats.wilson(k, n)
        rows.append({"control": f"e{exponent:g}", "padding": "valid", "detector": test, "n_models": n,
                     "n_flagged": k, "fraction": k / n, "ci_low": low, "ci_high": high, "scale": 1.0,
                     "exponent": exponent, "true_mean_I": strength, "true_relative_I": strength})
    return rows


def test_the_power_reading_gives_the_false_positive_rate_the_power_and_the_crossing():
    power = pd.DataFrame(power_rows("paired", [1, 6, 10]) + power_rows("magnitude", [10, 10, 10]))
    table = report.power_reading(power).set_index("test")
    low, high = report.stats.wilson(1, 10)
    assert table.loc["paired", "fpr"] == f"1/10 = 0.10 [{low:.2f}, {high:.2f}]"
    low6, high6 = report.stats.wilson(6, 10)
    assert table.loc["paired", "power 1.1"] == f"6/10 = 0.60 [{low6:.2f}, {high6:.2f}]"
    assert table.loc["paired", "power 1.3"] == "10/10 = 1.00 [0.72, 1.00]"
    assert table.loc["paired", "crossing"] == f"{0.05 + 0.2 / 0.4 * 0.15:.3f} (interpolated between 0.050 and 0.200)"
    assert table.loc["magnitude", "fpr"].startswith("10/10 = 1.00 [0.72, 1.00]")
    assert table.loc["magnitude", "crossing"] == "n/a (flags 100% of the additive models)"
    assert list(report.strengths(power).columns) == ["padding", "exponent 1", "exponent 1.1", "exponent 1.3"]
    assert report.strengths(power).iloc[0, 1:].tolist() == ["0.0", "0.05", "0.2"]
    partial = pd.DataFrame(power_rows("paired", [1, 6, 10]))  # a sweep whose same padding lacks exponent 1.3
    partial = pd.concat([partial, partial[partial["exponent"] < 1.3].assign(padding="same", true_relative_I=[-1e-5, 0.04])])
    rows = report.strengths(partial).set_index("padding")
    assert rows.loc["same"].tolist() == ["0.0", "0.04", "–"] and rows.loc["valid", "exponent 1.3"] == "0.2"
    assert report.markdown(table.reset_index()).startswith("| test | padding | fpr | power 1.1 | power 1.3 |")
    without_additive = report.power_reading(power[power["exponent"] > 1]).set_index("test")
    assert without_additive.loc["paired", "fpr"] == "–"
    assert without_additive.loc["paired", "crossing"] == f"{0.05 + 0.2 / 0.4 * 0.15:.3f} (interpolated between 0.050 and 0.200)"
    twin = power.assign(control=power["control"].where(power["exponent"] != 1.1, "e1.1b"))
    with pytest.raises(ValueError, match="controls share an exponent"):
        report.power_reading(pd.concat([power, twin[twin["exponent"] == 1.1]]))


def test_the_training_cost_sums_each_cpu_and_leaves_reused_models_to_their_run():
    cpu = {"device": "cpu", "threads": 1}
    manifest = {"models": {
        "a": {**cpu, "cpu": "X", "train_seconds": 3600.0, "cpu_seconds": 1800.0},
        "b": {**cpu, "cpu": "X", "train_seconds": 1800.0, "cpu_seconds": None},
        "c": {**cpu, "cpu": "Y", "train_seconds": 7200.0, "cpu_seconds": 7000.0},
        "d": {**cpu, "cpu": "Y", "train_seconds": 9e9, "cpu_seconds": 9e9, "reused_from": "paper:neg/valid/m"},
    }}
    assert report.training_cost(manifest).splitlines() == [
        "- cpu (X, 1 thread per model): 2 models, 1.5 h of training wall time, 45 min per model; CPU time 0.5 h "
        "over the 1 that record it",
        "- cpu (Y, 1 thread per model): 1 models, 2.0 h of training wall time, 120 min per model; CPU time 1.9 h "
        "over the 1 that record it",
        "- reused from paper: 1 models, trained there (their cost is that run's)",
    ]


def test_fused_models_get_a_line_per_gpu_that_says_their_times_overlap():
    fused = {"device": "cuda", "threads": 1, "fused": True, "cpu": "H", "cpu_seconds": None}
    manifest = {"models": {
        "a": {**fused, "group_size": 4, "train_seconds": 60.0},
        "b": {**fused, "group_size": 8, "train_seconds": 180.0},
        "c": {**fused, "group_size": 2, "train_seconds": 600.0, "gpu": "NVIDIA H200"},
    }}
    assert report.training_cost(manifest).splitlines() == [
        "- cuda (GPU not recorded, host H), fused in groups of 4–8: 2 models, 0.1 h of training time summed over "
        "the models (a group's models train at once, so the device was busy for less), 2 min per model",
        "- cuda (NVIDIA H200, host H), fused in groups of 2: 1 models, 0.2 h of training time summed over the "
        "models (a group's models train at once, so the device was busy for less), 10 min per model",
    ]


def test_a_caption_title_is_its_first_line_unless_that_breaks_off_mid_sentence():
    assert report.caption_title("**How strong?** Per padding, the fraction of\nmodels flagged.") == "**How strong?**"
    assert report.caption_title("**Fig. 3 — A** (paper B).\nOne point per model.") == "**Fig. 3 — A** (paper B)."
    assert report.caption_title("Which detector is fooled? Per padding, each\ntest.") == (
        "Which detector is fooled? Per padding, each")  # nothing bold to stand alone
    power = (ROOT / "workflow" / "report" / "power.rst").read_text()
    assert report.caption_title(power) == "**How strong must an interaction be?**"


@pytest.mark.slow
def test_the_figure_gallery_shows_the_listed_figures_in_order_relative_to_the_readme(tmp_path):
    folder = tmp_path / "paper"
    (folder / "figures").mkdir(parents=True)
    for name in ("fig3", "fig4", "fig5"):
        (folder / "figures" / f"{name}.png").write_bytes(b"\x89PNG")
    manifest = {"files": {"figures/fig5.png": "x", "figures/fig3.png": "y", "figures/fig8.png": "absent"}}
    gallery = report.figure_gallery(folder, manifest, tmp_path / "docs", ROOT)
    assert gallery.index("![fig3](../paper/figures/fig3.png)") < gallery.index("![fig5](../paper/figures/fig5.png)")
    assert "fig4" not in gallery and "fig8" not in gallery  # not listed; listed but missing
    assert gallery.startswith("**Fig. 3 — Interaction magnitude vs the shuffled-sequence null**")
    assert report.figure_gallery(folder, {"files": {}}, tmp_path, ROOT) == ""

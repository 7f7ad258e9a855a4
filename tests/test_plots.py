"""Every figure builds from synthetic tables of the workflow's shape and saves as PDF + PNG."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lookloss import figures, plots, tables  # noqa: E402
from lookloss.detectors import DETECTORS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
OPTIONS = {"alpha": 0.05, "hexbin_gridsize": 15, "distance_bin": 5, "fig8_models": 2, "seq_len": 100,
           "motifs": {"gata": "GATA_disc1", "tal": "TAL1_known1"}, "pseudocount": 0.001,
           "focus_controls": ["neg"]}
WIDTHS = {"gata": np.full((4, 10), 0.25), "tal": np.full((4, 16), 0.25)}  # ppms for fig6's motif widths


def synthetic_models(controls, paddings, archs, seeds, rng, nan_p=False) -> pd.DataFrame:
    """A models.tsv-shaped table with random statistics."""
    rows = []
    for control in controls:
        for padding in paddings:
            for arch in archs:
                for seed in seeds:
                    p = rng.uniform(0, 0.2, 6)
                    rows.append({
                        "control": control, "padding": padding, "arch": arch, "l1": 1e-4,
                        "seed": seed, "model": f"{arch}-l1_0.0001-seed_{seed}",
                        "best_epoch": 3, "epochs_run": 5, "test_mse": rng.uniform(1, 2),
                        "n_pairs_test": 40, "mean_abs_I": rng.uniform(1, 5),
                        "sem_abs_I": 0.2, "mean_I": rng.normal(), "mean_abs_I_shuffled":
                        rng.uniform(0.01, 0.1), "sem_abs_I_shuffled": 0.01,
                        "p_magnitude": p[0], "mean_delta": rng.normal(0, 0.01),
                        "median_delta": rng.normal(0, 0.01), "sem_delta": 0.005,
                        "p_paired": np.nan if nan_p else p[1], "p_unpaired": p[2],
                        "p_randpos": np.nan if nan_p else p[3],
                        "median_delta_train": rng.normal(0.005, 0.01), "p_paired_train": p[4],
                        "r_I_main": rng.uniform(-1, 1), "r_I_main_error": rng.uniform(-1, 1),
                        "mean_delta_randpos": rng.normal(0, 0.01),
                        "median_delta_randpos": rng.normal(0, 0.01), "mean_abs_I_randpos": 0.5,
                    })
    return pd.DataFrame(rows)


def synthetic_pairs(n, rng) -> pd.DataFrame:
    """An interaction-table-shaped frame of n pairs."""
    m_g, m_t = rng.gamma(2, 5, n), rng.gamma(2, 5, n)
    interaction = 0.1 * (m_g + m_t) + rng.normal(0, 1, n)
    loss_orig = rng.chisquare(1, n)
    loss_main = loss_orig + rng.normal(0, 0.05, n)
    return pd.DataFrame({
        "pair": np.arange(n), "gata_start": rng.integers(0, 90, n),
        "tal_start": rng.integers(0, 84, n), "f_gt": m_g + m_t + interaction, "f_g": m_g,
        "f_t": m_t, "f_0": np.zeros(n), "m_g": m_g, "m_t": m_t,
        "joint": m_g + m_t + interaction, "interaction": interaction, "y": rng.poisson(20, n),
        "loss_orig": loss_orig, "loss_main": loss_main, "delta": loss_main - loss_orig,
        "true_m_g": m_g + rng.normal(0, 1, n), "true_m_t": m_t, "true_interaction": np.zeros(n),
    })


def synthetic_detectors(models: pd.DataFrame, rng) -> pd.DataFrame:
    """A detectors.tsv-shaped table: per detector, control and padding, a random fraction flagged."""
    rows = []
    for (control, padding), group in models.groupby(["control", "padding"]):
        for detector in DETECTORS:
            n = len(group)
            k = int(rng.integers(0, n + 1))
            rows.append({"detector": detector, "control": control, "padding": padding, "exponent": 1.0,
                         "n_models": n, "n_flagged": k, "fraction": k / n, "ci_low": max(k / n - 0.2, 0),
                         "ci_high": min(k / n + 0.2, 1)})
    return pd.DataFrame(rows)


def write_tree(root: Path, models: pd.DataFrame, n_pairs: int, rng) -> list[str]:
    """models.tsv, summary.tsv and a test.parquet per model, as the workflow lays them out."""
    (root / "tables").mkdir(parents=True)
    models.to_csv(root / "tables" / "models.tsv", sep="\t", index=False)
    summary = models.groupby(["control", "padding"], as_index=False).size()
    summary = summary.rename(columns={"size": "n_models"}).assign(spearman_rho=0.5, spearman_p=0.01)
    summary.to_csv(root / "tables" / "summary.tsv", sep="\t", index=False)
    controls = sorted(set(models["control"]))
    truth = pd.DataFrame([{"control": c, "padding": p, "true_mean_I": 3.0 * k, "true_mean_joint": 100.0}
                          for k, c in enumerate(controls) for p in set(models["padding"])])
    exponents = {c: {"scale": 100, "exponent": 1 + 0.25 * k} for k, c in enumerate(controls)}
    tables.power_table(models, truth, 0.05, exponents).to_csv(root / "tables" / "power.tsv", sep="\t", index=False)
    synthetic_detectors(models, rng).to_csv(root / "tables" / "detectors.tsv", sep="\t", index=False)
    paths = []
    for row in models.itertuples():
        path = root / "interactions" / row.control / row.padding / row.model / "test.parquet"
        path.parent.mkdir(parents=True)
        synthetic_pairs(n_pairs, rng).to_parquet(path)
        paths.append(str(path))
    return paths


def check_outputs(pdf: Path, png: Path) -> None:
    assert pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000
    assert png.read_bytes()[:8] == PNG_SIGNATURE
    image = mpimg.imread(png)
    assert image.ndim == 3 and min(image.shape[:2]) > 50
    assert image.std() > 0  # not a blank canvas
    assert not list(pdf.parent.glob(".*.tmp"))  # atomic writes leave no temporary files


@pytest.fixture(scope="module")
def full_tree(tmp_path_factory):
    """Both controls, one padding (drawing costs about a second per panel; the 2 x 2 grid is
    checked without drawing below), 2400 pairs per panel so that hexbins are drawn."""
    rng = np.random.default_rng(0)
    models = synthetic_models(["neg", "pos"], ["valid"], ["arch1", "arch2"], [100, 200, 300], rng)
    models.loc[0, "p_paired"] = 0.001  # one flagged negative-control model
    root = tmp_path_factory.mktemp("full")
    return root, write_tree(root, models, plots.SCATTER_BELOW // 6 + 50, rng)


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory):
    """One control, one padding, one model, two pairs, NaN p-values."""
    rng = np.random.default_rng(1)
    models = synthetic_models(["neg"], ["same"], ["arch1"], [100], rng, nan_p=True)
    root = tmp_path_factory.mktemp("tiny")
    return root, write_tree(root, models, 2, rng)


def _build(name, root, paths):
    return plots.draw(name, models=root / "tables" / "models.tsv", summary=root / "tables" / "summary.tsv",
                       power=root / "tables" / "power.tsv", detectors=root / "tables" / "detectors.tsv", pairs=paths,
                       motif_file=ROOT / "resources" / "motifs.meme", options=OPTIONS)


@pytest.mark.parametrize("name", figures.FIGURES)
def test_figure_from_synthetic_tables(name, full_tree):
    root, paths = full_tree
    fig = _build(name, root, paths)
    if name != "fig4":  # the constrained layout costs two extra draws; fig4 keeps it
        fig.set_layout_engine("none")
    pdf, png = root / "figures" / f"{name}.pdf", root / "figures" / f"{name}.png"
    plots.save_figure(fig, pdf, png, dpi=40)
    check_outputs(pdf, png)


@pytest.mark.parametrize("name", figures.FIGURES)
def test_figure_from_tiny_tables(name, tiny_tree):
    """Robust to one panel, one model, two pairs and NaN p-values (PNG only, to stay quick)."""
    fig = _build(name, *tiny_tree)
    fig.set_layout_engine("none")
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=40)
    assert buffer.getvalue()[:8] == PNG_SIGNATURE
    assert mpimg.imread(io.BytesIO(buffer.getvalue()), format="png").ndim == 3


def test_panels_follow_the_controls_and_paddings(tmp_path):
    rng = np.random.default_rng(3)
    models = synthetic_models(["neg", "pos"], ["valid", "same"], ["arch1"], [100, 200], rng)
    root = tmp_path / "grid"
    paths = write_tree(root, models, 10, rng)
    titles = [ax.get_title() for ax in _build("fig4", root, paths).axes]
    assert len(titles) == 4 and titles[0].endswith("valid padding") and "positive" in titles[3]
    assert len(_build("fig6", root, paths).axes) == 2  # negative control only
    assert len(_build("figS3", root, paths).axes) == 2  # one panel per padding
    assert len(_build("fig8", root, paths).axes) == 4  # one model per padding, two rows


def test_unknown_figure_is_an_error(full_tree):
    with pytest.raises(ValueError, match="unknown figure"):
        plots.draw("fig99", models=full_tree[0] / "tables" / "models.tsv", options=OPTIONS)


def test_read_interactions_labels_rows_by_path(full_tree):
    root, paths = full_tree
    pairs = plots.read_interactions(paths[:2], ["interaction"])
    assert list(pairs.columns) == ["interaction", "control", "padding", "model", "pair_set"]
    assert set(pairs["pair_set"]) == {"test"} and pairs["model"].nunique() == 2
    assert plots.read_interactions([], ["interaction"]).empty


def test_fig8_shows_flagged_models_else_the_smallest_p():
    models = pd.DataFrame({"control": ["neg"] * 4 + ["pos"], "padding": ["valid"] * 2 + ["same"] * 3,
                           "model": list("abcde"), "p_paired": [0.2, 0.01, 0.3, np.nan, 0.0]})
    chosen = plots.select_fig8_models(models, alpha=0.05, fig8_models=3, focus_controls=["neg"])
    assert list(chosen["model"]) == ["b", "c"]  # valid: the flagged one; same: smallest p
    assert list(chosen["flagged"]) == [True, False]


def test_logo_heights_and_centre_distance():
    ppm = np.array([[1.0, 0.25], [0.0, 0.25], [0.0, 0.25], [0.0, 0.25]])
    assert np.allclose(plots.information_content(ppm).sum(axis=0), [2.0, 0.0])
    assert np.allclose(plots.centre_distance([0, 45], 10, 100), [45.0, 0.0])
    assert plots.format_p(float("nan")) == "p = n/a"


def test_without_a_negative_control_fig6_and_fig8_show_the_other_control():
    rng = np.random.default_rng(2)
    pairs = synthetic_pairs(30, rng).assign(control="pos", padding="valid", model="m")
    fig = plots.fig6(pairs, WIDTHS, seq_len=100, hexbin_gridsize=40, distance_bin=5)
    assert "positive control" in fig.axes[0].get_title()
    models = pd.DataFrame({"control": ["pos"], "padding": ["valid"], "model": ["m"],
                           "p_paired": [0.5], "p_unpaired": [0.9]})
    chosen = plots.select_fig8_models(models, alpha=0.05, fig8_models=1, focus_controls=["neg"])
    assert list(chosen["model"]) == ["m"] and not chosen["flagged"].any()
    assert len(plots.fig8(models, pairs, alpha=0.05, fig8_models=1, focus_controls=["neg"]).axes) == 2


def test_build_names_a_missing_option(full_tree):
    root, paths = full_tree
    options = {k: v for k, v in OPTIONS.items() if k != "hexbin_gridsize"}
    with pytest.raises(ValueError, match=r"figS1.*\['hexbin_gridsize'\]"):
        plots.draw("figS1", models=root / "tables" / "models.tsv", pairs=paths, options=options)

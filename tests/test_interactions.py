"""Interaction effects and loss differences on hand-built models with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lookloss import interactions, stats
from lookloss.transforms import anscombe

from oracles import Oracle  # tests/oracles.py


class LinearCounts(torch.nn.Module):
    """Counts = c + sum over positions of a per-base weight: exactly additive in any
    two disjoint regions. Computes in float64 so that I = 0 up to rounding."""

    def __init__(self, length: int = 100, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.weight = torch.nn.Parameter(torch.rand(4, length, generator=g, dtype=torch.float64))
        self.offset = 50.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        counts = self.offset + (x.double() * self.weight).sum(dim=(1, 2))
        return anscombe(counts)


@pytest.fixture(scope="module")
def pairs(simulated):
    return simulated["valid"]["pairs_test"]


def test_an_additive_model_has_no_interaction_and_no_loss_change(pairs):
    table = interactions.interaction_table(LinearCounts(), pairs, "neg")
    assert list(table.columns) == interactions.COLUMNS
    assert len(table) == pairs["index"].size
    assert np.abs(table["interaction"]).max() < 1e-9
    assert np.abs(table["delta"]).max() < 1e-9
    assert np.abs(table["m_g"]).max() > 1e-3  # the main effects themselves are not zero
    assert stats.paired(table["delta"]) > 0.05


def test_the_oracle_recovers_the_true_interaction_and_wins_the_paired_test(sim, pairs):
    table = interactions.interaction_table(Oracle(sim), pairs, "pos")
    np.testing.assert_allclose(table["f_gt"], pairs["lam_pos_gt"], rtol=1e-9)
    np.testing.assert_allclose(table["interaction"], table["true_interaction"], atol=1e-6)
    np.testing.assert_allclose(table["m_g"], table["true_m_g"], atol=1e-6)
    assert stats.paired(table["delta"]) < 1e-6


def test_the_negative_control_oracle_has_zero_true_interaction(sim, pairs):
    table = interactions.interaction_table(Oracle(sim, "neg"), pairs, "neg")
    assert np.abs(table["true_interaction"]).max() < 1e-9
    assert np.abs(table["interaction"]).max() < 1e-6


def test_the_prediction_without_interaction_is_clipped_at_minus_three_eighths():
    out = interactions.losses(np.array([0.1, 10.0]), np.array([5.0, 2.0]), np.array([0, 9]))
    # Row 0: 0.1 - 5 clips to -3/8, whose Anscombe value is 0; the target is g(0).
    assert out["loss_main"][0] == pytest.approx((0 - 2 * np.sqrt(3 / 8)) ** 2)
    assert out["loss_orig"][0] == pytest.approx((anscombe(0.1) - anscombe(0.0)) ** 2)
    # Row 1: no clip, f - I = 8.
    assert out["loss_main"][1] == pytest.approx((anscombe(8.0) - anscombe(9.0)) ** 2)
    np.testing.assert_allclose(out["delta"], out["loss_main"] - out["loss_orig"])


def test_effects_follow_the_definitions():
    f = {"gt": np.array([10.0]), "g": np.array([4.0]), "t": np.array([3.0]), "0": np.array([1.0])}
    e = interactions.effects(f)
    assert e["m_g"][0] == 3 and e["m_t"][0] == 2 and e["joint"][0] == 9
    assert e["interaction"][0] == 9 - 3 - 2


def test_a_missing_array_is_named(pairs):
    broken = {k: v for k, v in pairs.items() if k != "lam_pos_t"}
    with pytest.raises(KeyError, match="lam_pos_t"):
        interactions.interaction_table(LinearCounts(), broken, "pos")


def test_predictions_do_not_depend_on_the_batch_size(pairs):
    model = LinearCounts()
    a = interactions.predict_counts(model, pairs["s_gt"], batch_size=7)
    b = interactions.predict_counts(model, pairs["s_gt"], batch_size=10_000)
    np.testing.assert_array_equal(a, b)


def test_a_group_job_writes_the_same_files_as_one_job_per_model(simulated, tmp_path):
    """jobs.analyse_models (pair sets read once, several models) = analyse_model per model."""
    from lookloss import io, jobs, layout, models, training

    sets = simulated["valid"]
    pair_paths = {}
    for name in layout.PAIR_SETS:
        pair_paths[name] = tmp_path / f"{layout.pairs_name(name)}.npz"
        io.save_npz(pair_paths[name], sets[layout.pairs_name(name)])
    work = []
    for seed in (100, 200):
        folder = tmp_path / f"seed_{seed}"
        models.save(folder / "model.pt", models.build("arch3", "valid", generator=training.init_generator(seed)), {})
        io.write_json(folder / "metrics.json", {"best_epoch": 1, "epochs_run": 1, "test_mse": 1.0})
        identity = {"control": "neg", "padding": "valid", "arch": "arch3", "l1": 0.0, "seed": seed}
        work.append({"model": folder / "model.pt", "metrics": folder / "metrics.json", "identity": identity})

    def outputs(mode: str) -> list[dict]:
        return [{**job, "tables": {s: job["model"].parent / mode / f"{s}.parquet" for s in layout.PAIR_SETS},
                 "stats": job["model"].parent / mode / "stats.json"} for job in work]

    rows = jobs.analyse_models(outputs("group"), pair_paths)
    singles = [jobs.analyse_model(j["model"], j["metrics"], pair_paths, j["tables"], j["stats"], j["identity"])
               for j in outputs("single")]
    assert [r["seed"] for r in rows] == [100, 200]
    assert rows[0]["mean_abs_I"] != rows[1]["mean_abs_I"]  # two different models
    for job in work:
        folder = job["model"].parent
        for name in [*(f"{s}.parquet" for s in layout.PAIR_SETS), "stats.json"]:
            assert (folder / "group" / name).read_bytes() == (folder / "single" / name).read_bytes(), name
    assert len(singles) == 2


def test_known_predictions_are_used_instead_of_predicting_again(pairs):
    model = LinearCounts()
    full = interactions.interaction_table(model, pairs, "neg")
    reused = interactions.interaction_table(model, pairs, "neg", known={"gt": full["f_gt"].to_numpy()})
    np.testing.assert_array_equal(reused.to_numpy(), full.to_numpy())
    shifted = interactions.interaction_table(model, pairs, "neg", known={"gt": full["f_gt"].to_numpy() + 1.0})
    np.testing.assert_allclose(shifted["interaction"], full["interaction"] + 1.0)  # the given values are used
    np.testing.assert_array_equal(shifted["f_g"], full["f_g"])
    with pytest.raises(ValueError, match="known predictions"):
        interactions.interaction_table(model, pairs, "neg", known={"gt": np.zeros(3)})

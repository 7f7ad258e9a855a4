"""Properties of the simulated data that docs/study.md sections 1-2 promise."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from lookloss import layout, motifs, simulation

ROOT = Path(__file__).resolve().parents[1]


def codes(onehot: np.ndarray) -> np.ndarray:
    return motifs.to_codes(onehot)


def test_motif_file_holds_the_encode_matrices(sim):
    raw = motifs.read_motifs(sim_path(), ["GATA_disc1", "TAL1_known1"])
    assert raw["GATA_disc1"].shape == (4, 10) and raw["TAL1_known1"].shape == (4, 16)
    np.testing.assert_allclose(raw["GATA_disc1"].sum(axis=0), 1.0, atol=1e-5)
    # Smoothing: p (1 - eps) + eps / 4, so a zero becomes eps / 4.
    np.testing.assert_allclose(sim.gata.ppm, raw["GATA_disc1"] * 0.999 + 0.00025)
    assert sim.gata.ppm.min() == pytest.approx(0.00025, rel=1e-3)


def sim_path():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "resources" / "motifs.meme"


def test_occupancy_of_a_hand_computed_window():
    background = np.array([0.25, 0.25, 0.25, 0.25])
    ppm = np.array([[0.7, 0.1], [0.1, 0.1], [0.1, 0.7], [0.1, 0.1]])  # favours "AG"
    ddg = motifs.ddg_matrix(ppm, background)
    seq = np.array([[0, 2, 3]], dtype=np.int8)  # A G T
    windows = motifs.window_ddg(seq, ddg, "valid")
    # AG: -ln(0.7/0.25) - ln(0.7/0.25);  GT: -ln(0.1/0.25) - ln(0.1/0.25)
    expected = np.array([[-2 * np.log(2.8), -2 * np.log(0.4)]])
    np.testing.assert_allclose(windows, expected)
    occ = motifs.occupancy(windows, mu=0.0)
    np.testing.assert_allclose(occ, 1 / (1 + np.array([[2.8**-2, 0.4**-2]])))
    # 'same' pads (w - 1) // 2 = 0 on the left and 1 on the right; the pad adds 0.
    same = motifs.window_ddg(seq, ddg, "same")
    np.testing.assert_allclose(same, [[expected[0, 0], expected[0, 1], -np.log(0.4)]])


def test_valid_and_same_scans_differ_only_at_the_ends(sim, simulated):
    seqs = codes(simulated["valid"]["test"]["onehot"][:50])
    for motif in (sim.gata, sim.tal):
        w = motif.width
        left = (w - 1) // 2
        valid = motifs.window_ddg(seqs, motif.ddg, "valid")
        same = motifs.window_ddg(seqs, motif.ddg, "same")
        assert same.shape[1] == seqs.shape[1] and valid.shape[1] == seqs.shape[1] - w + 1
        # Window i of 'valid' is window i + left of 'same'; only padded windows differ.
        np.testing.assert_array_equal(same[:, left : left + valid.shape[1]], valid)
        edge = np.r_[0:left, left + valid.shape[1] : seqs.shape[1]]
        assert np.all(np.abs(same[:, edge]) > 0)


def test_both_paddings_share_sequences_and_pairs(simulated):
    for key in ["train", "valid", "test", "pairs_test", "pairs_shuffled", "pairs_randpos"]:
        a, b = simulated["valid"][key], simulated["same"][key]
        onehot = "onehot" if "onehot" in a else "s_0"
        np.testing.assert_array_equal(a[onehot], b[onehot])
        np.testing.assert_array_equal(a["gata_start"], b["gata_start"])
    assert not np.array_equal(simulated["valid"]["test"]["lam_neg"],
                              simulated["same"]["test"]["lam_neg"])


def test_splits_have_the_contracted_shapes_and_types(smoke_config, simulated):
    s = smoke_config["simulation"]
    data = simulated["valid"]
    n_fit = round(s["n_train"] * (1 - s["valid_fraction"]))
    assert data["train"]["onehot"].shape == (n_fit, 4, 100)
    assert data["valid"]["onehot"].shape == (s["n_train"] - n_fit, 4, 100)
    assert data["test"]["onehot"].dtype == np.uint8
    assert np.all(data["test"]["onehot"].sum(axis=1) == 1)
    assert data["test"]["y_neg"].dtype == np.int64 and data["test"]["lam_pos"].dtype == np.float64


def test_motifs_are_embedded_whole_and_never_overlap(sim, simulated):
    split = simulated["valid"]["train"]
    g, t = split["gata_start"], split["tal_start"]
    both = (g >= 0) & (t >= 0)
    assert 0.2 < both.mean() < 0.3 and 0.2 < ((g < 0) & (t < 0)).mean() < 0.3
    assert g.max() <= 100 - sim.gata.width and t.max() <= 100 - sim.tal.width
    assert np.all(simulation.gap(g[both], sim.gata.width, t[both], sim.tal.width) >= 0)


def test_oracle_is_the_occupancy_sum_scaled(sim, simulated):
    split = simulated["same"]["test"]
    q = simulation.occupancy_sum(sim, codes(split["onehot"]), "same")
    np.testing.assert_allclose(split["lam_neg"], 100 * q)
    np.testing.assert_allclose(split["lam_pos"], 60 * q**1.5)


@pytest.mark.parametrize("padding", layout.PADDINGS)
@pytest.mark.parametrize("pair_set", ["test", "train"])
def test_true_interaction_is_zero_for_neg_and_positive_for_pos(simulated, padding, pair_set):
    p = simulated[padding][f"pairs_{pair_set}"]
    assert p["index"].size > 20

    def interaction(c):
        return p[f"lam_{c}_gt"] - p[f"lam_{c}_g"] - p[f"lam_{c}_t"] + p[f"lam_{c}_0"]

    assert np.abs(interaction("neg")).max() < 1e-9
    # q is exactly additive (no scanned window spans both motifs), so for the convex
    # 60 q^1.5 the true interaction has the sign of the product of the two main
    # effects. A knock-out only guarantees ddG > 10 for its own window, so a
    # replacement can, rarely, create a better site nearby: a negative main effect.
    m_g = p["lam_neg_g"] - p["lam_neg_0"]
    m_t = p["lam_neg_t"] - p["lam_neg_0"]
    np.testing.assert_array_equal(np.sign(interaction("pos")), np.sign(m_g * m_t))
    assert (interaction("pos") > 0).mean() > 0.95


@pytest.mark.parametrize("pair_set", ["test", "train", "randpos"])
def test_every_knockout_scores_above_the_threshold(sim, simulated, pair_set):
    p = simulated["valid"][f"pairs_{pair_set}"]
    for variant, motif, starts in [("g", sim.tal, "tal_start"), ("t", sim.gata, "gata_start"),
                                   ("0", sim.tal, "tal_start"), ("0", sim.gata, "gata_start")]:
        ddg = motifs.instance_ddg(codes(p[f"s_{variant}"]), p[starts], motif.ddg)
        assert ddg.min() > sim.knockout_min_ddg


def test_one_replacement_is_shared_by_every_variant(sim, simulated):
    p = simulated["valid"]["pairs_test"]
    cols_g = p["gata_start"][:, None] + np.arange(sim.gata.width)
    cols_t = p["tal_start"][:, None] + np.arange(sim.tal.width)
    take = lambda v, cols: np.take_along_axis(codes(p[f"s_{v}"]), cols, axis=1)  # noqa: E731
    np.testing.assert_array_equal(take("t", cols_g), take("0", cols_g))
    np.testing.assert_array_equal(take("g", cols_t), take("0", cols_t))
    np.testing.assert_array_equal(take("gt", cols_g), take("g", cols_g))
    np.testing.assert_array_equal(take("gt", cols_t), take("t", cols_t))


@pytest.mark.parametrize("pair_set", ["test", "train"])
def test_every_pair_passes_the_score_and_separation_filters(sim, simulated, pair_set):
    p = simulated["valid"][f"pairs_{pair_set}"]
    source = simulated["valid"][pair_set]
    gt = codes(p["s_gt"])
    assert motifs.instance_ddg(gt, p["gata_start"], sim.gata.ddg).max() < -2
    assert motifs.instance_ddg(gt, p["tal_start"], sim.tal.ddg).max() < -2
    assert simulation.gap(p["gata_start"], 10, p["tal_start"], 16).min() >= 15
    np.testing.assert_array_equal(p["s_gt"], source["onehot"][p["index"]])
    np.testing.assert_array_equal(p["y_pos"], source["y_pos"][p["index"]])
    # And no qualifying sequence was left out.
    mask = simulation.pair_mask(sim, codes(source["onehot"]), source["gata_start"], source["tal_start"])
    np.testing.assert_array_equal(np.flatnonzero(mask), p["index"])


def dinucleotide_counts(c: np.ndarray) -> np.ndarray:
    pair = c[:, :-1].astype(int) * 4 + c[:, 1:]
    return np.stack([np.bincount(row, minlength=16) for row in pair])


def test_shuffle_keeps_every_sequence_dinucleotide_counts(simulated):
    shuffled = simulated["valid"]["pairs_shuffled"]
    test = simulated["valid"]["pairs_test"]
    original, new = codes(test["s_gt"]), codes(shuffled["s_gt"])
    np.testing.assert_array_equal(dinucleotide_counts(original), dinucleotide_counts(new))
    assert (original != new).mean() > 0.3


def test_random_windows_obey_the_separation_rule(simulated):
    p = simulated["valid"]["pairs_randpos"]
    assert simulation.gap(p["gata_start"], 10, p["tal_start"], 16).min() >= 15
    assert not np.array_equal(p["gata_start"], simulated["valid"]["pairs_test"]["gata_start"])


def test_same_config_gives_identical_bytes(sim, tmp_path):
    digests = []
    for run in ("a", "b"):
        simulation.write(sim, "valid", tmp_path / run)
        digests.append({f.name: hashlib.sha256(f.read_bytes()).hexdigest()
                        for f in sorted((tmp_path / run).iterdir())})
    assert digests[0] == digests[1]
    assert len(digests[0]) == 3 + 4 + 1


def test_the_order_in_which_controls_are_configured_changes_nothing(smoke_config):
    """Merged config files may list the controls in any order: the data are the same."""
    section = smoke_config["simulation"]
    reordered = {**section, "controls": dict(reversed(list(section["controls"].items())))}
    assert list(reordered["controls"]) != list(section["controls"])
    a, b = (simulation.simulate(simulation.Simulation.from_config(s, base_dir=ROOT), "valid")
            for s in (section, reordered))
    for split in a:
        assert a[split].keys() == b[split].keys()
        for key in a[split]:
            np.testing.assert_array_equal(a[split][key], b[split][key], err_msg=f"{split}/{key}")


def test_a_different_seed_gives_different_data(sim):
    from dataclasses import replace

    a = simulation.simulate_pools(sim)["test"]["codes"]
    b = simulation.simulate_pools(replace(sim, seed=sim.seed + 1))["test"]["codes"]
    assert not np.array_equal(a, b)

"""lookloss.motifs: reading PPMs and scoring sequences, against values computed by hand."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookloss import motifs

ROOT = Path(__file__).resolve().parents[1]


def test_reading_names_what_the_file_holds_when_a_motif_is_missing():
    ppms = motifs.read_motifs(ROOT / "resources" / "motifs.meme", ["TAL1_known1"])
    assert ppms["TAL1_known1"].shape == (4, 16)
    np.testing.assert_allclose(ppms["TAL1_known1"].sum(axis=0), 1, atol=1e-3)
    with pytest.raises(KeyError, match=r"\['NOPE'\] not found .* holds \['GATA_disc1', 'TAL1_known1'\]"):
        motifs.read_motifs(ROOT / "resources" / "motifs.meme", ["NOPE"])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        motifs.read_motifs(ROOT / "nowhere.meme", ["X"])


def test_window_energies_are_sums_of_the_cells_the_bases_pick_and_same_padding_adds_zero():
    ppm = motifs.smooth(np.eye(4)[:, [0, 1, 2]], 0.4)  # A C G, mixed with uniform
    ddg = motifs.ddg_matrix(ppm, np.full(4, 0.25))
    np.testing.assert_allclose(ddg[0, 0], -np.log((0.6 + 0.1) / 0.25))
    codes = np.array([[0, 1, 2, 3]], dtype=np.int8)  # ACGT
    valid = motifs.window_ddg(codes, ddg, "valid")
    assert valid.shape == (1, 2)
    np.testing.assert_allclose(valid[0, 0], ddg[0, 0] + ddg[1, 1] + ddg[2, 2])  # ACG, the consensus
    same = motifs.window_ddg(codes, ddg, "same")
    assert same.shape == (1, 4)
    np.testing.assert_allclose(same[0, 0], ddg[0, 1] + ddg[1, 2])  # window (pad, A, C): the pad adds 0
    np.testing.assert_allclose(motifs.instance_ddg(codes, np.array([1]), ddg), valid[:, 1])
    np.testing.assert_allclose(motifs.occupancy(np.array([0.0, np.log(3)])), [0.5, 0.25])
    assert np.array_equal(motifs.to_codes(motifs.to_onehot(codes)), codes)

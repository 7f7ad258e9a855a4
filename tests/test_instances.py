"""Motif instances as the loss test finds and removes them (lookloss.instances): both strands,
pairs under the gap rule, knock-outs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lookloss import instances, layout, motifs, simulation

ROOT = Path(__file__).resolve().parents[1]
MOTIFS = ROOT / "resources" / "motifs.meme"
PAIR = ["GATA_disc1", "TAL1_known1"]


@pytest.fixture(scope="module")
def data(simulated):
    """The smoke simulation's test sequences (valid padding) with both controls' counts."""
    split = simulated["valid"]["test"]
    return split[layout.ONEHOT], {c: split[layout.counts_key(c)] for c in ("neg", "pos")}


@pytest.fixture(scope="module")
def ppms():
    return motifs.read_motifs(MOTIFS, PAIR)


def test_both_strands_read_a_site_on_the_other_strand_where_the_forward_scan_misses_it(simulated, data, ppms):
    """Reverse-complemented sequences, scanned on both strands, score as the sequences do
    mirrored; their planted pairs are found at the mirrored starts, on the - strand."""
    onehot, _ = data
    planted = simulated["valid"]["pairs_test"]
    codes = motifs.to_codes(onehot)
    flipped = (3 - codes)[:, ::-1].copy()

    def motif(seqs, name):  # against the base composition of all the sequences, as loss_test scans
        background = np.bincount(seqs.ravel(), minlength=4) / seqs.size
        return instances.as_motif(ppms[name], background, 0.001, name)

    a, b = motif(codes, PAIR[0]), motif(flipped, PAIR[0])
    np.testing.assert_allclose(instances.scores(flipped, b)[:, ::-1], instances.scores(codes, a), rtol=0, atol=1e-9)
    a, b = motif(flipped, PAIR[0]), motif(flipped, PAIR[1])
    codes, flipped = codes[planted["index"]], flipped[planted["index"]]
    rows, a_start, b_start, _ = instances.find_pairs(flipped, a, b, 2.0)
    length = codes.shape[1]
    np.testing.assert_array_equal(rows, np.arange(len(codes)))
    np.testing.assert_array_equal(a_start, length - a.width - planted["gata_start"])
    np.testing.assert_array_equal(b_start, length - b.width - planted["tal_start"])
    assert (instances.strand_of(flipped, a_start, a) == "-").all()
    forward = instances.find_pairs(flipped, a, b, 2.0, strands="forward")[0]
    assert len(forward) < len(rows) / 4  # read forward only, most of these sequences hold no pair (here: none)
    # knock-outs match the motif on neither strand; read forward only, they are the study's draw
    ko = instances.knockouts(np.random.default_rng(0), a, 500, 10.0)
    zeros = np.zeros(500, dtype=np.int64)
    assert (motifs.instance_ddg(ko, zeros, a.ddg) > 10).all()
    assert (motifs.instance_ddg(ko, zeros, instances.reverse_complement(a).ddg) > 10).all()
    np.testing.assert_array_equal(instances.knockouts(np.random.default_rng(1), a, 50, 10.0, "forward"),
                                  simulation.knockouts(np.random.default_rng(1), a, 50, 10.0))


def test_a_motif_that_random_bases_cannot_knock_out_is_refused_by_name():
    """Six columns of 0.85 and 0.05: a replacement scores at most ΔΔG = 6 ln(0.25 / 0.05) = 9.66
    (no base of the consensus), never the study's 10, so the knock-out draw would never end."""
    ppm = np.full((4, 6), 0.05)
    ppm[0] = 0.85
    weak = instances.as_motif(ppm, np.full(4, 0.25), 0.001, "weak")
    with pytest.raises(instances.LossTestError, match=r"motif 'weak' cannot be knocked out: none of 10,000 random "
                       r"6-bp replacements scores ΔΔG > 10 on both strands \(the most any can score forward is 9.6"):
        instances.check_knockable(weak, 10.0)
    instances.check_knockable(weak, 5.0)
    ko = instances.knockouts(np.random.default_rng(0), weak, 200, 5.0)
    zeros = np.zeros(200, dtype=np.int64)
    assert (motifs.instance_ddg(ko, zeros, weak.ddg) > 5).all()
    assert (motifs.instance_ddg(ko, zeros, instances.reverse_complement(weak).ddg) > 5).all()
    hard = ppm.copy()  # a matrix with zeros, given as a Motif (unsmoothed): its reverse complement stays finite
    hard[1:, 0], hard[0, 0] = 0.0, 1.0
    motif = simulation.Motif("hard", hard, motifs.ddg_matrix(hard, np.full(4, 0.25)))
    other = instances.reverse_complement(motif)
    np.testing.assert_allclose(other.ddg, motif.ddg[::-1, ::-1])  # a uniform background is its own complement


def test_a_minimum_gap_of_zero_finds_adjacent_instances_that_the_studys_rule_skips():
    """Two strong instances 3 bases apart: the study's rule (15 bases for these widths) looks past
    them; ``min_gap=0`` takes them; a negative gap is refused."""
    rng = np.random.default_rng(0)
    a = simulation.Motif("A", np.eye(4)[:, [0, 1, 2, 3, 0, 1]] * 0.97 + 0.0075, np.zeros((4, 6)))
    b = simulation.Motif("B", np.eye(4)[:, [3, 3, 2, 2, 1, 1, 0, 0]] * 0.97 + 0.0075, np.zeros((4, 8)))
    a = instances.as_motif(a.ppm, np.full(4, 0.25), 0.001, "A")
    b = instances.as_motif(b.ppm, np.full(4, 0.25), 0.001, "B")
    codes = rng.integers(0, 4, size=(1, 60)).astype(np.int8)
    codes[0, 20:26] = [0, 1, 2, 3, 0, 1]
    codes[0, 29:37] = [3, 3, 2, 2, 1, 1, 0, 0]
    rows, a_start, b_start, _ = instances.find_pairs(codes, a, b, 2.0, strands="forward", min_gap=0)
    assert list(rows) == [0] and (a_start[0], b_start[0]) == (20, 29)
    rows, a_start, b_start, _ = instances.find_pairs(codes, a, b, 2.0, strands="forward")
    assert not len(rows) or (a_start[0], b_start[0]) != (20, 29)  # only a pair 7 or more bases apart
    with pytest.raises(instances.LossTestError, match="min_gap -1"):
        instances._bounds(60, None, None, a, b, ("A", "B"), min_gap=-1)
